"""Data-parallel training under torchrun: rank and world size from its environment (RANK,
WORLD_SIZE, LOCAL_RANK; MASTER_ADDR/MASTER_PORT for the rendezvous), the process group (nccl on
CUDA, gloo on CPU) and the few collectives training needs. Without torchrun, or with one process,
no process group is started and every collective is the identity."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as td

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    """This process's place among the data-parallel ranks."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Dist":
        """From the variables torchrun sets; absent, a single process."""
        try:
            dist = cls(*(int(os.environ.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0))))
        except ValueError:
            raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
        if not 0 <= dist.rank < dist.world_size:
            raise ValueError(f"RANK {dist.rank} is outside WORLD_SIZE {dist.world_size}")
        return dist

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the exp dir."""
        return self.rank == 0

    @contextmanager
    def session(self, device: torch.device) -> Iterator[None]:
        """The process group for the block when world size > 1 (left alone if the caller started one)."""
        if not self.enabled or td.is_initialized():
            yield
            return
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.set_device(device)
        td.init_process_group("nccl" if cuda else "gloo", rank=self.rank, world_size=self.world_size,
                              device_id=device if cuda else None)
        try:
            yield
        finally:
            td.destroy_process_group()

    def _device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if td.get_backend() == "nccl" else torch.device("cpu")

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the ranks."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        td.all_reduce(t)
        return t.tolist()

    def all_mean(self, values: list[float]) -> list[float]:
        return [v / self.world_size for v in self.all_sum(values)]

    def gather(self, obj: Any) -> list:
        """Every rank's `obj` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        td.all_gather_object(out, obj)
        return out

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run `fn` on rank 0 only and give its result (picklable) to every rank; an exception there
        is raised on every rank, so that none waits for a rank that stopped."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as e:
                error = e
        if self.enabled:
            box = [None if error else result, error]
            td.broadcast_object_list(box, src=0)
            result, error = box[0], error or box[1]
        if error is not None:
            raise error
        return result

    def barrier(self) -> None:
        if self.enabled:
            td.barrier()
