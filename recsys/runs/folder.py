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
    best.safetensors     weights of the best epoch so far (trainable tensors only) + metadata
    last.safetensors     latest weights + optimiser state + metadata, for resume
    item_embeddings.npy  (I, D) float32 item vectors of the best model, catalogue order
    item_ids.json        (I,) external item ids, the rows of item_embeddings.npy
    STOP                 created by anyone (a page, a process manager, ``touch``) to ask the
                         training loop to stop at the next step; removed when a run (re)starts
    launch.json          what the dashboard asked for: dataset source, display names, argv,
                         device (:mod:`recsys.runs.launch`)
    train.log            a launched run's stdout and stderr (the reason a crashed run gives)

Every file except ``progress.jsonl`` is written to a temporary file in the same folder, flushed,
fsynced and renamed over the target (:mod:`recsys.runs.atomic`), so killing the process at any
moment leaves the previous consistent version. ``progress.jsonl`` is appended one whole line per
``write`` call (``O_APPEND``) so readers tailing it by offset keep working; a line torn by a crash
is skipped by :func:`read_progress`. Checkpoints are safetensors (never pickle); their metadata
carries JSON (epoch, step, best score, ...).

A process manager reads :func:`read_status` (which adds ``"alive"``: is the recorded pid still
running on this host) and stops a run by :meth:`RunFolder.request_stop` or SIGTERM.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recsys.runs.atomic import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    json_default,
    read_json,
)

State = Literal["created", "running", "stopping", "stopped", "finished", "failed"]
STATES: tuple[str, ...] = ("created", "running", "stopping", "stopped", "finished", "failed")

CONFIG, STATUS, PROGRESS, METRICS = "config.json", "status.json", "progress.jsonl", "metrics.json"
BEST, LAST, STOP = "best.safetensors", "last.safetensors", "STOP"
EMBEDDINGS, ITEM_IDS = "item_embeddings.npy", "item_ids.json"

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
    status = read_json(Path(run_dir) / STATUS, default=None) or {"state": "created"}
    alive = status.get("host") == socket.gethostname() and _pid_alive(status.get("pid"))
    status["alive"] = bool(alive)
    if status.get("state") in ("running", "stopping") and not alive:
        status["state"], status["message"] = "failed", "process ended without a final status"
    return status


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
        status = read_status(folder)
        metrics = read_json(folder / METRICS, default={}) or {}
        runs.append(
            {
                "name": folder.name,
                "path": str(folder),
                "state": status["state"],
                "alive": status["alive"],
                "updated": status.get("updated", (folder / CONFIG).stat().st_mtime),
                "config": read_json(folder / CONFIG, default={}),
                "best": metrics.get("best", {}),
            }
        )
    return sorted(runs, key=lambda r: r["updated"], reverse=True)


class RunFolder:
    """Typed access to one run folder (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

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
        return read_json(self.file(CONFIG), default={}) or {}

    def write_status(self, state: State, **fields: Any) -> dict:
        """Replace ``status.json``; keeps ``started`` and earlier fields not given again."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        old = read_json(self.file(STATUS), default={}) or {}
        now = time.time()
        status = {**old, **fields, "state": state, "updated": now}
        status.setdefault("started", now)
        if state == "running" or "pid" not in status:  # the writer that runs the loop owns it
            status.update(pid=os.getpid(), host=socket.gethostname())
        atomic_write_json(self.file(STATUS), status)
        return status

    def read_status(self) -> dict:
        return read_status(self.path)

    def write_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.file(METRICS), metrics)

    def read_metrics(self) -> dict:
        return read_json(self.file(METRICS), default={}) or {}

    # -- progress log -------------------------------------------------------------------------
    def log(self, kind: str, **record: Any) -> None:
        append_progress(self.file(PROGRESS), {"kind": kind, **record})

    def progress(self, kind: str | None = None) -> list[dict]:
        return read_progress(self.file(PROGRESS), kind)

    # -- cooperative stop ---------------------------------------------------------------------
    def request_stop(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.file(STOP).touch()

    def stop_requested(self) -> bool:
        return self.file(STOP).exists()

    def clear_stop(self) -> None:
        self.file(STOP).unlink(missing_ok=True)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, tensors: dict, meta: dict, best: bool = False) -> Path:
        """Write ``best``/``last`` safetensors atomically; ``meta`` is stored as JSON metadata."""
        from safetensors.torch import save

        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        data = save(tensors, metadata={"meta": json.dumps(meta, default=json_default)})
        path = self.file(BEST if best else LAST)
        atomic_write_bytes(path, data)
        return path

    def load_checkpoint(self, best: bool = False) -> tuple[dict, dict] | None:
        """``(tensors, meta)`` of the best or last checkpoint, or ``None`` when absent."""
        from safetensors import safe_open

        path = self.file(BEST if best else LAST)
        if not path.exists():
            return None
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        return tensors, meta

    # -- item embeddings ----------------------------------------------------------------------
    def save_item_embeddings(self, vectors: np.ndarray, item_ids) -> None:
        """Write ids first, vectors second: a reader checks the row counts agree."""
        atomic_write_json(self.file(ITEM_IDS), [str(i) for i in item_ids])
        atomic_save_npy(self.file(EMBEDDINGS), np.asarray(vectors, dtype=np.float32))

    def load_item_embeddings(self) -> tuple[np.ndarray, list[str]] | None:
        ids = read_json(self.file(ITEM_IDS))
        if ids is None or not self.file(EMBEDDINGS).exists():
            return None
        vectors = np.load(self.file(EMBEDDINGS), allow_pickle=False)
        if len(vectors) != len(ids):
            return None  # caught between the two writes; the caller retries or waits
        return vectors, ids


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
