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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.data.popularity import HEAD

IndexKind = Literal["auto", "exact", "hnsw"]


@dataclass(frozen=True)
class CandidateConfig:
    """How many candidates each source gives per user, and how the text index is built."""

    collaborative: int = 200
    text: int = 200
    text_tail: int = 100
    index: IndexKind = "auto"
    exact_up_to: int = 100_000  # "auto": exact search up to this many items, HNSW above
    hnsw_links: int = 32  # M: graph degree; more = better recall, more memory
    hnsw_search: int = 256  # efSearch: breadth of the search; more = better recall, slower
    threads: int | None = None  # faiss threads (None: faiss's default)

    def __post_init__(self) -> None:
        for name in ("collaborative", "text", "text_tail"):
            if getattr(self, name) < 0:
                raise ValueError(f"CandidateConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.index not in ("auto", "exact", "hnsw"):
            raise ValueError(f"CandidateConfig.index: auto, exact or hnsw, got {self.index!r}")
        if self.hnsw_links < 2 or self.hnsw_search < 1:
            raise ValueError("CandidateConfig.hnsw_links must be >= 2 and hnsw_search >= 1")


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
            kind = "exact" if len(self.items) <= config.exact_up_to else "hnsw"
        self.kind = kind
        dim = vectors.shape[1]
        self.index: faiss.Index
        if kind == "exact":
            self.index = faiss.IndexFlatIP(dim)
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
        if neighbours is not None and neighbours.shape != (len(vectors), len(vectors)):
            raise ValueError(f"neighbours must be {len(vectors)} x {len(vectors)}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors / np.where(norms == 0, 1, norms)
        self.neighbours = None if neighbours is None else neighbours.tocsr()
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
