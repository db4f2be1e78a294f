"""data_prep.librispeech on a fabricated LibriSpeech tree: exact Kaldi files, errors, CLI."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from data_prep.librispeech import PrepError, prepare

REPO = Path(__file__).resolve().parents[1]
SPEAKERS_TXT = """\
; Some comment
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara Shallenberg
60   | M | train-clean-100  | 20.18 | |CBW|Simon
103  | M | train-clean-100  | 25.12 | John Doe
"""


def make_corpus(root: Path, subset: str = "train-clean-100") -> Path:
    """2 readers x 2 chapters x 2 utterances of 16 kHz flac; durations 0.5, 0.6, ... s in file order."""
    corpus = root / "LibriSpeech"
    rng = np.random.default_rng(0)
    k = 0
    for reader in ("103", "19"):  # C order puts 103 before 19
        for chapter in ("1240", "198"):
            folder = corpus / subset / reader / chapter
            folder.mkdir(parents=True)
            lines = []
            for n in ("0000", "0001"):
                utt = f"{reader}-{chapter}-{n}"
                samples = (0.1 * rng.standard_normal(8000 + 1600 * k)).astype(np.float32)
                sf.write(folder / f"{utt}.flac", samples, 16000, subtype="PCM_16")
                lines.append(f"{utt} WORDS OF {reader} {chapter} {n}\n")
                k += 1
            (folder / f"{reader}-{chapter}.trans.txt").write_text("".join(lines))
    (corpus / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    return corpus


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_prepare_writes_kaldi_dir(tmp_path):
    corpus = make_corpus(tmp_path)
    out = tmp_path / "data" / "train"
    stats = prepare(corpus, "train-clean-100", out)
    assert stats == {"utterances": 8, "speakers": 4, "readers": 2, "hours": pytest.approx(6.8 / 3600),
                     "missing_transcript": 0, "missing_audio": 0}
    utts = [f"{r}-{c}-{n}" for r in ("103", "19") for c in ("1240", "198") for n in ("0000", "0001")]
    base = corpus.resolve() / "train-clean-100"
    assert lines(out / "wav.scp") == [f"{u} {base / u.split('-')[0] / u.split('-')[1] / u}.flac" for u in utts]
    assert lines(out / "text")[:2] == ["103-1240-0000 WORDS OF 103 1240 0000", "103-1240-0001 WORDS OF 103 1240 0001"]
    assert lines(out / "utt2spk")[:3] == ["103-1240-0000 103-1240", "103-1240-0001 103-1240", "103-198-0000 103-198"]
    assert lines(out / "spk2utt") == [
        "103-1240 103-1240-0000 103-1240-0001", "103-198 103-198-0000 103-198-0001",
        "19-1240 19-1240-0000 19-1240-0001", "19-198 19-198-0000 19-198-0001"]
    assert lines(out / "utt2dur") == [f"{u} {0.5 + 0.1 * k:.3f}" for k, u in enumerate(utts)]
    assert lines(out / "spk2gender") == ["103-1240 m", "103-198 m", "19-1240 f", "19-198 f"]
    loaded = load_data_dir(out)
    assert [u.utt for u in loaded] == utts and loaded[7].spk == "19-198" and loaded[7].text == "WORDS OF 19 198 0001"
    assert load_utterance(loaded[1]).shape == (9600,)


def test_without_speakers_txt_no_spk2gender(tmp_path):
    corpus = make_corpus(tmp_path)
    (corpus / "SPEAKERS.TXT").unlink()
    prepare(corpus, "train-clean-100", tmp_path / "out")
    assert not (tmp_path / "out" / "spk2gender").exists()


def test_missing_transcript_line_and_missing_flac(tmp_path):
    corpus = make_corpus(tmp_path)
    trans = corpus / "train-clean-100" / "19" / "198" / "19-198.trans.txt"
    trans.write_text("19-198-0000 KEPT\n")  # 19-198-0001.flac loses its line
    flac = corpus / "train-clean-100" / "19" / "198" / "19-198-0001.flac"
    with pytest.raises(PrepError, match=f"{flac}: no transcript line"):
        prepare(corpus, "train-clean-100", tmp_path / "out")
    (corpus / "train-clean-100" / "103" / "198" / "103-198-0000.flac").unlink()
    stats = prepare(corpus, "train-clean-100", tmp_path / "out", skip_bad=True)
    assert (stats["utterances"], stats["missing_transcript"], stats["missing_audio"]) == (6, 1, 1)
    assert "19-198-0001" not in (tmp_path / "out" / "text").read_text()


def test_missing_subset(tmp_path):
    with pytest.raises(PrepError, match="dev-clean: subset directory not found"):
        prepare(make_corpus(tmp_path), "dev-clean", tmp_path / "out")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "data_prep.librispeech", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_cli(tmp_path):
    corpus = make_corpus(tmp_path)
    (corpus / "train-clean-100" / "103" / "198" / "103-198-0000.flac").unlink()
    bad = run_cli("--corpus", corpus, "--subset", "train-clean-100", "--out", tmp_path / "out")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "103-198.trans.txt:1: transcript line without a flac" in bad.stderr
    ok = run_cli("--corpus", corpus, "--subset", "train-clean-100", "--out", tmp_path / "out", "--skip-bad")
    assert ok.returncode == 0, ok.stderr
    assert "7 utterances, 4 speakers (2 readers)" in ok.stdout and "1 transcript lines without flac" in ok.stdout
