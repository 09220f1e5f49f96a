"""Tail-boost re-ranking over cached candidate lists, and the accuracy vs tail-share trade-off.

A model scores the catalogue once; :func:`build_candidates` keeps each user's top ``C`` (default
200) with the *parts* of every score (collaborative, language model or content; see
:mod:`recsys.whatif.scorers`) so a re-ranker and an explanation can say where a score came from.
Cold items enter through the text-based parts, and ``tail_reserve`` slots are kept for the best
non-head items so a boost always has tail to promote.

Scores are rescaled per user so the candidate list spans exactly 1 (``max - min = 1``); a boost of
``b`` then means "``b`` of this user's score range", whatever the model's raw scale.

Three strategies, one ``boost`` in [0, 1] each, all vectorised over users (no Python loop over
users; the greedy ones loop over the ``k`` list slots only):

* ``penalty``: ``score + boost * (1 - log1p(count) / log1p(max count))``, a popularity penalty
  expressed as a bonus that grows as popularity falls (cold items get the full ``boost``).
* ``xquad``: the smooth xQuAD head/tail diversification of Abdollahpouri, Burke & Mobasher 2019,
  "Managing popularity bias in recommender systems with personalized re-ranking" (FLAIRS).
* ``target``: a FA*IR-like greedy (Zehlike et al. 2017, "FA*IR: A fair top-k ranking algorithm",
  CIKM) that keeps at least ``floor(boost * j)`` non-head items in every prefix ``j``.

Each re-ranker also returns the *effective* boost of every chosen item: what the strategy added to
the item's score when it picked it, so ``sum(parts) + boost`` is the score the list is ordered by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.evaluation.metrics import HEAD, evaluate_topk
from recsys.models.base import exclude, top_k
from recsys.models.memory import rows_per_batch
from recsys.whatif.scorers import PartScorer

Strategy = Literal["penalty", "xquad", "target"]
STRATEGIES: dict[Strategy, str] = {
    "penalty": "Popularity penalty",
    "xquad": "xQuAD head/tail diversification",
    "target": "Target tail share (FA*IR-like)",
}
# (B, I) float32-sized arrays while a batch is scored and cut: the scorer's parts and their sum,
# top-k's negated copy and int64 positions (2), the tail-only copy, the sort for ranks
BATCH_ARRAYS = 12
DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 11), 2)  # boost values of the trade-off curve

# --- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """Each user's top-``C`` items, best first by ``base`` score, with the score kept in parts."""

    items: np.ndarray  # (U, C) int64 item indices
    parts: dict[str, np.ndarray]  # part name -> (U, C) float32, in units of the user's range
    rank: np.ndarray  # (U, C) 1-based rank among all the user's unseen items, before any boost
    groups: np.ndarray  # (I,) int8 HEAD / TAIL / COLD
    counts: np.ndarray  # (I,) training positives per item
    history_tail_share: np.ndarray  # (U,) share of each user's history outside the head
    # (U,) each row's user position when the candidates hold a sample of users (row r is user
    # ``users[r]``); None: every user, row r is user r
    users: np.ndarray | None = None

    def row(self, user: int) -> int | None:
        """The candidate row of user position ``user``, None where the sample leaves it out."""
        if self.users is None:
            return int(user) if 0 <= user < self.n_users else None
        found = np.flatnonzero(self.users == user)
        return int(found[0]) if len(found) else None

    def rows_of(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """``matrix`` (one row per user, all users) cut to the candidates' rows."""
        return matrix if self.users is None else sp.csr_matrix(matrix)[self.users]

    @cached_property
    def base(self) -> np.ndarray:
        """(U, C) the model's score: the sum of the parts."""
        return _sum_parts(self.parts)

    @cached_property
    def tail(self) -> np.ndarray:
        """(U, C) bool: the candidate is tail or cold."""
        return self.groups[self.items] != HEAD

    @cached_property
    def unpopularity(self) -> np.ndarray:
        """(U, C) ``1 - log1p(count) / log1p(max count)``: 1 for cold, near 0 for the top item."""
        logs = np.log1p(self.counts.astype(np.float64))
        top = logs.max() if len(logs) and logs.max() > 0 else 1.0
        return (1.0 - logs / top).astype(np.float32)[self.items]

    @property
    def n_users(self) -> int:
        return self.items.shape[0]


def build_candidates(
    scorer: PartScorer,
    history: sp.csr_matrix,
    counts: np.ndarray,
    groups: np.ndarray,
    n_candidates: int = 200,
    tail_reserve: int = 50,
    batch: int | None = None,
    scope: np.ndarray | None = None,
    users: np.ndarray | None = None,
) -> Candidates:
    """Score every user (or the ``users`` given) once and keep their top ``n_candidates`` unseen
    items with score parts.

    The first ``n_candidates - tail_reserve`` are the best by score; the rest are the best
    non-head items not already in. ``n_candidates`` is capped so no user runs out of unseen items.
    Users go in batches of ``batch``, by default sized from the catalogue and the memory budget
    (:func:`recsys.models.memory.rows_per_batch`).
    ``scope``: an (I,) bool mask (:meth:`recsys.models.scope.CandidateScope.mask`); only those
    items become candidates (the cap then counts unseen items in scope).
    ``users``: user positions (rows of ``history``) to score, e.g. a seeded sample
    (:func:`user_sample`); the result then has one row per given user, in their order, and
    records them in :attr:`Candidates.users`. Each row depends only on its own user, so a user's
    row is the same in any sample that holds it.
    """
    history = sp.csr_matrix(history)
    n_items = history.shape[1]
    rows = None if users is None else np.asarray(users, dtype=np.int64)
    if rows is not None:
        if rows.ndim != 1 or len(rows) == 0 or rows.min() < 0 or rows.max() >= history.shape[0]:
            raise ValueError(f"users must be positions in [0, {history.shape[0]}), at least one")
        history = history[rows]
    n_users = history.shape[0]
    in_scope = np.ones(n_items, dtype=bool) if scope is None else np.asarray(scope, dtype=bool)
    if in_scope.shape != (n_items,) or not in_scope.any():
        raise ValueError(f"scope must be an ({n_items},) bool mask with at least one item")
    seen = np.asarray(history.astype(bool).astype(np.float32) @ in_scope.astype(np.float32))
    fewest = int(in_scope.sum() - seen.max()) if n_users else n_items
    c = max(1, min(n_candidates, fewest))
    reserve = min(tail_reserve, c)
    is_tail = np.asarray(groups) != HEAD
    batch = batch or rows_per_batch(n_items, 4, BATCH_ARRAYS)
    items, ranks, parts = [], [], []
    for start in range(0, n_users, batch):
        batch_rows = np.arange(start, min(start + batch, n_users))
        h = history[batch_rows]
        who = batch_rows if rows is None else rows[batch_rows]
        batch_parts = {k: np.asarray(v, np.float32) for k, v in scorer(who, h).items()}
        total = _sum_parts(batch_parts)  # (B, I)
        exclude(total, h)
        total[:, ~in_scope] = -np.inf
        chosen, rank = _top_with_reserve(total, c, reserve, is_tail)  # (B, C) each
        items.append(chosen)
        ranks.append(rank)
        parts.append({k: np.take_along_axis(v, chosen, axis=1) for k, v in batch_parts.items()})
    scaled = _per_user_range({k: np.vstack([p[k] for p in parts]) for k in parts[0]})
    # Sort by the scaled sum itself, so "candidate order" is exactly the order of ``base``.
    order = np.argsort(-_sum_parts(scaled), axis=1, kind="stable")  # (U, C)
    return Candidates(
        items=np.take_along_axis(np.vstack(items), order, axis=1),
        parts={k: np.take_along_axis(v, order, axis=1) for k, v in scaled.items()},
        rank=np.take_along_axis(np.vstack(ranks), order, axis=1),
        groups=np.asarray(groups),
        counts=np.asarray(counts),
        history_tail_share=_history_tail_share(history, is_tail),
        users=rows,
    )


def user_sample(holdout: sp.csr_matrix, n: int, seed: int = 0) -> np.ndarray | None:
    """A seeded sample of ``n`` user positions for KPIs and curves on a large dataset, drawn
    among the users with held-out items (the only ones a metric counts), sorted; None where
    there are no more than ``n`` such users (then every user is kept)."""
    judged = np.flatnonzero(np.diff(sp.csr_matrix(holdout).indptr))
    if len(judged) <= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(judged, size=n, replace=False))


