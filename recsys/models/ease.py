"""EASE: a closed-form linear item-item model with a zero diagonal.

Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW). With G = X'X + lambda I
and P = G^-1, the learned weights are B = I - P diag(1/diag(P)), so diag(B) = 0 and
score(u) = x_u B.

When there are fewer users than items, P comes from the Woodbury identity instead,
P = (I - X' K X) / lambda with K = (lambda I + X X')^-1, a (U, U) inverse; scores are then
computed without ever forming the (I, I) matrix. Both routes give the same scores.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, TrainData

Solver = Literal["auto", "primal", "dual"]


class EASE(Recommender):
    """Linear item-item autoencoder with L2 weight ``lambda_``; cold items score 0."""

    name = "ease"
    param_grid: ClassVar[dict[str, list]] = {"lambda_": [50.0, 100.0, 200.0, 350.0, 500.0, 1000.0]}

    def __init__(self, lambda_: float = 350.0, solver: Solver = "auto") -> None:
        if lambda_ <= 0:
            raise ValueError(f"lambda_ must be > 0, got {lambda_}")
        self.lambda_, self.solver = lambda_, solver

    def _fit(self, data: TrainData) -> None:
        x = self.train_.astype(np.float64)  # (U, I)
        n_users, n_items = x.shape
        dual = self.solver == "dual" or (self.solver == "auto" and n_users < n_items)
        self.b_: np.ndarray | None = None  # primal solution; else the dual's three arrays
        self.kx_: np.ndarray | None = None
        self.d_: np.ndarray | None = None
        if dual:
            self._fit_dual(x)
        else:
            self._fit_primal(x)

    def _fit_primal(self, x: sp.csr_matrix) -> None:
        g = (x.T @ x).toarray()  # (I, I)
        g[np.diag_indices_from(g)] += self.lambda_
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]  # B_ij = -P_ij / P_jj
        b[np.diag_indices_from(b)] = 0.0
        self.b_ = b.astype(np.float32)

    def _fit_dual(self, x: sp.csr_matrix) -> None:
        k = (x @ x.T).toarray()  # (U, U)
        k[np.diag_indices_from(k)] += self.lambda_
        kx = np.linalg.inv(k) @ x  # (U, I) = K X
        self.xt_ = x.T.tocsr().astype(np.float32)  # (I, U)
        self.kx_ = np.asarray(kx, dtype=np.float32)
        # lambda * diag(P) = 1 - diag(X' K X), computed column by column in float64.
        self.d_ = (1.0 - np.asarray(x.multiply(kx).sum(axis=0)).ravel()).astype(np.float32)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        if self.b_ is not None:
            return history @ self.b_  # (B, I)
        assert self.d_ is not None  # fitted by the dual solver
        h = history.toarray()  # (B, I)
        hp = h - (history @ self.xt_) @ self.kx_  # lambda * H P, (B, I)
        return h - hp / self.d_[None, :]  # H B = H - H P diag(1 / diag(P))
