"""Export a checkpoint to TorchScript or ONNX for deployment, and load either back behind the same
(feats, lens) -> (logits, out_lens) call, so `Recognizer` (features, windows, decoders) runs them.
Units and feature settings travel inside the file (ONNX metadata / TorchScript extra file)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import torch

from asr_kd import checkpoint
from asr_kd.checkpoint import CheckpointError
from asr_kd.config import FeatureConfig, from_dict
from asr_kd.data.tokens import Units
from asr_kd.fileio import atomic_path
from asr_kd.models import num_params

FORMATS = ("onnx", "torchscript")
META = "asr_kd.json"


def _meta(units: Units, feature_conf: FeatureConfig, params: int) -> str:
    return json.dumps({"units": units.symbols, "feature_conf": dataclasses.asdict(feature_conf), "params": params})


def export(checkpoint_path: str | Path, out_path: str | Path, fmt: str) -> Path:
    """Write `out_path` (.onnx or .ts) from a checkpoint; time axis and batch are dynamic."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if Path(out_path).suffix != SUFFIXES[fmt]:
        raise ValueError(f"{out_path}: a {fmt} export must end in {SUFFIXES[fmt]} (how loaders tell formats apart)")
    model, units, feature_conf = checkpoint.load_model(checkpoint_path)
    example = (torch.randn(1, 300, model.input_dim), torch.tensor([300]))  # (B, T, F), (B,)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer/exporter notes about RNN batch sizes and deprecations
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(model, example)
            torch.jit.save(traced, str(tmp), _extra_files={META: _meta(units, feature_conf, num_params(model))})
        else:
            import onnx

            torch.onnx.export(model, example, str(tmp), input_names=["feats", "lens"],
                              output_names=["logits", "out_lens"], dynamo=False,
                              dynamic_axes={"feats": {0: "batch", 1: "frames"}, "lens": {0: "batch"},
                                            "logits": {0: "batch", 1: "out_frames"}, "out_lens": {0: "batch"}})
            proto = onnx.load(str(tmp))
            onnx.helper.set_model_props(proto, {META: _meta(units, feature_conf, num_params(model))})
            onnx.save(proto, str(tmp))
    return out_path


SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts"}


class ExportedCTC:
    """An exported model (onnxruntime session on CPU, or TorchScript) called like a CTCModel."""

    def __init__(self, run, vocab_size: int, params: int):
        self.run, self.vocab_size, self.num_params = run, vocab_size, params

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
        units = Units(meta["units"])
        return (ExportedCTC(run, len(units), meta["params"]), units,
                from_dict(FeatureConfig, meta["feature_conf"], "feature_conf"))
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: bad {META} metadata ({checkpoint.one_line(e)})") from e
