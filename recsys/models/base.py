"""The one interface every recommender implements.

A model is fitted on a :class:`TrainData` (binary user x item matrix + item text) and scores a batch
of users against the whole catalogue. ``recommend`` does full-catalogue top-K with the user's
training items excluded, vectorised over the batch, optionally within a candidate scope
(:mod:`recsys.models.scope`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys.models.memory import rows_per_batch
from recsys.models.scope import CandidateScope, cold_refusal


@dataclass
class TrainData:
    """What a model may learn from: positives as a (U, I) CSR matrix and the catalogue's text."""

    matrix: sp.csr_matrix  # (U, I) float32, 1 = positive
    item_text: list[str]  # (I,) text per item, catalogue order
    item_ids: np.ndarray | None = None  # (I,) external ids, for caches and explanations
    extras: dict = field(default_factory=dict)  # e.g. {"validation": csr} for models that tune

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


class Recommender(ABC):
    """Base class: ``fit`` once, then ``score``/``recommend`` batches of users.

    ``history`` (a CSR matrix aligned with ``users``) replaces the training rows when given, so
    models that build users from their items can score users they never saw.
    """

    name: str = "base"
    param_grid: ClassVar[dict[str, list]] = {}  # every registered model sets its own
    # True when the model ranks items with no training interaction by something they have (text);
    # False refuses lists of new items only, where all its scores would tie.
    scores_cold_items: ClassVar[bool] = False
    # (B, I) float32 arrays one ``score`` call holds at its peak; sizes the user batches
    score_arrays: ClassVar[int] = 3

    def fit(self, data: TrainData) -> Recommender:
        self.train_ = data.matrix.tocsr().astype(np.float32)
        self._train_counts: np.ndarray | None = None
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: TrainData) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """(B, I) float32 scores; higher is better."""

    def score(self, users: np.ndarray, history: sp.csr_matrix | None = None) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        if history is None:
            history = self.train_[users]
        return np.asarray(self._score(users, history), dtype=np.float32)

    def recommend(
        self,
        users: np.ndarray,
        k: int,
        history: sp.csr_matrix | None = None,
        exclude_seen: bool = True,
        candidates: np.ndarray | CandidateScope | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores, (B, k) each, best first.

        ``candidates``: an (I,) bool mask of the items a list may hold, or a
        :class:`~recsys.models.scope.CandidateScope` scope resolved on the training matrix; the
        other items never appear (a row with fewer candidates than ``k`` ends in -inf slots).
        Users are scored in batches of :meth:`batch_rows` (the result does not depend on it).
        """
        users = np.asarray(users, dtype=np.int64)
        if history is None:
            history = self.train_[users]
        if isinstance(candidates, CandidateScope):
            candidates = candidates.mask(self.train_)
        rows = self.batch_rows()
        if len(users) > rows:
            tops = [
                self.recommend(
                    users[s : s + rows], k, history[s : s + rows], exclude_seen, candidates
                )  # fmt: skip
                for s in range(0, len(users), rows)
            ]
            return np.vstack([t[0] for t in tops]), np.vstack([t[1] for t in tops])
        if candidates is None:
            scores = self.score(users, history)
        else:
            scores = self.score_candidates(users, history, candidates)
        if exclude_seen:
            exclude(scores, history)
        if candidates is not None:
            restrict(scores, candidates)
        return top_k(scores, k)

    def score_candidates(
        self, users: np.ndarray, history: sp.csr_matrix, candidates: np.ndarray
    ) -> np.ndarray:
        """(B, I) scores for lists drawn from ``candidates`` only (the others are masked later).

        A model without ``scores_cold_items`` refuses candidates that are all new items: every
        one of them would score the same. Models may rank a scope by another part (the hybrid
        ranks new items by its text part).
        """
        candidates = np.asarray(candidates, dtype=bool)
        if len(candidates) != self.train_.shape[1]:
            raise ValueError(
                f"candidates mask has {len(candidates)} items, the model {self.train_.shape[1]}"
            )
        if not self.scores_cold_items and candidates.any():
            counts = getattr(self, "_train_counts", None)
            if counts is None:  # once per fit, not per batch
                counts = self._train_counts = np.diff(self.train_.tocsc().indptr)  # (I,)
            if not counts[candidates].any():
                raise ValueError(cold_refusal(self.name))
        return self.score(users, history)

    def batch_rows(self) -> int:
        """Users per scoring batch within the memory budget: the model's ``score_arrays`` plus
        the top-k's own (negated scores and int64 positions) per catalogue item."""
        return rows_per_batch(self.train_.shape[1], 4, self.score_arrays + 3)


def exclude(scores: np.ndarray, history: sp.csr_matrix) -> None:
    """Set the scores of each row's history items to -inf, in place."""
    h = history.tocoo()
    scores[h.row, h.col] = -np.inf


def restrict(scores: np.ndarray, candidates: np.ndarray) -> None:
    """Set the scores of items outside the (I,) bool ``candidates`` mask to -inf, in place."""
    scores[:, ~np.asarray(candidates, dtype=bool)] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k (indices, values) sorted best first; ties broken by lower item index."""
    k = min(k, scores.shape[1])
    if k <= 0:
        empty = np.zeros((scores.shape[0], 0), dtype=np.int64)
        return empty, np.zeros((scores.shape[0], 0), dtype=scores.dtype)
    part = _select(scores, k)
    vals = np.take_along_axis(scores, part, axis=1)
    _fix_boundary_ties(scores, part, vals)
    order = _stable_order(part, vals)
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(vals, order, axis=1)


def _select(scores: np.ndarray, k: int) -> np.ndarray:
    # Some k best per row, in any order (ties at the cut are settled by _fix_boundary_ties).
    # torch.topk is 3-5x faster than argpartition on (B, I) float rows (the blend search calls
    # this ~1,000 times); it ranks NaN first where argpartition ranks it last, so rows with NaN
    # and other dtypes keep the NumPy route.
    if scores.dtype in (np.float32, np.float64) and not np.isnan(scores).any():
        import torch  # here: a model module that never ranks need not load torch

        rows = torch.from_numpy(np.ascontiguousarray(scores))
        return torch.topk(rows, k, dim=1, sorted=False).indices.numpy()
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _fix_boundary_ties(scores: np.ndarray, part: np.ndarray, vals: np.ndarray) -> None:
    # argpartition keeps an arbitrary subset of the items tied at the k-th score (e.g. items 0, 1, 4
    # of five zeros), so rows with a tie across the cut are re-ranked with a full stable sort.
    k = part.shape[1]
    kth = vals.min(axis=1, keepdims=True)  # (B, 1)
    cut = np.count_nonzero(scores == kth, axis=1) > np.count_nonzero(vals == kth, axis=1)
    rows = np.flatnonzero(cut)
    if len(rows):
        full = np.argsort(-scores[rows], axis=1, kind="stable")[:, :k]
        part[rows] = full
        vals[rows] = np.take_along_axis(scores[rows], full, axis=1)


def _stable_order(part: np.ndarray, vals: np.ndarray) -> np.ndarray:
    # Sort by score descending, then by item index ascending, row by row (vectorised).
    by_item = np.argsort(part, axis=1, kind="stable")
    vals_s = np.take_along_axis(vals, by_item, axis=1)
    by_score = np.argsort(-vals_s, axis=1, kind="stable")
    return np.take_along_axis(by_item, by_score, axis=1)


def standardise(scores: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Per-row z-scores within each popularity band (whole row without ``groups``), float32.

    Within-band, so the top of each band sits on one scale whatever the band's raw level (EASE
    scores of tail items are tiny next to head items); a constant band becomes zeros.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if groups is None:
        groups = np.zeros(scores.shape[1], dtype=np.int8)
    out = np.zeros_like(scores)
    for band in np.unique(groups):
        cols = groups == band
        x = scores[:, cols]
        out[:, cols] = (x - x.mean(axis=1, keepdims=True)) / np.maximum(
            x.std(axis=1, keepdims=True), 1e-6
        )
    return out
