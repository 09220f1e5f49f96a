"""Implicit-feedback matrix factorisation by alternating least squares.

Hu, Koren & Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets" (ICDM), with
the conjugate-gradient solver of Takács, Pilászy & Tikk 2011 ("Applications of the conjugate
gradient method for implicit feedback collaborative filtering", RecSys), as implemented on the CPU
by the ``implicit`` package (Frederickson, https://github.com/benfred/implicit).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys.models import memory
from recsys.models.base import Recommender, TrainData

FACTOR_BYTES = 8  # per factor cell: float32 user and item factors, and implicit's working copy
NNZ_BYTES = 24  # per positive: the float32 CSR matrix and its transpose (values + indices)


class ALS(Recommender):
    """Weighted MF: confidence 1 + ``alpha`` on positives, L2 weight ``regularization``.

    Users are always folded in from ``history`` with implicit's ``recalculate_user`` (the exact
    least-squares user step against the trained item factors), so known and new users are scored
    the same way. CPU only; ``threads`` caps implicit's own pool and BLAS runs single-threaded.
    ``alpha`` = 5 is fixed: on ml-latest-small validation it did as well as 2 or 10 once
    ``regularization`` was tuned, and the two trade off against each other.
    """

    name = "als"
    param_grid: ClassVar[dict[str, list]] = {
        "factors": [32, 64, 128],
        "regularization": [3.0, 10.0, 30.0],
    }

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 5.0,
        iterations: int = 15,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed, self.threads = iterations, seed, threads

    def _fit(self, data: TrainData) -> None:
        n_users, n_items = self.train_.shape
        memory.check(
            "als",
            self.fit_bytes(self.train_),
            f"{memory.size(n_users, n_items)} ({self.factors} factors)",
            "als with fewer factors (--param factors=...) or mostpop",
        )
        # Imported here: implicit takes ~1 s to import and only this model needs it.
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit warns (and slows down) when BLAS runs its own threads inside its pool.
        with threadpool_limits(1, "blas"):
            self.model_ = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.threads,
                use_gpu=False,
            )
            self.model_.fit(self.train_, show_progress=False)

    def fit_bytes(self, x: sp.csr_matrix) -> int:
        """Peak bytes of a fit on the (U, I) matrix ``x``: factors and the matrix's copies."""
        return FACTOR_BYTES * self.factors * (x.shape[0] + x.shape[1]) + NNZ_BYTES * x.nnz

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        items = self.model_.item_factors  # (I, F)
        if history.shape[0] == 0:
            return np.zeros((0, items.shape[0]), dtype=np.float32)
        rows = np.arange(history.shape[0])
        user_factors = self.model_.recalculate_user(rows, history.astype(np.float32))  # (B, F)
        return user_factors @ items.T  # (B, I)
