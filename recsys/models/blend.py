"""The hybrid's blend: per-band weights, offsets and user-feature slopes, and the scores they give.

For an item in band b (head / tail / cold) and a user u (see :mod:`recsys.models.hybrid`)::

    score(u, i) = a_b * z_cf(u, i) + w_b * z_text(u, i) + c_b + d_b * t_u + e_b * n_u

A :class:`Blend` holds w (``weights``), c (``offsets``), d (``tail_slopes``) and e
(``length_slopes``), one value per band. :class:`Reserve` says how many of a list's last slots go
to long-tail items (:func:`reserve_slots`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import COLD, HEAD
from recsys.models.base import top_k

Field = Literal["weights", "offsets", "tail_slopes", "length_slopes"]
ReserveMode = Literal["off", "fixed", "tuned"]
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


@dataclass(frozen=True)
class Reserve:
    """Reserved long-tail slots: a list of k keeps the most accurate blend's top k - q and fills
    its last q slots with the best tail and cold items (by a long-tail blend's scores).

    Attributes:
        mode: ``off`` (one blend ranks the whole list), ``fixed`` (q = round(``share`` * k)) or
            ``tuned`` (q / 20 and the long-tail blend chosen on the hybrid's validation under its
            ``max_accuracy_loss`` rule, up to ``max_share``; q = 0 stays a candidate).
        share: the share of the list reserved in ``fixed`` mode.
        max_share: the largest share ``tuned`` tries.
    """

    mode: ReserveMode = "off"
    share: float = 0.0
    max_share: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("off", "fixed", "tuned"):
            raise ValueError(f"reserve mode must be off, fixed or tuned, got {self.mode!r}")
        for name in ("share", "max_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"reserve {name} must be within [0, 1], got {value}")


def reserved_count(share: float, k: int) -> int:
    """q, the slots of a list of ``k`` reserved for long-tail items at ``share``."""
    return int(min(k, max(0, round(share * k))))


def reserve_slots(
    main: tuple[np.ndarray, np.ndarray], fill: tuple[np.ndarray, np.ndarray], q: int
) -> tuple[np.ndarray, np.ndarray]:
    """(B, k) items and scores: ``main``'s top k - q, then the first q of ``fill`` not among them,
    then ``main``'s next items for any slot ``fill`` cannot fill.

    ``main`` and ``fill`` are (items, scores) top lists of k, best first (``fill`` ranked over
    long-tail items only); -inf scores mark no item (seen or out of scope). Each slot keeps the
    score of the list it came from; a row with fewer than k items ends in -inf slots.
    """
    main_top, main_val = main
    fill_top, fill_val = fill
    k = main_top.shape[1]
    q = min(max(q, 0), k)
    kept = main_top[:, : k - q]
    ok_fill = np.isfinite(fill_val) & ~(fill_top[:, :, None] == kept[:, None, :]).any(axis=2)
    ok_fill &= np.cumsum(ok_fill, axis=1) <= q
    rest, rest_val = main_top[:, k - q :], main_val[:, k - q :]
    taken = np.where(ok_fill, fill_top, -1)
    ok_rest = np.isfinite(rest_val) & ~(rest[:, :, None] == taken[:, None, :]).any(axis=2)
    items = np.concatenate([kept, fill_top, rest], axis=1)
    values = np.concatenate([main_val[:, : k - q], fill_val, rest_val], axis=1)
    ok = np.concatenate([np.isfinite(main_val[:, : k - q]), ok_fill, ok_rest], axis=1)
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
    found = np.take_along_axis(ok, order, axis=1)
    values = np.where(found, np.take_along_axis(values, order, axis=1), -np.inf)
    return np.take_along_axis(items, order, axis=1), values.astype(np.float32)


def long_tail_top(scores: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, k) items and scores of the best tail and cold items (head items left out)."""
    masked = np.where(groups[None, :] == HEAD, -np.inf, scores).astype(np.float32)
    return top_k(masked, k)
