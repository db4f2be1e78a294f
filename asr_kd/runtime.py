"""Small process-level helpers shared by training, decoding and benchmarks: device choice, seeding,
logging set-up and the CPU's name. Kept apart so that no module imports train.py for them."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch


def select_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """'auto' -> cuda when available, else cpu; an explicit 'cuda' without a GPU is an error.
    With `local_rank` (a torchrun process), 'auto'/'cuda' mean that process's own GPU, cuda:<local_rank>."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA GPU")
    if local_rank is not None and name.startswith("cuda"):
        if name != "cuda":
            raise ValueError(f"--device {name}: under torchrun each process uses the GPU of its LOCAL_RANK; "
                             "give --device cuda or auto (and CUDA_VISIBLE_DEVICES to choose the GPUs)")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank}, but torch sees {torch.cuda.device_count()} GPU(s); "
                               "start at most one process per GPU")
        name = f"cuda:{local_rank}"
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, through oneDNN); elsewhere bf16
    autocast is emulated and slower than float32."""
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def rank_seed(seed: int, rank: int) -> int:
    """The seed of data-parallel rank `rank`: `seed` itself on rank 0 (so a one-process run is
    unchanged), distinct streams on the others (their SpecAugment, silence padding, dropout)."""
    return seed + 1_000_003 * rank


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_logging(exp_dir: Path, name: str, rank: int = 0) -> None:
    """Log to stderr and to exp_dir/log/<name>.log. Data-parallel ranks other than 0 write no file
    and log only warnings, prefixed with their rank."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s" if rank == 0 else
                            f"%(asctime)s %(levelname)s [rank {rank}] %(name)s: %(message)s")
    root = logging.getLogger("asr_kd")
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    for h in list(root.handlers):
        root.removeHandler(h)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if rank == 0:
        (exp_dir / "log").mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(exp_dir / "log" / f"{name}.log"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
