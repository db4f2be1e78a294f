"""An exclusive lock on an experiment dir, so two trainings never write into one another's state.

`EXP/.lock` holds the owner's pid and host; the lock itself is an `fcntl.flock` on that file, which
the kernel drops when the owner dies, so a lock left by a killed run is taken over, never stale."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

LOCK = ".lock"


class ExpLockedError(RuntimeError):
    """Another live process holds the experiment dir; the message names it."""


class ExpLock:
    """`with ExpLock(exp_dir): ...` holds the lock for the block; a second holder gets ExpLockedError."""

    def __init__(self, exp_dir: str | Path):
        self.path = Path(exp_dir) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> "ExpLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ExpLockedError(f"{self.path.parent}: in use by {holder}; wait for it to finish or use another "
                                 "exp dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                 .encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = None
