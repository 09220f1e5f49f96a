"""Which items a map draws: :func:`popularity_bands` + :func:`stratified_sample`, a point budget
that keeps every band."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.popularity import COLD, HEAD, TAIL

POINT_BUDGET = 20_000  # UMAP on 20k points: well under a minute on 2 CPU cores


def popularity_bands(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) band labels: "head", tail by powers of two ("tail 1", "tail 2-3", "tail 4-7", ...),
    and "cold"."""
    counts = np.asarray(counts)
    groups = np.asarray(groups)
    labels = np.empty(len(counts), dtype=object)
    octave = np.floor(np.log2(np.maximum(counts, 1))).astype(int)
    for o in np.unique(octave[groups == TAIL]):
        lo, hi = 2**o, 2 ** (o + 1) - 1
        labels[(groups == TAIL) & (octave == o)] = f"tail {lo}" if lo == hi else f"tail {lo}-{hi}"
    labels[groups == HEAD] = "head"
    labels[groups == COLD] = "cold"
    return labels


def stratified_sample(strata: np.ndarray, budget: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``budget`` items keeping every stratum.

    Each stratum first gets ``min(size, max(1, budget // (2 * strata)))`` items, so small bands
    (the far tail, cold items) are always drawn; the rest of the budget is shared in proportion to
    what each stratum has left (largest remainder). All items when ``len(strata) <= budget``.
    """
    strata = np.asarray(strata)
    n = len(strata)
    if n <= budget:
        return np.arange(n)
    # np.unique's sorted strata by hashing (a sort of 10^6 Python strings takes a second)
    codes, found = pd.factorize(strata)
    order = np.argsort(np.asarray(found, dtype=strata.dtype), kind="stable")
    names = np.asarray(found)[order]
    inverse = np.argsort(order)[codes]
    sizes = np.bincount(inverse, minlength=len(names))
    floor = np.minimum(sizes, max(1, budget // (2 * len(names))))
    left = sizes - floor
    spare = max(0, budget - int(floor.sum()))
    share = spare * left / max(left.sum(), 1)
    extra = np.floor(share).astype(int)
    by_remainder = np.argsort(-(share - extra), kind="stable")
    extra[by_remainder[: spare - int(extra.sum())]] += 1
    quota = floor + np.minimum(extra, left)
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(inverse == s), quota[s], replace=False) for s in range(len(names))
    ]
    return np.sort(np.concatenate(picked))
