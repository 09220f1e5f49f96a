"""``hybrid``: collaborative scores blended with language-model scores, per popularity band.

A collaborative model (EASE or ItemKNN) is accurate on the head but gives cold items nothing; the
language model reaches every item but is less accurate. For an item in band b (head / tail / cold,
from training counts)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_text(u, i) + c_b + d_b * t_u + e_b * n_u

with a_head = a_tail = 1 and a_cold = 0 (cold items have no collaborative score), c_head = d_head =
e_head = 0, and z standardised within each band, so the top of every band sits on one scale. z_text
= the LM's z plus, on tail and cold items, ``lexical`` times TF-IDF's z, re-standardised: dense and
sparse text matching together where collaborative evidence is thin (a title word or tag shared
exactly is evidence the sentence vector blurs; ``lexical=0`` is the LM alone). The offsets c_b
decide how many slots each band earns, the weights w_b how each band is ordered, so cold items (text
only) compete fairly with head items. Two user features, standardised over training users, move
slots per user: t_u, the long-tail affinity (share of the history outside the head), and n_u, log
history length (a long history spends a slot on a cold item at a smaller cost in recall).

Tuning on validation: a seeded random search over the blend box, refined by coordinate ascent,
first for the most accurate blend (recall@20), then for the best worse-off long-tail band (the
smaller of the tail band's and the cold band's recall@20, plus a tenth of the larger to break ties)
whose recall@20 stays within ``max_accuracy_loss`` (a share) of that (a sum let cold, easy to hit
on the inner holdout, take every long-tail slot; a geometric mean still starved cold);
``max_accuracy_loss`` is the one knob that traces the accuracy / long-tail curve. (Coordinate
ascent alone, from the collaborative blend, stalled on ml-latest-small in a corner that gave the
cold band few slots.)

Reserved slots (``reserve``, a :class:`~recsys.models.blend.Reserve`; off by default): a list of
k keeps the most accurate blend's top k - q and gives its last q slots to the best tail and cold
items, ranked by a long-tail blend (the one tuned for ``max_accuracy_loss``, or the blend with the
best long-tail figure measured). The last positions carry little of recall@20, so a few reserved
slots buy long-tail recall at a small cost. ``tuned`` picks q (as a share of 20) and the long-tail
blend on the same validation and under the same ``max_accuracy_loss`` rule as the blend, q = 0
(the tuned blend alone) included. Only on the every-item path; lists drawn from candidates and lists
under a candidate scope (``tail``, ``cold``) are ranked by the one blend.

The collaborative part is picked by size when ``cf="auto"`` (the default; see
:func:`pick_collaborative`): EASE while its (I, I) route fits the memory budget (it may still
take the smaller (U, U) dual route), else ItemKNN on sparse co-occurrence, else ALS;
:meth:`Hybrid.describe` names it.
Tuning scores the held-out users in blocks sized from the catalogue and the budget (the numbers do
not depend on the block size); past ``max_tune_cells`` users x items per blend (a time bound) or
when their z-scores cannot all be kept within :data:`TUNE_SHARE` of the budget, a seeded sample
of them is tuned on, and ``describe`` says so.

Validation: ``TrainData.extras["validation"]`` when the protocol gives one (components fitted on the
training matrix are then scored on it directly); otherwise a seeded random ``holdout`` share of each
user's positives, plus every positive of a seeded ``cold_share`` of the rarest items (<= 2
positives, so validation has cold items as test does), is held out; the blend is tuned on it, and
both components are refitted on all.
"""

from __future__ import annotations

import inspect
from typing import ClassVar, cast

import numpy as np
import scipy.sparse as sp

from recsys.data import popularity
from recsys.evaluation import metrics
from recsys.evaluation.metrics import COLD, HEAD
from recsys.models import memory
from recsys.models.base import Recommender, TrainData, exclude, standardise, top_k
from recsys.models.blend import (
    Blend,
    Reserve,
    blend_scores,
    long_tail_top,
    offsets,
    reserve_slots,
    reserved_count,
    user_features,
)
from recsys.models.blend_search import RANDOM_TRIALS, Trial, ascend, random_blend
from recsys.models.candidates import CandidatePool
from recsys.models.hybrid_pool import CandidateScoring, blend_cells

