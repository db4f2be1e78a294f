"""Checkpoint averaging (as icefall and WeNet do): the mean of the weights of several epoch
checkpoints of one run, which usually decodes better than any single one of them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from asr_kd import checkpoint


def epoch_checkpoint(exp_dir: str | Path, epoch: int) -> Path:
    """EXP/epoch_<N>.pt: the model after epoch N (1-based), written by training."""
    return Path(exp_dir) / f"epoch_{epoch}.pt"


DEV_METRICS = ("dev_loss", "dev_cer")


def pick_epochs(exp_dir: str | Path, last: int = 0, best: int = 0, by: str = "dev_loss") -> list[int]:
    """The `last` N epochs with a checkpoint, or the `best` N by the lowest `by` (dev loss, as WeNet
    picks them, or dev CER, which keeps falling after a CTC model's dev loss turns up; log/metrics.jsonl)."""
    exp_dir = Path(exp_dir)
    have = sorted(int(p.stem.split("_")[1]) for p in exp_dir.glob("epoch_*.pt") if p.stem.split("_")[1].isdigit())
    if not have:
        raise FileNotFoundError(f"{exp_dir}: no epoch_<N>.pt checkpoints to average")
    if bool(last) == bool(best) or min(last, best) < 0:
        raise ValueError("give one of --last N or --best N (N >= 1)")
    if by not in DEV_METRICS:
        raise ValueError(f"--by {by}: pick epochs by one of {', '.join(DEV_METRICS)}")
    if last:
        return have[-last:]
    metrics = exp_dir / "log" / "metrics.jsonl"
    score = {}
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        rec = json.loads(line)
        if by in rec and rec["epoch"] in have:
            score[rec["epoch"]] = rec[by]  # a resumed run logs an epoch again: the last one counts
    if not score:
        raise ValueError(f"{metrics}: no {by} per epoch (train with --dev) to pick the best epochs by")
    return sorted(sorted(score, key=score.get)[:best])


def average_checkpoints(paths: list[str | Path], out: str | Path) -> Path:
    """Write the arithmetic mean of the checkpoints' floating-point weights to `out` (integer
    buffers, e.g. counters, are taken from the last one); all must describe the same model."""
    ckpts = [checkpoint.load(p) for p in paths]
    first = ckpts[0]
    for p, c in zip(paths[1:], ckpts[1:]):
        if (c["model"], c["model_conf"], c["units"]) != (first["model"], first["model_conf"], first["units"]):
            raise ValueError(f"{p}: a different model or units than {paths[0]}; only one run's epochs can be averaged")
    avg = {}
    for k, v in ckpts[-1]["state_dict"].items():
        if v.is_floating_point():
            avg[k] = torch.stack([c["state_dict"][k].double() for c in ckpts]).mean(0).to(v.dtype)
        else:
            avg[k] = v
    checkpoint.save({**ckpts[-1], "state_dict": avg, "averaged": [str(p) for p in paths]}, out)
    return Path(out)
