"""CTC decoding on torch tensors: batched greedy decoding and forced alignment to a given token
sequence. The search and the alignment themselves are torch-free, in asr_kd.ctc_search."""

from __future__ import annotations

import torch

from asr_kd.ctc_search import GreedyCollapser, TokenSpan, align_token_spans


def greedy_decode(logits: torch.Tensor, lens: torch.Tensor, blank: int = 0, space: int | None = None,
                  pause_frames: int = 0) -> list[list[int]]:
    """(B, T, V) logits, (B,) frames -> per utterance the best path with repeats merged, blanks
    removed (and, with `pause_frames`, `space` inserted at pauses; see asr_kd.ctc_search)."""
    best = logits.argmax(-1).cpu()  # (B, T)
    return [GreedyCollapser(blank, space, pause_frames).push(path[:n].tolist()) for path, n in zip(best, lens.tolist())]


def align_tokens(logits: torch.Tensor, ids: list[int]) -> list[TokenSpan]:
    """(T, V) CTC logits and target ids -> one TokenSpan (token, start, end) per id, by Viterbi
    forced alignment (as torchaudio's forced_align + merge_tokens)."""
    return align_token_spans(logits.detach().float().log_softmax(-1).cpu().numpy(), ids)  # (T, V) log-probs
