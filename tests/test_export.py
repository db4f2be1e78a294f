"""ONNX and TorchScript exports agree with the eager model and decode to the same text."""

import numpy as np
import pytest
import torch

from asr_kd import Recognizer, checkpoint
from asr_kd.config import FeatureConfig
from asr_kd.data.tokens import Units
from asr_kd.export import export
from asr_kd.models import build_model

STUDENT = {"rnn_type": "lstm", "hidden_size": 24, "num_layers": 2, "subsampling_channels": 16}


@pytest.fixture
def student(tmp_path):
    torch.manual_seed(0)
    units = Units.build(["ABCDE "])
    model = build_model("rnn_ctc", STUDENT, 80, len(units)).eval()
    with torch.no_grad():
        model.head.bias[0] = 0.0  # random weights; keep blank from dominating so tokens appear
    path = tmp_path / "student.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", STUDENT, units, FeatureConfig()), path)
    return path


@pytest.mark.parametrize("fmt,name", [("onnx", "s.onnx"), ("torchscript", "s.ts")])
def test_export_matches_eager(student, tmp_path, fmt, name):
    out = export(student, tmp_path / name, fmt)
    eager, exported = Recognizer.from_checkpoint(student), Recognizer.from_checkpoint(out)
    assert exported.units.symbols == eager.units.symbols
    wave = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3 + 123)).astype(np.float32)  # unlike the example
    feats = eager.features(wave)
    a, b = eager.logits(feats), exported.logits(feats)
    assert a.shape == b.shape and (a - b).abs().max() < 1e-4
    assert exported.transcribe(wave) == eager.transcribe(wave) and eager.transcribe(wave).tokens
    with pytest.raises(ValueError, match="end in"):
        export(student, tmp_path / "wrong.bin", fmt)


def test_plots_write_pngs(student, tmp_path):
    import json

    import soundfile as sf

    from asr_kd import plots

    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    plots.posterior_spikes(student, student, wav, tmp_path / "spikes.png")
    exp = tmp_path / "exp"
    (exp / "log").mkdir(parents=True)
    (exp / "log" / "metrics.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0},
                                          {"step": 2, "epoch": 1, "dev_cer": 0.5}]) + "\n")
    plots.training_curves([exp], tmp_path / "curves.png")
    d = tmp_path / "m" / "decode_test"
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({"wer": 20.0, "rtf": {"rtf_total": 0.01}}))
    plots.wer_vs_rtf([d], tmp_path / "pareto.png")
    for name in ("spikes.png", "curves.png", "pareto.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
