"""Run folders under stress (review F8, F19-F24): locks, lost updates, deleted folders, exact
liveness, hostile names and arguments, JSON files of the wrong shape, one best generation."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from recsys.runs import atomic, best, liveness
from recsys.runs.atomic import atomic_write_json
from recsys.runs.folder import (
    CONFIG,
    EMBEDDINGS,
    LAUNCH,
    METRICS,
    STATUS,
    RunFolder,
    list_runs,
    read_status,
)
from recsys.runs.history import delete, history
from recsys.runs.launch import Busy, TrainConfig, cancel, check_argv, launch, run_path
from recsys.runs.liveness import is_alive, poll, read_state, settle
from recsys.runs.locks import RunLocked
from recsys.runs.timing import estimate_epoch

HOST = os.uname().nodename


def finished_run(runs_dir, name="r1") -> RunFolder:
    folder = RunFolder(runs_dir / name)
    folder.create({"regime": "adapter", "epochs": 2})
    folder.write_status("finished", message="done")
    return folder


def mark_running(folder: RunFolder, pid: int, host: str = HOST) -> None:
    """A status as a trainer with ``pid`` writes it (write_status would record this process)."""
    atomic_write_json(folder.file(STATUS), {"state": "running", "pid": pid, "host": host,
                                            "updated": time.time()})  # fmt: skip


def sleeper(*argv: str) -> subprocess.Popen:
    """A process whose command line is ``python -c ... <argv>`` (what liveness reads)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])


# --------------------------------------------------------------------------- F8: locks


def test_a_second_trainer_on_a_locked_folder_is_refused_at_once(tmp_path):
    first, second = RunFolder(tmp_path / "run"), RunFolder(tmp_path / "run")
    first.path.mkdir()
    with first.lock():
        started = time.monotonic()
        with pytest.raises(RunLocked, match="in use by another process"):
            second.lock().acquire()
        assert time.monotonic() - started < 1.0
        with first.lock():  # re-entrant on the holder's instance
            pass
        assert first.lock().held
    with second.lock():  # released: the next trainer may start
        assert second.lock().held


def _write_many(path: str, key: str, n: int, barrier) -> None:
    from recsys.runs import folder as module

    write = module.atomic_write_json

    def slow_write(*args, **kwargs):  # widen the read-modify-write window a lock must cover
        time.sleep(0.002)
        write(*args, **kwargs)

    module.atomic_write_json = slow_write  # in this forked child only
    folder = RunFolder(path)
    barrier.wait(30)  # both writers start together
    for i in range(n):
        folder.write_status("running", **{f"{key}{i}": i})  # a new field each time


def test_concurrent_status_writers_never_lose_each_others_fields(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.create({})
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_write_many, args=(str(folder.path), k, 150, barrier))
             for k in "ab"]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    status = json.loads(folder.file(STATUS).read_text())
    lost = [f"{k}{i}" for k in "ab" for i in range(150) if f"{k}{i}" not in status]
    assert lost == []  # no writer's update was overwritten by the other's stale copy


