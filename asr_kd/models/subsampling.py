"""Front-ends that subsample 10 ms fbank frames by 4 (to 40 ms), teacher and student alike.

Both use two kernel-3 / stride-2 convolutions without padding, so they yield the same number of
frames for the same input and teacher and student posteriors line up frame by frame.
"""

from __future__ import annotations

import torch
from torch import nn

from asr_kd.framing import subsampled_length


class Conv2dSubsampling4(nn.Module):
    """(B, T, F) -> (B, T', D): two 3x3 stride-2 Conv2d over time and frequency (Conformer style)."""

    def __init__(self, in_dim: int, out_dim: int, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, 2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 2), nn.ReLU(),
        )
        self.out = nn.Linear(channels * subsampled_length(in_dim), out_dim)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.unsqueeze(1))  # (B, 1, T, F) -> (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))  # (B, T', C*F') -> (B, T', D)
        return x, subsampled_length(lens)


class Conv1dSubsampling4(nn.Module):
    """(B, T, F) -> (B, T', D): two stride-2 Conv1d over time; far cheaper than Conv2d (student)."""

    def __init__(self, in_dim: int, out_dim: int, channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_dim, channels, 3, 2), nn.ReLU(),
            nn.Conv1d(channels, out_dim, 3, 2), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, F, T) -> (B, D, T') -> (B, T', D)
        return x, subsampled_length(lens)


SUBSAMPLING = {"conv2d": Conv2dSubsampling4, "conv1d": Conv1dSubsampling4}
