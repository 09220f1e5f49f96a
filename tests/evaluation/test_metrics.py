"""Metrics: a hand-computed fixture for every figure, and a cross-check with a slow reference."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation.metrics import (
    COLD,
    HEAD,
    TAIL,
    aplt_at_k,
    arp_at_k,
    coverage_at_k,
    evaluate_by_band,
    evaluate_topk,
    gini,
    hit_matrix,
    hit_rate_at_k,
    ndcg_at_k,
    novelty_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
    relevant_counts,
)

L3 = 1 / math.log2(3)  # 0.630930, discount of rank 2; rank 1 -> 1, rank 3 -> 1/log2(4) = 0.5


def _csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), n_items))


@pytest.fixture
def tiny():
    """6 items: 0-1 head, 2-3 tail, 4-5 cold; train counts 3, 2, 1, 1, 0, 0; 3 users, K = 3.

    u0 top [0, 2, 5], test {2, 5}    -> hits [0, 1, 1]
    u1 top [1, 0, 3], test {1, 3, 4} -> hits [1, 0, 1]
    u2 top [0, 1, 2], test {}        -> ignored for accuracy, still counted in exposure
    """
    top = np.array([[0, 2, 5], [1, 0, 3], [0, 1, 2]])
    test = _csr([[2, 5], [1, 3, 4], []], 6)
    counts = np.array([3, 2, 1, 1, 0, 0])
    groups = np.array([HEAD, HEAD, TAIL, TAIL, COLD, COLD], dtype=np.int8)
    return top, test, counts, groups


# --- every metric by hand ------------------------------------------------------------------------

EXPECTED = {
    # precision: @2 u0 1/2, u1 1/2; @3 u0 2/3, u1 2/3
    "precision@2": 0.5,
    "precision@3": 2 / 3,
    # recall = hits / min(k, |T|): @2 u0 1/2, u1 1/2; @3 u0 2/min(3,2) = 1, u1 2/3 -> 5/6
    "recall@2": 0.5,
    "recall@3": (1 + 2 / 3) / 2,
    # ndcg@2: u0 L3 / (1 + L3) = 0.386853, u1 1 / (1 + L3) = 0.613147 -> mean 0.5
    "ndcg@2": (L3 / (1 + L3) + 1 / (1 + L3)) / 2,
    # ndcg@3: u0 (L3 + 0.5) / (1 + L3) = 0.693426, u1 (1 + 0.5) / (1 + L3 + 0.5) = 0.703923
    "ndcg@3": ((L3 + 0.5) / (1 + L3) + 1.5 / (1.5 + L3)) / 2,
    "hit_rate@2": 1.0,
    "hit_rate@3": 1.0,
    # tail ∪ cold test: u0 {2, 5}, u1 {3, 4}. @2: u0 hits {2} -> 1/2, u1 none -> 0 => 0.25
    # @3: u0 {2, 5} -> 2/min(3,2) = 1, u1 {3} -> 1/2 => 0.75
    "tail_recall@2": 0.25,
    "tail_recall@3": 0.75,
    # cold test: u0 {5}, u1 {4}. @2: none. @3: u0 hits 5 -> 1, u1 0 => 0.5
    "cold_recall@2": 0.0,
    "cold_recall@3": 0.5,
    # non-head slots over all 3 lists: @2 u0 1/2, u1 0, u2 0 -> 1/6; @3 2/3, 1/3, 1/3 -> 4/9
    "aplt@2": 1 / 6,
    "aplt@3": 4 / 9,
    # mean train count per list: @2 (3+1)/2 = 2, (2+3)/2 = 2.5, (3+2)/2 = 2.5 -> 7/3
    # @3: (3+1+0)/3 = 4/3, (2+3+1)/3 = 2, (3+2+1)/3 = 2 -> 16/9
    "arp@2": 7 / 3,
    "arp@3": 16 / 9,
    # distinct items shown / 6: @2 {0, 1, 2} -> 1/2; @3 {0, 1, 2, 3, 5} -> 5/6
    "coverage@2": 0.5,
    "coverage@3": 5 / 6,
    # exposure @2 [3, 2, 1, 0, 0, 0], sorted [0, 0, 0, 1, 2, 3], coef 2i-7 = [-5..5 step 2]:
    # (1*1 + 3*2 + 5*3) / (6 * 6) = 22/36
    "gini@2": 22 / 36,
    # exposure @3 [3, 2, 2, 1, 0, 1], sorted [0, 1, 1, 2, 2, 3]:
    # (-3*1 - 1*1 + 1*2 + 3*2 + 5*3) / (6 * 9) = 19/54
    "gini@3": 19 / 54,
    # p = (count + 1) / (3 users + 1) = [1, 3/4, 1/2, 1/2, 1/4, 1/4];
    # -log2 p = [0, a, 1, 1, 2, 2] with a = log2(4/3) = 0.415037
    # @2: u0 (0 + 1)/2, u1 (a + 0)/2, u2 (0 + a)/2 -> (1/2 + a) / 3
    # @3: u0 (0 + 1 + 2)/3 = 1, u1 (a + 0 + 1)/3, u2 (0 + a + 1)/3 -> (1 + 2(a+1)/3) / 3
    "novelty@2": (0.5 + math.log2(4 / 3)) / 3,
    "novelty@3": (1 + 2 * (math.log2(4 / 3) + 1) / 3) / 3,
    # first hit: u0 rank 2 -> 1/2, u1 rank 1 -> 1 => 0.75
    "mrr": 0.75,
    "n_users": 2.0,
}


def test_evaluate_topk_by_hand(tiny) -> None:
    got = evaluate_topk(*tiny, ks=(2, 3))
    assert set(got) == set(EXPECTED)
    for key, want in EXPECTED.items():
        assert got[key] == pytest.approx(want), key


def test_per_user_functions_by_hand(tiny) -> None:
    top, test, counts, groups = tiny
    hits = hit_matrix(top, test)
    assert hits.tolist() == [[False, True, True], [True, False, True], [False, False, False]]
    n_rel = relevant_counts(test)
    assert n_rel.tolist() == [2, 3, 0]
    assert precision_at_k(hits, 3) == pytest.approx([2 / 3, 2 / 3, 0])
    r = recall_at_k(hits, n_rel, 3)  # u2 has no test items: undefined
    assert r[:2] == pytest.approx([1, 2 / 3]) and np.isnan(r[2])
    assert ndcg_at_k(hits, n_rel, 3)[:2] == pytest.approx([(L3 + 0.5) / (1 + L3), 1.5 / (1.5 + L3)])
    assert hit_rate_at_k(hits, 1).tolist() == [0, 1, 0]
    assert reciprocal_rank(hits).tolist() == [0.5, 1.0, 0.0]
    assert aplt_at_k(top, groups, 1) == 0  # first slots 0, 1, 0 are all head
    assert arp_at_k(top, counts, 1) == pytest.approx(8 / 3)  # (3 + 2 + 3) / 3
    assert coverage_at_k(top, 6, 1) == pytest.approx(2 / 6)
    assert novelty_at_k(top, counts, 3, 1) == pytest.approx(math.log2(4 / 3) / 3)


def test_gini_by_hand() -> None:
    assert gini(np.array([2, 2, 2, 2])) == 0.0  # perfectly equal
    assert gini(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)  # all on one of 4: (n-1)/n
    # sorted [1, 3]: (-1*1 + 1*3) / (2 * 4) = 0.25
    assert gini(np.array([3, 1])) == pytest.approx(0.25)
    assert gini(np.zeros(3)) == 0.0


def test_evaluate_by_band_by_hand(tiny) -> None:
    got = evaluate_by_band(*tiny, ks=(2, 3))
    # head test: u1 {1} at rank 1 -> recall 1, ndcg 1 at both k
    assert got["head"]["recall@2"] == 1 and got["head"]["ndcg@3"] == 1
    assert got["head"]["n_users"] == 1
    # tail test: u0 {2} at rank 2, u1 {3} at rank 3. @2: recall (1 + 0)/2, ndcg (L3 + 0)/2
    assert got["tail"]["recall@2"] == pytest.approx(0.5)
    assert got["tail"]["ndcg@2"] == pytest.approx(L3 / 2)
    assert got["tail"]["hit_rate@2"] == pytest.approx(0.5)
    # @3: both found -> recall 1, ndcg (L3 + 0.5)/2
    assert got["tail"]["recall@3"] == 1 and got["tail"]["ndcg@3"] == pytest.approx((L3 + 0.5) / 2)
    # cold test: u0 {5} at rank 3, u1 {4} missing. @3: recall 1/2, ndcg (0.5 + 0)/2
    assert got["cold"]["recall@2"] == 0
    assert got["cold"]["recall@3"] == pytest.approx(0.5)
    assert got["cold"]["ndcg@3"] == pytest.approx(0.25)
    assert got["cold"]["hit_rate@3"] == pytest.approx(0.5)
    # slots @3 of [0, 2, 5], [1, 0, 3], [0, 1, 2]:
    # head 0,1,0,0,1 = 5/9; tail 2,3,2 = 3/9; cold 5 = 1/9
    assert got["head"]["share@3"] == pytest.approx(5 / 9)
    assert got["tail"]["share@3"] == pytest.approx(3 / 9)
    assert got["cold"]["share@3"] == pytest.approx(1 / 9)


def test_hits_robust_to_messy_csr() -> None:
    # Unsorted indices, a duplicate and an explicit zero must read as the set {3, 1} for user 0.
    m = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 0.0]), np.array([3, 1, 3, 2]), np.array([0, 4])), shape=(1, 5)
    )
    assert hit_matrix(np.array([[1, 2, 3]]), m).tolist() == [[True, False, True]]


def test_input_checks(tiny) -> None:
    top, test, counts, groups = tiny
    with pytest.raises(ValueError, match="list length"):
        evaluate_topk(top, test, counts, groups, ks=(5,))
    with pytest.raises(ValueError, match="outside"):
        evaluate_topk(top + 10, test, counts, groups, ks=(2,))
    with pytest.raises(ValueError, match="shape"):
        evaluate_topk(top[:2], test, counts, groups, ks=(2,))


# --- cross-check against a slow, obvious reference -----------------------------------------------


def _reference(top, test, counts, groups, ks) -> dict[str, float]:
    """Per-user python loops straight from the definitions."""
    n_users, n_items = test.shape
    truth = [set(test[u].indices.tolist()) for u in range(n_users)]
    out: dict[str, float] = {}
    for k in ks:
        lists = [top[u, :k].tolist() for u in range(n_users)]
        acc: dict[str, list[float]] = {m: [] for m in ("p", "r", "n", "h", "t", "c")}
        for lst, rel in zip(lists, truth, strict=True):
            for key, subset in (
                ("t", {i for i in rel if groups[i] != HEAD}),
                ("c", {i for i in rel if groups[i] == COLD}),
            ):
                if subset:
                    acc[key].append(sum(i in subset for i in lst) / min(k, len(subset)))
            if not rel:
                continue
            n_hit = sum(i in rel for i in lst)
            dcg = sum(1 / math.log2(j + 2) for j, i in enumerate(lst) if i in rel)
            idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(rel))))
            acc["p"].append(n_hit / k)
            acc["r"].append(n_hit / min(k, len(rel)))
            acc["n"].append(dcg / idcg)
            acc["h"].append(float(n_hit > 0))
        for key, name in zip(
            "prnhtc",
            ("precision", "recall", "ndcg", "hit_rate", "tail_recall", "cold_recall"),
            strict=True,
        ):
            out[f"{name}@{k}"] = float(np.mean(acc[key])) if acc[key] else float("nan")
        flat = [i for lst in lists for i in lst]
        exposure = [flat.count(i) for i in range(n_items)]
        srt = sorted(exposure)
        g = sum((2 * (j + 1) - n_items - 1) * x for j, x in enumerate(srt))
        out[f"gini@{k}"] = g / (n_items * sum(srt)) if sum(srt) else 0.0
        out[f"aplt@{k}"] = float(np.mean([groups[i] != HEAD for i in flat]))
        out[f"arp@{k}"] = float(np.mean([counts[i] for i in flat]))
        out[f"coverage@{k}"] = len(set(flat)) / n_items
        nov = [-math.log2(min(1.0, (counts[i] + 1) / (n_users + 1))) for i in flat]
        out[f"novelty@{k}"] = float(np.mean(nov))
    rr = []
    for u, rel in enumerate(truth):
        if rel:
            ranks = [j + 1 for j, i in enumerate(top[u].tolist()) if i in rel]
            rr.append(1 / ranks[0] if ranks else 0.0)
    out["mrr"] = float(np.mean(rr))
    out["n_users"] = float(len(rr))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, k_max = 40, 30, 8
    top = np.array([rng.permutation(n_items)[:k_max] for _ in range(n_users)])
    test = sp.random(n_users, n_items, density=0.15, format="csr", random_state=seed)
    test.data[:] = 1.0
    counts = rng.integers(0, n_users, n_items)
    groups = rng.integers(0, 3, n_items).astype(np.int8)
    got = evaluate_topk(top, test, counts, groups, ks=(3, 8))
    want = _reference(top, test, counts, groups, (3, 8))
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], nan_ok=True), key


def test_fast_at_movielens_scale() -> None:
    # 610 users x 9,742 items, ~100k test entries, K = 20: the real ml-latest-small shape.
    rng = np.random.default_rng(0)
    n_users, n_items, nnz = 610, 9_742, 100_000
    rows, cols = rng.integers(0, n_users, nnz), rng.integers(0, n_items, nnz)
    test = sp.csr_matrix((np.ones(nnz), (rows, cols)), shape=(n_users, n_items))
    top = np.array([rng.choice(n_items, 20, replace=False) for _ in range(n_users)])
    counts = rng.integers(0, 300, n_items)
    groups = rng.integers(0, 3, n_items).astype(np.int8)
    start = time.perf_counter()
    evaluate_topk(top, test, counts, groups, ks=(10, 20))
    evaluate_by_band(top, test, counts, groups, ks=(10, 20))
    assert time.perf_counter() - start < 1.0
