"""What a runs folder holds: one row per run, deleting a run, and model folders to train from."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from recsys.runs.atomic import read_json_dict
from recsys.runs.folder import CONFIG, LAUNCH, METRICS, RunFolder, list_runs, read_raw_status
from recsys.runs.launch import Busy, TrainConfig, device_of, run_path
from recsys.runs.liveness import ACTIVE, read_state
from recsys.runs.locks import RunLocked


def history(runs_dir: str | os.PathLike) -> list[dict]:
    """One row per run, newest first: state, dataset, model, regime, device, duration, metrics."""
    rows = []
    for run in list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_state(run_dir)
        launch_info = read_json_dict(run_dir / LAUNCH)
        launched = launch_info.get("config")
        config = {**run["config"], **(launched if isinstance(launched, dict) else {})}
        started = status.get("started")
        end = (
            time.time() if status["state"] in ACTIVE else status.get("ended", status.get("updated"))
        )
        metrics = read_json_dict(run_dir / METRICS)
        found = metrics.get("best")
        best: dict = found if isinstance(found, dict) else {}
        rows.append(
            {
                "run": run["name"],
                "state": status["state"],
                "dataset": _text(launch_info.get("dataset")) or _text(config.get("dataset")),
                "model": Path(_text(config.get("model")) or "MiniLM (packaged)").name,
                "regime": _text(status.get("regime")) or _regime(config),
                "device": device_of(run_dir, status),
                "epochs": _number(config.get("epochs")),
                "duration_s": (end - started) if started and end else None,
                "best_epoch": _number(metrics.get("best_epoch")),
                "recall@20": _number(best.get("recall@20")),
                "tail_recall@20": _number(best.get("tail_recall@20")),
                "message": _text(status.get("message")),
                "started": started,
            }
        )
    return sorted(rows, key=lambda r: (r["started"] or 0, r["run"]), reverse=True)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _regime(config: dict) -> str:
    """The regime flag a config asks for (``config.json`` written by hand may hold anything)."""
    regime, top = config.get("regime"), config.get("top_layers")
    top = top if isinstance(top, int) and not isinstance(top, bool) else TrainConfig.top_layers
    if regime == "top-N":
        return TrainConfig(regime="top-N", top_layers=top).regime_arg()
    return regime if isinstance(regime, str) and regime else TrainConfig.regime


def delete(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Remove a run folder (only a run id inside ``runs_dir``; never a live run).

    Refused (:class:`Busy`) while the run is active, while any process holds the folder's lock (a
    trainer started from the command line included), and when its status names another host
    that may still be running it (its liveness cannot be checked from here).
    """
    path = run_path(runs_dir, run_id)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"no run {run_id} in {runs_dir}")
    raw = read_raw_status(path) or {}
    host = raw.get("host", "")
    if raw.get("state") in ACTIVE and host not in ("", os.uname().nodename):
        raise Busy(f"run {run_id} belongs to host {host[:80]!r}, where it may still run; "
                   "delete it there")  # fmt: skip
    if read_state(path)["state"] in ACTIVE:
        raise Busy(f"run {run_id} is still running; cancel it before deleting")
    try:
        with RunFolder(path).lock():  # no trainer may start in it while it is being removed
            shutil.rmtree(path)
    except RunLocked:
        raise Busy(f"run {run_id} is in use by a trainer; cancel it before deleting") from None


# --------------------------------------------------------------------------- model folders


def check_model_folder(path: str | os.PathLike) -> Path:
    """``path`` resolved, if it holds a transformers model (config.json + safetensors weights)."""
    folder = Path(path).resolve()
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: no config.json, not a model folder")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{folder}: no .safetensors weights (pickled weights are not loaded)")
    return folder


def model_folders(roots: Sequence[Path], depth: int = 2) -> list[Path]:
    """Folders under ``roots`` (up to ``depth`` levels) holding a transformers model."""
    found = []
    for root in roots:
        for pattern in ("*/config.json", "*/*/config.json")[:depth]:
            for config in sorted(Path(root).glob(pattern)):
                if any(config.parent.glob("*.safetensors")):
                    found.append(config.parent)
    return found
