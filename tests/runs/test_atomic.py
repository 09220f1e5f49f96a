"""Atomic writes: a whole new file or the previous one, never half of either."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.runs import atomic


def test_atomic_write_json_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "x.json"
    atomic.atomic_write_json(path, {"n": 1})
    atomic.atomic_write_json(path, {"n": 2, "v": np.float32(0.5)})
    assert json.loads(path.read_text()) == {"n": 2, "v": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_a_crash_mid_write_keeps_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic.atomic_write_json(path, {"epoch": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_json(path, {"epoch": 2})
    assert atomic.read_json(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
