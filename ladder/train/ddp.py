"""Data parallelism through torch.distributed, nothing home-made.

A launcher (torchrun, `accelerate launch`) starts N copies of the same command and
sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. `setup()` joins
the process group (gloo on CPU, NCCL on GPUs); a plain `python -m ladder ...` has
no WORLD_SIZE and runs as a world of one, with no process group at all.

The training loop stays the same in both cases: every rank takes its slice of
each global batch (`shard`), gradients are averaged by DistributedDataParallel,
and sums such as token counts go through `all_sum`. Only rank 0 writes files
and shows progress.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""  # "gloo" or "nccl"; "" when not distributed

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup() -> World:
    """Join the process group the launcher describes in the environment (idempotent)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return World(rank, size, local, backend)


def device(world: World) -> Any:
    import torch

    return torch.device(f"cuda:{world.local_rank}") if world.backend == "nccl" else torch.device("cpu")


def wrap(model: Any, world: World) -> Any:
    """DistributedDataParallel around the model when there is more than one rank."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [world.local_rank] if world.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(items: Sequence[T], world: World) -> list[T]:
    """This rank's slice of a global batch: items rank, rank+size, ...

    >>> shard(list(range(5)), World(rank=1, size=2))
    [1, 3]
    """
    return list(items[world.rank :: world.size])


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sum of a few numbers across ranks (identity in a world of one)."""
    if not world.distributed:
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device(world))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def broadcast_flag(flag: bool, world: World) -> bool:
    """Rank 0's decision (e.g. early stop) for everyone."""
    if not world.distributed:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=device(world))
    dist.broadcast(t, src=0)
    return bool(t.item())


def cleanup(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
