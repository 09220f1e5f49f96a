"""Reusing a run folder (review F7, F8, F22, F25): another run's checkpoint is never resumed, one
trainer per folder, the best model is one generation, a missing --model folder is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.lm import checkpoints
from recsys.lm.checkpoints import RunMismatch
from recsys.lm.finetune import finetune
from recsys.runs import atomic, best
from recsys.runs.folder import CONFIG, STATUS, RunFolder, read_status
from recsys.runs.locks import RunLocked
from tests.lm.test_finetune import TEXTS, config, toy_matrix
from tests.lm_fixtures import tiny_model_dir

IDS = [f"i{j}" for j in range(14)]


@pytest.fixture
def trained(tmp_path) -> RunFolder:
    run = RunFolder(tmp_path / "run")
    finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=1), validation=toy_matrix(seed=1),
             run=run, item_ids=IDS)  # fmt: skip
    return run


def folder_bytes(run: RunFolder) -> dict:
    return {p.name: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"train": toy_matrix(seed=7)}, "other interactions"),
        ({"item_ids": [f"x{j}" for j in range(14)]}, "other items"),
        ({"lr": 0.5}, "another config: lr 0.01 there, 0.5 here"),
    ],
)
def test_a_folder_of_another_run_is_not_resumed_and_stays_untouched(tmp_path, trained, change,
                                                                      words):  # fmt: skip
    before = folder_bytes(trained)
    cfg = config(tmp_path, epochs=3, lr=change.get("lr", 1e-2))
    with pytest.raises(RunMismatch, match=words) as refused:
        finetune(change.get("train", toy_matrix()), TEXTS, cfg, validation=toy_matrix(seed=1),
                 run=RunFolder(trained.path), item_ids=change.get("item_ids", IDS))  # fmt: skip
    assert "--fresh" in str(refused.value) and "\n" not in str(refused.value)
    after = folder_bytes(trained)
    after.pop(".lock", None), before.pop(".lock", None)  # the lock file names its last holder
    assert after == before
    assert read_status(trained.path)["state"] == "finished"


def test_more_epochs_is_a_resume_and_resume_false_starts_over(tmp_path, trained):
    records = []
    finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=2), validation=toy_matrix(seed=1),
             run=trained, item_ids=IDS, callback=records.append)  # fmt: skip
    assert any("resumed at step 6" in r.get("message", "") for r in records)
    finetune(toy_matrix(seed=7), TEXTS, config(tmp_path, epochs=1), run=trained,
             item_ids=IDS, resume=False)  # fmt: skip
    assert [e["epoch"] for e in trained.progress("epoch")] == [1]  # the old log went too
    assert (
        trained.load_best().meta["fingerprint"]["data"]
        != checkpoints.fingerprint(toy_matrix(), toy_matrix(seed=1), IDS, config(tmp_path))["data"]
    )


def test_a_failing_resume_is_recorded_as_failed(tmp_path, trained, monkeypatch):
    def broken(trainer):
        raise RuntimeError("size mismatch for user.weight")

    monkeypatch.setattr(checkpoints, "resume", broken)
    with pytest.raises(RuntimeError):
        finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=2), validation=toy_matrix(seed=1),
                 run=trained, item_ids=IDS)  # fmt: skip
    status = read_status(trained.path)
    assert status["state"] == "failed" and "size mismatch" in status["message"]


def test_a_second_trainer_on_the_same_folder_is_refused_before_writing(tmp_path, trained):
    before = trained.file(STATUS).read_bytes()
    with RunFolder(trained.path).lock():  # the first trainer
        with pytest.raises(RunLocked, match="in use by another process"):
            finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=2), run=RunFolder(trained.path),
                     item_ids=IDS)  # fmt: skip
    assert trained.file(STATUS).read_bytes() == before


def test_a_crash_between_vectors_and_checkpoint_keeps_one_generation(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=1), run=run, item_ids=IDS)
    old = run.load_best()  # without validation every epoch is a new best
    real_replace = atomic.os.replace

    def crash(src, dst):
        if "/gen/best-" in str(dst):  # the new vectors and ids are already written
            raise KeyboardInterrupt("killed between the best vectors and their checkpoint")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", crash)
    (run.path / ".metrics.json.abc123.tmp").write_text("{")  # left by an earlier kill
    with pytest.raises(KeyboardInterrupt):
        finetune(toy_matrix(), TEXTS, config(tmp_path, epochs=3), run=run, item_ids=IDS)
    monkeypatch.undo()
    assert not (run.path / ".metrics.json.abc123.tmp").exists()  # swept at start
    assert len(list((run.path / best.GENERATIONS).glob("item_embeddings-*"))) == 2
    found = run.load_best()
    assert found.generation == old.generation == 1 and found.meta["best_epoch"] == 1
    assert np.array_equal(found.vectors, old.vectors)
    assert (
        found.meta["generation"] == json.loads((run.path / best.MANIFEST).read_text())["generation"]
    )
    assert np.array_equal(run.load_item_embeddings()[0], old.vectors)


def test_train_refuses_another_run_unless_fresh_and_leaves_config_alone(tmp_path):
    from recsys.cli import main

    run_dir = tmp_path / "run"
    model = str(tiny_model_dir(tmp_path))
    argv = ["train", "--data", "sample", "--run-dir", str(run_dir), "--regime", "adapter",
            "--model", model, "--epochs", "1", "--max-steps", "2"]  # fmt: skip
    assert main(argv) == 0
    config_before = (run_dir / CONFIG).read_bytes()
    assert main([*argv, "--lr", "0.5"]) == 2
    assert (run_dir / CONFIG).read_bytes() == config_before  # not overwritten before the check
    assert main([*argv, "--lr", "0.5", "--fresh"]) == 0
    assert json.loads((run_dir / CONFIG).read_text())["lr"] == 0.5
    assert RunFolder(run_dir).load_checkpoint()[1]["config"]["lr"] == 0.5
    with RunFolder(run_dir).lock():
        assert main(argv) == 2  # a second trainer


def test_train_messages_name_what_differs(tmp_path, capsys):
    from recsys.cli import main

    run_dir = tmp_path / "run"
    model = str(tiny_model_dir(tmp_path))
    argv = ["train", "--data", "sample", "--run-dir", str(run_dir), "--regime", "adapter",
            "--model", model, "--epochs", "1", "--max-steps", "1"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--validation-fraction", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: run folder") and "other interactions" in err
    assert err.count("\n") == 0
    with RunFolder(run_dir).lock():
        assert main(argv) == 2
    assert "in use by another process" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["/no/such/model", "./missing-model", "a/b/c"])
def test_train_refuses_a_model_path_that_does_not_exist(tmp_path, capsys, model):
    from recsys.cli import main

    run_dir = tmp_path / "run"
    argv = ["train", "--data", "sample", "--run-dir", str(run_dir), "--model", model]
    assert main(argv) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not run_dir.exists()


def test_fingerprint_counts_the_validation_pairs_and_ignores_harmless_fields(tmp_path):
    m = toy_matrix()
    a = checkpoints.fingerprint(m, None, IDS, config(tmp_path))
    assert a["data"] != checkpoints.fingerprint(m, m, IDS, config(tmp_path))["data"]
    b = checkpoints.fingerprint(m, None, IDS, config(tmp_path, epochs=9, device="cuda"))
    assert checkpoints.mismatch(a, b) is None
    assert checkpoints.mismatch(None, a).startswith("its checkpoint carries no fingerprint")
