"""Fixtures shared by the run tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"
