"""``hybrid``: collaborative scores blended with language-model scores, per popularity band.

A collaborative model (EASE or ItemKNN) is accurate on the head but gives cold items nothing; the
language model reaches every item but is less accurate. For an item in band b (head / tail / cold,
from training counts)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_lm(u, i) + c_b + d_b * t_u

with a_head = a_tail = 1 and a_cold = 0 (cold items have no collaborative score), c_head = 0, and
z standardised within each band, so the top of every band sits on one scale. The offsets c_b decide
how many slots each band earns, the weights w_b how each band is ordered, so cold items (LM only)
compete fairly with head items. t_u is the user's long-tail affinity (share of their history outside
the head, standardised over training users): users who liked obscure items get more tail and cold
slots (d_head = 0). Tuning on validation is two coordinate ascents: first the most
accurate blend (recall@20), then the most ``tail_recall@20 + cold_recall@20`` whose recall@20 stays
within ``max_accuracy_loss`` (a share) of that; ``max_accuracy_loss`` is the one knob that traces
the accuracy / long-tail curve.

Validation: ``TrainData.extras["validation"]`` when the protocol gives one (components fitted on the
training matrix are then scored on it directly); otherwise a seeded random ``holdout`` share of each
user's positives, plus every positive of a seeded ``cold_share`` of the rarest items (<= 2
positives, so validation has cold items as test does), is held out; the blend is tuned on it, and
both components are refitted on all.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys import metrics, popularity
from recsys.metrics import COLD, HEAD
from recsys.models.base import Recommender, TrainData, exclude, top_k

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
OFFSETS = tuple(float(x) for x in np.arange(-9.0, 2.01, 0.5))
# (parameter, band, candidates) in search order: offsets decide slots, weights decide order.
SLOPES = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
SEARCH = (("w", 0, WEIGHTS), ("c", 1, OFFSETS), ("w", 1, WEIGHTS), ("d", 1, SLOPES),
          ("c", 2, OFFSETS), ("w", 2, WEIGHTS[1:]), ("d", 2, SLOPES))  # fmt: skip


class Hybrid(Recommender):
    """EASE/ItemKNN + LM, blended per popularity band on validation (module docstring)."""

    name = "hybrid"
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(
        self,
        cf: str = "ease",
        lm: str = "lm",
        max_accuracy_loss: float = 0.08,
        holdout: float = 0.1,
        cold_share: float = 0.3,
        seed: int = 0,
        cf_params: dict | None = None,
        lm_params: dict | None = None,
        blend: dict | None = None,
    ) -> None:
        """``blend`` fixes {"w": [w_b], "c": [0, c_tail, c_cold], "d": [0, d_tail, d_cold]}."""
        self.cf, self.lm, self.holdout, self.cold_share = cf, lm, holdout, cold_share
        self.max_accuracy_loss = max_accuracy_loss
        self.seed, self.cf_params = seed, cf_params or {}
        self.lm_params = {"debias": 0.0, **(lm_params or {})} if lm == "lm" else lm_params or {}
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
            self._tune(self.train_, validation, self.groups_)
        else:
            fit, held = random_holdout(self.train_, self.holdout, self.seed)
            fit, held = rare_items_holdout(fit, held, self.cold_share, self.seed)
            inner = TrainData(fit, data.item_text, data.item_ids, dict(data.extras))
            self.cf_, self.lm_ = self._components(inner)
            fit_counts = np.asarray(fit.sum(axis=0)).ravel().astype(np.int64)
            self._tune(fit, held, popularity.groups(fit_counts, "top_share", 0.2))
            self.cf_, self.lm_ = self._components(data)
        if self.blend is not None:
            self.blend_ = self.blend

    def _tune(self, train: sp.csr_matrix, held: sp.csr_matrix, groups: np.ndarray) -> list:
        """Score ``held``'s users once, then search the blend; returns the trials."""
        users = np.flatnonzero(np.diff(held.indptr))
        z_cf, z_lm = self._z_scores(users, train[users], groups)
        exclude(z_cf, train[users])  # -inf propagates through the blend: seen items stay out
        counts = np.asarray(train.sum(axis=0)).ravel()
        raw = tail_affinity(train[users], groups)
        self.affinity_stats_ = (float(raw.mean()), float(raw.std()) or 1.0)
        affinity = self._standard_affinity(raw)
        self.tuning_ = (z_cf, z_lm, held[users], counts, groups, affinity)
        return self.retune(self.max_accuracy_loss)

    def retune(self, max_accuracy_loss: float) -> list:
        """Search the blend again for another ``max_accuracy_loss`` (no refit); sets ``blend_``.

        Two coordinate ascents: the most accurate blend, starting from collaborative scores alone;
        then the most tail + cold recall whose recall@20 stays above the accuracy floor.
        """
        z_cf, z_lm, target, counts, groups, affinity = self.tuning_
        k = min(20, len(groups))

        def measure(blend: dict) -> tuple[float, float]:
            top, _ = top_k(blend_scores(z_cf, z_lm, groups, blend, affinity), k)
            m = metrics.evaluate_topk(top, target, counts, groups, (k,))
            long_tail = np.nan_to_num(m[f"tail_recall@{k}"]) + np.nan_to_num(m[f"cold_recall@{k}"])
            return float(m[f"recall@{k}"]), float(long_tail)

        trials: list[dict] = []
        blend = {"w": [0.0, 0.0, 1.0], "c": [0.0, 0.0, -9.0], "d": [0.0, 0.0, 0.0]}
        blend, (recall, _) = _ascend(blend, measure, lambda r, t: r, trials)
        floor = (1.0 - max_accuracy_loss) * recall
        blend, _ = _ascend(blend, measure, lambda r, t: t + 1e-3 * r if r >= floor else -1.0,
                           trials)  # fmt: skip
        self.max_accuracy_loss, self.blend_ = max_accuracy_loss, blend
        return trials

    # -- scoring ------------------------------------------------------------------------------
    def _z_scores(self, users, history, groups=None) -> tuple[np.ndarray, np.ndarray]:
        groups = self.groups_ if groups is None else groups
        z_cf = standardise(self.cf_.score(users, history), groups)
        return z_cf, standardise(self.lm_.score(users, history), groups)

    def _standard_affinity(self, raw: np.ndarray) -> np.ndarray:
        mean, std = getattr(self, "affinity_stats_", (0.0, 1.0))
        return (raw - mean) / max(std, 1e-6)

    def _affinity(self, history: sp.csr_matrix) -> np.ndarray:
        return self._standard_affinity(tail_affinity(history, self.groups_))

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        z_cf, z_lm = self._z_scores(users, history)
        return blend_scores(z_cf, z_lm, self.groups_, self.blend_, self._affinity(history))

    def parts(self, users: np.ndarray, history: sp.csr_matrix) -> dict[str, np.ndarray]:
        """The score split into its terms, (B, I) each; their sum is :meth:`score` exactly."""
        z_cf, z_lm = self._z_scores(users, history)
        g = self.groups_
        w = np.asarray(self.blend_["w"], dtype=np.float32)[g]
        return {
            "collaborative": np.where(g == COLD, 0.0, z_cf).astype(np.float32),
            "language_model": (z_lm * w).astype(np.float32),
            "band_offset": offsets(g, self.blend_, self._affinity(history), len(z_cf)),
        }


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


