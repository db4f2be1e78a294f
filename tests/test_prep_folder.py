"""data_prep.folder on fabricated nested folders: ids, speaker modes, untranscribed pool, errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_kd.data.audio import load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from data_prep.folder import PrepError, prepare

REPO = Path(__file__).resolve().parents[1]
FILES = {  # relative path -> transcript as written
    "alice/s1/alice_01.wav": "Hello,  world!\n",
    "alice/s1/alice_02 take2.flac": "Second\ttake",
    "bob/bob-01.wav": "It's  me",
}


def make_folder(root: Path, files: dict[str, str | None] = FILES) -> Path:
    """Audio files (0.5 s of noise at 16 kHz) with a .txt beside each whose transcript is not None."""
    rng = np.random.default_rng(0)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000, subtype="PCM_16")
        if text is not None:
            path.with_suffix(".txt").write_text(text, encoding="utf-8")
    return root


def table(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


@pytest.mark.parametrize("mode, utt2spk", [
    ("dir", {"bob-bob-bob-01": "bob", "s1-alice-s1-alice_01": "s1", "s1-alice-s1-alice_02_take2": "s1"}),
    ("file", {"alice-alice-s1-alice_01": "alice", "alice-alice-s1-alice_02_take2": "alice",
              "bob-bob-bob-01": "bob"}),
    ("none", {"alice-s1-alice_01": "alice-s1-alice_01", "alice-s1-alice_02_take2": "alice-s1-alice_02_take2",
              "bob-bob-01": "bob-bob-01"}),
])
def test_ids_and_speakers(tmp_path, mode, utt2spk):
    audio = make_folder(tmp_path / "audio")
    stats = prepare(audio, tmp_path / "out", speaker_from=mode)
    assert stats == {"utterances": 3, "speakers": len(set(utt2spk.values())),
                     "hours": pytest.approx(1.5 / 3600), "untranscribed": 0}
    assert (tmp_path / "out" / "utt2spk").read_text() == "".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items()))
    assert list(table(tmp_path / "out" / "utt2dur").values()) == ["0.500"] * 3


def test_text_wav_scp_and_reload(tmp_path):
    audio = make_folder(tmp_path / "audio")
    out = tmp_path / "out"
    prepare(audio, out)
    assert (out / "text").read_text() == ("bob-bob-bob-01 It's me\ns1-alice-s1-alice_01 Hello, world!\n"
                                          "s1-alice-s1-alice_02_take2 Second take\n")
    assert table(out / "wav.scp")["s1-alice-s1-alice_02_take2"] == str(audio.resolve() / "alice/s1/alice_02 take2.flac")
    utts = load_data_dir(out)
    assert utts[2].text == "Second take" and load_utterance(utts[2]).shape == (8000,)


def test_untranscribed(tmp_path):
    audio = make_folder(tmp_path / "audio", {**FILES, "carol/c1.wav": None})
    missing = (audio / "carol" / "c1.wav").resolve()
    with pytest.raises(PrepError, match=f"{missing}: no transcript c1.txt"):
        prepare(audio, tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "text").write_text("stale 1\n")
    stats = prepare(audio, tmp_path / "out", allow_untranscribed=True)
    assert stats["untranscribed"] == 1 and not (tmp_path / "out" / "text").exists()
    utts = load_data_dir(tmp_path / "out", require_text=False)
    assert len(utts) == 4 and all(u.text is None for u in utts)


def test_duplicate_ids_and_empty_dir(tmp_path):
    audio = make_folder(tmp_path / "audio", {"a/x y.wav": "one", "a/x_y.flac": "two"})
    with pytest.raises(PrepError, match="utterance id a-a-x_y is also that of"):
        prepare(audio, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match="no wav/flac/ogg/mp3 files found"):
        prepare(tmp_path / "empty", tmp_path / "out")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "data_prep.folder", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_cli(tmp_path):
    audio = make_folder(tmp_path / "audio", {**FILES, "carol/c1.wav": None})
    bad = run_cli("--audio-dir", audio, "--out", tmp_path / "out")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "c1.wav: no transcript c1.txt" in bad.stderr
    ok = run_cli("--audio-dir", audio, "--out", tmp_path / "out", "--speaker-from", "file", "--allow-untranscribed")
    assert ok.returncode == 0, ok.stderr
    assert "4 utterances, 3 speakers" in ok.stdout and "1 untranscribed (no text file written)" in ok.stdout
