"""The experiment protocol: filtering, splits, popularity bands, tuning, leakage and reporting."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from recsys.data import popularity
from recsys.data.movielens import load_movielens
from recsys.data.sources import load
from recsys.data.validation import build_dataset
from recsys.evaluation.protocol import (
    ModelResult,
    Protocol,
    evaluate,
    filter_users,
    prepare,
    training_counts,
)
from recsys.evaluation.tables import markdown_table
from recsys.models import MODELS
from recsys.models.mostpop import MostPop


def two_block_dataset(n_users: int = 30, seed: int = 0) -> pd.DataFrame:
    """Users like 8 random items of their block (0-9 or 10-19); items 20-21 are never liked."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        block = np.arange(10) + (10 if u % 2 else 0)
        for t, i in enumerate(rng.permutation(block)[:8]):
            rows.append((f"u{u:02d}", f"i{i:02d}", 5.0, 1000 * u + t))
    rows.append(("u99", "i00", 5.0, 1))  # too few positives: dropped
    rows.append(("u00", "i21", 1.0, 10**6))  # a negative: not a positive, item stays cold
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    titles = ["space ship laser"] * 10 + ["love letter wedding"] * 10 + ["space sequel", "love"]
    items = pd.DataFrame({"item": [f"i{i:02d}" for i in range(22)], "title": titles})
    return build_dataset(inter, items, name="blocks", text_columns=("title",))


@pytest.fixture
def blocks():
    return two_block_dataset()


def test_filter_users_keeps_users_with_enough_positives():
    df = pd.DataFrame({"user": ["a"] * 5 + ["b"] * 4, "item": list("abcde") + list("abcd")})
    assert filter_users(df, 5)["user"].unique().tolist() == ["a"]


def test_prepare_drops_short_users_and_bands_by_training_counts(blocks):
    exp = prepare(blocks, Protocol())
    assert "u99" not in exp.index.user_ids and exp.index.n_users == 30
    assert exp.index.n_items == 22  # every catalogue item is a candidate
    # Bands come from training counts: never-liked items are cold, head is 20% of the catalogue.
    cold = exp.index.item_pos(["i20", "i21"])
    assert (exp.final.groups[cold] == popularity.COLD).all()
    assert np.sum(exp.final.groups == popularity.HEAD) == math.ceil(0.2 * 22)
    np.testing.assert_array_equal(exp.final.counts, exp.final.train.sum(axis=0).A1)
    # 8 positives per user: 2 to test (round half up of 1.6), 1 of the 6 left to validation.
    assert exp.final.holdout.sum() == 60 and exp.tuning.holdout.sum() == 30
    assert exp.tuning.train.sum() == 30 * 5
    assert exp.tuning.train.multiply(exp.tuning.holdout).sum() == 0


def test_text_excludes_held_out_pairs_for_each_stage(blocks):
    seen: list[set] = []

    def text(held_out: pd.DataFrame) -> list[str]:
        seen.append(set(map(tuple, held_out[["user", "item"]].to_numpy())))
        return blocks.item_text()

    exp = prepare(blocks, Protocol(), text)
    test = set(map(tuple, exp.split.test[["user", "item"]].to_numpy()))
    validation = set(map(tuple, exp.split.validation[["user", "item"]].to_numpy()))
    assert seen == [test | validation, test]  # tuning stage first, then the final stage


def test_evaluate_reports_every_model_and_metric(blocks):
    results = evaluate(blocks, ["mostpop", "ease", "tfidf"], ks=(5, 10), tune=False)
    assert [r.model for r in results.models] == ["mostpop", "ease", "tfidf"]
    for r in results.models:
        assert {"recall@5", "ndcg@10", "tail_recall@10", "aplt@10", "mrr"} <= set(r.metrics)
        assert r.metrics["n_users"] == 30 and r.fit_seconds >= 0
    by_name = {r.model: r.metrics for r in results.models}
    assert by_name["ease"]["recall@10"] > by_name["mostpop"]["recall@10"]
    json.dumps(results.to_dict(), allow_nan=False)  # strict JSON: undefined metrics are null


def test_tuning_fits_on_fit_train_and_keeps_the_best_validation_score(blocks, monkeypatch):
    fits: list[tuple[float, int]] = []

    class Probe(MostPop):
        """MostPop whose scores are reversed unless ``good``; records what it was fitted on."""

        param_grid: ClassVar[dict[str, list]] = {"good": [False, True, False]}

        def __init__(self, good: bool = False) -> None:
            self.good = good

        def _fit(self, data) -> None:
            super()._fit(data)
            fits.append((self.good, int(data.matrix.sum())))

        def _score(self, users, history):
            scores = super()._score(users, history)
            return scores if self.good else -scores

    monkeypatch.setitem(MODELS, "probe", Probe)
    result = evaluate(blocks, ["probe"]).models[0]
    assert result.params == {"good": True}
    assert [t["params"] for t in result.trials] == [{"good": g} for g in [False, True, False]]
    # Three tuning fits on train minus validation (5 rows/user), one final fit on train (6).
    assert fits == [(False, 150), (True, 150), (False, 150), (True, 180)]


