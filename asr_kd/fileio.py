"""Crash-safe file writing: write to a temp file in the same folder, then rename over the target."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class DiskFullError(OSError):
    """ENOSPC while writing `path`, printed as the one line `disk full writing PATH`."""

    def __init__(self, path: str | Path):
        super().__init__(errno.ENOSPC, f"disk full writing {path}")

    def __str__(self) -> str:
        return self.strerror


def _disk_full(e: BaseException, folder: Path) -> bool:
    """ENOSPC, or a torch C++ writer error (a short write, no errno) while `folder`'s disk has no room left."""
    if isinstance(e, OSError):
        return e.errno == errno.ENOSPC
    if not isinstance(e, RuntimeError):
        return False
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it to `path`, on error delete it
    (a full disk raises DiskFullError)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        full = _disk_full(e, path.parent)  # before deleting the temp file frees its space
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if full:
            raise DiskFullError(path) from e
        raise


def remove_stale_temps(folder: str | Path) -> None:
    """Delete the `atomic_path` temp files (`.NAME.*.tmp`) a killed run left in `folder`; call it only
    while no other process writes there (e.g. holding the exp dir lock)."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def torch_save(obj: object, path: str | Path) -> None:
    import torch  # imported here so that data-only tools start without loading torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: a full disk is OSError ENOSPC
        torch.save(obj, f)
