"""int8 quantisation of `asr-kd export` ONNX students (offline or `--streaming`) for the edge runtime.

Export side only (onnx, onnxruntime.quantization); the quantised file is an ordinary asr-kd ONNX
export that `asr_kd.edge` (OnnxCTC / EdgeRecognizer) loads unchanged.

Modes (`quantize_onnx(..., mode=...)`):

- "static": onnxruntime `quantize_static`, QDQ format, activation ranges calibrated (MinMax) on fbank of
  a Kaldi data dir (the model's own feature_conf; a streaming export is fed its chunks with the cache and
  RNN state the fp32 model carries, so the ranges are those it sees when streaming). Conv / MatMul / Gemm
  become int8 (uint8 activations, int8 weights). **The LSTM/GRU layers stay fp32**: ORT's QDQ quantiser
  has no LSTM/GRU handler and ORT has no QLinearLSTM kernel; asking it to quantise an LSTM anyway only
  stores W/R/B and the inputs behind Quantize/DequantizeLinear pairs that are turned back into float
  before the fp32 LSTM kernel runs (smaller file, rounding error, and slower: 1.2-1.3x fp32 time when
  streaming). The LSTM holds ~80% of this student's multiply-adds, so static int8 alone only reaches
  ~0.85x fp32 time.
- "dynamic": onnxruntime `quantize_dynamic` (no calibration): int8 weights, activations quantised per
  call; it does quantise the LSTM (DynamicQuantizeLSTM) and MatMul. Conv stays fp32 (ORT's CPU
  ConvInteger needs uint8 weights and measured no faster when streaming). Closest to fp32 (argmax
  agreement ~99.5%), ~0.5x fp32 time.
- "hybrid" (DEFAULT_MODE): "static" QDQ for Conv / MatMul / Gemm, then DynamicQuantizeLSTM for the
  LSTMs: fastest, ~0.4x fp32 time, same WER as fp32 (argmax agreement ~98%, as "static"; the static
  activation ranges cost more fidelity than the int8 LSTM).

Measured on the demo student (3x LSTM 192, conv1d front-end), 90 test utterances, 1 thread, model part
of EdgeRecognizer, time relative to fp32, offline / streaming (320 ms steps) export: static 0.87 / 0.82,
dynamic 0.51 / 0.58, hybrid 0.38 / 0.45 (per_channel=False: 0.36 / 0.42, same outputs quality, hence the
default); WER within -1.4..+0.2 absolute of fp32 for all of them.

Static QDQ scales are fixed, so a streaming export gives the same logits chunk by chunk as in one block;
dynamic quantisation (the LSTM of "hybrid"/"dynamic", MatMul of "dynamic") computes activation scales
per call, so chunked logits differ from one-block logits by rounding (the greedy text agreed in tests).

Weights are quantised to a reduced range (onnxruntime's `reduce_range`: |w| <= 64, not 127) in every
mode: x86 CPUs without VNNI (AVX2 only, e.g. Zen 1-3 and pre-Cascade-Lake Intel) add pairs of uint8 x
int8 products in int16 (`vpmaddubsw`), which saturates with full-range weights. On a Zen 1 EPYC the
full-range file's logits were 0.22-0.24 off fp32 (mean |error| / std) in all three modes, the
reduced-range file's 0.012-0.018 (tests/test_onnx_int8.py's tiny student, whose head weights are scaled
up). On the demo's KD student (test, 90 utterances, hybrid, the same Zen 1) the full range did little
harm: WER 73.64, reduced 74.04, fp32 72.63. The file is made once and run on whatever board, so by
default it is made safe for all of them; `asr-kd export --int8-full-range` keeps full-range weights for
boards with VNNI or ARM.

The output keeps the `asr_kd.json` metadata, plus "precision": "int8" and a "quantization" entry:
mode, format, per_channel, reduce_range, calibration size, which op types run in int8, which stay fp32 and why."""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from asr_kd.data.audio import AudioError, load_utterance
from asr_kd.data.kaldi_dir import load_data_dir
from asr_kd.edge.fbank import fbank
from asr_kd.edge.model import META, OnnxCTC
from asr_kd.fileio import atomic_path
from asr_kd.framing import RECEPTIVE, ChunkConfig, check_length, make_windows

MODES = ("hybrid", "static", "dynamic")
DEFAULT_MODE = "hybrid"
STATIC_OPS = ("Conv", "MatMul", "Gemm")  # what the static (QDQ) pass quantises by default
DYNAMIC_OPS = ("MatMul", "LSTM")  # what "dynamic" quantises by default
WEIGHT_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN")  # ops that carry weights
INT8_KERNELS = {"MatMulInteger": "MatMul", "DynamicQuantizeMatMul": "MatMul", "ConvInteger": "Conv",
                "DynamicQuantizeLSTM": "LSTM", "QLinearConv": "Conv", "QLinearMatMul": "MatMul", "QGemm": "Gemm"}
