"""Checkpoints: one file with model config, weights, units and feature config, loadable with
`torch.load(weights_only=True)` (plain tensors, numbers, strings; no pickled objects)."""

from __future__ import annotations

import dataclasses
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from asr_kd.config import FeatureConfig, from_dict
from asr_kd.data.tokens import Units
from asr_kd.fileio import torch_save
from asr_kd.models import CTCModel, build_model

FORMAT = "asr-kd/1"
MODEL_KEYS = ("format", "model", "model_conf", "input_dim", "units", "feature_conf", "state_dict")
STATE_KEYS = ("model", "optimizer", "scheduler", "step", "epoch", "batch", "elapsed", "rng")  # train.py's last_state.pt


class CheckpointError(ValueError):
    """A checkpoint or exported model that cannot be used, as one line starting with its path."""


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (multi-line torch errors joined with '; '), at most `limit` chars."""
    text = re.sub(r"\.?\s*\n\s*", "; ", re.sub(r":\s*\n\s*", ": ", str(e).strip())) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def model_checkpoint(model: CTCModel, model_name: str, model_conf: dict[str, Any], units: Units,
                     feature_conf: FeatureConfig) -> dict[str, Any]:
    """Everything decoding needs, as a dict of plain types (CMVN is inside the state dict)."""
    return {
        "format": FORMAT,
        "model": model_name,
        "model_conf": dict(model_conf),
        "input_dim": model.input_dim,
        **units.to_meta(),
        "feature_conf": dataclasses.asdict(feature_conf),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "output_delay": int(model.output_delay),
    }


def save(ckpt: dict[str, Any], path: str | Path) -> None:
    torch_save(ckpt, path)


def _read(path: str | Path) -> Any:
    """torch.load(weights_only=True), every failure one CheckpointError naming the file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint not found") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    if not head:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip, or its legacy pickle format
        raise CheckpointError(f"{path}: not a PyTorch checkpoint")
    if head.startswith(b"PK") and not zipfile.is_zipfile(path):  # torch says only "[Errno 22] Invalid argument"
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (no zip end record: cut short?)")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected pickle protocol")  # a plain pickle; refused below
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # the weights-only unpickler met something besides tensors and plain data
        found = re.search(r"GLOBAL [\w.]+\w|Unsupported operand \d+", str(e))
        raise CheckpointError(f"{path}: refused: the file contains pickled code or objects "
                              f"({found.group() if found else 'not plain data'}), not only tensors; "
                              "asr-kd never loads such files") from None  # torch's text suggests weights_only=False
    except Exception as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({one_line(e)})") from e


def _check_model(ckpt: Any, path: str | Path) -> None:
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not an asr-kd model checkpoint (a {type(ckpt).__name__}, not a dict)")
    if set(STATE_KEYS[:4]) <= ckpt.keys():
        raise CheckpointError(f"{path}: a training state (last_state.pt), not a model checkpoint; "
                              "use final.pt from the same experiment dir")
    missing = [k for k in MODEL_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not an asr-kd model checkpoint (missing keys {missing})")
    if ckpt["format"] != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {ckpt['format']!r}; this asr-kd reads {FORMAT!r}")


def load(path: str | Path) -> dict[str, Any]:
    """A model checkpoint (dict with MODEL_KEYS); any problem is one CheckpointError line."""
    ckpt = _read(path)
    _check_model(ckpt, path)
    return ckpt


def load_state(path: str | Path) -> dict[str, Any]:
    """A training state (last_state.pt) for --resume, with every key train.py reads back."""
    state = _read(path)
    if isinstance(state, dict) and "state_dict" in state:
        raise CheckpointError(f"{path}: a model checkpoint, not a training state (last_state.pt)")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an asr-kd training state (a {type(state).__name__}, not a dict)")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not an asr-kd training state (missing keys {missing})")
    _check_model(state["model"], f"{path}: model")
    return state


def load_model(path: str | Path) -> tuple[CTCModel, Units, FeatureConfig]:
    """Checkpoint file -> (model in eval mode on CPU, units, feature config)."""
    ckpt = load(path)
    try:
        units = Units.from_meta(ckpt)
        model = build_model(ckpt["model"], ckpt["model_conf"], ckpt["input_dim"], len(units))
        feature_conf = from_dict(FeatureConfig, ckpt["feature_conf"], "feature_conf")
        model.output_delay = int(ckpt.get("output_delay", 0))  # absent from checkpoints before kd_conf.delay
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: bad model settings ({one_line(e)})") from e
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: weights do not fit the {ckpt['model']} model it describes "
                              f"({one_line(e)})") from e
    return model.eval(), units, feature_conf
