"""Train / validation / test splits of positives (``user``, ``item``, optional ``timestamp``).

Three protocols, each answering a different question:

* ``temporal``: per user, the most recent rows are held out — "what will they like next?".
* ``random``: per user, a seeded random share of rows — the classic leave-some-out protocol.
* ``item_cold``: a seeded share of whole items is held out — "can text alone place a new item?".

Every function returns row subsets of its input with the original index kept, so
``train ∪ test`` is the input and the two never share a row. ``make_split`` carves a validation set
out of train with the same protocol, so hyper-parameters are chosen on validation, never on test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

SplitKind = Literal["temporal", "random", "item_cold"]

# Guards round-half-up against products like 0.1 * 15 = 1.5000000000000002 or 1.4999999999999998.
_EPS = 1e-9


def round_half_up(x: np.ndarray | float) -> np.ndarray:
    """Round halves up (``1.5 -> 2``, ``0.5 -> 1``), unlike numpy's round-half-to-even."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + _EPS).astype(np.int64)


def holdout_counts(sizes: np.ndarray, fraction: float, min_test: int = 1) -> np.ndarray:
    """Rows to hold out per user: ``round_half_up(fraction * n)``, at least ``min_test``, < ``n``.

    A user always keeps at least one training row, so a user with one row keeps it in train.
    """
    _check_fraction(fraction)
    if min_test < 0:
        raise ValueError(f"min_test must be >= 0, got {min_test}")
    sizes = np.asarray(sizes, dtype=np.int64)
    counts = np.maximum(round_half_up(fraction * sizes), min_test)
    return np.clip(counts, 0, np.maximum(sizes - 1, 0))


