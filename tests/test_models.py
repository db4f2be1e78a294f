from pathlib import Path

import pytest
import torch

from asr_kd.config import ExperimentConfig
from asr_kd.framing import subsampled_length
from asr_kd.losses import ctc_loss
from asr_kd.models import build_model, num_params

CONF = Path(__file__).resolve().parents[1] / "egs" / "synth" / "s0" / "conf"


@pytest.mark.parametrize("name", ["teacher.yaml", "student.yaml"])
def test_shapes_and_lengths(name):
    conf = ExperimentConfig.load(CONF / name)
    model = build_model(conf.model, conf.model_conf, 80, 30).eval()
    lens = torch.tensor([101, 57, 7, 8])
    feats = torch.randn(4, 101, 80)
    with torch.no_grad():
        logits, out_lens = model(feats, lens)
    assert logits.shape == (4, subsampled_length(101), 30)
    assert out_lens.tolist() == [subsampled_length(n) for n in lens.tolist()] == [24, 13, 1, 1]


def test_teacher_and_student_emit_the_same_frames():
    t = ExperimentConfig.load(CONF / "teacher.yaml")
    s = ExperimentConfig.load(CONF / "student.yaml")
    teacher = build_model(t.model, t.model_conf, 80, 30).eval()
    student = build_model(s.model, s.model_conf, 80, 30).eval()
    for n in (7, 8, 9, 10, 11, 250, 251):
        x, lens = torch.randn(1, n, 80), torch.tensor([n])
        with torch.no_grad():
            (tl, tn), (sl, sn) = teacher(x, lens), student(x, lens)
        assert tl.shape[1] == sl.shape[1] == tn.item() == sn.item()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_student_outputs(bidirectional):
    s = ExperimentConfig.load(CONF / "student.yaml")
    conf = {**s.model_conf, "bidirectional": bidirectional, "residual": not bidirectional}
    model = build_model(s.model, conf, 80, 30).eval()
    x = torch.randn(1, 60, 80)
    padded = torch.cat([x, torch.randn(1, 40, 80)], 1)
    with torch.no_grad():
        a, _ = model(x, torch.tensor([60]))
        b, n = model(padded, torch.tensor([60]))
    assert torch.allclose(a[0], b[0, : n.item()], atol=1e-5)


@pytest.mark.parametrize("on", [False, True])
def test_teacher_utterance_mean_norm_removes_a_constant_offset(on):
    t = ExperimentConfig.load(CONF / "teacher.yaml")
    torch.manual_seed(0)
    model = build_model(t.model, {**t.model_conf, "utt_mean_norm": on}, 80, 30).eval()
    x, lens = torch.randn(2, 90, 80), torch.tensor([90, 50])
    shifted = x + torch.linspace(-3, 3, 80)  # the same spectral tilt on every frame
    shifted[1, 50:] = x[1, 50:]  # padding untouched
    with torch.no_grad():
        (a, n), (b, _) = model(x, lens), model(shifted, lens)
    same = all(torch.allclose(a[i, :k], b[i, :k], atol=1e-4) for i, k in enumerate(n.tolist()))
    assert same == on


def test_utterance_mean_norm_zero_mean_over_valid_frames():
    from asr_kd.models.ctc_model import utterance_mean_norm
    x, lens = torch.randn(3, 20, 4) + 5, torch.tensor([20, 7, 1])
    y = utterance_mean_norm(x, lens)
    for i, k in enumerate(lens.tolist()):
        assert torch.allclose(y[i, :k].mean(0), torch.zeros(4), atol=1e-5)
        assert torch.allclose(y[i, :k] - x[i, :k], y[i, :1] - x[i, :1])  # one offset per utterance
        assert not y[i, k:].any()


def test_presets_sizes():
    large = ExperimentConfig.load(CONF / "teacher_large.yaml")
    n_large = num_params(build_model(large.model, large.model_conf, 80, 30))
    assert 90e6 < n_large < 130e6  # Conformer-L class
    cpu = ExperimentConfig.load(CONF / "teacher.yaml")
    student = ExperimentConfig.load(CONF / "student.yaml")
    n_teacher = num_params(build_model(cpu.model, cpu.model_conf, 80, 30))
    n_student = num_params(build_model(student.model, student.model_conf, 80, 30))
    assert n_student * 3.5 < n_teacher  # 4.08M vs 1.05M: the CPU teacher has ~3.9x the student's weights


def test_unknown_model_conf_key_is_an_error():
    with pytest.raises(ValueError, match="unknown key"):
        build_model("rnn_ctc", {"hiden_size": 10}, 80, 30)


def test_residual_student_must_be_unidirectional():
    with pytest.raises(ValueError, match="residual needs a unidirectional"):
        build_model("rnn_ctc", {"residual": True, "bidirectional": True}, 80, 30)


