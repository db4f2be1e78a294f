import math

import pytest
import torch

from asr_kd.config import KDConfig
from asr_kd.losses import ctc_kd_loss, ctc_loss, kd_loss


def test_kd_loss_matches_hand_computation():
    # One utterance, one frame, two symbols: KL(p || q) by hand, temperature 2 scales by T^2.
    t = torch.tensor([[[2.0, 0.0]]])
    s = torch.tensor([[[0.0, 1.0]]])
    lens = torch.tensor([1])
    for temp in (1.0, 2.0):
        p = torch.softmax(t[0, 0] / temp, -1)
        q = torch.softmax(s[0, 0] / temp, -1)
        expected = temp**2 * sum(p[i] * math.log(p[i] / q[i]) for i in range(2))
        assert kd_loss(s, t, lens, temp).item() == pytest.approx(float(expected), rel=1e-5)


def test_kd_loss_zero_when_student_equals_teacher():
    logits = torch.randn(3, 7, 5)
    assert kd_loss(logits, logits.clone(), torch.tensor([7, 4, 1]), 2.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_is_mean_over_valid_frames_and_ignores_padding():
    torch.manual_seed(0)
    s, t = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    lens = torch.tensor([6, 3])
    base = kd_loss(s, t, lens)
    s2, t2 = s.clone(), t.clone()
    s2[1, 3:] = 100 * torch.randn(3, 4)  # garbage in padding
    t2[1, 3:] = -50.0
    assert kd_loss(s2, t2, lens).item() == pytest.approx(base.item(), rel=1e-6)
    per_frame = (torch.softmax(t, -1) * (torch.log_softmax(t, -1) - torch.log_softmax(s, -1))).sum(-1)
    expected = (per_frame[0].sum() + per_frame[1, :3].sum()) / 9
    assert base.item() == pytest.approx(expected.item(), rel=1e-5)


def test_ctc_loss_per_frame_and_padding_invariant():
    torch.manual_seed(0)
    logits = torch.randn(2, 10, 5)
    targets = torch.tensor([[1, 2, 3], [4, 0, 0]])
    tlens, lens = torch.tensor([3, 1]), torch.tensor([10, 6])
    loss = ctc_loss(logits, lens, targets, tlens)
    lp = logits.log_softmax(-1).transpose(0, 1)
    total = torch.nn.functional.ctc_loss(lp, targets, lens, tlens, reduction="sum")
    assert loss.item() == pytest.approx(total.item() / 16, rel=1e-5)
    logits2 = logits.clone()
    logits2[1, 6:] = 99.0
    assert ctc_loss(logits2, lens, targets, tlens).item() == pytest.approx(loss.item(), rel=1e-6)


def test_combined_loss_weights_ctc_and_kd():
    torch.manual_seed(1)
    s, t = torch.randn(1, 8, 5), torch.randn(1, 8, 5)
    lens, targets, tlens = torch.tensor([8]), torch.tensor([[1, 2]]), torch.tensor([2])
    ctc = ctc_loss(s, lens, targets, tlens)
    kd = kd_loss(s, t, lens, 2.0)
    total, parts = ctc_kd_loss(s, lens, targets, tlens, t, KDConfig(weight=0.25, temperature=2.0))
    assert total.item() == pytest.approx(0.75 * ctc.item() + 0.25 * kd.item(), rel=1e-5)
    assert set(parts) == {"ctc", "kd"}
    only_ctc, parts = ctc_kd_loss(s, lens, targets, tlens, None, None)
    assert only_ctc.item() == pytest.approx(ctc.item()) and set(parts) == {"ctc"}
