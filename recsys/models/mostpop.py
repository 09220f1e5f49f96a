"""Most popular: every user gets the items with the most training positives.

The non-personalised baseline of Cremonesi, Koren & Turrin 2010, "Performance of recommender
algorithms on top-N recommendation tasks" (RecSys): strong on accuracy, blind to the long tail.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, TrainData


class MostPop(Recommender):
    """Score = number of training users who liked the item; the same for every user."""

    name = "mostpop"
    param_grid: ClassVar[dict[str, list]] = {}

    def _fit(self, data: TrainData) -> None:
        self.counts_ = np.asarray(self.train_.sum(axis=0), dtype=np.float32).ravel()  # (I,)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts_, (history.shape[0], 1))  # (B, I)