def _token_utterances(n=16, vocab=6):
    """n utterances of 10-15 tokens, each token a fixed random spectrum held 8-12 frames plus noise
    (2-3 output frames per token, as dense as fast speech): (B, T, 80), (B,), (B, U), (B,)."""
    g = torch.Generator().manual_seed(0)
    spectra = torch.randn(vocab, 80, generator=g) * 2
    feats, targets = [], []
    for _ in range(n):
        toks = torch.randint(1, vocab, (int(torch.randint(10, 16, (1,), generator=g)),), generator=g)
        f = torch.cat([spectra[t].expand(int(torch.randint(8, 13, (1,), generator=g)), 80) for t in toks.tolist()])
        feats.append(f + 0.5 * torch.randn(f.shape, generator=g))
        targets.append(toks)
    lens, target_lens = torch.tensor([len(f) for f in feats]), torch.tensor([len(t) for t in targets])
    pad = torch.nn.utils.rnn.pad_sequence
    return pad(feats, batch_first=True), lens, pad(targets, batch_first=True), target_lens


def test_preset_student_learns_from_ctc_alone():
    """The preset's front-end LayerNorm + skip let a 3-layer LSTM fit CTC quickly; without them it crawls
    (the recipe's CTC-only student stalled at "E E E")."""
    feats, lens, targets, target_lens = _token_utterances()
    preset = ExperimentConfig.load(CONF / "student.yaml").model_conf
    assert preset["frontend_norm"] and preset["residual"]
    final = {}
    for on in (False, True):
        torch.manual_seed(0)
        model = build_model("rnn_ctc", {"hidden_size": 32, "subsampling_channels": 32, "num_layers": 3,
                                        "dropout": 0.0, "rnn_type": "lstm", "frontend_norm": on, "residual": on},
                            80, 6)
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        for _ in range(100):
            logits, out_lens = model(feats, lens)
            loss = ctc_loss(logits, out_lens, targets, target_lens)
            opt.zero_grad()
            loss.backward()
            opt.step()
        final[on] = loss.item()
    assert final[True] < 0.1 and final[True] < final[False] / 4, final


def _teacher(**extra):
    conf = ExperimentConfig.load(CONF / "teacher.yaml")
    torch.manual_seed(0)
    plain = {"num_layers": 4, "inter_ctc_layers": [], "self_condition": False}
    return build_model(conf.model, {**conf.model_conf, **plain, **extra}, 80, 30)


def test_intermediate_ctc_taps_the_chosen_layers_in_training_only():
    """Intermediate CTC without self-conditioning adds no weights and leaves the output as it was;
    training-mode forwards keep one (B, T', V) logits per chosen layer; out-of-range layers are errors."""
    plain, inter = _teacher(), _teacher(inter_ctc_layers=[1, 3])
    assert inter.state_dict().keys() == plain.state_dict().keys()
    inter.load_state_dict(plain.state_dict())
    feats, lens = torch.randn(2, 120, 80), torch.tensor([120, 90])
    plain.train(), inter.train()
    (a, _), (b, _) = plain(feats, lens), inter(feats, lens)
    assert torch.allclose(a, b, atol=1e-5) and plain.inter_logits == ()
    assert len(inter.inter_logits) == 2 and all(x.shape == b.shape for x in inter.inter_logits)
    assert inter.inter_ctc_weight == 0.3 and plain.inter_ctc_weight == 0.0
    inter.eval()
    with torch.no_grad():
        inter(feats, lens)
    assert inter.inter_logits == ()
    with pytest.raises(ValueError, match=r"inter_ctc_layers \[4\]: each must be 1..3"):
        _teacher(inter_ctc_layers=[4])


def test_self_conditioning_feeds_the_intermediate_posteriors_back():
    """With self_condition the intermediate posteriors, projected to d_model, are added to the layer's
    output: a zero projection gives the plain model, a non-zero one changes the output, also when decoding."""
    plain, cond = _teacher(), _teacher(inter_ctc_layers=[2], self_condition=True)
    assert set(cond.state_dict()) - set(plain.state_dict()) == {"condition.weight", "condition.bias"}
    cond.load_state_dict({**plain.state_dict(), "condition.weight": torch.zeros(144, 30),
                          "condition.bias": torch.zeros(144)})
    plain.eval(), cond.eval()
    feats, lens = torch.randn(1, 100, 80), torch.tensor([100])
    with torch.no_grad():
        assert torch.allclose(plain(feats, lens)[0], cond(feats, lens)[0], atol=1e-5)
        torch.nn.init.normal_(cond.condition.weight)
        assert not torch.allclose(plain(feats, lens)[0], cond(feats, lens)[0], atol=1e-3)
