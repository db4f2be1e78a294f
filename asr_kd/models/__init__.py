"""Model registry: a YAML `model` name -> (class, config dataclass)."""

from __future__ import annotations

from typing import Any

from asr_kd.config import from_dict
from asr_kd.features import GlobalCMVN
from asr_kd.models.ctc_model import CTCModel
from asr_kd.models.student import RnnConfig, RnnCTC
from asr_kd.models.teacher import ConformerConfig, ConformerCTC

MODELS = {"conformer_ctc": (ConformerCTC, ConformerConfig), "rnn_ctc": (RnnCTC, RnnConfig)}


def build_model(name: str, conf: dict[str, Any], input_dim: int, vocab_size: int,
                cmvn: GlobalCMVN | None = None) -> CTCModel:
    """Instantiate registry model `name` with `conf` (unknown keys are errors)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    cls, conf_cls = MODELS[name]
    return cls(from_dict(conf_cls, conf, f"model_conf of {name}"), input_dim, vocab_size, cmvn)


def num_params(model) -> int:
    """Trainable-size count; exported models carry theirs as `num_params`."""
    if hasattr(model, "num_params"):
        return model.num_params
    return sum(p.numel() for p in model.parameters())
