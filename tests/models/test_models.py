"""One behavioural suite for every registered model, on the ``block_matrix`` fixture.

Two taste blocks (users 0-9 like items 0-4, users 10-19 like items 5-9), items 10-11 cold, and each
user misses one item of their block: a personalised model must put that item first. Every test is
parametrised over ``MODELS``, so a newly registered model is checked without touching this file.
Model-specific regression tests follow the suite.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import MODELS, TrainData, make_model
from recsys.models.base import top_k
from recsys.models.ease import EASE

# Non-personalised baselines cannot tell the blocks apart; they are exempt from ranking checks only.
NOT_PERSONALISED = {"mostpop"}
BLOCK_TEXT = ["space ship laser robot"] * 5 + ["love letter wedding kiss"] * 5
COLD_TEXT = ["space ship laser robot sequel", "love letter wedding kiss sequel"]


def block_of(user: int) -> np.ndarray:
    return np.arange(0, 5) if user < 10 else np.arange(5, 10)


def held_out(user: int) -> int:
    return int(block_of(user)[user % 5])


def fit(name: str, matrix: sp.csr_matrix, seed: int = 0):
    data = TrainData(matrix=matrix, item_text=BLOCK_TEXT + COLD_TEXT)
    return make_model(name, seed=seed).fit(data)


@pytest.fixture(params=sorted(MODELS))
def name(request) -> str:
    return request.param


def test_scores_have_one_float32_row_per_user(name, block_matrix):
    model = fit(name, block_matrix)
    scores = model.score(np.arange(20))
    assert scores.shape == (20, 12)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()


def test_recommend_returns_sorted_top_k_without_seen_items(name, block_matrix):
    model = fit(name, block_matrix)
    idx, scores = model.recommend(np.arange(20), k=5)
    assert idx.shape == scores.shape == (20, 5)
    assert idx.dtype == np.int64 and scores.dtype == np.float32
    assert (np.diff(scores, axis=1) <= 0).all()
    for u in range(20):
        assert not set(idx[u]) & set(block_matrix[u].indices)
        assert len(set(idx[u])) == 5


def test_k_larger_than_catalogue_is_capped(name, block_matrix):
    idx, _ = fit(name, block_matrix).recommend(np.arange(3), k=50, exclude_seen=False)
    assert idx.shape == (3, 12)


def test_held_out_item_ranks_above_other_block(name, block_matrix):
    if name in NOT_PERSONALISED:
        pytest.skip(f"{name} is not personalised")
    model = fit(name, block_matrix)
    scores = model.score(np.arange(20))
    for u in range(20):
        other = np.setdiff1d(np.arange(10), block_of(u))
        assert scores[u, held_out(u)] > scores[u, other].max()
    idx, _ = model.recommend(np.arange(20), k=1)
    assert idx[:, 0].tolist() == [held_out(u) for u in range(20)]


def test_same_seed_same_scores(name, block_matrix):
    first = fit(name, block_matrix, seed=3).score(np.arange(20))
    second = fit(name, block_matrix, seed=3).score(np.arange(20))
    np.testing.assert_array_equal(first, second)


def test_history_scores_users_never_seen(name, block_matrix):
    # Fit without users 0 and 10, then score them from their rows as if they were new.
    keep = np.setdiff1d(np.arange(20), [0, 10])
    model = fit(name, block_matrix[keep])
    history = block_matrix[[0, 10]]
    unseen = np.array([100, 101])  # ids the model never saw: it must use history, not them
    idx, scores = model.recommend(unseen, k=3, history=history)
    assert idx.shape == (2, 3) and np.isfinite(scores).all()
    assert not set(idx[0]) & set(history[0].indices)
    if name not in NOT_PERSONALISED:
        assert idx[:, 0].tolist() == [held_out(0), held_out(10)]


def test_history_of_known_users_matches_their_training_rows(name, block_matrix):
    model = fit(name, block_matrix)
    users = np.arange(0, 20, 3)
    np.testing.assert_allclose(
        model.score(users), model.score(users, history=block_matrix[users]), rtol=1e-5, atol=1e-6
    )


def test_empty_history_gives_finite_scores(name, block_matrix):
    model = fit(name, block_matrix)
    empty = sp.csr_matrix((2, 12), dtype=np.float32)
    idx, scores = model.recommend(np.array([100, 101]), k=4, history=empty)
    assert idx.shape == (2, 4) and np.isfinite(scores).all()


# --- model-specific regressions ------------------------------------------------------------------


def test_unknown_model_or_parameter_is_a_value_error():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ValueError, match="'ease'"):
        make_model("ease", bogus=1)


def test_every_model_declares_a_grid_of_its_own_parameters():
    for name in MODELS:
        model = make_model(name)
        for param, values in type(model).param_grid.items():
            assert values, f"{name}.{param} has an empty grid"
            make_model(name, **{param: values[0]})  # accepted by the constructor


def test_tfidf_reaches_cold_items_by_text(block_matrix):
    scores = fit("tfidf", block_matrix).score(np.arange(20))
    assert (scores[:10, 10] > scores[:10, 11]).all()  # block-0 users: the block-0 sequel
    assert (scores[10:, 11] > scores[10:, 10]).all()


@pytest.mark.parametrize("name", ["itemknn", "ease"])
def test_collaborative_models_score_cold_items_zero(name, block_matrix):
    scores = fit(name, block_matrix).score(np.arange(20))
    np.testing.assert_array_equal(scores[:, 10:], 0.0)


def test_ease_primal_and_dual_agree(block_matrix):
    data = TrainData(matrix=block_matrix, item_text=[""] * 12)
    primal = EASE(lambda_=5.0, solver="primal").fit(data).score(np.arange(20))
    dual = EASE(lambda_=5.0, solver="dual").fit(data).score(np.arange(20))
    np.testing.assert_allclose(primal, dual, rtol=1e-4, atol=1e-5)


def test_itemknn_keeps_k_neighbours_per_item(block_matrix):
    model = fit("itemknn", block_matrix)
    model_k2 = make_model("itemknn", k=2).fit(TrainData(block_matrix, [""] * 12))
    assert np.diff(model_k2.sim_.indptr).max() == 2
    assert model.sim_.diagonal().max() == 0.0  # an item is not its own neighbour


def test_top_k_breaks_ties_by_item_index_across_the_cut():
    # Regression: argpartition kept an arbitrary subset of the items tied at the k-th score,
    # e.g. items 0, 1, 4 of a row of zeros, instead of 0, 1, 2.
    scores = np.zeros((2, 200), dtype=np.float32)
    scores[:, [150, 199]] = 1.0
    idx, vals = top_k(scores, 5)
    assert idx.tolist() == [[150, 199, 0, 1, 2]] * 2
    assert vals[0].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
