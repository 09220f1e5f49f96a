"""Fine-tuning runs as background processes: launch, poll, cancel, crash detection, history.

A run is ``python -m recsys train … --run-dir <runs_dir>/<run_id>`` started as a detached child
(its own session, stdout/stderr to ``train.log`` in the run folder), so a closed browser tab, a
Streamlit rerun or a dashboard restart never kills it. Everything a viewer needs is read back from
the run folder (layout in :mod:`recsys.runs`), never from memory, so a reload or a second tab sees
the same live run. This module adds two files to that layout:

    launch.json   what the dashboard asked for: dataset source, display names, argv, device
    train.log     the child's stdout and stderr (the reason a crashed run gives)

Run ids are ``YYYYmmdd-HHMMSS-xxxxxx`` (UTC time + 6 random hex digits): sortable, unique, and never
taken from user input; :func:`run_path` accepts only a plain folder name inside the runs folder.
Values from the dataset (paths, column names) are passed as ``--flag=value`` so none can pose as
an option. Progress bars and time estimates live in :mod:`recsys.timing`.

Policy: one running run per device. A second launch on a busy device is *refused* with
:class:`Busy` naming the running run, rather than queued: a queue needs a scheduler process that
outlives the dashboard, and on a 2-core CPU two trainings would each crawl; refusing is explicit and
the analyst can cancel the running one. The check and the start happen under a file lock, so two
tabs clicking Launch together cannot both start.

Liveness: a run is alive while its recorded pid exists *and* that process's command line names its
run folder (so a recycled pid is not mistaken for the run). A run whose status says
created/running/stopping but whose process is gone is reported, and written back, as ``failed``
with the reason from the tail of ``train.log`` (``stopped`` instead when a cancel was asked).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from recsys import runs

REPO = Path(__file__).resolve().parents[1]
LAUNCH, LOG = "launch.json", "train.log"
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")  # what launch() creates
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # any folder run_path() accepts
ACTIVE = ("created", "running", "stopping")
PF_EXITING = 0x4  # Linux task flag, set from the start of exit until the process is reaped
STARTUP_GRACE_S = 20.0  # a "created" run whose process vanished this long ago never started
Regime = Literal["auto", "full", "top-N", "adapter"]


class Busy(RuntimeError):
    """A run is already running on the requested device."""


@dataclass
class TrainConfig:
    """What the analyst picks on the Fine-tune page; each field maps to a ``recsys train`` flag.

    Defaults are those of ``recsys train``. ``model`` None = the packaged MiniLM; ``regime``
    "top-N" trains the top ``top_layers`` layers; ``max_steps`` caps the run (a quick check).
    """

    model: str | None = None
    regime: Regime = "auto"
    top_layers: int = 2
    epochs: int = 8
    batch_size: int = 512
    lr: float = 2e-3
    seed: int = 0
    device: str = "auto"
    max_steps: int | None = None

    def regime_arg(self) -> str:
        return f"top-{self.top_layers}" if self.regime == "top-N" else self.regime


# --------------------------------------------------------------------------- ids and paths


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def run_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of ``run_id``, resolved; ValueError unless it is a plain name inside ``runs_dir``.

    Runs started from the command line may have any plain folder name, so any ``RUN_NAME`` is
    accepted; a name with a slash, a leading dot or a symlink out of ``runs_dir`` is not.
    """
    if not isinstance(run_id, str) or not RUN_NAME.match(run_id):
        raise ValueError(f"{run_id!r} is not a run name")
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ValueError(f"{run_id!r} is not inside {root}")
    return path


# --------------------------------------------------------------------------- dataset -> argv


def data_args(source: dict) -> list[str]:
    """The Data page's ``SOURCE`` dict as ``recsys train`` data arguments (``--flag=value``)."""
    kind = source.get("kind", "sample")
    if kind == "sample":
        return ["--data=sample"]
    if kind == "movielens":
        return [f"--data={source['path']}"]
    if kind != "upload":
        raise ValueError(f"unknown data source kind {kind!r}")
    args = [f"--interactions={source['interactions']}", f"--items={source['items']}"]
    args += [f"--column={canon}={col}" for canon, col in (source.get("mapping") or {}).items()]
    if source.get("item_column"):
        args.append(f"--item-column={source['item_column']}")
    args += [f"--text-column={col}" for col in source.get("text_columns") or ()]
    for key, value in (source.get("options") or {}).items():
        args.append(f"--{key.replace('_', '-')}={value}")
    return args


def train_argv(run_dir: Path, source: dict, config: TrainConfig) -> list[str]:
    """Arguments after ``python -m recsys``."""
    args = ["train", *data_args(source), "--run-dir", str(run_dir)]
    args += ["--regime", config.regime_arg(), "--device", config.device]
    args += ["--epochs", str(config.epochs), "--batch-size", str(config.batch_size)]
    args += ["--lr", str(config.lr), "--seed", str(config.seed)]
    if config.model:
        args += ["--model", str(config.model)]
    if config.max_steps:
        args += ["--max-steps", str(config.max_steps)]
    return args


