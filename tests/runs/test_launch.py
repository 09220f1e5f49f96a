"""Process control of fine-tuning runs: launch, poll, cancel, crash detection, history, delete.

Most tests drive a stub trainer (a few lines writing the run folder like ``recsys train`` does) so
they take about a second each; two slow ones run the real ``recsys train`` on a tiny random BERT
and a 40-user CSV pair (about 10-25 s each, depending on the machine's load).
"""

from __future__ import annotations

import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from recsys.runs.atomic import atomic_write_json, read_json
from recsys.runs.folder import CONFIG, LAUNCH, LOG, PROGRESS, STATUS, RunFolder, read_progress
from recsys.runs.history import delete, history
from recsys.runs.launch import (
    RUN_ID,
    Busy,
    TrainConfig,
    cancel,
    launch,
    new_run_id,
    run_path,
    train_argv,
)
from recsys.runs.liveness import failure_reason, is_alive, log_tail, poll

REPO = Path(__file__).resolve().parents[2]

STUB = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {repo!r})
    from recsys.runs.folder import RunFolder

    mode, args = sys.argv[1], sys.argv[2:]
    run = RunFolder(args[args.index("--run-dir") + 1])
    print("stub trainer", mode, flush=True)
    if mode == "early-crash":
        raise ImportError("No module named 'tokenizers'")
    run.write_status("running", epoch=1, step=0)
    run.log("event", message="start")
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for step in range(1, 10_000):
        if run.stop_requested() and mode != "stubborn":
            run.log("event", message="stop requested")
            run.write_status("stopped", message="stopped at step %d" % step)
            sys.exit(0)
        if mode == "crash" and step == 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if mode == "killed" and step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        run.log("step", step=step, epoch=1 + (step - 1) // 5, loss=1.0 / step, eta_s=1.0)
        if step % 5 == 0:
            epoch = step // 5
            val = {{"recall@20": 0.1 * epoch, "tail_recall@20": 0.05 * epoch}}
            run.log("epoch", epoch=epoch, step=step, loss=1.0 / step, validation=val, best=True)
            run.write_metrics({{"best_epoch": epoch, "best": val}})
            if mode == "ok" and epoch == 2:
                run.write_status("finished", epoch=epoch, step=step, message="done")
                sys.exit(0)
        time.sleep(0.05 if mode == "ok" else 0.1)
    """
)


@pytest.fixture
def stub(tmp_path):
    path = tmp_path / "stub_trainer.py"
    path.write_text(STUB.format(repo=str(REPO)))

    def program(mode: str) -> list[str]:
        return [sys.executable, str(path), mode]

    return program


CPU = TrainConfig(device="cpu", epochs=2)
SAMPLE = {"kind": "sample"}


def wait_for(predicate, timeout: float = 20.0):
    """Poll a condition the background process will reach (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_run_ids_sort_by_time_and_stay_inside_the_runs_folder(runs_dir):
    a = new_run_id()
    time.sleep(1.01)
    b = new_run_id()
    assert a < b and RUN_ID.match(a)
    assert run_path(runs_dir, a) == (runs_dir / a).resolve()
    for bad in ("../etc", "/etc", "20250101-000000-abcdef/..", ".hidden", "a b", ""):
        with pytest.raises(ValueError):
            run_path(runs_dir, bad)


def test_source_becomes_train_arguments(tmp_path):
    run_dir = tmp_path / "r"
    argv = train_argv(run_dir, SAMPLE, TrainConfig(regime="top-N", top_layers=2))
    assert argv[:2] == ["train", "--data=sample"]
    assert argv[argv.index("--regime") + 1] == "top-2"
    assert "--model" not in argv
    ml = train_argv(run_dir, {"kind": "movielens", "path": "/d/ml"}, CPU)
    assert ml[1] == "--data=/d/ml"


def test_column_names_cannot_pose_as_options(tmp_path):
    """Regression: a text column named like a flag must stay a value of --text-column."""
    from recsys.cli import build_parser

    source = {"kind": "upload", "interactions": "/u/i.csv", "items": "/u/t.csv",
              "mapping": {"user": "--fresh"}, "text_columns": ["--fresh", "title"],
              "options": {"duplicates": "drop"}}  # fmt: skip
    args = build_parser().parse_args(train_argv(tmp_path, source, CPU))
    assert args.text_column == ["--fresh", "title"] and args.column == ["user=--fresh"]
    assert not args.fresh and args.duplicates == "drop" and args.interactions == Path("/u/i.csv")


def test_launch_runs_in_background_and_poll_reads_progress_by_offset(runs_dir, stub):
    run_id = launch(runs_dir, SAMPLE, CPU, dataset_name="sample shop", program=stub("ok"))
    run_dir = runs_dir / run_id
    assert (run_dir / CONFIG).exists() and (run_dir / LAUNCH).exists()
    wait_for(lambda: poll(run_dir).records)
    first = poll(run_dir)
    assert first.records and first.offset > 0
    done = wait_for(lambda: (p := poll(run_dir, first.offset)).ended and p)
    assert done.state == "finished"
    assert all(r["step"] > first.records[-1]["step"] for r in done.records if r["kind"] == "step")
    assert poll(run_dir, done.offset).records == []
    assert "stub trainer ok" in log_tail(run_dir)
    (row,) = history(runs_dir)
    assert row["state"] == "finished" and row["dataset"] == "sample shop"
    assert row["recall@20"] == pytest.approx(0.2) and row["duration_s"] > 0


def test_second_launch_on_the_same_device_is_refused(runs_dir, stub):
    first = launch(runs_dir, SAMPLE, CPU, program=stub("slow"))
    wait_for(lambda: poll(runs_dir / first).state == "running")
    with pytest.raises(Busy, match=first):
        launch(runs_dir, SAMPLE, CPU, program=stub("slow"))
    assert [r["run"] for r in history(runs_dir)] == [first]
    cancel(runs_dir / first, grace=5, wait=True)


def test_cancel_stops_cooperatively_and_marks_the_run_stopped(runs_dir, stub):
    run_id = launch(runs_dir, SAMPLE, CPU, program=stub("slow"))
    run_dir = runs_dir / run_id
    wait_for(lambda: poll(run_dir).state == "running")
    cancel(run_dir, grace=10, wait=True)
    polled = poll(run_dir)
    assert polled.state == "stopped" and not polled.alive
    assert "stop requested" in [r.get("message") for r in polled.records]


def test_cancel_escalates_to_kill_when_the_process_ignores_stop_and_sigterm(runs_dir, stub):
    run_id = launch(runs_dir, SAMPLE, CPU, program=stub("stubborn"))
    run_dir = runs_dir / run_id
    wait_for(lambda: poll(run_dir).state == "running")
    started = time.monotonic()
    cancel(run_dir, grace=0.5, wait=True)
    assert time.monotonic() - started < 5
    polled = poll(run_dir)
    assert polled.state == "stopped" and polled.message == "cancelled"
    # The next launch on this device is allowed again.
    cancel(runs_dir / launch(runs_dir, SAMPLE, CPU, program=stub("slow")), 5, True)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("crash", "RuntimeError: CUDA out of memory"),
        ("killed", "process killed by SIGKILL (possibly out of memory)"),
        ("early-crash", "ImportError: No module named 'tokenizers'"),
    ],
)
def test_a_dead_process_is_reported_failed_with_the_reason_from_its_log(
    runs_dir, stub, mode, reason
):
    run_dir = runs_dir / launch(runs_dir, SAMPLE, CPU, program=stub(mode))
    polled = wait_for(lambda: (p := poll(run_dir)).ended and p)
    assert polled.state == "failed" and reason in polled.message
    assert read_json(run_dir / STATUS)["state"] == "failed"  # written back


