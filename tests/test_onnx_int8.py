"""int8 quantisation of ONNX exports (asr_kd.onnx_int8): the edge runtime loads the result, the metadata says
int8 and what stayed fp32, the logits follow fp32, int8 streaming exports stream, errors leave no file."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from asr_kd import checkpoint, onnx_int8
from asr_kd.config import FeatureConfig
from asr_kd.data.audio import AudioError
from asr_kd.data.kaldi_dir import DataDirError
from asr_kd.data.tokens import Units
from asr_kd.edge.fbank import fbank
from asr_kd.edge.model import META, OnnxCTC
from asr_kd.edge.recognizer import EdgeRecognizer
from asr_kd.export import export
from asr_kd.models import build_model
from asr_kd.onnx_int8 import QuantizeError, quantize_onnx, quantize_static_onnx

STUDENT = {"rnn_type": "lstm", "hidden_size": 32, "num_layers": 2, "subsampling_channels": 32}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"offline": fp32 .onnx, "streaming": fp32 --streaming .onnx} of a tiny random LSTM student."""
    root = tmp_path_factory.mktemp("int8")
    torch.manual_seed(0)
    units = Units.build(["ABCDE "])
    model = build_model("rnn_ctc", STUDENT, 80, len(units)).eval()
    with torch.no_grad():
        model.head.weight.mul_(4.0)  # random weights: spread the logits so each frame has a clear winner
        model.head.bias[0] = 0.0  # and keep blank from dominating so tokens appear
    ckpt = root / "student.pt"
    checkpoint.save(checkpoint.model_checkpoint(model, "rnn_ctc", STUDENT, units, FeatureConfig()), ckpt)
    return {"offline": export(ckpt, root / "s.onnx", "onnx"),
            "streaming": export(ckpt, root / "s_stream.onnx", "onnx", streaming=True)}


def _wave(seconds: float = 2.5, seed: int = 1) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds) + 77)).astype(np.float32)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """int8 logits `b` follow fp32 `a`: measured ~0.008 relative error on a Zen 4, 0.012-0.018 on a Zen 1 (0.22-0.24
    there at full weight range), correlation 0.9998+, argmaxes equal; calibration ranges 20x too narrow give 0.1-0.8,
    int4 0.16."""
    rel = np.abs(a - b).mean() / a.std()
    return bool(rel < 0.05 and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.998 and np.mean(a.argmax(-1) == b.argmax(-1)) >= 0.98)


def _weight_peak(path) -> int:
    """Largest |value| of the int8 weights of a quantised ONNX file (127 at full range, 64 at onnxruntime's
    reduce_range)."""
    import onnx
    from onnx import numpy_helper

    return max((int(np.abs(numpy_helper.to_array(i).astype(np.int32)).max()) for i in onnx.load(str(path)).graph.initializer
                if i.data_type == onnx.TensorProto.INT8 and i.name.endswith("_quantized")), default=0)


def _meta(path) -> dict:
    return json.loads(OnnxCTC(path).session.get_modelmeta().custom_metadata_map[META])


@pytest.mark.parametrize("mode", ["hybrid", "static", "dynamic"])
@pytest.mark.parametrize("kind", ["offline", "streaming"])
def test_int8_loads_and_follows_fp32(exports, data_dir, tmp_path, kind, mode):
    fp32_path = exports[kind]
    out = quantize_onnx(fp32_path, tmp_path / "q.onnx", data_dir, mode=mode)
    fp32, int8 = OnnxCTC(fp32_path), OnnxCTC(out)
    meta, fp32_meta = _meta(out), _meta(fp32_path)
    assert meta["precision"] == "int8" and meta["quantization"]["mode"] == mode
    assert {k: meta[k] for k in fp32_meta} == fp32_meta  # units, feature_conf, params, streaming kept
    assert bool(int8.streaming) == (kind == "streaming")
    q = meta["quantization"]
    if mode == "static":  # no int8 LSTM kernel in ORT's static (QDQ) path: it stays fp32, and says why
        assert q["int8_ops"] == ["Conv", "MatMul"] and q["fp32_ops"] == ["LSTM"] and "QLinearLSTM" in q["fp32_why"]["LSTM"]
    else:
        assert "LSTM" in q["int8_ops"] and "MatMul" in q["int8_ops"]
    assert ("calibration" in q) == (mode != "dynamic") and q.get("calibration", {"utts": 6})["utts"] == 6
    assert out.stat().st_size < fp32_path.stat().st_size
    # reduced-range weights, whatever CPU runs the file: full-range ones saturate int16 sums on x86 without VNNI
    assert q["reduce_range"] is True and 32 < _weight_peak(out) <= 64
    feats = fbank(_wave(), fp32.feature_conf)
    a, b = fp32.logits(feats), int8.logits(feats)  # (T', V)
    assert a.shape == b.shape
    assert _close(a, b)


