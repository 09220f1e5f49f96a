"""User segments on a hand-made history."""

import numpy as np
import scipy.sparse as sp

from recsys.data.popularity import COLD, HEAD, TAIL
from recsys.data.segments import user_segments


def test_median_splits_by_history_length_and_tail_share():
    groups = np.array([HEAD, HEAD, TAIL, TAIL, COLD], dtype=np.int8)
    rows = [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    seg = user_segments(sp.csr_matrix(np.array(rows, dtype=np.float32)), groups)
    assert seg["n_history"].tolist() == [2, 4, 1, 0]
    assert np.allclose(seg["tail_share"], [0.0, 0.5, 1.0, 0.0])
    # Median length 1.5: users with 2 and 4 items are heavy. Median share of users with history
    # is 0.5: shares 0.5 and 1.0 are niche; a user without history is mainstream.
    assert seg["activity"].tolist() == ["heavy", "heavy", "light", "light"]
    assert seg["taste"].tolist() == ["mainstream", "niche", "niche", "mainstream"]
