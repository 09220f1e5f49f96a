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


# --------------------------------------------------------------------------- browser tests


def chromium_path() -> str:
    """Debian's chromium; under CI=true a missing browser fails the run instead of skipping."""
    import os
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (`apt-get install chromium`); required under CI")
    pytest.skip("chromium is not installed; `make test` installs it with apt where it can")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`streamlit run app.py` on a free port with its own runs folder; yields the base URL."""
    from tests.browser import serve_app

    runs = tmp_path_factory.mktemp("browser-runs")
    with serve_app(runs) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()
