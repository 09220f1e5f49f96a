"""Item-based k-nearest neighbours with cosine similarity.

Sarwar, Karypis, Konstan & Riedl 2001, "Item-based collaborative filtering recommendation
algorithms" (WWW); top-N scoring by summed neighbour similarity as in Deshpande & Karypis 2004,
"Item-based top-N recommendation algorithms" (ACM TOIS). Shrinkage follows Koren 2008
("Factorization meets the neighborhood", KDD): it damps similarities resting on few co-ratings.
"""

from __future__ import annotations

from typing import ClassVar, cast

import numpy as np
import scipy.sparse as sp

from recsys.models import memory
from recsys.models.base import Recommender, TrainData

DENSE_CELL_BYTES = 28  # per (block, I) cell: dots, denominators, sims, -sims, kept (4 each), index
SPARSE_NNZ_BYTES = 40  # per co-occurrence kept while a sparse block is pruned
KEPT_BYTES = 24  # per kept neighbour: float32 + int32 index, twice while the blocks are stacked


class ItemKNN(Recommender):
    """Cosine item-item neighbours: score(u, j) = sum over u's items i of sim(i, j).

    sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrink), with x_i item i's column of the matrix.

    Each item keeps its ``k`` most similar items (self excluded), as implicit's
    ``ItemItemRecommender`` does. The similarity matrix is built in row blocks sized from the
    catalogue and the memory budget (``block`` caps the rows); while a dense (I, I) matrix would
    fit the budget each block is a dense (block, I) array, otherwise only the co-occurrences are
    kept (sparse blocks, bounded by their count of co-occurring pairs), so the fit never holds more
    than the budget. Cold items have a zero column and score 0. On ml-latest-small validation
    accuracy creeps up with ``k`` (pruning mostly saves memory), hence the default of 400.
    """

    name = "itemknn"
    param_grid: ClassVar[dict[str, list]] = {"k": [50, 100, 200, 400, 800, 1600]}

    def __init__(self, k: int = 400, shrink: float = 0.0, block: int = 2048) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.k, self.shrink, self.block = k, shrink, block

    def _fit(self, data: TrainData) -> None:
        x = self.train_  # (U, I)
        n_users, n_items = x.shape
        budget = memory.active()
        k = min(self.k, n_items)
        xt = x.T.tocsr()  # (I, U)
        pairs = co_occurrence_bound(x, xt)  # (I,)
        memory.check(
            "itemknn",
            self.fit_bytes(x, pairs),
            f"{memory.size(n_users, n_items)} (up to {k} neighbours kept per item)",
            "itemknn with a smaller k (--param k=...) or als",
            budget,
        )
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float32).ravel())  # (I,)
        self.route_ = "dense" if memory.fits(4 * n_items**2, budget) else "sparse"
        if self.route_ == "dense":
            rows = min(self.block, memory.rows_per_batch(n_items, DENSE_CELL_BYTES, 1, budget))
            starts = list(range(0, n_items, rows))
            bounds = list(zip(starts, [*starts[1:], n_items], strict=True))
            blocks = [self._neighbours(xt, x, norms, a, b) for a, b in bounds]
        else:
            bounds = self._sparse_bounds(pairs, budget)
            wanted = getattr(self, "_rows", None)
            blocks = [self._sparse_neighbours(xt, x, norms, a, b, wanted) for a, b in bounds]
        self.sim_ = sp.vstack(blocks, format="csr").astype(np.float32, copy=False)  # (I, I)

    def fit_rows(self, data: TrainData, rows: np.ndarray) -> ItemKNN:
        """Fit only the neighbour rows of the items ``rows`` on the sparse route (the dense
        route computes every row); the other rows stay empty. A user's scores ``history @ sim_``
        take rows of the history's items only, so users whose histories hold only ``rows``
        score exactly as after :meth:`fit` (the hybrid's tuning users at 1M items: ~46% of the
        work)."""
        self._rows = np.unique(np.asarray(rows, dtype=np.int64))
        try:
            return cast(ItemKNN, self.fit(data))
        finally:
            del self._rows

    def fit_bytes(self, x: sp.csr_matrix, pairs: np.ndarray | None = None) -> int:
        """Peak bytes of the kept neighbours on the (U, I) matrix ``x`` (blocks are budgeted)."""
        if pairs is None:
            pairs = co_occurrence_bound(x, x.T.tocsr())
        return int(KEPT_BYTES * np.minimum(pairs, min(self.k, x.shape[1])).sum())

    def _neighbours(
        self, xt: sp.csr_matrix, x: sp.csr_matrix, norms: np.ndarray, start: int, stop: int
    ) -> sp.csr_matrix:
        dots = (xt[start:stop] @ x).toarray()  # (b, I)
        denom = np.outer(norms[start:stop], norms) + self.shrink
        sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        sims[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-similarity
        k = min(self.k, x.shape[1])
        nb = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (b, k)
        keep = np.zeros_like(sims)
        np.put_along_axis(keep, nb, np.take_along_axis(sims, nb, axis=1), axis=1)
        return sp.csr_matrix(keep)  # zeros (no co-occurrence) are not stored

    def _sparse_bounds(
        self, pairs: np.ndarray, budget: memory.MemoryBudget
    ) -> list[tuple[int, int]]:
        # Blocks of items whose co-occurrence bounds add up to the batch share of the budget.
        room = max(memory.BATCH_SHARE * budget.bytes / SPARSE_NNZ_BYTES, 1.0)
        bounds, start, total = [], 0, 0.0
        for item, count in enumerate(pairs):
            if item > start and (total + count > room or item - start >= self.block):
                bounds.append((start, item))
                start, total = item, 0.0
            total += count
        bounds.append((start, len(pairs)))
        return bounds

    def _sparse_neighbours(
        self,
        xt: sp.csr_matrix,
        x: sp.csr_matrix,
        norms: np.ndarray,
        start: int,
        stop: int,
        wanted: np.ndarray | None = None,
    ) -> sp.csr_matrix:
        """(stop - start, I) rows of the kept neighbours; only the ``wanted`` items' rows (the
        others empty) when given."""
        if wanted is None:
            items = np.arange(start, stop)
            dots = (xt[start:stop] @ x).tocsr()  # (b, I), co-occurrences only, any order
        else:
            items = wanted[(wanted >= start) & (wanted < stop)]
            dots = (xt[items] @ x).tocsr()
        row = np.repeat(np.arange(len(items), dtype=np.int32), np.diff(dots.indptr))
        col = dots.indices
        denom = norms[items[row]] * norms[col] + self.shrink
        sims = np.divide(dots.data, denom, out=np.zeros_like(dots.data), where=denom > 0)
        keep = (items[row] != col) & (sims != 0)  # no self-similarity, no stored zeros
        row, col, sims = row[keep], col[keep], sims[keep]
        if wanted is not None:
            row = (items - start)[row].astype(np.int32)  # back to the block's rows (sorted)
        counts = np.bincount(row, minlength=stop - start)
        over = np.flatnonzero(counts > self.k)  # rows that need a cut (grouped: CSR order)
        if len(over):
            ends = np.cumsum(counts)
            kept = np.ones(len(row), dtype=bool)
            for r in over:
                lo, hi = ends[r] - counts[r], ends[r]
                kept[lo:hi] = top_in_row(sims[lo:hi], col[lo:hi], self.k)
            row, col, sims = row[kept], col[kept], sims[kept]
        shape = (stop - start, x.shape[1])
        return sp.csr_matrix((sims, (row, col)), shape=shape)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return (history @ self.sim_).toarray()  # (B, I)


def top_in_row(values: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """(n,) bool: the ``k`` largest of one row's ``values``, ties at the k-th to the lower
    ``cols`` (as a stable sort by score in item order would keep), in O(n) per row: a partition
    for the k-th value instead of sorting the block (the sparse route's cost at 1M items)."""
    n = len(values)
    threshold = np.partition(values, n - k)[n - k]  # the k-th largest
    kept = values > threshold
    ties = np.flatnonzero(values == threshold)
    need = k - int(kept.sum())
    if len(ties) > need:
        ties = ties[np.argpartition(cols[ties], need - 1)[:need]] if need else ties[:0]
    kept[ties] = True
    return kept


def co_occurrence_bound(x: sp.csr_matrix, xt: sp.csr_matrix) -> np.ndarray:
    """(I,) an upper bound on each item's co-occurring items: min(I, sum of its users' lengths)."""
    lengths = np.diff(x.indptr).astype(np.float64)  # (U,)
    return np.minimum(np.asarray(xt @ lengths).ravel(), x.shape[1])
