"""User segments: light / heavy by history length, mainstream / niche by taste for the tail.

Each split is at the median, so both halves are about the same size whatever the data. "Niche"
users have a larger share of tail and cold items in their history than the median user: the
grouping by a profile's share of popular items used by Abdollahpouri et al. 2019, "The unfairness
of popularity bias in recommendation" (RMSE workshop, RecSys).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.popularity import HEAD

ACTIVITY = ("light", "heavy")
TASTE = ("mainstream", "niche")


def user_segments(history: sp.csr_matrix, groups: np.ndarray) -> pd.DataFrame:
    """One row per user (matrix row order).

    Columns: ``n_history``, ``tail_share`` (share of history outside the head), ``activity``
    (``heavy`` at or above the median length) and ``taste`` (``niche`` at or above the median
    tail share; users without history count as mainstream).
    """
    history = sp.csr_matrix(history)
    n = np.diff(history.indptr)
    tail = np.asarray(history @ (np.asarray(groups) != HEAD).astype(np.float64)).ravel()
    share = np.divide(tail, n, out=np.zeros(len(n)), where=n > 0)
    has = n > 0
    n_mid = np.median(n) if len(n) else 0
    share_mid = np.median(share[has]) if has.any() else 0.0
    return pd.DataFrame(
        {
            "n_history": n,
            "tail_share": share,
            "activity": np.where(n >= n_mid, ACTIVITY[1], ACTIVITY[0]),
            "taste": np.where(has & (share >= share_mid), TASTE[1], TASTE[0]),
        }
    )
