"""Integer indexing of users and items, and the sparse user x item matrix models train on.

Every model, split and metric works on indices: users ``0..U-1`` and items ``0..I-1`` where the item
order is the catalogue order, so cold items (no interactions) still have a column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass(frozen=True)
class Index:
    """Bidirectional mapping between external ids (strings) and matrix positions."""

    user_ids: np.ndarray  # (U,) str, sorted
    item_ids: np.ndarray  # (I,) str, catalogue order

    @classmethod
    def build(cls, interactions: pd.DataFrame, items: pd.DataFrame) -> Index:
        users = np.array(sorted(interactions["user"].unique()), dtype=object)
        return cls(user_ids=users, item_ids=items["item"].to_numpy(dtype=object))

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_pos(self, ids) -> np.ndarray:
        return _positions(self.user_ids, ids, sorted_ids=True)

    def item_pos(self, ids) -> np.ndarray:
        return _positions(self.item_ids, ids, sorted_ids=False)

    def matrix(self, interactions: pd.DataFrame) -> sp.csr_matrix:
        """Binary (U, I) CSR matrix of the given (user, item) rows; duplicates count once."""
        rows = self.user_pos(interactions["user"].to_numpy())
        cols = self.item_pos(interactions["item"].to_numpy())
        data = np.ones(len(rows), dtype=np.float32)
        m = sp.csr_matrix((data, (rows, cols)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def _positions(universe: np.ndarray, ids, sorted_ids: bool) -> np.ndarray:
    ids = np.asarray(ids, dtype=object)
    if sorted_ids:
        pos = np.searchsorted(universe, ids)
        pos = np.clip(pos, 0, len(universe) - 1)
        ok = universe[pos] == ids if len(universe) else np.zeros(len(ids), bool)
    else:
        lookup = pd.Index(universe).get_indexer(ids)
        pos, ok = lookup, lookup >= 0
    if not np.all(ok):
        missing = ids[~ok][:5].tolist()
        raise KeyError(f"unknown ids: {missing}")
    return pos.astype(np.int64)
