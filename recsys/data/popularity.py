"""Popularity analysis: item counts, head/tail/cold groups, the Lorenz curve and Gini.

Groups are int8 codes shared with :mod:`recsys.evaluation.metrics`: ``HEAD = 0``, ``TAIL = 1``,
``COLD = 2``. Cold items have no interactions; they are never head, whatever the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

HEAD, TAIL, COLD = 0, 1, 2
GROUP_NAMES = {HEAD: "head", TAIL: "tail", COLD: "cold"}

Rule = Literal["top_share", "interaction_share", "threshold"]
RULES: dict[str, str] = {
    "top_share": "top x% of items by count",
    "interaction_share": "items holding x% of interactions",
    "threshold": "items with at least x interactions",
}
DEFAULT_VALUES: dict[str, float] = {"top_share": 0.2, "interaction_share": 0.8, "threshold": 10}


def item_counts(interactions: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """Interactions per catalogue item, (I,) int64, in the order of ``item_ids``."""
    counts = interactions["item"].value_counts()
    return counts.reindex(pd.Index(item_ids), fill_value=0).to_numpy(dtype=np.int64)


def popularity_order(counts: np.ndarray) -> np.ndarray:
    """Item positions sorted by count, descending; ties by catalogue position (stable)."""
    return np.argsort(-np.asarray(counts), kind="stable")


def head_mask(
    counts: np.ndarray, rule: Rule = "top_share", value: float | None = None
) -> np.ndarray:
    """Boolean (I,) mask of head items under one of three definitions.

    - ``top_share``: the top ``ceil(value * I)`` items by count (default 20%), ties by position.
    - ``interaction_share``: the fewest top items whose counts sum to at least ``value`` of all
      interactions (default 80%) — the Pareto reading used by Elliot (Anelli et al., SIGIR 2021)
      and Abdollahpouri et al., "Managing popularity bias in recommender systems", FLAIRS 2019.
    - ``threshold``: items with ``count >= value``.
    Items with zero count are never head.
    """
    if rule not in RULES:
        raise ValueError(f"unknown head/tail rule {rule!r}; choose one of {list(RULES)}")
    counts = np.asarray(counts)
    value = DEFAULT_VALUES[rule] if value is None else value
    mask = np.zeros(len(counts), dtype=bool)
    order = popularity_order(counts)
    if rule == "top_share":
        mask[order[: int(np.ceil(value * len(counts)))]] = True
    elif rule == "interaction_share":
        cum = np.cumsum(counts[order])
        n_head = int(np.searchsorted(cum, value * cum[-1] - 1e-9) + 1) if cum[-1] > 0 else 0
        mask[order[:n_head]] = True
    else:  # threshold
        mask = counts >= value
    return mask & (counts > 0)


def groups(counts: np.ndarray, rule: Rule = "top_share", value: float | None = None) -> np.ndarray:
    """(I,) int8: HEAD for head items, COLD for zero-count items, TAIL otherwise."""
    counts = np.asarray(counts)
    out = np.full(len(counts), TAIL, dtype=np.int8)
    out[head_mask(counts, rule, value)] = HEAD
    out[counts == 0] = COLD
    return out


def lorenz(
    counts: np.ndarray, max_points: int | None = None, keep: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of interactions over items: cumulative shares, least popular first.

    Returns ``(x, y)`` with ``x[j] = j / I`` and ``y[j]`` = share of interactions held by the ``j``
    least popular items; both start at 0 and end at 1 (Lorenz, 1905). With ``max_points``, only
    the points :func:`thin_positions` keeps (the ends and ``keep`` exact), for drawing.
    """
    c = np.sort(np.asarray(counts, dtype=float))
    x = np.arange(len(c) + 1) / max(len(c), 1)
    total = c.sum()
    y = np.concatenate([[0.0], np.cumsum(c) / total]) if total > 0 else x.copy()
    if max_points is not None:
        at = thin_positions(len(x), max_points, keep)
        x, y = x[at], y[at]
    return x, y


def thin_positions(n: int, max_points: int = 2000, keep: Sequence[int] = ()) -> np.ndarray:
    """Sorted positions of a curve of ``n`` points worth drawing: at most about ``max_points``.

    An even grid over ``0..n-1`` plus both ends and every position in ``keep`` (e.g. the
    head/tail cut), so those points are exact; all positions when ``n <= max_points``. A browser
    cannot draw a million points quickly, and a monotone curve needs a few thousand at most.
    """
    if n <= max_points:
        return np.arange(n)
    grid = np.linspace(0, n - 1, max(2, max_points)).round().astype(np.int64)
    extra = np.asarray([p for p in keep if 0 <= p < n], dtype=np.int64)
    return np.unique(np.concatenate([grid, extra, [0, n - 1]]))


def rank_curve(
    counts: np.ndarray, n_head: int, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """The popularity curve ``(rank, count)`` of warm items, most popular first (rank 1).

    Thinned with :func:`thin_positions`: exact at both ends and either side of the cut after
    the ``n_head`` most popular items. Cold items (count 0) are left out (a log axis has no 0).
    """
    ordered = np.sort(np.asarray(counts))[::-1]
    n_warm = int(np.count_nonzero(ordered > 0))
    at = thin_positions(n_warm, max_points, (n_head - 1, n_head))
    return at + 1, ordered[at]


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of interactions over items, in [0, 1).

    ``G = sum_j (2j - n - 1) c_(j) / (n * sum c)`` with ``c_(j)`` sorted ascending, ``j = 1..n``
    (Gini, 1912; the form of Damgaard & Weiner, Ecology 2000). 0 = every item equally popular;
    close to 1 = all interactions on one item.
    """
    c = np.sort(np.asarray(counts, dtype=float))
    n, total = len(c), c.sum()
    if n == 0 or total == 0:
        return 0.0
    j = np.arange(1, n + 1)
    return float(np.sum((2 * j - n - 1) * c) / (n * total))


@dataclass(frozen=True)
class PopularityReport:
    """What the Data page tells: the head/tail cut and how lopsided interactions are."""

    counts: np.ndarray
    groups: np.ndarray
    head_item_share: float  # x: share of catalogue items in the head
    head_interaction_share: float  # y: share of interactions those items receive
    cold_share: float
    gini: float

    @property
    def caption(self) -> str:
        return (
            f"{self.head_item_share:.0%} of items receive "
            f"{self.head_interaction_share:.0%} of interactions"
        )


def analyse(
    counts: np.ndarray, rule: Rule = "top_share", value: float | None = None
) -> PopularityReport:
    counts = np.asarray(counts)
    g = groups(counts, rule, value)
    total = max(counts.sum(), 1)
    n = max(len(counts), 1)
    return PopularityReport(
        counts=counts,
        groups=g,
        head_item_share=float(np.sum(g == HEAD) / n),
        head_interaction_share=float(counts[g == HEAD].sum() / total),
        cold_share=float(np.sum(g == COLD) / n),
        gini=gini(counts),
    )
