"""Loaders and validation: real MovieLens, small files in the 100k/1m layouts, malformed files."""

from pathlib import Path

import pandas as pd
import pytest

from recsys.data.dataset import DataError
from recsys.data.movielens import load_movielens
from recsys.data.sources import load, load_sample, load_table


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def pair(tmp_path):
    """A valid interactions/items pair; tests overwrite one of the two."""
    inter = write(
        tmp_path / "events.csv", "user_id,item_id,rating,ts\nu1,a,5,100\nu1,b,3,200\nu2,a,4,150\n"
    )
    items = write(
        tmp_path / "items.csv",
        "item_id,title,category\na,Red bag,bags\nb,Oak desk,furniture\nc,Tea set,kitchen\n",
    )
    return inter, items


@pytest.mark.slow
def test_ml_latest_small_counts(ml_small):
    d = load(ml_small)
    s = d.summary()
    assert (s["users"], s["items"], s["interactions"]) == (610, 9742, 100836)
    assert d.text_columns == ("title", "genres", "tags")
    toy = d.items.set_index("item").loc["1"]
    assert "pixar" in toy["tags"] and "Animation" in toy["genres"]


@pytest.mark.slow
def test_ml_tag_exclude_drops_only_that_users_tags(ml_small):
    keep = load(ml_small).items.set_index("item").loc["60756", "tags"]
    excl = pd.DataFrame({"user": ["2"], "item": ["60756"]})
    after = load_movielens(ml_small, tag_exclude=excl).items.set_index("item").loc["60756", "tags"]
    # user 2 is the only one who tagged it "Highly quotable"; others also tagged "will ferrell"
    assert "Highly quotable" in keep and "Highly quotable" not in after
    assert "will ferrell" in after


def test_ml100k_layout(tmp_path):
    write(tmp_path / "u.data", "1\t10\t4\t881250949\n2\t10\t5\t881250950\n2\t20\t1\t881250951\n")
    flags = "|".join(["0"] * 19)
    action = "|".join(["0", "1"] + ["0"] * 17)
    write(
        tmp_path / "u.item",
        f"10|Caf\xe9 Story (1995)|01-Jan-1995||http://x|{action}\n"
        f"20|Other (1996)|01-Jan-1996||http://y|{flags}\n",
        encoding="latin-1",
    )
    d = load(tmp_path)
    assert d.summary()["interactions"] == 3
    assert d.item_text()[0] == "Café Story (1995). Action"


def test_ml1m_layout(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    write(
        tmp_path / "movies.dat",
        "1193::One Flew (1975)::Drama\n661::James (1996)::Animation|Children's\n",
        encoding="latin-1",
    )
    d = load(tmp_path)
    assert d.interactions["timestamp"].tolist() == [978300760, 978302109]
    assert d.item_text()[1] == "James (1996). Animation, Children's"


def test_generic_csv_with_aliases_and_date_timestamps(pair, tmp_path):
    inter, items = pair
    write(inter, "userId,itemId,ts\nu1,a,2024-01-02 10:00\nu2,b,2024-01-03\n")
    d = load_table(inter, items)
    assert d.interactions.columns.tolist() == ["user", "item", "timestamp"]
    assert d.interactions["timestamp"].iloc[0] == 1704189600
    assert d.text_columns == ("title", "category")


def test_parquet_and_explicit_mapping(pair, tmp_path):
    _, items = pair
    df = pd.DataFrame({"who": ["u1", "u2"], "what": ["a", "c"], "stars": [5.0, 2.0]})
    df.to_parquet(tmp_path / "i.parquet")
    d = load_table(tmp_path / "i.parquet", items, mapping={"user": "who", "item": "what"})
    assert d.positives(threshold=4.0)["item"].tolist() == ["a"]


def test_sample_loads():
    d = load_sample()
    assert d.summary()["items"] > 1000 and d.has_timestamps


@pytest.mark.parametrize(
    "events, message",
    [
        ("user_id,item_id\n", "no data rows"),
        ("who,what\nu1,a\n", "cannot find a user/item column"),
        ("user_id,item_id,rating\nu1,a,five\n", "column 'rating' must be numeric"),
        (
            "user_id,item_id,ts\nu1,a,yesterday-ish\n",
            "column 'ts' (timestamp) must hold Unix seconds",
        ),
        ("user_id,item_id\nu1,\n", "column 'item_id' (item) has 1 empty id"),
        ("user_id,item_id\nu1,zzz\n", "1 interaction(s) with 1 item id(s) not in the catalogue"),
        ("user_id,item_id\nu1,a\nu1,a\n", "1 repeated (user, item) pair"),
    ],
)
def test_bad_interactions_name_file_and_problem(pair, events, message):
    inter, items = pair
    write(inter, events)
    with pytest.raises(DataError) as err:
        load_table(inter, items)
    assert "events.csv" in str(err.value) and message in str(err.value)


def test_bad_row_is_reported_with_its_line_number(pair):
    inter, items = pair
    write(inter, "user_id,item_id,rating\nu1,a,4\nu2,b,oops\n")
    with pytest.raises(DataError, match=r"row 3: .*oops"):
        load_table(inter, items)


def test_empty_file_missing_file_and_encoding(pair, tmp_path):
    inter, items = pair
    write(inter, "")
    with pytest.raises(DataError, match="events.csv: the file is empty"):
        load_table(inter, items)
    with pytest.raises(DataError, match="file not found"):
        load_table(tmp_path / "nope.csv", items)
    write(inter, "user_id,item_id\nu1,a\n")
    write(items, "item_id,title\na,Caf\xe9\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"items.csv: not valid utf-8 text \(byte 0xe9"):
        load_table(inter, items)


def test_catalogue_without_text(pair):
    inter, items = pair
    write(items, "item_id,price\na,1\nb,2\nc,3\n")
    with pytest.raises(DataError, match="items.csv: no text column found"):
        load_table(inter, items)
    write(items, "item_id,title\na,\nb,\nc,\n")
    with pytest.raises(DataError, match="every item has empty text"):
        load_table(inter, items)


def test_options_drop_or_keep_unknown_and_dedupe_are_reported(pair):
    inter, items = pair
    write(inter, "user_id,item_id,ts\nu1,a,1\nu1,a,5\nu1,zzz,2\n")
    d = load_table(inter, items, unknown_items="drop", duplicates="drop")
    assert d.interactions["timestamp"].tolist() == [5]
    assert any("dropped 1 interactions" in n for n in d.notes)
    assert any("repeated" in n for n in d.notes)
    kept = load_table(inter, items, unknown_items="keep", duplicates="drop")
    assert "zzz" in kept.items["item"].tolist()


def test_not_a_movielens_folder(tmp_path):
    with pytest.raises(DataError, match="not a MovieLens folder"):
        load_movielens(tmp_path)
