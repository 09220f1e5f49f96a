"""Users of any size and what they pick: tastes, activity, draws, ratings and times.

Same model as the bundled ``make_users`` and ``make_interactions``, without their (users, items)
matrices: users are sampled in batches of ``USER_BATCH``, and a draw picks a (category, style,
material) cell from the user's affinity, then an item in that cell by popularity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_data.model import (
    LAST_JOIN_S,
    NICHE_USERS,
    POP_IN_AFFINITY,
    SPAN_S,
    START_TS,
    W_CATEGORY,
    W_MATERIAL,
    W_STYLE,
    Users,
    max_interactions,
)
from sample_data.vocabulary import CATEGORIES, STYLE_INDEX, STYLES

USER_BATCH = 4096  # users sampled together at scale: (batch, cells) floats stay ~30 MB
MAX_ROUNDS = 30  # redraw rounds for repeated (user, item) pairs before a user is left short
ALL_MATERIALS = pd.Index(sorted({m for c in CATEGORIES for m in c.materials}))


def _choose(rng: np.random.Generator, allowed: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, ``k[row]`` (at most 3) of the allowed columns uniformly without replacement."""
    keys = np.where(allowed, rng.random(allowed.shape), 2.0)  # (U, K)
    top = max(int(k.max()), 1)
    smallest = np.sort(np.partition(keys, top - 1, axis=1)[:, :top], axis=1)  # (U, top)
    cut = np.where(k > 0, smallest[np.arange(len(k)), np.maximum(k, 1) - 1], -1.0)
    return allowed & (keys <= cut[:, None])


def _activity(rng: np.random.Generator, n_users: int, n_interactions: int, cap: int) -> np.ndarray:
    """Lognormal activity scaled and clipped so that it adds up to exactly ``n_interactions``.

    The clip is the bundled 5-600 at 50 per user, scaled with the mean: at least
    ``min(5, ceil(mean / 4))``, at most ``max(600, 12 x mean)`` (and ``cap``).
    """
    mean = n_interactions / n_users
    low, high = min(5, math.ceil(mean / 4)), min(max(600, math.ceil(12 * mean)), cap)
    raw = rng.lognormal(0.0, 1.0, n_users)

    def total(scale: float) -> np.ndarray:
        return np.clip(np.round(raw * scale), low, high).astype(np.int64)

    lo, hi = 0.0, n_interactions / raw.min()  # at hi each user is at n_interactions or high
    for _ in range(100):  # bisection: the smallest scale whose activities reach the target
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if total(mid).sum() >= n_interactions else (mid, hi)
    activity = total(hi)
    excess = int(activity.sum() - n_interactions)  # a few users rounded up together
    if excess > 0:
        activity[rng.choice(np.flatnonzero(activity > low), excess, replace=False)] -= 1
    return activity


def scaled_users(
    rng: np.random.Generator, n_users: int, n_interactions: int, items: pd.DataFrame
) -> Users:
    """Tastes, activity and rating bias for any number of users, as :func:`make_users`."""
    n_cat, n_style = len(CATEGORIES), len(STYLES)
    likes_category = _choose(
        rng, np.ones((n_users, n_cat), bool), rng.choice([1, 2, 3], n_users, p=[0.4, 0.4, 0.2])
    )
    likes_style = _choose(
        rng, np.ones((n_users, n_style), bool), rng.choice([1, 2], n_users, p=[0.6, 0.4])
    )
    has_material = np.zeros((n_cat, len(ALL_MATERIALS)), dtype=np.float32)  # (C, M)
    for k, c in enumerate(CATEGORIES):
        has_material[k, ALL_MATERIALS.get_indexer(c.materials)] = 1.0
    pool = likes_category.astype(np.float32) @ has_material > 0  # (U, M): liked categories' own
    likes_material = _choose(rng, pool, rng.choice([0, 1, 2], n_users, p=[0.3, 0.4, 0.3]))
    is_niche = rng.random(n_users) < NICHE_USERS
    niche = np.where(is_niche, rng.beta(8, 2, n_users), rng.beta(2, 6, n_users))
    cap = max_interactions(1, len(items))
    activity = _activity(rng, n_users, n_interactions, cap)
    bias = rng.normal(0.0, 0.35, n_users)
    return Users(likes_category, likes_style, likes_material, niche, activity, bias)


