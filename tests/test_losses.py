import math

import pytest
import torch

from asr_kd.config import ConfigError, ExperimentConfig, KDConfig
from asr_kd.losses import ctc_kd_loss, ctc_loss, kd_loss, with_inter_ctc


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
    assert set(parts) == {"ctc", "kd", "kd_frames", "labelled"} and parts["kd_frames"] == 1.0
    only_ctc, parts = ctc_kd_loss(s, lens, targets, tlens, None, None)
    assert only_ctc.item() == pytest.approx(ctc.item()) and set(parts) == {"ctc"}


def test_untranscribed_utterances_learn_from_kd_only():
    torch.manual_seed(2)
    s, t = torch.randn(3, 8, 5), torch.randn(3, 8, 5)
    lens, targets, tlens = torch.tensor([8, 6, 7]), torch.tensor([[1, 2], [0, 0], [3, 0]]), torch.tensor([2, 0, 1])
    conf = KDConfig(weight=0.5)
    total, parts = ctc_kd_loss(s, lens, targets, tlens, t, conf)
    keep = torch.tensor([0, 2])  # the transcribed ones
    ctc = ctc_loss(s[keep], lens[keep], targets[keep], tlens[keep])
    assert total.item() == pytest.approx(0.5 * ctc.item() + 0.5 * kd_loss(s, t, lens).item(), rel=1e-5)
    assert parts["labelled"] == pytest.approx(2 / 3)
    none, parts = ctc_kd_loss(s[1:2], lens[1:2], targets[1:2], tlens[1:2], t[1:2], conf)  # no transcript at all
    assert parts["ctc"] == 0.0 and none.item() == pytest.approx(0.5 * kd_loss(s[1:2], t[1:2], lens[1:2]).item())
    with pytest.raises(ValueError, match="need a teacher"):
        ctc_kd_loss(s, lens, targets, tlens, None, None)


def _spiky(path: list[int], vocab: int = 5, peak: float = 8.0) -> torch.Tensor:
    """(1, T, V) logits with a sharp peak on path[t] at each frame t."""
    logits = torch.zeros(1, len(path), vocab)
    for t, k in enumerate(path):
        logits[0, t, k] = peak
    return logits


def test_blank_threshold_drops_blank_frames_and_reports_fraction():
    teacher = _spiky([0, 0, 1, 0, 2, 0])  # 4 confident blanks, 2 symbols
    student = torch.randn(1, 6, 5)
    lens = torch.tensor([6])
    kl = (torch.softmax(teacher, -1) * (torch.log_softmax(teacher, -1) - torch.log_softmax(student, -1))).sum(-1)[0]
    expected = (kl[2] + kl[4]) / 2
    assert kd_loss(student, teacher, lens, blank_threshold=0.9).item() == pytest.approx(expected.item(), rel=1e-5)
    conf = KDConfig(weight=0.5, blank_threshold=0.9)
    _, parts = ctc_kd_loss(student, lens, torch.tensor([[1, 2]]), torch.tensor([2]), teacher, conf)
    assert parts["kd_frames"] == pytest.approx(2 / 6)


def test_nonblank_only_renormalises_over_symbols():
    torch.manual_seed(2)
    s, t = torch.randn(1, 4, 6), torch.randn(1, 4, 6)
    p, q = torch.softmax(t[..., 1:], -1), torch.softmax(s[..., 1:], -1)
    expected = (p * (p / q).log()).sum(-1).mean()
    assert kd_loss(s, t, torch.tensor([4]), nonblank_only=True).item() == pytest.approx(expected.item(), rel=1e-5)
    # a blank-dominated teacher no longer hides what it says about the symbols
    t2 = t.clone()
    t2[..., 0] = 30.0
    assert kd_loss(s, t2, torch.tensor([4]), nonblank_only=True).item() == pytest.approx(expected.item(), rel=1e-5)


