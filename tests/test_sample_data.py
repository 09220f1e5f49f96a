"""The synthetic shop: the bundled sample (schema, long tail, reproducibility, taste carried by
text) and the same properties at a custom size, plus the command line's size checks."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
ITEM_COLUMNS = ["item_id", "title", "description", "category", "style", "tags", "price"]
INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


@functools.cache
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


# --- A custom size: the vectorised generator behind --users/--items/--interactions -----------

SMALL = {"n_users": 300, "n_items": 2_000, "n_interactions": 10_000}


def _small_shop(out: Path, seed: int) -> dict[str, float]:
    return _load_generator().main(out, seed, **SMALL)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    out = tmp_path_factory.mktemp("small")
    return out, _small_shop(out, seed=7)


@pytest.fixture(scope="module")
def small_items(small: tuple[Path, dict[str, float]]) -> pd.DataFrame:
    return pd.read_csv(small[0] / "items.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def small_log(small: tuple[Path, dict[str, float]]) -> pd.DataFrame:
    return pd.read_csv(small[0] / "interactions.csv")


def test_custom_size_has_the_requested_shape(
    small: tuple[Path, dict[str, float]], small_items: pd.DataFrame, small_log: pd.DataFrame
) -> None:
    assert list(small_items.columns) == ITEM_COLUMNS
    assert list(small_log.columns) == INTERACTION_COLUMNS
    assert len(small_items) == SMALL["n_items"]
    assert small_log["user_id"].nunique() == SMALL["n_users"]
    assert abs(len(small_log) / SMALL["n_interactions"] - 1) <= 0.02
    assert small[1]["interactions"] == len(small_log)


def test_custom_size_is_deterministic_for_a_seed(
    small: tuple[Path, dict[str, float]], tmp_path: Path
) -> None:
    _small_shop(tmp_path / "again", seed=7)
    _small_shop(tmp_path / "other", seed=8)
    for name in ("items.csv", "interactions.csv"):
        first = (small[0] / name).read_bytes()
        assert (tmp_path / "again" / name).read_bytes() == first, name
        assert (tmp_path / "other" / name).read_bytes() != first, name


def test_custom_size_ids_and_log_are_consistent(
    small_items: pd.DataFrame, small_log: pd.DataFrame
) -> None:
    assert small_items["item_id"].is_unique
    assert small_items["item_id"].str.fullmatch(r"P\d{5}").all()
    assert small_log["user_id"].str.fullmatch(r"U\d{4}").all()
    assert small_log["item_id"].isin(small_items["item_id"]).all()
    assert not small_log.duplicated(["user_id", "item_id"]).any()
    assert small_log["rating"].between(1, 5).all()
    steps = small_log.groupby("user_id", sort=False)["timestamp"].diff().dropna()
    assert (steps > 0).all(), "timestamps must increase within each user"
    assert small_log["user_id"].is_monotonic_increasing


def test_custom_size_text_is_varied_and_tags_appear_in_it(small_items: pd.DataFrame) -> None:
    assert small_items["title"].is_unique
    assert small_items["title"].str.contains(r"[\u4e00-\u9fff]").any()
    text = (small_items["title"] + " " + small_items["description"]).str.lower()
    for tags, body in zip(small_items["tags"], text, strict=True):
        words = tags.split("|")
        assert 2 <= len(words) <= 5
        assert all(w in body for w in words), (tags, body)
    assert small_items["description"].str.count(r"[.!?](?:\s|$)").between(1, 3).all()


def test_custom_size_has_a_long_tail_and_cold_items(
    small_items: pd.DataFrame, small_log: pd.DataFrame
) -> None:
    counts = small_log["item_id"].value_counts().reindex(small_items["item_id"], fill_value=0)
    counts = counts.sort_values(ascending=False)
    head = counts.iloc[: int(0.2 * len(counts))].sum() / counts.sum()
    assert head > 0.58, f"top 20% of items hold only {head:.1%} of interactions"
    assert 0.03 <= (counts == 0).mean() <= 0.2  # new arrivals (3%) stay cold, some others too


def test_custom_size_later_picks_follow_earlier_taste(
    small: tuple[Path, dict[str, float]], small_items: pd.DataFrame, small_log: pd.DataFrame
) -> None:
    """Users' later picks are in the category of their earlier picks far more than chance; and
    that category can be read off the text."""
    log = small_log.merge(small_items[["item_id", "category"]], on="item_id")
    by_user = log.groupby("user_id", sort=False)
    early = by_user.cumcount() < by_user["item_id"].transform("size") // 2
    favourite = log[early].groupby("user_id")["category"].agg(lambda c: c.value_counts().index[0])
    late = log[~early]
    share = (late["category"] == late["user_id"].map(favourite)).mean()
    chance = small_items["category"].value_counts(normalize=True)[favourite].mean()
    assert share > 3 * chance, (share, chance)
    assert small[1]["later_tail_in_favourite_category"] > 3 * small[1]["later_tail_chance"]
    assert small[1]["category_from_text"] > 0.9


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--users", "0"], "--users"),
        (["--users", "10", "--items", "10", "--interactions", "101"], "--interactions"),
        (["--items", "many"], "--items"),
    ],
)
def test_bad_sizes_exit_2_with_one_line_naming_the_flag(
    flags: list[str], named: str, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    command = [sys.executable, str(SAMPLE / "generate.py"), "--out", str(out), *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert named in done.stderr
    assert not out.exists()


def test_custom_sizes_never_overwrite_the_bundled_sample() -> None:
    command = [sys.executable, str(SAMPLE / "generate.py"), "--users", "300"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--out" in done.stderr
