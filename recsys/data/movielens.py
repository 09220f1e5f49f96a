"""MovieLens folders in the ml-latest-small, ml-100k or ml-1m layout, tags joined into item text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.dataset import DataError, Dataset, shorten
from recsys.data.tables import read_table
from recsys.data.validation import build_dataset

MOVIES_COLUMNS = ("movieId", "title", "genres")  # ml-latest(-small) movies.csv
TAGS_COLUMNS = ("userId", "movieId", "tag")  # ml-latest(-small) tags.csv


def _require(frame: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = [shorten(c, 40) for c in frame.columns[:20]]
        raise DataError(
            f"{source}: no column {missing[0]!r}; a MovieLens {source} has the columns "
            f"{', '.join(columns)} (found {found})"
        )


def is_movielens(path: str | Path) -> bool:
    p = Path(path)
    return any((p / f).exists() for f in ("ratings.csv", "u.data", "ratings.dat"))


def load_movielens(path: str | Path, tag_exclude: pd.DataFrame | None = None, **options) -> Dataset:
    """A MovieLens folder in the ml-latest-small, ml-100k or ml-1m layout.

    Args:
        path: the folder.
        tag_exclude: (user, item) pairs whose tags are left out of the item text, e.g. a user's
            own held-out movies, so evaluation does not leak test interactions through tags.
    """
    p = Path(path)
    if (p / "ratings.csv").exists():
        inter = read_table(p / "ratings.csv")
        items = read_table(p / "movies.csv")
        _require(items, MOVIES_COLUMNS, "movies.csv")
        items = _join_tags(items, p / "tags.csv", tag_exclude)
        text = ("title", "genres", "tags") if "tags" in items else ("title", "genres")
        items["genres"] = items["genres"].replace("(no genres listed)", "")
        return build_dataset(
            inter,
            items,
            name=p.name,
            interactions_source="ratings.csv",
            items_source="movies.csv",
            text_columns=text,
            **options,
        )
    if (p / "u.data").exists():
        inter = read_table(
            p / "u.data", sep="\t", header=None, names=["user", "item", "rating", "timestamp"]
        )
        items = _read_100k_items(p)
        return build_dataset(
            inter,
            items,
            name=p.name,
            interactions_source="u.data",
            items_source="u.item",
            text_columns=("title", "genres"),
            **options,
        )
    if (p / "ratings.dat").exists():
        inter = read_table(
            p / "ratings.dat",
            sep="::",
            header=None,
            encoding="latin-1",
            names=["user", "item", "rating", "timestamp"],
        )
        items = read_table(
            p / "movies.dat",
            sep="::",
            header=None,
            encoding="latin-1",
            names=["item", "title", "genres"],
        )
        return build_dataset(
            inter,
            items,
            name=p.name,
            interactions_source="ratings.dat",
            items_source="movies.dat",
            text_columns=("title", "genres"),
            **options,
        )
    if not p.exists():
        raise DataError(f"{p}: folder not found")
    raise DataError(
        f"{p}: not a MovieLens folder; expected ratings.csv + movies.csv "
        f"(ml-latest-small), u.data + u.item (ml-100k) or ratings.dat + movies.dat "
        f"(ml-1m)"
    )


ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def _read_100k_items(p: Path) -> pd.DataFrame:
    genres = list(ML100K_GENRES)
    if (p / "u.genre").exists():
        g = read_table(
            p / "u.genre", sep="|", header=None, encoding="latin-1", names=["genre", "id"]
        ).dropna()
        genres = g["genre"].tolist()
    names = ["item", "title", "release", "video", "url"] + genres
    raw = read_table(p / "u.item", sep="|", header=None, encoding="latin-1", names=names)
    flags = raw[genres].fillna("0").astype(str).eq("1").to_numpy()
    labels = np.array(genres, dtype=object)
    raw["genres"] = ["|".join(labels[row]) for row in flags]
    return raw[["item", "title", "genres"]]


def _join_tags(items: pd.DataFrame, tags_path: Path, exclude: pd.DataFrame | None) -> pd.DataFrame:
    if not tags_path.exists():
        return items
    tags = read_table(tags_path)
    _require(tags, TAGS_COLUMNS, tags_path.name)
    tags = tags.rename(columns={"userId": "user", "movieId": "item"})
    tags["user"], tags["item"] = tags["user"].astype(str), tags["item"].astype(str)
    if exclude is not None and len(exclude):
        drop = pd.MultiIndex.from_frame(exclude[["user", "item"]].astype(str))
        tags = tags[~pd.MultiIndex.from_frame(tags[["user", "item"]]).isin(drop)]
    tags["tag"] = tags["tag"].fillna("").str.strip()
    joined = (
        tags[tags["tag"] != ""]
        .drop_duplicates(["item", "tag"])
        .groupby("item", sort=False)["tag"]
        .agg("|".join)
    )
    items = items.copy()
    items["tags"] = items["movieId"].astype(str).map(joined).fillna("")
    return items
