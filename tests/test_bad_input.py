"""Bad input gets a one-line error naming file and utterance, or is skipped and counted on request."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_kd.cli import main
from asr_kd.config import FeatureConfig
from asr_kd.data.dataset import FeatureDataset
from asr_kd.data.tokens import Units
from asr_kd.features import compute_feats


def _wav(data_dir, utt):
    return dict(line.split() for line in (data_dir / "wav.scp").read_text().splitlines())[utt]


BREAKAGES = {
    "missing file": (lambda p: p.unlink(), "cannot read audio"),
    "zero-length": (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "no samples"),
    "corrupt": (lambda p: p.write_bytes(b"RIFF\x00\x00junkjunk"), "cannot read audio"),
    "NaN": (lambda p: sf.write(p, np.array([0.1, np.nan] * 800, np.float32), 16000, subtype="FLOAT"), "NaN or inf"),
    "inf": (lambda p: sf.write(p, np.array([0.1, np.inf] * 800, np.float32), 16000, subtype="FLOAT"), "NaN or inf"),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_bad_audio_stops_or_is_skipped(case, data_dir, capsys):
    breakage, message = BREAKAGES[case]
    breakage(Path(_wav(data_dir, "spkb-002")))
    assert main(["compute-feats", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # above it: the progress bar
    assert err.startswith("asr-kd compute-feats: error: utterance spkb-002: ") and message in err
    assert main(["compute-feats", "--skip-bad", str(data_dir)]) == 0
    assert "skipped 1 bad utterance(s)" in capsys.readouterr().out
    assert (data_dir / "feats.skipped").read_text().startswith("spkb-002 ")
    units = Units.build(["ABCDEFGHIJKLMNOPQRSTUVWXYZ' "])
    ds = FeatureDataset(data_dir, units)
    assert ds.skipped["no_features"] == 1 and len(ds) == 5


def test_transcript_problems_are_counted(data_dir):
    compute_feats(data_dir, FeatureConfig())
    text = (data_dir / "text").read_text()
    text = text.replace("HELLO WORLD", "HÉLLO WORLD").replace("SPEECH", "A" * 300).replace("A B C", "")
    (data_dir / "text").write_text(text)
    ds = FeatureDataset(data_dir, Units.build(["ABCDEFGHIJKLMNOPQRSTUVWXYZ' "]))
    assert ds.unk_utts == 1  # É -> <unk>
    assert ds.skipped["too_short_for_ctc"] == 1 and ds.skipped["empty_text"] == 1 and len(ds) == 4


def test_duplicate_ids_and_non_utf8_text_are_errors(data_dir, capsys):
    (data_dir / "text").write_text((data_dir / "text").read_text() + "spka-001 AGAIN\n")
    assert main(["compute-feats", str(data_dir)]) == 1
    assert capsys.readouterr().err.strip() == f"asr-kd compute-feats: error: {data_dir}/text:7: duplicate key 'spka-001'"
    (data_dir / "text").write_bytes(b"spka-001 \xff\xfe\n")
    assert main(["compute-feats", str(data_dir)]) == 1
    assert "text: not UTF-8" in capsys.readouterr().err
