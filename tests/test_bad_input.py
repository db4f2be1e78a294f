"""Bad input gets a one-line error naming file and utterance, or is skipped and counted on request."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_recording_dir

from asr_kd import Recognizer, checkpoint
from asr_kd.cli import main
from asr_kd.config import FeatureConfig
from asr_kd.data.audio import AudioError
from asr_kd.data.dataset import FeatureDataset
from asr_kd.data.tokens import Units
from asr_kd.features import FeatureCache, compute_feats
from asr_kd.framing import num_frames
from asr_kd.models import build_model


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


# --- Bad inputs x entry points: one-line errors naming the file or utterance, no shell commands run,
# --- nothing written outside the temp dir.

PLANTED = "b.wav;touch PWNED |"  # a file name that is also a shell pipe in Kaldi's wav.scp syntax


@pytest.fixture
def student(tmp_path):
    """A tiny random student checkpoint (units A-Z, space)."""
    torch.manual_seed(0)
    units = Units.build(["ABCDEFGHIJKLMNOPQRSTUVWXYZ' "])
    conf = {"hidden_size": 16, "num_layers": 1, "subsampling_channels": 8}
    model = build_model("rnn_ctc", conf, 80, len(units)).eval()
    path = tmp_path / "student.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", conf, units, FeatureConfig()), path)
    return path


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Run in an empty cwd; afterwards nothing may have appeared there or in the repository."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    repo = Path(__file__).resolve().parents[1]
    before = sorted(p.name for p in repo.iterdir())
    yield cwd
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in repo.iterdir()) == before
    assert not list(tmp_path.rglob("PWNED"))


def _one_line_error(capsys, command: str, *names: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]  # above it: at most a progress bar
    assert err.startswith(f"asr-kd {command}: error: "), err
    assert all(n in err for n in names), (err, names)
    assert "Traceback" not in err
    return err


def test_planted_pipe_file_name_is_read_as_a_file(data_dir, student, sandbox, capsys):
    uploads = sandbox.parent / "uploads"
    uploads.mkdir()
    planted = uploads / PLANTED
    shutil.copy(_wav(data_dir, "spka-001"), planted)
    rec = Recognizer.from_checkpoint(student)
    expected = rec.transcribe(_wav(data_dir, "spka-001")).text
    assert main(["transcribe", "--checkpoint", str(student), str(planted)]) == 0
    assert capsys.readouterr().out == f"{planted} {expected}\n"
    assert rec.transcribe(str(planted)).text == expected
    assert [r.text for r in rec.transcribe_batch([str(planted)])] == [expected]
    with pytest.raises(AudioError, match="cannot read audio"):
        rec.transcribe("touch PWNED |")
    assert main(["plot", "spikes", str(student), str(student), "touch PWNED |", "--out", str(uploads / "s.png")]) == 1
    _one_line_error(capsys, "plot", "touch PWNED |")


def _too_short(path):
    sf.write(path, np.full(200, 0.1, np.float32), 16000)  # 12.5 ms < one 25 ms window


def _nan(path):
    sf.write(path, np.array([0.1, np.nan] * 8000, np.float32), 16000, subtype="FLOAT")


ARRAYS = {
    "NaN": (np.array([0.1, np.nan] * 8000, np.float32), "8000 NaN or inf sample"),
    "inf": (np.array([0.1] * 15999 + [np.inf], np.float32), "1 NaN or inf sample"),
    "too short": (np.full(200, 0.1, np.float32), "shorter than one 25 ms fbank window"),
}


@pytest.mark.parametrize("case", sorted(ARRAYS))
def test_bad_arrays_are_refused_by_the_api(case, student, sandbox):
    wave, message = ARRAYS[case]
    rec = Recognizer.from_checkpoint(student)
    with pytest.raises(AudioError, match=message) as e:
        rec.transcribe(wave)
    assert "\n" not in str(e.value)
    with pytest.raises(AudioError):
        rec.transcribe_batch([np.zeros(16000, np.float32), wave])
    if case != "too short":  # a stream takes chunks of any size; a short one just waits for more
        with pytest.raises(AudioError, match="NaN or inf"):
            rec.stream().accept(wave)


FILES = {"too short": (_too_short, "shorter than one 25 ms fbank window"), "NaN": (_nan, "NaN or inf")}


@pytest.mark.parametrize("case", sorted(FILES))
def test_bad_files_x_entry_points(case, data_dir, student, sandbox, capsys):
    breakage, message = FILES[case]
    wav = Path(_wav(data_dir, "spkb-002"))
    breakage(wav)
    rec = Recognizer.from_checkpoint(student)
    with pytest.raises(AudioError, match=message) as e:
        rec.transcribe(wav)
    assert str(e.value).startswith(str(wav)) and "\n" not in str(e.value)
    assert main(["transcribe", "--checkpoint", str(student), str(wav)]) == 1
    _one_line_error(capsys, "transcribe", str(wav), message)
    assert main(["decode", "--checkpoint", str(student), "--data", str(data_dir), "--out", str(data_dir / "dec")]) == 1
    _one_line_error(capsys, "decode", "utterance spkb-002", message)
    assert main(["compute-feats", str(data_dir)]) == 1
    _one_line_error(capsys, "compute-feats", "utterance spkb-002", message)
    assert not (data_dir / "feats.npy").exists()
    assert main(["compute-feats", "--skip-bad", str(data_dir)]) == 0
    assert "skipped 1 bad utterance(s)" in capsys.readouterr().out
    assert (data_dir / "feats.skipped").read_text().startswith("spkb-002 ")


def test_segments_past_the_end_of_their_recording(tmp_path, sandbox, capsys):
    d = make_recording_dir(tmp_path / "seg", "spka-rec", [("spka-rec-1", 0.0, 2.0, "A"), ("spka-rec-2", 2.0, 5.3, "B")])
    assert main(["compute-feats", str(d)]) == 0  # 0.3 s past the 5 s recording: cut there, counted
    assert "1 segment(s) ran past the end of their recording" in capsys.readouterr().out
    assert FeatureCache(d).num_frames("spka-rec-2") == num_frames(3 * 16000, FeatureConfig())
    (d / "segments").write_text("spka-rec-1 spka-rec 0.00 2.00\nspka-rec-2 spka-rec 2.00 6.00\n")
    assert main(["compute-feats", str(d)]) == 1  # 1 s past: more than MAX_OVERSHOOT_S
    _one_line_error(capsys, "compute-feats", "utterance spka-rec-2", "past the end of the recording")


def test_wav_scp_pipes_still_run_behind_the_opt_in(data_dir, sandbox, capsys):
    wav = _wav(data_dir, "spka-001")
    scp = (data_dir / "wav.scp").read_text().replace(wav, f"cat {wav} |")
    (data_dir / "wav.scp").write_text(scp)
    assert main(["compute-feats", str(data_dir)]) == 1
    _one_line_error(capsys, "compute-feats", "command pipe", "--allow-pipes")
    assert main(["compute-feats", "--allow-pipes", str(data_dir)]) == 0
    assert FeatureCache(data_dir).num_frames("spka-001") > 0


def test_feature_cache_pair_that_does_not_belong_together_is_refused(data_dir, sandbox):
    compute_feats(data_dir, FeatureConfig())
    idx = (data_dir / "feats.idx").read_text().splitlines()
    (data_dir / "feats.idx").write_text("\n".join(idx[:-1]) + "\n")  # an index from another run
    with pytest.raises(ValueError, match="do not belong together"):
        FeatureCache(data_dir)


@pytest.mark.parametrize("span", ["0 1e999", "inf inf", "0 nan", "abc 1", "1.0 0.5"])
def test_bad_segment_times_are_one_line_errors(span, tmp_path, sandbox, capsys):
    d = make_recording_dir(tmp_path / "seg", "spka-rec", [("spka-rec-1", 0.0, 2.0, "A")])
    (d / "segments").write_text(f"spka-rec-1 spka-rec {span}\n")
    for skip in ([], ["--skip-bad"]):
        assert main(["compute-feats", *skip, str(d)]) == 1
        _one_line_error(capsys, "compute-feats", f"{d}/segments: utterance 'spka-rec-1'")


def test_implausible_sample_rate_in_a_header(data_dir, sandbox, capsys):
    sf.write(_wav(data_dir, "spkb-002"), np.zeros(400, np.float32), 1)
    assert main(["compute-feats", str(data_dir)]) == 1
    _one_line_error(capsys, "compute-feats", "utterance spkb-002", "implausible sample rate 1 Hz")