def test_a_run_killed_while_no_dashboard_watched_is_failed_not_running(runs_dir):
    """Regression: a status left at "running" by a vanished process (reboot, OOM killer)."""
    folder = RunFolder(runs_dir / new_run_id())
    folder.create({"regime": "adapter"})
    folder.write_status("running", pid=2**22 + 7)  # no such pid
    (folder.path / LOG).write_text("epoch 1\nKilled\n")
    polled = poll(folder.path)
    assert polled.state == "failed" and "Killed" in polled.message


def test_a_recycled_pid_is_not_mistaken_for_the_run(runs_dir):
    import os

    folder = RunFolder(runs_dir / new_run_id())
    folder.create({})
    atomic_write_json(
        folder.file(STATUS),
        {**read_json(folder.file(STATUS)), "state": "running", "pid": os.getpid()},
    )
    assert not is_alive(folder.path)
    assert poll(folder.path).state == "failed"


def test_delete_removes_only_finished_runs_inside_the_runs_folder(runs_dir, stub, tmp_path):
    run_id = launch(runs_dir, SAMPLE, CPU, program=stub("slow"))
    wait_for(lambda: poll(runs_dir / run_id).state == "running")
    with pytest.raises(Busy):
        delete(runs_dir, run_id)
    cancel(runs_dir / run_id, grace=5, wait=True)
    with pytest.raises(ValueError):
        delete(runs_dir, "../" + run_id)
    delete(runs_dir, run_id)
    assert not (runs_dir / run_id).exists() and history(runs_dir) == []


