"""Metrics under a candidate scope: lists, test positives and users restricted to the scope."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.validation import build_dataset
from recsys.evaluation import metrics
from recsys.evaluation.protocol import Protocol, evaluate, fit_and_score, prepare
from recsys.models import TrainData, make_model
from recsys.models.scope import CandidateScope


def shop(n_users: int = 24, launch: bool = True) -> pd.DataFrame:
    """Two tastes; each user likes 6 of their 8 block items. With ``launch``, u01 and u03 like
    i16 last (a temporal split makes it a new item with test positives); i17 is never liked."""
    rng = np.random.default_rng(1)
    rows = []
    for u in range(n_users):
        block = np.arange(8) + (8 if u % 2 else 0)
        for t, i in enumerate(rng.permutation(block)[:6]):
            rows.append((f"u{u:02d}", f"i{i:02d}", 5.0, 100 * u + t))
    if launch:
        rows += [("u01", "i16", 5.0, 199), ("u03", "i16", 5.0, 399)]
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    titles = ["space ship laser"] * 8 + ["love letter wedding"] * 9 + ["space laser sequel"]
    items = pd.DataFrame({"item": [f"i{i:02d}" for i in range(18)], "title": titles})
    return build_dataset(inter, items, name="shop", text_columns=("title",))


def test_cold_scope_restricts_test_positives_and_counts_skipped_users():
    exp = prepare(shop(), Protocol(candidates=CandidateScope("cold")))
    final = exp.final
    cold = final.counts == 0
    assert final.candidates is not None and np.array_equal(final.candidates, cold)
    assert exp.index.item_ids[cold].tolist() == ["i16", "i17"]
    # Only cold columns are targets; users without a cold test positive are skipped, and counted.
    assert set(final.target.indices) <= set(np.flatnonzero(cold))
    with_test = np.count_nonzero(np.diff(final.holdout.indptr))
    assert exp.summary["scope_users"] == len(final.users) == 2  # u01 and u03
    assert exp.summary["scope_skipped_users"] == with_test - 2 == 22


def test_metrics_are_over_the_scope_and_the_header_says_so():
    data = shop()
    results = evaluate(data, ["tfidf"], split="item_cold", candidates="cold", ks=(5,), tune=False)
    exp = prepare(data, Protocol(split="item_cold", ks=(5,), candidates=CandidateScope("cold")))
    assert exp.summary["scope_items"] >= 4  # the held-out items and the never-liked i17
    # recall@5 by hand: lists of cold items only, over each user's cold test items
    f = exp.final
    model = make_model("tfidf").fit(TrainData(f.train, f.text))
    top, scores = model.recommend(f.users, 5, candidates=f.candidates)
    assert np.isin(top[np.isfinite(scores)], np.flatnonzero(f.counts == 0)).all()
    target = f.holdout[f.users].toarray() * f.candidates  # (U, I) in-scope positives only
    hits = np.take_along_axis(target, top, axis=1).sum(axis=1)
    expected = np.mean(hits / np.minimum(5, target.sum(axis=1)))
    assert results.models[0].metrics["recall@5"] == pytest.approx(expected)
    header = results.to_markdown().splitlines()
    users = exp.summary["scope_users"]
    assert header[0].startswith("Candidates: cold (new items")
    assert f"| R@5 (scope: cold, {users} users) |" in header[2]


def test_metrics_under_the_whole_catalogue_are_unchanged():
    protocol = Protocol(ks=(5, 10))
    exp = prepare(shop(), protocol)
    f = exp.final
    assert f.candidates is None and "scope_users" not in exp.summary
    scored, _, _ = fit_and_score("tfidf", {}, f, exp.index, protocol)
    top = make_model("tfidf").fit(TrainData(f.train, f.text)).recommend(f.users, 10)[0]
    direct = metrics.evaluate_topk(top, f.holdout[f.users], f.counts, f.groups, (5, 10))
    assert scored["recall@10"] == pytest.approx(direct["recall@10"])


def test_a_scope_without_test_positives_is_a_clear_error():
    # A temporal split of this shop leaves no test item cold: nothing to measure.
    with pytest.raises(ValueError, match="no test positive is in candidate scope 'cold'"):
        evaluate(shop(launch=False), ["tfidf"], candidates="cold", ks=(5,), tune=False)


def test_collaborative_models_refuse_the_cold_scope_before_any_work():
    with pytest.raises(ValueError, match="'ease' learns only from interactions"):
        evaluate("no-such-folder", ["tfidf", "ease"], candidates="cold")


def test_tail_scope_uses_the_head_rule_for_bands_too():
    p = Protocol(candidates=CandidateScope("tail", "threshold", 12))
    exp = prepare(shop(), p)
    head = exp.final.groups == 0
    assert np.array_equal(head, exp.final.counts >= 12)
    assert not (exp.final.candidates & head).any()
