"""Item-based k-nearest neighbours with cosine similarity.

Sarwar, Karypis, Konstan & Riedl 2001, "Item-based collaborative filtering recommendation
algorithms" (WWW); top-N scoring by summed neighbour similarity as in Deshpande & Karypis 2004,
"Item-based top-N recommendation algorithms" (ACM TOIS). Shrinkage follows Koren 2008
("Factorization meets the neighborhood", KDD): it damps similarities resting on few co-ratings.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, TrainData


class ItemKNN(Recommender):
    """Cosine item-item neighbours: score(u, j) = sum over u's items i of sim(i, j).

    sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrink), with x_i item i's column of the matrix.

    Each item keeps its ``k`` most similar items (self excluded), as implicit's
    ``ItemItemRecommender`` does; the similarity matrix is built in row blocks so memory stays at
    ``block x I`` floats. Cold items have a zero column and score 0. On ml-latest-small validation
    accuracy creeps up with ``k`` (pruning mostly saves memory), hence the default of 400.
    """

    name = "itemknn"
    param_grid: ClassVar[dict[str, list]] = {"k": [50, 100, 200, 400, 800, 1600]}

    def __init__(self, k: int = 400, shrink: float = 0.0, block: int = 2048) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k, self.shrink, self.block = k, shrink, block

    def _fit(self, data: TrainData) -> None:
        x = self.train_  # (U, I)
        xt = x.T.tocsr()  # (I, U)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float32).ravel())  # (I,)
        blocks = [self._neighbours(xt, x, norms, s) for s in range(0, x.shape[1], self.block)]
        self.sim_ = sp.vstack(blocks, format="csr").astype(np.float32)  # (I, I), k per row

    def _neighbours(
        self, xt: sp.csr_matrix, x: sp.csr_matrix, norms: np.ndarray, start: int
    ) -> sp.csr_matrix:
        stop = min(start + self.block, x.shape[1])
        dots = (xt[start:stop] @ x).toarray()  # (b, I)
        denom = np.outer(norms[start:stop], norms) + self.shrink
        sims = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        sims[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-similarity
        k = min(self.k, x.shape[1])
        nb = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (b, k)
        keep = np.zeros_like(sims)
        np.put_along_axis(keep, nb, np.take_along_axis(sims, nb, axis=1), axis=1)
        return sp.csr_matrix(keep)  # zeros (no co-occurrence) are not stored

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return (history @ self.sim_).toarray()  # (B, I)
