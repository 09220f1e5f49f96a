"""Run folders: a tolerant progress log, status with crash detection, checkpoints."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from recsys.runs.atomic import atomic_write_json
from recsys.runs.folder import (
    LAST,
    PROGRESS,
    STATUS,
    RunFolder,
    append_progress,
    list_runs,
    read_progress,
)


def test_progress_log_skips_a_torn_last_line(tmp_path):
    path = tmp_path / PROGRESS
    append_progress(path, {"kind": "step", "step": 1})
    append_progress(path, {"kind": "epoch", "epoch": 1})
    with open(path, "ab") as fh:
        fh.write(b'{"kind": "step", "st')  # the process died mid-line
    assert [r["kind"] for r in read_progress(path)] == ["step", "epoch"]
    assert read_progress(path, "epoch")[0]["epoch"] == 1
    assert "time" in read_progress(path)[0]
    assert read_progress(tmp_path / "missing.jsonl") == []


def test_status_of_a_dead_running_process_reads_failed(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.create({"regime": "adapter"})
    folder.write_status("running", epoch=1)
    assert folder.read_status()["state"] == "running"
    assert folder.read_status()["alive"]
    status = json.loads(folder.file(STATUS).read_text())
    atomic_write_json(folder.file(STATUS), {**status, "pid": 2**22})
    assert folder.read_status()["state"] == "failed"
    with pytest.raises(ValueError):
        folder.write_status("exploded")


def test_checkpoint_round_trip_is_safetensors_with_metadata(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.load_checkpoint() is None
    folder.save_checkpoint({"w": torch.arange(6.0).view(2, 3)}, {"epoch": 3, "best": 0.1})
    tensors, meta = folder.load_checkpoint()
    assert torch.equal(tensors["w"], torch.arange(6.0).view(2, 3))
    assert meta == {"epoch": 3, "best": 0.1}
    assert folder.file(LAST).read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_item_embeddings_and_stop_file(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.save_item_embeddings(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    vectors, ids = folder.load_item_embeddings()
    assert vectors.shape == (3, 3) and ids == ["a", "b", "c"]
    assert not folder.stop_requested()
    folder.request_stop()
    assert folder.stop_requested()
    folder.create({})  # a (re)start clears a stale STOP
    assert not folder.stop_requested()


def test_list_runs_newest_first_with_best_metrics(tmp_path):
    for name, best in (("old", 0.1), ("new", 0.2)):
        folder = RunFolder(tmp_path / name)
        folder.create({"name": name})
        folder.write_metrics({"best": {"recall@20": best}})
        folder.write_status("finished")
    (tmp_path / "not-a-run").mkdir()
    listed = list_runs(tmp_path)
    assert [r["name"] for r in listed] == ["new", "old"]
    assert listed[0]["best"] == {"recall@20": 0.2} and listed[0]["state"] == "finished"
    assert list_runs(tmp_path / "nowhere") == []
    assert os.path.isdir(listed[0]["path"])
