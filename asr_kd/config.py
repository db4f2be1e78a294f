"""Experiment configuration: dataclasses hold every default; YAML keys that do not exist are errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names it."""


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """Build dataclass `cls` from `values`, rejecting unknown keys (no silent typos)."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    return cls(**values)


@dataclass
class FeatureConfig:
    """Kaldi-compatible log-mel filterbank settings (torchaudio.compliance.kaldi.fbank)."""

    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0


@dataclass
class SpecAugConfig:
    """SpecAugment applied to training features only (torchaudio.transforms.SpecAugment)."""

    enabled: bool = True
    num_freq_masks: int = 2
    freq_mask_width: int = 27
    num_time_masks: int = 2
    time_mask_width: int = 40
    max_time_mask_ratio: float = 0.2


@dataclass
class KDConfig:
    """Frame-level posterior KD: loss = (1 - weight) * CTC + weight * T^2 * KL(teacher || student)."""

    weight: float = 0.5
    temperature: float = 1.0
    blank_threshold: float = 1.0  # skip frames whose teacher blank posterior exceeds this (1.0 = keep all)
    nonblank_only: bool = False  # KL over the renormalised non-blank symbols
    max_delay: int = 0  # tolerate a per-utterance spike delay of up to this many 40 ms frames


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping for the one training loop."""

    epochs: int = 10
    max_steps: int = 0  # 0 = no limit beyond epochs
    max_frames_per_batch: int = 6000  # padded input (10 ms) frames per batch
    max_utt_frames: int = 3000  # longer ones are skipped (and counted): cut them with `asr-kd split-long`
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup_steps: int = 500
    grad_clip: float = 5.0
    pad_silence_s: float = 0.0  # up to this much silence (random) added at each end of every training utterance
    seed: int = 0
    num_threads: int = 0  # CPU threads; 0 = all cores
    amp: bool = True  # bf16 autocast, used only on CUDA
    log_interval: int = 20
    checkpoint_interval: int = 200  # steps between resumable checkpoints


@dataclass
class ExperimentConfig:
    """One YAML per experiment: `model` + `model_conf`, plus training, SpecAugment and KD sections."""

    model: str
    model_conf: dict[str, Any] = field(default_factory=dict)
    feature_conf: FeatureConfig = field(default_factory=FeatureConfig)
    specaug_conf: SpecAugConfig = field(default_factory=SpecAugConfig)
    train_conf: TrainConfig = field(default_factory=TrainConfig)
    kd_conf: KDConfig | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> "ExperimentConfig":
        d = dict(d)
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        if "model" not in d:
            raise ConfigError(f"{where}: missing key 'model'")
        return cls(
            model=d["model"],
            model_conf=dict(d.get("model_conf") or {}),
            feature_conf=from_dict(FeatureConfig, d.get("feature_conf"), f"{where}: feature_conf"),
            specaug_conf=from_dict(SpecAugConfig, d.get("specaug_conf"), f"{where}: specaug_conf"),
            train_conf=from_dict(TrainConfig, d.get("train_conf"), f"{where}: train_conf"),
            kd_conf=from_dict(KDConfig, d["kd_conf"], f"{where}: kd_conf") if d.get("kd_conf") is not None else None,
        )

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] = ()) -> "ExperimentConfig":
        """Read a YAML file, then apply `section.key=value` overrides (values parsed as YAML)."""
        try:
            d = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected a mapping at top level")
        for item in overrides:
            key, sep, value = item.partition("=")
            section, dot, name = key.partition(".")
            if not sep or not dot or not name:
                raise ConfigError(f"override {item!r}: expected section.key=value, e.g. train_conf.epochs=3")
            d[section] = {**(d.get(section) or {}), name: yaml.safe_load(value)}
        return cls.from_dict(d, str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old value, new value)} for every leaf that differs between two nested dicts."""
    changes = {}
    for key in sorted(set(old) | set(new), key=str):
        a, b, name = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            changes.update(changed_keys(a, b, f"{name}."))
        elif a != b:
            changes[name] = (a, b)
    return changes
