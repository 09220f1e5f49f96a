"""Candidate generation: ANN text sources, the tail index, collaborative neighbours, ranking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data.popularity import COLD, HEAD, TAIL
from recsys.models.base import top_k
from recsys.models.candidates import (
    CandidateConfig,
    CandidateGenerator,
    TextIndex,
    candidate_recall,
    sizes,
    top_k_among,
)


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_index_finds_the_true_neighbours():
    rng = np.random.default_rng(0)
    v = unit(rng.normal(size=(500, 16)))
    q = unit(rng.normal(size=(20, 16)))
    found = TextIndex(v, None, CandidateConfig(index="exact")).search(q, 10)
    truth = np.argsort(-(q @ v.T), axis=1)[:, :10]
    assert (found == truth).all()


def test_hnsw_index_keeps_most_neighbours_and_maps_back_to_catalogue_positions():
    rng = np.random.default_rng(1)
    v = unit(rng.normal(size=(4000, 16)))
    subset = np.arange(1, 4000, 2)  # odd positions only
    q = unit(rng.normal(size=(50, 16)))
    found = TextIndex(v, subset, CandidateConfig(index="hnsw")).search(q, 10)
    assert np.isin(found, subset).all()
    sims = q @ v[subset].T
    truth = subset[np.argsort(-sims, axis=1)[:, :10]]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.9


def toy():
    """Item 0..3 head near direction x, 4 tail near x but further, 5 cold near x, 6 head far."""
    v = unit([[1, 0.0], [1, 0.05], [1, 0.1], [1, 0.15], [1, 0.5], [1, 0.6], [-1, 1]])
    groups = np.array([HEAD, HEAD, HEAD, HEAD, TAIL, COLD, HEAD], dtype=np.int8)
    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]], np.float32))
    return v, groups, history


def test_tail_index_brings_new_items_in_when_the_head_fills_the_text_source():
    v, groups, history = toy()
    only_text = CandidateGenerator(v, groups, config=CandidateConfig(text=3, text_tail=0))
    got = only_text.candidates(history[:1]).toarray()[0]
    assert set(np.flatnonzero(got)) == {1, 2, 3}  # the seen item 0 is dropped, head fills it
    both = CandidateGenerator(v, groups, config=CandidateConfig(text=3, text_tail=1))
    got = both.candidates(history[:1]).toarray()[0]
    assert set(np.flatnonzero(got)) == {1, 2, 3, 4}
    wider = CandidateGenerator(v, groups, config=CandidateConfig(text=3, text_tail=2))
    assert wider.candidates(history[:1]).toarray()[0, 5]  # the cold item enters


def test_a_user_without_history_gets_no_text_candidates():
    v, groups, history = toy()
    gen = CandidateGenerator(v, groups, config=CandidateConfig(text=3, text_tail=2))
    assert sizes(gen.candidates(history)).tolist()[1] == 0


def test_collaborative_source_proposes_co_occurring_items_and_never_seen_ones():
    v, groups, history = toy()
    nb = sp.csr_matrix((7, 7), dtype=np.float32).tolil()
    nb[0, 6], nb[0, 3], nb[0, 0] = 0.9, 0.2, 1.0
    gen = CandidateGenerator(
        v, groups, nb.tocsr(), CandidateConfig(collaborative=1, text=0, text_tail=0)
    )
    assert np.flatnonzero(gen.candidates(history[:1]).toarray()[0]).tolist() == [6]


def test_top_k_among_equals_dense_top_k_over_the_candidates():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(30, 200)).astype(np.float32)
    scores[:, 7] = scores[:, 8]  # a tie, broken by position
    cand = sp.csr_matrix(rng.random((30, 200)) < 0.2)
    masked = np.where(cand.toarray(), scores, -np.inf).astype(np.float32)
    want_idx, want_vals = top_k(masked, 10)
    idx, vals = top_k_among(cand, lambda r, c: scores[r, c], 10)
    finite = np.isfinite(want_vals)
    assert (idx[finite] == want_idx[finite]).all()
    assert np.allclose(vals[finite], want_vals[finite])
    assert (idx[~finite] == -1).all()


def test_candidate_recall_counts_the_exact_items_kept():
    cand = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0]], dtype=bool))
    assert candidate_recall(np.array([[0, 1], [2, 3]]), cand) == 0.75
    assert candidate_recall(np.array([[0, -1], [2, -1]]), cand) == 1.0
    with pytest.raises(ValueError, match="empty"):
        candidate_recall(np.full((2, 2), -1), cand)


def test_bad_configs_and_shapes_are_refused():
    with pytest.raises(ValueError, match="text"):
        CandidateConfig(text=-1)
    with pytest.raises(ValueError, match="index"):
        CandidateConfig(index="annoy")  # type: ignore[arg-type]
    v, groups, history = toy()
    with pytest.raises(ValueError, match="groups"):
        CandidateGenerator(v, groups[:3])
    with pytest.raises(ValueError, match="items"):
        CandidateGenerator(v, groups).candidates(sp.csr_matrix((1, 3)))


def test_ivf_index_keeps_most_neighbours_and_maps_back_to_catalogue_positions():
    rng = np.random.default_rng(2)
    centres = unit(rng.normal(size=(40, 16)))
    v = unit(centres[rng.integers(40, size=6000)] + 0.2 * rng.normal(size=(6000, 16)))
    subset = np.arange(0, 6000, 3)
    q = unit(v[rng.integers(6000, size=50)] + 0.05 * rng.normal(size=(50, 16)))
    index = TextIndex(v, subset, CandidateConfig(index="ivf", ivf_lists=16, ivf_probe=4))
    assert index.kind == "ivf"
    found = index.search(q, 10)
    assert np.isin(found, subset).all()
    truth = subset[np.argsort(-(q @ v[subset].T), axis=1)[:, :10]]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.9


def test_co_occurrence_walk_proposes_items_of_users_sharing_an_item():
    from recsys.models.candidates import CoOccurrence

    # users 0 and 1 share item 0; user 1 also took item 2; user 2 took item 3 only
    x = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], np.float32))
    v = unit(np.eye(4) + 0.01)
    gen = CandidateGenerator(v, np.zeros(4, np.int8), CoOccurrence(x),
                             CandidateConfig(collaborative=5, text=0, text_tail=0))  # fmt: skip
    got = gen.candidates(x[:1]).toarray()[0]
    assert set(np.flatnonzero(got)) == {2}  # item 0 seen; item 3 never co-occurs
