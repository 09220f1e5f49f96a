"""Candidate lists and the three tail-boost re-rankers, on synthetic scores with known structure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import popularity
from recsys.evaluation.metrics import HEAD
from recsys.whatif import rerank as rr
from recsys.whatif import scorers

N_USERS, N_ITEMS, K = 40, 300, 10


def random_case(seed: int, n_candidates: int = 60, tail_reserve: int = 15):
    """Random history, popularity-skewed counts and two random score parts."""
    rng = np.random.default_rng(seed)
    history = sp.random(N_USERS, N_ITEMS, density=0.05, format="csr", random_state=seed)
    history.data[:] = 1.0
    counts = rng.zipf(1.6, N_ITEMS).clip(max=500)
    counts[rng.choice(N_ITEMS, 20, replace=False)] = 0  # cold items
    groups = popularity.groups(counts)
    collab = rng.normal(size=(N_USERS, N_ITEMS)).astype(np.float32) + 0.01 * counts
    content = rng.random((N_USERS, N_ITEMS)).astype(np.float32)

    def scorer(users, h):
        return {"collaborative": collab[users], "content": content[users]}

    cands = rr.build_candidates(scorer, history, counts, groups, n_candidates, tail_reserve)
    return cands, history, collab + content


def tail_counts(cands: rr.Candidates, ranked: rr.Reranked) -> np.ndarray:
    """(U, k) cumulative number of tail items in each prefix of each list."""
    return np.cumsum(np.take_along_axis(cands.tail, ranked.slots, axis=1), axis=1)


# --- candidates ----------------------------------------------------------------------------------


def test_candidates_exclude_history_and_are_sorted_by_base():
    cands, history, _ = random_case(0)
    assert cands.items.shape == (N_USERS, 60)
    for u in range(N_USERS):
        assert not set(cands.items[u]) & set(history[u].indices)
        assert len(set(cands.items[u])) == 60
    assert (np.diff(cands.base, axis=1) <= 0).all()


def test_parts_sum_to_base_and_each_list_spans_one():
    cands, _, _ = random_case(1)
    assert np.allclose(cands.parts["collaborative"] + cands.parts["content"], cands.base, atol=1e-6)
    span = cands.base.max(axis=1) - cands.base.min(axis=1)
    assert np.allclose(span, 1.0, atol=1e-5)


def test_rank_is_the_position_in_a_full_sort_of_unseen_items():
    cands, history, total = random_case(2)
    for u in (0, 7, 39):
        scores = total[u].copy()
        scores[history[u].indices] = -np.inf
        full = np.argsort(-scores, kind="stable")
        expected = {int(i): r + 1 for r, i in enumerate(full)}
        assert [expected[int(i)] for i in cands.items[u]] == cands.rank[u].tolist()


def test_reserve_keeps_slots_for_the_best_tail_items():
    cands, history, total = random_case(3, n_candidates=60, tail_reserve=15)
    for u in range(N_USERS):
        scores = total[u].copy()
        scores[history[u].indices] = -np.inf
        order = np.argsort(-scores, kind="stable")
        top = set(order[:45])
        tail_rest = [i for i in order[45:] if cands.groups[i] != HEAD][:15]
        assert set(cands.items[u]) == top | set(tail_rest)


def test_cold_items_enter_through_the_content_part():
    # The collaborative part never scores a cold item; only the content part can bring one in.
    history = sp.csr_matrix(np.eye(4, 20, dtype=np.float32))
    counts = np.r_[np.full(16, 5), np.zeros(4, dtype=int)]
    groups = popularity.groups(counts)
    collab = np.tile(np.r_[np.linspace(1, 0.5, 16), np.zeros(4)], (4, 1))
    content = np.tile(np.r_[np.zeros(16), np.full(4, 2.0)], (4, 1))
    scorer = scorers.blend_parts(
        {
            "collaborative": (StaticModel(collab), 1.0),
            "content": (StaticModel(content), 1.5),  # outweighs the best collaborative item
        }
    )
    cands = rr.build_candidates(scorer, history, counts, groups, n_candidates=5, tail_reserve=0)
    assert set(cands.items[0][:4]) == {16, 17, 18, 19}
    assert (cands.parts["collaborative"][:, :4] == 0).all()


def test_blend_scales_each_part_by_the_users_best_unseen_score():
    history = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 3))
    scorer = scorers.blend_parts({"a": (StaticModel(np.array([[10.0, 4.0, 2.0]])), 0.5)})
    parts = scorer(np.array([0]), history)["a"]
    assert np.allclose(parts, 0.5 * np.array([[10.0, 4.0, 2.0]]) / 4.0)


class StaticModel:
    """A stand-in Recommender with fixed scores per user."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float32)

    def score(self, users, history=None):
        return self.scores[np.asarray(users)].copy()


