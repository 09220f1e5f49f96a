"""The memory budget every model respects: batch sizes come from it, and a model refuses before
allocating past it.

The budget is a number of bytes (:class:`MemoryBudget`). By default it is a share
(:data:`DEFAULT_SHARE`) of the memory available to this process: ``MemAvailable`` of
``/proc/meminfo``, lowered to the cgroup limit when one is set, elsewhere the free physical pages.
``$LONGTAIL_MEMORY_BUDGET`` overrides the default, and the CLI's ``--memory-budget`` overrides
both for one command::

    with memory.using(MemoryBudget.parse("4G")):
        model.fit(data)  # reads memory.active()

A model asks :func:`check` before a large allocation (``MemoryBudgetError`` names the model, the
size, the bytes needed against the budget and a model that fits) and sizes its user batches with
:func:`rows_per_batch`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

ENV = "LONGTAIL_MEMORY_BUDGET"
DEFAULT_SHARE = 0.5  # of the available memory
BATCH_SHARE = 0.25  # of the budget, for one batch of scores (the fitted model holds the rest)
MAX_ROWS = 4096  # more users per batch buys no speed
FALLBACK_AVAILABLE = 4 << 30  # when the platform says nothing: assume 4 GiB available
UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1 << 30,
    "GIB": 1 << 30,
    "T": 1 << 40,
    "TB": 1 << 40,
    "TIB": 1 << 40,
}  # binary multiples throughout: "4G" and "4GB" are both 4 GiB
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")


class MemoryBudgetError(ValueError):
    """A model would need more memory than the budget allows (raised before allocating)."""


@dataclass(frozen=True)
class MemoryBudget:
    """A number of bytes the models may use; ``source`` says where it came from."""

    bytes: int
    source: str = "given"

    def __post_init__(self) -> None:
        if self.bytes < 1:
            raise ValueError(f"a memory budget must be at least 1 byte, got {self.bytes}")

    @classmethod
    def parse(cls, text: str, source: str = "given") -> MemoryBudget:
        """``"4G"``, ``"512M"``, ``"2.5GiB"``, ``"1e9"`` is refused, ``"1000000"`` is bytes."""
        match = _SIZE.fullmatch(str(text))
        unit = match.group(2).upper() if match else ""
        if match is None or unit not in UNITS:
            raise ValueError(
                f"memory budget {str(text)[:40]!r}: expected a size such as 4G, 512M, 2.5GiB "
                "or a number of bytes"
            )
        size = int(float(match.group(1)) * UNITS[unit])
        if size < 1:
            raise ValueError(f"memory budget {text!r}: must be more than 0 bytes")
        return cls(size, source)

    @classmethod
    def default(cls) -> MemoryBudget:
        """``$LONGTAIL_MEMORY_BUDGET`` if set, else :data:`DEFAULT_SHARE` of the available RAM."""
        env = os.environ.get(ENV, "").strip()
        if env:
            try:
                return cls.parse(env, f"${ENV}")
            except ValueError as exc:
                raise ValueError(f"${ENV}: {exc}") from None
        share = int(DEFAULT_SHARE * available_memory())
        return cls(max(share, 1), f"{DEFAULT_SHARE:.0%} of available memory")

    def __str__(self) -> str:
        return human(self.bytes)


def available_memory() -> int:
    """Bytes this process can still use: MemAvailable, capped by a cgroup limit if any."""
    found = _meminfo_available()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = FALLBACK_AVAILABLE
    cgroup = _cgroup_room()
    return min(found, cgroup) if cgroup is not None else found


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int((base / "memory.current").read_text().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


_ACTIVE: ContextVar[MemoryBudget | None] = ContextVar("memory_budget", default=None)


def active() -> MemoryBudget:
    """The budget set by :func:`using`, else :meth:`MemoryBudget.default`."""
    return _ACTIVE.get() or MemoryBudget.default()


@contextmanager
def using(budget: MemoryBudget | None) -> Iterator[MemoryBudget]:
    """Make ``budget`` the active one inside the block (``None``: the default)."""
    token = _ACTIVE.set(budget)
    try:
        yield active()
    finally:
        _ACTIVE.reset(token)


def rows_per_batch(
    n_items: int, bytes_per_cell: int = 4, arrays: int = 1, budget: MemoryBudget | None = None
) -> int:
    """Users per scoring batch: ``arrays`` (B, I) arrays of ``bytes_per_cell`` within
    :data:`BATCH_SHARE` of the budget; at least 1, at most :data:`MAX_ROWS`."""
    budget = budget or active()
    row = max(n_items, 1) * bytes_per_cell * max(arrays, 1)
    return int(min(MAX_ROWS, max(1, BATCH_SHARE * budget.bytes // row)))


def check(
    model: str, need_bytes: int, what: str, alternative: str, budget: MemoryBudget | None = None
) -> None:
    """Refuse (``MemoryBudgetError``) when ``need_bytes`` exceed the budget; call before allocating.

    Args:
        model: the model's name, as given to ``--model``.
        need_bytes: the peak the allocation would reach.
        what: the size and what is allocated, e.g. ``"20,000 users x 50,000 items: ..."``.
        alternative: a model that fits, e.g. ``"itemknn or als"``.
    """
    budget = budget or active()
    if need_bytes > budget.bytes:
        raise MemoryBudgetError(
            f"model {model!r} on {what} needs {human(need_bytes)}, over the memory budget of "
            f"{human(budget.bytes)} ({budget.source}); use {alternative}, or raise the budget "
            f"with --memory-budget or ${ENV}"
        )


def fits(need_bytes: int, budget: MemoryBudget | None = None) -> bool:
    return need_bytes <= (budget or active()).bytes


def size(n_users: int, n_items: int) -> str:
    """``"20,000 users x 50,000 items"``."""
    return f"{n_users:,} users x {n_items:,} items"


def human(n_bytes: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n_bytes) < 1024:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"
