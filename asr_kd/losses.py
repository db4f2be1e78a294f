"""CTC loss, frame-level KD loss, and their combination. Both are averaged per valid frame, so the
KD weight trades them off on the same scale and padding frames never count.

KD options for CTC (README, "Knowledge distillation options"): drop frames where the teacher is almost surely blank
(`blank_threshold`), compare only the renormalised non-blank distributions (`nonblank_only`), and
teach the student to spike a fixed `delay` frames after the teacher (so a unidirectional student hears that much
of what follows a symbol before it emits it), and tolerate a per-utterance delay of up to `max_delay` frames
around that."""

from __future__ import annotations

from collections.abc import Sequence

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


def frame_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
             nonblank_only: bool = False) -> torch.Tensor:
    """(B, T, V) x2 -> (B, T) KL(p_teacher^T || p_student^T) per frame; with `nonblank_only` both
    distributions are renormalised over the non-blank symbols (blank = id 0) first."""
    s, t = student_logits.float() / temperature, teacher_logits.float() / temperature
    if nonblank_only:
        s, t = s[..., 1:], t[..., 1:]
    log_p_s, log_p_t = s.log_softmax(-1), t.log_softmax(-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


def kd_frame_mask(teacher_logits: torch.Tensor, lens: torch.Tensor, blank_threshold: float = 1.0) -> torch.Tensor:
    """(B, T) frames that carry KD signal: valid, and (when `blank_threshold` < 1) where the
    teacher's blank posterior does not exceed the threshold."""
    mask = valid_mask(lens, teacher_logits.shape[1])
    if blank_threshold < 1.0:
        mask &= teacher_logits.float().softmax(-1)[..., 0] <= blank_threshold
    return mask


def _shift(x: torch.Tensor, d: int) -> torch.Tensor:
    """(B, T, ...) -> same shape with frame i holding x[i - d] (zeros where that is out of range)."""
    if d == 0:
        return x
    out = torch.zeros_like(x)
    if d > 0:
        out[:, d:] = x[:, :-d]
    else:
        out[:, :d] = x[:, -d:]
    return out


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, lens: torch.Tensor,
            temperature: float = 1.0, blank_threshold: float = 1.0, nonblank_only: bool = False,
            max_delay: int = 0, delay: int = 0) -> torch.Tensor:
    """T^2 * mean over KD frames of KL(teacher || student); inputs (B, T, V), (B,). Student frame i is
    compared with teacher frame i - `delay`; with `max_delay` D > 0, with teacher frame i - d for the d in
    [delay - D, delay + D] that gives each utterance the lowest loss. Teacher frames shifted past the
    student's length carry no signal: training pads at least `delay` frames of silence after each utterance."""
    mask = kd_frame_mask(teacher_logits, lens, blank_threshold)  # (B, T), teacher frames
    valid = valid_mask(lens, mask.shape[1])  # student frames
    best_sum, best_count = None, None
    for d in range(delay - max_delay, delay + max_delay + 1):
        kl = frame_kl(student_logits, _shift(teacher_logits, d), temperature, nonblank_only)  # (B, T)
        m = _shift(mask, d) & valid
        total, count = kl.masked_fill(~m, 0.0).sum(1), m.sum(1)  # (B,), (B,)
        if best_sum is None:
            best_sum, best_count = total, count
        else:
            better = total / count.clamp(min=1) < best_sum / best_count.clamp(min=1)
            best_sum, best_count = torch.where(better, total, best_sum), torch.where(better, count, best_count)
    return temperature**2 * best_sum.sum() / best_count.sum().clamp(min=1)


def labelled_ctc_loss(logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor,
                      target_lens: torch.Tensor) -> torch.Tensor:
    """`ctc_loss` over the utterances with a transcript (target length > 0); 0 when there are none."""
    labelled = target_lens > 0  # (B,)
    if labelled.all():
        return ctc_loss(logits, lens, targets, target_lens)
    if labelled.any():
        return ctc_loss(logits[labelled], lens[labelled], targets[labelled], target_lens[labelled])
    return logits.new_zeros((), dtype=torch.float32)


def with_inter_ctc(loss: torch.Tensor, parts: dict[str, float], inter_logits: Sequence[torch.Tensor], weight: float,
                   lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor) -> torch.Tensor:
    """(1 - w) * `loss` + w * the mean CTC of the intermediate layers' (B, T', V) logits (intermediate
    CTC); `loss` itself when there are none. Adds `inter_ctc` to `parts`."""
    if not inter_logits:
        return loss
    inter = sum(labelled_ctc_loss(x, lens, targets, target_lens) for x in inter_logits) / len(inter_logits)
    parts["inter_ctc"] = inter.item()
    return (1 - weight) * loss + weight * inter


def ctc_kd_loss(student_logits: torch.Tensor, lens: torch.Tensor, targets: torch.Tensor, target_lens: torch.Tensor,
                teacher_logits: torch.Tensor | None, conf: KDConfig | None) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 - w) * CTC + w * KD when a teacher is given, else CTC; returns the loss and its parts
    (with `kd_frames`: the fraction of valid frames that carry KD signal). Untranscribed
    utterances (target length 0) are left out of the CTC term and learn from KD alone."""
    labelled = target_lens > 0  # (B,)
    ctc = labelled_ctc_loss(student_logits, lens, targets, target_lens)
    if teacher_logits is None or conf is None:
        if not labelled.all():
            raise ValueError("untranscribed utterances need a teacher (KD) to learn from")
        return ctc, {"ctc": ctc.item()}
    kd = kd_loss(student_logits, teacher_logits, lens, conf.temperature, conf.blank_threshold,
                 conf.nonblank_only, conf.max_delay, conf.delay)
    frames = kd_frame_mask(teacher_logits, lens, conf.blank_threshold).sum() / lens.sum()
    return (1 - conf.weight) * ctc + conf.weight * kd, {"ctc": ctc.item(), "kd": kd.item(), "kd_frames": frames.item(),
                                                        "labelled": labelled.float().mean().item()}