def _top_with_reserve(
    total: np.ndarray, c: int, reserve: int, is_tail: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(B, C) chosen items and their 1-based rank among all unseen items by ``total``.

    Top-k by partition (no full (B, I) sort of positions): the best ``c - reserve`` items, then
    the best ``reserve`` tail items among the rest, or the plain top ``c`` when a user has too few.
    """
    plain, _ = top_k(total, c)  # (B, C), ties by item index as a stable sort
    head = c - reserve
    chosen = plain.copy()
    rank = np.broadcast_to(np.arange(1, c + 1), plain.shape).copy()  # top-k order is rank order
    if reserve:
        rest = np.where(is_tail[None, :], total, -np.inf)  # (B, I) tail items only
        np.put_along_axis(rest, plain[:, :head], -np.inf, axis=1)
        tail_items, tail_scores = top_k(rest, reserve)  # (B, reserve)
        del rest
        enough = np.isfinite(tail_scores).all(axis=1)  # else keep the plain top-c
        chosen[enough, head:] = tail_items[enough]
        rank[enough, head:] = _ranks(total[enough], tail_items[enough])
    return chosen, rank


def _ranks(total: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(B, R) 1-based rank of ``items`` in each row of ``total`` (best first, ties by index)."""
    values = np.take_along_axis(total, items, axis=1)  # (B, R)
    negated = np.sort(-total, axis=1)  # (B, I) ascending -score: best first
    rank = np.empty(items.shape, dtype=np.int64)
    tied = np.zeros(items.shape, dtype=bool)
    for row in range(len(total)):  # searchsorted takes one sorted row at a time, R queries each
        first = np.searchsorted(negated[row], -values[row], side="left")  # items scored above
        last = np.searchsorted(negated[row], -values[row], side="right")
        rank[row], tied[row] = first + 1, last - first > 1
    for r, col in zip(*np.nonzero(tied), strict=True):  # ties: lower item indices rank first
        rank[r, col] += np.count_nonzero(total[r, : items[r, col]] == values[r, col])
    return rank


def _sum_parts(parts: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.asarray(np.sum(list(parts.values()), axis=0, dtype=np.float32))


def _per_user_range(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    base = np.sum(list(parts.values()), axis=0)  # (U, C)
    span = base.max(axis=1, keepdims=True) - base.min(axis=1, keepdims=True)
    span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
    return {k: (v / span).astype(np.float32) for k, v in parts.items()}


def _history_tail_share(history: sp.csr_matrix, is_tail: np.ndarray) -> np.ndarray:
    n = np.diff(history.indptr)
    tail = np.asarray(history @ is_tail.astype(np.float32)).ravel()
    return np.divide(tail, n, out=np.zeros(len(n)), where=n > 0)


# --- re-ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reranked:
    """The re-ranked top-k: positions in the candidate lists and the boost each pick received."""

    slots: np.ndarray  # (U, k) index into each user's candidates; rank before boost = slot + 1
    items: np.ndarray  # (U, k) item indices
    boost: np.ndarray  # (U, k) float32 score added by the strategy when the item was picked

    def scores(self, cands: Candidates) -> np.ndarray:
        """(U, k) the score each item was ranked by: its parts plus its boost."""
        return np.take_along_axis(cands.base, self.slots, axis=1) + self.boost


def rerank(cands: Candidates, strategy: Strategy, boost: float, k: int) -> Reranked:
    """Top-``k`` of every user's candidates under ``strategy`` with strength ``boost`` in [0, 1]."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {list(STRATEGIES)}")
    if not 0.0 <= boost <= 1.0:
        raise ValueError(f"boost must be in [0, 1], got {boost}")
    k = min(k, cands.items.shape[1])
    slots, added = {"penalty": _penalty, "xquad": _xquad, "target": _target}[strategy](
        cands, float(boost), k
    )
    items = np.take_along_axis(cands.items, slots, axis=1)
    return Reranked(slots=slots, items=items, boost=added.astype(np.float32))


def _penalty(cands: Candidates, boost: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    bonus = boost * cands.unpopularity  # (U, C)
    slots, _ = top_k(cands.base + bonus, k)  # ties keep candidate order, so boost 0 is a no-op
    return slots, np.take_along_axis(bonus, slots, axis=1)


def _xquad(cands: Candidates, boost: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    # Smooth xQuAD: (1 - l) P(v|u) + l * sum_c P(c|u) P(v|c) (1 - |S ∩ c| / |S|), c in {head, tail}.
    rel = cands.base - cands.base.min(axis=1, keepdims=True)  # (U, C) in [0, 1]
    tail = cands.tail.astype(np.float32)  # (U, C) 1 = tail item
    p_tail = cands.history_tail_share[:, None].astype(np.float32)  # (U, 1) P(tail | u)
    # P(c(v)|u) * (1 - coverage of c by S), with t = tail share of S, is for a tail item
    # p_tail * (1 - t) and for a head item (1 - p_tail) * t; both are want * (t + tail * (1 - 2t)).
    want = boost * np.where(tail > 0, p_tail, 1.0 - p_tail)  # (U, C)
    kept = ((1.0 - boost) * rel).astype(np.float32)  # (U, C) relevance term
    n_users = rel.shape[0]
    rows = np.arange(n_users)
    blocked = np.zeros(rel.shape, dtype=np.float32)  # -inf once a candidate is taken
    n_tail = np.zeros((n_users, 1), dtype=np.float32)
    slots = np.zeros((n_users, k), dtype=np.int64)
    added = np.zeros((n_users, k), dtype=np.float32)
    for j in range(k):
        t = n_tail / j if j else np.zeros_like(n_tail)  # (U, 1); an empty S covers nothing
        uncovered = (t + tail * (1.0 - 2.0 * t)) if j else 1.0
        score = kept + want * uncovered + blocked
        pick = np.argmax(score, axis=1)  # first max: candidate order breaks ties
        slots[:, j], added[:, j] = pick, score[rows, pick] - rel[rows, pick]
        blocked[rows, pick] = -np.inf
        n_tail[:, 0] += tail[rows, pick]
    return slots, added


def min_tail(k: int, share: float) -> np.ndarray:
    """(k + 1,) minimum non-head items in each prefix of length 0..k: ``floor(share * j)``."""
    return np.floor(share * np.arange(k + 1) + 1e-9).astype(np.int64)


def _target(cands: Candidates, boost: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    # The output merges the tail and head sub-lists (each kept in score order); at slot j the
    # next tail item is forced in when the prefix holds fewer than min_tail(j) tail items.
    base, tail = cands.base, cands.tail
    n_users, n_cand = base.shape
    rows = np.arange(n_users)
    order = np.argsort(~tail, axis=1, kind="stable")  # (U, C) tail slots first, each in order
    n_tail_avail = tail.sum(axis=1)
    need = min_tail(k, boost)
    ti = np.zeros(n_users, dtype=np.int64)  # tail items taken so far
    hi = np.zeros(n_users, dtype=np.int64)  # head items taken so far
    slots = np.zeros((n_users, k), dtype=np.int64)
    added = np.zeros((n_users, k))
    for j in range(k):
        has_t, has_h = ti < n_tail_avail, n_tail_avail + hi < n_cand
        t_slot = order[rows, np.minimum(ti, n_cand - 1)]
        h_slot = order[rows, np.minimum(n_tail_avail + hi, n_cand - 1)]
        t_score = np.where(has_t, base[rows, t_slot], -np.inf)
        h_score = np.where(has_h, base[rows, h_slot], -np.inf)
        forced = has_t & (ti < need[j + 1])
        by_score = has_t & ((t_score > h_score) | ((t_score == h_score) & (t_slot < h_slot)))
        pick_t = forced | by_score | ~has_h
        slots[:, j] = np.where(pick_t, t_slot, h_slot)
        added[:, j] = np.where(forced & ~by_score & has_h, h_score - t_score, 0.0)
        ti += pick_t
        hi += ~pick_t
    return slots, added


# --- trade-off -----------------------------------------------------------------------------------


KPI_KEYS: dict[str, str] = {  # label -> metric key template (k filled in)
    "Recall": "recall@{k}",
    "NDCG": "ndcg@{k}",
    "Tail recall": "tail_recall@{k}",
    "APLT": "aplt@{k}",
    "Coverage": "coverage@{k}",
    "Gini": "gini@{k}",
    "Novelty": "novelty@{k}",
}


def list_metrics(
    items: np.ndarray, cands: Candidates, holdout: sp.csr_matrix, k: int
) -> dict[str, float]:
    """:func:`~recsys.evaluation.metrics.evaluate_topk` at ``k`` over users with held-out items.

    ``holdout``: one row per user, all users; cut to the candidates' sample where they hold one.
    """
    holdout = cands.rows_of(holdout)
    users = np.flatnonzero(np.diff(sp.csr_matrix(holdout).indptr))
    return evaluate_topk(items[users], holdout[users], cands.counts, cands.groups, ks=(k,))


def tradeoff(
    cands: Candidates,
    holdout: sp.csr_matrix,
    k: int,
    boosts: Sequence[float] = tuple(DEFAULT_GRID),
    strategies: Sequence[Strategy] = tuple(STRATEGIES),
) -> pd.DataFrame:
    """One row per (strategy, boost): every metric of :func:`list_metrics` at ``k``.

    Columns: ``strategy``, ``boost`` and the metric keys (``recall@k``, ``aplt@k``, ...).
    """
    rows = []
    for strategy in strategies:
        for b in boosts:
            items = rerank(cands, strategy, float(b), k).items
            rows.append(
                {"strategy": strategy, "boost": float(b)} | list_metrics(items, cands, holdout, k)
            )
    return pd.DataFrame(rows)
