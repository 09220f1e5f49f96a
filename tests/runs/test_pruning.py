"""Disk caches capped in bytes, least recently used first (issue 14, F9)."""

from __future__ import annotations

import os
import time

from recsys.runs import pruning


def put(folder, name: str, size: int, used: float):
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


def test_prune_removes_least_recently_used_until_under_the_cap(tmp_path):
    old, mid, new = (put(tmp_path, f"{n}.npy", 100, t) for n, t in (("a", 1), ("b", 2), ("c", 3)))
    assert pruning.prune_cache(tmp_path, 250) == [old]
    assert not old.exists() and mid.exists() and new.exists()
    pruning.touch(mid)  # a hit: now the most recently used
    assert pruning.prune_cache(tmp_path, 150) == [new]


def test_prune_never_removes_kept_files_even_over_the_cap(tmp_path):
    big = put(tmp_path, "big.npy", 1000, 1)
    other = put(tmp_path, "other.npy", 10, 2)
    assert pruning.prune_cache(tmp_path, 100, keep=(big,)) == [other]
    assert big.exists()


def test_writers_temporary_files_are_left_alone_unless_stale(tmp_path):
    fresh = put(tmp_path, ".a.npy.123.tmp", 1000, time.time())
    stale = put(tmp_path, ".b.npy.456.tmp", 1000, time.time() - 2 * pruning.STALE_TMP_S)
    assert pruning.prune_cache(tmp_path, 0) == [stale]
    assert fresh.exists()
    assert pruning.prune_cache(tmp_path / "missing", 0) == []


def test_caps_come_from_the_environment_in_mb_with_a_safe_default():
    env, default_mb = pruning.CAPS["embeddings"]
    assert pruning.cap_bytes("embeddings", {}) == default_mb * 2**20
    assert pruning.cap_bytes("embeddings", {env: "1.5"}) == int(1.5 * 2**20)
    for bad in ("0", "-1", "lots", "inf", "nan"):
        assert pruning.cap_bytes("embeddings", {env: bad}) == default_mb * 2**20, bad
