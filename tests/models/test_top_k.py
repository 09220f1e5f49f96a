"""``top_k``: the best k per row, best first, ties to the lower item, whatever the input."""

import numpy as np
import pytest

from recsys.models.base import top_k


def reference(scores: np.ndarray, k: int) -> np.ndarray:
    # A full stable sort by score descending (NaN last, as NumPy sorts it): ties to the lower item.
    key = np.where(np.isnan(scores), np.inf, -scores)
    return np.argsort(key, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_top_k_equals_a_full_stable_sort_with_ties_and_excluded_items(dtype):
    rng = np.random.default_rng(3)
    for _ in range(60):
        rows, items = rng.integers(1, 40), rng.integers(1, 200)
        scores = rng.integers(0, 4, (rows, items)).astype(dtype)  # many ties across the cut
        if dtype != np.int64:
            scores[rng.random((rows, items)) < 0.3] = -np.inf
        k = int(rng.integers(1, items + 1))
        idx, vals = top_k(scores, k)
        want = reference(scores.astype(np.float64), k)
        np.testing.assert_array_equal(idx, want)
        np.testing.assert_array_equal(vals, np.take_along_axis(scores, want, axis=1))


def test_nan_scores_rank_last_not_first():
    scores = np.array([[0.5, np.nan, 2.0, -np.inf, 1.0]], dtype=np.float32)
    idx, _ = top_k(scores, 4)
    assert idx.tolist() == [[2, 4, 0, 3]]
