"""Candidate scope: masks from training counts, scoped lists, refusals (recsys/models/scope.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import popularity
from recsys.models import MODELS, TrainData, make_model
from recsys.models.blend import Blend
from recsys.models.hybrid import Hybrid
from recsys.models.scope import CandidateScope, EmptyScope, candidate_mask, check_model

# Items 0-5 "space", 6-11 "love"; users 0-3 like space items 0-3, users 4-7 love items 6-9.
# Items 4, 5, 10, 11 have no interaction: new items, two of each taste.
TEXT = ["space ship laser"] * 6 + ["love letter wedding"] * 6
LIKED = {u: (range(4) if u < 4 else range(6, 10)) for u in range(8)}


def toy() -> TrainData:
    rows = [u for u, items in LIKED.items() for _ in items]
    cols = [i for items in LIKED.values() for i in items]
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(8, 12))
    extra = sp.csr_matrix(([1.0, 1.0], ([5, 0], [1, 6])), shape=(8, 12))  # items 1, 6 busiest
    return TrainData((m + extra).tocsr(), TEXT)


def test_cold_mask_is_items_without_training_interaction():
    data = toy()
    mask = candidate_mask("cold", data.matrix)
    assert np.flatnonzero(mask).tolist() == [4, 5, 10, 11]
    assert CandidateScope("cold").mask(np.asarray(data.matrix.sum(axis=0)).ravel()).tolist() == (
        mask.tolist()
    )


def test_tail_mask_is_the_complement_of_the_data_pages_head():
    counts = np.array([9, 8, 1, 1, 0, 3, 2, 0, 1, 1])
    for rule, value in [("top_share", None), ("threshold", 2.0), ("interaction_share", 0.5)]:
        head = popularity.head_mask(counts, rule, value)
        tail = CandidateScope("tail", rule, value).mask(counts)
        assert head.any() and np.array_equal(tail, ~head)
        assert tail[counts == 0].all()  # cold items are tail candidates too


def test_a_cold_list_holds_only_new_items_ranked_by_text():
    data = toy()
    model = make_model("tfidf").fit(data)
    top, scores = model.recommend(np.arange(8), 2, candidates=CandidateScope("cold"))
    assert set(top.ravel()) <= {4, 5, 10, 11} and np.isfinite(scores).all()
    assert set(top[0]) == {4, 5} and set(top[5]) == {10, 11}  # each user's taste, by text


def test_a_tail_list_holds_none_of_the_head():
    data = toy()
    model = make_model("ease").fit(data)
    scope = CandidateScope("tail", "threshold", 5)  # head: items 1 and 6 (5 interactions each)
    head = popularity.head_mask(np.asarray(data.matrix.sum(axis=0)).ravel(), "threshold", 5)
    top, scores = model.recommend(np.arange(8), 5, candidates=scope)
    finite = np.isfinite(scores)
    assert np.flatnonzero(head).tolist() == [1, 6]
    assert finite.any() and not head[top[finite]].any()
    assert head[model.recommend(np.arange(8), 5)[0]].any()  # unscoped, EASE lists the head


def test_an_empty_scope_is_a_clear_error():
    full = sp.csr_matrix(np.ones((3, 4), dtype=np.float32))
    with pytest.raises(EmptyScope, match="scope 'cold' is empty: every one of the 4 items"):
        candidate_mask("cold", full)
    with pytest.raises(EmptyScope, match="'tail' is empty"):
        candidate_mask("tail", full, "threshold", 1)


@pytest.mark.parametrize(
    "kwargs", [{"scope": "new"}, {"head_rule": "top"}, {"head_value": 0.0}, {"head_value": 1.5},
               {"head_rule": "threshold", "head_value": 0.5}, {"head_value": float("nan")}],
)  # fmt: skip
def test_bad_scope_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        CandidateScope(**kwargs)


@pytest.mark.parametrize("name", ["mostpop", "itemknn", "ease", "als"])
def test_collaborative_models_refuse_new_items_naming_text_models(name):
    with pytest.raises(ValueError, match="tfidf, content, .*lm, hybrid"):
        check_model(name, "cold")
    check_model(name, "tail")  # the tail they can rank
    model = make_model(name).fit(toy())
    with pytest.raises(ValueError, match=f"model {name!r} learns only from interactions"):
        model.recommend(np.arange(2), 2, candidates=CandidateScope("cold"))


def test_text_models_are_allowed_new_items():
    for name in ("tfidf", "content", "lm", "hybrid", "ease_content"):
        check_model(name, "cold")
        assert MODELS[name].scores_cold_items


def test_hybrid_ranks_new_items_by_its_text_part():
    # A blend whose cold weight is negative would put the least similar new item first; on a
    # scope of new items only, the text part ranks them instead.
    data = toy()
    blend = Blend(weights=(1.0, 1.0, -1.0), offsets=(0.0, 0.0, 0.0))
    hybrid = Hybrid(cf="ease", lm="tfidf", blend=blend).fit(data)
    top, _ = hybrid.recommend(np.arange(8), 2, candidates=CandidateScope("cold"))
    tfidf = make_model("tfidf").fit(data)
    text_top, _ = tfidf.recommend(np.arange(8), 2, candidates=CandidateScope("cold"))
    assert [set(r) for r in top] == [set(r) for r in text_top]
    plain, _ = hybrid.recommend(np.arange(8), 12)  # unscoped: the blend's own order
    assert set(plain[0][np.isin(plain[0], [4, 5, 10, 11])][:2]) == {10, 11}
