"""Sliding windows over long feature sequences: run a CTC model on overlapping windows (chunk +
left/right context, in 40 ms output frames), keep each window's centre frames, and stitch them into
exactly the frames a whole-sequence pass yields. Memory is bounded by the window, not the input.

Output frame i of a x4 front-end (two kernel-3, stride-2 convolutions) sees input frames
[4i, 4i + 6], so a window starting at input frame 4m yields output frames m, m+1, ... exactly as the
whole-sequence pass numbers them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asr_kd.models.subsampling import FACTOR as SUBSAMPLING
from asr_kd.models.subsampling import subsampled_length

RECEPTIVE = 7  # input frames seen by one output frame of the front-end


@dataclass
class ChunkConfig:
    """Window geometry in output (40 ms) frames; defaults: 16 s kept per window, 2 s context each side."""

    chunk: int = 400
    left: int = 50
    right: int = 50
    batch_size: int = 4  # windows per model call


@dataclass(frozen=True)
class Window:
    in_start: int  # input (10 ms) frames fed to the model: [in_start, in_end)
    in_end: int
    keep_start: int  # window output frames kept: [keep_start, keep_end)
    keep_end: int


def make_windows(num_input_frames: int, conf: ChunkConfig) -> list[Window]:
    """Windows whose kept frames tile output frames [0, N) exactly once, N = subsampled_length(T)."""
    n_out = subsampled_length(num_input_frames)
    wins = []
    for a in range(0, max(n_out, 0), conf.chunk):
        b = min(a + conf.chunk, n_out)
        first = max(0, a - conf.left)  # first output frame the window computes
        last = min(n_out, b + conf.right)  # one past the last
        in_end = min(num_input_frames, SUBSAMPLING * (last - 1) + RECEPTIVE)
        wins.append(Window(SUBSAMPLING * first, in_end, a - first, b - first))
    return wins


def windowed_logits(model: torch.nn.Module, feats: torch.Tensor, conf: ChunkConfig) -> torch.Tensor:
    """(T, F) features -> (N, V) logits, N = subsampled_length(T), computed window by window.
    Only windows of equal length share a batch: no padding, so even a model whose convolutions see
    batch padding (torchaudio's Conformer conv module does) gives the same frames as alone."""
    wins = make_windows(feats.shape[0], conf)
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(wins):
        by_len.setdefault(w.in_end - w.in_start, []).append(i)
    pieces: list[torch.Tensor | None] = [None] * len(wins)
    for length, idxs in by_len.items():
        for k in range(0, len(idxs), conf.batch_size):
            group = idxs[k : k + conf.batch_size]
            batch = torch.stack([feats[wins[i].in_start : wins[i].in_end] for i in group])  # (B, L, F)
            logits, _ = model(batch, torch.full((len(group),), length, device=feats.device))  # (B, L', V)
            for j, i in enumerate(group):
                pieces[i] = logits[j, wins[i].keep_start : wins[i].keep_end]
    if not pieces:
        return feats.new_zeros(0, model.vocab_size)
    return torch.cat(pieces)
