"""Fine-tuning on several processes (``torchrun``, DDP): detection, process group, shards.

``torchrun --nproc_per_node N -m recsys train ...`` starts N copies of the command with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`session` reads them, picks the backend (``nccl`` on
CUDA, ``gloo`` on the CPU; ``--ddp-backend`` or ``$RECSYS_DDP_BACKEND`` override it), sets each
process's GPU to its ``LOCAL_RANK``, and tears the group down at the end, also on error. Without
those variables (or with ``WORLD_SIZE=1``) it yields ``None`` and everything runs as one process.

Sharding (:meth:`Distributed.shard`): every rank draws the same seeded, epoch-dependent
permutation of the training pairs; step ``k`` takes the global batch ``order[k*G:(k+1)*G]`` with
``G = world_size * batch_size`` and rank ``r`` trains on the ``r``-th of its ``world_size``
contiguous parts, so the ranks see disjoint samples and a step sees what a single process with
``batch_size = G`` would. A last global batch with fewer pairs than processes is topped up from the
start of the permutation (so no rank is ever empty).

Rank 0 alone touches the run folder; the others learn its decisions (resume state, end-of-epoch
state, early stop) by broadcast and agree on a stop by an all-reduce, so none waits forever.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from recsys.lm.encoder import pick_device

BACKEND_ENV = "RECSYS_DDP_BACKEND"
BACKENDS = ("auto", "nccl", "gloo")
# The other ranks wait in a broadcast while rank 0 validates and checkpoints after each epoch:
# allow that to take long on a big catalogue (nccl's default is 10 minutes).
TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class Distributed:
    """This process's place in an initialised process group."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> Distributed | None:
        """The initialised default group when it holds more than one process, else None."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return None
        rank, world = dist.get_rank(), dist.get_world_size()
        return cls(rank, world, int(os.environ.get("LOCAL_RANK", rank)),
                   int(os.environ.get("LOCAL_WORLD_SIZE", world)),
                   str(dist.get_backend()))  # fmt: skip

    def device(self, requested: str | None) -> torch.device:
        return device_for(requested, self.local_rank)

    def cpu_threads(self) -> int:
        """The CPU's cores split between the processes of this machine."""
        return max(1, (os.cpu_count() or 1) // max(1, self.local_world_size))

    # -- sharding -------------------------------------------------------------------------------
    def steps(self, n_pairs: int, batch_size: int) -> int:
        return -(-n_pairs // (batch_size * self.world_size))

    def shard(self, order: np.ndarray, step: int, batch_size: int) -> tuple[np.ndarray, list[int]]:
        """This rank's part of global batch ``step``, and the sizes of every rank's part."""
        size = batch_size * self.world_size
        batch = order[step * size : (step + 1) * size]
        if len(batch) < self.world_size:  # too few for every rank: top up from the start
            batch = np.concatenate([batch, order[: self.world_size - len(batch)]])
        parts = np.array_split(batch, self.world_size)
        return parts[self.rank], [len(p) for p in parts]

    # -- collectives ----------------------------------------------------------------------------
    def _tensor_device(self, device: torch.device) -> torch.device:
        return device if self.backend == "nccl" else torch.device("cpu")

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any."""
        t = torch.tensor([int(flag)], device=self._tensor_device(device))
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def mean(self, value: float, device: torch.device) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=self._tensor_device(device))
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def share(self, obj: Any = None) -> Any:
        """Rank 0's ``obj`` on every rank (pickled; keep tensors on the CPU)."""
        box = [obj if self.leader else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_rows(self, local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """Every rank's rows of a global batch, in rank order, with gradients flowing back."""
        stacked = _GatherRows.apply(local, max(sizes), self.rank, self.world_size)
        return torch.cat([part[:n] for part, n in zip(stacked, sizes, strict=True)])


class _GatherRows(torch.autograd.Function):
    """all_gather of (n, ...) rows padded to ``longest``; backward sums every rank's gradient
    of this rank's rows (an all-reduce, so it runs on gloo and nccl alike)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, longest: int, rank: int, world: int) -> torch.Tensor:
        ctx.rank, ctx.n = rank, len(local)
        padded = torch.cat([local, local.new_zeros((longest - len(local), *local.shape[1:]))])
        out = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(out, padded.contiguous())
        return torch.stack(out)  # (world, longest, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's loss reached these rows
        return grad[ctx.rank, : ctx.n], None, None, None


def device_for(requested: str | None, local_rank: int) -> torch.device:
    """CUDA -> ``cuda:LOCAL_RANK`` (one GPU per process); the CPU otherwise."""
    if requested not in (None, "", "auto", "cuda", "cpu"):
        raise ValueError(
            f"--device {requested!r} under torchrun: each process takes the GPU of its "
            "LOCAL_RANK; pass --device cuda, cpu or auto"
        )
    if requested in (None, "", "auto"):
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda under torchrun, but no CUDA device is visible")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                             "CUDA devices are visible; start fewer processes")  # fmt: skip
        return torch.device("cuda", local_rank)
    return pick_device("cpu")


def launched() -> bool:
    """True when started by torchrun (or alike) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


@contextmanager
def session(backend: str | None = None, device: str | None = None) -> Iterator[Distributed | None]:
    """Join the process group torchrun describes (None outside one); destroy it on the way out."""
    if not launched():
        yield None
        return
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise ValueError(f"WORLD_SIZE is set but {name} is not; start several processes "
                             "with torchrun (see the README)")  # fmt: skip
    chosen = backend or os.environ.get(BACKEND_ENV) or "auto"
    if chosen not in BACKENDS:
        raise ValueError(f"DDP backend {chosen!r}; expected one of {', '.join(BACKENDS)}")
    target = device_for(device, int(os.environ["LOCAL_RANK"]))
    if chosen == "auto":
        chosen = "nccl" if target.type == "cuda" else "gloo"
    if chosen == "nccl" and target.type != "cuda":
        raise ValueError("the nccl backend needs CUDA; use --ddp-backend gloo on the CPU")
    if target.type == "cuda":
        torch.cuda.set_device(target)
    dist.init_process_group(backend=chosen, timeout=TIMEOUT)
    try:
        found = Distributed.current()
        yield found
    finally:
        dist.destroy_process_group()