# --- re-rankers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(rr.STRATEGIES))
def test_boost_zero_returns_the_original_order(strategy):
    cands, _, _ = random_case(4)
    ranked = rr.rerank(cands, strategy, 0.0, K)
    assert (ranked.slots == np.arange(K)).all()
    assert (ranked.items == cands.items[:, :K]).all()
    assert np.allclose(ranked.boost, 0.0)


@pytest.mark.parametrize("strategy", ["penalty", "target"])
def test_larger_boost_never_lowers_tail_share(strategy):
    # Property over random inputs: per user and per prefix, not just on average.
    grid = np.linspace(0, 1, 21)
    for seed in range(8):
        cands, _, _ = random_case(100 + seed)
        counts = [tail_counts(cands, rr.rerank(cands, strategy, b, K)) for b in grid]
        for before, after in zip(counts, counts[1:], strict=False):
            assert (after[:, -1] >= before[:, -1]).all(), f"seed {seed}"


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.75, 1.0])
def test_target_share_met_in_every_prefix_when_enough_tail_exists(share):
    cands, _, _ = random_case(5, n_candidates=60, tail_reserve=20)  # >= 20 tail candidates each
    assert (cands.tail.sum(axis=1) >= K).all()
    ranked = rr.rerank(cands, "target", share, K)
    need = rr.min_tail(K, share)[1:]  # prefixes 1..K
    assert (tail_counts(cands, ranked) >= need).all()
    assert (tail_counts(cands, ranked)[:, -1] / K >= np.floor(share * K) / K).all()


def test_target_keeps_score_order_within_head_and_within_tail():
    cands, _, _ = random_case(6)
    ranked = rr.rerank(cands, "target", 0.6, K)
    tail = np.take_along_axis(cands.tail, ranked.slots, axis=1)
    for u in range(N_USERS):
        for group in (tail[u], ~tail[u]):
            assert (np.diff(ranked.slots[u][group]) > 0).all()


def test_penalty_orders_by_base_plus_boost():
    cands, _, _ = random_case(7)
    ranked = rr.rerank(cands, "penalty", 0.4, K)
    scores = ranked.scores(cands)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    expected = 0.4 * np.take_along_axis(cands.unpopularity, ranked.slots, axis=1)
    assert np.allclose(ranked.boost, expected)


def test_xquad_matches_a_hand_computed_list():
    # One user, history half tail (P(tail|u) = 0.5); candidates: head 1.0, head 0.9, tail 0.0.
    counts = np.array([10, 9, 1, 0])
    groups = np.array([HEAD, HEAD, popularity.TAIL, popularity.COLD], dtype=np.int8)
    cands = rr.Candidates(
        items=np.array([[0, 1, 2]]),
        parts={"collaborative": np.array([[1.0, 0.9, 0.0]], dtype=np.float32)},
        rank=np.array([[1, 2, 3]]),
        groups=groups,
        counts=counts,
        history_tail_share=np.array([0.5]),
    )
    # lambda 0.5. Step 1: head 0.5*1 + 0.5*0.5 = 0.75, 0.45 + 0.25 = 0.7, tail 0 + 0.25 = 0.25.
    # Step 2 (S = {head}): head 0.45 + 0.5*0.5*0 = 0.45; tail 0 + 0.5*0.5*1 = 0.25 -> head.
    # Step 3: tail, the only one left: 0.25 * (1 - 0) = 0.25.
    ranked = rr.rerank(cands, "xquad", 0.5, 3)
    assert ranked.slots.tolist() == [[0, 1, 2]]
    assert np.allclose(ranked.boost, [[0.75 - 1.0, 0.45 - 0.9, 0.25 - 0.0]])
    # lambda 0.9: step 2 compares head 0.1*0.9 = 0.09 with tail 0.9*0.5 = 0.45 -> tail first.
    assert rr.rerank(cands, "xquad", 0.9, 3).slots.tolist() == [[0, 2, 1]]


