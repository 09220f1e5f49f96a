"""Projection to 2-D and its cache, on tiny inputs whose right answer is known."""

from __future__ import annotations

import os

import numpy as np

from recsys.maps import projection
from recsys.maps.neighbours import normalise
from recsys.maps.projection import ProjectionConfig


def clusters(n: int = 120, d: int = 16, seed: int = 0) -> np.ndarray:
    """Three well separated blobs of unit vectors."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 4
    x = centres[np.arange(n) % 3] + rng.normal(size=(n, d))
    return normalise(x)


# --------------------------------------------------------------------------- projection


def test_pca_is_deterministic_2d_float32():
    x = clusters()
    a = projection.project(x, ProjectionConfig(method="pca"), use_cache=False)
    b = projection.project(x.copy(), ProjectionConfig(method="pca"), use_cache=False)
    assert a.shape == (len(x), 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_umap_same_seed_same_picture_and_keeps_clusters(tmp_path):
    x = clusters()
    cfg = ProjectionConfig(n_neighbors=10, n_epochs=30, seed=7)
    a = projection.project(x, cfg, use_cache=False)  # first call pays numba compilation
    b = projection.project(x, cfg, use_cache=False)
    np.testing.assert_array_equal(a, b)
    label = np.arange(len(x)) % 3
    centre = np.stack([a[label == c].mean(0) for c in range(3)])
    nearest = np.linalg.norm(a[:, None] - centre[None], axis=2).argmin(1)
    assert (nearest == label).mean() > 0.95


def test_exact_knn_matches_brute_force_with_each_point_first():
    x = clusters(200, seed=2)
    idx, dist = projection.exact_knn(x, 6, "cosine")
    full = 1 - x @ x.T
    np.fill_diagonal(full, -1)  # the point itself first
    expected = np.argsort(full, axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(idx[:, 0], np.arange(200))
    np.testing.assert_array_equal(np.sort(idx[:, 1:], 1), np.sort(expected[:, 1:], 1))
    assert dist[:, 0].max() == 0 and (np.diff(dist, axis=1) >= -1e-6).all()
    idx_l2, dist_l2 = projection.exact_knn(x * 3, 4, "euclidean")
    gap = np.linalg.norm(x[0] * 3 - x[idx_l2[0, 1]] * 3)
    assert idx_l2[0, 0] == 0 and np.isclose(dist_l2[0, 1], gap, rtol=1e-4)


def test_large_umap_starts_from_the_exact_graph_and_says_so_in_its_cache_key(tmp_path, monkeypatch):
    x = clusters(300, seed=4)
    cfg = ProjectionConfig(n_neighbors=10, n_epochs=30, seed=7)
    assert not projection.uses_exact_knn(len(x), cfg)
    monkeypatch.setattr(projection, "EXACT_KNN_FROM", 300)  # UMAP's own switch is at 4,096
    calls = []
    real = projection.exact_knn
    monkeypatch.setattr(projection, "exact_knn", lambda *a: calls.append(a[1:]) or real(*a))
    xy = projection.project(x, cfg, cache_dir=tmp_path)
    assert calls == [(10, "cosine")]
    assert [p.name.endswith("-xknn.npy") for p in tmp_path.iterdir()] == [True]
    label = np.arange(len(x)) % 3
    centre = np.stack([xy[label == c].mean(0) for c in range(3)])
    assert (np.linalg.norm(xy[:, None] - centre[None], axis=2).argmin(1) == label).mean() > 0.95
    assert not projection.uses_exact_knn(len(x), ProjectionConfig(metric="manhattan"))


def test_cache_keyed_by_fingerprint_and_parameters(tmp_path, monkeypatch):
    x = clusters(30)
    cfg = ProjectionConfig(seed=1)
    path = projection.cache_path(x, cfg, tmp_path)
    assert path != projection.cache_path(x, ProjectionConfig(seed=2), tmp_path)
    assert path != projection.cache_path(x, ProjectionConfig(seed=1, min_dist=0.2), tmp_path)
    assert path != projection.cache_path(x, ProjectionConfig(seed=1, metric="euclidean"), tmp_path)
    assert path != projection.cache_path(x[::-1], cfg, tmp_path)

    fake = np.arange(60, dtype=np.float32).reshape(30, 2)
    monkeypatch.setattr(projection, "_umap", lambda x, config: fake)
    first = projection.project(x, cfg, cache_dir=tmp_path)
    assert path.exists() and not projection.is_cached(x, ProjectionConfig(seed=2), tmp_path)

    def fail(x, config):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(projection, "_umap", fail)
    np.testing.assert_array_equal(projection.project(x, cfg, cache_dir=tmp_path), first)


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    x = clusters(20)
    cfg = ProjectionConfig(method="pca")
    path = projection.cache_path(x, cfg, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a numpy file")
    xy = projection.project(x, cfg, cache_dir=tmp_path)
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), xy)


def test_cache_is_capped_and_evicts_the_least_recently_used(tmp_path, monkeypatch):
    cfg = ProjectionConfig(method="pca")
    a, b, c = clusters(20, seed=1), clusters(20, seed=2), clusters(20, seed=3)
    projection.project(a, cfg, cache_dir=tmp_path)
    projection.project(b, cfg, cache_dir=tmp_path)
    path_a, path_b = (projection.cache_path(x, cfg, tmp_path) for x in (a, b))
    size = path_a.stat().st_size
    monkeypatch.setenv("LONGTAIL_PROJECTION_CACHE_MB", str(2.5 * size / 2**20))  # two files fit
    os.utime(path_a, (1, 1))
    os.utime(path_b, (2, 2))
    projection.project(a, cfg, cache_dir=tmp_path)  # a hit: now the most recently used
    projection.project(c, cfg, cache_dir=tmp_path)  # a third entry: over the cap
    assert path_a.exists() and not path_b.exists()
    assert projection.is_cached(c, cfg, tmp_path) and len(list(tmp_path.glob("*.npy"))) == 2


def test_place_is_the_similarity_weighted_mean_of_drawn_neighbours():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [np.nan, np.nan], [0.0, 10.0]])
    np.testing.assert_allclose(projection.place(xy, [0.75, 0.25, 0.9, -0.5]), [2.5, 0.0])
    np.testing.assert_allclose(projection.place(xy[:2], [0.0, 0.0]), [5.0, 0.0])  # no weight
    assert np.isnan(projection.place(xy[2:3], [1.0])).all()


def test_warm_up_compiles_once_then_costs_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(projection, "_WARMED", __import__("threading").Event())
    monkeypatch.setattr(projection, "_umap", lambda x, config, exact=None: calls.append(exact))
    assert projection.warm_up() >= 0 and projection.warm_up() == 0.0
    assert calls == [True]  # the exact k-NN + PCA path a sampled map takes
