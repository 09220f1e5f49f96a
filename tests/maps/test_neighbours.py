"""Neighbours, neighbourhood change and title search on tiny inputs whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.popularity import HEAD, TAIL
from recsys.maps import neighbours
from tests.maps.test_projection import clusters


def test_neighbours_match_brute_force_across_blocks():
    x = clusters(50, seed=3)
    idx, sim = neighbours.nearest_neighbours(x, k=5, block_bytes=4 * 50 * 7)  # 7 rows per block
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(sim, np.take_along_axis(full, expected, 1), rtol=1e-5)
    assert (idx != np.arange(50)[:, None]).all()
    assert (np.diff(sim, axis=1) <= 0).all()


def test_neighbours_of_rows_and_k_larger_than_catalogue():
    x = clusters(4)
    idx, sim = neighbours.nearest_neighbours(x, rows=[2], k=10)
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
    idx, _ = neighbours.nearest_neighbours(x, rows=[0], k=2)
    assert idx[0, 0] == 3


@pytest.mark.slow
def test_neighbours_include_near_duplicate_text_minilm():
    from recsys.lm.encoder import encode_items

    texts = [
        "Walnut standing desk with cable tray",
        "Ceramic coffee mug, speckled glaze",
        "Trail running shoes, waterproof",
        "Height-adjustable standing desk, walnut top, cable tray",
        "Wool winter scarf, charcoal",
        "Stainless steel water bottle",
    ]
    x = encode_items(texts, cache_dir=None)
    idx, sim = neighbours.nearest_neighbours(x, rows=[0], k=3)
    assert idx[0, 0] == 3 and sim[0, 0] > 0.7


def test_neighbourhood_change_hand_computed():
    # Unit vectors at angles (degrees): head items 0 and 1; tail items 2 and 3.
    def at(*deg):
        r = np.radians(deg)
        return np.stack([np.cos(r), np.sin(r)], axis=1)

    groups = np.array([HEAD, HEAD, TAIL, TAIL], dtype=np.int8)
    before = at(0, 10, 90, 100)  # tails are each other's nearest neighbour
    after = at(0, 10, 3, 100)  # 2 moves next to head 0; 3's nearest is now head 1
    change = neighbours.neighbourhood_change(before, after, groups, k=1)
    np.testing.assert_array_equal(change.rows, [2, 3])
    np.testing.assert_array_equal(change.before, [0, 0])
    np.testing.assert_array_equal(change.after, [1, 1])
    np.testing.assert_array_equal(change.kept, [0, 0])
    row = change.summary().iloc[0]
    assert row["group"] == "tail" and row["items"] == 2
    assert row["head share of 1-NN, base"] == 0 and row["head share of 1-NN, fine-tuned"] == 1
    assert row["items with more head neighbours"] == 1 and row["neighbours kept"] == 0


def test_neighbours_through_the_faiss_index_match_exact_search():
    from recsys.models.candidates import CandidateConfig

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)).astype(np.float32)  # no ties: exact order is unique
    exact_idx, exact_sim = neighbours.nearest_neighbours(x, k=8)
    flat = neighbours.neighbour_index(x)
    assert flat.kind == "exact"
    idx, sim = neighbours.nearest_neighbours(x, k=8, index=flat)
    np.testing.assert_array_equal(idx, exact_idx)
    np.testing.assert_allclose(sim, exact_sim, rtol=1e-5, atol=1e-6)
    hnsw = neighbours.neighbour_index(x, CandidateConfig(index="hnsw"))
    assert hnsw.kind == "hnsw"
    idx, _ = neighbours.nearest_neighbours(x, rows=[5, 9], k=8, index=hnsw)
    assert (idx != np.array([[5], [9]])).all()  # the item itself never is its own neighbour
    pairs = zip(idx, exact_idx[[5, 9]], strict=True)
    recall = np.mean([len(np.intersect1d(a, b)) / 8 for a, b in pairs])
    assert recall >= 0.9


def test_index_for_other_embeddings_is_refused():
    index = neighbours.neighbour_index(np.eye(5, dtype=np.float32))
    with pytest.raises(ValueError, match="holds 5 items"):
        neighbours.nearest_neighbours(np.eye(6), k=2, index=index)


def test_neighbourhood_change_among_a_sample_and_through_indexes():
    rng = np.random.default_rng(1)
    before = rng.normal(size=(300, 8))
    after = before + rng.normal(0, 0.3, before.shape)
    groups = np.where(np.arange(300) < 60, HEAD, TAIL).astype(np.int8)
    full = neighbours.neighbourhood_change(before, after, groups, k=5)
    sample = np.arange(0, 300, 7)  # head and tail positions; only the tail ones are compared
    part = neighbours.neighbourhood_change(
        before,
        after,
        groups,
        k=5,
        among=sample,
        indexes=(neighbours.neighbour_index(before), neighbours.neighbour_index(after)),
    )
    np.testing.assert_array_equal(part.rows, sample[sample >= 60])
    at = np.searchsorted(full.rows, part.rows)
    np.testing.assert_allclose(part.before, full.before[at])
    np.testing.assert_allclose(part.kept, full.kept[at])


def test_neighbourhood_change_needs_same_rows():
    with pytest.raises(ValueError, match="same rows"):
        neighbours.neighbourhood_change(np.eye(3), np.eye(4), np.zeros(3))


def test_search_titles_ranks_exact_then_prefix_then_word_then_substring():
    titles = ["Desk lamp", "Standing desk", "desk", "Deskmate organiser", "Mug", None]
    assert neighbours.search_titles(titles, " DESK ").tolist() == [2, 0, 3, 1]
    assert neighbours.search_titles(titles, "desk", limit=2).tolist() == [2, 0]
    assert neighbours.search_titles(titles, "").tolist() == []
    assert neighbours.search_titles(titles, "(").tolist() == []  # not a regex


def test_nearest_to_searches_vectors_outside_the_rows():
    from recsys.maps.neighbours import nearest_to, neighbour_index, normalise
    from recsys.models.candidates import CandidateConfig

    x = normalise(np.random.default_rng(1).normal(size=(300, 16)))
    q = x[:3] + 0.01  # near rows 0-2 but not rows themselves
    exact_idx, exact_sim = nearest_to(x, q, 5)
    assert (exact_idx[:, 0] == [0, 1, 2]).all()
    assert (np.diff(exact_sim, axis=1) <= 1e-6).all()
    full = normalise(q) @ x.T
    np.testing.assert_allclose(exact_sim, -np.sort(-full, axis=1)[:, :5], atol=1e-5)
    idx, sim = nearest_to(x, q, 5, index=neighbour_index(x, CandidateConfig(index="exact")))
    np.testing.assert_array_equal(idx, exact_idx)
    with pytest.raises(ValueError, match="dimensions"):
        nearest_to(x, np.ones((1, 4)), 5)
