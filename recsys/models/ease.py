"""EASE: a closed-form linear item-item model with a zero diagonal.

Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW). With G = X'X + lambda I
and P = G^-1, the learned weights are B = I - P diag(1/diag(P)), so diag(B) = 0 and
score(u) = x_u B.

The dual route gets P from the Woodbury identity instead, P = (I - X' K X) / lambda with
K = (lambda I + X X')^-1, a (U, U) inverse; scores are then computed without ever forming the
(I, I) matrix, and without a dense (U, I) one either: a batch of users is scored as
H - (H - ((H X') K) X) / diag(lambda P). Both routes give the same scores.

The route is picked by memory (:mod:`recsys.models.memory`): each inversion peaks at about three
float64 square matrices (the matrix, LAPACK's copy and the inverse), 24 I^2 bytes for the primal
and 24 U^2 for the dual; ``solver="auto"`` takes the smaller, and EASE refuses before allocating
when the route it would take does not fit the budget.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recsys.models import memory
from recsys.models.base import Recommender, TrainData

Solver = Literal["auto", "primal", "dual"]
SQUARE_BYTES = 24  # per cell of the inverted square: the float64 matrix, LAPACK's copy, inverse
FITS_INSTEAD = "itemknn or als (sparse / factorised, they fit)"


def route_bytes(n_users: int, n_items: int) -> dict[str, int]:
    """Peak bytes of each route's inversion: ``{"primal": 24 I^2, "dual": 24 U^2}``."""
    return {"primal": SQUARE_BYTES * n_items**2, "dual": SQUARE_BYTES * n_users**2}


def pick_route(
    n_users: int, n_items: int, solver: Solver = "auto", budget: memory.MemoryBudget | None = None
) -> Literal["primal", "dual"]:
    """The route EASE takes on a (U, I) matrix, or :class:`~memory.MemoryBudgetError`."""
    need = route_bytes(n_users, n_items)
    route: Literal["primal", "dual"]
    if solver == "auto":
        route = "dual" if n_users < n_items else "primal"  # the smaller square
    else:
        route = solver
    other = "dual" if route == "primal" else "primal"
    memory.check(
        "ease",
        need[route],
        f"{memory.size(n_users, n_items)} ({route} route: a float64 "
        f"{'users x users' if route == 'dual' else 'items x items'} inverse; the {other} route "
        f"would need {memory.human(need[other])})",
        FITS_INSTEAD,
        budget,
    )
    return route


class EASE(Recommender):
    """Linear item-item autoencoder with L2 weight ``lambda_``; cold items score 0."""

    name = "ease"
    param_grid: ClassVar[dict[str, list]] = {"lambda_": [50.0, 100.0, 200.0, 350.0, 500.0, 1000.0]}

    def __init__(self, lambda_: float = 350.0, solver: Solver = "auto") -> None:
        if lambda_ <= 0:
            raise ValueError(f"lambda_ must be > 0, got {lambda_}")
        if solver not in ("auto", "primal", "dual"):
            raise ValueError(f"solver must be 'auto', 'primal' or 'dual', got {solver!r}")
        self.lambda_, self.solver = lambda_, solver

    def _fit(self, data: TrainData) -> None:
        n_users, n_items = self.train_.shape
        self.route_ = pick_route(n_users, n_items, self.solver)  # refuses before allocating
        x = self.train_.astype(np.float64)  # (U, I)
        self.b_: np.ndarray | None = None  # primal solution; else the dual's arrays
        self.d_: np.ndarray | None = None
        if self.route_ == "dual":
            self._fit_dual(x)
        else:
            self._fit_primal(x)

    def _fit_primal(self, x: sp.csr_matrix) -> None:
        g = (x.T @ x).toarray()  # (I, I)
        g[np.diag_indices_from(g)] += self.lambda_
        p = np.linalg.inv(g)
        del g
        p /= -np.diag(p)[None, :]  # B_ij = -P_ij / P_jj, in place
        p[np.diag_indices_from(p)] = 0.0
        self.b_ = p.astype(np.float32)

    def _fit_dual(self, x: sp.csr_matrix) -> None:
        k = (x @ x.T).toarray()  # (U, U)
        k[np.diag_indices_from(k)] += self.lambda_
        self.kinv_ = np.linalg.inv(k)  # (U, U) = K
        del k
        self.x_ = x  # (U, I) float64
        self.xt_ = x.T.tocsr().astype(np.float32)  # (I, U)
        # lambda * diag(P) = 1 - diag(X' K X), summed over blocks of users in float64:
        # (K X) of a block of users is (b, I) dense, never more rows than the budget allows.
        n_users, n_items = x.shape
        rows = memory.rows_per_batch(n_items, bytes_per_cell=16)
        diag = np.zeros(n_items)
        for start in range(0, n_users, rows):
            block = slice(start, start + rows)
            diag += np.asarray(x[block].multiply(self._kx(block)).sum(axis=0)).ravel()
        self.d_ = (1.0 - diag).astype(np.float32)

    def _kx(self, users: slice | np.ndarray) -> np.ndarray:
        """(b, I) float64 rows of K X for ``users`` (each row as in the full product)."""
        return np.asarray(self.kinv_[users] @ self.x_)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        if self.b_ is not None:
            return history @ self.b_  # (B, I)
        assert self.d_ is not None  # fitted by the dual solver
        h = history.toarray()  # (B, I)
        hp = h - self._hxkx(sp.csr_matrix(history @ self.xt_))  # lambda * H P, (B, I)
        return h - hp / self.d_[None, :]  # H B = H - H P diag(1 / diag(P))

    def _hxkx(self, hx: sp.csr_matrix) -> np.ndarray:
        """(B, I) (H X') (K X), with K X built only for the users ``hx`` touches, in chunks of
        users that fit the batch share of the budget (one chunk: the exact full product)."""
        n_users, n_items = self.x_.shape
        out = np.zeros((hx.shape[0], n_items), dtype=np.float32)
        touched = np.unique(hx.indices)  # (V,) users sharing an item with the batch
        rows = memory.rows_per_batch(n_items, bytes_per_cell=12)  # float64 product + float32
        for start in range(0, len(touched), rows):
            chunk = touched[start : start + rows]
            position = np.full(n_users, -1, dtype=np.int64)
            position[chunk] = np.arange(len(chunk))
            keep = position[hx.indices] >= 0
            # hx's entries on this chunk, in their original order (so one chunk is bitwise
            # the product with the full (U, I) K X)
            rows_of = np.repeat(np.arange(hx.shape[0]), np.diff(hx.indptr))[keep]
            indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_of, minlength=hx.shape[0]))])
            part = sp.csr_matrix(
                (hx.data[keep], position[hx.indices[keep]], indptr), shape=(hx.shape[0], len(chunk))
            )
            out += part @ self._kx(chunk).astype(np.float32)
        return out
