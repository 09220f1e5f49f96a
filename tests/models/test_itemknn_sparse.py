"""ItemKNN's sparse route at scale: the per-row cut keeps what a stable sort by score would."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import memory
from recsys.models.base import TrainData
from recsys.models.itemknn import ItemKNN, top_in_row
from recsys.models.memory import MemoryBudget


def reference(x: sp.csr_matrix, k: int) -> np.ndarray:
    """Dense cosine, self excluded; per row the k largest positive, ties to the lower item."""
    dense = x.toarray().astype(np.float64)
    norms = np.linalg.norm(dense, axis=0)
    sims = (dense.T @ dense) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sims, 0.0)
    out = np.zeros_like(sims)
    for i, row in enumerate(sims):
        order = np.argsort(-row, kind="stable")[:k]
        order = order[row[order] > 0]
        out[i, order] = row[order]
    return out


@pytest.mark.parametrize("k", [1, 3, 7, 25])
def test_sparse_route_keeps_the_stable_top_k_with_ties_to_the_lower_item(k):
    rng = np.random.default_rng(3)
    x = sp.csr_matrix((rng.random((60, 200)) < 0.05).astype(np.float32))  # binary: many ties
    with memory.using(MemoryBudget(150_000)):  # a dense 200 x 200 float32 does not fit
        model = ItemKNN(k=k, block=16).fit(TrainData(x, [""] * 200))
    assert model.route_ == "sparse"
    expected = reference(x, k)
    got = model.sim_.toarray()
    np.testing.assert_array_equal(got != 0, expected != 0)  # the same neighbours, ties included
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_top_in_row_breaks_ties_by_the_lower_column_whatever_the_order():
    values = np.array([0.5, 0.2, 0.5, 0.9, 0.5, 0.2], dtype=np.float32)
    cols = np.array([40, 3, 7, 1, 12, 0])
    assert cols[top_in_row(values, cols, 3)].tolist() == [7, 1, 12]  # 0.9, then 0.5 at 7 and 12
    assert cols[top_in_row(values, cols, 1)].tolist() == [1]
    assert top_in_row(values, cols, 6).all()
    assert cols[top_in_row(values, cols, 5)].tolist() == [40, 7, 1, 12, 0]  # 0.2: 0 before 3


def test_fit_rows_computes_exactly_the_rows_asked_and_leaves_the_others_empty():
    rng = np.random.default_rng(4)
    x = sp.csr_matrix((rng.random((60, 200)) < 0.05).astype(np.float32))
    data = TrainData(x, [""] * 200)
    rows = np.array([0, 17, 18, 150, 199, 17])
    with memory.using(MemoryBudget(150_000)):
        whole = ItemKNN(k=7, block=16).fit(data).sim_.toarray()
        part = ItemKNN(k=7, block=16)
        got = part.fit_rows(data, rows).sim_.toarray()
        assert not hasattr(part, "_rows")  # a later fit of the same model computes every row
        np.testing.assert_array_equal(part.fit(data).sim_.toarray(), whole)
    np.testing.assert_array_equal(got[np.unique(rows)], whole[np.unique(rows)])
    others = np.setdiff1d(np.arange(200), rows)
    assert not got[others].any() and whole[others].any()
