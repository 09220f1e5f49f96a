"""The hybrid's candidate path: lists drawn from candidates, scored as the whole catalogue would."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import memory
from recsys.models.als import ALS
from recsys.models.base import TrainData, exclude, top_k
from recsys.models.candidates import CandidatePool, candidate_recall, part_scores
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.itemknn import ItemKNN
from recsys.models.memory import MemoryBudget
from recsys.models.tfidf import TfidfRecommender

WORDS = [f"w{i}" for i in range(30)]


def shop(n_users: int = 240, n_items: int = 300, seed: int = 0) -> TrainData:
    """Users in 6 taste groups; each group likes items whose text carries its 5 words; a
    popular head of 30 items everyone takes; item text = its group's words plus noise."""
    rng = np.random.default_rng(seed)
    item_group = rng.integers(6, size=n_items)
    user_group = rng.integers(6, size=n_users)
    p = np.where(user_group[:, None] == item_group[None, :], 0.08, 0.004)
    p[:, :30] += 0.15
    x = sp.csr_matrix((rng.random((n_users, n_items)) < p).astype(np.float32))
    text = [
        " ".join([*rng.choice(WORDS[5 * g : 5 * g + 5], 3), *rng.choice(WORDS, 2)])
        for g in item_group
    ]
    return TrainData(x, text)


def fitted(data: TrainData, pool: CandidatePool | None, **kw) -> Hybrid:
    return Hybrid(cf="itemknn", lm="tfidf", random_trials=8, candidate_pool=pool, **kw).fit(data)


@pytest.fixture(scope="module")
def data() -> TrainData:
    return shop()


@pytest.fixture(scope="module")
def forced(data) -> Hybrid:
    # every band sampled whole: the candidates' scores are exactly the whole-catalogue ones
    return fitted(data, CandidatePool(mode="on", per_user=60, band_sample=10**6))


def test_forced_on_draws_lists_only_from_each_users_candidates(forced, data):
    users = np.arange(data.n_users)
    items, values = forced.recommend(users, 10)
    candidates = forced.generator_.candidates(data.matrix[users]).tolil()
    for row in users:
        listed = items[row][items[row] >= 0]
        assert len(listed) == 10
        assert set(listed) <= set(candidates.rows[row])


def test_forced_on_lists_match_exact_scoring_within_the_candidates(forced, data):
    users = np.arange(data.n_users)
    items, values = forced.recommend(users, 10)
    full = forced.score(users)  # (U, I), the whole-catalogue hybrid score
    exclude(full, data.matrix)
    np.testing.assert_allclose(np.take_along_axis(full, items, axis=1), values, atol=1e-4)
    within = np.where(forced.generator_.candidates(data.matrix).toarray(), full, -np.inf)
    _, best = top_k(within, 10)
    np.testing.assert_allclose(values, best, atol=1e-4)  # the same top-10 scores, in order


def test_candidates_keep_most_of_the_exact_top_20_where_exact_fits(forced, data):
    users = np.arange(data.n_users)
    full = forced.score(users)
    exclude(full, data.matrix)
    exact, _ = top_k(full, 20)
    recall = candidate_recall(exact, forced.generator_.candidates(data.matrix))
    assert recall >= 0.8, recall  # 60 of 300 items per user hold most of the exact top-20


def test_sampled_band_statistics_stay_close_to_exact_ones(data):
    exact = fitted(data, CandidatePool(mode="on", per_user=60, band_sample=10**6))
    pool = CandidatePool(mode="on", per_user=60, band_sample=40)
    sampled = fitted(data, pool, blend=exact.blend_)  # the same blend: only the statistics differ
    users = np.arange(data.n_users)
    a, _ = sampled.recommend(users, 10)
    b, _ = exact.recommend(users, 10)
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)])
    assert overlap >= 0.6, overlap


