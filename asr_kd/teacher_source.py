"""The frozen KD teacher behind one interface, so that training never branches on its kind: a model
run online (one checkpoint, or an ensemble of several), or the top-k cache of `asr-kd dump-teacher`.
Under data-parallel training every rank holds its own copy (it has no gradients to synchronise)."""

from __future__ import annotations

from pathlib import Path

import torch

from asr_kd import checkpoint
from asr_kd.data.dataset import Batch
from asr_kd.data.tokens import Units
from asr_kd.models.ensemble import TeacherEnsemble
from asr_kd.teacher_cache import TeacherCache


class TeacherSource:
    """Teacher scores for a training batch: `source(batch, lens, frames, shifts)` -> (B, frames, V)
    whose log_softmax is the teacher's log-posteriors on the student's 40 ms output frames."""

    def __init__(self, name: str):
        self.name = name  # for the log

    def check_covers(self, utts: list[str]) -> None:
        """Raise ValueError naming an utterance the teacher has no posteriors for."""

    def __call__(self, batch: Batch, lens: torch.Tensor, frames: int, shifts: list[int] | None) -> torch.Tensor:
        """`batch` as the student sees it before SpecAugment (silence padding included), `lens` (B,)
        the student's output frames, `frames` its padded length, `shifts[b]` the output frames of
        silence added in front of utterance b (None: none)."""
        raise NotImplementedError


class OnlineTeacher(TeacherSource):
    """A model (or TeacherEnsemble) run on each batch: it sees the padded features themselves."""

    def __init__(self, model: torch.nn.Module, name: str, device: torch.device):
        super().__init__(name)
        self.model = model.to(device).requires_grad_(False)

    @torch.no_grad()
    def __call__(self, batch: Batch, lens: torch.Tensor, frames: int, shifts: list[int] | None) -> torch.Tensor:
        logits, teacher_lens = self.model(batch.feats, batch.feat_lens)  # (B, T', V) logits or log-probs
        if not torch.equal(teacher_lens, lens):
            raise ValueError(f"{self.name}: teacher and student frame rates differ")
        return logits


class CachedTeacher(TeacherSource):
    """Stored top-k log-posteriors (MISSING elsewhere), shifted by the silence added in front."""

    def __init__(self, cache: TeacherCache, name: str, device: torch.device):
        super().__init__(name)
        self.cache, self.device = cache, device

    def check_covers(self, utts: list[str]) -> None:
        missing = [u for u in utts if u not in self.cache.index]
        if missing:
            raise ValueError(f"{self.name}: no teacher posteriors for {len(missing)} training utterance(s), "
                             f"e.g. {missing[0]!r}; dump the teacher over every training data dir")

    def __call__(self, batch: Batch, lens: torch.Tensor, frames: int, shifts: list[int] | None) -> torch.Tensor:
        return self.cache.dense(batch.utts, frames, shifts).to(self.device)  # (B, frames, V) log-probs


def load_teacher(units: Units, units_path: str | Path, device: torch.device,
                 paths: str | Path | list | None = None, weights: list[float] | None = None,
                 cache_dir: str | Path | None = None) -> TeacherSource | None:
    """The teacher of `paths` (one checkpoint, or several: an ensemble averaged with `weights`) or
    of `cache_dir`; None without either. Its units must be those of `units_path`."""
    if paths:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        models = []
        for path in paths:
            model, teacher_units, _ = checkpoint.load_model(path)
            if teacher_units.symbols != units.symbols:
                raise ValueError(f"{path}: teacher units differ from {units_path}")
            models.append(model)
        model = models[0] if len(models) == 1 else TeacherEnsemble(models, weights).eval()
        return OnlineTeacher(model, " + ".join(map(str, paths)), device)
    if cache_dir:
        cache = TeacherCache(cache_dir)
        if cache.meta["units"] != units.symbols:
            raise ValueError(f"{cache_dir}: teacher units differ from {units_path}")
        return CachedTeacher(cache, str(cache_dir), device)
    return None
