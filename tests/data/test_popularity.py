import numpy as np
import pytest

from recsys.data import popularity as pop

COUNTS = np.array([10, 0, 5, 3, 1, 1, 0, 20, 2, 8])  # 10 items, 50 interactions


def test_item_counts_follow_catalogue_order():
    import pandas as pd

    inter = pd.DataFrame({"user": ["a", "b", "a"], "item": ["x", "x", "z"]})
    assert pop.item_counts(inter, np.array(["z", "y", "x"])).tolist() == [1, 0, 2]


def test_top_share_takes_ceil_of_items_with_ties_by_position():
    # 20% of 10 items = 2 head items: counts 20 (pos 7) and 10 (pos 0).
    assert np.flatnonzero(pop.head_mask(COUNTS, "top_share", 0.2)).tolist() == [0, 7]
    # 25% -> ceil(2.5) = 3: adds 8 (pos 9).
    assert np.flatnonzero(pop.head_mask(COUNTS, "top_share", 0.25)).tolist() == [0, 7, 9]
    # ties: counts 1 at positions 4 and 5; taking 7 items cuts between them -> position 4 wins.
    mask = pop.head_mask(COUNTS, "top_share", 0.7)
    assert mask[4] and not mask[5]


def test_interaction_share_is_smallest_prefix_reaching_the_share():
    # sorted desc: 20, 10, 8, 5, 3 ... cumulative 20, 30, 38, 43 of 50; 80% = 40 -> 4 items.
    mask = pop.head_mask(COUNTS, "interaction_share", 0.8)
    assert np.flatnonzero(mask).tolist() == [0, 2, 7, 9]


def test_threshold_and_cold_never_head():
    assert np.flatnonzero(pop.head_mask(COUNTS, "threshold", 5)).tolist() == [0, 2, 7, 9]
    assert not pop.head_mask(np.array([0, 0]), "threshold", 0).any()


def test_groups_codes():
    g = pop.groups(COUNTS, "top_share", 0.2)
    assert g[7] == pop.HEAD and g[1] == pop.COLD and g[6] == pop.COLD and g[2] == pop.TAIL


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="unknown head/tail rule"):
        pop.head_mask(COUNTS, "median")


def test_gini_hand_computed():
    # [0, 0, 0, 4]: sum_j (2j - 5) c_j = (2*4-5)*4 = 12; / (4 * 4) = 0.75
    assert pop.gini(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    assert pop.gini(np.array([3, 3, 3])) == pytest.approx(0.0)
    # [1, 2, 3]: (-2*1 + 0*2 + 2*3) / (3*6) = 4/18
    assert pop.gini(np.array([3, 1, 2])) == pytest.approx(4 / 18)


def test_lorenz_hand_computed():
    x, y = pop.lorenz(np.array([3, 1]))
    assert x.tolist() == [0, 0.5, 1]
    assert y.tolist() == [0, 0.25, 1]


def test_analyse_caption():
    rep = pop.analyse(COUNTS, "top_share", 0.2)
    # head = 20 + 10 = 30 of 50 interactions, 2 of 10 items; 2 cold items
    assert rep.caption == "20% of items receive 60% of interactions"
    assert rep.cold_share == pytest.approx(0.2)


def test_thin_positions_keeps_ends_and_cut_exactly():
    at = pop.thin_positions(1_000_000, 2000, keep=(123_456, 123_457))
    assert at[0] == 0 and at[-1] == 999_999
    assert {123_456, 123_457} <= set(at.tolist())
    assert len(at) <= 2004 and (np.diff(at) > 0).all()
    assert pop.thin_positions(5, 2000).tolist() == [0, 1, 2, 3, 4]


def test_rank_curve_is_exact_at_the_ends_and_the_cut():
    rng = np.random.default_rng(0)
    counts = np.concatenate([rng.zipf(1.5, 100_000), np.zeros(500, dtype=int)])
    n_head = int(pop.head_mask(counts, "top_share", 0.2).sum())
    rank, value = pop.rank_curve(counts, n_head, max_points=1000)
    full = np.sort(counts)[::-1]
    assert len(rank) <= 1004
    assert rank[0] == 1 and value[0] == full[0]
    assert rank[-1] == np.count_nonzero(counts) and value[-1] == full[rank[-1] - 1] > 0
    cut = rank.tolist().index(n_head)
    assert value[cut] == full[n_head - 1] and rank[cut + 1] == n_head + 1
    assert (value == full[rank - 1]).all()  # every drawn point is a real one


def test_lorenz_thinned_keeps_its_ends():
    counts = np.arange(10_000)
    x, y = pop.lorenz(counts, max_points=100, keep=(7_000,))
    fx, fy = pop.lorenz(counts)
    assert len(x) <= 103 and x[0] == 0 and y[-1] == 1 and 0.7 in x.tolist()
    assert np.allclose(y, fy[np.round(x * 10_000).astype(int)])