def test_a_single_combination_grid_spends_no_validation_fit(blocks, monkeypatch):
    fits: list[int] = []

    class Once(MostPop):
        param_grid: ClassVar[dict[str, list]] = {"only": [3]}

        def __init__(self, only: int = 0) -> None:
            self.only = only

        def _fit(self, data) -> None:
            super()._fit(data)
            fits.append(int(data.matrix.sum()))

    monkeypatch.setitem(MODELS, "once", Once)
    result = evaluate(blocks, ["once"]).models[0]
    assert result.params == {"only": 3} and result.trials == []
    assert fits == [180]  # the final fit on train only


def test_fixed_params_skip_tuning(blocks):
    result = evaluate(blocks, ["ease"], params={"ease": {"lambda_": 7.0}}).models[0]
    assert result.params == {"lambda_": 7.0} and result.trials == []


def test_unknown_model_fails_before_any_work(blocks):
    with pytest.raises(ValueError, match="unknown model"):
        evaluate(blocks, ["ease", "nope"])


def test_markdown_table_has_one_row_per_model_and_dashes_for_undefined():
    metrics = {"recall@10": 0.5, "cold_recall@10": float("nan")}
    table = markdown_table([ModelResult("m", {"k": 3}, metrics, 1.0, 0.5)], ks=(10,))
    header, _, row = table.splitlines()
    assert header.startswith("| model | R@10 | N@10 | tail-R@10 | cold-R@10 |")
    assert row.startswith("| m | 0.5000 |") and "| – |" in row and "| 1.5 | k=3 |" in row


@pytest.mark.slow
def test_movielens_protocol_lands_near_expected_figures(ml_small):
    results = evaluate(ml_small, ["mostpop", "ease", "tfidf"], tune=False)
    assert results.summary["users"] == 603 and results.summary["items"] == 9742
    m = {r.model: r.metrics for r in results.models}
    assert 0.13 < m["ease"]["recall@20"] < 0.18
    assert m["mostpop"]["recall@20"] < m["ease"]["recall@20"]
    assert m["ease"]["cold_recall@20"] == 0.0 < m["tfidf"]["cold_recall@20"]


@pytest.mark.slow
def test_movielens_text_drops_users_own_held_out_tags(ml_small):
    tags = pd.read_csv(ml_small / "tags.csv").astype({"userId": str, "movieId": str})
    # A tag only one user put on a movie disappears once that (user, movie) pair is held out.
    once = tags.groupby(["movieId", "tag"]).filter(lambda g: len(g) == 1).iloc[0]
    held = pd.DataFrame({"user": [once["userId"]], "item": [once["movieId"]]})
    full = load_movielens(ml_small)
    pos = full.items.index[full.items["item"] == once["movieId"]][0]
    assert once["tag"] in full.items.loc[pos, "tags"].split("|")
    kept = load_movielens(ml_small, tag_exclude=held).items.loc[pos, "tags"]
    assert once["tag"] not in kept.split("|")


def test_every_figure_is_also_broken_down_by_band(blocks):
    results = evaluate(blocks, ["mostpop"])
    metrics = results.models[0].metrics
    for band in ("head", "tail", "cold"):
        assert f"{band}:recall@10" in metrics and f"{band}:share@10" in metrics
    shares = [metrics[f"{band}:share@10"] for band in ("head", "tail", "cold")]
    assert sum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(1 - metrics["aplt@10"])  # non-head slots = APLT
    assert shares[2] == 0.0  # MostPop never lists an item without interactions
    assert "| mostpop | head |" in results.to_markdown()


@pytest.mark.parametrize("split", ["temporal", "random", "item_cold"])
def test_training_counts_are_the_tuning_stage_counts(blocks, ml_small, split):
    """The cheap path the Embeddings page colours by equals the full protocol's tuning stage."""
    for data in (blocks, load_movielens(ml_small), load("sample")):
        p = Protocol(split=split, seed=3)
        quick, stage = training_counts(data, p), prepare(data, p).tuning
        np.testing.assert_array_equal(quick.counts, stage.counts)
        assert quick.pairs == stage.train.nnz


def test_training_counts_refuse_like_prepare(blocks):
    for p in (Protocol(threshold=9.0), Protocol(min_positives=50)):
        with pytest.raises(ValueError) as full:
            prepare(blocks, p)
        with pytest.raises(ValueError) as quick:
            training_counts(blocks, p)
        assert str(quick.value) == str(full.value)