def blend_scores(
    z_cf: np.ndarray, z_lm: np.ndarray, groups: np.ndarray, blend: dict, affinity=None
) -> np.ndarray:
    """a_b z_cf + w_b z_lm + c_b + d_b t_u per item band b (a = 1, 1, 0 for head, tail, cold).

    ``affinity`` (B,) is each user's standardised long-tail affinity t_u (:func:`tail_affinity`);
    ``blend["d"]`` (optional) its slope per band.
    """
    out = offsets(groups, blend, affinity, len(z_cf))
    w = np.asarray(blend["w"], dtype=np.float32)[groups]
    out += z_lm * w + np.where(groups == COLD, 0.0, z_cf)
    out[np.isneginf(z_cf)] = -np.inf  # items excluded upstream stay excluded
    return out.astype(np.float32)


def offsets(groups: np.ndarray, blend: dict, affinity, n_users: int) -> np.ndarray:
    """(B, I) band offsets c_b + d_b * t_u."""
    out = np.broadcast_to(np.asarray(blend["c"], np.float32)[groups], (n_users, len(groups)))
    out = out.astype(np.float32)
    if affinity is not None and "d" in blend:
        out += (
            np.asarray(affinity, np.float32)[:, None] * np.asarray(blend["d"], np.float32)[groups]
        )
    return out


def tail_affinity(history: sp.csr_matrix, groups: np.ndarray) -> np.ndarray:
    """(B,) share of each user's history outside the head band (0 for an empty history)."""
    history = history.tocsr()
    n = np.diff(history.indptr)
    rows = np.repeat(np.arange(history.shape[0]), n)
    outside = np.bincount(rows[groups[history.indices] != HEAD], minlength=history.shape[0])
    return (outside / np.maximum(n, 1)).astype(np.float32)


def _ascend(blend, measure, objective, trials, rounds: int = 2):
    """Coordinate ascent of ``objective(recall, long_tail)`` over each band's weight and offset."""
    best_m = measure(blend)
    best = objective(*best_m)
    for _ in range(rounds):
        for key, band, grid in SEARCH:
            for value in grid:
                trial = {k: list(v) for k, v in blend.items()}
                trial[key][band] = float(value)
                m = measure(trial)
                trials.append({**trial, "recall": m[0], "long_tail": m[1]})
                if objective(*m) > best + 1e-9:
                    best, best_m, blend = objective(*m), m, trial
    return blend, best_m


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


def rare_items_holdout(
    fit: sp.csr_matrix, held: sp.csr_matrix, share: float, seed: int, max_count: int = 2
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move every ``fit`` positive of a seeded ``share`` of the items with <= ``max_count``
    positives into ``held``: those items become cold, as new items are at test time."""
    counts = np.asarray(fit.sum(axis=0)).ravel()
    rare = np.flatnonzero((counts > 0) & (counts <= max_count))
    rng = np.random.default_rng(seed + 1)
    chosen = np.zeros(fit.shape[1], dtype=bool)
    chosen[rng.choice(rare, size=int(round(share * len(rare))), replace=False)] = True
    moved = fit.multiply(sp.csr_matrix(chosen.astype(np.float32)[None, :])).tocsr()
    return (fit - moved).tocsr(), (held + moved).tocsr()
