"""Projection, neighbours, sampling and search on tiny inputs whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import projection
from recsys.popularity import COLD, HEAD, TAIL
from recsys.projection import ProjectionConfig


def clusters(n: int = 120, d: int = 16, seed: int = 0) -> np.ndarray:
    """Three well separated blobs of unit vectors."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 4
    x = centres[np.arange(n) % 3] + rng.normal(size=(n, d))
    return projection.normalise(x)


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


# --------------------------------------------------------------------------- neighbours


def test_neighbours_match_brute_force_across_blocks():
    x = clusters(50, seed=3)
    idx, sim = projection.nearest_neighbours(x, k=5, block_bytes=4 * 50 * 7)  # 7 rows per block
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(sim, np.take_along_axis(full, expected, 1), rtol=1e-5)
    assert (idx != np.arange(50)[:, None]).all()
    assert (np.diff(sim, axis=1) <= 0).all()


def test_neighbours_of_rows_and_k_larger_than_catalogue():
    x = clusters(4)
    idx, sim = projection.nearest_neighbours(x, rows=[2], k=10)
    assert idx.shape == (1, 3) and 2 not in idx[0]


def test_neighbours_include_near_duplicate_text():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [
        "Walnut standing desk with cable tray",
        "Ceramic coffee mug, speckled glaze",
        "Trail running shoes, waterproof",
        "Standing desk in walnut, with a cable tray",
        "Wool winter scarf, charcoal",
    ]
    x = TfidfVectorizer().fit_transform(texts).toarray()
    idx, _ = projection.nearest_neighbours(x, rows=[0], k=2)
    assert idx[0, 0] == 3


@pytest.mark.slow
def test_neighbours_include_near_duplicate_text_minilm():
    from recsys.encoder import encode_items

    texts = [
        "Walnut standing desk with cable tray",
        "Ceramic coffee mug, speckled glaze",
        "Trail running shoes, waterproof",
        "Height-adjustable standing desk, walnut top, cable tray",
        "Wool winter scarf, charcoal",
        "Stainless steel water bottle",
    ]
    x = encode_items(texts, cache_dir=None)
    idx, sim = projection.nearest_neighbours(x, rows=[0], k=3)
    assert idx[0, 0] == 3 and sim[0, 0] > 0.7


def test_neighbourhood_change_hand_computed():
    # Unit vectors at angles (degrees): head items 0 and 1; tail items 2 and 3.
    def at(*deg):
        r = np.radians(deg)
        return np.stack([np.cos(r), np.sin(r)], axis=1)

    groups = np.array([HEAD, HEAD, TAIL, TAIL], dtype=np.int8)
    before = at(0, 10, 90, 100)  # tails are each other's nearest neighbour
    after = at(0, 10, 3, 100)  # 2 moves next to head 0; 3's nearest is now head 1
    change = projection.neighbourhood_change(before, after, groups, k=1)
    np.testing.assert_array_equal(change.rows, [2, 3])
    np.testing.assert_array_equal(change.before, [0, 0])
    np.testing.assert_array_equal(change.after, [1, 1])
    np.testing.assert_array_equal(change.kept, [0, 0])
    row = change.summary().iloc[0]
    assert row["group"] == "tail" and row["items"] == 2
    assert row["head share of 1-NN, base"] == 0 and row["head share of 1-NN, fine-tuned"] == 1
    assert row["items with more head neighbours"] == 1 and row["neighbours kept"] == 0


def test_neighbourhood_change_needs_same_rows():
    with pytest.raises(ValueError, match="same rows"):
        projection.neighbourhood_change(np.eye(3), np.eye(4), np.zeros(3))


# --------------------------------------------------------------------------- sampling


def test_popularity_bands():
    counts = np.array([100, 50, 1, 2, 3, 4, 9, 0])
    groups = np.array([HEAD, HEAD, TAIL, TAIL, TAIL, TAIL, TAIL, COLD])
    labels = projection.popularity_bands(counts, groups)
    assert labels.tolist() == [
        "head",
        "head",
        "tail 1",
        "tail 2-3",
        "tail 2-3",
        "tail 4-7",
        "tail 8-15",
        "cold",
    ]


def test_stratified_sample_keeps_every_band_within_budget():
    rng = np.random.default_rng(0)
    strata = np.array(["head"] * 2000 + ["tail 1"] * 7900 + ["tail 8-15"] * 3 + ["cold"] * 97)
    strata = strata[rng.permutation(len(strata))]
    picked = projection.stratified_sample(strata, budget=500, seed=1)
    assert len(picked) == 500 and len(np.unique(picked)) == 500
    assert (np.diff(picked) > 0).all()
    kept = set(strata[picked])
    assert kept == set(strata)
    assert (strata[picked] == "tail 8-15").sum() == 3  # a tiny band is kept whole
    np.testing.assert_array_equal(picked, projection.stratified_sample(strata, 500, seed=1))
    assert not np.array_equal(picked, projection.stratified_sample(strata, 500, seed=2))


def test_stratified_sample_under_budget_is_everything():
    strata = np.array(["a", "b", "a"])
    np.testing.assert_array_equal(projection.stratified_sample(strata, 10), [0, 1, 2])


# --------------------------------------------------------------------------- search


def test_search_titles_ranks_exact_then_prefix_then_word_then_substring():
    titles = ["Desk lamp", "Standing desk", "desk", "Deskmate organiser", "Mug", None]
    assert projection.search_titles(titles, " DESK ").tolist() == [2, 0, 3, 1]
    assert projection.search_titles(titles, "desk", limit=2).tolist() == [2, 0]
    assert projection.search_titles(titles, "").tolist() == []
    assert projection.search_titles(titles, "(").tolist() == []  # not a regex
