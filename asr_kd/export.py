"""Export a checkpoint to TorchScript or ONNX for deployment, and load either back behind the same
(feats, lens) -> (logits, out_lens) call, so `Recognizer` (features, windows, decoders) runs them.
Units and feature settings travel inside the file (ONNX metadata / TorchScript extra file).

`streaming=True` (ONNX, unidirectional RNN students) exports one streaming step instead, for the
torch-free runtime (asr_kd.edge): inputs a chunk of fbank frames plus the carried state (the front-end's
left-context cache of fbank frames and the RNN state), outputs the chunk's logits plus the next state;
the chunk size and state layout are in the metadata."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from asr_kd import checkpoint
from asr_kd.checkpoint import CheckpointError
from asr_kd.config import FeatureConfig, from_dict
from asr_kd.data.tokens import Units
from asr_kd.fileio import atomic_path
from asr_kd.framing import FACTOR, RECEPTIVE, subsampled_length
from asr_kd.models import num_params
from asr_kd.models.student import RnnCTC

FORMATS = ("onnx", "torchscript")
META = "asr_kd.json"
CHUNK_MS = 320  # default chunk of a streaming export


def _meta(units: Units, feature_conf: FeatureConfig, model, streaming: dict | None = None) -> str:
    meta = {**units.to_meta(), "feature_conf": dataclasses.asdict(feature_conf), "params": num_params(model),
            "output_delay": int(model.output_delay)}
    return json.dumps({**meta, "streaming": streaming} if streaming else meta)


class StreamingStep(nn.Module):
    """One streaming call of a unidirectional RNN student: (cache (1, K, F), chunk (1, L, F), RNN state)
    -> (logits (1, L', V), next cache (1, K', F), next state). The cache holds the fbank frames the x4
    front-end still needs (from input frame 4m on, m = output frames emitted; K < RECEPTIVE), so the
    chunks' logits are exactly those of one pass over the whole stream. Needs K + L >= RECEPTIVE."""

    def __init__(self, model: RnnCTC):
        super().__init__()
        self.model, self.lstm = model, isinstance(model.rnn, nn.LSTM)

    def forward(self, cache: torch.Tensor, chunk: torch.Tensor, *state: torch.Tensor):
        x = torch.cat([cache, chunk], 1)  # (1, K + L, F)
        m = subsampled_length(x.shape[1])  # traced: the cache length is dynamic
        logits, state = self.model.forward_chunk(x, tuple(state) if self.lstm else state[0])
        return (logits, x[:, FACTOR * m :], *(state if self.lstm else (state,)))


def _export_streaming(model: RnnCTC, path: Path, chunk_ms: int, shift: float) -> dict:
    """Write the ONNX streaming step of `model` to `path` (fbank frames `shift` ms apart); returns the
    metadata's `streaming` entry."""
    if not isinstance(model, RnnCTC) or model.rnn.bidirectional:
        raise ValueError("--streaming needs a unidirectional RNN student checkpoint (rnn_ctc, bidirectional: false)")
    if chunk_ms <= 0 or chunk_ms % (FACTOR * shift):
        raise ValueError(f"--chunk-ms must be a positive multiple of {FACTOR * shift:g} ms (one output frame)")
    step = StreamingStep(model).eval()
    layers, hidden = model.rnn.num_layers, model.rnn.hidden_size
    names = ["h", "c"] if step.lstm else ["h"]
    state = [torch.zeros(layers, 1, hidden) for _ in names]  # (layers, 1, H) each
    example = (torch.randn(1, 3, model.input_dim), torch.randn(1, 32, model.input_dim), *state)
    torch.onnx.export(step, example, str(path), dynamo=False,
                      input_names=["cache", "chunk", *names],
                      output_names=["logits", "next_cache", *(f"next_{n}" for n in names)],
                      dynamic_axes={"cache": {1: "cache_frames"}, "chunk": {1: "frames"},
                                    "logits": {1: "out_frames"}, "next_cache": {1: "next_cache_frames"}})
    return {"chunk_frames": round(chunk_ms / shift), "cache": "cache", "max_cache_frames": RECEPTIVE - 1,
            "min_input_frames": RECEPTIVE, "state": [{"name": n, "shape": [layers, 1, hidden]} for n in names]}


