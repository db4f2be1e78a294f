"""WER/CER with substitutions, deletions and insertions (jiwer), per utterance and per speaker,
and a stage timer for real-time factor (RTF = processing seconds / audio seconds)."""

from __future__ import annotations

import time
from collections import defaultdict

import jiwer
import torch


def _counts(out) -> dict[str, int]:
    return {"sub": out.substitutions, "del": out.deletions, "ins": out.insertions,
            "ref": out.substitutions + out.deletions + out.hits}


def _rate(c: dict[str, int]) -> float:
    return 100.0 * (c["sub"] + c["del"] + c["ins"]) / max(1, c["ref"])


def score(refs: dict[str, str], hyps: dict[str, str], utt2spk: dict[str, str]) -> dict:
    """Word and character error rates (%) overall and per speaker, plus per-utterance word counts.
    Every reference utterance is scored; a missing hypothesis counts as empty."""
    utts = sorted(refs)
    per_utt, per_spk = {}, defaultdict(lambda: {"sub": 0, "del": 0, "ins": 0, "ref": 0})
    for utt in utts:
        c = _counts(jiwer.process_words(refs[utt], hyps.get(utt, "")))
        per_utt[utt] = c
        for k in c:
            per_spk[utt2spk[utt]][k] += c[k]
    words = {k: sum(c[k] for c in per_utt.values()) for k in ("sub", "del", "ins", "ref")}
    chars = _counts(jiwer.process_characters([refs[u] for u in utts], [hyps.get(u, "") for u in utts]))
    return {
        "wer": _rate(words), "cer": _rate(chars), "words": words, "chars": chars, "utts": len(utts),
        "per_spk": {spk: {**c, "wer": _rate(c)} for spk, c in sorted(per_spk.items())},
        "per_utt": {u: {**c, "wer": _rate(c)} for u, c in per_utt.items()},
    }


def kaldi_wer_line(result: dict) -> str:
    """Kaldi's compute-wer summary line: `%WER 12.34 [ 56 / 454, 3 ins, 10 del, 43 sub ]`."""
    w = result["words"]
    errs = w["sub"] + w["del"] + w["ins"]
    return f"%WER {result['wer']:.2f} [ {errs} / {w['ref']}, {w['ins']} ins, {w['del']} del, {w['sub']} sub ]"


class StageTimer:
    """Accumulates wall time per named stage; synchronises CUDA so GPU work is counted fully."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time(self, stage: str, fn, *args):
        self._sync()
        t0 = time.perf_counter()
        out = fn(*args)
        self._sync()
        self.seconds[stage] += time.perf_counter() - t0
        return out
