"""The shop's model: the parameters both generators share, the latent users, and size limits.

``bundled.py`` makes the committed 2,000-item sample with per-item and per-user loops;
``catalogue.py`` and ``behaviour.py`` make the same model at any size, vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SEED = 20240601
N_ITEMS = 2000  # the bundled sizes; any other size goes through the vectorised generator
N_USERS = 1000
TARGET_INTERACTIONS = 50_000
ZIPF_EXPONENT = 1.2
# Over 2,000 items, exponent 1.2 (with heavy users exhausting the head) gives the top 20% of
# items ~72% of interactions. Over 1M items the same exponent would give them ~98% and leave
# most of the catalogue cold, so other sizes use an exponent below 1, whose head share changes
# little with the catalogue size (0.2 ** (1 - exponent) as the catalogue grows): 72-75% of
# interactions at 50k-1M items with ~10 interactions per item, ~60% in a denser 2,000.
ZIPF_EXPONENT_AT_SCALE = 0.85
COLD_SHARE = 0.03  # new arrivals with no popularity and no affinity weight
CHINESE_SHARE = 0.02
# Affinity logit weights: a liked category dominates, style and material refine within it;
# POP_IN_AFFINITY keeps some popularity even in taste-driven choices, as in real shops.
W_CATEGORY, W_STYLE, W_MATERIAL, POP_IN_AFFINITY = 4.0, 2.0, 1.0, 1.0
NICHE_USERS = 0.4
START_TS = 1_704_067_200  # 2024-01-01 00:00:00 UTC
SPAN_S = 366 * 24 * 3600  # 2024 is a leap year
LAST_JOIN_S = SPAN_S - 30 * 86_400  # everyone joins at least 30 days before the year ends
ITEM_COLUMNS = ["item_id", "title", "description", "category", "style", "tags", "price"]
INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


@dataclass(frozen=True)
class Users:
    """Latent user tastes: boolean preference masks and how much each user follows them."""

    likes_category: np.ndarray  # (U, C) bool
    likes_style: np.ndarray  # (U, S) bool
    likes_material: np.ndarray  # (U, M) bool, M = distinct material strings
    niche: np.ndarray  # (U,) weight of affinity vs popularity in [0, 1]
    activity: np.ndarray  # (U,) number of interactions
    bias: np.ndarray  # (U,) rating offset


def n_alive(n_items: int) -> int:
    """Items that are not new arrivals (new arrivals have no weight, so nobody meets them)."""
    return math.floor(n_items * (1 - COLD_SHARE))


def max_interactions(n_users: int, n_items: int) -> int:
    """The most interactions a shop of this size holds: a user meets at most half the items that
    are not new arrivals (and no item twice), and at most one item per second of their window."""
    return n_users * min(n_alive(n_items) // 2, SPAN_S - LAST_JOIN_S)


def size_error(n_users: int, n_items: int, n_interactions: int) -> str | None:
    """Why these sizes cannot be generated, naming the flag to change; None when they can."""
    for flag, value in (("--users", n_users), ("--items", n_items)):
        if value < 1:
            return f"argument {flag}: must be at least 1, got {value}"
    limit = max_interactions(n_users, n_items)
    if n_interactions > limit:
        return (
            f"argument --interactions: {n_interactions:,} is more than {n_users:,} users x "
            f"{n_items:,} items allow (at most {limit:,}: a user meets at most half of the "
            f"{n_alive(n_items):,} items that are not new arrivals)"
        )
    if n_interactions < n_users:
        return f"argument --interactions: {n_interactions:,} is fewer than one per user"
    return None


def ids(prefix: str, n: int, width: int) -> np.ndarray:
    """``P00001``-style ids, zero-padded to ``width`` or to the digits ``n`` needs, (n,) object."""
    digits = np.strings.zfill(np.arange(1, n + 1).astype(str), max(width, len(str(n))))
    return np.strings.add(prefix, digits).astype(object)