def temporal_holdout(
    df: pd.DataFrame, fraction: float = 0.2, min_test: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, the last ``fraction`` of rows by ``timestamp`` go to test; ties broken by item id.

    Raises:
        ValueError: if ``df`` has no ``timestamp`` column.
    """
    if "timestamp" not in df.columns:
        raise ValueError(
            "temporal_holdout needs a 'timestamp' column; this table has "
            f"{list(df.columns)}. Use the 'random' or 'item_cold' split instead."
        )
    users = _codes(df["user"])
    # factorize(sort=True) gives codes in id order, so sorting codes sorts item ids.
    items = _codes(df["item"])
    order = np.lexsort((items, df["timestamp"].to_numpy(), users))
    return _split_by_order(df, users, order, fraction, min_test)


def random_holdout(
    df: pd.DataFrame, fraction: float = 0.2, seed: int = 0, min_test: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, a seeded random ``fraction`` of rows go to test (same counts as temporal)."""
    users = _codes(df["user"])
    rng = np.random.default_rng(seed)
    # A random key per row, sorted within user, is a vectorised per-user shuffle.
    order = np.lexsort((rng.random(len(df)), users))
    return _split_by_order(df, users, order, fraction, min_test)


def item_cold_holdout(
    df: pd.DataFrame, fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded ``fraction`` of the distinct items, with all their rows, go to test.

    The count is ``round_half_up(fraction * n_items)``, capped so train keeps at least one item.
    Test items have no rows in train: they are cold for any model fitted on it.
    """
    _check_fraction(fraction)
    items = np.sort(df["item"].unique())  # sorted so the draw does not depend on row order
    n_test = min(int(round_half_up(fraction * len(items))), max(len(items) - 1, 0))
    chosen = np.random.default_rng(seed).choice(items, size=n_test, replace=False)
    in_test = df["item"].isin(chosen).to_numpy()
    return df[~in_test], df[in_test]


SPLITS: dict[str, Callable[..., tuple[pd.DataFrame, pd.DataFrame]]] = {
    "temporal": temporal_holdout,
    "random": random_holdout,
    "item_cold": item_cold_holdout,
}


@dataclass
class Split:
    """A train / validation / test split; ``validation`` is a subset of ``train``.

    Fit on ``fit_train`` and tune on ``validation``; then refit on ``train`` and report on ``test``.
    """

    kind: SplitKind
    seed: int
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    @property
    def fit_train(self) -> pd.DataFrame:
        """Train without the validation rows."""
        return self.train[~self.train.index.isin(self.validation.index)]


def make_split(
    df: pd.DataFrame,
    kind: SplitKind = "temporal",
    fraction: float = 0.2,
    seed: int = 0,
    validation_fraction: float = 0.1,
) -> Split:
    """Split ``df`` into train / test with ``kind``, then carve validation out of train likewise.

    The same rows as :func:`temporal_holdout` / :func:`random_holdout` / :func:`item_cold_holdout`
    applied twice, computed once on integer codes (:func:`split_masks`).
    """
    if kind not in SPLITS:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {sorted(SPLITS)}")
    # A unique index is what lets fit_train drop validation rows by label.
    df = df.reset_index(drop=True)
    if kind == "temporal" and "timestamp" not in df.columns:
        temporal_holdout(df, fraction)  # raises its clear error
    timestamps = df["timestamp"].to_numpy() if kind == "temporal" else None
    in_test, in_validation = split_masks(
        _codes(df["user"], sort=False), _codes(df["item"]), timestamps, kind, fraction, seed,
        validation_fraction,
    )  # fmt: skip
    return Split(
        kind=kind, seed=seed, train=df[~in_test], validation=df[in_validation], test=df[in_test]
    )


def split_masks(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray | None,
    kind: SplitKind = "temporal",
    fraction: float = 0.2,
    seed: int = 0,
    validation_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """(in_test, in_validation): boolean row masks of :func:`make_split`, from integer codes.

    ``users``: any integer code per user (only equality counts); ``items``: codes in item-id order
    (ties of the temporal split are broken by item id); ``timestamps``: for ``temporal`` only.
    Fit-train rows are ``~in_test & ~in_validation``. Per-user work is sorting, never a loop.
    """
    if kind not in SPLITS:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {sorted(SPLITS)}")
    if kind == "temporal" and timestamps is None:
        raise ValueError("the temporal split needs timestamps")
    users = np.asarray(users, dtype=np.int64)
    users = users - users.min() if len(users) else users  # bincount needs >= 0; gaps are fine
    items = np.asarray(items, dtype=np.int64)
    order = None
    if kind == "temporal":  # one sort serves both holdouts: train's order is a subsequence
        stamps = np.asarray(timestamps)
        order = _lexsort([items, stamps - stamps.min() if len(stamps) else stamps, users])
    in_test = _test_mask(users, items, order, kind, fraction, seed)
    train = np.flatnonzero(~in_test)
    if order is not None:
        position = np.cumsum(~in_test) - 1  # row -> its position among the train rows
        order = position[order[~in_test[order]]]
    in_validation = np.zeros(len(users), dtype=bool)
    in_validation[train] = _test_mask(
        users[train], items[train], order, kind, validation_fraction, seed
    )
    return in_test, in_validation


def _test_mask(users, items, order, kind: SplitKind, fraction: float, seed: int) -> np.ndarray:
    """The rows one holdout of ``kind`` sends to test (see the per-DataFrame functions);
    ``order``: the temporal sort of these rows (by user, time, item id)."""
    if kind == "item_cold":
        _check_fraction(fraction)
        distinct = np.unique(items)
        n_test = min(int(round_half_up(fraction * len(distinct))), max(len(distinct) - 1, 0))
        chosen = np.random.default_rng(seed).choice(distinct, size=n_test, replace=False)
        return np.isin(items, chosen)
    if kind == "random":
        draw = np.random.default_rng(seed).random(len(users))
        rank = np.empty(len(users), dtype=np.int64)  # ties (never in practice) keep row order
        rank[np.argsort(draw, kind="stable")] = np.arange(len(users))
        order = _lexsort([rank, users])
    return _order_mask(users, order, fraction, 1)


def _lexsort(keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort(keys)`` (last key primary, ties in row order) for non-negative integer keys,
    as one stable argsort of the keys packed into an int64 where they fit (3x faster on 8M rows);
    while they do not, the widest key is replaced by its dense rank."""
    keys = [np.asarray(k, dtype=np.int64) for k in keys]

    def widths(ks):
        return [int(k.max()).bit_length() if len(k) else 0 for k in ks]

    ranked: set[int] = set()
    while sum(widths(keys)) > 63:  # rank the widest key not ranked yet (one sort each)
        left = [i for i in range(len(keys)) if i not in ranked]
        if not left:
            return np.lexsort(keys)
        i = max(left, key=lambda j: widths(keys)[j])
        keys[i] = np.unique(keys[i], return_inverse=True)[1].astype(np.int64).ravel()
        ranked.add(i)
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for key, width in zip(reversed(keys), reversed(widths(keys)), strict=True):
        packed = (packed << width) | key
    return np.argsort(packed, kind="stable")


def _split_by_order(
    df: pd.DataFrame, users: np.ndarray, order: np.ndarray, fraction: float, min_test: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    in_test = _order_mask(users, order, fraction, min_test)
    return df[~in_test], df[in_test]


def _order_mask(users: np.ndarray, order: np.ndarray, fraction: float, min_test: int) -> np.ndarray:
    # `order` sorts rows by user, then by "how late" they are; the last `count` of each user's
    # run are test rows. Position from the end = (run end) - (position in sorted order).
    sizes = np.bincount(users)  # (U,)
    counts = holdout_counts(sizes, fraction, min_test)  # (U,)
    ends = np.cumsum(sizes)  # (U,) exclusive end of each user's run in sorted order
    sorted_users = users[order]
    from_end = ends[sorted_users] - 1 - np.arange(len(order))
    in_test = np.empty(len(order), dtype=bool)
    in_test[order] = from_end < counts[sorted_users]
    return in_test


def _codes(col: pd.Series, sort: bool = True) -> np.ndarray:
    codes, _ = pd.factorize(col, sort=sort)
    return codes.astype(np.int64)


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