def test_min_tail_is_floor_of_share_times_prefix():
    assert rr.min_tail(5, 0.5).tolist() == [0, 0, 1, 1, 2, 2]
    assert rr.min_tail(3, 0.0).tolist() == [0, 0, 0, 0]
    assert rr.min_tail(10, 0.3)[10] == 3  # not 2 from 0.3 * 10 = 2.9999999999999996


def test_bad_arguments_are_refused():
    cands, _, _ = random_case(8)
    with pytest.raises(ValueError, match="unknown strategy"):
        rr.rerank(cands, "magic", 0.5, K)
    with pytest.raises(ValueError, match=r"boost must be in \[0, 1\]"):
        rr.rerank(cands, "penalty", 1.5, K)


# --- trade-off -----------------------------------------------------------------------------------


def test_tradeoff_has_a_row_per_strategy_and_boost_and_agrees_at_zero():
    cands, history, _ = random_case(9)
    picked = cands.items[:, [0, 5, 30]]  # (U, 3) held-out items at candidate slots 0, 5, 30
    rows = np.repeat(np.arange(N_USERS), 3)
    holdout = sp.csr_matrix((np.ones(rows.size), (rows, picked.ravel())), shape=(N_USERS, N_ITEMS))
    table = rr.tradeoff(cands, holdout, K, boosts=[0.0, 0.5, 1.0])
    assert len(table) == 3 * len(rr.STRATEGIES)
    at_zero = table[table["boost"] == 0.0].drop(columns="strategy")
    assert (at_zero.nunique() == 1).all()
    row = table.iloc[0]
    assert row[f"recall@{K}"] == pytest.approx(2 / 3)  # items at slots 0 and 5 are in the top 10
    target = table[table["strategy"] == "target"].set_index("boost")[f"aplt@{K}"]
    assert target[1.0] == pytest.approx(1.0)


def test_candidates_with_ties_match_a_full_stable_sort_in_any_batch():
    """Top-k by partition (issue 14 F6): ranks and reserve as a full stable sort, ties by index."""
    rng = np.random.default_rng(5)
    history = sp.random(N_USERS, N_ITEMS, density=0.05, format="csr", random_state=5)
    history.data[:] = 1.0
    counts = rng.zipf(1.6, N_ITEMS).clip(max=500)
    groups = popularity.groups(counts)
    total = np.round(rng.random((N_USERS, N_ITEMS)) * 4).astype(np.float32)  # five values: ties

    def scorer(users, h):
        return {"collaborative": total[users]}

    whole = rr.build_candidates(scorer, history, counts, groups, 30, 10)
    small = rr.build_candidates(scorer, history, counts, groups, 30, 10, batch=7)
    np.testing.assert_array_equal(whole.items, small.items)
    np.testing.assert_array_equal(whole.rank, small.rank)
    for u in range(N_USERS):
        scores = total[u].copy()
        scores[history[u].indices] = -np.inf
        order = np.argsort(-scores, kind="stable")
        rank = {int(i): r + 1 for r, i in enumerate(order)}
        tail_rest = [i for i in order[20:] if groups[i] != HEAD][:10]
        assert set(whole.items[u]) == set(order[:20]) | set(tail_rest)
        assert [rank[int(i)] for i in whole.items[u]] == whole.rank[u].tolist()


