"""``hybrid``: collaborative scores blended with language-model scores, per popularity band.

A collaborative model (EASE or ItemKNN) is accurate on the head but gives cold items nothing; the
language model reaches every item but is less accurate. Both score lists are standardised per user
(z-scores over the catalogue), then for an item in band b (head / tail / cold, from training
counts)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_lm(u, i) + c_b

with a_head = a_tail = 1 and a_cold = 0 (cold items have no collaborative score), c_head = 0.
The weights w_b and offsets c_b are chosen on validation, band by band, to maximise
``recall@20 + tail_weight * (tail_recall@20 + cold_recall@20)``: the offsets decide how many slots
each band earns, the weights how each band is ordered, so cold items (LM only) compete on a fair
scale with head items. ``tail_weight`` is the one knob that traces the accuracy / long-tail curve.

Validation: ``TrainData.extras["validation"]`` when the protocol gives one (components fitted on the
training matrix are then scored on it directly); otherwise a seeded random ``holdout`` share of each
user's positives is held out, the blend is tuned on it, and both components are refitted on all.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys import metrics, popularity
from recsys.models.base import Recommender, TrainData, exclude, top_k

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
OFFSETS = tuple(np.round(np.arange(-4.0, 1.01, 0.25), 2))


class Hybrid(Recommender):
    """EASE/ItemKNN + LM, blended per popularity band on validation (module docstring)."""

    name = "hybrid"
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(
        self,
        cf: str = "ease",
        lm: str = "lm",
        tail_weight: float = 1.0,
        holdout: float = 0.1,
        seed: int = 0,
        cf_params: dict | None = None,
        lm_params: dict | None = None,
        blend: dict | None = None,
    ) -> None:
        """``blend`` fixes {"w": [w_head, w_tail, w_cold], "c": [0, c_tail, c_cold]}, no tuning."""
        self.cf, self.lm, self.tail_weight, self.holdout = cf, lm, tail_weight, holdout
        self.seed, self.cf_params, self.lm_params = seed, cf_params or {}, lm_params or {}
        self.blend = blend

    # -- fitting ------------------------------------------------------------------------------
    def _components(self, data: TrainData):
        from recsys.models import make_model

        cf = make_model(self.cf, seed=self.seed, **self.cf_params).fit(data)
        lm = make_model(self.lm, seed=self.seed, **self.lm_params).fit(data)
        return cf, lm

    def _fit(self, data: TrainData) -> None:
        counts = np.asarray(self.train_.sum(axis=0)).ravel().astype(np.int64)
        self.groups_ = popularity.groups(counts, "top_share", 0.2)
        validation = data.extras.get("validation")
        if self.blend is not None:
            self.cf_, self.lm_ = self._components(data)
        elif validation is not None:
            self.cf_, self.lm_ = self._components(data)
            self.blend_trials_ = self._tune(self.train_, validation, self.groups_)
        else:
            fit, held = random_holdout(self.train_, self.holdout, self.seed)
            inner = TrainData(fit, data.item_text, data.item_ids, dict(data.extras))
            self.cf_, self.lm_ = self._components(inner)
            fit_counts = np.asarray(fit.sum(axis=0)).ravel().astype(np.int64)
            self._tune(fit, held, popularity.groups(fit_counts, "top_share", 0.2))
            self.cf_, self.lm_ = self._components(data)
        self.blend_ = self.blend or self.blend_

    def _tune(self, train: sp.csr_matrix, held: sp.csr_matrix, groups: np.ndarray) -> list:
        """Coordinate ascent over w_b and c_b on ``held``; sets ``blend_``, returns the trials."""
        users = np.flatnonzero(np.diff(held.indptr))
        z_cf, z_lm = self._z_scores(users, train[users])
        counts = np.asarray(train.sum(axis=0)).ravel()
        target = held[users]
        exclude(z_cf, train[users])  # -inf propagates through the blend: seen items stay out

        k = min(20, len(groups))

        def objective(blend: dict) -> float:
            top, _ = top_k(blend_scores(z_cf, z_lm, groups, blend), k)
            m = metrics.evaluate_topk(top, target, counts, groups, (k,))
            long_tail = np.nan_to_num(m[f"tail_recall@{k}"]) + np.nan_to_num(m[f"cold_recall@{k}"])
            return float(m[f"recall@{k}"] + self.tail_weight * long_tail)

        blend = {"w": [0.0, 0.0, 1.0], "c": [0.0, 0.0, -4.0]}  # start: collaborative only
        best, trials = objective(blend), []
        for _ in range(2):
            for key, band, grid in (("c", 1, OFFSETS), ("w", 1, WEIGHTS), ("c", 2, OFFSETS),
                                    ("w", 0, WEIGHTS), ("w", 2, WEIGHTS[1:])):  # fmt: skip
                for value in grid:
                    trial = {k: list(v) for k, v in blend.items()}
                    trial[key][band] = float(value)
                    score = objective(trial)
                    trials.append({**trial, "objective": score})
                    if score > best + 1e-9:
                        best, blend = score, trial
        self.blend_ = blend
        self.blend_objective_ = best
        return trials

    # -- scoring ------------------------------------------------------------------------------
    def _z_scores(self, users: np.ndarray, history: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return standardise(self.cf_.score(users, history)), standardise(
            self.lm_.score(users, history)
        )

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        z_cf, z_lm = self._z_scores(users, history)
        return blend_scores(z_cf, z_lm, self.groups_, self.blend_)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores, (B, I) -> (B, I) float32; a constant row becomes zeros."""
    scores = np.asarray(scores, dtype=np.float32)
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.maximum(std, 1e-6)


def blend_scores(z_cf: np.ndarray, z_lm: np.ndarray, groups: np.ndarray, blend: dict) -> np.ndarray:
    """a_b * z_cf + w_b * z_lm + c_b per item band b (a = 1, 1, 0 for head, tail, cold)."""
    a = np.array([1.0, 1.0, 0.0], dtype=np.float32)[groups]  # (I,)
    w = np.asarray(blend["w"], dtype=np.float32)[groups]
    c = np.asarray(blend["c"], dtype=np.float32)[groups]
    out = z_lm * w + c + np.where(a > 0, z_cf, 0.0)
    out[np.isneginf(z_cf)] = -np.inf  # items excluded upstream stay excluded
    return out.astype(np.float32)


def random_holdout(
    matrix: sp.csr_matrix, fraction: float, seed: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per user, a seeded random ``fraction`` of positives (at least one, never all) held out."""
    rng = np.random.default_rng(seed)
    m = matrix.tocsr()
    keep = np.ones(m.nnz, dtype=bool)
    for u in range(m.shape[0]):
        lo, hi = m.indptr[u], m.indptr[u + 1]
        n = hi - lo
        if n >= 2:
            k = min(max(1, int(round(fraction * n))), n - 1)
            keep[lo + rng.choice(n, size=k, replace=False)] = False
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    fit = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    held = sp.csr_matrix((m.data[~keep], (rows[~keep], m.indices[~keep])), shape=m.shape)
    return fit, held
