"""Shards of the heavy per-utterance jobs (compute-feats, dump-teacher, decode), Kaldi style.

Shard i of N (1-based, like Kaldi's JOB) is the i-th of N contiguous slices of the sorted utterance
list, balanced by utterance count (sizes differ by at most one; a speaker may straddle two shards:
nothing is computed per speaker before the merge). Shard i of OUT is written to OUT/split<N>/<i>/;
the merge checks that the shards hold exactly their slices and writes the usual layout in OUT."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def parse_shard(spec: str) -> tuple[int, int]:
    """'i/N' -> (i, N) with 1 <= i <= N (argparse type of --shard)."""
    i, slash, n = spec.partition("/")
    if not (slash and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected i/N with 1 <= i <= N (e.g. 2/4), got {spec!r}")
    return int(i), int(n)


def shard_slice(items: list, i: int, n: int) -> list:
    """The i-th of n contiguous, count-balanced slices of `items` (refused when a slice would be empty)."""
    if n > len(items):
        raise ValueError(f"cannot split {len(items)} utterance(s) into {n} shards; use at most {len(items)} jobs")
    return items[(i - 1) * len(items) // n : i * len(items) // n]


def shard_dir(out: str | Path, i: int, n: int) -> Path:
    return Path(out) / f"split{n}" / str(i)


def shard_dirs(out: str | Path, n: int, last: str) -> list[Path]:
    """OUT/split<n>/1..n, refused (one line) when any lacks `last`, the file its job writes last."""
    if n < 1:
        raise ValueError(f"--nj must be >= 1, got {n}")
    dirs = [shard_dir(out, i, n) for i in range(1, n + 1)]
    missing = [str(i) for i, d in enumerate(dirs, 1) if not (d / last).exists()]
    if missing:
        raise FileNotFoundError(f"{Path(out) / f'split{n}'}: shard(s) {', '.join(missing)} of {n} missing "
                                "(did those jobs fail?)")
    return dirs


def check_shard(out: str | Path, i: int, n: int, expected: list[str], found: list[str]) -> None:
    """One-line error unless shard i of n holds exactly the utterances `expected` (its slice)."""
    where, want, have = shard_dir(out, i, n), set(expected), set(found)
    extra = [u for u in found if u not in want]
    if extra:
        raise ValueError(f"{where}: utterance {extra[0]!r} is not in shard {i} of {n} (shards overlap, or "
                         "the data changed since the shards were made); rerun the shard jobs")
    lost = [u for u in expected if u not in have]
    if lost:
        raise ValueError(f"{where}: shard {i} of {n} lacks utterance {lost[0]!r} ({len(lost)} missing); "
                         "rerun that shard job")


def remove_shards(out: str | Path, n: int, names: tuple[str, ...]) -> None:
    """Delete the files `names` of OUT/split<n>/*/ and then the folders if that empties them
    (a Kaldi split data dir in the same place keeps its own files)."""
    split = Path(out) / f"split{n}"
    for d in [shard_dir(out, i, n) for i in range(1, n + 1)]:
        for name in names:
            (d / name).unlink(missing_ok=True)
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    if split.is_dir() and not any(split.iterdir()):
        split.rmdir()


def save_concatenated(path: Path, parts: list[np.ndarray], dtype, width: int) -> None:
    """np.save of the row-wise concatenation of `parts` (e.g. memory-mapped shard arrays), the same
    bytes, written in blocks so memory stays bounded (and a full disk is an OSError, not a crash)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": (sum(len(p) for p in parts), width)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for part in parts:
            for start in range(0, len(part), 1 << 16):
                f.write(np.ascontiguousarray(part[start : start + (1 << 16)], dtype).tobytes())
