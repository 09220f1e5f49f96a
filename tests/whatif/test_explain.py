"""Explanations: parts sum to the ranking score, similarities and shared terms are the real ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data import popularity
from recsys.whatif import explain as ex
from recsys.whatif import rerank as rr
from tests.whatif.test_rerank import N_USERS, random_case

K = 8


@pytest.fixture(scope="module")
def case():
    cands, history, _ = random_case(11)
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(history.shape[1], 16))
    sims = {"item-item": ex.cooccurrence(history), "text": ex.cosine(vectors)}
    return cands, history, vectors, sims


@pytest.mark.parametrize("strategy", list(rr.STRATEGIES))
@pytest.mark.parametrize("boost", [0.0, 0.35, 1.0])
def test_parts_sum_to_the_score_the_list_is_ranked_by(case, strategy, boost):
    cands, history, _, sims = case
    ranked = rr.rerank(cands, strategy, boost, K)
    scores = ranked.scores(cands)
    for u in (0, 13, N_USERS - 1):
        explanations = ex.explain_user(u, cands, ranked, history[u].indices, sims)
        assert [e.item for e in explanations] == ranked.items[u].tolist()
        got = [e.score for e in explanations]
        assert np.allclose(got, scores[u], atol=1e-5)
        assert set(explanations[0].parts) == {"collaborative", "content", ex.BOOST}
        if boost == 0.0:
            assert all(e.parts[ex.BOOST] == 0.0 for e in explanations)


def test_penalty_explanations_are_in_descending_score_and_ranks_are_consistent(case):
    cands, history, _, sims = case
    ranked = rr.rerank(cands, "penalty", 0.5, K)
    explanations = ex.explain_user(3, cands, ranked, history[3].indices, sims)
    assert np.all(np.diff([e.score for e in explanations]) <= 1e-6)
    assert [e.rank_after for e in explanations] == list(range(1, K + 1))
    assert [e.rank_before for e in explanations] == cands.rank[3, ranked.slots[3]].tolist()
    base = rr.rerank(cands, "penalty", 0.0, K)
    before = ex.explain_user(3, cands, base, history[3].indices, sims)
    assert [e.rank_before for e in before] == [e.rank_after for e in before]


def test_because_lists_history_items_with_their_true_similarity(case):
    cands, history, vectors, sims = case
    ranked = rr.rerank(cands, "target", 0.5, K)
    hist = history[5].indices
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cols = history.T.tocsr().toarray()
    cols = cols / np.maximum(np.linalg.norm(cols, axis=1, keepdims=True), 1e-12)
    for e in ex.explain_user(5, cands, ranked, hist, sims, n_because=3):
        table = unit if e.similarity == "text" else cols
        true = table[hist] @ table[e.item]
        assert len(e.because) <= 3
        assert all(h in hist for h, _ in e.because)
        values = [v for _, v in e.because]
        assert values == sorted(values, reverse=True)
        for h, v in e.because:
            assert v == pytest.approx(true[list(hist).index(h)], abs=1e-6)
        if e.because:
            assert e.because[0][1] == pytest.approx(true.max(), abs=1e-6)


def test_similarity_follows_the_dominant_part():
    assert (
        ex.choose_similarity(
            {"collaborative": 0.7, "content": 0.2, "tail_boost": 0.9}, ["item-item", "text"]
        )
        == "item-item"
    )
    assert (
        ex.choose_similarity({"collaborative": 0.0, "language_model": 0.4}, ["item-item", "text"])
        == "text"
    )
    assert ex.choose_similarity({"content": 0.4}, ["item-item"]) == "item-item"
    lm_wins = {"collaborative": 0.1, "language_model": 0.4}
    assert ex.choose_similarity(lm_wins, ["item-item", "embedding"]) == "embedding"


def test_cold_item_explained_by_text_never_by_cooccurrence():
    # Item 3 is cold: its co-occurrence column is empty, so only text can explain it.
    history = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=np.float32))
    counts = np.array([2, 1, 1, 0])
    cands = rr.Candidates(
        items=np.array([[3, 2], [3, 1]]),
        parts={
            "collaborative": np.array([[0.0, 0.2], [0.0, 0.1]], dtype=np.float32),
            "content": np.array([[0.9, 0.1], [0.8, 0.1]], dtype=np.float32),
        },
        rank=np.array([[1, 2], [1, 2]]),
        groups=popularity.groups(counts, "threshold", 2),
        counts=counts,
        history_tail_share=np.array([0.5, 0.5]),
    )
    text = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.1]])
    sims = {"item-item": ex.cooccurrence(history), "text": ex.cosine(text)}
    ranked = rr.rerank(cands, "penalty", 0.0, 2)
    first = ex.explain_user(0, cands, ranked, np.array([0, 1]), sims)[0]
    assert first.item == 3 and first.band == popularity.COLD and first.similarity == "text"
    assert first.because[0][0] == 0
    assert first.because[0][1] == pytest.approx(1.0 / np.hypot(1.0, 0.1))


def test_item_terms_split_lists_and_words_and_shared_terms_rank_by_count():
    items = pd.DataFrame(
        {
            "item": ["a", "b", "c"],
            "title": ["The Space Odyssey", "Space Cowboys", "Love Letters"],
            "genres": ["Sci-Fi|Drama", "Sci-Fi|Western", "Romance|Drama"],
            "tags": [None, "nasa", "nasa"],
        }
    )
    terms = ex.item_terms(items, ("title", "genres", "tags"), np.arange(3))
    assert terms[0] == {
        ("words", "space"),
        ("words", "odyssey"),
        ("genres", "sci-fi"),
        ("genres", "drama"),
    }
    shared = ex.shared_terms(terms[1], [terms[0], terms[2]])
    assert shared == (("genres", "sci-fi"), ("tags", "nasa"), ("words", "space"))
    assert ex.format_terms(shared) == "genres: sci-fi · tags: nasa · words: space"


def test_frame_has_a_row_per_item_and_the_score_equals_its_parts(case):
    cands, history, _, sims = case
    ranked = rr.rerank(cands, "penalty", 0.3, K)
    explanations = ex.explain_user(0, cands, ranked, history[0].indices, sims)
    n_items = history.shape[1]
    frame = ex.explanations_frame(
        explanations,
        np.array([f"i{i}" for i in range(n_items)]),
        [f"title {i}" for i in range(n_items)],
    )
    assert len(frame) == K
    assert np.allclose(
        frame[["collaborative", "content", "tail boost"]].sum(axis=1), frame["score"]
    )
    assert frame["item"].tolist() == [f"i{i}" for i in ranked.items[0]]


def test_lists_frame_has_every_users_list_with_parts_summing_to_the_score(case):
    cands, history, _, _ = case
    ranked = rr.rerank(cands, "xquad", 0.4, K)
    n_items = history.shape[1]
    frame = ex.lists_frame(
        cands,
        ranked,
        np.array([f"u{u}" for u in range(N_USERS)]),
        np.array([f"i{i}" for i in range(n_items)]),
        [f"title {i}" for i in range(n_items)],
    )
    assert len(frame) == N_USERS * K
    assert frame.groupby("user")["rank"].apply(list).eq([list(range(1, K + 1))] * N_USERS).all()
    assert np.allclose(
        frame[["collaborative", "content", "tail boost"]].sum(axis=1), frame["score"], atol=1e-5
    )
    first = frame[frame["user"] == "u3"]
    assert first["item"].tolist() == [f"i{i}" for i in ranked.items[3]]
    assert first["rank before boost"].tolist() == cands.rank[3, ranked.slots[3]].tolist()
