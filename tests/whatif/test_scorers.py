"""Score parts: each adapter's parts sum to its model's own score."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import TrainData, make_model
from recsys.models.blend import Blend
from recsys.whatif import scorers

TEXT = ["space ship laser robot"] * 5 + ["love letter wedding kiss"] * 5 + ["space sequel", "kiss"]


def test_hybrid_parts_sum_to_the_hybrid_score(block_matrix):
    data = TrainData(block_matrix, TEXT)
    blend = Blend(weights=(0.5, 1.0, 2.0), offsets=(0.0, 0.25, -0.5))
    model = make_model("hybrid", lm="tfidf", blend=blend).fit(data)
    users = np.arange(20)
    parts = scorers.hybrid_parts(model)(users, block_matrix[users])
    assert set(parts) == {"collaborative", "language_model", "band_offset"}
    total = sum(parts.values())
    assert np.allclose(total, model.score(users), atol=1e-5)
    cold = model.groups_ == 2
    assert (parts["collaborative"][:, cold] == 0).all()  # cold items: language model only


def test_run_language_model_rebuilds_scores_from_the_run_folder(tmp_path, block_matrix):
    torch = pytest.importorskip("torch")
    from recsys.runs.folder import RunFolder

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(12, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.array([f"i{j}" for j in range(12)])
    run = RunFolder(tmp_path / "r1")
    run.save_item_embeddings(vectors[::-1], ids[::-1])  # stored in another order than the catalogue
    weight = np.diag([1.0, 2.0, 0.5, 1.0]).astype(np.float32)
    run.save_checkpoint({"model.user.weight": torch.tensor(weight),
                         "model.user.bias": torch.zeros(4)}, {"epoch": 1}, best=True)  # fmt: skip
    score = scorers.run_language_model(run.path, ids)
    history = block_matrix[:3]
    mean = np.asarray(history @ vectors) / np.asarray(history.sum(axis=1))
    user = mean @ weight.T
    user /= np.linalg.norm(user, axis=1, keepdims=True)
    assert np.allclose(score(np.arange(3), history), user @ vectors.T, atol=1e-5)


def test_run_for_another_catalogue_is_refused(tmp_path):
    from recsys.runs.folder import RunFolder

    run = RunFolder(tmp_path / "r2")
    with pytest.raises(ValueError, match="no item embeddings or best checkpoint"):
        scorers.run_language_model(run.path, np.array(["a"]))


def test_model_parts_names_text_models_by_what_they_read(block_matrix):
    data = TrainData(block_matrix, TEXT)
    users = np.arange(3)
    tfidf = scorers.fit_scorer("tfidf", data)(users, block_matrix[users])
    ease = scorers.fit_scorer("ease", data)(users, block_matrix[users])
    assert list(tfidf) == ["content"] and list(ease) == ["collaborative"]
    blend = scorers.fit_scorer(scorers.BLEND, data)(users, sp.csr_matrix(block_matrix[users]))
    assert list(blend) == ["collaborative", "content"]
    with pytest.raises(ValueError, match="unknown model"):
        scorers.fit_scorer("nope", data)


def hand_made_run(path, ids):
    """A run folder with item vectors and a user map, as ``recsys train`` leaves it."""
    torch = pytest.importorskip("torch")
    from recsys.runs.folder import RunFolder

    vectors = np.random.default_rng(0).normal(size=(len(ids), 4)).astype(np.float32)
    run = RunFolder(path)
    run.save_item_embeddings(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), ids)
    run.save_checkpoint({"model.user.weight": torch.eye(4), "model.user.bias": torch.zeros(4)},
                        {"epoch": 1}, best=True)  # fmt: skip
    return run.path


def test_hybrid_run_choice_is_the_tuned_hybrid_over_the_run_banded_by_the_rule(
    tmp_path, block_matrix
):
    from recsys.models.hybrid import Hybrid

    ids = np.array([f"i{j}" for j in range(12)])
    folder = hand_made_run(tmp_path / "r1", ids)
    data = TrainData(block_matrix, TEXT, ids)
    choice = f"{scorers.HYBRID_RUN_PREFIX}{folder}"
    assert scorers.run_folder(choice) == str(folder) and scorers.scores_cold_items(choice)
    assert not scorers.scores_cold_items("ease") and scorers.scores_cold_items(scorers.BLEND)
    parts = scorers.fit_scorer(choice, data, head_rule="threshold", head_value=8)
    users = np.arange(20)
    got = sum(parts(users, block_matrix).values())
    model = Hybrid(lm="run", lm_params={"run_dir": str(folder)}, head_rule="threshold",
                   head_value=8).fit(data)  # fmt: skip
    assert np.allclose(got, model.score(users), atol=1e-5)
    from recsys.data.popularity import COLD, HEAD

    assert (model.groups_[:10] == HEAD).all()  # 8 positives each: head under threshold 8
    assert (model.groups_[10:] == COLD).all()
    fixed = scorers.make_hybrid(scorers.HYBRID_FROZEN, head_rule="interaction_share")
    assert fixed.lm == "content" and fixed.head_rule == "interaction_share"
    assert fixed.head_value is None  # the rule's own default, not a fixed top 20%
    with pytest.raises(ValueError, match="unknown model"):
        scorers.fit_scorer("run:" + str(folder), data)  # the fixed-weight blend is gone