def export(checkpoint_path: str | Path, out_path: str | Path, fmt: str, streaming: bool = False,
           chunk_ms: int = CHUNK_MS) -> Path:
    """Write `out_path` (.onnx or .ts) from a checkpoint; time axis and batch are dynamic.
    `streaming` (ONNX only): the streaming step of a unidirectional RNN student, `chunk_ms` per call."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if Path(out_path).suffix != SUFFIXES[fmt]:
        raise ValueError(f"{out_path}: a {fmt} export must end in {SUFFIXES[fmt]} (how loaders tell formats apart)")
    if streaming and fmt != "onnx":
        raise ValueError("--streaming exports ONNX only")
    model, units, feature_conf = checkpoint.load_model(checkpoint_path)
    if streaming:
        return _write_streaming(model.eval(), units, feature_conf, Path(out_path), chunk_ms)
    example = (torch.randn(1, 300, model.input_dim), torch.tensor([300]))  # (B, T, F), (B,)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer/exporter notes about RNN batch sizes and deprecations
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(model, example)
            torch.jit.save(traced, str(tmp), _extra_files={META: _meta(units, feature_conf, model)})
        else:
            import onnx

            torch.onnx.export(model, example, str(tmp), input_names=["feats", "lens"],
                              output_names=["logits", "out_lens"], dynamo=False,
                              dynamic_axes={"feats": {0: "batch", 1: "frames"}, "lens": {0: "batch"},
                                            "logits": {0: "batch", 1: "out_frames"}, "out_lens": {0: "batch"}})
            proto = onnx.load(str(tmp))
            onnx.helper.set_model_props(proto, {META: _meta(units, feature_conf, model)})
            onnx.save(proto, str(tmp))
    return out_path


SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts"}


def _write_streaming(model, units: Units, feature_conf: FeatureConfig, out_path: Path, chunk_ms: int) -> Path:
    import onnx

    with atomic_path(out_path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about the traced cache length
        streaming = _export_streaming(model, tmp, chunk_ms, feature_conf.frame_shift_ms)
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(proto, {META: _meta(units, feature_conf, model, streaming)})
        onnx.save(proto, str(tmp))
    return out_path


class ExportedCTC:
    """An exported model (onnxruntime session on CPU, or TorchScript) called like a CTCModel."""

    def __init__(self, run, vocab_size: int, params: int, output_delay: int = 0):
        self.run, self.vocab_size, self.num_params, self.output_delay = run, vocab_size, params, output_delay

    def __call__(self, feats: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.run(feats, lens)

    def to(self, device) -> "ExportedCTC":
        if torch.device(device).type != "cpu":
            raise ValueError("exported models run on CPU here (onnxruntime CPU provider / TorchScript on CPU)")
        return self

    def eval(self) -> "ExportedCTC":
        return self


def _onnx_runner(path: Path, num_threads: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if num_threads:
        opts.intra_op_num_threads = num_threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(feats: torch.Tensor, lens: torch.Tensor):
        logits, out_lens = session.run(None, {"feats": feats.cpu().float().numpy(), "lens": lens.cpu().numpy()})
        return torch.from_numpy(logits), torch.from_numpy(out_lens)

    return run


def load_exported(path: str | Path, num_threads: int | None = None):
    """An exported `.onnx` / `.ts` (TorchScript) file -> (ExportedCTC, units, feature config);
    a file that cannot be used is one CheckpointError line naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: exported model not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not an exported model")
    try:  # protobuf, onnxruntime and torch.jit each raise their own exception types
        if path.suffix == ".onnx":
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}.get(META)
            run = _onnx_runner(path, num_threads)
        else:
            extra = {META: ""}
            run, meta = torch.jit.load(str(path), map_location="cpu", _extra_files=extra), extra[META]
    except Exception as e:
        raise CheckpointError(f"{path}: truncated or corrupt exported model ({checkpoint.one_line(e)})") from e
    if not meta:
        raise CheckpointError(f"{path}: not exported by asr-kd (no {META} metadata)")
    try:
        meta = json.loads(meta)
        if meta.get("streaming"):
            raise CheckpointError(f"{path}: a streaming export (asr-kd export --streaming) runs in the edge runtime "
                                  "(asr-kd-edge / asr_kd.edge); export without --streaming for this command")
        units = Units.from_meta(meta)
        return (ExportedCTC(run, len(units), meta["params"], int(meta.get("output_delay", 0))), units,
                from_dict(FeatureConfig, meta["feature_conf"], "feature_conf"))
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: bad {META} metadata ({checkpoint.one_line(e)})") from e
