"""What a runs folder holds: one row per run, deleting a run, and model folders to train from."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from recsys.runs.atomic import read_json
from recsys.runs.folder import CONFIG, LAUNCH, METRICS, list_runs
from recsys.runs.launch import Busy, TrainConfig, device_of, run_path
from recsys.runs.liveness import ACTIVE, read_state


def history(runs_dir: str | os.PathLike) -> list[dict]:
    """One row per run, newest first: state, dataset, model, regime, device, duration, metrics."""
    rows = []
    for run in list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_state(run_dir)
        launch_info = read_json(run_dir / LAUNCH, default={}) or {}
        config = {**run["config"], **launch_info.get("config", {})}
        started = status.get("started")
        end = (
            time.time() if status["state"] in ACTIVE else status.get("ended", status.get("updated"))
        )
        best = read_json(run_dir / METRICS, default={}) or {}
        rows.append(
            {
                "run": run["name"],
                "state": status["state"],
                "dataset": launch_info.get("dataset") or config.get("dataset") or "",
                "model": Path(config.get("model") or "MiniLM (packaged)").name,
                "regime": status.get("regime") or TrainConfig(**_known(config)).regime_arg(),
                "device": device_of(run_dir, status),
                "epochs": config.get("epochs"),
                "duration_s": (end - started) if started and end else None,
                "best_epoch": best.get("best_epoch"),
                "recall@20": (best.get("best") or {}).get("recall@20"),
                "tail_recall@20": (best.get("best") or {}).get("tail_recall@20"),
                "message": status.get("message", ""),
                "started": started,
            }
        )
    return sorted(rows, key=lambda r: (r["started"] or 0, r["run"]), reverse=True)


def _known(config: dict) -> dict:
    names = TrainConfig.__dataclass_fields__
    return {k: v for k, v in config.items() if k in names}


def delete(runs_dir: str | os.PathLike, run_id: str) -> None:
    """Remove a run folder (only a run id inside ``runs_dir``; never a live run)."""
    path = run_path(runs_dir, run_id)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"no run {run_id} in {runs_dir}")
    if read_state(path)["state"] in ACTIVE:
        raise Busy(f"run {run_id} is still running; cancel it before deleting")
    shutil.rmtree(path)


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
