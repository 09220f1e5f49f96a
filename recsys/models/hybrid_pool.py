"""The hybrid's candidate path: each user's list drawn from a few hundred candidates.

Past :attr:`~recsys.models.candidates.CandidatePool.threshold` items (or when forced on) the
hybrid scores only each user's candidates (:class:`~recsys.models.candidates.CandidateGenerator`:
collaborative neighbours, text ANN, tail/cold-only text ANN), held as a padded (B, C) array of
item positions, so no (B, I) array is formed. The blend needs each part's scores standardised
within each popularity band over the whole row; the per-band mean and standard deviation come from
a seeded reference sample of ``band_sample`` items per band (every item of a smaller band, which
makes the candidates' scores exactly the whole-catalogue ones). Users with fewer than the list
length of candidates (a history too short to search from) are topped up with the most popular
unseen items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import COLD, HEAD
from recsys.models.base import TrainData, top_k
from recsys.models.blend import Blend
from recsys.models.candidates import (
    CandidateGenerator,
    CandidatePool,
    CoOccurrence,
    padded,
    part_scores,
    scores_pairs_alone,
)

N_BANDS = 3  # head, tail, cold
EASE_NEIGHBOURS = 200  # strongest EASE weights per item kept as the collaborative source
POPULAR_KEPT = 4096  # most popular items kept for topping up short candidate lists


def strongest_per_row(weights: np.ndarray, k: int) -> sp.csr_matrix:
    """(I, I) sparse: each row's ``k`` largest positive entries of a dense (I, I) matrix."""
    k = min(k, weights.shape[1])
    top = np.argpartition(-weights, k - 1, axis=1)[:, :k]  # (I, k)
    values = np.take_along_axis(weights, top, axis=1)
    rows = np.repeat(np.arange(len(weights)), k)
    keep = values.ravel() > 0
    shape = weights.shape
    return sp.csr_matrix((values.ravel()[keep], (rows[keep], top.ravel()[keep])), shape=shape)


