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


def read_yaml_mapping(path: str | Path, empty_ok: bool = False) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is {} when `empty_ok`); else ConfigError."""
    try:
        d = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from None
    if d is None and empty_ok:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping at top level")
    return d


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
class VTLPConfig:
    """Vocal tract length perturbation of training features (Jaitly & Hinton 2013): each utterance's
    mel axis warped by a factor drawn from [min_factor, max_factor], as Kaldi's VTLN warps its filters,
    so that a few recorded persons stand for many vocal tract lengths."""

    enabled: bool = False
    min_factor: float = 0.9
    max_factor: float = 1.1

    def __post_init__(self):
        factors = (self.min_factor, self.max_factor)
        if not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in factors) \
                or not 0.5 <= self.min_factor <= self.max_factor <= 2.0:
            raise ConfigError(f"vtlp_conf: need 0.5 <= min_factor <= max_factor <= 2.0, "
                              f"got {self.min_factor!r}, {self.max_factor!r}")


@dataclass
class KDConfig:
    """Frame-level posterior KD: loss = (1 - weight) * CTC + weight * T^2 * KL(teacher || student)."""

    weight: float = 0.5
    temperature: float = 1.0
    blank_threshold: float = 1.0  # skip frames whose teacher blank posterior exceeds this (1.0 = keep all)
    nonblank_only: bool = False  # KL over the renormalised non-blank symbols
    max_delay: int = 0  # tolerate a per-utterance spike delay of up to this many 40 ms frames (around `delay`)
    delay: int = 0  # teach the student each teacher spike this many 40 ms frames later (a unidirectional look-ahead)

    def __post_init__(self):
        for name in ("delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"kd_conf: {name} must be an integer >= 0 (40 ms frames), got {value!r}")


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping for the one training loop."""

    epochs: int = 10
    max_steps: int = 0  # 0 = no limit beyond epochs
    max_frames_per_batch: int = 6000  # padded input (10 ms) frames per batch
    accum_grad: int = 1  # batches per optimizer step on each rank: global batch = world size x accum_grad batches
    max_utt_frames: int = 3000  # longer ones are skipped (and counted): cut them with `asr-kd split-long`
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup_steps: int = 500
    grad_clip: float = 5.0
    pad_silence_s: float = 0.0  # up to this much silence (random) added at each end of every training utterance
    seed: int = 0
    num_threads: int = 0  # CPU threads; 0 = all cores
    on_the_fly: bool = False  # features computed from the audio while training instead of read from the cache
    num_workers: int = 0  # DataLoader worker processes reading (and with on_the_fly computing) features
    prefetch_factor: int = 2  # batches each worker keeps ready
    amp: bool = True  # bf16 autocast on CUDA
    cpu_amp: bool = False  # bf16 autocast on CPU too, where the CPU has native bf16 (else ignored with a warning)
    log_interval: int = 20
    checkpoint_interval: int = 200  # steps between resumable checkpoints


@dataclass
class ExperimentConfig:
    """One YAML per experiment: `model` + `model_conf`, plus training, SpecAugment, VTLP and KD sections."""

    model: str
    model_conf: dict[str, Any] = field(default_factory=dict)
    feature_conf: FeatureConfig = field(default_factory=FeatureConfig)
    specaug_conf: SpecAugConfig = field(default_factory=SpecAugConfig)
    vtlp_conf: VTLPConfig = field(default_factory=VTLPConfig)
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
            vtlp_conf=from_dict(VTLPConfig, d.get("vtlp_conf"), f"{where}: vtlp_conf"),
            train_conf=from_dict(TrainConfig, d.get("train_conf"), f"{where}: train_conf"),
            kd_conf=from_dict(KDConfig, d["kd_conf"], f"{where}: kd_conf") if d.get("kd_conf") is not None else None,
        )

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] = ()) -> "ExperimentConfig":
        """Read a YAML file, then apply `section.key=value` overrides (values parsed as YAML)."""
        d = read_yaml_mapping(path)
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


def _floats(value: Any, name: str) -> list[float]:
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise ConfigError(f"augment: {name} must be a list of numbers, got {value!r}") from None


@dataclass
class AugmentConfig:
    """Augmented copies of a data dir (`asr-kd augment-data`); every switch is drawn per copy, and a
    probability of 0 or an empty list turns it off. Ranges are [lo, hi], drawn uniformly."""

    copies: int = 1  # augmented copies per utterance
    fraction: float = 1.0  # share of the utterances that get copies (a seeded draw per utterance id)
    prefix_ids: bool = True  # ids aug<k>-<utt>, speakers aug<k>-<spk>; false keeps the ids (copies: 1, test sets)
    speeds: list[float] = field(default_factory=lambda: [0.9, 1.0, 1.1])  # one per copy; resampling: tempo + pitch
    pitch_prob: float = 0.0
    pitch_semitones: list[float] = field(default_factory=lambda: [-2.0, 2.0])  # length kept (phase vocoder)
    noise_prob: float = 0.0
    snr_db: list[float] = field(default_factory=lambda: [5.0, 20.0])
    babble_prob: float = 0.0  # share of the noisy copies whose noise is 3-5 other utterances, not white/pink/brown
    reverb_prob: float = 0.0
    rt60: list[float] = field(default_factory=lambda: [0.2, 0.8])  # seconds, synthetic room impulse response
    drr_db: list[float] = field(default_factory=lambda: [0.0, 10.0])  # direct-to-reverberant energy ratio
    telephone_prob: float = 0.0  # band-limit to 300-3400 Hz through 8 kHz
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.copies, int) or self.copies < 1:
            raise ConfigError(f"augment: copies must be an integer >= 1, got {self.copies!r}")
        self.fraction = _floats([self.fraction], "fraction")[0]
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"augment: fraction must be in (0, 1], got {self.fraction}")
        if not self.prefix_ids and self.copies != 1:
            raise ConfigError("augment: prefix_ids: false keeps the utterance ids, so it needs copies: 1")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"augment: seed must be an integer >= 0, got {self.seed!r}")
        for name in ("pitch_prob", "noise_prob", "babble_prob", "reverb_prob", "telephone_prob"):
            p = _floats([getattr(self, name)], name)[0]
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"augment: {name} must be in [0, 1], got {p}")
            setattr(self, name, p)
        self.speeds = _floats(self.speeds, "speeds")
        if any(s <= 0 for s in self.speeds):
            raise ConfigError(f"augment: speeds must be > 0, got {self.speeds}")
        for name in ("pitch_semitones", "snr_db", "rt60", "drr_db"):
            lo_hi = _floats(getattr(self, name), name)
            if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
                raise ConfigError(f"augment: {name} must be [lo, hi] with lo <= hi, got {getattr(self, name)!r}")
            setattr(self, name, lo_hi)
        if self.rt60[0] <= 0:
            raise ConfigError(f"augment: rt60 must be > 0 seconds, got {self.rt60}")

    @classmethod
    def load(cls, path: str | Path | None, overrides: list[str] = ()) -> "AugmentConfig":
        """Read a flat YAML file (None: the defaults), then apply `key=value` overrides (values parsed as YAML)."""
        d = read_yaml_mapping(path, empty_ok=True) if path is not None else {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"override {item!r}: expected key=value, e.g. copies=2")
            d[key] = yaml.safe_load(value)
        return from_dict(cls, d, str(path or "augment"))
