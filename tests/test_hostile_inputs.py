"""Hostile inputs (security review, issue 14): each gets a one-line reason or a correct result.

Case ids C.., E.., L.. are the review's; H.. are added here. The CLI table runs
``python -m recsys recommend|evaluate`` in-process; the library table calls the loaders directly.
Every CLI failure must be exit 2 with ONE short line on stderr naming the file or option, the
column and what was expected, and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys.cli import main
from recsys.data import tables
from recsys.data.dataset import MAX_MESSAGE_CHARS, DataError
from recsys.data.movielens import load_movielens
from recsys.data.sources import load_table
from recsys.data.tables import read_columns
from recsys.models import TrainData
from recsys.models.tfidf import TfidfRecommender

DIR = object()  # a file entry that is created as a folder
BIG = "x" * 1_000_000  # one 1 MB cell


def shop_rows(extra: str = "") -> str:
    """Six users in two taste blocks, ratings 1-5 in ``stars`` (as tests/test_cli.py's shop)."""
    rows = [f"u{u},{i},5" for u in range(6) for i in ((1, 2, 3) if u < 3 else (5, 6, 7))]
    return "userId,movieId,stars\n" + "\n".join(rows) + "\nu1,4,1\n" + extra


ITEMS = "movieId,title\n" + "".join(f"{i},film {i}\n" for i in range(1, 9))
SHOP = {"train.csv": shop_rows(), "items.csv": ITEMS}


def shop(**files: object) -> dict[str, object]:
    return {**SHOP, **files}


def with_column(name: str, values: list[str], stars: bool = True) -> str:
    """The shop's interactions with one more column (and without ``stars`` if not ``stars``)."""
    lines = shop_rows().strip().split("\n")
    if not stars:
        lines = [line.rsplit(",", 1)[0] for line in lines]
    cells = [values[i % len(values)] for i in range(len(lines) - 1)]
    return (
        "\n".join(
            [f"{lines[0]},{name}"] + [f"{r},{c}" for r, c in zip(lines[1:], cells, strict=True)]
        )
        + "\n"
    )


def movielens(ratings_ts: list[str] | None = None, tags: str | None = None) -> dict[str, object]:
    """A 12-user MovieLens folder ``ml/`` (as tests/test_cli.py's evaluate test)."""
    rows = [(u, i + (10 if u % 2 else 0), 100 * u + t) for u in range(1, 13)
            for t, i in enumerate(range(1, 9))]  # fmt: skip
    stamps = ratings_ts or [str(ts) for _, _, ts in rows]
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},5.0,{stamps[n % len(stamps)]}\n" for n, (u, i, _) in enumerate(rows)
    )
    movies = "movieId,title,genres\n" + "".join(f"{i},m{i} (1999),Drama\n" for i in range(1, 21))
    files = {"ml/ratings.csv": ratings, "ml/movies.csv": movies}
    files["ml/tags.csv"] = tags or "userId,movieId,tag,timestamp\n1,8,sad,5\n"
    return files


RECOMMEND = [
    "recommend", "--interactions", "{d}/train.csv", "--items", "{d}/items.csv",
    "--user-col", "userId", "--item-col", "movieId", "--out", "{d}/out/recs.csv",
]  # fmt: skip
EVALUATE = ["evaluate", "--data", "{d}/ml", "--model", "mostpop", "--k", "5", "--no-tune"]


def rec(*extra: str) -> list[str]:
    return [*RECOMMEND, *extra]


def ev(*extra: str) -> list[str]:
    return [*EVALUATE, *extra]


def swap(argv: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else a for a in argv]


