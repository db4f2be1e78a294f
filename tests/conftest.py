"""Shared fixtures: a tiny fabricated Kaldi data directory with real wav files."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def make_data_dir(root: Path, texts: dict[str, str], sr: int = 16000, seconds: float = 1.0) -> Path:
    """Write wavs (noise bursts) and wav.scp/text/utt2spk/spk2utt for `texts` ({utt: text})."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    wav_scp, utt2spk = {}, {}
    for utt in sorted(texts):
        path = root / "wav" / f"{utt}.wav"
        n = int(sr * seconds * (1 + 0.3 * (len(wav_scp) % 3)))
        sf.write(path, (0.1 * rng.standard_normal(n)).astype(np.float32), sr, subtype="PCM_16")
        wav_scp[utt] = str(path)
        utt2spk[utt] = utt.split("-")[0]
    (root / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in wav_scp.items()))
    (root / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(texts.items())))
    (root / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in utt2spk.items()))
    spks = sorted(set(utt2spk.values()))
    (root / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in sorted(utt2spk) if utt2spk[u] == s)}\n" for s in spks))
    return root


def make_recording_dir(root: Path, reco: str, pieces: list[tuple[str, float, float, str]], seconds: float = 5.0,
                       seed: int = 0) -> Path:
    """One noise recording `reco` (speaker = the part before the first '-') cut into `pieces`
    (utt, start, end, text) by a `segments` file, with reco2text = the pieces' texts joined."""
    root.mkdir(parents=True)
    wav = root / f"{reco}.wav"
    sf.write(wav, (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
    spk = reco.split("-")[0]
    (root / "wav.scp").write_text(f"{reco} {wav}\n")
    (root / "segments").write_text("".join(f"{u} {reco} {a:.2f} {b:.2f}\n" for u, a, b, _ in pieces))
    (root / "text").write_text("".join(f"{u} {t}\n" for u, _, _, t in pieces))
    (root / "utt2spk").write_text("".join(f"{u} {spk}\n" for u, _, _, _ in pieces))
    (root / "spk2utt").write_text(f"{spk} {' '.join(u for u, _, _, _ in pieces)}\n")
    (root / "reco2text").write_text(f"{reco} {' '.join(t for _, _, _, t in pieces)}\n")
    return root


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return make_data_dir(tmp_path / "data", {
        "spka-001": "HELLO WORLD", "spka-002": "GOOD MORNING", "spkb-001": "IT'S A TEST",
        "spkb-002": "ANOTHER ONE", "spkc-001": "SPEECH", "spkc-002": "A B C",
    })


@pytest.fixture
def data_dir_factory():
    """make_data_dir, for tests that need more than one data dir."""
    return make_data_dir
