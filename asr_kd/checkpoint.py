"""Checkpoints: one file with model config, weights, units and feature config, loadable with
`torch.load(weights_only=True)` (plain tensors, numbers, strings; no pickled objects)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from asr_kd.config import FeatureConfig, from_dict
from asr_kd.data.tokens import Units
from asr_kd.fileio import torch_save
from asr_kd.models import CTCModel, build_model


def model_checkpoint(model: CTCModel, model_name: str, model_conf: dict[str, Any], units: Units,
                     feature_conf: FeatureConfig) -> dict[str, Any]:
    """Everything decoding needs, as a dict of plain types (CMVN is inside the state dict)."""
    return {
        "format": "asr-kd/1",
        "model": model_name,
        "model_conf": dict(model_conf),
        "input_dim": model.input_dim,
        "units": list(units.symbols),
        "feature_conf": dataclasses.asdict(feature_conf),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save(ckpt: dict[str, Any], path: str | Path) -> None:
    torch_save(ckpt, path)


def load(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint not found") from None


def load_model(path: str | Path) -> tuple[CTCModel, Units, FeatureConfig]:
    """Checkpoint file -> (model in eval mode on CPU, units, feature config)."""
    ckpt = load(path)
    units = Units(ckpt["units"])
    model = build_model(ckpt["model"], ckpt["model_conf"], ckpt["input_dim"], len(units))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), units, from_dict(FeatureConfig, ckpt["feature_conf"], f"{path}: feature_conf")