TUNE_SHARE = 0.5  # of the budget, for the held-out users' two (U, I) float32 z-score arrays
MEASURE_ARRAYS = 12  # (B, I) float32-sized arrays of one blend_scores + top_k over a block
MIN_TUNE_USERS = 50  # fewer held-out users than this cannot tell blends apart: refuse
MAX_TUNE_CELLS = 8_000_000  # users x items measured per blend (~600 blends): bounds tuning time


class Hybrid(CandidateScoring, Recommender):
    """EASE/ItemKNN/ALS + LM, blended per popularity band on validation (module docstring)."""

    name = "hybrid"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {}
    score_arrays: ClassVar[int] = 12  # components' scores, z's, text parts, offsets, blend

    def __init__(
        self,
        cf: str = "auto",
        lm: str = "lm",
        max_accuracy_loss: float = 0.08,
        holdout: float = 0.1,
        cold_share: float = 0.3,
        seed: int = 0,
        cf_params: dict | None = None,
        lm_params: dict | None = None,
        blend: Blend | None = None,
        lexical: float = 0.5,
        random_trials: int = RANDOM_TRIALS,
        max_tune_cells: int = MAX_TUNE_CELLS,
        head_rule: popularity.Rule = "top_share",
        head_value: float | None = 0.2,
        candidate_pool: CandidatePool | None = None,
        reserve: Reserve | None = None,
    ) -> None:
        """``blend`` fixes the :class:`~recsys.models.blend.Blend` instead of searching it;
        ``max_tune_cells`` caps held-out users x items measured per blend (a seeded sample of
        users beyond it, never fewer than :data:`MIN_TUNE_USERS`); ``lm="run"`` with
        ``lm_params={"run_dir": DIR}`` reads a finished run's text tower
        (:class:`~recsys.models.lm.RunTower`) instead of training one; ``head_rule`` and
        ``head_value`` define the bands (:func:`recsys.data.popularity.head_mask`), as on the
        Data page. ``candidate_pool`` says when lists are drawn from candidates (past 100,000
        items by default; :mod:`recsys.models.hybrid_pool`). ``reserve`` reserves a list's last
        slots for long-tail items (module docstring; off by default)."""
        if max_tune_cells < 1:
            raise ValueError(f"max_tune_cells must be >= 1, got {max_tune_cells}")
        popularity.head_mask(np.zeros(1), head_rule, head_value)  # refuses an unknown rule
        self.max_tune_cells = max_tune_cells
        self.head_rule, self.head_value = head_rule, head_value
        self.cf, self.lm, self.holdout, self.cold_share = cf, lm, holdout, cold_share
        self.lexical, self.random_trials = lexical, random_trials
        self.max_accuracy_loss = max_accuracy_loss
        self.seed, self.cf_params = seed, cf_params or {}
        self.lm_params = {"debias": 0.0, **(lm_params or {})} if lm == "lm" else lm_params or {}
        self.blend = blend
        self.candidate_pool = candidate_pool or CandidatePool()
        self.reserve = reserve or Reserve()
        if self.reserve.mode == "tuned" and blend is not None:
            raise ValueError("reserve mode 'tuned' needs the blend searched; with a fixed blend "
                             "use Reserve('fixed', share)")  # fmt: skip

    # -- fitting ------------------------------------------------------------------------------
    def _components(self, data: TrainData, kept: tuple = (None, None), rows=None):
        """(collaborative, text) parts fitted on ``data``, and ``lexical_``; ``kept``: the
        (text part, lexical) of an earlier fit that depend on the item text alone, reused;
        ``rows``: the only items whose neighbours the collaborative part needs (when it can fit
        just those: ItemKNN's ``fit_rows``)."""
        from recsys.models import MODELS, make_model

        params = self.cf_params
        if self.cf == "auto":  # parameters meant for EASE do not go to a fallback
            params = _taken(MODELS[self.cf_name_], params)
        cf = make_model(self.cf_name_, seed=self.seed, **params)
        cf = (
            cf.fit_rows(data, rows)
            if rows is not None and hasattr(cf, "fit_rows")
            else cf.fit(data)
        )
        if kept[0] is not None:
            lm: Recommender = kept[0]
        elif self.lm == "run":
            from recsys.models.lm import RunTower

            lm = RunTower(**self.lm_params).fit(data)
        else:
            lm_params = dict(self.lm_params)
            if self.lm == "lm" and lm_params.get("debias") == "band":  # the LM's bands = ours
                lm_params.setdefault("head_rule", self.head_rule)
                lm_params.setdefault("head_value", self.head_value)
            lm = make_model(self.lm, seed=self.seed, **lm_params).fit(data)
        lexical = self.lexical and self.lm != "tfidf"  # TF-IDF twice would add nothing
        self.lexical_ = kept[1]
        if self.lexical_ is None and lexical:
            self.lexical_ = make_model("tfidf").fit(data)
        return cf, lm

    def _fit(self, data: TrainData) -> None:
        counts = np.asarray(self.train_.sum(axis=0)).ravel().astype(np.int64)
        self.groups_ = popularity.groups(counts, self.head_rule, self.head_value)
        if self.cf == "auto":
            self.cf_name_, self.cf_reason_ = pick_collaborative(self.train_, self.cf_params)
        else:
            self.cf_name_, self.cf_reason_ = self.cf, f"given as cf={self.cf!r}"
        self.tune_users_: tuple[int, int] | None = None  # (tuned on, held out)
        self.pool_used_ = self.candidate_pool.used(self.train_.shape[1])
        validation = data.extras.get("validation")
        if self.blend is not None:
            self.cf_, self.lm_ = self._components(data)
            self._pool_ready(data)
        elif validation is not None:
            self.cf_, self.lm_ = self._components(data)
            self._pool_ready(data)
            self._tune(self.train_, validation, self.groups_)
        else:
            fit, held = random_holdout(self.train_, self.holdout, self.seed)
            fit, held = rare_items_holdout(fit, held, self.cold_share, self.seed)
            inner = TrainData(fit, data.item_text, data.item_ids, dict(data.extras))
            # on candidates only the tuned users' items need neighbours (exactly as fitted whole)
            rows = self._tune_rows(fit, held) if self.pool_used_ else None
            self.cf_, self.lm_ = self._components(inner, rows=rows)
            self._pool_ready(data)  # text indexes once; the inner neighbours for tuning
            fit_counts = np.asarray(fit.sum(axis=0)).ravel().astype(np.int64)
            self._tune(fit, held, popularity.groups(fit_counts, self.head_rule, self.head_value))
            kept = self._text_only()
            del self.cf_, self.lm_  # the inner components' memory is free before the refit
            self.lexical_ = None
            if self.pool_used_:  # the inner neighbours too, before the refit's are built
                self.generator_.neighbours = None
            self.cf_, self.lm_ = self._components(data, kept)
            if self.pool_used_:
                self._pool_neighbours()
        if self.blend is not None:
            self.blend_ = self.blend
            self.main_blend_ = self.fill_blend_ = self.blend
            self.reserve_share_ = self.reserve.share if self.reserve.mode == "fixed" else 0.0
        if self.pool_used_:  # lists drawn from candidates are ranked by the one blend
            self.reserve_share_ = 0.0

    def _tune_rows(self, fit: sp.csr_matrix, held: sp.csr_matrix) -> np.ndarray:
        """Items in the histories of the held-out users :meth:`_tune` will sample."""
        users = np.flatnonzero(np.diff(held.indptr))
        users = self._tune_sample(users, (fit.shape[0], self.candidate_pool.per_user))
        return np.unique(fit[users].indices)

    def _text_only(self) -> tuple:
        """(text part, lexical) of the inner fit that the refit would recompute identically, for
        it to reuse (None where not): TF-IDF is fitted on the item text alone (~45 s a fit on
        1M items); their training matrix is pointed at the full one."""
        from recsys.models.tfidf import TfidfRecommender

        kept = tuple(p if isinstance(p, TfidfRecommender) else None
                     for p in (self.lm_, self.lexical_))  # fmt: skip
        for part in kept:
            if part is not None:
                part.train_, part._train_counts = self.train_, None
        return kept

    def _pool_ready(self, data: TrainData) -> None:
        if self.pool_used_:
            if getattr(self, "generator_", None) is None or self.generator_.n_items != data.n_items:
                self._pool_build(data)
            self._pool_neighbours()

    def _tune(self, train: sp.csr_matrix, held: sp.csr_matrix, groups: np.ndarray) -> list[Trial]:
        """Score ``held``'s users once (in blocks), then search the blend; returns the trials."""
        users = np.flatnonzero(np.diff(held.indptr))
        cells = None
        if self.pool_used_:  # the candidates' width, not the catalogue's, bounds the sample
            users = self._tune_sample(users, (train.shape[0], self.candidate_pool.per_user))
            z_cf, z_lm, cells = self._tune_cells(users, train, groups)
        else:
            users = self._tune_sample(users, train.shape)
            z_cf, z_lm = self._tune_scores(users, train, groups)
        counts = np.asarray(train.sum(axis=0)).ravel()
        raw = user_features(train[users], groups)
        std = raw.std(axis=0)
        self.user_stats_ = (raw.mean(axis=0), np.where(std > 1e-4, std, 1.0))  # flat: no slope
        features = self._standard_features(raw)
        target, k = held[users], min(20, len(groups))
        if cells is not None:  # a tiny catalogue can leave fewer candidates than 20
            k = min(k, cells.shape[1])
        rows = memory.rows_per_batch(z_cf.shape[1], 4, MEASURE_ARRAYS)
        blocks = [slice(s, s + rows) for s in range(0, len(users), rows)]
        self.tune_blocks_ = len(blocks)

        def ranked(blend: Blend, b: slice) -> np.ndarray:
            if cells is None:
                return top_k(blend_scores(z_cf[b], z_lm[b], groups, blend, features[b]), k)[0]
            cell_groups = groups[cells[b]]
            local = top_k(blend_cells(z_cf[b], z_lm[b], cell_groups, blend, features[b]), k)[0]
            return np.take_along_axis(cells[b], local, axis=1)

        def measure(blend: Blend) -> tuple[float, float]:
            top = np.vstack([ranked(blend, b) for b in blocks])
            m = metrics.evaluate_topk(top, target, counts, groups, (k,))
            bands = metrics.evaluate_by_band(top, target, counts, groups, (k,))
            # bands without held-out items (NaN) are left out; none measured: no long-tail gain
            found = [v for b in ("tail", "cold") if np.isfinite(v := bands[b][f"recall@{k}"])]
            long_tail = min(found) + 0.1 * max(found) if found else 0.0
            return float(m[f"recall@{k}"]), float(long_tail)

        def measure_reserved(main: Blend, fills: list[Blend], shares: list[float]):
            """{(fill index, share): (recall, long-tail)} of reserved lists (full path only)."""
            tops: dict[tuple[int, float], list[np.ndarray]] = {}
            for b in blocks:
                main_top = top_k(blend_scores(z_cf[b], z_lm[b], groups, main, features[b]), k)
                for f, fill in enumerate(fills):
                    scores = blend_scores(z_cf[b], z_lm[b], groups, fill, features[b])
                    fill_top = long_tail_top(scores, groups, k)
                    for share in shares:
                        q = reserved_count(share, k)
                        tops.setdefault((f, share), []).append(
                            reserve_slots(main_top, fill_top, q)[0]
                        )
            out = {}
            for key, parts in tops.items():
                top = np.vstack(parts)
                m = metrics.evaluate_topk(top, target, counts, groups, (k,))
                bands = metrics.evaluate_by_band(top, target, counts, groups, (k,))
                found = [v for b in ("tail", "cold") if np.isfinite(v := bands[b][f"recall@{k}"])]
                long_tail = min(found) + 0.1 * max(found) if found else 0.0
                out[key] = (float(m[f"recall@{k}"]), float(long_tail))
            return out

        self.measure_ = measure
        self.measure_reserved_ = None if cells is not None else measure_reserved
        self.accurate_: tuple[float, list[Trial]] | None = None
        rng = np.random.default_rng(self.seed)
        blends = [random_blend(rng) for _ in range(self.random_trials)]  # all draws, then measures
        self.random_trials_ = [Trial(b, *measure(b)) for b in blends]
        return self.retune(self.max_accuracy_loss)

    def _tune_sample(self, users: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``users``, or a seeded sorted sample of them: at most ``max_tune_cells`` / I users
        (at least :data:`MIN_TUNE_USERS`), whose two (B, I) z arrays fit :data:`TUNE_SHARE` of
        the budget."""
        n_items = max(shape[1], 1)
        by_memory = int(TUNE_SHARE * memory.active().bytes // (8 * n_items))
        if by_memory < min(MIN_TUNE_USERS, len(users)):
            memory.check(
                "hybrid",
                int(8 * n_items * min(MIN_TUNE_USERS, len(users)) / TUNE_SHARE),
                f"{memory.size(*shape)} (tuning the blend on at least {MIN_TUNE_USERS} held-out "
                "users' z-scores)",
                "itemknn or als alone",
            )
        room = min(max(self.max_tune_cells // n_items, MIN_TUNE_USERS), by_memory)
        self.tune_users_ = (min(room, len(users)), len(users))
        if len(users) <= room:
            return users
        rng = np.random.default_rng(self.seed + 2)
        return np.sort(rng.choice(users, size=room, replace=False))

    def _tune_scores(
        self, users: np.ndarray, train: sp.csr_matrix, groups: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, I) z_cf (seen items -inf) and z_text of ``users``, scored in blocks of users."""
        n_items = train.shape[1]
        z_cf = np.empty((len(users), n_items), dtype=np.float32)
        z_lm = np.empty((len(users), n_items), dtype=np.float32)
        rows = self.batch_rows()
        for start in range(0, len(users), rows):
            block = users[start : start + rows]
            stop = start + len(block)
            z_cf[start:stop], z_lm[start:stop] = self._z_scores(block, train[block], groups)
        exclude(z_cf, train[users])  # -inf propagates through the blend: seen items stay out
        return z_cf, z_lm

    def _tune_cells(
        self, users: np.ndarray, train: sp.csr_matrix, groups: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, C) z_cf, z_text and item positions of ``users``' candidates, in blocks; a pad
        (a row shorter than C) points at an item the user has (never held out), z_cf -inf."""
        parts = []
        rows = self.pool_batch_rows()
        for start in range(0, len(users), rows):
            block = users[start : start + rows]
            history = train[block]
            cells = self._pool_cells(history, min(20, train.shape[1]))
            z_cf, z_text = self._pool_z(block, history, cells, groups)
            parts.append(
                (z_cf, z_text, np.where(cells >= 0, cells, _first_items(history)[:, None]))
            )
        width = max(p[0].shape[1] for p in parts)

        def stack(i: int, fill: float) -> np.ndarray:
            return np.vstack(
                [np.pad(p[i], ((0, 0), (0, width - p[i].shape[1])), constant_values=fill)
                 for p in parts]
            )  # fmt: skip

        cells = np.vstack([np.pad(p[2], ((0, 0), (0, width - p[2].shape[1])), mode="edge")
                           for p in parts])  # fmt: skip
        return stack(0, -np.inf), stack(1, 0.0), cells

    def batch_rows(self) -> int:
        if getattr(self, "pool_used_", False):
            return self.pool_batch_rows()
        return super().batch_rows()

    def recommend(self, users, k, history=None, exclude_seen=True, candidates=None):
        """As :meth:`Recommender.recommend`; on the candidate path each list is drawn from the
        user's candidates (:meth:`top_among`), in batches of :meth:`batch_rows`."""
        if not getattr(self, "pool_used_", False):
            if candidates is None and reserved_count(getattr(self, "reserve_share_", 0.0), k):
                return self._reserved(np.asarray(users, dtype=np.int64), k, history,
                                      exclude_seen)  # fmt: skip
            return super().recommend(users, k, history, exclude_seen, candidates)
        from recsys.models.scope import CandidateScope

        users = np.asarray(users, dtype=np.int64)
        history = self.train_[users] if history is None else history.tocsr()
        if isinstance(candidates, CandidateScope):
            candidates = candidates.mask(self.train_)
        if not exclude_seen:
            raise ValueError("hybrid: lists drawn from candidates always leave seen items out")
        rows, found = self.batch_rows(), []
        for s in range(0, len(users), rows):
            found.append(self.top_among(users[s : s + rows], history[s : s + rows], k,
                                        scope=candidates))  # fmt: skip
        if not found:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return np.vstack([f[0] for f in found]), np.vstack([f[1] for f in found])

    def _reserved(self, users, k, history, exclude_seen) -> tuple[np.ndarray, np.ndarray]:
        """Lists with reserved long-tail slots (:func:`~recsys.models.blend.reserve_slots`)."""
        history = self.train_[users] if history is None else history.tocsr()
        q, rows, found = reserved_count(self.reserve_share_, k), self.batch_rows(), []
        for s in range(0, len(users), rows):
            block, seen = users[s : s + rows], history[s : s + rows]
            z_cf, z_text = self._z_scores(block, seen)
            features = self._features(seen)
            main = blend_scores(z_cf, z_text, self.groups_, self.main_blend_, features)
            fill = blend_scores(z_cf, z_text, self.groups_, self.fill_blend_, features)
            del z_cf, z_text
            if exclude_seen:
                exclude(main, seen)
                exclude(fill, seen)
            found.append(reserve_slots(top_k(main, k), long_tail_top(fill, self.groups_, k), q))
        if not found:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return np.vstack([f[0] for f in found]), np.vstack([f[1] for f in found])

    def describe(self) -> str:
        """One line: which collaborative and text parts were used, and on how many users tuned."""
        line = (
            f"hybrid: collaborative part {self.cf_name_} ({self.cf_reason_}), text part {self.lm}"
        )
        if self.tune_users_ and self.tune_users_[0] < self.tune_users_[1]:
            line += (
                f"; blend tuned on a seeded sample of {self.tune_users_[0]:,} of "
                f"{self.tune_users_[1]:,} held-out users (max_tune_cells, memory budget)"
            )
        q = reserved_count(getattr(self, "reserve_share_", 0.0), 20)
        if self.reserve.mode != "off":
            why = self.reserve.mode + (", candidate path" if self.pool_used_ else "")
            slots = f"{q} of every 20 list slots" if q else "no list slots"
            line += f"; {slots} reserved for tail and cold items ({why})"
        if getattr(self, "pool_used_", False):
            return f"{line}; {self.pool_note()}"
        return f"{line}; every item scored (no candidates at {self.train_.shape[1]:,} items)"

    def retune(self, max_accuracy_loss: float) -> list[Trial]:
        """Search the blend again for another ``max_accuracy_loss`` (no refit); sets ``blend_``.

        The most accurate blend (coordinate ascent from the collaborative blend and from the best
        random trial); then the best worse-off long-tail band whose recall@20 stays above the
        accuracy floor (best candidate above it, then coordinate ascent). The random trials and
        the accurate phase are measured once and reused, so the result does not depend on which
        budgets were tried before.
        """
        measure = self.measure_
        if self.accurate_ is None:  # the same for every max_accuracy_loss
            start = Blend(weights=(0.0, 0.0, 1.0), offsets=(0.0, 0.0, -9.0))  # collaborative
            # Ties go to the earlier candidate: the collaborative blend, then the accurate one,
            # then random ones, so a holdout that cannot tell blends apart never picks a random
            # corner.
            found = [Trial(start, *measure(start))]
            best = max(self.random_trials_, key=lambda x: x.recall)
            blend, (recall, long_tail) = max(  # ascents from the collaborative and the best random
                (ascend(b, measure, lambda r, t: r, found) for b in (start, best.blend)),
                key=lambda result: result[1][0],
            )
            found.append(Trial(blend, recall, long_tail))
            self.accurate_ = (recall, found)
        recall, found = self.accurate_
        trials = [*found, *self.random_trials_]
        floor = (1.0 - max_accuracy_loss) * recall

        def objective(r: float, t: float) -> float:
            return t + 1e-3 * r if r >= floor else -1.0 + r

        best = max(trials, key=lambda x: objective(x.recall, x.long_tail))
        blend, chosen = ascend(best.blend, measure, objective, trials)
        self.max_accuracy_loss, self.blend_ = max_accuracy_loss, blend
        self.main_blend_ = self.fill_blend_ = blend
        self.reserve_share_ = 0.0
        self.reserve_trials_: list[dict] = []
        self.reserve_pick_: dict | None = None
        if self.reserve.mode != "off" and self.measure_reserved_ is not None:
            self._choose_reserve(found[-1].blend, trials, chosen, objective)
        return trials

    def _choose_reserve(self, accurate: Blend, trials: list[Trial], chosen, objective) -> None:
        """Reserved slots on validation: the accurate blend's top k - q, the last q slots from
        the tuned blend or the best long-tail blend measured; q = 0 (``blend_`` alone) stays a
        candidate and wins ties. Sets ``main_blend_``, ``fill_blend_``, ``reserve_share_`` and
        ``reserve_pick_`` (the chosen entry of ``reserve_trials_``, None for q = 0)."""
        widest = max(trials, key=lambda x: (x.long_tail, x.recall)).blend
        fills = [self.blend_, widest]
        if self.reserve.mode == "fixed":
            shares = [self.reserve.share]
        else:
            step = 1.0 / 20
            shares = [q * step for q in range(1, int(self.reserve.max_share / step + 1e-9) + 1)]
        assert self.measure_reserved_ is not None  # the every-item path tuned
        measured = self.measure_reserved_(accurate, fills, shares)
        self.reserve_trials_ = [
            {"fill": ("tuned", "widest")[f], "share": share, "recall": r, "long_tail": t}
            for (f, share), (r, t) in measured.items()
        ]
        if self.reserve.mode == "fixed":  # the tuned blend fills the fixed slots
            self.main_blend_, self.reserve_share_ = accurate, self.reserve.share
            self.reserve_pick_ = self.reserve_trials_[0]
            return
        best, best_value = None, objective(*chosen)
        for n, ((f, share), m) in enumerate(measured.items()):
            if objective(*m) > best_value + 1e-9:
                best, best_value = (fills[f], share, n), objective(*m)
        if best is not None:
            self.main_blend_, self.fill_blend_ = accurate, best[0]
            self.reserve_share_, self.reserve_pick_ = best[1], self.reserve_trials_[best[2]]

    # -- scoring ------------------------------------------------------------------------------
    def _text_parts(self, users, history, groups) -> tuple[np.ndarray, np.ndarray]:
        """(LM, lexical) terms of z_text: LM z and ``lexical`` * TF-IDF z over their sum's std.

        Both z's have zero mean within each band, so their sum needs no re-centring and z_text is
        exactly the sum of the two terms.
        """
        z_lm = standardise(self.lm_.score(users, history), groups)
        if self.lexical_ is None:
            return z_lm, np.zeros_like(z_lm)
        z_lex = self.lexical * standardise(self.lexical_.score(users, history), groups)
        z_lex[:, groups == HEAD] = 0.0  # the head has collaborative evidence; word overlap is noise
        total, std = z_lm + z_lex, np.ones_like(z_lm)
        for band in np.unique(groups):
            cols = groups == band
            std[:, cols] = np.maximum(total[:, cols].std(axis=1, keepdims=True), 1e-6)
        return z_lm / std, z_lex / std

    def _z_scores(self, users, history, groups=None) -> tuple[np.ndarray, np.ndarray]:
        groups = self.groups_ if groups is None else groups
        z_cf = standardise(self.cf_.score(users, history), groups)
        return z_cf, cast(np.ndarray, sum(self._text_parts(users, history, groups)))

    def _standard_features(self, raw: np.ndarray) -> np.ndarray:
        mean, std = getattr(self, "user_stats_", (np.zeros(2), np.ones(2)))
        return ((raw - mean) / std).astype(np.float32)

    def _features(self, history: sp.csr_matrix) -> np.ndarray:
        return self._standard_features(user_features(history, self.groups_))

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        z_cf, z_text = self._z_scores(users, history)
        return blend_scores(z_cf, z_text, self.groups_, self.blend_, self._features(history))

    def parts(self, users: np.ndarray, history: sp.csr_matrix) -> dict[str, np.ndarray]:
        """The score split into its terms, (B, I) each; their sum is :meth:`score` exactly."""
        g = self.groups_
        z_cf = standardise(self.cf_.score(users, history), g)
        z_lm, z_lex = self._text_parts(users, history, g)
        w = np.asarray(self.blend_.weights, dtype=np.float32)[g]
        out = {
            "collaborative": np.where(g == COLD, 0.0, z_cf).astype(np.float32),
            "language_model": (z_lm * w).astype(np.float32),
            "band_offset": offsets(g, self.blend_, self._features(history), len(z_cf)),
        }
        if self.lexical_ is not None:
            out["content"] = (z_lex * w).astype(np.float32)
        return out

    def score_candidates(self, users, history, candidates) -> np.ndarray:
        """New items only (scope ``cold``): ranked by the text part, which alone knows them."""
        if np.all(self.groups_[np.asarray(candidates, dtype=bool)] == COLD):
            return cast(np.ndarray, sum(self._text_parts(users, history, self.groups_)))
        return super().score_candidates(users, history, candidates)


def _first_items(history: sp.csr_matrix) -> np.ndarray:
    """(B,) each row's first item (0 for an empty row)."""
    lengths = np.diff(history.indptr)
    first = history.indices[np.minimum(history.indptr[:-1], max(history.nnz - 1, 0))]
    return np.where(lengths > 0, first, 0) if history.nnz else np.zeros(len(lengths), np.int64)


def pick_collaborative(matrix: sp.csr_matrix, params: dict | None = None) -> tuple[str, str]:
    """(model name, why) of the collaborative part that fits the memory budget on ``matrix``:
    EASE while its items x items route fits (24 I^2 bytes; it may still take the smaller dual
    route), else ItemKNN (sparse co-occurrence), else ALS. The rule rests on the catalogue, not
    on the user count, which grows: a shop's 20k users x 50k items gets ItemKNN, not a
    20k x 20k dual inverse.

    ``params`` (the hybrid's ``cf_params``) go to each candidate whose constructor takes them.
    """
    from recsys.models.als import ALS
    from recsys.models.ease import pick_route, route_bytes
    from recsys.models.itemknn import ItemKNN

    n_users, n_items = matrix.shape
    budget = memory.active()
    need = route_bytes(n_users, n_items)["primal"]  # the items x items route, whatever U is
    if memory.fits(need, budget):
        route = pick_route(n_users, n_items, "auto", budget)  # never more than the primal
        fits = f"its items x items {memory.human(need)} fits the {budget} memory budget"
        return "ease", f"{fits}; {route} route"
    why = f"EASE would need {memory.human(need)}, over the {budget} memory budget"
    knn = ItemKNN(**_taken(ItemKNN, params))
    if memory.fits(knn.fit_bytes(matrix), budget):
        return "itemknn", why + "; sparse co-occurrence fits"
    als = ALS(**_taken(ALS, params))
    if memory.fits(als.fit_bytes(matrix), budget):
        return "als", why + ", and so would ItemKNN; factors fit"
    raise memory.MemoryBudgetError(
        f"model 'hybrid' on {memory.size(n_users, n_items)}: no collaborative part fits the "
        f"{budget} memory budget ({why}; ItemKNN {memory.human(knn.fit_bytes(matrix))}, ALS "
        f"{memory.human(als.fit_bytes(matrix))}); use mostpop or tfidf, or raise the budget with "
        f"--memory-budget or ${memory.ENV}"
    )


def _taken(factory, params: dict | None) -> dict:
    names = inspect.signature(factory).parameters
    return {k: v for k, v in (params or {}).items() if k in names}


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
