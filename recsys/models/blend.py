"""The hybrid's blend: per-band weights, offsets and user-feature slopes, and the scores they give.

For an item in band b (head / tail / cold) and a user u (see :mod:`recsys.models.hybrid`)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_text(u, i) + c_b + d_b * t_u + e_b * n_u

A :class:`Blend` holds w (``weights``), c (``offsets``), d (``tail_slopes``) and e
(``length_slopes``), one value per band.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import COLD, HEAD

Field = Literal["weights", "offsets", "tail_slopes", "length_slopes"]
PerBand = tuple[float, float, float]  # (head, tail, cold)


@dataclass(frozen=True)
class Blend:
    """One value per band (head, tail, cold) of each term of the hybrid's score.

    Attributes:
        weights: w_b, the weight of z_text in band b.
        offsets: c_b, a constant per band: how many list slots the band earns.
        tail_slopes: d_b, the slope of the user's standardised long-tail affinity t_u.
        length_slopes: e_b, the slope of the user's standardised log history length n_u.
    """

    weights: PerBand = (0.0, 0.0, 0.0)
    offsets: PerBand = (0.0, 0.0, 0.0)
    tail_slopes: PerBand = (0.0, 0.0, 0.0)
    length_slopes: PerBand = (0.0, 0.0, 0.0)

    def with_value(self, field: Field, band: int, value: float) -> Blend:
        """A copy with ``field``'s value for ``band`` set to ``value``."""
        values = list(getattr(self, field))
        values[band] = float(value)
        return replace(self, **{field: (values[0], values[1], values[2])})

    def to_dict(self) -> dict[str, list[float]]:
        """``{"weights": [w_head, w_tail, w_cold], "offsets": [...], ...}``, for JSON."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}


def blend_scores(
    z_cf: np.ndarray,
    z_lm: np.ndarray,
    groups: np.ndarray,
    blend: Blend,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """a_b z_cf + w_b z_text + c_b + d_b t_u + e_b n_u per item band b (a = 1, 1, 0 for head,
    tail, cold).

    ``features`` (B, 2) are each user's standardised t_u and n_u (:func:`user_features`), or (B,)
    t_u alone.
    """
    w = np.asarray(blend.weights, dtype=np.float32)[groups]
    out = np.multiply(z_lm, w)
    np.add(out, z_cf, out=out, where=(groups != COLD)[None, :])  # a_b = 0 for cold items
    out += offsets(groups, blend, features, len(z_cf))
    out[np.isneginf(z_cf)] = -np.inf  # items excluded upstream stay excluded
    return out.astype(np.float32, copy=False)


def offsets(
    groups: np.ndarray, blend: Blend, features: np.ndarray | None, n_users: int
) -> np.ndarray:
    """(B, I) band offsets c_b + d_b * t_u + e_b * n_u."""
    # (B, 3) per user and band, then one gather: the blend search calls this ~1,000 times.
    table = np.broadcast_to(np.asarray(blend.offsets, np.float32), (n_users, 3)).copy()
    if features is not None:
        features = np.asarray(features, np.float32).reshape(n_users, -1)
        slopes = (blend.tail_slopes, blend.length_slopes)
        for column, slope in enumerate(slopes[: features.shape[1]]):
            table += features[:, column, None] * np.asarray(slope, np.float32)
    return np.take(table, groups, axis=1)


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
