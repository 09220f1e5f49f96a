"""``torchrun --nproc_per_node 2 -m recsys train``: two gloo processes on the CPU, a tiny BERT.

Each torchrun run is a real launch (a rendezvous on loopback, two Python processes); about 20 s
each on the 2-core CPU, hence ``slow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from recsys.lm.distributed import Distributed
from recsys.runs.folder import RunFolder
from tests.lm_fixtures import tiny_model_dir

REPO = Path(__file__).resolve().parents[2]
needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch built without gloo"
)


def train_args(tmp_path: Path, run_dir: Path, batch_size: int, steps: int = 3) -> list[str]:
    return ["train", "--data", "sample", "--run-dir", str(run_dir), "--regime", "adapter",
            "--model", str(tiny_model_dir(tmp_path)), "--epochs", "1", "--max-steps", str(steps),
            "--batch-size", str(batch_size), "--threads", "1", "--device", "cpu"]  # fmt: skip


def torchrun(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "recsys", *args, "--ddp-backend", "gloo"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def model_tensors(run_dir: Path) -> dict:
    found = RunFolder(run_dir).load_checkpoint()
    assert found is not None
    return {k: v for k, v in found[0].items() if k.startswith("model.")}


def distance(a: dict, b: dict) -> float:
    return sum(float(((a[k] - b[k]).double() ** 2).sum()) for k in a) ** 0.5


@pytest.mark.slow
@needs_gloo
def test_two_processes_train_like_one_process_on_the_global_batch(tmp_path):
    from recsys.cli import main

    ddp_dir, single_dir, half_dir = tmp_path / "ddp", tmp_path / "single", tmp_path / "half"
    done = torchrun(train_args(tmp_path, ddp_dir, batch_size=16, steps=10))
    assert done.returncode == 0, done.stderr[-4000:]
    # the reference: one process, a batch as large as the two ranks' together
    assert main(train_args(tmp_path, single_dir, batch_size=32, steps=10)) == 0

    run = RunFolder(ddp_dir)
    status = run.read_status()
    assert status["state"] == "finished" and status["step"] == 10
    assert "2 processes (gloo)" in status["device"]
    assert run.read_config()["processes"] == 2
    # one set of outputs: every step logged once, one start, one epoch, one best generation
    assert [r["step"] for r in run.progress("step")] == [10]  # logged every 10 steps
    assert [r["message"] for r in run.progress("event")].count(
        "started: adapter on " + status["device"]) == 1  # fmt: skip
    assert len(run.progress("epoch")) == 1
    assert done.stderr.count("finished: best epoch 1; run folder") == 1  # rank 0 alone reports
    assert len(list((ddp_dir / "gen").iterdir())) == len(list((single_dir / "gen").iterdir()))
    assert not [p.name for p in ddp_dir.iterdir() if p.name.endswith(".tmp")]
    best = run.load_best()
    assert best is not None and best.vectors.shape[0] == run.read_config()["items"]
    vectors, ids = run.load_item_embeddings()
    assert vectors.shape == best.vectors.shape and len(ids) == len(vectors)

    # Each rank trained on its own half of every global batch, gradients averaged, negatives
    # gathered: the weights equal one process's on the whole batch, up to float rounding (which
    # Adam's first steps blow up to ~lr where a gradient is ~0: a few elements). Had both ranks
    # trained on the same pairs, the run would be one on 16-pair batches, far from this.
    assert main(train_args(tmp_path, half_dir, batch_size=16, steps=10)) == 0
    ddp, single, half = (model_tensors(d) for d in (ddp_dir, single_dir, half_dir))
    assert ddp.keys() == single.keys()
    for key in ddp:
        gap = np.abs(ddp[key].numpy() - single[key].numpy())
        assert (gap > 1e-5).mean() < 0.01 and gap.max() < 2e-3, key
    assert distance(ddp, single) < 0.02 * distance(half, single)
    losses = [r["loss"] for r in run.progress() if r.get("kind") in ("step", "epoch")]
    reference = [r["loss"] for r in RunFolder(single_dir).progress()
                 if r.get("kind") in ("step", "epoch")]  # fmt: skip
    assert len(losses) == 2 and np.allclose(losses, reference, atol=1e-4)


@pytest.mark.slow
@needs_gloo
def test_a_stop_file_stops_both_processes(tmp_path):
    run_dir = tmp_path / "run"
    RunFolder(run_dir).create({"dataset": "sample shop"})  # as the dashboard's launcher does
    RunFolder(run_dir).request_stop()  # cancelled before it started
    done = torchrun(train_args(tmp_path, run_dir, batch_size=16), timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]  # no rank was left waiting
    run = RunFolder(run_dir)
    assert run.read_status()["state"] == "stopped"
    assert run.progress("step") == []
    assert run.read_config()["dataset"] == "sample shop"


@pytest.mark.slow
@needs_gloo
def test_a_locked_folder_fails_every_rank_with_the_reason(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunFolder(run_dir).lock():  # another trainer holds the folder
        done = torchrun(train_args(tmp_path, run_dir, batch_size=16), timeout=180)
    assert done.returncode != 0
    assert "in use by another process" in done.stderr  # and no rank was left waiting
    assert not (run_dir / "status.json").exists()


@pytest.mark.parametrize("n_pairs", [64, 70, 65])
def test_shards_partition_every_global_batch(n_pairs):
    order = np.random.default_rng(3).permutation(n_pairs)
    ranks = [Distributed(r, 2, r, 2, "gloo") for r in range(2)]
    steps = -(-n_pairs // 32)
    seen = []
    for k in range(steps):
        parts = [rank.shard(order, k, 16) for rank in ranks]
        assert parts[0][1] == parts[1][1] == [len(parts[0][0]), len(parts[1][0])]
        assert not set(parts[0][0]) & set(parts[1][0])  # disjoint within a step
        glued = np.concatenate([parts[0][0], parts[1][0]])
        if k < steps - 1 or n_pairs % 32 >= 2:
            assert list(glued) == list(order[k * 32 : (k + 1) * 32])  # one process's batch
        seen.extend(glued)
    assert sorted(set(seen)) == list(range(n_pairs))  # the epoch covered, every pair
    assert len(seen) == max(n_pairs, (steps - 1) * 32 + 2)  # topped up only below 2 pairs