def band_reference(groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions: up to ``size`` items of each band, a seeded sample of larger bands."""
    rng = np.random.default_rng(seed + 3)
    picked = []
    for band in range(N_BANDS):
        members = np.flatnonzero(groups == band)
        if len(members) > size:
            members = rng.choice(members, size=size, replace=False)
        picked.append(members)
    return np.sort(np.concatenate(picked))


def band_stats(scores: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 3) mean and (B, 3) floored std of each row's scores within each band (as
    :func:`~recsys.models.base.standardise`); bands without items get mean 0, std 1."""
    mean = np.zeros((len(scores), N_BANDS), np.float32)
    std = np.ones((len(scores), N_BANDS), np.float32)
    for band in np.unique(groups):
        x = scores[:, groups == band]
        mean[:, band] = x.mean(axis=1)
        std[:, band] = np.maximum(x.std(axis=1), 1e-6)
    return mean, std


def standardise_cells(scores, cell_groups, mean, std) -> np.ndarray:
    """(B, C) z-scores of cell scores by their row's statistics for the cell's band."""
    rows = np.arange(len(scores))[:, None]
    return ((scores - mean[rows, cell_groups]) / std[rows, cell_groups]).astype(np.float32)


def blend_cells(z_cf, z_text, cell_groups, blend: Blend, features) -> np.ndarray:
    """:func:`~recsys.models.blend.blend_scores` on (B, C) cells with a band per cell."""
    out = np.asarray(blend.offsets, np.float32)[cell_groups]
    features = np.asarray(features, np.float32).reshape(len(out), -1)
    for column, slope in enumerate((blend.tail_slopes, blend.length_slopes)[: features.shape[1]]):
        out += features[:, column, None] * np.asarray(slope, np.float32)[cell_groups]
    w = np.asarray(blend.weights, dtype=np.float32)[cell_groups]
    out += z_text * w + np.where(cell_groups == COLD, 0.0, z_cf)
    out[np.isneginf(z_cf)] = -np.inf
    return out.astype(np.float32)


class CandidateScoring:
    """Methods of :class:`~recsys.models.hybrid.Hybrid` for lists drawn from candidates."""

    candidate_pool: CandidatePool
    seed: int
    # provided by Hybrid, the class this mixes into
    groups_: np.ndarray
    train_: Any
    cf_: Any
    lm_: Any
    lexical: Any
    lexical_: Any
    blend_: Any
    _features: Any

    def _pool_build(self, data: TrainData) -> None:
        """The generator over the text vectors (and ItemKNN's neighbours when that is the
        collaborative part); the indexes are built once, on the full data's bands."""
        vectors, self.pool_vectors_ = self._text_vectors(data)
        self.generator_ = CandidateGenerator(
            vectors, self.groups_, None, self.candidate_pool.sources()
        )
        counts = np.asarray(self.train_.sum(axis=0)).ravel()
        self.popular_ = np.argsort(-counts, kind="stable")[:POPULAR_KEPT]
        self.pool_counts_ = [0, 0]  # users scored, candidates scored

    def _pool_neighbours(self) -> None:
        """The collaborative source: ItemKNN's neighbours, the strongest weights of each
        item's row of EASE's primal (I, I) matrix, else (ALS, EASE's dual route) the
        co-occurrence walk over the part's training matrix (:class:`CoOccurrence`)."""
        neighbours = getattr(self.cf_, "sim_", None)
        weights = getattr(self.cf_, "b_", None)
        if neighbours is None and weights is not None:
            neighbours = strongest_per_row(weights, EASE_NEIGHBOURS)
        if neighbours is None:
            neighbours = CoOccurrence(self.cf_.train_)
        self.generator_.neighbours = neighbours

    def _text_vectors(self, data: TrainData) -> tuple[np.ndarray, str]:
        vectors = getattr(self.lm_, "vectors_", None)
        if vectors is not None:
            return vectors, f"{vectors.shape[1]}-dim frozen-LM item vectors"
        from recsys.models.tfidf import TfidfRecommender

        tfidf = self.lm_ if isinstance(self.lm_, TfidfRecommender) else self.lexical_
        if tfidf is None:
            tfidf = TfidfRecommender().fit(data)
        assert isinstance(tfidf, TfidfRecommender)
        terms = tfidf.item_vectors_
        dims = min(self.candidate_pool.text_dims, terms.shape[1] - 1, terms.shape[0] - 1)
        if dims < 2:  # a vocabulary too small to reduce: the TF-IDF vectors themselves
            return terms.toarray(), f"{terms.shape[1]}-dim TF-IDF vectors"
        from sklearn.decomposition import TruncatedSVD

        svd = TruncatedSVD(dims, random_state=self.seed)
        reduced = svd.fit_transform(terms).astype(np.float32)
        return reduced, f"{dims}-dim TF-IDF + SVD item vectors"

    def _pool_cells(self, history: sp.csr_matrix, k: int, scope: np.ndarray | None = None):
        """(B, C) candidate item positions of each row (-1 pads), at least ``k`` where the
        catalogue allows; only ``scope`` items (an (I,) bool mask) when given."""
        found = self.generator_.candidates(history)
        if scope is not None:
            found = found.multiply(sp.csr_matrix(np.asarray(scope, np.float32)[None, :])).tocsr()
            found.eliminate_zeros()
        cells = padded(found)
        short = np.flatnonzero((cells >= 0).sum(axis=1) < k)
        if len(short) == 0:
            return cells
        popular = self.popular_ if scope is None else self.popular_[scope[self.popular_]]
        extra = []
        for row in short:
            have = np.union1d(cells[row][cells[row] >= 0], history.indices[
                history.indptr[row] : history.indptr[row + 1]])  # fmt: skip
            extra.append(popular[~np.isin(popular, have)][: k - int((cells[row] >= 0).sum())])
        width = max(cells.shape[1], max((cells[r] >= 0).sum() + len(e) for r, e in zip(
            short, extra, strict=True)))  # fmt: skip
        out = np.full((len(cells), width), -1, dtype=np.int64)
        out[:, : cells.shape[1]] = cells
        for row, items in zip(short, extra, strict=True):
            n = int((cells[row] >= 0).sum())
            out[row, :n] = cells[row][cells[row] >= 0]
            out[row, n : n + len(items)] = items
        return out

    def _pool_z(self, users, history, cells, groups) -> tuple[np.ndarray, np.ndarray]:
        """(B, C) z_cf (-inf at pads) and z_text of the cells, standardised as over the row."""
        ref = band_reference(groups, self.candidate_pool.band_sample, self.seed)
        ref_groups, cell_groups = groups[ref], groups[np.maximum(cells, 0)]

        def z(model, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
            ref_scores = part_scores(model, users, history, ref)
            mean, std = band_stats(ref_scores, ref_groups)
            ref_z = (ref_scores - mean[:, ref_groups]) / std[:, ref_groups]
            cell_z = standardise_cells(part_scores(model, users, history, cells), cell_groups,
                                       mean, std)  # fmt: skip
            return scale * ref_z.astype(np.float32), scale * cell_z

        _, z_cf = z(self.cf_)
        z_cf[cells < 0] = -np.inf
        ref_lm, z_lm = z(self.lm_)
        if self.lexical_ is None:
            return z_cf, z_lm
        ref_lex, z_lex = z(self.lexical_, self.lexical)
        ref_lex[:, ref_groups == HEAD] = 0.0
        z_lex[cell_groups == HEAD] = 0.0
        _, std = band_stats(ref_lm + ref_lex, ref_groups)
        rows = np.arange(len(cells))[:, None]
        total = std[rows, cell_groups]
        return z_cf, z_lm / total + z_lex / total

    def top_among(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        k: int,
        seen: sp.csr_matrix | None = None,
        scope: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, k) items and scores of each row's best candidates (-1 / -inf past the last);
        ``seen`` items (beyond ``history``) never shown; only ``scope`` items when given."""
        history = history.tocsr()
        cells = self._pool_cells(history, k, scope)
        z_cf, z_text = self._pool_z(users, history, cells, self.groups_)
        scores = blend_cells(z_cf, z_text, self.groups_[np.maximum(cells, 0)], self.blend_,
                             self._features(history))  # fmt: skip
        if seen is not None:
            rows = np.repeat(np.arange(len(cells)), cells.shape[1])
            hit = np.asarray(seen.tocsr()[rows, np.maximum(cells.ravel(), 0)]).ravel() != 0
            scores[hit.reshape(cells.shape) & (cells >= 0)] = -np.inf
        self.pool_counts_[0] += len(cells)
        self.pool_counts_[1] += int((cells >= 0).sum())
        local, values = top_k(scores, k)
        items = np.take_along_axis(cells, local, axis=1)
        items[~np.isfinite(values)] = -1
        return items, values

    def pool_batch_rows(self) -> int:
        """Users per batch on the candidate path: small batches keep the sparse products small."""
        return 256

    def pool_note(self) -> str:
        """How the lists were drawn, for the output."""
        pool = self.candidate_pool
        config = self.generator_.config
        line = (
            f"lists drawn from candidates ({self.train_.shape[1]:,} items; mode {pool.mode}, "
            f"threshold {pool.threshold:,}): {pool.per_user} asked per user ({config.collaborative}"
            f" collaborative / {config.text} text / {config.text_tail} tail-cold), faiss "
            f"{self.generator_.text.kind} index over {self.pool_vectors_}"
        )
        if isinstance(self.generator_.neighbours, CoOccurrence):
            line += "; collaborative source: co-occurrence walk (the part has no item neighbours)"
        if not all(scores_pairs_alone(m) for m in (self.cf_, self.lm_, self.lexical_) if m):
            line += "; a part without a pair route is scored over the catalogue per batch"
        users, cells = self.pool_counts_
        if users:
            line += f"; {cells / users:.0f} candidates scored per user over {users:,} users"
        return line
