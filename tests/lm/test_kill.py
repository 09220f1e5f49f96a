"""SIGKILL the trainer at 20 seeded random moments: every run folder left behind still loads.

The training runs in a helper process that forks a child per trial (:mod:`tests.lm.killing`);
after each kill it snapshots the run folder, and this test reads every snapshot back with the
library's own readers: the status is a known state and not alive, the progress log, metrics and
run listing read, a committed best model (``best.json``) has its checkpoint, vectors and ids of
one generation and of this run, the last checkpoint belongs to this run, a sweep removes the
killed writers' temp files without touching the committed model, and finally an unkilled child
resumes the folder the kills left and finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.lm import checkpoints
from recsys.lm.config import FinetuneConfig
from recsys.runs import best as best_model
from recsys.runs.folder import STATES, RunFolder, list_runs, read_status
from recsys.runs.history import history
from recsys.runs.liveness import read_state
from tests.lm.killing import ITEM_IDS, config
from tests.lm.test_finetune import toy_matrix
from tests.lm_fixtures import tiny_model_dir

REPO = Path(__file__).resolve().parents[2]
TRIALS, SEED = 20, 14


def expected_fingerprint(model: Path) -> dict:
    cfg: FinetuneConfig = config(model, epochs=1)
    return checkpoints.fingerprint(toy_matrix(), toy_matrix(seed=1), ITEM_IDS, cfg)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_readable_consistent_folder(tmp_path):
    model = tiny_model_dir(tmp_path)  # built here, so the forking helper runs no tensor code
    done = subprocess.run(
        [sys.executable, "-m", "tests.lm.killing", str(tmp_path), str(SEED), str(TRIALS)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert not [r for r in lines if "child_error" in r], lines
    trials = [r for r in lines if "trial" in r]
    assert len(trials) == TRIALS and all(r["killed"] for r in trials), trials
    assert lines[-1] == {"final_exit": 0}, lines[-1]
    fingerprint = expected_fingerprint(model)
    seen = {"best": 0, "last": 0, "tmp": 0}
    for trial in range(TRIALS):
        check_snapshot(tmp_path / f"trial-{trial:02d}", fingerprint, seen)
    assert seen["best"] >= 5 and seen["last"] >= 5, seen  # the kills hit training, not startup
    final = RunFolder(tmp_path / "run")
    assert final.read_status()["state"] == "finished"
    assert final.load_best().meta["fingerprint"] == fingerprint
    assert not list(final.path.rglob("*.tmp"))  # the survivor swept what the kills left
    generation = best_model.manifest(final.path)["generation"]
    linked = best_model.generation_files(final.path, generation)[1]
    assert (final.path / best_model.EMBEDDINGS).samefile(linked)


def check_snapshot(path: Path, fingerprint: dict, seen: dict) -> None:
    folder = RunFolder(path)
    status = read_status(path)
    assert status["state"] in STATES and not status["alive"], (path.name, status)
    assert read_state(path)["state"] in ("created", "failed", "finished", "stopped"), path.name
    assert [r["name"] for r in list_runs(path.parent) if r["name"] == path.name] == [path.name]
    assert any(row["run"] == path.name for row in history(path.parent))
    assert all(isinstance(r, dict) for r in folder.progress())
    assert isinstance(folder.read_metrics(), dict)
    seen["tmp"] += bool(list(path.rglob("*.tmp")))
    manifest = best_model.manifest(path)
    if manifest is not None:
        seen["best"] += 1
        best = folder.load_best()
        assert best is not None, path.name
        assert best.generation == manifest["generation"] == best.meta["generation"]
        assert best.meta["best_epoch"] == manifest["epoch"] and best.ids == ITEM_IDS
        assert best.vectors.shape == (len(ITEM_IDS), 16) and np.isfinite(best.vectors).all()
        assert best.meta["fingerprint"] == fingerprint
        assert "model.user.weight" in best.tensors
    last = folder.load_checkpoint()
    if last is not None:
        seen["last"] += 1
        assert last[1]["fingerprint"] == fingerprint and isinstance(last[1]["step"], int)
    folder.sweep()
    assert not list(path.rglob("*.tmp")), path.name
    if manifest is not None:
        again = folder.load_best()
        assert again.generation == manifest["generation"]
        assert np.array_equal(again.vectors, best.vectors)
        assert folder.load_item_embeddings()[1] == ITEM_IDS
