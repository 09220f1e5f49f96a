"""Who a new item would reach: users ranked by where the item lands in their lists, and why."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models import TrainData
from recsys.models.scope import CandidateScope
from recsys.whatif import audience, explain, scorers

# Items 0-4 are "space" films, 5-9 "love" films; 10 and 11 are new (cold) items.
TEXT = ["space ship laser robot"] * 5 + ["love letter wedding kiss"] * 5
TEXT += ["space robot sequel", "wedding kiss sequel"]


@pytest.fixture
def setting(block_matrix):
    data = TrainData(block_matrix, TEXT)
    scorer = scorers.fit_scorer("tfidf", data)
    similarity = explain.cosine(explain.tfidf_vectors(TEXT))
    scope = CandidateScope("cold").mask(block_matrix)
    return block_matrix, scorer, similarity, scope


def test_a_new_space_item_reaches_the_space_fans_first_with_space_reasons(setting):
    matrix, scorer, similarity, scope = setting
    reach = audience.audience(scorer, 10, matrix, similarity, scope=scope, n_users=10)
    assert [r.user for r in reach] == list(range(10))  # users 0-9 like items 0-4
    assert all(r.rank == 1 for r in reach)  # it heads their new-items list
    for r in reach:
        assert r.because and all(h < 5 for h, _ in r.because)  # text neighbours: space items
        assert [v for _, v in r.because] == sorted((v for _, v in r.because), reverse=True)
        assert all(h in matrix[r.user].indices for h, _ in r.because)  # from the history
    other = audience.audience(scorer, 11, matrix, similarity, scope=scope, n_users=10)
    assert [r.user for r in other] == list(range(10, 20))


def test_everyone_is_ranked_and_ranks_agree_with_the_model(setting):
    matrix, scorer, similarity, scope = setting
    reach = audience.audience(scorer, 10, matrix, similarity, scope=scope, n_users=100)
    assert len(reach) == 20
    assert [r.rank for r in reach[10:]] == [2] * 10  # the love fans prefer item 11
    ranks = [r.rank for r in reach]
    assert ranks == sorted(ranks)
    assert all(0.0 <= r.score <= 1.0 for r in reach)


def test_users_who_saw_the_item_are_left_out_and_bad_items_refused(setting):
    matrix, scorer, similarity, _ = setting
    reach = audience.audience(scorer, 0, matrix, similarity, n_users=100)  # a seen head item
    assert {r.user for r in reach}.isdisjoint(np.flatnonzero(matrix[:, 0].toarray().ravel()))
    cold = CandidateScope("cold").mask(matrix)
    with pytest.raises(ValueError, match="outside the candidate scope"):
        audience.audience(scorer, 0, matrix, similarity, scope=cold)
    with pytest.raises(ValueError, match="outside the catalogue"):
        audience.audience(scorer, 12, matrix, similarity)


def test_frame_names_users_and_reasons_by_title(setting):
    matrix, scorer, similarity, scope = setting
    reach = audience.audience(scorer, 10, matrix, similarity, scope=scope, n_users=2)
    ids = [f"u{i}" for i in range(20)]
    titles = [f"<b>film {i}</b>" for i in range(12)]
    frame = audience.audience_frame(reach, ids, titles)
    assert frame["user"].tolist() == ["u0", "u1"]
    assert frame["because (text neighbours in the history)"].str.contains("film ").all()


def test_only_the_users_given_are_considered(setting):
    matrix, scorer, similarity, scope = setting
    everyone = audience.audience(scorer, 10, matrix, similarity, scope=scope, n_users=100)
    some = audience.audience(
        scorer, 10, matrix, similarity, scope=scope, n_users=100, users=np.array([12, 3, 7])
    )
    assert [r.user for r in some] == [3, 7, 12]  # the space fans first, then the love fan
    by_user = {r.user: r for r in everyone}
    assert all(r == by_user[r.user] for r in some)
