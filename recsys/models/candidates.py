"""Candidate generation: a few hundred items per user drawn from the whole catalogue.

Past ~10^5 items no model can score every item for every user, so the list is drawn from
candidates, and only those are ranked. Three sources, unioned per user:

- ``collaborative``: the top items of ``history @ neighbours`` (a sparse item x item matrix, e.g.
  :class:`~recsys.models.itemknn.ItemKNN`'s ``sim_``): what users with the same items also took.
  Cold items have no co-occurrence, so this source never proposes them.
- ``text``: approximate nearest neighbours of the user's profile (the normalised mean of the
  history's text vectors) among all item text vectors, by inner product (cosine on unit vectors).
- ``text_tail``: the same search in an index that holds only tail and cold items, so new and rare
  items enter even when the head dominates the user's neighbourhood in text space.

The text indexes are ``faiss`` indexes (Johnson, Douze & Jegou 2019, "Billion-scale similarity
search with GPUs", IEEE Trans. Big Data): exact (``IndexFlatIP``) up to ``exact_up_to`` items, HNSW
graphs above (Malkov & Yashunin 2018, "Efficient and robust approximate nearest neighbor search
using Hierarchical Navigable Small World graphs", IEEE TPAMI). :func:`candidate_recall` measures
how much of an exact top-K list the candidates keep, where exact scoring still fits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.data.popularity import HEAD

IndexKind = Literal["auto", "exact", "hnsw", "ivf"]


@dataclass(frozen=True)
class CandidateConfig:
    """How many candidates each source gives per user, and how the text index is built."""

    collaborative: int = 200
    text: int = 200
    text_tail: int = 100
    index: IndexKind = "auto"
    exact_up_to: int = 100_000  # "auto": exact search up to this many items, ``large`` above
    hnsw_links: int = 32  # M: graph degree; more = better recall, more memory
    hnsw_search: int = 256  # efSearch: breadth of the search; more = better recall, slower
    threads: int | None = None  # faiss threads (None: faiss's default)
    large: Literal["hnsw", "ivf"] = "hnsw"  # "auto" past exact_up_to items
    ivf_lists: int = 1024  # IVF: k-means cells (trained on a seeded sample of 64 per cell)
    ivf_probe: int = 32  # IVF: cells searched per query; more = better recall, slower

    def __post_init__(self) -> None:
        for name in ("collaborative", "text", "text_tail"):
            if getattr(self, name) < 0:
                raise ValueError(f"CandidateConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.index not in ("auto", "exact", "hnsw", "ivf"):
            raise ValueError(f"CandidateConfig.index: auto, exact, hnsw or ivf, got {self.index!r}")
        if self.large not in ("hnsw", "ivf") or self.ivf_lists < 1 or self.ivf_probe < 1:
            raise ValueError("CandidateConfig: large is hnsw or ivf; ivf_lists, ivf_probe >= 1")
        if self.hnsw_links < 2 or self.hnsw_search < 1:
            raise ValueError("CandidateConfig.hnsw_links must be >= 2 and hnsw_search >= 1")


PoolMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class CandidatePool:
    """When a model draws each user's list from candidates instead of the whole catalogue.

    ``mode="auto"`` draws past ``threshold`` items, ``"on"`` / ``"off"`` always / never.
    ``per_user`` candidates are asked per user, split 2 : 2 : 1 between the collaborative, text
    and tail/cold-only sources (the union is smaller where they overlap). ``band_sample`` items
    per popularity band (seeded; all of a smaller band) give each user's per-band mean and
    standard deviation, which put the candidates' scores on the scale a whole-catalogue scoring
    gives them (exactly that scale when every band is sampled whole). ``text_dims``: width of the
    TF-IDF + SVD vectors searched when the text part has no dense item vectors.
    """

    mode: PoolMode = "auto"
    per_user: int = 500
    threshold: int = 100_000
    band_sample: int = 2048
    text_dims: int = 64
    index: IndexKind = "auto"  # exact up to 100,000 items, IVF above (built in seconds)
    hnsw_links: int = 16

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "on", "off"):
            raise ValueError(f"CandidatePool.mode: auto, on or off, got {self.mode!r}")
        if self.per_user < 5:
            raise ValueError(f"CandidatePool.per_user must be >= 5, got {self.per_user}")
        if self.threshold < 1 or self.band_sample < 1 or self.text_dims < 2:
            raise ValueError("CandidatePool: threshold, band_sample >= 1 and text_dims >= 2")

    def used(self, n_items: int) -> bool:
        """Whether lists are drawn from candidates on a catalogue of ``n_items``."""
        return self.mode == "on" or (self.mode == "auto" and n_items > self.threshold)

    def sources(self) -> CandidateConfig:
        """The generator's configuration: ``per_user`` split 2 : 2 : 1 over the sources."""
        text = 2 * self.per_user // 5
        threads = os.environ.get("RECSYS_THREADS")
        return CandidateConfig(
            collaborative=text,
            text=text,
            text_tail=self.per_user - 2 * text,
            index=self.index,
            hnsw_links=self.hnsw_links,
            large="ivf",
            threads=int(threads) if threads and threads.isdigit() else None,
        )