def test_a_poll_never_overwrites_the_trainers_final_status(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run")
    folder.create({})
    mark_running(folder, 2**22)  # a pid that no longer runs

    def trainer_finishes_meanwhile(tail, exit_code=None):
        # between the poll's read and its write, the trainer writes its own final state
        status = json.loads(folder.file(STATUS).read_text())
        atomic_write_json(folder.file(STATUS), {**status, "state": "finished"})
        return "process ended without a final status"

    monkeypatch.setattr(liveness, "failure_reason", trainer_finishes_meanwhile)
    settled = settle(folder.path, exit_code=0)
    assert settled["state"] == "finished"
    assert json.loads(folder.file(STATUS).read_text())["state"] == "finished"


# --------------------------------------------------------------------------- F21: no recreation


def test_polls_cancels_and_status_writes_never_recreate_a_deleted_folder(runs_dir):
    folder = RunFolder(runs_dir / "gone")
    folder.create({})
    atomic_write_json(folder.file(STATUS), {"state": "created", "updated": 0})
    import shutil

    shutil.rmtree(folder.path)
    assert poll(folder.path).state == "failed"
    assert read_state(folder.path)["state"] == "failed"
    cancel(folder.path, grace=0.1, wait=True)
    with pytest.raises(FileNotFoundError):
        folder.write_status("stopped")
    with pytest.raises(FileNotFoundError):
        folder.request_stop()
    assert not folder.path.exists()


# --------------------------------------------------------------------------- F24: exact liveness


def test_liveness_matches_the_run_dir_argument_exactly_not_as_a_substring(runs_dir):
    demo, demo2 = RunFolder(runs_dir / "demo"), RunFolder(runs_dir / "demo2")
    demo.create({})
    demo2.create({})
    proc = sleeper("train", "--run-dir", str(demo2.path))
    try:
        for folder in (demo, demo2):
            mark_running(folder, proc.pid)
        assert is_alive(demo2.path)
        assert not is_alive(demo.path)  # "…/demo" is a prefix of "…/demo2": not the same run
    finally:
        proc.kill()
        proc.wait()


def test_liveness_resolves_a_relative_run_dir_against_the_process_folder(runs_dir):
    folder = RunFolder(runs_dir / "rel")
    folder.create({})
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "train", "--run-dir=rel"],
        cwd=runs_dir,
    )
    try:
        mark_running(folder, proc.pid)
        assert is_alive(folder.path)
    finally:
        proc.kill()
        proc.wait()


def test_delete_refuses_a_run_of_another_host_a_live_run_and_a_locked_folder(runs_dir):
    remote = finished_run(runs_dir, "remote")
    mark_running(remote, 1, host="elsewhere")
    with pytest.raises(Busy, match="belongs to host 'elsewhere'"):
        delete(runs_dir, "remote")
    assert remote.path.exists()

    local = finished_run(runs_dir, "local")
    with RunFolder(local.path).lock():  # a `recsys train` just started in it
        with pytest.raises(Busy, match="in use by a trainer"):
            delete(runs_dir, "local")
    assert local.path.exists()

    live = finished_run(runs_dir, "live")
    proc = sleeper("train", "--run-dir", str(live.path))
    try:
        mark_running(live, proc.pid)
        with pytest.raises(Busy, match="still running"):
            delete(runs_dir, "live")
    finally:
        proc.kill()
        proc.wait()
    delete(runs_dir, "local")
    assert not local.path.exists()


# --------------------------------------------------------------------------- F19 / F20: names, argv


def test_run_names_with_a_trailing_newline_are_refused(runs_dir):
    for bad in ("x\n", "demo\n", "a\r", "a\x00"):
        with pytest.raises(ValueError, match="not a run name"):
            run_path(runs_dir, bad)
    assert run_path(runs_dir, "demo.2_x-y").name == "demo.2_x-y"


