"""The fine-tuning loop on a tiny random BERT: learning, cooperative stop, resume, crash safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.lm.config import FinetuneConfig, resolve_regime
from recsys.lm.finetune import finetune
from recsys.runs import atomic
from recsys.runs.folder import LAST, RunFolder, read_status
from tests.lm_fixtures import tiny_model_dir

# Text decides preference: "red" users like red items, "blue" users like blue items. The last two
# items are cold (no positive at all): only their text can place them.
TEXTS = [f"red apple {w}" for w in ("song", "film", "war", "star", "love", "kiss")] + [
    f"blue sky {w}" for w in ("song", "film", "war", "star", "love", "kiss")
]
TEXTS += ["red apple movie", "blue sky movie"]
RED, BLUE, COLD_RED, COLD_BLUE = range(0, 6), range(6, 12), 12, 13


def toy_matrix(n_users: int = 24, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(n_users):
        liked = RED if u % 2 == 0 else BLUE
        for i in rng.choice(list(liked), size=4, replace=False):
            rows.append(u)
            cols.append(int(i))
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, 14))


def config(tmp_path, **overrides) -> FinetuneConfig:
    base = dict(model=str(tiny_model_dir(tmp_path)), regime="top-1", epochs=6, batch_size=16,
                lr=1e-2, lm_lr=1e-3, dim=16, max_length=16, cache_dir=None, device="cpu",
                log_every=1, patience=100, seed=0)  # fmt: skip
    return FinetuneConfig(**{**base, **overrides})


@pytest.mark.parametrize("regime", ["top-1", "full", "adapter"])
def test_loss_falls_and_text_places_cold_items(tmp_path, regime):
    records = []
    result = finetune(toy_matrix(), TEXTS, config(tmp_path, regime=regime, epochs=8),
                      callback=records.append)  # fmt: skip
    losses = [r["loss"] for r in records if r["kind"] == "epoch"]
    assert len(losses) == 8 and losses[-1] < losses[0]
    scores = result.score(toy_matrix())
    red_users, blue_users = scores[0::2], scores[1::2]
    assert (red_users[:, COLD_RED] > red_users[:, COLD_BLUE]).mean() > 0.9
    assert (blue_users[:, COLD_BLUE] > blue_users[:, COLD_RED]).mean() > 0.9
    step = next(r for r in records if r["kind"] == "step")
    assert {"step", "epoch", "loss", "lr", "samples_per_s", "eta_s"} <= set(step)


def test_bce_loss_also_trains(tmp_path):
    records = []
    finetune(toy_matrix(), TEXTS, config(tmp_path, regime="adapter", loss="bce", epochs=4),
             callback=records.append)  # fmt: skip
    losses = [r["loss"] for r in records if r["kind"] == "epoch"]
    assert losses[-1] < losses[0]


def test_validation_metrics_each_epoch_and_best_checkpoint(tmp_path):
    run = RunFolder(tmp_path / "run")
    train, val = toy_matrix(), toy_matrix(seed=1)
    finetune(train, TEXTS, config(tmp_path, epochs=2), validation=val, run=run)
    epochs = run.progress("epoch")
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"recall@20", "tail_recall@20", "cold_recall@20"} <= set(epochs[0]["validation"])
    assert run.read_status()["state"] == "finished"
    assert run.read_metrics()["best_epoch"] in (1, 2)
    vectors, ids = run.load_item_embeddings()
    assert vectors.shape == (14, 16) and ids == [str(i) for i in range(14)]
    tensors, meta = run.load_checkpoint(best=True)
    assert "model.user.weight" in tensors and meta["regime"] == "top-1"


def test_stop_flag_ends_within_one_step_with_a_consistent_folder(tmp_path):
    run, stop = RunFolder(tmp_path / "run"), threading.Event()

    def on_progress(record):
        if record["kind"] == "step" and record["step"] == 2:
            stop.set()

    result = finetune(toy_matrix(), TEXTS, config(tmp_path), run=run, callback=on_progress,
                      should_stop=stop)  # fmt: skip
    assert result.stopped
    assert max(r["step"] for r in run.progress("step")) == 2
    assert run.read_status()["state"] == "stopped"
    _, meta = run.load_checkpoint()
    assert meta["step"] == 2


def test_stop_file_is_honoured(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.create({})
    run.request_stop()
    result = finetune(toy_matrix(), TEXTS, config(tmp_path), run=run, resume=True)
    assert result.stopped and run.read_status()["state"] == "stopped"
    assert run.progress("step") == []


def test_resume_continues_from_the_checkpoint(tmp_path):
    run, stop = RunFolder(tmp_path / "run"), threading.Event()
    cfg = config(tmp_path, epochs=2)
    finetune(toy_matrix(), TEXTS, cfg, run=run, should_stop=stop,
             callback=lambda r: r.get("step") == 3 and stop.set())  # fmt: skip
    records = []
    result = finetune(toy_matrix(), TEXTS, cfg, run=run, callback=records.append)
    assert not result.stopped
    steps = [r["step"] for r in records if r["kind"] == "step"]
    assert steps == list(range(4, 13))  # 96 pairs / 16 = 6 steps an epoch, 2 epochs
    assert any("resumed at step 3" in r.get("message", "") for r in records)
    assert run.load_checkpoint()[1]["step"] == 12
    assert run.read_status()["state"] == "finished"


def test_a_crash_while_checkpointing_leaves_a_readable_folder(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=1), run=run)
    before = run.load_checkpoint()[1]["step"]
    real_replace = atomic.os.replace

    def crash(src, dst):
        if str(dst).endswith(LAST):
            raise KeyboardInterrupt("killed mid-write")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=2), run=run)
    assert run.load_checkpoint()[1]["step"] == before
    assert run.read_status()["state"] == "failed"  # "running" with no live process behind it
    assert run.progress() and run.read_metrics()["best_epoch"] >= 1
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_regimes_resolve():
    import torch

    assert resolve_regime("auto", torch.device("cpu")) == "adapter"
    assert resolve_regime("auto", torch.device("cuda")) == "full"
    assert resolve_regime("top-2", torch.device("cpu")) == "top-2"
    with pytest.raises(ValueError):
        resolve_regime("top-0", torch.device("cpu"))


def test_train_subcommand_writes_a_run_folder_and_resumes_after_stop(tmp_path):
    from recsys.cli import main

    run_dir = tmp_path / "run"
    model = str(tiny_model_dir(tmp_path))
    argv = ["train", "--data", "sample", "--run-dir", str(run_dir), "--regime", "adapter",
            "--model", model, "--epochs", "1", "--max-steps", "2"]  # fmt: skip
    RunFolder(run_dir).create({"dataset": "sample shop"})  # as the dashboard's launcher does
    RunFolder(run_dir).request_stop()  # cancelled before it started
    assert main(argv) == 0
    assert read_status(run_dir)["state"] == "stopped"
    assert main(argv) == 0  # the same command resumes; the stale STOP no longer applies
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["step"] == 2
    config = RunFolder(run_dir).read_config()
    assert config["dataset"] == "sample shop" and config["regime"] == "adapter"
    assert RunFolder(run_dir).load_item_embeddings()[0].shape[0] == config["items"]


def test_train_never_sees_the_protocols_validation_or_test_pairs():
    import argparse

    from recsys.data.sources import load_sample
    from recsys.evaluation.protocol import Protocol, prepare
    from recsys.lm.train_cli import _matrices

    data = load_sample()
    args = argparse.Namespace(threshold=4.0, validation_fraction=0.1, test_fraction=0.2,
                              split_seed=0)  # fmt: skip
    train, held, index = _matrices(data, args)
    exp = prepare(data, Protocol(split="temporal", seed=0))  # what the pages and evaluate use
    assert list(index.item_ids) == list(exp.index.item_ids)
    assert list(index.user_ids) == list(exp.index.user_ids)
    for unseen in (exp.tuning.holdout, exp.final.holdout):
        assert train.multiply(unseen).nnz == 0 and held.multiply(unseen).nnz == 0
    # training + epoch holdout is exactly the protocol's training minus validation
    assert ((train + held) != exp.tuning.train).nnz == 0
    assert held.nnz > 0
