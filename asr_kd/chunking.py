"""Sliding windows over long feature sequences: run a CTC model on overlapping windows (chunk +
left/right context, in 40 ms output frames), keep each window's centre frames, and stitch them into
exactly the frames a whole-sequence pass yields. Memory is bounded by the window, not the input.
The window geometry lives in asr_kd.framing (shared with the torch-free edge runtime)."""

from __future__ import annotations

import torch

from asr_kd.framing import ChunkConfig, make_windows


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
