"""CTC loss, frame-level KD loss, and their combination. Both are averaged per valid frame, so the
KD weight trades them off on the same scale and padding frames never count."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from asr_kd.config import KDConfig


def valid_mask(lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True on real frames."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def ctc_loss(logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor) -> torch.Tensor:
    """(B, T, V) logits, (B,) frames, (B, U) targets, (B,) target lengths -> CTC per valid frame."""
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (B, T, V) -> (T, B, V)
    total = F.ctc_loss(log_probs, targets, lens, target_lens, blank=0, reduction="sum", zero_infinity=True)
    return total / lens.sum()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, lens: torch.Tensor,
            temperature: float = 1.0) -> torch.Tensor:
    """T^2 * mean over valid frames of KL(p_teacher^T || p_student^T); inputs (B, T, V), (B,)."""
    log_p_s = (student_logits.float() / temperature).log_softmax(-1)
    log_p_t = (teacher_logits.float() / temperature).log_softmax(-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # (B, T)
    mask = valid_mask(lens, kl.shape[1])
    return temperature**2 * kl.masked_fill(~mask, 0.0).sum() / mask.sum()


def ctc_kd_loss(student_logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor,
                teacher_logits: torch.Tensor | None, conf: KDConfig | None) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 - w) * CTC + w * KD when a teacher is given, else CTC; returns the loss and its parts."""
    ctc = ctc_loss(student_logits, lens, targets, target_lens)
    if teacher_logits is None or conf is None:
        return ctc, {"ctc": ctc.item()}
    kd = kd_loss(student_logits, teacher_logits, lens, conf.temperature)
    return (1 - conf.weight) * ctc + conf.weight * kd, {"ctc": ctc.item(), "kd": kd.item()}
