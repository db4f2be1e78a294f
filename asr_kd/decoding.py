"""CTC decoding on torch tensors: batched greedy decoding and forced alignment to a given token
sequence (torchaudio). The search itself is torch-free, in asr_kd.ctc_search."""

from __future__ import annotations

import warnings

import torch
import torchaudio

from asr_kd.ctc_search import GreedyCollapser


def greedy_decode(logits: torch.Tensor, lens: torch.Tensor, blank: int = 0, space: int | None = None,
                  pause_frames: int = 0) -> list[list[int]]:
    """(B, T, V) logits, (B,) frames -> per utterance the best path with repeats merged, blanks
    removed (and, with `pause_frames`, `space` inserted at pauses; see asr_kd.ctc_search)."""
    best = logits.argmax(-1).cpu()  # (B, T)
    return [GreedyCollapser(blank, space, pause_frames).push(path[:n].tolist()) for path, n in zip(best, lens.tolist())]


def align_tokens(logits: torch.Tensor, ids: list[int]) -> list:
    """(T, V) CTC logits and target ids -> one torchaudio TokenSpan (token, start, end) per id,
    by Viterbi forced alignment."""
    log_probs = logits.float().log_softmax(-1)[None]  # (1, T, V)
    with warnings.catch_warnings():  # torchaudio 2.9 flags forced_align as deprecated; it is pinned here
        warnings.simplefilter("ignore", UserWarning)
        path, scores = torchaudio.functional.forced_align(log_probs, torch.tensor([ids], dtype=torch.int32), blank=0)
    spans = torchaudio.functional.merge_tokens(path[0], scores[0].exp(), blank=0)
    assert len(spans) == len(ids), "forced alignment lost tokens"
    return spans