def device_key(device: str) -> str:
    """``auto`` resolved to what training will pick; ``cuda`` and ``cuda:0`` are one device."""
    if device in ("", "auto"):
        from recsys.encoder import pick_device  # imports torch: only when needed

        device = str(pick_device(None))
    return "cuda:0" if device == "cuda" else device


# --------------------------------------------------------------------------- launch


def launch(
    runs_dir: str | os.PathLike,
    source: dict,
    config: TrainConfig,
    *,
    dataset_name: str = "",
    program: Sequence[str] | None = None,
) -> str:
    """Start a training run in the background and return its run id.

    Raises :class:`Busy` when a run is alive on the same device. ``program`` stands for
    ``python -m recsys`` (tests pass a stub trainer).
    """
    root = Path(runs_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    device = device_key(config.device)
    with _lock(root / ".launch.lock"):
        busy = running_on(root, device)
        if busy:
            raise Busy(
                f"run {busy} is still running on {device}; one run per device at a time — "
                f"wait for it to finish or cancel it first"
            )
        run_id = new_run_id()
        run_dir = run_path(root, run_id)
        argv = [
            *(program or (sys.executable, "-m", "recsys")),
            *train_argv(run_dir, source, config),
        ]
        folder = runs.RunFolder(run_dir)
        folder.create({**asdict(config), "data": source, "dataset": dataset_name})
        runs.atomic_write_json(
            folder.file(LAUNCH),
            {
                "source": source,
                "dataset": dataset_name,
                "device": device,
                "argv": argv,
                "config": asdict(config),
                "launched": time.time(),
            },
        )
        _spawn(argv, folder, device)
    return run_id


def _spawn(argv: list[str], folder: runs.RunFolder, device: str) -> None:
    with open(folder.file(LOG), "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # own process group: a Streamlit rerun or Ctrl-C never hits it
        )
    folder.write_status("created", pid=proc.pid, device=device, message="starting")
    # Reap the child when it ends (else it lingers as a zombie that still answers kill(pid, 0)).
    threading.Thread(target=_reap, args=(proc, folder.path), daemon=True).start()


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    # Wait without reaping: while the child is a zombie, is_alive() still says True, so no poll
    # can settle the run before this thread records the exit code; then reap it.
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
    try:
        _settle(run_dir, exit_code=code)
    finally:
        proc.wait()


class _lock:  # noqa: N801 - used as a context manager
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.fh = open(self.path, "a")  # noqa: SIM115 - closed in __exit__
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


# --------------------------------------------------------------------------- liveness and crashes


def is_alive(run_dir: str | os.PathLike, status: dict | None = None) -> bool:
    """Whether the run's process runs: pid alive (same host) and its command names the folder."""
    run_dir = Path(run_dir)
    status = status if status is not None else runs.read_status(run_dir)
    if not status.get("alive"):
        return False
    proc = Path(f"/proc/{status['pid']}")
    if not proc.exists():
        return sys.platform != "linux"  # no /proc to double-check: trust the pid
    try:
        fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z" or int(fields[6]) & PF_EXITING:
            return True  # ending (its command line is already gone): wait for its exit code
        return str(run_dir.resolve()) in proc.joinpath("cmdline").read_bytes().decode(
            errors="replace"
        )
    except (OSError, IndexError, ValueError):
        return False


def read_state(run_dir: str | os.PathLike) -> dict:
    """``status.json`` with crash detection applied (see the module docstring)."""
    return _settle(Path(run_dir))


def _settle(run_dir: Path, exit_code: int | None = None) -> dict:
    raw = runs.read_json(run_dir / runs.STATUS, default=None) or {"state": "created"}
    status = runs.read_status(run_dir)
    status["alive"] = exit_code is None and is_alive(run_dir, status)
    if raw.get("state") not in ACTIVE or status["alive"]:
        return {**status, "state": raw.get("state", status["state"])}
    if raw.get("state") == "created" and exit_code is None:
        if time.time() - raw.get("updated", 0) < STARTUP_GRACE_S:
            return {**status, "state": "created"}  # being spawned right now
    folder = runs.RunFolder(run_dir)
    cancelled = (runs.read_json(run_dir / LAUNCH, default={}) or {}).get("cancelled")
    if folder.stop_requested() or cancelled:
        state, message = "stopped", "cancelled"
    else:
        state, message = "failed", failure_reason(log_tail(run_dir, 60), exit_code)
    if status.get("host", "") in ("", os.uname().nodename):  # never judge another host's run
        folder.write_status(state, message=message, ended=time.time())
    return {**status, "state": state, "message": message}


def failure_reason(tail: str, exit_code: int | None = None) -> str:
    """A one-line reason from the end of a log: the last exception line, or the exit signal."""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for line in reversed(lines):
        if (
            re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b", line, re.IGNORECASE)
            or "out of memory" in line
        ):
            return line[:300]
    if exit_code is not None and exit_code < 0:
        name = signal.Signals(-exit_code).name
        hint = " (possibly out of memory)" if exit_code == -signal.SIGKILL else ""
        return f"process killed by {name}{hint}"
    if exit_code:
        return f"process exited with code {exit_code}" + (f": {lines[-1][:200]}" if lines else "")
    return "process ended without a final status" + (f": {lines[-1][:200]}" if lines else "")


def log_tail(run_dir: str | os.PathLike, lines: int = 40, max_bytes: int = 32_768) -> str:
    """The last ``lines`` lines of ``train.log`` (reads at most ``max_bytes`` from its end)."""
    path = Path(run_dir) / LOG
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- polling


@dataclass
class Poll:
    """One look at a run: its state and the progress records written since ``offset``."""

    state: str
    alive: bool
    message: str
    status: dict
    records: list[dict] = field(default_factory=list)
    offset: int = 0

    @property
    def ended(self) -> bool:
        return self.state not in ACTIVE


def poll(run_dir: str | os.PathLike, offset: int = 0) -> Poll:
    """State plus new ``progress.jsonl`` records from byte ``offset`` (whole lines only)."""
    run_dir = Path(run_dir)
    status = read_state(run_dir)
    records, offset = read_progress_since(run_dir / runs.PROGRESS, offset)
    return Poll(
        state=status["state"],
        alive=bool(status.get("alive")),
        message=str(status.get("message", "")),
        status=status,
        records=records,
        offset=offset,
    )


def read_progress_since(path: Path, offset: int) -> tuple[list[dict], int]:
    """Records after byte ``offset`` up to the last complete line, and the new offset."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
    records = []
    for line in data[:end].decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records, offset + end


# --------------------------------------------------------------------------- cancel


def cancel(run_dir: str | os.PathLike, grace: float = 15.0, wait: bool = False) -> None:
    """Stop a run: STOP file, then SIGTERM after ``grace`` s, then SIGKILL after ``grace`` more.

    The run ends ``stopped`` (shown as cancelled); its best/last checkpoints, written atomically,
    stay usable. Returns at once unless ``wait``: the escalation runs in a daemon thread.
    """
    run_dir = Path(run_dir)
    runs.RunFolder(run_dir).request_stop()
    # Also remembered beside the STOP file, which a trainer starting up may clear.
    info = runs.read_json(run_dir / LAUNCH, default={}) or {}
    runs.atomic_write_json(run_dir / LAUNCH, {**info, "cancelled": time.time()})
    if wait:
        _escalate(run_dir, grace)
    else:
        threading.Thread(target=_escalate, args=(run_dir, grace), daemon=True).start()


def _escalate(run_dir: Path, grace: float) -> None:
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        status = runs.read_status(run_dir)
        if not is_alive(run_dir, status):
            break
        if sig is not None:
            try:
                os.killpg(status["pid"], sig)  # the whole session: data loader workers too
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and is_alive(run_dir):
            time.sleep(0.2)
    _settle(run_dir)


# --------------------------------------------------------------------------- registry


def running_on(runs_dir: str | os.PathLike, device: str) -> str | None:
    """The id of a live run on ``device``, if any."""
    for run in runs.list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_state(run_dir)
        if status["state"] in ACTIVE and device_of(run_dir, status) == device:
            return run["name"]
    return None


def device_of(run_dir: Path, status: dict | None = None) -> str:
    """``cpu``/``cuda:0``/``mps``: from launch.json, else the status written by the trainer."""
    launch_info = runs.read_json(run_dir / LAUNCH, default={}) or {}
    if launch_info.get("device"):
        return str(launch_info["device"])
    status = status or runs.read_json(run_dir / runs.STATUS, default={}) or {}
    described = str(status.get("device", "cpu"))  # e.g. "model on NVIDIA H200 (cuda:0)"
    found = re.search(r"\((cuda:\d+|mps)\)", described)
    return found.group(1) if found else "cpu"


def history(runs_dir: str | os.PathLike) -> list[dict]:
    """One row per run, newest first: state, dataset, model, regime, device, duration, metrics."""
    rows = []
    for run in runs.list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_state(run_dir)
        launch_info = runs.read_json(run_dir / LAUNCH, default={}) or {}
        config = {**run["config"], **launch_info.get("config", {})}
        started = status.get("started")
        end = (
            time.time() if status["state"] in ACTIVE else status.get("ended", status.get("updated"))
        )
        best = runs.read_json(run_dir / runs.METRICS, default={}) or {}
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
    if not (path / runs.CONFIG).exists():
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
