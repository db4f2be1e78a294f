from pathlib import Path

import pytest
import torch

from asr_kd.config import ExperimentConfig
from asr_kd.framing import subsampled_length
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
    model = build_model(s.model, {**s.model_conf, "bidirectional": bidirectional}, 80, 30).eval()
    x = torch.randn(1, 60, 80)
    padded = torch.cat([x, torch.randn(1, 40, 80)], 1)
    with torch.no_grad():
        a, _ = model(x, torch.tensor([60]))
        b, n = model(padded, torch.tensor([60]))
    assert torch.allclose(a[0], b[0, : n.item()], atol=1e-5)


def test_presets_sizes():
    large = ExperimentConfig.load(CONF / "teacher_large.yaml")
    n_large = num_params(build_model(large.model, large.model_conf, 80, 30))
    assert 90e6 < n_large < 130e6  # Conformer-L class
    cpu = ExperimentConfig.load(CONF / "teacher.yaml")
    student = ExperimentConfig.load(CONF / "student.yaml")
    n_teacher = num_params(build_model(cpu.model, cpu.model_conf, 80, 30))
    n_student = num_params(build_model(student.model, student.model_conf, 80, 30))
    assert n_student * 4 < n_teacher


def test_unknown_model_conf_key_is_an_error():
    with pytest.raises(ValueError, match="unknown key"):
        build_model("rnn_ctc", {"hiden_size": 10}, 80, 30)