WHY_FP32 = {
    "LSTM": "onnxruntime static (QDQ) quantisation has no LSTM kernel (no QLinearLSTM): Q/DQ around it would "
            "be turned back into float before the fp32 LSTM runs (slower); mode 'hybrid' or 'dynamic' "
            "quantises it with DynamicQuantizeLSTM",
    "GRU": "onnxruntime has no int8 GRU kernel (static or dynamic)",
    "RNN": "onnxruntime has no int8 RNN kernel",
    "Conv": "dynamic mode: ORT's CPU ConvInteger needs uint8 weights and measured no faster than fp32 when "
            "streaming; mode 'hybrid' quantises Conv statically",
}
CALIB_INTERMEDIATE = 128  # calibration batches held before their ranges are folded in (bounds memory)


class QuantizeError(ValueError):
    """Quantisation could not run (bad model, calibration data or options); one line."""


def quantize_onnx(fp32_path: str | Path, out_path: str | Path, calib_dir: str | Path | None = None,
                  mode: str = DEFAULT_MODE, max_utts: int = 300, per_channel: bool = False,
                  op_types: tuple[str, ...] | None = None, preprocess: bool = False,
                  allow_pipes: bool = False, reduce_range: bool = True) -> Path:
    """Quantise the asr-kd ONNX export `fp32_path` (offline or `--streaming`) to int8, written atomically to
    `out_path` (.onnx; nothing is left there on error). `mode`: see MODES / the module docstring.
    "static" and "hybrid" calibrate on up to `max_utts` utterances of the Kaldi data dir `calib_dir`
    (required); "dynamic" needs none. `op_types`: ONNX op types of the static pass (default STATIC_OPS),
    or of the dynamic one in mode "dynamic" (default DYNAMIC_OPS). `per_channel`: one weight scale per
    output channel for Conv/MatMul (measured ~5% slower, same accuracy here; DynamicQuantizeLSTM is
    always per channel). `preprocess`: run ORT's quant_pre_process
    first (measured: no change in speed or output on these students). `reduce_range`: weights within
    |w| <= 64 (see the module docstring); False only for boards with VNNI or ARM. Errors are one line:
    QuantizeError, DataDirError (calib dir), AudioError (calib audio), ModelError (the fp32 model)."""
    if mode not in MODES:
        raise QuantizeError(f"mode must be one of {MODES}, got {mode!r}")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if out_path.suffix != ".onnx":
        raise QuantizeError(f"{out_path}: an int8 export must end in .onnx")
    if out_path.resolve() == fp32_path.resolve():
        raise QuantizeError(f"{out_path}: write the int8 model beside the fp32 one, not over it")
    model = OnnxCTC(fp32_path, num_threads=1)  # ModelError for a file that is not an asr-kd export
    meta = json.loads(model.session.get_modelmeta().custom_metadata_map[META])
    if meta.get("precision", "fp32") != "fp32":
        raise QuantizeError(f"{fp32_path}: already {meta['precision']}; quantise the fp32 export")
    reader = None
    if mode != "dynamic":
        if calib_dir is None:
            raise QuantizeError(f"{mode} int8 quantisation needs a calibration data dir (--calib DATA_DIR)")
        if max_utts < 1:
            raise QuantizeError(f"max_utts must be >= 1, got {max_utts}")
        utts = load_data_dir(calib_dir, require_text=False, allow_pipes=allow_pipes)[:max_utts]
        reader = _CalibrationReader(model, utts, allow_pipes)
    op_types = tuple(op_types or (DYNAMIC_OPS if mode == "dynamic" else STATIC_OPS))
    with tempfile.TemporaryDirectory(prefix="asr_kd_int8.") as work, atomic_path(out_path) as tmp, _ort_advice_off():
        src = fp32_path
        if preprocess:
            src = Path(work) / "pre.onnx"
            _preprocess(fp32_path, src)
        if mode == "dynamic":
            _quantize_dynamic(src, tmp, op_types, per_channel, reduce_range)
        elif mode == "static":
            _quantize_static(src, tmp, reader, op_types, per_channel, reduce_range)
        else:
            _quantize_static(src, Path(work) / "static.onnx", reader, op_types, per_channel, reduce_range)
            _quantize_dynamic(Path(work) / "static.onnx", tmp, ("LSTM",), per_channel, reduce_range)
        quant = {"mode": mode, "format": {"static": "QDQ", "dynamic": "dynamic", "hybrid": "QDQ+dynamic LSTM"}[mode],
                 "per_channel": per_channel, "reduce_range": reduce_range, "op_types": list(op_types)}
        if reader is not None:
            quant["calibration"] = {"utts": reader.used, "method": "MinMax", "data": str(calib_dir)}
        _write_meta(tmp, meta, quant)
        OnnxCTC(tmp, num_threads=1)  # it must load in the edge runtime before it replaces anything
    return out_path


def quantize_static_onnx(fp32_path: str | Path, out_path: str | Path, calib_dir: str | Path, max_utts: int = 300,
                         per_channel: bool = False, mode: str = DEFAULT_MODE, **kwargs) -> Path:
    """`quantize_onnx` with a calibration dir: static QDQ Conv/MatMul/Gemm, plus (mode "hybrid", the
    default) dynamic int8 LSTM; mode "static" leaves the LSTM fp32."""
    return quantize_onnx(fp32_path, out_path, calib_dir, mode=mode, max_utts=max_utts, per_channel=per_channel,
                         **kwargs)