def test_delay_tolerant_kd_forgives_spikes_shifted_by_two_frames():
    path = [0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0, 0]
    teacher = _spiky(path)
    student = _spiky([0, 0] + path[:-2])  # the same spikes, 2 frames late
    lens = torch.tensor([len(path)])
    plain = kd_loss(student, teacher, lens).item()
    tolerant = kd_loss(student, teacher, lens, max_delay=2).item()
    assert tolerant < 0.01 < plain
    assert kd_loss(student, teacher, lens, max_delay=1).item() == pytest.approx(plain, rel=0.5)  # 1 is not enough
    assert kd_loss(teacher, teacher, lens, max_delay=2).item() == pytest.approx(0.0, abs=1e-6)


def test_fixed_delay_teaches_the_student_to_spike_later():
    path = [0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0, 0]
    teacher = _spiky(path)
    late = _spiky([0, 0, 0] + path[:-3])  # the same spikes, 3 frames (120 ms) late
    lens = torch.tensor([len(path)])
    assert kd_loss(late, teacher, lens, delay=3).item() < 0.01 < kd_loss(late, teacher, lens).item()
    assert kd_loss(teacher, teacher, lens, delay=3).item() > 1.0  # an on-time student is now wrong
    later = _spiky([0, 0, 0, 0] + path[:-4])
    assert kd_loss(later, teacher, lens, delay=3).item() > 1.0
    assert kd_loss(later, teacher, lens, delay=3, max_delay=1).item() < 0.01  # tolerance around the delay


def test_kd_delays_must_be_whole_frames():
    assert ExperimentConfig.from_dict({"model": "rnn_ctc", "kd_conf": {"delay": 3}}).kd_conf.delay == 3
    for bad in ({"delay": -1}, {"max_delay": -2}, {"delay": 1.5}):
        with pytest.raises(ConfigError, match="kd_conf: .*delay must be an integer >= 0"):
            ExperimentConfig.from_dict({"model": "rnn_ctc", "kd_conf": bad})


def test_delay_is_chosen_per_utterance_and_padding_ignored():
    a = [0, 1, 0, 2, 0, 3, 0, 0]
    teacher = torch.cat([_spiky(a), _spiky(a)])
    student = torch.cat([_spiky([0] + a[:-1]), _spiky(a[1:] + [0])])  # one late, one early
    lens = torch.tensor([8, 8])
    assert kd_loss(student, teacher, lens, max_delay=1).item() < 0.01
    student_padded = student.clone()
    student_padded[1, 6:] = 50.0
    short = kd_loss(student_padded, teacher, torch.tensor([8, 6]), max_delay=1).item()
    assert short < 0.01


def test_delay_never_reads_student_padding():
    a = [0, 1, 0, 2, 0, 3]
    teacher = _spiky(a + [0, 0])
    student = _spiky([0] + a + [0])  # one frame late
    student[0, 6:] = torch.tensor([0.0, 0.0, 0.0, 0.0, 40.0])  # garbage in the two padding frames
    lens = torch.tensor([6])
    clean = kd_loss(_spiky([0] + a[:-1]), teacher[:, :6], lens, max_delay=1).item()
    assert kd_loss(student, teacher, lens, max_delay=1).item() == pytest.approx(clean, rel=1e-5)


def test_intermediate_ctc_mixes_the_mean_of_the_layers_ctc_with_the_loss():
    torch.manual_seed(3)
    final, inter = torch.randn(2, 8, 5), [torch.randn(2, 8, 5), torch.randn(2, 8, 5)]
    lens, targets, tlens = torch.tensor([8, 6]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
    loss, parts = ctc_kd_loss(final, lens, targets, tlens, None, None)
    mixed = with_inter_ctc(loss, parts, inter, 0.3, lens, targets, tlens)
    mean = (ctc_loss(inter[0], lens, targets, tlens) + ctc_loss(inter[1], lens, targets, tlens)) / 2
    assert mixed.item() == pytest.approx(0.7 * loss.item() + 0.3 * mean.item(), rel=1e-5)
    assert parts["inter_ctc"] == pytest.approx(mean.item(), rel=1e-5)
    assert with_inter_ctc(loss, {}, (), 0.3, lens, targets, tlens) is loss
