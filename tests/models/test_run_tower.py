"""A finished run's text tower as a model: the run's own scores, no training, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.lm.finetune import finetune
from recsys.models import TrainData
from recsys.models.lm import RunTower
from recsys.runs.folder import RunFolder
from tests.lm.test_finetune import TEXTS, config, toy_matrix


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run-tower")
    run = RunFolder(tmp / "run")
    ids = np.array([f"i{j}" for j in range(len(TEXTS))], dtype=object)
    result = finetune(toy_matrix(), TEXTS, config(tmp, epochs=2), validation=toy_matrix(seed=1),
                      run=run, item_ids=ids)  # fmt: skip
    return run.path, ids, result


def test_scores_are_the_runs_best_model(finished_run):
    path, ids, result = finished_run
    train = toy_matrix()
    model = RunTower(path).fit(TrainData(train, TEXTS, ids))
    users = np.arange(train.shape[0])
    assert np.allclose(model.score(users), result.score(train), atol=1e-5)


def test_a_catalogue_in_another_order_gets_the_same_items_scores(finished_run):
    path, ids, _ = finished_run
    train = toy_matrix()
    order = np.arange(len(ids))[::-1]
    straight = RunTower(path).fit(TrainData(train, TEXTS, ids)).score(np.arange(4))
    flipped = RunTower(path).fit(TrainData(train[:, order], list(np.array(TEXTS)[order]),
                                           ids[order])).score(np.arange(4))  # fmt: skip
    assert np.allclose(flipped, straight[:, order], atol=1e-5)


def test_other_catalogues_and_unfinished_runs_are_refused(finished_run, tmp_path):
    path, ids, _ = finished_run
    other = ids.copy()
    other[0] = "new item"
    with pytest.raises(ValueError, match="no vectors for 1 of this catalogue's items"):
        RunTower(path).fit(TrainData(toy_matrix(), TEXTS, other))
    RunFolder(tmp_path / "empty").create({"dataset": "x"})
    with pytest.raises(ValueError, match="no item embeddings or best checkpoint"):
        RunTower(tmp_path / "empty").fit(TrainData(toy_matrix(), TEXTS, ids))
    with pytest.raises(ValueError, match="item ids"):
        RunTower(path).fit(TrainData(toy_matrix(), TEXTS, None))


def test_the_hybrid_reads_the_run_instead_of_training_and_takes_the_head_rule(finished_run):
    from recsys.data import popularity
    from recsys.models.hybrid import Hybrid

    path, ids, result = finished_run
    train = toy_matrix()
    hybrid = Hybrid(lm="run", lm_params={"run_dir": path}, head_rule="threshold", head_value=3,
                    random_trials=4).fit(TrainData(train, TEXTS, ids))  # fmt: skip
    assert isinstance(hybrid.lm_, RunTower)
    assert np.allclose(hybrid.lm_.score(np.arange(3)), result.score(train[:3]), atol=1e-5)
    counts = np.asarray(train.sum(axis=0)).ravel().astype(np.int64)
    assert (hybrid.groups_ == popularity.groups(counts, "threshold", 3)).all()
    with pytest.raises(ValueError, match="head/tail rule"):
        Hybrid(head_rule="biggest")  # type: ignore[arg-type]
