"""Whether a launched run still runs, why it ended, and polling its progress log.

Liveness: a run is alive while its recorded pid exists *and* that process's command line names its
run folder exactly, as the argument of ``--run-dir`` (so a recycled pid, or a trainer of
``runs/demo2`` when asking about ``runs/demo``, is not mistaken for the run). A run whose status
says created/running/stopping but whose process is gone is reported, and written back, as
``failed`` with the reason from the tail of ``train.log`` (``stopped`` instead when a cancel was
asked).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from recsys.runs.atomic import read_json_dict
from recsys.runs.folder import LAUNCH, LOG, PROGRESS, RunFolder, State, read_raw_status, read_status

ACTIVE = ("created", "running", "stopping")
PF_EXITING = 0x4  # Linux task flag, set from the start of exit until the process is reaped
STARTUP_GRACE_S = 20.0  # a "created" run whose process vanished this long ago never started


def is_alive(run_dir: str | os.PathLike, status: dict | None = None) -> bool:
    """Whether the run's process runs: pid alive (same host) and its command names the folder."""
    run_dir = Path(run_dir)
    status = status if status is not None else read_status(run_dir)
    if not status.get("alive"):
        return False
    proc = Path(f"/proc/{status['pid']}")
    if not proc.exists():
        return sys.platform != "linux"  # no /proc to double-check: trust the pid
    try:
        fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z" or int(fields[6]) & PF_EXITING:
            return True  # ending (its command line is already gone): wait for its exit code
        argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
        cwd = Path(os.readlink(proc / "cwd"))
    except (OSError, IndexError, ValueError):
        return False
    return run_dir.resolve() in run_dirs_of(argv, cwd)


def run_dirs_of(argv: list[bytes], cwd: Path) -> set[Path]:
    """The run folders a command line names: each ``--run-dir X`` / ``--run-dir=X``, resolved
    against the process's working folder."""
    found = set()
    for i, arg in enumerate(argv):
        value = None
        if arg == b"--run-dir" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(b"--run-dir="):
            value = arg[len(b"--run-dir=") :]
        if value:
            found.add((cwd / os.fsdecode(value)).resolve())
    return found


def read_state(run_dir: str | os.PathLike) -> dict:
    """``status.json`` with crash detection applied (see the module docstring)."""
    return settle(Path(run_dir))


def settle(run_dir: Path, exit_code: int | None = None) -> dict:
    """:func:`read_state`, with the exit code when the caller reaped the process itself.

    The verdict is written back only while the status still says the run is active (a trainer's
    own final write is never overwritten), and never into a folder deleted meanwhile.
    """
    raw = read_raw_status(run_dir) or {"state": "created"}
    status = read_status(run_dir)
    status["alive"] = exit_code is None and is_alive(run_dir, status)
    if raw.get("state") not in ACTIVE or status["alive"]:
        return {**status, "state": raw.get("state", status["state"])}
    if raw.get("state") == "created" and exit_code is None:
        if time.time() - raw.get("updated", 0) < STARTUP_GRACE_S:
            return {**status, "state": "created"}  # being spawned right now
    folder = RunFolder(run_dir)
    state: State
    cancelled = read_json_dict(run_dir / LAUNCH).get("cancelled")
    if folder.stop_requested() or cancelled:
        state, message = "stopped", "cancelled"
    else:
        state, message = "failed", failure_reason(log_tail(run_dir, 60), exit_code)
    if status.get("host", "") not in ("", os.uname().nodename):
        return {**status, "state": state, "message": message}  # never judge another host's run
    try:
        written = folder.update_status(state, ACTIVE, message=message, ended=time.time())
    except FileNotFoundError:  # deleted meanwhile: nothing to record, nothing to recreate
        return {**status, "state": state, "message": message}
    if written is None:  # the trainer wrote its own final state first: that one stands
        return {**read_status(run_dir), "alive": False}
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
    records, offset = read_progress_since(run_dir / PROGRESS, offset)
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
