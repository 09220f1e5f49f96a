"""Shared fixtures: where the real data lives and a tiny synthetic matrix with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
ML_SMALL = REPO.parent / "shared" / "datasets" / "ml-latest-small"


@pytest.fixture
def ml_small() -> Path:
    """Path to MovieLens ml-latest-small beside the repo; skips when the folder is absent."""
    if not (ML_SMALL / "ratings.csv").exists():
        pytest.skip(f"MovieLens ml-latest-small not found at {ML_SMALL}")
    return ML_SMALL


@pytest.fixture
def block_matrix() -> sp.csr_matrix:
    """Two taste blocks: users 0-9 like items 0-4, users 10-19 like items 5-9; items 10-11 cold.

    Each user misses one item of their block, so a sensible model ranks that item first.
    """
    rows, cols = [], []
    for u in range(20):
        block = range(0, 5) if u < 10 else range(5, 10)
        held = list(block)[u % 5]
        for i in block:
            if i != held:
                rows.append(u)
                cols.append(i)
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(20, 12))