def test_int8_full_range_is_opt_in(exports, data_dir, tmp_path):
    out = quantize_onnx(exports["offline"], tmp_path / "q.onnx", data_dir, reduce_range=False)
    assert _meta(out)["quantization"]["reduce_range"] is False and _weight_peak(out) > 64


@pytest.mark.parametrize("mode", ["hybrid", "static", "dynamic"])
def test_int8_streaming_export_streams(exports, data_dir, tmp_path, mode):
    out = quantize_onnx(exports["streaming"], tmp_path / "q.onnx", data_dir, mode=mode)
    rec = EdgeRecognizer(out)
    wave = _wave(3.0, seed=2)
    offline = rec.transcribe(wave)
    stream = rec.stream()
    for start in range(0, len(wave), 1234):
        stream.accept(wave[start : start + 1234])
    result = stream.finish()
    assert offline.tokens and result.text == offline.text


@pytest.mark.parametrize("kind", ["offline", "streaming"])
def test_a_broken_calibration_is_caught(exports, data_dir, tmp_path, monkeypatch, kind):
    """The closeness check above fails for activation ranges calibrated on features scaled by 0.05."""
    generate = onnx_int8._CalibrationReader._generate

    def narrow(self):
        for inputs in generate(self):
            yield {k: v * 0.05 if k in ("feats", "chunk") else v for k, v in inputs.items()}

    monkeypatch.setattr(onnx_int8._CalibrationReader, "_generate", narrow)
    out = quantize_onnx(exports[kind], tmp_path / "q.onnx", data_dir, mode="static")
    feats = fbank(_wave(), OnnxCTC(out).feature_conf)
    assert not _close(OnnxCTC(exports[kind]).logits(feats), OnnxCTC(out).logits(feats))


def test_static_quantisation_is_chunk_exact(exports, data_dir, tmp_path):
    """Static QDQ uses fixed calibrated scales, so chunk by chunk equals one block (dynamic scales do not)."""
    int8 = OnnxCTC(quantize_static_onnx(exports["streaming"], tmp_path / "q.onnx", data_dir, mode="static"))
    feats = fbank(_wave(), int8.feature_conf)
    state, pieces = int8.initial_state(), []
    for a in range(0, len(feats), 32):
        out, state = int8.step(feats[a : a + 32], state)
        pieces.append(out)
    assert np.allclose(np.concatenate(pieces), int8.logits(feats), atol=1e-4)


def test_errors_are_one_line_and_leave_no_file(exports, data_dir, data_dir_factory, tmp_path):
    out = tmp_path / "out" / "q.onnx"
    with pytest.raises(DataDirError, match="not a directory"):
        quantize_onnx(exports["offline"], out, tmp_path / "nope")
    with pytest.raises(QuantizeError, match="needs a calibration data dir"):
        quantize_onnx(exports["offline"], out, None, mode="static")
    with pytest.raises(QuantizeError, match="mode must be"):
        quantize_onnx(exports["offline"], out, data_dir, mode="int4")
    bad = data_dir_factory(tmp_path / "bad", {"a-1": "A", "a-2": "B"})
    (bad / "wav" / "a-2.wav").write_bytes(b"not a wav")  # fails mid-calibration, inside the atomic write
    with pytest.raises(AudioError, match="a-2") as e:
        quantize_onnx(exports["streaming"], out, bad)
    assert "\n" not in str(e.value)
    short = data_dir_factory(tmp_path / "short", {"b-1": "A"}, seconds=0.05)  # 5 frames: no output frame
    with pytest.raises(QuantizeError, match="no calibration utterance"):
        quantize_onnx(exports["offline"], out, short)
    assert not out.exists() and not list(out.parent.glob(".*.tmp"))  # the failed atomic writes left nothing
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"keep")  # an earlier file survives a failed run untouched
    with pytest.raises(AudioError):
        quantize_onnx(exports["offline"], out, bad)
    assert out.read_bytes() == b"keep" and not list(out.parent.glob(".*.tmp"))
    good = quantize_onnx(exports["offline"], tmp_path / "good.onnx", data_dir, mode="dynamic")
    with pytest.raises(QuantizeError, match="already int8"):
        quantize_onnx(good, tmp_path / "again.onnx", data_dir)
    with pytest.raises(QuantizeError, match="end in .onnx"):
        quantize_onnx(exports["offline"], tmp_path / "q.bin", data_dir)


def test_calibration_takes_at_most_max_utts(exports, data_dir, tmp_path):
    out = quantize_onnx(exports["offline"], tmp_path / "q.onnx", data_dir, max_utts=2)
    assert _meta(out)["quantization"]["calibration"]["utts"] == 2
    sf.write(tmp_path / "x.wav", _wave(1.0), 16000)
    assert EdgeRecognizer(out).transcribe(tmp_path / "x.wav").tokens is not None
