"""data_prep.common_voice on a fabricated Common Voice folder: Kaldi files, normalisation, MP3, errors, CLI."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from data_prep.common_voice import PrepError, normalise, prepare

REPO = Path(__file__).resolve().parents[1]
HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\n"
ROWS = [("b" * 64, "common_voice_en_2.mp3", 'He said "hi", then left.'),
        ("a" * 64, "common_voice_en_1.mp3", "It’s 5 o'clock — tea?"),
        ("a" * 64, "common_voice_en_3.mp3", "Über café")]


def make_cv(root: Path, rows=ROWS, header=HEADER) -> Path:
    """CV_DIR with validated.tsv and 48 kHz MP3 clips of 1.0, 1.5, 2.0 s (in row order)."""
    cv = root / "cv" / "en"
    (cv / "clips").mkdir(parents=True)
    lines = [header]
    for k, (client, clip, sentence) in enumerate(rows):
        samples = (0.1 * np.random.default_rng(k).standard_normal(48000 + 24000 * k)).astype(np.float32)
        sf.write(cv / "clips" / clip, samples, 48000, format="MP3")
        lines.append(f"{client}\t{clip}\tid{k}\t{sentence}\t\t2\t0\t\t\t\ten\n")
    (cv / "validated.tsv").write_text("".join(lines), encoding="utf-8")
    return cv


def test_normalise_keeps_letters_digits_apostrophes():
    assert normalise('He said "hi", then left.') == "HE SAID HI THEN LEFT"
    assert normalise("It’s 5 o'clock — tea?") == "IT'S 5 O'CLOCK TEA"
    assert normalise("Über café") == "ÜBER CAFÉ"
    assert normalise(" ... ") == ""


def test_prepare_writes_kaldi_dir(tmp_path):
    cv = make_cv(tmp_path)
    out = tmp_path / "data" / "cv"
    stats = prepare(cv, "validated", out)
    assert stats["utterances"] == 3 and stats["speakers"] == 2 and stats["hours"] == pytest.approx(4.5 / 3600, rel=0.05)
    a, b = "a" * 16, "b" * 16
    assert (out / "text").read_text().splitlines() == [
        f"{a}-common_voice_en_1 IT'S 5 O'CLOCK TEA", f"{a}-common_voice_en_3 ÜBER CAFÉ",
        f"{b}-common_voice_en_2 HE SAID HI THEN LEFT"]
    assert (out / "spk2utt").read_text().splitlines() == [
        f"{a} {a}-common_voice_en_1 {a}-common_voice_en_3", f"{b} {b}-common_voice_en_2"]
    utts = load_data_dir(out)
    assert utts[0].path == str(cv / "clips" / "common_voice_en_1.mp3")
    wave = load_utterance(utts[2])  # the 1.0 s clip, MP3 at 48 kHz -> 16 kHz
    assert abs(len(wave) - 16000) < 1600


def test_bad_rows_stop_in_one_line_or_are_skipped(tmp_path):
    rows = ROWS + [("c" * 64, "missing.mp3", "Where is it?"), ("d" * 64, "common_voice_en_4.mp3", "?!")]
    cv = make_cv(tmp_path, rows[:3])
    sf.write(cv / "clips" / "common_voice_en_4.mp3", np.zeros(48000, np.float32), 48000, format="MP3")
    with open(cv / "validated.tsv", "a", encoding="utf-8") as f:
        for client, clip, sentence in rows[3:]:
            f.write(f"{client}\t{clip}\tx\t{sentence}\t\t2\t0\t\t\t\ten\n")
    with pytest.raises(PrepError, match=r"missing.mp3: clip named in validated.tsv:5 not found \(--skip-bad"):
        prepare(cv, "validated", tmp_path / "out")
    stats = prepare(cv, "validated", tmp_path / "out", skip_bad=True)
    assert (stats["utterances"], stats["missing_audio"], stats["empty_sentence"]) == (3, 1, 1)


def test_missing_split_or_column_is_one_line(tmp_path):
    cv = make_cv(tmp_path)
    with pytest.raises(PrepError, match="train.tsv: not found"):
        prepare(cv, "train", tmp_path / "out")
    (cv / "validated.tsv").write_text("client_id\tpath\n" + "x\ty.mp3\n")
    with pytest.raises(PrepError, match="no column 'sentence'"):
        prepare(cv, "validated", tmp_path / "out")


def test_cli(tmp_path):
    cv = make_cv(tmp_path)
    run = [sys.executable, "-m", "data_prep.common_voice"]
    ok = subprocess.run(run + ["--cv-dir", str(cv), "--out", str(tmp_path / "d")], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and "3 utterances, 2 speakers" in ok.stdout
    bad = subprocess.run(run + ["--cv-dir", str(cv), "--split", "nope", "--out", str(tmp_path / "e")], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "nope.tsv: not found" in bad.stderr


def test_old_libsndfile_without_mp3_is_one_line(tmp_path, monkeypatch):
    cv = make_cv(tmp_path)
    monkeypatch.setattr(sf, "__libsndfile_version__", "1.0.31")
    with pytest.raises(PrepError, match=r"MP3, which needs libsndfile >= 1.1 \(this soundfile has 1.0.31\)"):
        prepare(cv, "validated", tmp_path / "out")
