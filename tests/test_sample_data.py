"""The bundled synthetic sample: schema, long tail, reproducibility and taste carried by text."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
ITEM_COLUMNS = ["item_id", "title", "description", "category", "style", "tags", "price"]
INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def _load_generator():
    # sample_data/ is not a package; register the module so its dataclasses can resolve types.
    spec = importlib.util.spec_from_file_location("sample_data_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "items.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def interactions() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "interactions.csv")


@pytest.fixture(scope="module")
def counts(items: pd.DataFrame, interactions: pd.DataFrame) -> pd.Series:
    """Interactions per catalogue item, zeros included, most popular first."""
    per_item = interactions["item_id"].value_counts().reindex(items["item_id"], fill_value=0)
    return per_item.sort_values(ascending=False, kind="stable")


def test_exact_columns() -> None:
    with open(SAMPLE / "items.csv", encoding="utf-8") as f:
        assert f.readline().strip() == ",".join(ITEM_COLUMNS)
    with open(SAMPLE / "interactions.csv", encoding="utf-8") as f:
        assert f.readline().strip() == ",".join(INTERACTION_COLUMNS)


def test_ids_unique_and_well_formed(items: pd.DataFrame, interactions: pd.DataFrame) -> None:
    assert items["item_id"].is_unique
    assert items["item_id"].str.fullmatch(r"P\d{5}").all()
    assert interactions["user_id"].str.fullmatch(r"U\d{4}").all()
    assert not interactions.duplicated(["user_id", "item_id"]).any()
    assert interactions["item_id"].isin(items["item_id"]).all()


def test_row_counts_in_stated_ranges(items: pd.DataFrame, interactions: pd.DataFrame) -> None:
    assert 1_800 <= len(items) <= 2_200
    assert 900 <= interactions["user_id"].nunique() <= 1_100
    assert 40_000 <= len(interactions) <= 60_000
    assert 18 <= items["category"].nunique() <= 22
    assert 6 <= items["style"].nunique() <= 10
    chinese = items["title"].str.contains(r"[\u4e00-\u9fff]").mean()
    assert 0.01 <= chinese <= 0.04


def test_values_and_time_order(items: pd.DataFrame, interactions: pd.DataFrame) -> None:
    assert items["price"].gt(0).all()
    assert interactions["rating"].between(1, 5).all()
    assert interactions["rating"].dtype.kind == "i"
    span_days = np.ptp(interactions["timestamp"].to_numpy()) / 86_400
    assert 300 <= span_days <= 370
    steps = interactions.groupby("user_id", sort=False)["timestamp"].diff().dropna()
    assert (steps > 0).all(), "timestamps must increase within each user"


def test_text_is_varied_and_tags_appear_in_it(items: pd.DataFrame) -> None:
    assert items["title"].is_unique
    text = (items["title"] + " " + items["description"]).str.lower()
    for tags, body in zip(items["tags"], text, strict=True):
        words = tags.split("|")
        assert 2 <= len(words) <= 5
        assert all(w in body for w in words), (tags, body)
    sentences = items["description"].str.count(r"[.!?](?:\s|$)")
    assert sentences.between(1, 3).all()


def test_steep_long_tail_with_cold_items(counts: pd.Series) -> None:
    head = counts.iloc[: int(0.2 * len(counts))].sum() / counts.sum()
    assert head > 0.60, f"top 20% of items hold only {head:.1%} of interactions"
    cold = (counts == 0).mean()
    assert 0.01 <= cold <= 0.10


def test_text_predicts_taste_in_the_tail(
    items: pd.DataFrame, interactions: pd.DataFrame, counts: pd.Series
) -> None:
    """A user's favourite category, seen early, recurs among the long-tail items they pick later.

    Under random choice the later share would equal the category's catalogue share.
    """
    tail = counts.index[int(0.2 * len(counts)) :]
    base_rate = items["category"].value_counts(normalize=True)
    log = interactions.merge(items[["item_id", "category"]], on="item_id", how="left")
    by_user = log.groupby("user_id", sort=False)
    early = by_user.cumcount() < by_user["item_id"].transform("size") // 2  # file is time-ordered
    top = log[early].groupby("user_id")["category"].agg(lambda c: c.value_counts().index[0])
    late_tail = log[~early & log["item_id"].isin(tail)]
    late_tail = late_tail[late_tail["user_id"].map(log[early]["user_id"].value_counts()) >= 5]
    hit = late_tail["category"] == late_tail["user_id"].map(top)
    per_user = hit.groupby(late_tail["user_id"]).agg(["mean", "size"])
    per_user = per_user[per_user["size"] >= 2]
    shares = per_user["mean"].to_numpy()
    bases = base_rate[top[per_user.index]].to_numpy()
    assert len(shares) >= 300
    assert np.mean(shares) > 3 * np.mean(bases), (np.mean(shares), np.mean(bases))


def test_category_is_recoverable_from_text(items: pd.DataFrame) -> None:
    """Naive Bayes on title and description words, fitted on half the items, finds the category."""
    words = (
        (items["title"] + " " + items["description"])
        .str.lower()
        .map(lambda t: set(re.findall(r"[a-z]+", t)))
    )
    train = np.arange(len(items)) % 2 == 0
    cats = sorted(items["category"].unique())
    vocab = {w: k for k, w in enumerate(sorted(set().union(*words[train])))}
    seen = np.ones((len(cats), len(vocab)))  # Laplace smoothing
    for ws, cat in zip(words[train], items["category"][train], strict=True):
        seen[cats.index(cat), [vocab[w] for w in ws]] += 1
    log_p = np.log(seen / seen.sum(axis=1, keepdims=True))
    hits = []
    for ws, cat in zip(words[~train], items["category"][~train], strict=True):
        cols = [vocab[w] for w in ws if w in vocab]
        hits.append(cats[int(np.argmax(log_p[:, cols].sum(axis=1)))] == cat)
    assert np.mean(hits) > 0.9


def test_committed_output_is_small() -> None:
    size = sum((SAMPLE / name).stat().st_size for name in ("items.csv", "interactions.csv"))
    assert size < 5 * 2**20


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    _load_generator().main(tmp_path)
    for name in ("items.csv", "interactions.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