CLI_CASES = [
    # id, files, argv, exit code, words expected on stderr
    ("C03", shop(**{"train.csv": DIR}), rec(), 2, ["train.csv", "is a folder", "CSV"]),
    (
        "C12",
        shop(**{"train.csv": shop_rows("u1,4,1\nu1,4,1\n")}),
        rec(),
        0,
        ["note:", "dropped 2", "repeated (user, item)"],
    ),
    (
        "C15",
        shop(**{"train.csv": with_column("value", ["good", "bad"], stars=False)}),
        rec(),
        0,
        ["wrote"],
    ),
    ("C16", shop(**{"train.csv": with_column("date", ["soon", "later"])}), rec(), 0, ["wrote"]),
    ("C17", shop(**{"train.csv": with_column("timestamp", ["inf", "1"])}), rec(), 0, ["wrote"]),
    (
        "C18",
        movielens(["1e30"]),
        ev(),
        2,
        ["ratings.csv", "column 'timestamp'", "1677-2262", "1e30"],
    ),
    (
        "C21",
        shop(**{"items.csv": "item,movieId,title\nx,1,a\ny,2,b\n"}),
        rec(),
        2,
        ["items.csv", "'movieId'", "another column named 'item'"],
    ),
    (
        "C22",
        shop(**{"train.csv": with_column("rating", ["3"])}),
        rec("--rating-col", "stars", "--threshold", "4"),
        2,
        ["train.csv", "'stars'", "another column named 'rating'"],
    ),
    (
        "C23",
        SHOP,
        swap(rec(), "userId", "movieId"),
        2,
        ["train.csv", "user and item are both mapped to column 'movieId'"],
    ),
    (
        "C24",
        shop(
            **{
                "train.csv": "u,i\n=1+1,@x\n=1+1,+y\n-z,@x\n",
                "items.csv": "i,title\n@x,a\n+y,b\n-q,c\n",
            }
        ),
        swap(swap(rec("--model", "mostpop"), "userId", "u"), "movieId", "i"),
        0,
        ["wrote 3 rows"],
    ),
    ("C33", shop(**{"out/recs.csv": DIR}), rec(), 2, ["--out", "recs.csv", "is a folder"]),
    ("C36", SHOP, rec("--param", "lambda_=abc"), 2, ["lambda_='abc'", "'ease'", "finite number"]),
    (
        "C38",
        SHOP,
        rec("--model", "itemknn", "--param", "block=0"),
        2,
        ["block=0", "'itemknn'", "integer >= 1"],
    ),
    (
        "C39",
        SHOP,
        rec("--model", "itemknn", "--param", "k=2.5"),
        2,
        ["k=2.5", "'itemknn'", "an integer"],
    ),
    (
        "C41",
        SHOP,
        rec("--rating-col", "stars", "--threshold", "6"),
        2,
        ["no rating >= 6", "train.csv column 'stars'", "from 1 to 5", "--threshold"],
    ),
    (
        "C44",
        SHOP,
        rec("--model", "tfidf", "--param", "stop_words=1"),
        2,
        ["stop_words=1", "'tfidf'", "a string or a list or None"],
    ),
    ("E04", movielens(), ev("--k", "0"), 2, ["--k must be at least 1, got 0"]),
    (
        "E06",
        {**movielens(), "res.json": DIR},
        ev("--json", "{d}/res.json"),
        2,
        ["--json", "res.json", "is a folder"],
    ),
    # --- added here ---
    ("H01 BOM", shop(**{"train.csv": "\ufeff" + shop_rows()}), rec(), 0, ["wrote"]),
    ("H02 CRLF", shop(**{"train.csv": shop_rows().replace("\n", "\r\n")}), rec(), 0, ["wrote"]),
    ("H03 semicolons", shop(**{"train.csv": shop_rows().replace(",", ";")}), rec(), 0, ["wrote"]),
    (
        "H04 huge cell",
        shop(**{"train.csv": shop_rows(f",{BIG},5\n")}),
        rec(),
        2,
        ["train.csv", "column 'userId' (user)", "1 empty id", "1,000,000 chars"],
    ),
    (
        "H05 negative ratings",
        shop(**{"train.csv": shop_rows("u2,8,-3\n")}),
        rec("--rating-col", "stars", "--threshold", "-1"),
        0,
        ["wrote"],
    ),
    (
        "H06 inf rating",
        shop(**{"train.csv": shop_rows("u2,8,inf\n")}),
        rec("--rating-col", "stars", "--threshold", "4"),
        2,
        ["train.csv", "column 'stars' (rating)", "finite", "'inf'"],
    ),
    (
        "H07 nan rating",
        shop(**{"train.csv": shop_rows("u2,8,nan\n")}),
        rec("--rating-col", "stars", "--threshold", "4"),
        2,
        ["column 'stars' (rating) must be numeric", "'nan'"],
    ),
    (
        "H08 repeated header",
        shop(**{"train.csv": "userId,movieId,movieId\nu1,1,2\n"}),
        rec(),
        2,
        ["train.csv", "'movieId' appears twice"],
    ),
    (
        "H09 nan threshold",
        SHOP,
        rec("--rating-col", "stars", "--threshold", "nan"),
        2,
        ["--threshold must be a finite number"],
    ),
    ("H10 out under a file", shop(out="not a folder"), rec(), 2, ["--out", "is a file"]),
    (
        "H11 unknown param",
        SHOP,
        rec("--model", "mostpop", "--param", "k=3"),
        2,
        ["model 'mostpop' has no parameter 'k'"],
    ),
    (
        "H12 literal param",
        SHOP,
        rec("--param", "solver=fast"),
        2,
        ["solver='fast'", "one of 'auto'"],
    ),
    (
        "H13 tfidf min_df",
        SHOP,
        rec("--model", "tfidf", "--param", "min_df=500"),
        2,
        ["tfidf", "min_df=500 is more than the 8 items"],
    ),
    (
        "H14 latin-1",
        shop(**{"items.csv": "movieId,title\n1,Caf\xe9\n".encode("latin-1")}),
        rec(),
        2,
        ["items.csv", "not valid utf-8", "0xe9"],
    ),
    (
        "H15 fake parquet",
        shop(**{"t.parquet": "userId,movieId\nu1,1\n"}),
        swap(rec(), "{d}/train.csv", "{d}/t.parquet"),
        2,
        ["t.parquet", "not a readable Parquet"],
    ),
    ("H16 empty file", shop(**{"train.csv": ""}), rec(), 2, ["train.csv", "the file is empty"]),
    ("H17 header only", shop(**{"train.csv": "userId,movieId\n"}), rec(), 2, ["no data rows"]),
    (
        "H18 ids not in catalogue",
        shop(**{"items.csv": "movieId,title\n90,a\n91,b\n"}),
        rec(),
        2,
        ["train.csv", "not in the catalogue", "'1'"],
    ),
    ("H19 eval threshold", movielens(), ev("--threshold", "6"), 2, ["no rating >= 6", "'ml'"]),
    (
        "H20 eval fraction",
        movielens(),
        ev("--test-fraction", "0"),
        2,
        ["--test-fraction must be in (0, 1), got 0.0"],
    ),
    (
        "H21 eval param",
        movielens(),
        swap(ev("--param", "k=2.5"), "mostpop", "itemknn"),
        2,
        ["k=2.5", "'itemknn'"],
    ),
    (
        "H22 mixed dates",
        movielens(["31/01/2024", "01/31/2024"]),
        ev(),
        2,
        ["ratings.csv", "column 'timestamp'", "mixes day/month/year", "'31/01/2024'", "ISO"],
    ),
    (
        "H23 ambiguous dates",
        movielens(["01/02/2024", "03/04/2024"]),
        ev(),
        2,
        ["'01/02/2024'", "day/month/year or as month/day/year", "ISO"],
    ),
    (
        "H24 tags without tag",
        movielens(tags="userId,movieId,label\n1,8,sad\n"),
        ev(),
        2,
        ["tags.csv", "no column 'tag'"],
    ),
    ("H25 milliseconds", movielens(["1700000000000"]), ev(), 2, ["1677-2262", "milliseconds"]),
    ("H26 eval out of range k", movielens(), ev("--k", "-3"), 2, ["--k must be at least 1"]),
    (
        "H27 interactions missing",
        SHOP,
        swap(rec(), "{d}/train.csv", "{d}/nope.csv"),
        2,
        ["nope.csv", "file not found"],
    ),
    (
        "H28 memory budget below EASE's need",
        SHOP,
        rec("--memory-budget", "500"),
        2,
        ["model 'ease'", "6 users x 8 items", "over the memory budget of 500 B", "itemknn or als"],
    ),
    (
        "H29 evaluate memory budget below EASE's need",
        movielens(),
        swap(ev("--memory-budget", "1K"), "mostpop", "ease"),
        2,
        ["model 'ease'", "12 users x", "1.0 KiB", "itemknn or als"],
    ),
]


