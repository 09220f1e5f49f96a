"""File locks on a run folder: one trainer at a time, and whole read-modify-writes of its status.

``<run>/.lock`` is held (``flock``, exclusive) by the trainer for its whole lifetime and by
:func:`recsys.runs.history.delete` while it removes the folder: a second trainer, or a delete of a
training run, is refused at once with :class:`RunLocked`. The kernel drops the lock when its
holder dies, even by SIGKILL, so a crashed trainer never leaves the folder locked.

``<run>/.status.lock`` is held for a few milliseconds around each read-modify-write of
``status.json`` (and ``launch.json``), so the trainer, a page's cancel and a poll never lose each
other's updates. Neither lock file is ever created in a folder that does not exist.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TRAINER_LOCK, STATUS_LOCK = ".lock", ".status.lock"


class RunLocked(OSError):
    """Another process holds the run folder (a trainer runs in it, or it is being deleted)."""


class TrainerLock:
    """The exclusive, non-blocking lock of one run folder; re-entrant within one instance."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            self._depth += 1
            return
        fd = os.open(self.run_dir / TRAINER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(
                f"run folder {self.run_dir} is in use by another process (a trainer runs in it, "
                "or it is being deleted); wait for it to end, or cancel it, or pick another "
                "--run-dir"
            ) from None
        self._fd, self._depth = fd, 1
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {os.uname().nodename}\n".encode())

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> TrainerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def status_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``<run>/.status.lock`` (blocking, short). FileNotFoundError if the folder is gone."""
    fd = os.open(Path(run_dir) / STATUS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