@pytest.mark.parametrize("column", ["user\x00id", "user\nid"])
def test_a_nul_or_newline_in_an_argument_is_refused_before_any_folder_exists(runs_dir, column):
    source = {"kind": "upload", "interactions": "i.csv", "items": "t.csv",
              "mapping": {"user": column}}  # fmt: skip
    with pytest.raises(ValueError, match="cannot start training: argument .* holds"):
        launch(runs_dir, source, TrainConfig(device="cpu"))
    assert [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == []
    check_argv(["train", "--column=user=id"])  # a plain argument passes


def test_a_launch_whose_process_cannot_start_leaves_no_folder(runs_dir, tmp_path):
    with pytest.raises(OSError):
        launch(runs_dir, {"kind": "sample"}, TrainConfig(device="cpu"),
               program=[str(tmp_path / "no-such-python")])  # fmt: skip
    assert [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == []


# --------------------------------------------------------------------------- F23: JSON shapes


def test_json_files_of_the_wrong_shape_read_as_absent_not_as_a_crash(runs_dir):
    folder = finished_run(runs_dir, "odd")
    finished_run(runs_dir, "fine")
    folder.file(STATUS).write_text("[1]")
    folder.file(CONFIG).write_text("[]")
    folder.file(METRICS).write_text('"best"')
    folder.file(LAUNCH).write_text('{"config": [1], "device": 5, "dataset": ["x"]}')
    assert read_status(folder.path)["state"] == "failed"
    assert folder.read_config() == {} and folder.read_metrics() == {}
    names = {r["name"]: r for r in list_runs(runs_dir)}
    assert set(names) == {"odd", "fine"} and names["odd"]["config"] == {}
    rows = {r["run"]: r for r in history(runs_dir)}
    assert rows["odd"]["state"] == "failed" and rows["odd"]["dataset"] == ""
    assert poll(folder.path).state == "failed"
    atomic_write_json(folder.file(STATUS), {"state": "finished", "pid": "x", "updated": "soon",
                                            "epoch": [2], "message": 3})  # fmt: skip
    status = read_status(folder.path)
    assert status["state"] == "finished" and "updated" not in status and "pid" not in status
    atomic_write_json(folder.file(CONFIG), {"epochs": "many", "model": 3, "batch_size": "x"})
    assert history(runs_dir)
    estimate_epoch(runs_dir, 100, TrainConfig(device="cpu"), 0.0)


def test_truncated_item_embeddings_read_as_absent(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.save_item_embeddings(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    data = folder.file(EMBEDDINGS).read_bytes()
    for path in folder.path.rglob("item_embeddings*.npy"):
        os.chmod(path, 0o644)
        path.write_bytes(data[: len(data) // 2])  # hard links: the generation file is cut too
    assert folder.load_item_embeddings() is None
    (folder.path / best.MANIFEST).write_text("[]")
    best.remove(folder.path)
    folder.file("item_ids.json").write_text('{"a": 1}')
    np.save(folder.file(EMBEDDINGS), np.eye(1))
    assert folder.load_item_embeddings() is None


# --------------------------------------------------------------------------- F22: generations


def tensors(value: float) -> dict:
    return {"model.user.weight": torch.full((2, 2), value), "model.user.bias": torch.zeros(2)}


def test_a_crash_before_the_manifest_keeps_the_previous_generation_whole(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run")
    folder.save_best(tensors(1.0), {"best_epoch": 1}, np.ones((3, 2)), ["a", "b", "c"])
    real = atomic.atomic_write_json

    def crash(path, obj, mkdir=True):
        if str(path).endswith(best.MANIFEST):
            raise KeyboardInterrupt("killed before the commit")
        real(path, obj, mkdir)

    monkeypatch.setattr(best, "atomic_write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        folder.save_best(tensors(2.0), {"best_epoch": 2}, np.full((3, 2), 2.0), ["a", "b", "c"])
    monkeypatch.undo()
    found = folder.load_best()
    assert found.generation == 1 and found.meta["best_epoch"] == 1
    assert (found.vectors == 1).all() and float(found.tensors["model.user.weight"][0, 0]) == 1.0
    assert folder.load_checkpoint(best=True)[1]["generation"] == 1
    assert len(list((folder.path / best.GENERATIONS).iterdir())) == 6  # gen 2 written, not named
    (folder.path / ".last.safetensors.x1.tmp").write_bytes(b"half")
    folder.sweep()
    assert len(list((folder.path / best.GENERATIONS).iterdir())) == 3
    assert not list(folder.path.rglob("*.tmp"))
    assert folder.load_best().generation == 1
    folder.save_best(tensors(3.0), {"best_epoch": 3}, np.full((3, 2), 3.0), ["a", "b", "c"])
    found = folder.load_best()
    assert found.generation == 2 and (found.vectors == 3).all()
    assert folder.file(EMBEDDINGS).samefile(best.generation_files(folder.path, 2)[1])


def test_a_reader_racing_a_commit_gets_one_whole_generation(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run")
    folder.save_best(tensors(1.0), {"best_epoch": 1}, np.ones((3, 2)), ["a", "b", "c"])
    real_read = best._read
    calls = []

    def read_then_commit(*args, **kwargs):
        if not calls:  # a new generation lands while the reader is between its two reads
            calls.append(1)
            folder.save_best(tensors(2.0), {"best_epoch": 2}, np.full((3, 2), 2.0), list("abc"))
        return real_read(*args, **kwargs)

    monkeypatch.setattr(best, "_read", read_then_commit)
    found = folder.load_best()
    assert found.generation == 2 and (found.vectors == 2).all()
    assert float(found.tensors["model.user.weight"][0, 0]) == 2.0
