"""Kill-test helper: train in a forked child, SIGKILL it at a random moment, keep a snapshot.

Run as ``python -m tests.lm.killing ROOT SEED TRIALS``. This process imports torch, transformers
and the training loop once and runs no tensor code itself, so each forked child starts training
at once (a fresh interpreter would spend seconds importing). Every trial trains the same run
folder ``ROOT/run`` (resuming it, or with ``resume=False`` every fourth trial, so a fresh start
is killed too), is killed after a seeded random delay, and the folder is then copied, untouched,
to ``ROOT/trial-NN`` for the test to inspect with the library's readers. A last child runs to
the end unkilled: it must resume the folder the kills left. One JSON line per trial on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np

from recsys.lm.config import FinetuneConfig
from recsys.lm.finetune import finetune
from recsys.runs.folder import RunFolder
from tests.lm.test_finetune import TEXTS, toy_matrix
from tests.lm_fixtures import tiny_model_dir

ITEM_IDS = [f"item-{i}" for i in range(len(TEXTS))]


def config(model: Path, epochs: int) -> FinetuneConfig:
    return FinetuneConfig(model=str(model), regime="top-1", epochs=epochs, batch_size=16, lr=1e-2,
                          lm_lr=1e-3, dim=16, max_length=16, cache_dir=None, device="cpu",
                          log_every=1, patience=10_000, seed=0, threads=1)  # fmt: skip


def train(run_dir: Path, model: Path, resume: bool, epochs: int) -> None:
    finetune(toy_matrix(), TEXTS, config(model, epochs), validation=toy_matrix(seed=1),
             run=RunFolder(run_dir), item_ids=ITEM_IDS, resume=resume)  # fmt: skip


def child(run_dir: Path, model: Path, resume: bool, epochs: int) -> None:
    code = 0
    try:
        train(run_dir, model, resume, epochs)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent through the exit code
        print(json.dumps({"child_error": f"{type(exc).__name__}: {exc}"}), flush=True)
        code = 3
    os._exit(code)


def main(root: Path, seed: int, trials: int) -> None:
    rng = np.random.default_rng(seed)
    model = tiny_model_dir(root)  # built by the test beforehand: no tensor code runs here
    run_dir = root / "run"
    RunFolder(run_dir).create({"dataset": "kill test"})
    for trial in range(trials):
        resume = trial % 4 != 0
        delay = float(rng.uniform(0.05, 2.0))
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            child(run_dir, model, resume, epochs=10_000)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        shutil.copytree(run_dir, root / f"trial-{trial:02d}", symlinks=True)
        print(json.dumps({"trial": trial, "delay": round(delay, 3), "resume": resume,
                          "killed": killed, "seconds": round(time.monotonic() - started, 3),
                          "exit": status}), flush=True)  # fmt: skip
    done = (RunFolder(run_dir).checkpoint_meta() or {}).get("epoch", 0)
    pid = os.fork()
    if pid == 0:  # the survivor: resumes whatever the kills left, trains one epoch, ends normally
        child(run_dir, model, True, epochs=done + 1)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"final_exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
