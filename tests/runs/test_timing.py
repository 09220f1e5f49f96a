"""A run's progress and ETA, and time per epoch estimated before launch."""

from __future__ import annotations

import pytest

from recsys.runs import timing
from recsys.runs.folder import RunFolder
from recsys.runs.launch import TrainConfig, new_run_id


def test_progress_reads_total_steps_and_eta():
    steps = [
        {"kind": "step", "step": 10, "epoch": 1, "total_steps": 40, "eta_s": 75, "time": 1.0},
        {"kind": "epoch", "epoch": 1, "step": 20, "best": True, "time": 2.0},
        {"kind": "step", "step": 30, "epoch": 2, "total_steps": 40, "eta_s": 75, "time": 3.0},
    ]
    running = timing.progress_of({"state": "running"}, steps, {"epochs": 2})
    assert running.fraction == pytest.approx(0.75)
    assert running.text == "epoch 2/2 · step 30/40 · ETA 1m 15s" and running.best_epoch == 1
    assert timing.progress_of({"state": "finished"}, steps, {"epochs": 2}).fraction == 1.0
    assert timing.progress_of({"state": "created"}, [], {"epochs": 2}).fraction == 0.0


def test_estimate_prefers_speed_measured_on_earlier_runs(runs_dir):
    adapter = TrainConfig(regime="adapter", device="cpu")
    default = timing.estimate_epoch(runs_dir, 55_000, adapter)
    assert default.seconds == pytest.approx(100) and "this CPU" in str(default)
    for batch, rates in ((512, (5000, 900, 1000, 1100)), (64, (10, 110, 110))):
        folder = RunFolder(runs_dir / new_run_id())
        folder.create({"model": None, "batch_size": batch})
        folder.write_status("finished", regime="adapter", device="x on CPU (2 threads)")
        for rate in rates:  # the first, warm-up record is skipped
            folder.log("step", step=1, samples_per_s=rate)
    measured = timing.estimate_epoch(runs_dir, 55_000, adapter, encode_seconds=16)
    assert measured.seconds == pytest.approx(55) and "earlier adapter runs at batch 512" in str(
        measured
    )
    small = timing.estimate_epoch(
        runs_dir, 55_000, TrainConfig(regime="adapter", batch_size=32, device="cpu")
    )
    assert small.seconds == pytest.approx(500)  # the nearest batch size measured: 64
    assert "16s to encode the catalogue once" in str(measured)
    gpu = timing.estimate_epoch(runs_dir, 55_000, TrainConfig(regime="full", device="cuda"))
    assert gpu.seconds is None and "no measured figure for full on cuda:0" in str(gpu)
