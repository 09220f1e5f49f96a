"""Splits: hand-checked counts, tie-breaking, determinism, disjointness, and speed."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from recsys.evaluation.split import (
    SPLITS,
    _lexsort,
    holdout_counts,
    item_cold_holdout,
    make_split,
    random_holdout,
    round_half_up,
    split_masks,
    temporal_holdout,
)


def _rows(user: str, items: list[str], stamps: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"user": user, "item": items, "timestamp": np.array(stamps, np.int64)})


@pytest.fixture
def small() -> pd.DataFrame:
    """a: 5 rows in time order; b: 1 row; c: 3 rows at one instant (ties); d: 2 rows."""
    return pd.concat(
        [
            _rows("a", ["i1", "i2", "i3", "i4", "i5"], [10, 20, 30, 40, 50]),
            _rows("b", ["i1"], [5]),
            _rows("c", ["z", "x", "y"], [7, 7, 7]),
            _rows("d", ["i2", "i9"], [1, 2]),
        ],
        ignore_index=True,
    )


def _big(n_rows: int = 100_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": rng.integers(0, 600, n_rows).astype(str),
            "item": rng.integers(0, 9_000, n_rows).astype(str),
            "timestamp": rng.integers(0, 10**9, n_rows, dtype=np.int64),
        }
    )


def _items(df: pd.DataFrame, user: str) -> set[str]:
    return set(df.loc[df["user"] == user, "item"])


def test_round_half_up() -> None:
    # 5 * 0.1 = 0.5 -> 1 and 5 * 0.3 = 1.5 -> 2, where numpy's banker's rounding gives 0 and 2.
    assert round_half_up(5 * 0.1) == 1
    assert round_half_up(5 * 0.3) == 2
    assert round_half_up(2.5) == 3
    assert round_half_up(2.4999) == 2


def test_holdout_counts_min_and_cap() -> None:
    # sizes 1, 2, 5, 10 at 0.2: raw 0.2, 0.4, 1.0, 2.0 -> min_test 1 -> never all: 0, 1, 1, 2.
    assert holdout_counts(np.array([1, 2, 5, 10]), 0.2).tolist() == [0, 1, 1, 2]
    # 0.9 of 2 rows rounds to 2, capped at 1 so the user keeps one training row.
    assert holdout_counts(np.array([2]), 0.9).tolist() == [1]
    assert holdout_counts(np.array([5]), 0.0, min_test=0).tolist() == [0]


@pytest.mark.parametrize(("fraction", "expected"), [(0.1, {"i5"}), (0.3, {"i4", "i5"})])
def test_temporal_takes_latest(small: pd.DataFrame, fraction: float, expected: set) -> None:
    # a has 5 rows: 5 * 0.1 = 0.5 -> 1 test row; 5 * 0.3 = 1.5 -> 2 test rows; the latest ones.
    train, test = temporal_holdout(small, fraction)
    assert _items(test, "a") == expected
    assert _items(train, "a") == {"i1", "i2", "i3", "i4", "i5"} - expected


def test_temporal_edge_cases(small: pd.DataFrame) -> None:
    train, test = temporal_holdout(small, 0.2)
    assert _items(test, "b") == set() and _items(train, "b") == {"i1"}  # one row stays in train
    assert _items(test, "c") == {"z"}  # equal timestamps: the largest item id counts as latest
    assert _items(test, "d") == {"i9"}  # 2 * 0.2 = 0.4 -> 0, raised to min_test = 1
    assert len(train) + len(test) == len(small)
    assert not set(train.index) & set(test.index)


def test_temporal_needs_timestamp(small: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        temporal_holdout(small.drop(columns="timestamp"))


def test_random_same_counts_and_seeded(small: pd.DataFrame) -> None:
    _, t_test = temporal_holdout(small, 0.3)
    _, r_test = random_holdout(small, 0.3, seed=1)
    assert r_test["user"].value_counts().to_dict() == t_test["user"].value_counts().to_dict()
    big = _big(5_000)
    a, b, c = (random_holdout(big, 0.2, seed=s)[1] for s in (7, 7, 8))
    assert a.index.equals(b.index)
    assert not a.index.equals(c.index)


def test_item_cold_disjoint_items_and_seeded() -> None:
    big = _big(5_000)
    train, test = item_cold_holdout(big, 0.2, seed=3)
    n_items = big["item"].nunique()
    assert test["item"].nunique() == round_half_up(0.2 * n_items)
    assert not set(train["item"]) & set(test["item"])
    assert len(train) + len(test) == len(big)
    assert test.index.equals(item_cold_holdout(big, 0.2, seed=3)[1].index)
    assert not test.index.equals(item_cold_holdout(big, 0.2, seed=4)[1].index)


@pytest.mark.parametrize("kind", sorted(SPLITS))
def test_make_split_nesting(kind: str) -> None:
    s = make_split(_big(5_000), kind, fraction=0.2, seed=0, validation_fraction=0.1)
    train, val, test, fit = (set(x.index) for x in (s.train, s.validation, s.test, s.fit_train))
    assert val <= train and not train & test
    assert fit == train - val and len(val) > 0
    if kind == "item_cold":
        assert not set(s.fit_train["item"]) & set(s.validation["item"])
        assert not set(s.train["item"]) & set(s.test["item"])


def test_make_split_temporal_validation_precedes_test() -> None:
    s = make_split(_big(5_000), "temporal", fraction=0.2, seed=0)
    last_val = s.validation.groupby("user")["timestamp"].max()
    first_test = s.test.groupby("user")["timestamp"].min()
    both = last_val.index.intersection(first_test.index)
    assert (last_val[both] <= first_test[both]).all()


def test_make_split_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown split kind"):
        make_split(_big(100), "leave_one_out")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(SPLITS))
def test_splits_fast_on_100k_rows(kind: str) -> None:
    df = _big()
    fn = SPLITS[kind]
    # Best of two, so one stall from a neighbouring process does not fail the run.
    best = min(_timed(fn, df) for _ in range(2))
    assert best < 0.5, f"{kind} took {best:.3f} s on 100k rows"


def _timed(fn, df: pd.DataFrame) -> float:
    start = time.perf_counter()
    fn(df, 0.2)
    return time.perf_counter() - start


def _reference_split(df: pd.DataFrame, kind: str, fraction: float, seed: int, validation: float):
    """make_split as it was: the per-DataFrame holdouts applied twice (train, then validation)."""
    df = df.reset_index(drop=True)
    if kind == "temporal":
        train, test = temporal_holdout(df, fraction)
        return train, temporal_holdout(train, validation)[1], test
    train, test = SPLITS[kind](df, fraction, seed=seed)
    return train, SPLITS[kind](train, validation, seed=seed)[1], test


@pytest.mark.parametrize("kind", ["temporal", "random", "item_cold"])
@pytest.mark.parametrize("seed", [0, 7])
def test_make_split_on_codes_matches_the_per_dataframe_holdouts(kind: str, seed: int) -> None:
    df = _big(30_000, seed)
    df = df.iloc[np.random.default_rng(seed).permutation(len(df))]  # rows in no useful order
    split = make_split(df, kind, 0.25, seed, 0.15)
    train, validation, test = _reference_split(df, kind, 0.25, seed, 0.15)
    pd.testing.assert_frame_equal(split.train, train)
    pd.testing.assert_frame_equal(split.validation, validation)
    pd.testing.assert_frame_equal(split.test, test)


def test_split_masks_ignore_how_users_are_coded(small: pd.DataFrame) -> None:
    items = pd.factorize(small["item"], sort=True)[0]
    stamps = small["timestamp"].to_numpy()
    a = split_masks(pd.factorize(small["user"], sort=True)[0], items, stamps, "temporal", 0.5)
    b = split_masks(pd.factorize(small["user"])[0] * 7 + 3, items, stamps, "temporal", 0.5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not (a[0] & a[1]).any()  # validation rows are training rows
    with pytest.raises(ValueError, match="needs timestamps"):
        split_masks(items, items, None, "temporal")


@pytest.mark.parametrize("high", [50, 2**40, 2**62])  # packed as is, ranked first, np.lexsort
def test_packed_lexsort_is_numpy_lexsort(high: int) -> None:
    rng = np.random.default_rng(high % 97)
    keys = [rng.integers(0, high, 5000), rng.integers(0, 30, 5000), rng.integers(0, high, 5000)]
    np.testing.assert_array_equal(_lexsort(keys), np.lexsort(keys))