def test_candidates_in_a_cold_scope_hold_only_new_items(block_matrix):
    from recsys.models import TrainData
    from recsys.models.scope import CandidateScope

    text = ["space ship"] * 5 + ["love kiss"] * 5 + ["space sequel", "kiss"]
    counts = np.asarray(block_matrix.sum(axis=0)).ravel()
    groups = popularity.groups(counts)
    scorer = scorers.fit_scorer("tfidf", TrainData(block_matrix, text))
    scope = CandidateScope("cold").mask(block_matrix)
    cands = rr.build_candidates(scorer, block_matrix, counts, groups, scope=scope)
    assert cands.items.shape == (20, 2)  # capped to the two new items
    assert np.isin(cands.items, [10, 11]).all()
    assert (cands.rank <= 2).all()  # ranked among the in-scope items
    with pytest.raises(ValueError, match="at least one item"):
        rr.build_candidates(scorer, block_matrix, counts, groups, scope=np.zeros(12, bool))


# --- a sample of users ---------------------------------------------------------------------------


def test_candidates_for_a_sample_are_the_full_builds_rows():
    cands, history, _ = random_case(5)
    rng = np.random.default_rng(5)
    collab = rng.normal(size=(N_USERS, N_ITEMS)).astype(np.float32)
    calls = []

    def scorer(users, h):
        calls.append(np.asarray(users).copy())
        return {"collaborative": collab[users]}

    full = rr.build_candidates(scorer, history, cands.counts, cands.groups, 60, 15)
    calls.clear()
    users = np.array([3, 17, 31])
    some = rr.build_candidates(scorer, history, cands.counts, cands.groups, 60, 15, users=users)
    assert np.concatenate(calls).tolist() == [3, 17, 31]  # only the sample is scored
    assert some.users.tolist() == [3, 17, 31] and some.n_users == 3
    np.testing.assert_array_equal(some.items, full.items[users])
    np.testing.assert_array_equal(some.rank, full.rank[users])
    np.testing.assert_allclose(some.parts["collaborative"], full.parts["collaborative"][users])
    np.testing.assert_allclose(some.history_tail_share, full.history_tail_share[users])
    assert some.row(17) == 1 and some.row(4) is None and full.row(4) == 4
    for strategy in rr.STRATEGIES:  # a user's re-ranked list does not depend on the others
        np.testing.assert_array_equal(
            rr.rerank(some, strategy, 0.5, K).items, rr.rerank(full, strategy, 0.5, K).items[users]
        )


def test_metrics_of_a_sample_are_over_its_users_only():
    cands, history, _ = random_case(6)
    holdout = sp.random(N_USERS, N_ITEMS, density=0.02, format="csr", random_state=6)
    holdout.data[:] = 1.0

    def scorer(users, h):
        return {"collaborative": np.tile(cands.counts.astype(np.float32), (len(users), 1))}

    users = rr.user_sample(holdout, 10, seed=1)
    assert users is not None and len(users) == 10 and (np.diff(users) > 0).all()
    assert (np.diff(holdout.indptr)[users] > 0).all()  # only users a metric counts
    np.testing.assert_array_equal(users, rr.user_sample(holdout, 10, seed=1))
    assert rr.user_sample(holdout, N_USERS) is None  # small enough: every user
    full = rr.build_candidates(scorer, history, cands.counts, cands.groups, 60, 15)
    some = rr.build_candidates(scorer, history, cands.counts, cands.groups, 60, 15, users=users)
    got = rr.list_metrics(rr.rerank(some, "penalty", 0.0, K).items, some, holdout, K)
    want = rr.list_metrics(
        rr.rerank(full, "penalty", 0.0, K).items[users],
        dataclasses.replace(full, users=None),
        holdout[users],
        K,
    )
    assert got == want
    assert got != rr.list_metrics(rr.rerank(full, "penalty", 0.0, K).items, full, holdout, K)


@pytest.mark.parametrize("users", [np.array([], dtype=int), np.array([0, N_USERS]), [-1]])
def test_a_bad_user_sample_is_refused(users):
    cands, history, _ = random_case(7)
    with pytest.raises(ValueError, match="users must be positions"):
        rr.build_candidates(
            lambda u, h: {"x": np.zeros((len(u), N_ITEMS), np.float32)},
            history,
            cands.counts,
            cands.groups,
            users=np.asarray(users),
        )