@dataclass(frozen=True)
class _Sampler:
    """Draws from users' popularity/affinity mixtures without a (users, items) matrix.

    Affinity depends on an item only through its cell (category, style, material) and its
    popularity, so an affinity draw picks a cell from the user's (cells,) weights, then an item
    in that cell by popularity; a chart draw picks an item by popularity alone.
    """

    order: np.ndarray  # (A,) alive items, grouped by cell
    chart_cdf: np.ndarray  # (A,) cumulative popularity along `order`
    taste_cdf: np.ndarray  # (A,) cumulative popularity ** POP_IN_AFFINITY along `order`
    cell_start: np.ndarray  # (G,) first position of each cell in `order`
    cell_size: np.ndarray  # (G,)
    cell_base: np.ndarray  # (G,) taste_cdf just before the cell
    cell_weight: np.ndarray  # (G,) popularity ** POP_IN_AFFINITY summed over the cell
    cell_of: tuple[np.ndarray, np.ndarray, np.ndarray]  # (G,) category, style, material codes

    @classmethod
    def build(cls, cat: np.ndarray, style: np.ndarray, material: np.ndarray, pop: np.ndarray):
        alive = np.flatnonzero(pop > 0)
        code = (cat[alive] * len(STYLES) + style[alive]) * len(ALL_MATERIALS) + material[alive]
        order = alive[np.argsort(code, kind="stable")]
        cells, cell_start, cell_size = np.unique(
            np.sort(code), return_index=True, return_counts=True
        )
        taste_cdf = np.cumsum(pop[order] ** POP_IN_AFFINITY)
        before = np.concatenate([[0.0], taste_cdf])
        cell_base = before[cell_start]
        cell_of = (
            cells // (len(STYLES) * len(ALL_MATERIALS)),
            cells // len(ALL_MATERIALS) % len(STYLES),
            cells % len(ALL_MATERIALS),
        )
        weight = before[cell_start + cell_size] - cell_base
        return cls(order, np.cumsum(pop[order]), taste_cdf, cell_start, cell_size, cell_base,
                   weight, cell_of)  # fmt: skip

    def cell_cdf(self, users: Users, batch: slice) -> np.ndarray:
        """Each batch user's cumulative cell distribution, row r shifted to (r, r + 1], (B, G)."""
        cat, style, material = self.cell_of
        logit = (
            W_CATEGORY * users.likes_category[batch][:, cat]
            + W_STYLE * users.likes_style[batch][:, style]
            + W_MATERIAL * users.likes_material[batch][:, material]
        )
        cdf = np.cumsum(self.cell_weight * np.exp(logit), axis=1)
        cdf /= cdf[:, -1:]
        cdf[:, -1] = 1.0
        return cdf + np.arange(len(cdf))[:, None]

    def draw(
        self, rng: np.random.Generator, rows: np.ndarray, niche: np.ndarray, cdf: np.ndarray
    ) -> np.ndarray:
        """One item per draw for batch users ``rows`` (local indices), with replacement, (N,)."""
        taste = rng.random(len(rows)) < niche[rows]
        pos = np.searchsorted(self.chart_cdf, rng.random(len(rows)) * self.chart_cdf[-1], "right")
        local = rows[taste]
        n_cells = cdf.shape[1]
        cell = np.searchsorted(cdf.ravel(), local + rng.random(len(local)), "right")
        cell = np.clip(cell - local * n_cells, 0, n_cells - 1)
        target = self.cell_base[cell] + rng.random(len(cell)) * self.cell_weight[cell]
        in_cell = np.searchsorted(self.taste_cdf, target, "right")
        start = self.cell_start[cell]
        pos[taste] = np.clip(in_cell, start, start + self.cell_size[cell] - 1)
        return self.order[np.minimum(pos, len(self.order) - 1)]


def _first_distinct(draw, need: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first ``need[u]`` distinct items of an endless stream of ``draw(users)``.

    That is sampling without replacement, as the bundled Gumbel top-k: a repeat is skipped. The
    stream is drawn in rounds, the shortfall redrawn with growing headroom; (user, item) pairs.
    """
    user, item = np.empty(0, np.int64), np.empty(0, np.int64)
    short = need.copy()
    for rnd in range(MAX_ROUNDS):
        todo = np.flatnonzero(short > 0)
        if len(todo) == 0:
            break
        rows = np.repeat(todo, short[todo] << min(rnd, 6))
        user, item = np.concatenate([user, rows]), np.concatenate([item, draw(rows)])
        first = np.sort(np.unique(user * n_items + item, return_index=True)[1])  # stream order
        user, item = user[first], item[first]
        by_user = np.argsort(user, kind="stable")
        user, item = user[by_user], item[by_user]
        keep = np.arange(len(user)) - np.searchsorted(user, user) < need[user]
        user, item = user[keep], item[keep]
        short = need - np.bincount(user, minlength=len(need))
    return user, item


def _batch_times(rng: np.random.Generator, user: np.ndarray, n_users: int) -> np.ndarray:
    """Random times for each user's rows (sorted by user) between a join date and the year's end."""
    count = np.bincount(user, minlength=n_users)
    join = START_TS + rng.integers(0, LAST_JOIN_S, n_users)
    return rng.integers(join[user], (START_TS + SPAN_S - count)[user])


def scaled_interactions(
    rng: np.random.Generator, items: pd.DataFrame, users: Users
) -> dict[str, np.ndarray]:
    """User, item, rating and time columns (sorted by user, then time) for any size."""
    cat = items["category"].map({c.name: k for k, c in enumerate(CATEGORIES)}).to_numpy()
    style = items["style"].map(STYLE_INDEX).to_numpy()
    material = ALL_MATERIALS.get_indexer(items["material"])
    sampler = _Sampler.build(cat, style, material, items["popularity"].to_numpy())
    quality = rng.normal(0.0, 0.4, len(items))
    parts = []
    for b0 in range(0, len(users.activity), USER_BATCH):
        batch = slice(b0, b0 + USER_BATCH)
        cdf, niche = sampler.cell_cdf(users, batch), users.niche[batch]
        local, item = _first_distinct(
            lambda rows, cdf=cdf, niche=niche: sampler.draw(rng, rows, niche, cdf),
            users.activity[batch],
            len(items),
        )
        # Times are drawn independently of the items, so sorting by them shuffles each history.
        when = _batch_times(rng, local, len(niche))
        order = np.lexsort((when, local))
        local, item, when = local[order], item[order], when[order]
        when += np.arange(len(local)) - np.searchsorted(local, local)  # strictly increasing
        user = local + b0
        match = (
            1.0 * users.likes_category[user, cat[item]]
            + 0.5 * users.likes_style[user, style[item]]
            + 0.4 * users.likes_material[user, material[item]]
        )
        noise = rng.normal(0.0, 0.8, len(user))
        score = 3.2 + match + quality[item] + users.bias[user] + noise
        rating = np.clip(np.round(score), 1, 5).astype(np.int8)
        parts.append((user.astype(np.int32), item.astype(np.int32), rating, when))
    names = ("user", "item", "rating", "timestamp")
    return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(names)}