class _CalibrationReader:
    """onnxruntime CalibrationDataReader: the model inputs of each calibration utterance as the edge runtime
    feeds them (offline: its windows; streaming: its chunks with the state the fp32 model carries)."""

    def __init__(self, model: OnnxCTC, utts, allow_pipes: bool):
        self.model, self.utts, self.allow_pipes, self.used = model, utts, allow_pipes, 0
        self._inputs = self._generate()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._inputs, None)

    def _features(self) -> Iterator[np.ndarray]:
        conf = self.model.feature_conf
        for utt in self.utts:
            wave = load_utterance(utt, self.allow_pipes)  # AudioError names the utterance
            try:
                check_length(len(wave), conf, utt.utt)
            except AudioError:
                continue  # shorter than one fbank window: nothing to calibrate on
            feats = fbank(wave, conf)  # (T, F)
            if len(feats) >= RECEPTIVE:  # at least one output frame
                self.used += 1
                yield feats

    def _generate(self) -> Iterator[dict[str, np.ndarray]]:
        m = self.model
        for feats in self._features():
            if m.streaming:
                state, n = m.initial_state(), m.streaming["chunk_frames"]
                for a in range(0, len(feats), n):
                    chunk = feats[a : a + n]
                    if state[m.streaming["cache"]].shape[1] + len(chunk) >= m.streaming["min_input_frames"]:
                        yield {**state, "chunk": np.ascontiguousarray(chunk[None], np.float32)}
                    _, state = m.step(chunk, state)  # the fp32 model carries the state to the next chunk
            else:
                for w in make_windows(len(feats), ChunkConfig()):
                    x = np.ascontiguousarray(feats[None, w.in_start : w.in_end], np.float32)  # (1, L, F)
                    yield {"feats": x, "lens": np.array([x.shape[1]], np.int64)}
        if not self.used:
            raise QuantizeError(f"no calibration utterance has {RECEPTIVE} fbank frames (one output frame)")


@contextmanager
def _ort_advice_off():
    """onnxruntime.quantization logs advice through the root logger (run pre-processing, "is the model
    already quantized" for the hybrid's second pass, the LSTM's empty optional input): keep errors only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _preprocess(src: Path, dst: Path) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
    except Exception:  # symbolic shape inference cannot bound a streaming export's cache slice: skip that part
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)


def _quantize_static(src: Path, dst: Path, reader: _CalibrationReader, op_types, per_channel: bool,
                     reduce_range: bool) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    # uint8 activations / int8 weights: ORT's recommendation for x86 (VNNI or not) and fine on ARM
    quantize_static(str(src), str(dst), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types),
                    per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, reduce_range=reduce_range,
                    extra_options={"CalibMaxIntermediateOutputs": CALIB_INTERMEDIATE})


def _quantize_dynamic(src: Path, dst: Path, op_types, per_channel: bool, reduce_range: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = QuantType.QUInt8 if "Conv" in op_types else QuantType.QInt8  # CPU ConvInteger: uint8 weights only
    quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(op_types), per_channel=per_channel,
                     weight_type=weight, reduce_range=reduce_range)


def quantized_op_types(path: str | Path) -> tuple[list[str], list[str]]:
    """(op types running in int8, weight-carrying op types left in fp32) of an ONNX file. A QDQ node counts
    as int8 when its weight comes through DequantizeLinear and it has an int8 kernel (not LSTM/GRU),
    dynamic ones by their integer kernels."""
    import onnx

    graph = onnx.load(str(path)).graph
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    int8, fp32 = set(), set()
    for n in graph.node:
        if n.op_type in INT8_KERNELS:
            int8.add(INT8_KERNELS[n.op_type])
        elif n.op_type in WEIGHT_OPS:
            qdq = len(n.input) > 1 and n.input[1] in dq_outputs and n.op_type not in ("LSTM", "GRU", "RNN")
            (int8 if qdq else fp32).add(n.op_type)
    return sorted(int8), sorted(fp32 - int8)


def _why_fp32(op: str, mode: str) -> str:
    if op in ("LSTM", "GRU", "RNN") or (op == "Conv" and mode == "dynamic"):
        return WHY_FP32[op]
    return "not in the quantised op types"


def _write_meta(path: Path, meta: dict, quant: dict) -> None:
    import onnx

    int8, fp32 = quantized_op_types(path)
    if not int8:
        raise QuantizeError(f"nothing was quantised (op types {quant['op_types']}; the model has {fp32})")
    quant = {**quant, "int8_ops": int8, "fp32_ops": fp32,
             "fp32_why": {op: _why_fp32(op, quant["mode"]) for op in fp32}}
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {META: json.dumps({**meta, "precision": "int8", "quantization": quant})})
    onnx.save(proto, str(path))
