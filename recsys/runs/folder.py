"""Run folders: everything one fine-tuning run writes, crash-safe and readable while it runs.

Layout of ``<runs_dir>/<run>/``::

    config.json          what was asked: data, regime, model, hyper-parameters, seed (written once)
    status.json          {"state", "pid", "host", "device", "epoch", "step", "message",
                          "started", "updated"}; state is one of STATES below
    progress.jsonl       append-only log, one JSON object per line, each with "kind":
                           "step"  {step, epoch, loss, lr, samples_per_s, eta_s, time}
                           "epoch" {epoch, step, loss, validation: {recall@20, tail_recall@20,
                                    ...}, best, time}
                           "event" {message, time}  (start, resume, stop, early stop, errors)
    metrics.json         {"best_epoch", "best": {...validation metrics}, "history": [...],
                          "test": {...} (when evaluated)}
    best.json            which generation of the best model is committed (:mod:`recsys.runs.best`)
    gen/                 the committed generation's checkpoint, vectors and ids
    best.safetensors     weights of the best epoch so far (trainable tensors only) + metadata
    last.safetensors     latest weights + optimiser state + metadata (fingerprint), for resume
    item_embeddings.npy  (I, D) float32 item vectors of the best model, catalogue order
    item_ids.json        (I,) external item ids, the rows of item_embeddings.npy
                         (these three: links to the committed generation in gen/)
    .lock, .status.lock  the trainer's lock and the status lock (:mod:`recsys.runs.locks`)
    STOP                 created by anyone (a page, a process manager, ``touch``) to ask the
                         training loop to stop at the next step; removed when a run (re)starts
    launch.json          what the dashboard asked for: dataset source, display names, argv,
                         device (:mod:`recsys.runs.launch`)
    train.log            a launched run's stdout and stderr (the reason a crashed run gives)

Every file except ``progress.jsonl`` is written to a temporary file in the same folder, flushed,
fsynced and renamed over the target (:mod:`recsys.runs.atomic`), so killing the process at any
moment leaves the previous consistent version; the best model's files are committed together
as one generation (:mod:`recsys.runs.best`). ``progress.jsonl`` is appended one whole line per
``write`` call (``O_APPEND``) so readers tailing it by offset keep working; a line torn by a crash
is skipped by :func:`read_progress`. Checkpoints are safetensors (never pickle); their metadata
carries JSON (epoch, step, best score, ...).

A process manager reads :func:`read_status` (which adds ``"alive"``: is the recorded pid still
running on this host) and stops a run by :meth:`RunFolder.request_stop` or SIGTERM. One trainer
at a time holds the folder (:meth:`RunFolder.lock`); status updates are whole read-modify-writes
under a short lock. Nothing that only reads or updates a run (a poll, a cancel, a status write)
creates its folder: a run deleted meanwhile stays deleted (a delete is refused while a trainer
holds the lock). Every JSON file is checked for its shape when read: a file of another shape
reads as absent, never as a crash.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recsys.runs import best as best_model
from recsys.runs.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    json_default,
    read_json,
    read_json_dict,
)
from recsys.runs.best import BEST, EMBEDDINGS, ITEM_IDS, MANIFEST, Best
from recsys.runs.locks import TrainerLock, status_lock

State = Literal["created", "running", "stopping", "stopped", "finished", "failed"]
STATES: tuple[str, ...] = ("created", "running", "stopping", "stopped", "finished", "failed")

CONFIG, STATUS, PROGRESS, METRICS = "config.json", "status.json", "progress.jsonl", "metrics.json"
LAST, STOP = "last.safetensors", "STOP"
__all__ = ["BEST", "EMBEDDINGS", "ITEM_IDS", "MANIFEST", "Best", "RunFolder"]

LAUNCH, LOG = "launch.json", "train.log"


def append_progress(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line (with ``time`` added) in a single ``write`` call."""
    record = {**record, "time": record.get("time", time.time())}
    line = (json.dumps(record, default=json_default) + "\n").encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_progress(path: str | os.PathLike, kind: str | None = None) -> list[dict]:
    """All complete records of a progress log (optionally of one ``kind``); torn lines skipped."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if isinstance(rec, dict) and (kind is None or rec.get("kind") == kind):
            records.append(rec)
    return records


def read_status(run_dir: str | os.PathLike) -> dict:
    """``status.json`` plus ``alive``: whether its pid still runs (same host only).

    A run whose state is ``running``/``stopping`` but whose process is gone is reported with
    ``state="failed"`` and ``message="process ended without a final status"``.
    """
    status = read_raw_status(run_dir) or {"state": "created"}
    alive = status.get("host") == socket.gethostname() and _pid_alive(status.get("pid"))
    status["alive"] = bool(alive)
    if status.get("state") in ("running", "stopping") and not alive:
        status["state"], status["message"] = "failed", "process ended without a final status"
    return status


# Fields of status.json and the types they must have; a field of another type is dropped.
_STATUS_TYPES: dict[str, tuple[type, ...]] = {
    "pid": (int,), "host": (str,), "device": (str,), "regime": (str,), "message": (str,),
    "epoch": (int,), "step": (int,), "started": (int, float), "updated": (int, float),
    "ended": (int, float), "seconds": (int, float),
}  # fmt: skip


def read_raw_status(run_dir: str | os.PathLike) -> dict | None:
    """``status.json`` as written, fields of the wrong type dropped; None when absent.

    A file that is not a JSON object, or names an unknown state, reads as ``failed``.
    """
    raw = read_json(Path(run_dir) / STATUS, default=None)
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("state") not in STATES:
        return {"state": "failed", "message": "status.json is unreadable"}
    return {
        k: v
        for k, v in raw.items()
        if k not in _STATUS_TYPES or (isinstance(v, _STATUS_TYPES[k]) and not isinstance(v, bool))
    }


def list_runs(runs_dir: str | os.PathLike) -> list[dict]:
    """One summary per run folder under ``runs_dir``, newest first.

    Each: ``name``, ``path``, ``state``, ``alive``, ``updated``, ``config`` and ``best`` (best
    validation metrics, ``{}`` before the first epoch ends).
    """
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        if not (folder / CONFIG).exists():
            continue
        try:
            mtime = (folder / CONFIG).stat().st_mtime
        except OSError:
            continue  # deleted meanwhile
        status = read_status(folder)
        best = read_json_dict(folder / METRICS).get("best")
        runs.append(
            {
                "name": folder.name,
                "path": str(folder),
                "state": status["state"],
                "alive": status["alive"],
                "updated": status.get("updated", mtime),
                "config": read_json_dict(folder / CONFIG),
                "best": best if isinstance(best, dict) else {},
            }
        )
    return sorted(runs, key=lambda r: r["updated"], reverse=True)


class RunFolder:
    """Typed access to one run folder (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = TrainerLock(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    # -- config, status, metrics -------------------------------------------------------------
    def create(self, config: dict) -> None:
        """Make the folder, write ``config.json`` and a ``created`` status; clears a stale STOP."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.file(CONFIG), config)
        self.clear_stop()
        self.write_status("created")

    def exists(self) -> bool:
        return self.file(CONFIG).exists()

    def read_config(self) -> dict:
        return read_json_dict(self.file(CONFIG))

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.file(CONFIG), config, mkdir=False)

    # -- the trainer's lock -------------------------------------------------------------------
    def lock(self) -> TrainerLock:
        """The folder's exclusive lock, as a context manager (re-entrant on this instance).

        Raises :class:`~recsys.runs.locks.RunLocked` at once when another process holds it.
        """
        return self._lock

    def write_status(self, state: State, **fields: Any) -> dict:
        """Replace ``status.json``; keeps ``started`` and earlier fields not given again.

        A whole read-modify-write under the status lock. FileNotFoundError when the folder is
        gone (it is never recreated).
        """
        status = self.update_status(state, None, **fields)
        assert status is not None
        return status

    def update_status(self, state: State, only_from: tuple[str, ...] | None,
                      **fields: Any) -> dict | None:  # fmt: skip
        """:meth:`write_status` only while the current state is in ``only_from`` (None: any);
        returns None, writing nothing, when another writer got there first."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        with status_lock(self.path):
            old = read_raw_status(self.path) or {}
            if only_from is not None and old.get("state", "created") not in only_from:
                return None
            now = time.time()
            status = {**old, **fields, "state": state, "updated": now}
            status.setdefault("started", now)
            if state == "running" or "pid" not in status:  # the writer that runs the loop owns it
                status.update(pid=os.getpid(), host=socket.gethostname())
            atomic_write_json(self.file(STATUS), status, mkdir=False)
        return status

    def read_status(self) -> dict:
        return read_status(self.path)

    def write_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.file(METRICS), metrics)

    def read_metrics(self) -> dict:
        return read_json_dict(self.file(METRICS))

    # -- progress log -------------------------------------------------------------------------
    def log(self, kind: str, **record: Any) -> None:
        append_progress(self.file(PROGRESS), {"kind": kind, **record})

    def progress(self, kind: str | None = None) -> list[dict]:
        return read_progress(self.file(PROGRESS), kind)

    # -- cooperative stop ---------------------------------------------------------------------
    def request_stop(self) -> None:
        """Create ``STOP``; FileNotFoundError when the folder is gone (never recreated)."""
        self.file(STOP).touch()

    def stop_requested(self) -> bool:
        return self.file(STOP).exists()

    def clear_stop(self) -> None:
        self.file(STOP).unlink(missing_ok=True)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, tensors: dict, meta: dict, best: bool = False) -> Path:
        """Write ``last`` (or, outside the training loop, ``best``) safetensors atomically;
        ``meta`` is stored as JSON metadata. The loop commits its best model with
        :meth:`save_best`."""
        path = self.file(BEST if best else LAST)
        atomic_write_bytes(path, best_model.checkpoint_bytes(tensors, meta))
        return path

    def load_checkpoint(self, best: bool = False) -> tuple[dict, dict] | None:
        """``(tensors, meta)`` of the best (committed generation) or last checkpoint, or None."""
        if not best:
            return best_model.load_checkpoint(self.file(LAST))
        if best_model.manifest(self.path) is None:
            return best_model.load_checkpoint(self.file(BEST))
        found = best_model.load(self.path, tensors=True, vectors=False)
        return (found.tensors, found.meta) if found and found.tensors is not None else None

    def checkpoint_meta(self, best: bool = False) -> dict | None:
        """Only the metadata of the last (or best) checkpoint."""
        return best_model.checkpoint_meta(self.file(BEST if best else LAST))

    # -- the best model: checkpoint + item vectors, one generation ------------------------------
    def save_best(self, tensors: dict | None, meta: dict, vectors: np.ndarray, item_ids) -> int:
        """Commit a new best model (checkpoint, vectors, ids) as one generation."""
        return best_model.commit(self.path, vectors, item_ids, tensors, meta)

    def load_best(self, tensors: bool = True) -> Best | None:
        """The committed best model, vectors and checkpoint of the same generation; or None."""
        return best_model.load(self.path, tensors=tensors)

    def save_item_embeddings(self, vectors: np.ndarray, item_ids) -> None:
        """Item vectors without a checkpoint (outside the training loop): a generation too."""
        best_model.commit(self.path, vectors, item_ids, None, {})

    def load_item_embeddings(self) -> tuple[np.ndarray, list[str]] | None:
        """``(vectors, ids)`` of the committed best model; None when absent or unreadable."""
        found = best_model.load(self.path)
        return None if found is None else (found.vectors, found.ids)

    # -- starting over ------------------------------------------------------------------------
    def sweep(self) -> None:
        """Remove what a killed writer left (temp files, uncommitted generations)."""
        best_model.sweep(self.path)

    def reset(self) -> None:
        """Remove an earlier run's results (checkpoints, best model, metrics, progress, STOP);
        keeps ``config.json``, ``status.json``, ``launch.json`` and ``train.log``."""
        best_model.remove(self.path)
        for name in (LAST, METRICS, PROGRESS, STOP):
            self.file(name).unlink(missing_ok=True)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
