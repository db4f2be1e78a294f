"""Several frozen teachers as one: the weighted average of their posteriors, frame by frame
(only meaningful when they share the 40 ms frame rate, which every model here does)."""

from __future__ import annotations

import torch
from torch import nn


class TeacherEnsemble(nn.Module):
    """forward(feats, lens) -> (B, T', V) log of sum_i w_i * softmax(logits_i), and (B,) frames."""

    def __init__(self, teachers: list[nn.Module], weights: list[float] | None = None):
        super().__init__()
        weights = weights or [1.0] * len(teachers)
        if len(weights) != len(teachers) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"need one non-negative weight per teacher, got {weights} for {len(teachers)}")
        self.teachers = nn.ModuleList(teachers)
        self.register_buffer("weights", torch.tensor(weights) / sum(weights))

    def forward(self, feats: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [t(feats, lens) for t in self.teachers]
        for _, n in outs[1:]:
            if not torch.equal(n, outs[0][1]):
                raise ValueError("teachers emit different numbers of frames; they need the same frame rate")
        log_p = torch.stack([o.float().log_softmax(-1) for o, _ in outs])  # (M, B, T', V)
        return torch.logsumexp(log_p + self.weights.log()[:, None, None, None], dim=0), outs[0][1]