class TextIndex:
    """Inner-product search over a subset of item vectors; returns catalogue positions."""

    def __init__(self, vectors: np.ndarray, items: np.ndarray | None, config: CandidateConfig):
        import faiss

        if config.threads is not None:
            faiss.omp_set_num_threads(config.threads)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.items = np.arange(len(vectors)) if items is None else np.asarray(items, np.int64)
        kind = config.index
        if kind == "auto":
            kind = "exact" if len(self.items) <= config.exact_up_to else config.large
        lists = min(config.ivf_lists, max(len(self.items) // 64, 1))
        if kind == "ivf" and lists < 2:
            kind = "exact"  # too few items to cluster
        self.kind = kind
        dim = vectors.shape[1]
        self.index: faiss.Index
        if kind == "exact":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "ivf":  # Jegou, Douze & Schmid 2011 (IEEE TPAMI): inverted file over k-means
            self._quantizer = faiss.IndexFlatIP(dim)  # kept: the IVF index refers to it
            ivf = faiss.IndexIVFFlat(self._quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            sample = rng.choice(self.items, size=min(len(self.items), 64 * lists), replace=False)
            ivf.train(np.ascontiguousarray(vectors[np.sort(sample)]))
            ivf.nprobe = min(config.ivf_probe, lists)
            self.index = ivf
        else:
            hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_links, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efSearch = config.hnsw_search
            self.index = hnsw
        if len(self.items):
            self.index.add(np.ascontiguousarray(vectors[self.items]))

    def __len__(self) -> int:
        return len(self.items)

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        """(B, k) catalogue positions, best first; -1 where fewer than k items exist."""
        k = min(k, len(self.items))
        if k == 0:
            return np.full((len(queries), 0), -1, dtype=np.int64)
        _, found = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return np.where(found >= 0, self.items[np.maximum(found, 0)], -1)


class CandidateGenerator:
    """Per-user candidate sets from collaborative neighbours and text-vector ANN search.

    ``vectors`` (I, H) are the text tower's item vectors (unit length is not required; the user
    profile and the items are normalised here). ``neighbours`` (I, I) sparse, optional: item-item
    weights for the collaborative source. ``groups`` (I,) popularity bands: the ``text_tail`` index
    holds every item not in the head.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        groups: np.ndarray,
        neighbours: sp.csr_matrix | None = None,
        config: CandidateConfig | None = None,
    ) -> None:
        self.config = config or CandidateConfig()
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) != len(groups):
            raise ValueError(f"{len(vectors)} item vectors but {len(groups)} popularity groups")
        square = (len(vectors), len(vectors))
        if neighbours is not None and sp.issparse(neighbours) and neighbours.shape != square:
            raise ValueError(f"neighbours must be {len(vectors)} x {len(vectors)}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors / np.where(norms == 0, 1, norms)
        self.neighbours = (
            neighbours.tocsr() if neighbours is not None and sp.issparse(neighbours) else neighbours
        )
        self.text = TextIndex(self.vectors, None, self.config)
        tail = np.flatnonzero(np.asarray(groups) != HEAD)
        self.text_tail = TextIndex(self.vectors, tail, self.config)

    @property
    def n_items(self) -> int:
        return len(self.vectors)

    def candidates(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """(B, I) boolean CSR: each row's candidates, the row's history items excluded."""
        history = history.tocsr()
        if history.shape[1] != self.n_items:
            raise ValueError(f"history has {history.shape[1]} items, the index {self.n_items}")
        parts = [self._text(history, self.text, self.config.text)]
        parts.append(self._text(history, self.text_tail, self.config.text_tail))
        if self.neighbours is not None and self.config.collaborative:
            parts.append(self._collaborative(history))
        found = parts[0]
        for part in parts[1:]:
            found = found.maximum(part)
        found = found - found.multiply(history.astype(bool))  # seen items never return
        found.eliminate_zeros()
        return found.astype(bool).tocsr()

    def _text(self, history: sp.csr_matrix, index: TextIndex, k: int) -> sp.csr_matrix:
        b = history.shape[0]
        if k == 0 or len(index) == 0:
            return sp.csr_matrix((b, self.n_items), dtype=np.float32)
        profile = np.asarray(history @ self.vectors, dtype=np.float32)  # (B, H)
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
        # Ask for extra items so that, once the seen ones are dropped, k remain (up to 4k seen).
        n_seen = np.diff(history.indptr)
        extra = int(min(n_seen.max(initial=0), 4 * k))
        found = index.search(profile, k + extra)  # (B, k + extra)
        rows = np.repeat(np.arange(b), found.shape[1])
        seen = np.asarray(history[rows, np.maximum(found.ravel(), 0)]).reshape(found.shape) != 0
        valid = (found >= 0) & ~seen & (n_seen[:, None] > 0)  # no history: no profile to search
        valid &= np.cumsum(valid, axis=1) <= k
        return _rows_to_csr(np.where(valid, found, -1), self.n_items)

    def _collaborative(self, history: sp.csr_matrix) -> sp.csr_matrix:
        k = self.config.collaborative
        assert self.neighbours is not None
        if isinstance(self.neighbours, CoOccurrence):
            scores = self.neighbours.walk(history)
        else:
            scores = (history @ self.neighbours).tocsr()  # (B, I) sparse
        scores = scores - scores.multiply(history.astype(bool))
        scores.eliminate_zeros()
        rows = np.full((scores.shape[0], k), -1, dtype=np.int64)
        for r in range(scores.shape[0]):
            lo, hi = scores.indptr[r], scores.indptr[r + 1]
            if hi == lo:
                continue
            vals, cols = scores.data[lo:hi], scores.indices[lo:hi]
            if hi - lo > k:
                keep = np.argpartition(-vals, k - 1)[:k]
                vals, cols = vals[keep], cols[keep]
            rows[r, : len(cols)] = cols
        return _rows_to_csr(rows, self.n_items)


class CoOccurrence:
    """Collaborative neighbours without a fitted item x item matrix: the two-step walk
    user -> items -> other users -> their items over the training matrix ``x``, each item's
    co-occurrence count divided by the square root of its popularity (a cosine-like damping of
    the head). For collaborative parts without item neighbours (ALS, EASE's dual route)."""

    def __init__(self, x: sp.csr_matrix) -> None:
        self.x = x.tocsr().astype(np.float32)
        self.xt = self.x.T.tocsr()
        counts = np.asarray(self.x.sum(axis=0)).ravel()
        self.damp = sp.diags((1.0 / np.sqrt(np.maximum(counts, 1.0))).astype(np.float32))

    def walk(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """(B, I) sparse co-occurrence scores of each row's items."""
        co_users = (history.astype(np.float32) @ self.xt).tocsr()  # (B, U)
        return ((co_users @ self.x) @ self.damp).tocsr()


def _rows_to_csr(found: np.ndarray, n_items: int) -> sp.csr_matrix:
    """(B, k) positions with -1 for none to a (B, I) 0/1 CSR matrix."""
    b = found.shape[0]
    rows = np.repeat(np.arange(b), found.shape[1])
    cols = found.ravel()
    keep = cols >= 0
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])), shape=(b, n_items)
    )
    m.data[:] = 1.0  # duplicates summed above: back to 0/1
    return m


def top_k_among(
    candidates: sp.csr_matrix, pair_scores: Callable[[np.ndarray, np.ndarray], np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-``k`` among each row's candidates, scoring only (row, item) candidate pairs.

    ``pair_scores(rows, items)`` returns one score per pair (e.g. a text tower's
    ``(profile[rows] * vectors[items]).sum(1)``). Returns ``(idx, vals)``, (B, k) each, best first,
    ties by lower item position; -1 / -inf pad rows with fewer than ``k`` candidates.
    """
    c = candidates.tocsr()
    b = c.shape[0]
    rows = np.repeat(np.arange(b), np.diff(c.indptr))
    vals = np.asarray(pair_scores(rows, c.indices.astype(np.int64)), dtype=np.float32)
    idx = np.full((b, k), -1, dtype=np.int64)
    out = np.full((b, k), -np.inf, dtype=np.float32)
    # One sort for all rows: by row, then score descending, then item position.
    order = np.lexsort((c.indices, -vals, rows))
    start = c.indptr[:-1]
    rank = np.arange(len(order)) - np.repeat(start, np.diff(c.indptr))
    keep = rank < k
    sel = order[keep]
    idx[rows[sel], rank[keep]] = c.indices[sel]
    out[rows[sel], rank[keep]] = vals[sel]
    return idx, out


def candidate_recall(exact_top: np.ndarray, candidates: sp.csr_matrix) -> float:
    """Share of the exact top-K items (B, K; -1 = none) that are among the row's candidates."""
    exact_top = np.asarray(exact_top)
    rows = np.repeat(np.arange(exact_top.shape[0]), exact_top.shape[1])
    cols = exact_top.ravel()
    keep = cols >= 0
    if not keep.any():
        raise ValueError("candidate_recall: the exact lists are empty")
    hit = np.asarray(candidates.tocsr()[rows[keep], cols[keep]]).ravel() != 0
    return float(hit.mean())


def sizes(candidates: sp.csr_matrix) -> np.ndarray:
    """(B,) number of candidates per row."""
    return np.diff(candidates.tocsr().indptr)


# -- scoring a model's part on given items only --------------------------------------------------


def padded(candidates: sp.csr_matrix) -> np.ndarray:
    """(B, I) boolean CSR -> (B, C) item positions in item order, -1 pads; C = the longest row."""
    c = candidates.tocsr()
    c.sort_indices()
    lengths = np.diff(c.indptr)
    out = np.full((c.shape[0], int(lengths.max(initial=0))), -1, dtype=np.int64)
    rows = np.repeat(np.arange(c.shape[0]), lengths)
    out[rows, np.arange(c.nnz) - np.repeat(c.indptr[:-1], lengths)] = c.indices
    return out


def part_scores(model, users: np.ndarray, history: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """Scores of a fitted model on some items only, equal to its ``score`` there.

    ``items``: (C,) positions shared by every row, or (B, C) per row with -1 pads (scored 0).
    ItemKNN (``sim_``), TF-IDF (sparse ``item_vectors_``), a dense mean-profile text model
    (``vectors_``, :class:`~recsys.models.lm.ContentRecommender` with mean pooling) and ALS score
    the pairs alone, so no (B, I) array is formed; any other model is scored over the catalogue
    for the batch and the items taken from it.
    """
    items = np.asarray(items, dtype=np.int64)
    history = history.tocsr().astype(np.float32)
    shared = items.ndim == 1
    if hasattr(model, "sim_"):  # ItemKNN: score(u, j) = (history @ sim)[u, j], sparse
        product = (history @ model.sim_).tocsr()
        return product[:, items].toarray() if shared else _lookup(product, items)
    if isinstance(getattr(model, "item_vectors_", None), sp.spmatrix):  # TF-IDF
        profiles = _unit_rows((history @ model.item_vectors_).tocsr())  # (B, V)
        if shared:
            return (profiles @ model.item_vectors_[items].T).toarray()
        return _sparse_pairs(profiles, model.item_vectors_, items)
    dense = _dense_factors(model, history)
    if dense is not None:
        left, right = dense  # (B, F), (I, F)
        if shared:
            return left @ right[items].T
        picked = right[np.maximum(items, 0)]  # (B, C, F)
        out = np.einsum("bf,bcf->bc", left, picked).astype(np.float32)
        out[items < 0] = 0.0
        return out
    full = model.score(users, history)  # (B, I): models without a pair route (EASE, the LM)
    out = full[:, items] if shared else np.take_along_axis(full, np.maximum(items, 0), axis=1)
    if not shared:
        out[items < 0] = 0.0
    return out


def scores_pairs_alone(model) -> bool:
    """True when :func:`part_scores` scores ``model`` without a (B, I) array."""
    if hasattr(model, "sim_") or isinstance(getattr(model, "item_vectors_", None), sp.spmatrix):
        return True
    return _dense_factors(model, sp.csr_matrix((0, 0), dtype=np.float32), probe=True) is not None


def _dense_factors(model, history: sp.csr_matrix, probe: bool = False):
    """(user side (B, F), item side (I, F)) of a dot-product model, or None."""
    vectors = getattr(model, "vectors_", None)
    if vectors is not None and getattr(model, "pooling", None) == "mean":
        if probe:
            return vectors, vectors
        profile = np.asarray(history @ vectors)  # as lm.profile_cosine
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-9)
        return profile, vectors
    inner = getattr(model, "model_", None)
    if inner is not None and hasattr(inner, "item_factors"):  # ALS
        if probe:
            return inner.item_factors, inner.item_factors
        if history.shape[0] == 0:
            return np.zeros((0, inner.item_factors.shape[1]), np.float32), inner.item_factors
        rows = np.arange(history.shape[0])
        return inner.recalculate_user(rows, history), inner.item_factors
    return None


def _unit_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())  # as TfidfRecommender
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sp.diags(inverse.astype(np.float32)) @ m).tocsr()


def _lookup(m: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """(B, C) values ``m[b, items[b, c]]`` of a sparse (B, I) matrix (0 where absent or -1)."""
    rows = np.repeat(np.arange(len(items)), items.shape[1])
    out = _pair_values(m, rows, np.maximum(items, 0).ravel()).reshape(items.shape)
    out[items < 0] = 0.0
    return out


def _pair_values(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n,) values ``m[rows[n], cols[n]]`` of a sparse matrix, 0 where not stored."""
    m = m.tocsr()
    m.sum_duplicates()  # canonical: sorted indices, so the keys below are sorted
    width = np.int64(m.shape[1])
    keys = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr)) * width
    keys += m.indices
    query = rows.astype(np.int64) * width + cols
    out = np.zeros(len(query), dtype=np.float32)
    if m.nnz:
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        found = keys[pos] == query
        out[found] = m.data[pos[found]]
    return out


def _sparse_pairs(left: sp.csr_matrix, right: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """(B, C) dot products of ``left``'s row b and ``right``'s row items[b, c], sparse rows."""
    b, c = items.shape
    picked = right[np.maximum(items.ravel(), 0)].tocsr()  # (B * C, V)
    owner = np.repeat(np.arange(b * c) // max(c, 1), np.diff(picked.indptr))  # row of left
    per_term = picked.data * _pair_values(left, owner, picked.indices.astype(np.int64))
    pair = np.repeat(np.arange(b * c), np.diff(picked.indptr))
    sums = np.bincount(pair, weights=per_term, minlength=b * c)
    out = sums.reshape(b, c).astype(np.float32)
    out[items < 0] = 0.0
    return out