def make_files(root: Path, files: dict[str, object]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(str(content).encode("utf-8"))


@pytest.mark.parametrize(
    "files, argv, code, words", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_refuses_or_handles_hostile_input(tmp_path, capsys, files, argv, code, words):
    make_files(tmp_path, files)
    args = [a.replace("{d}", str(tmp_path)) for a in argv]
    assert main(args) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    if code:
        assert err.count("\n") == 1 and err.startswith("error: ") and len(err) < 700
        assert not (tmp_path / "out" / "recs.csv").is_file()  # refused before writing anything


def test_recommend_defuses_formula_ids_unless_raw(tmp_path, capsys):
    """C24: ids starting with = + - @ become text in a spreadsheet; --raw keeps them."""
    case = next(c for c in CLI_CASES if c[0] == "C24")
    make_files(tmp_path, case[1])
    args = [a.replace("{d}", str(tmp_path)) for a in case[2]]
    assert main(args) == 0
    out = pd.read_csv(tmp_path / "out" / "recs.csv", dtype=str)
    assert set(out["u"]) == {"'=1+1", "'-z"} and set(out["i"]) <= {"'@x", "'+y", "'-q"}
    assert main([*args, "--raw"]) == 0
    raw = pd.read_csv(tmp_path / "out" / "recs.csv", dtype=str)
    assert set(raw["u"]) == {"=1+1", "-z"}


def test_recommend_help_explains_the_formula_quoting(capsys):
    with pytest.raises(SystemExit):
        main(["recommend", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "spreadsheet" in out and "--raw" in out


# --------------------------------------------------------------------------- library


def bomb(path: Path, rows: int = 200_000) -> Path:
    """One repeated 200-char string: dictionary pages keep the file tiny, decoding does not."""
    table = pa.table({"user": ["u" * 200] * rows, "item": ["i"] * rows})
    pq.write_table(table, path, compression="zstd")
    return path


def ratings(values: list[str], column: str = "rating") -> str:
    return f"user,item,{column}\n" + "".join(
        f"u{n},a,{v}\n" if n % 2 else f"u{n},b,{v}\n" for n, v in enumerate(values)
    )


PAIR_ITEMS = "item,title\na,Red bag\nb,Oak desk\n"


def load_pair(tmp_path: Path, events: str | Path, items: str = PAIR_ITEMS, **options):
    inter = events if isinstance(events, Path) else tmp_path / "events.csv"
    if not isinstance(events, Path):
        inter.write_text(events)
    (tmp_path / "items.csv").write_text(items)
    return load_table(inter, tmp_path / "items.csv", **options)


def ml_folder(tmp_path: Path, movies: str, tags: str | None = None) -> Path:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,5,1\n")
    (folder / "movies.csv").write_text(movies)
    if tags is not None:
        (folder / "tags.csv").write_text(tags)
    return folder


MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation\n"

LIBRARY_CASES = [
    # id, call(tmp_path), caps, words expected in the DataError (or in the notes: error=False)
    (
        "L01",
        lambda t: load_movielens(ml_folder(t, MOVIES, "userId,movieId,label\n1,1,x\n")),
        {},
        ["tags.csv", "no column 'tag'", "userId, movieId, tag"],
    ),
    (
        "L02",
        lambda t: load_movielens(ml_folder(t, "movieId,title\n1,Toy Story\n")),
        {},
        ["movies.csv", "no column 'genres'"],
    ),
    (
        "L03",
        lambda t: load_movielens(ml_folder(t, "id,title,genres\n1,Toy,Drama\n")),
        {},
        ["movies.csv", "no column 'movieId'"],
    ),
    (
        "L04",
        lambda t: load_pair(t, "user,item\nu1,zz\nu2,yy\n", unknown_items="drop"),
        {},
        ["events.csv", "none of the 2 interaction(s)", "'zz'"],
    ),
    (
        "L06",
        lambda t: load_pair(t, ratings(["4", "-inf"])),
        {},
        ["events.csv", "column 'rating'", "finite", "'-inf'"],
    ),
    (
        "L07",
        lambda t: load_pair(t, ratings(["2024-01-01", "2300-01-01"], "date")),
        {},
        ["column 'date' (timestamp)", "1677-2262", "'2300-01-01'"],
    ),
    (
        "L08",
        lambda t: load_pair(t, ratings(["1", "1e30"], "ts")),
        {},
        ["column 'ts' (timestamp)", "1677-2262", "'1e30'"],
    ),
    (
        "L10",
        lambda t: load_pair(t, f"user,item\n,{BIG}\n"),
        {},
        ["events.csv", "column 'user'", "empty id", "1,000,000 chars"],
    ),
    (
        "L17",
        lambda t: load_pair(t, "user,item,no\x00te\nu1,a,x\n"),
        {},
        ["events.csv", "control character"],
    ),
    ("H30 folder as file", lambda t: load_table(t, t / "items.csv"), {}, ["is a folder"]),
    (
        "H31 parquet bomb",
        lambda t: load_table(bomb(t / "b.parquet"), t / "b.parquet"),
        {"MAX_BYTES": 10_000_000},
        ["b.parquet", "about 41,800,000 bytes once decoded", "RECSYS_MAX_BYTES"],
    ),
    (
        "H32 parquet rows",
        lambda t: load_table(bomb(t / "b.parquet", 50), t / "b.parquet"),
        {"MAX_ROWS": 10},
        ["b.parquet", "50 rows", "(the cap is 10;", "RECSYS_MAX_ROWS"],
    ),
    (
        "H33 csv rows",
        lambda t: load_pair(t, ratings(["1"] * 30)),
        {"MAX_ROWS": 10},
        ["events.csv", "more than 10 rows", "RECSYS_MAX_ROWS"],
    ),
    (
        "H34 csv bytes",
        lambda t: load_pair(t, ratings(["1"] * 30)),
        {"MAX_BYTES": 100},
        ["events.csv", "bytes (the cap is 100;"],
    ),
    (
        "H35 day-first dates",
        lambda t: load_pair(t, ratings(["01/02/2024", "31/01/2024"], "date")),
        {},
        None,
    ),
    (
        "H36 rename onto a column",
        lambda t: load_pair(t, "user,item,sku\nu1,a,b\n", mapping={"item": "sku"}),
        {},
        ["'sku'", "another column named 'item'"],
    ),
    (
        "H37 month name dates",
        lambda t: load_pair(t, ratings(["5 January 2024", "soon"], "date")),
        {},
        ["column 'date' (timestamp)", "1 unparseable", "'soon'"],
    ),
]


@pytest.mark.parametrize(
    "call, caps, words", [c[1:] for c in LIBRARY_CASES], ids=[c[0] for c in LIBRARY_CASES]
)
def test_library_refuses_hostile_input(tmp_path, monkeypatch, call, caps, words):
    for name, value in caps.items():
        monkeypatch.setattr(tables, name, value)
    if words is None:  # accepted: must load
        call(tmp_path)
        return
    with pytest.raises(DataError) as err:
        call(tmp_path)
    message = str(err.value)
    assert len(message) <= MAX_MESSAGE_CHARS + 30 and "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_one_convention_per_date_column(tmp_path):
    """01/02/2024 next to 31/01/2024 is 1 February (day first for the whole column), noted."""
    d = load_pair(tmp_path, ratings(["01/02/2024", "31/01/2024"], "date"))
    days = pd.to_datetime(d.interactions["timestamp"], unit="s").dt.strftime("%Y-%m-%d")
    assert days.tolist() == ["2024-02-01", "2024-01-31"]
    assert any("day/month/year" in note for note in d.notes)


def test_parquet_dates_become_unix_seconds(tmp_path):
    when = pd.to_datetime(["2024-01-02 10:00", "2024-01-03"], format="ISO8601")
    frame = pd.DataFrame({"user": ["u1", "u2"], "item": ["a", "b"], "ts": when})
    frame.to_parquet(tmp_path / "e.parquet")
    d = load_pair(tmp_path, tmp_path / "e.parquet")
    assert d.interactions["timestamp"].tolist() == [1704189600, 1704240000]


def test_read_columns_reads_names_only(tmp_path, monkeypatch):
    pd.DataFrame({"who": ["u"] * 5, "what": ["a"] * 5}).to_parquet(tmp_path / "e.parquet")
    (tmp_path / "e.csv").write_text("\ufeffwho;what\nu;a\n")
    monkeypatch.setattr(tables, "MAX_ROWS", 1)  # the rows are never read
    assert read_columns(tmp_path / "e.parquet") == ["who", "what"]
    assert read_columns(tmp_path / "e.csv") == ["who", "what"]
    with pytest.raises(DataError, match="is a folder"):
        read_columns(tmp_path)


def test_tfidf_refuses_bad_parameters_instead_of_scoring_zero():
    """C44 in the library: sklearn's InvalidParameterError is a ValueError, and was swallowed."""
    data = TrainData(sp.csr_matrix(np.eye(3, dtype=np.float32)), ["red bag", "oak desk", "tea"])
    with pytest.raises(ValueError, match="stop_words must be 'english'"):
        TfidfRecommender(stop_words=1)
    model = TfidfRecommender()
    model.stop_words = 1  # past the constructor's check: the fit must still refuse it
    with pytest.raises(ValueError, match="tfidf: The 'stop_words' parameter"):
        model.fit(data)
    empty = TfidfRecommender().fit(TrainData(data.matrix, ["the", "a", ""]))  # no usable text
    assert not empty.score(np.arange(3)).any()


def test_main_turns_os_and_type_errors_into_one_line(tmp_path, capsys, monkeypatch):
    """F25: anything the loaders raise that is not a DataError still ends as exit 2."""

    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "train.csv")

    make_files(tmp_path, SHOP)
    monkeypatch.setattr("recsys.cli.load_table", broken)
    args = [a.replace("{d}", str(tmp_path)) for a in rec()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err and "train.csv" in err