def test_below_the_threshold_the_default_path_is_unchanged(data):
    default = fitted(data, None)
    off = fitted(data, CandidatePool(mode="off"))
    assert not default.pool_used_ and not hasattr(default, "generator_")
    assert "every item scored" in default.describe()
    users = np.arange(data.n_users)
    a, va = default.recommend(users, 20)
    b, vb = off.recommend(users, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(va, vb)
    assert default.blend_ == off.blend_


def test_auto_switches_on_past_the_threshold_and_describe_says_so(data):
    model = fitted(data, CandidatePool(threshold=data.n_items - 1, per_user=60))
    assert model.pool_used_
    items, _ = model.recommend(np.arange(5), 10)
    line = model.describe()
    assert "collaborative part itemknn" in line and "lists drawn from candidates" in line
    assert "60 asked per user" in line and "candidates scored per user over 5 users" in line
    assert CandidatePool().used(100_000) is False and CandidatePool().used(100_001) is True


def test_a_scope_mask_keeps_candidate_lists_inside_it(forced, data):
    scope = np.zeros(data.n_items, dtype=bool)
    scope[100:] = True
    items, values = forced.recommend(np.arange(20), 10, candidates=scope)
    assert (items[np.isfinite(values)] >= 100).all()


@pytest.mark.parametrize(
    "model", [ItemKNN(k=20), TfidfRecommender(), ALS(factors=4, iterations=2), EASE()]
)
def test_part_scores_equal_the_models_own_scores(model, data):
    model.fit(data)
    users = np.arange(12)
    full = model.score(users)
    rng = np.random.default_rng(0)
    cells = rng.integers(-1, data.n_items, size=(12, 9))
    got = part_scores(model, users, data.matrix[users], cells)
    expected = np.where(cells >= 0, np.take_along_axis(full, np.maximum(cells, 0), axis=1), 0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    shared = np.array([0, 7, 150])
    np.testing.assert_allclose(
        part_scores(model, users, data.matrix[users], shared), full[:, shared], atol=1e-5
    )


def test_candidate_pool_refuses_bad_values():
    with pytest.raises(ValueError, match="mode"):
        CandidatePool(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="per_user"):
        CandidatePool(per_user=2)
    sources = CandidatePool(per_user=500).sources()
    assert (sources.collaborative, sources.text, sources.text_tail) == (200, 200, 100)


@pytest.mark.parametrize("pool", [CandidatePool(mode="off"), CandidatePool(mode="on", per_user=60)])
def test_the_refit_reuses_tfidf_and_gives_the_lists_a_recomputed_one_gives(pool, data, monkeypatch):
    fits = []
    real_fit = TfidfRecommender.fit

    def counted(self, d):
        fits.append(d.matrix.nnz)
        return real_fit(self, d)

    monkeypatch.setattr(TfidfRecommender, "fit", counted)
    reused = fitted(data, pool)
    assert len(fits) == 1  # fitted once on the inner holdout, kept for the refit
    assert reused.lm_.train_ is reused.train_  # pointed at the full training matrix
    assert reused.cf_.train_.nnz == data.matrix.nnz  # the collaborative part is refitted
    monkeypatch.setattr(Hybrid, "_text_only", lambda self: (None, None))
    recomputed = fitted(data, pool)
    assert len(fits) == 3  # without the reuse: the inner fit, then the refit
    users = np.arange(data.n_users)
    a, va = reused.recommend(users, 20)
    b, vb = recomputed.recommend(users, 20)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(va, vb)


def test_tuning_on_the_tuned_users_neighbour_rows_only_changes_nothing(data, monkeypatch):
    pool = CandidatePool(mode="on", per_user=60)
    rows_asked = []
    real = ItemKNN.fit_rows

    def spy(self, d, rows):
        rows_asked.append(len(rows))
        return real(self, d, rows)

    monkeypatch.setattr(ItemKNN, "fit_rows", spy)
    with memory.using(MemoryBudget(300_000)):  # ItemKNN on its sparse route, which fits rows
        restricted = fitted(data, pool, cf_params={"k": 20})
        monkeypatch.setattr(Hybrid, "_tune_rows", lambda self, fit, held: None)
        whole = fitted(data, pool, cf_params={"k": 20})
    assert len(rows_asked) == 1 and 0 < rows_asked[0] < data.n_items  # the inner fit only
    assert restricted.cf_.route_ == "sparse"
    assert restricted.blend_ == whole.blend_
    assert restricted.random_trials_ == whole.random_trials_
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(restricted.recommend(users, 20)[0], whole.recommend(users, 20)[0])


def test_the_refit_reuses_the_lexical_tfidf_next_to_another_text_part(data, monkeypatch):
    fits = []
    real_fit = TfidfRecommender.fit

    def counted(self, d):
        fits.append(d.matrix.nnz)
        return real_fit(self, d)

    monkeypatch.setattr(TfidfRecommender, "fit", counted)
    # mostpop stands in for a text part fitted on interactions (the LM): refitted, not kept
    reused = Hybrid(cf="itemknn", lm="mostpop", random_trials=8).fit(data)
    assert len(fits) == 1 and reused.lexical_.train_ is reused.train_
    assert reused.lm_.train_.nnz == data.matrix.nnz  # the other text part is refitted
    monkeypatch.setattr(Hybrid, "_text_only", lambda self: (None, None))
    recomputed = Hybrid(cf="itemknn", lm="mostpop", random_trials=8).fit(data)
    assert len(fits) == 3
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(
        reused.recommend(users, 20)[0], recomputed.recommend(users, 20)[0]
    )
