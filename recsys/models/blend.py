"""The hybrid's blend: per-band weights, offsets and user-feature slopes, and the scores they give.

For an item in band b (head / tail / cold) and a user u (see :mod:`recsys.models.hybrid`)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_text(u, i) + c_b + d_b * t_u + e_b * n_u

A blend is ``{"w": [w_b], "c": [c_b], "d": [d_b], "e": [e_b]}``, one value per band.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import COLD, HEAD


def blend_scores(
    z_cf: np.ndarray, z_lm: np.ndarray, groups: np.ndarray, blend: dict, features=None
) -> np.ndarray:
    """a_b z_cf + w_b z_text + c_b + d_b t_u + e_b n_u per item band b (a = 1, 1, 0 for head,
    tail, cold).

    ``features`` (B, 2) are each user's standardised t_u and n_u (:func:`user_features`), or (B,)
    t_u alone; ``blend["d"]`` and ``blend["e"]`` (optional) their slopes per band.
    """
    out = offsets(groups, blend, features, len(z_cf))
    w = np.asarray(blend["w"], dtype=np.float32)[groups]
    out += z_lm * w + np.where(groups == COLD, 0.0, z_cf)
    out[np.isneginf(z_cf)] = -np.inf  # items excluded upstream stay excluded
    return out.astype(np.float32)


def offsets(groups: np.ndarray, blend: dict, features, n_users: int) -> np.ndarray:
    """(B, I) band offsets c_b + d_b * t_u + e_b * n_u."""
    out = np.broadcast_to(np.asarray(blend["c"], np.float32)[groups], (n_users, len(groups)))
    out = out.astype(np.float32)
    if features is None:
        return out
    features = np.asarray(features, np.float32).reshape(n_users, -1)
    for column, key in enumerate(("d", "e")[: features.shape[1]]):
        if key in blend:
            out += features[:, column, None] * np.asarray(blend[key], np.float32)[groups]
    return out


def user_features(history: sp.csr_matrix, groups: np.ndarray) -> np.ndarray:
    """(B, 2) raw per-user features: tail affinity and log(1 + history length)."""
    n = np.diff(history.tocsr().indptr)
    return np.stack([tail_affinity(history, groups), np.log1p(n)], axis=1).astype(np.float32)


def tail_affinity(history: sp.csr_matrix, groups: np.ndarray) -> np.ndarray:
    """(B,) share of each user's history outside the head band (0 for an empty history)."""
    history = history.tocsr()
    n = np.diff(history.indptr)
    rows = np.repeat(np.arange(history.shape[0]), n)
    outside = np.bincount(rows[groups[history.indices] != HEAD], minlength=history.shape[0])
    return (outside / np.maximum(n, 1)).astype(np.float32)
