"""Fine-tuning runs as background processes: launch and cancel, one run per device.

A run is ``python -m recsys train … --run-dir <runs_dir>/<run_id>`` started as a detached child
(its own session, stdout/stderr to ``train.log`` in the run folder), so a closed browser tab, a
Streamlit rerun or a dashboard restart never kills it. Everything a viewer needs is read back from
the run folder (layout in :mod:`recsys.runs.folder`), never from memory, so a reload or a second tab
sees the same live run. A launch adds two files to that layout:

    launch.json   what the dashboard asked for: dataset source, display names, argv, device
    train.log     the child's stdout and stderr (the reason a crashed run gives)

Run ids are ``YYYYmmdd-HHMMSS-xxxxxx`` (UTC time + 6 random hex digits): sortable, unique, and never
taken from user input; :func:`run_path` accepts only a plain folder name inside the runs folder.
Values from the dataset (paths, column names) are passed as ``--flag=value`` so none can pose as
an option. Whether a run still runs is :mod:`recsys.runs.liveness`; progress bars and time
estimates live in :mod:`recsys.runs.timing`.

Policy: one running run per device. A second launch on a busy device is *refused* with
:class:`Busy` naming the running run, rather than queued: a queue needs a scheduler process that
outlives the dashboard, and on a 2-core CPU two trainings would each crawl; refusing is explicit and
the analyst can cancel the running one. The check (:func:`running_on`) and the start happen under a
file lock, so two tabs clicking Launch together cannot both start.
"""

from __future__ import annotations

import fcntl
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from recsys.runs.atomic import atomic_write_json, read_json_dict
from recsys.runs.folder import LAUNCH, LOG, RunFolder, list_runs, read_raw_status, read_status
from recsys.runs.liveness import ACTIVE, is_alive, read_state, settle
from recsys.runs.locks import status_lock

REPO = Path(__file__).resolve().parents[2]


RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # what launch() creates (use fullmatch)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # any folder run_path() accepts
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
    if not isinstance(run_id, str) or not RUN_NAME.fullmatch(run_id):
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


def check_argv(argv: Sequence[str]) -> None:
    """ValueError naming the first argument a process cannot be given (NUL) or that would garble
    a one-line-per-argument log (newline); such values come from uploaded column names."""
    for arg in argv:
        for char, name in (("\0", "a NUL byte"), ("\n", "a line break"), ("\r", "a line break")):
            if char in arg:
                shown = arg.replace("\0", "\\0").replace("\n", "\\n").replace("\r", "\\r")
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                raise ValueError(
                    f"cannot start training: argument {shown!r} holds {name} (rename the "
                    "column or file it comes from)"
                )


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
        from recsys.lm.encoder import pick_device  # imports torch: only when needed

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
        check_argv(argv)  # before anything is written: a refused launch leaves no folder
        folder = RunFolder(run_dir)
        try:
            folder.create({**asdict(config), "data": source, "dataset": dataset_name})
            atomic_write_json(
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
            proc = _start(argv, folder)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)  # a run that never started leaves nothing
            raise
        _watch(proc, folder, device)
    return run_id


def _start(argv: list[str], folder: RunFolder) -> subprocess.Popen:
    with open(folder.file(LOG), "ab") as log:
        return subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # own process group: a Streamlit rerun or Ctrl-C never hits it
        )


def _watch(proc: subprocess.Popen, folder: RunFolder, device: str) -> None:
    # Only over "created": a child quick enough to write "running" first keeps its status.
    folder.update_status("created", ("created",), pid=proc.pid, device=device, message="starting")
    # Reap the child when it ends (else it lingers as a zombie that still answers kill(pid, 0)).
    threading.Thread(target=_reap, args=(proc, folder.path), daemon=True).start()


def _reap(proc: subprocess.Popen, run_dir: Path) -> None:
    # Wait without reaping: while the child is a zombie, is_alive() still says True, so no poll
    # can settle the run before this thread records the exit code; then reap it.
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    assert info is not None  # None only with WNOHANG
    code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
    try:
        settle(run_dir, exit_code=code)
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


# --------------------------------------------------------------------------- cancel


def cancel(run_dir: str | os.PathLike, grace: float = 15.0, wait: bool = False) -> None:
    """Stop a run: STOP file, then SIGTERM after ``grace`` s, then SIGKILL after ``grace`` more.

    The run ends ``stopped`` (shown as cancelled); its best/last checkpoints, written atomically,
    stay usable. Returns at once unless ``wait``: the escalation runs in a daemon thread.
    """
    run_dir = Path(run_dir)
    try:
        RunFolder(run_dir).request_stop()
        # Also remembered beside the STOP file, which a trainer starting up may clear.
        with status_lock(run_dir):
            info = read_json_dict(run_dir / LAUNCH)
            atomic_write_json(run_dir / LAUNCH, {**info, "cancelled": time.time()}, mkdir=False)
    except FileNotFoundError:
        return  # deleted meanwhile: nothing left to stop, and nothing is recreated
    if wait:
        _escalate(run_dir, grace)
    else:
        threading.Thread(target=_escalate, args=(run_dir, grace), daemon=True).start()


def _escalate(run_dir: Path, grace: float) -> None:
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        status = read_status(run_dir)
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
    settle(run_dir)


# --------------------------------------------------------------------------- registry


def running_on(runs_dir: str | os.PathLike, device: str) -> str | None:
    """The id of a live run on ``device``, if any."""
    for run in list_runs(runs_dir):
        run_dir = Path(run["path"])
        status = read_state(run_dir)
        if status["state"] in ACTIVE and device_of(run_dir, status) == device:
            return run["name"]
    return None


def device_of(run_dir: Path, status: dict | None = None) -> str:
    """``cpu``/``cuda:0``/``mps``: from launch.json, else the status written by the trainer."""
    launch_info = read_json_dict(run_dir / LAUNCH)
    if isinstance(launch_info.get("device"), str) and launch_info["device"]:
        return launch_info["device"]
    status = status or read_raw_status(run_dir) or {}
    described = str(status.get("device", "cpu"))  # e.g. "model on NVIDIA H200 (cuda:0)"
    found = re.search(r"\((cuda:\d+|mps)\)", described)
    return found.group(1) if found else "cpu"
