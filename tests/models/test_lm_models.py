"""The language-model recommenders' own pieces: band blending, holdout, content pooling, lm."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models import TrainData, make_model
from recsys.models.base import standardise
from recsys.models.blend import Blend, blend_scores
from recsys.models.hybrid import Hybrid, random_holdout
from recsys.models.lm import _max_cosine, profile_cosine
from tests.lm_fixtures import tiny_model_dir


def test_standardise_is_per_band_and_constant_bands_are_zero():
    scores = np.array([[10.0, 20.0, 1.0, 3.0, 5.0, 5.0]], dtype=np.float32)
    groups = np.array([0, 0, 1, 1, 2, 2], dtype=np.int8)
    z = standardise(scores, groups)
    np.testing.assert_allclose(z, [[-1, 1, -1, 1, 0, 0]], atol=1e-6)


def test_blend_gives_cold_items_lm_score_only_and_keeps_exclusions():
    groups = np.array([0, 1, 2], dtype=np.int8)
    z_cf = np.array([[1.0, -np.inf, 0.0]], dtype=np.float32)
    z_lm = np.array([[2.0, 2.0, 2.0]], dtype=np.float32)
    out = blend_scores(
        z_cf, z_lm, groups, Blend(weights=(0.5, 1.0, 2.0), offsets=(0.0, -1.0, -3.0))
    )
    assert out[0, 0] == 1.0 + 1.0
    assert np.isneginf(out[0, 1])
    assert out[0, 2] == 2.0 * 2.0 - 3.0


def test_random_holdout_keeps_one_training_row_per_user_and_is_seeded():
    m = sp.random(30, 40, density=0.2, format="csr", random_state=0, dtype=np.float32)
    m.data[:] = 1
    fit, held = random_holdout(m, 0.2, seed=1)
    assert (fit + held - m).nnz == 0 and fit.multiply(held).nnz == 0
    assert (np.diff(fit.indptr) >= np.minimum(np.diff(m.indptr), 1)).all()
    again, _ = random_holdout(m, 0.2, seed=1)
    assert (again != fit).nnz == 0


def test_content_profiles_mean_and_max():
    vectors = np.eye(3, dtype=np.float32)
    history = sp.csr_matrix(np.array([[1, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(profile_cosine(history, vectors), [[0.7071, 0.7071, 0]], atol=1e-4)
    np.testing.assert_allclose(_max_cosine(history, vectors), [[1, 1, 0]])


def test_hybrid_tunes_a_blend_and_splits_into_parts(tmp_path, block_matrix):
    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    lm_params = dict(model=str(tiny_model_dir(tmp_path)), dim=16, epochs=2, cache_dir=None)
    model = Hybrid(lm_params=lm_params, holdout=0.25).fit(TrainData(block_matrix, text))
    assert isinstance(model.blend_, Blend) and len(model.blend_.offsets) == 3
    lexical = model.parts(np.arange(2), block_matrix[:2])["content"]  # the lexical term
    assert (lexical[:, model.groups_ == 0] == 0).all()  # head items: collaborative + LM only
    users = np.arange(4)
    parts = model.parts(users, block_matrix[users])
    np.testing.assert_allclose(sum(parts.values()), model.score(users), rtol=1e-5, atol=1e-5)


def test_lm_recommender_writes_a_run_folder(tmp_path, block_matrix):
    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    model = make_model("lm", model=str(tiny_model_dir(tmp_path)), dim=16, epochs=2,
                       cache_dir=None, run_dir=tmp_path / "run")  # fmt: skip
    model.fit(TrainData(block_matrix, text))
    assert model.score(np.arange(3)).shape == (3, 12)
    assert (tmp_path / "run" / "best.safetensors").exists()


def test_tail_affinity_and_rare_items_holdout():
    from recsys.models.blend import tail_affinity
    from recsys.models.hybrid import rare_items_holdout

    groups = np.array([0, 1, 2, 1], dtype=np.int8)
    history = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.float32))
    np.testing.assert_allclose(tail_affinity(history, groups), [0.5, 0.0, 0.0])
    fit = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]], np.float32))
    held = sp.csr_matrix((3, 4), dtype=np.float32)
    fit2, held2 = rare_items_holdout(fit, held, share=1.0, seed=0)
    assert (fit2 + held2 - fit).nnz == 0
    assert fit2[:, [1, 3]].nnz == 0 and fit2[:, 0].nnz == 3  # rare items moved, popular kept


def test_lm_band_neutral_ranking_standardises_each_popularity_band(tmp_path, block_matrix):
    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    model = make_model("lm", model=str(tiny_model_dir(tmp_path)), dim=16, epochs=1,
                       cache_dir=None, debias="band")  # fmt: skip
    model.fit(TrainData(block_matrix, text))
    scores = model.score(np.arange(3))
    for band in np.unique(model.groups_):
        cols = scores[:, model.groups_ == band]
        if cols.shape[1] > 1 and cols.std() > 0:
            np.testing.assert_allclose(cols.mean(axis=1), 0.0, atol=1e-4)
            np.testing.assert_allclose(cols.std(axis=1), 1.0, atol=1e-3)
    model.debias = 0.0
    raw = model.score(np.arange(3))
    assert not np.allclose(raw, scores)


def test_lm_band_neutral_honours_the_data_pages_head_rule(tmp_path, block_matrix):
    """Regression: ``debias="band"`` used a fixed top-20% head whatever the rule. Items 0-9 all
    have 8 training positives: the top 20% would put 3 of them in the head, a threshold of 9
    puts none there, so all ten are one band standardised together."""
    from recsys.data import popularity

    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    model = make_model("lm", model=str(tiny_model_dir(tmp_path)), dim=16, epochs=1,
                       cache_dir=None, debias="band", head_rule="threshold",
                       head_value=9)  # fmt: skip
    model.fit(TrainData(block_matrix, text))
    counts = np.asarray(block_matrix.sum(axis=0)).ravel()
    expected = popularity.groups(counts, "threshold", 9)
    assert not (expected == popularity.HEAD).any()
    np.testing.assert_array_equal(model.groups_, expected)
    scores = model.score(np.arange(3))[:, :10]  # the ten seen items: one tail band
    np.testing.assert_allclose(scores.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(scores.std(axis=1), 1.0, atol=1e-3)
    default = make_model("lm", debias="band")  # the default rule is unchanged: top 20%
    assert (default.head_rule, default.head_value) == ("top_share", None)


def test_lm_refuses_an_unknown_head_rule():
    import pytest

    with pytest.raises(ValueError, match="head/tail rule"):
        make_model("lm", debias="band", head_rule="top_half")


def test_user_features_and_offsets_move_slots_per_user():
    from recsys.models.blend import offsets, user_features

    groups = np.array([0, 1, 2], dtype=np.int8)
    history = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0]], np.float32))
    np.testing.assert_allclose(user_features(history, groups), [[0.5, np.log(3)], [0, np.log(2)]])
    features = np.array([[1.0, 2.0], [-1.0, 0.0]], np.float32)
    blend = Blend(
        offsets=(0.0, -1.0, -2.0), tail_slopes=(0.0, 1.0, 0.5), length_slopes=(0.0, 0.0, 1.0)
    )
    np.testing.assert_allclose(offsets(groups, blend, features, 2),
                               [[0, 0, 0.5], [0, -2, -2.5]])  # fmt: skip


def test_lm_rejects_an_unknown_debias_mode():
    import pytest

    with pytest.raises(ValueError, match="debias"):
        make_model("lm", debias="popular")


def test_hybrid_retune_does_not_depend_on_earlier_budgets(block_matrix):
    text = ["red apple song"] * 5 + ["blue sky film"] * 5 + ["red apple movie", "blue sky movie"]
    model = Hybrid(lm="tfidf", holdout=0.25, random_trials=40).fit(TrainData(block_matrix, text))
    first = model.blend_
    model.retune(0.5)
    model.retune(0.08)
    assert model.blend_ == first


def test_blend_copies_with_one_value_changed_and_names_its_fields():
    blend = Blend(weights=(0.0, 0.5, 1.0))
    moved = blend.with_value("offsets", 2, -3)
    assert moved.offsets == (0.0, 0.0, -3.0) and moved.weights == blend.weights
    assert blend.offsets == (0.0, 0.0, 0.0)  # frozen: the original is unchanged
    assert moved.to_dict() == {"weights": [0.0, 0.5, 1.0], "offsets": [0.0, 0.0, -3.0],
                               "tail_slopes": [0.0] * 3, "length_slopes": [0.0] * 3}  # fmt: skip


def test_random_blend_draws_in_the_order_of_the_box():
    """Regression: the typed Blend must draw choices, then ranges, in the box's order, as the
    dict blends did (the same seed gives the same 400 random trials, so the same tuned blend)."""
    from recsys.models.blend_search import random_blend

    blend = random_blend(np.random.default_rng(0))
    assert blend.weights == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(blend.offsets, (0.0, -3.7951323803190267, -6.884306551300297))
    np.testing.assert_array_equal(blend.tail_slopes, (0.0, 2.4398107176008175, 4.563777886388609))
    np.testing.assert_array_equal(
        blend.length_slopes, (0.0, 0.8199073273015396, 1.9179862439359936)
    )
