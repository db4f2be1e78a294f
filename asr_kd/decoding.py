"""CTC search over model outputs. Greedy for now; beam and LM search extend this module."""

from __future__ import annotations

import torch


def greedy_decode(logits: torch.Tensor, lens: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """(B, T, V) logits, (B,) frames -> per utterance the best path with repeats merged, blanks removed."""
    best = logits.argmax(-1).cpu()  # (B, T)
    out = []
    for path, n in zip(best, lens.tolist()):
        path = torch.unique_consecutive(path[:n])
        out.append(path[path != blank].tolist())
    return out