def test_failure_reason_prefers_the_last_exception_line():
    tail = "Traceback (most recent call last):\n  File x\nValueError: bad column 'title'\n"
    assert failure_reason(tail, 1) == "ValueError: bad column 'title'"
    assert failure_reason("", -signal.SIGTERM) == "process killed by SIGTERM"
    assert failure_reason("last words", 3) == "process exited with code 3: last words"


def test_config_defaults_match_recsys_train():
    from recsys.cli import build_parser

    args = build_parser().parse_args(["train", "--data", "sample", "--run-dir", "x"])
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.seed, config.regime) == (
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        args.regime,
    )
    parsed = build_parser().parse_args(train_argv(Path("r"), SAMPLE, config))
    assert parsed.max_steps is None and parsed.device == "auto"


# ---------------------------------------------------------------------- the real `recsys train`


@pytest.fixture
def tiny_source(tmp_path) -> dict:
    """30 items with two-word titles, 40 users with 6 items each, as an uploaded CSV pair."""
    from tests.lm_fixtures import WORDS

    items = [f"i{i},{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]}" for i in range(30)]
    (tmp_path / "items.csv").write_text("item,title\n" + "\n".join(items) + "\n")
    rows = [f"u{u},i{(u + 3 * k) % 30}" for u in range(40) for k in range(6)]
    (tmp_path / "inter.csv").write_text("user,item\n" + "\n".join(rows) + "\n")
    return {
        "kind": "upload",
        "interactions": str(tmp_path / "inter.csv"),
        "items": str(tmp_path / "items.csv"),
        "mapping": {"user": "user", "item": "item"},
        "item_column": "item",
        "text_columns": ["title"],
        "options": {"unknown_items": "error", "duplicates": "drop"},
    }


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    from tests.lm_fixtures import tiny_model_dir

    base = dict(model=str(tiny_model_dir(tmp_path)), device="cpu", batch_size=16, epochs=2)
    return TrainConfig(**{**base, **overrides})


@pytest.mark.slow
def test_a_real_tiny_run_finishes_with_metrics_and_embeddings(runs_dir, tmp_path, tiny_source):
    config = tiny_config(tmp_path, regime="adapter")
    run_dir = runs_dir / launch(runs_dir, tiny_source, config, dataset_name="tiny")
    done = wait_for(lambda: (p := poll(run_dir)).ended and p, timeout=120)
    assert done.state == "finished", log_tail(run_dir)
    (row,) = history(runs_dir)
    assert (row["regime"], row["model"], row["dataset"]) == ("adapter", "tiny-bert", "tiny")
    assert 0 <= row["recall@20"] <= 1 and row["best_epoch"] in (1, 2)
    vectors, ids = RunFolder(run_dir).load_item_embeddings()
    assert vectors.shape[0] == len(ids) == 30


@pytest.mark.slow
def test_cancelling_a_real_run_keeps_its_best_checkpoint(runs_dir, tmp_path, tiny_source):
    config = tiny_config(tmp_path, regime="full", epochs=200, batch_size=8)
    run_dir = runs_dir / launch(runs_dir, tiny_source, config)
    wait_for(lambda: read_progress(run_dir / PROGRESS, "epoch"), timeout=120)
    cancel(run_dir, grace=30, wait=True)
    polled = poll(run_dir)
    assert polled.state == "stopped", log_tail(run_dir)
    tensors, meta = RunFolder(run_dir).load_checkpoint(best=True)
    assert tensors and meta["best_epoch"] >= 1
