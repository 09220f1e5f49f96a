"""Popularity bands and the stratified point budget, on inputs whose right answer is known."""

from __future__ import annotations

import numpy as np

from recsys.data.popularity import COLD, HEAD, TAIL
from recsys.maps import sampling


def test_popularity_bands():
    counts = np.array([100, 50, 1, 2, 3, 4, 9, 0])
    groups = np.array([HEAD, HEAD, TAIL, TAIL, TAIL, TAIL, TAIL, COLD])
    labels = sampling.popularity_bands(counts, groups)
    assert labels.tolist() == [
        "head",
        "head",
        "tail 1",
        "tail 2-3",
        "tail 2-3",
        "tail 4-7",
        "tail 8-15",
        "cold",
    ]


def test_stratified_sample_keeps_every_band_within_budget():
    rng = np.random.default_rng(0)
    strata = np.array(["head"] * 2000 + ["tail 1"] * 7900 + ["tail 8-15"] * 3 + ["cold"] * 97)
    strata = strata[rng.permutation(len(strata))]
    picked = sampling.stratified_sample(strata, budget=500, seed=1)
    assert len(picked) == 500 and len(np.unique(picked)) == 500
    assert (np.diff(picked) > 0).all()
    kept = set(strata[picked])
    assert kept == set(strata)
    assert (strata[picked] == "tail 8-15").sum() == 3  # a tiny band is kept whole
    np.testing.assert_array_equal(picked, sampling.stratified_sample(strata, 500, seed=1))
    assert not np.array_equal(picked, sampling.stratified_sample(strata, 500, seed=2))


def test_stratified_sample_under_budget_is_everything():
    strata = np.array(["a", "b", "a"])
    np.testing.assert_array_equal(sampling.stratified_sample(strata, 10), [0, 1, 2])


def test_stratified_sample_is_the_same_for_object_and_fixed_width_labels():
    # the page passes an object array of band labels; strata are ranked by name either way
    rng = np.random.default_rng(3)
    strata = rng.choice(
        np.array(["tail 2-3", "head", "cold", "tail 1"]), 4000, p=[0.1, 0.2, 0.3, 0.4]
    )
    picked = sampling.stratified_sample(strata, 300, seed=5)
    np.testing.assert_array_equal(picked, sampling.stratified_sample(strata.astype(object), 300, 5))
    first = {s: int((strata[picked] == s).sum()) for s in np.unique(strata)}
    flipped = sampling.stratified_sample(strata[::-1].copy(), 300, seed=5)
    assert first == {s: int((strata[::-1][flipped] == s).sum()) for s in np.unique(strata)}
