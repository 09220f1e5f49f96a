"""Who a new item would reach: the users whose lists it would enter first, and why.

The reverse of a recommendation list. For one item (typically a cold one, with no interaction
yet), every user is scored by the model once (a :data:`~recsys.whatif.scorers.PartScorer`) and
the item's *rank* is taken among that user's unseen in-scope items (e.g. all new items): rank 1
means the item would head the user's new-items list. Users are ordered by that rank, then by the
item's score in units of the user's own score range (so a model's raw scale, which differs per
user, does not decide). The reason given for each user is the text neighbours of the item in the
user's history: the history items most similar to it under a text similarity (the run's item
embeddings, else TF-IDF cosine; :func:`recsys.whatif.explain.cosine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.models.base import exclude
from recsys.whatif.explain import Similarity
from recsys.whatif.scorers import PartScorer


@dataclass(frozen=True)
class Reach:
    """One user the item would reach."""

    user: int  # user position
    rank: int  # 1-based rank of the item among the user's unseen in-scope items
    score: float  # the item's score, in units of the user's in-scope score range (max - min)
    because: tuple[tuple[int, float], ...]  # (history item, text similarity), strongest first


def audience(
    scorer: PartScorer,
    item: int,
    history: sp.csr_matrix,
    similarity: Similarity,
    scope: np.ndarray | None = None,
    n_users: int = 20,
    n_because: int = 3,
    batch: int = 256,
    users: np.ndarray | None = None,
) -> list[Reach]:
    """The ``n_users`` users who would see ``item`` highest in their lists, best first.

    Args:
        scorer: the fitted model's parts (their sum is its score).
        item: the item's position in the catalogue.
        history: (U, I) training interactions; seen items are never ranked.
        similarity: a text similarity for ``because`` (history items vs the item).
        scope: (I,) bool, the items the item competes with (default: the whole catalogue);
            ``item`` must be in it.
        users: the user positions to consider (e.g. the page's seeded sample on a large
            dataset, :func:`recsys.whatif.rerank.user_sample`); default: every user.

    Users who already interacted with ``item`` are left out. Ties (equal rank and score) go to
    the lower user position, so the answer is reproducible.

    Raises:
        ValueError: ``item`` is not a catalogue position, or it lies outside ``scope``.
    """
    history = sp.csr_matrix(history)
    n_total, n_items = history.shape
    if not 0 <= item < n_items:
        raise ValueError(f"item position {item} is outside the catalogue of {n_items} items")
    in_scope = np.ones(n_items, dtype=bool) if scope is None else np.asarray(scope, dtype=bool)
    if not in_scope[item]:
        raise ValueError(f"item position {item} is outside the candidate scope")
    ranks = np.full(n_total, np.iinfo(np.int64).max, dtype=np.int64)
    scores = np.full(n_total, -np.inf)
    considered = np.arange(n_total) if users is None else np.unique(np.asarray(users, np.int64))
    for start in range(0, len(considered), batch):
        rows = considered[start : start + batch]
        h = history[rows]
        total = np.asarray(np.sum(list(scorer(rows, h).values()), axis=0, dtype=np.float64))
        exclude(total, h)
        total[:, ~in_scope] = -np.inf
        mine = total[:, item]  # (B,)
        finite = np.isfinite(total)
        lo = np.where(finite, total, np.inf).min(axis=1)
        hi = np.where(finite, total, -np.inf).max(axis=1)
        span = np.where(np.isfinite(hi - lo) & (hi - lo > 0), hi - lo, 1.0)
        ok = np.isfinite(mine)  # seen users are out
        ranks[rows[ok]] = 1 + (total[ok] > mine[ok, None]).sum(axis=1)
        scores[rows[ok]] = ((mine - lo) / span)[ok]
    reached = np.flatnonzero(np.isfinite(scores))
    order = np.lexsort((reached, -scores[reached], ranks[reached]))[:n_users]
    out = []
    for u in reached[order]:
        seen = history.indices[history.indptr[u] : history.indptr[u + 1]].astype(np.int64)
        because: tuple[tuple[int, float], ...] = ()
        if len(seen):
            values = similarity(seen, np.array([item]))[:, 0]
            top = np.argsort(-values, kind="stable")[:n_because]
            because = tuple((int(seen[i]), float(values[i])) for i in top if values[i] > 0)
        out.append(Reach(int(u), int(ranks[u]), float(scores[u]), because))
    return out


def audience_frame(
    reach: Sequence[Reach], user_ids: Sequence, titles: Sequence[str]
) -> pd.DataFrame:
    """A display/export table: one row per reached user, with the reasons as titles."""
    return pd.DataFrame(
        {
            "user": [str(user_ids[r.user]) for r in reach],
            "rank in the user's list": [r.rank for r in reach],
            "score": [r.score for r in reach],
            "because (text neighbours in the history)": [
                "; ".join(f"{titles[h]} ({v:.2f})" for h, v in r.because) for r in reach
            ],
        },
        columns=[
            "user",
            "rank in the user's list",
            "score",
            "because (text neighbours in the history)",
        ],
    )
