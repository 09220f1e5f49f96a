"""Loading and validating interactions and item catalogues into one :class:`Dataset`.

Every loader ends in :func:`build_dataset`, which checks the data and raises :class:`DataError`
with the file, the column and the first offending rows when something is wrong. Nothing is dropped
silently: what an option removes is recorded in ``Dataset.notes``.

Canonical columns after loading: interactions ``user`` (str), ``item`` (str), optional ``rating``
(float) and ``timestamp`` (int64 Unix seconds); catalogue ``item`` (str, unique, catalogue order)
plus any text or attribute columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recsys.matrix import Index

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "sample_data"

ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "user_id", "uid", "customer_id", "customerid", "visitor_id"),
    "item": (
        "item",
        "itemid",
        "item_id",
        "iid",
        "movieid",
        "movie_id",
        "product_id",
        "productid",
        "sku",
        "asin",
    ),
    "rating": ("rating", "ratings", "score", "stars", "value"),
    "timestamp": ("timestamp", "ts", "time", "datetime", "date", "event_time", "created_at"),
}
TEXT_HINTS = (
    "title",
    "name",
    "description",
    "genres",
    "genre",
    "category",
    "categories",
    "tags",
    "style",
    "brand",
    "summary",
    "keywords",
)

OnUnknown = Literal["error", "drop", "keep"]
OnDuplicate = Literal["error", "drop"]


class DataError(ValueError):
    """Bad input data; the message names the file, the column and what was expected."""


@dataclass(frozen=True)
class Dataset:
    """Interactions plus an item catalogue whose text feeds the language model."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    text_columns: tuple[str, ...]
    name: str = "dataset"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_ratings(self) -> bool:
        return "rating" in self.interactions

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.interactions

    def item_text(self, columns: tuple[str, ...] | None = None) -> list[str]:
        """One string per catalogue item: the chosen columns joined as "a. b. c"."""
        return item_text(self.items, columns or self.text_columns)

    def positives(self, threshold: float | None = None) -> pd.DataFrame:
        """Interactions counted as positive feedback: ``rating >= threshold`` when given."""
        if threshold is None or not self.has_ratings:
            return self.interactions
        return self.interactions[self.interactions["rating"] >= threshold].reset_index(drop=True)

    def index(self) -> Index:
        return Index.build(self.interactions, self.items)

    def summary(self) -> dict[str, float]:
        n_users = self.interactions["user"].nunique()
        n_items = len(self.items)
        n = len(self.interactions)
        rated = self.interactions["item"].nunique()
        return {
            "users": n_users,
            "items": n_items,
            "interactions": n,
            "density": n / max(n_users * n_items, 1),
            "cold_share": 1 - rated / max(n_items, 1),
        }

    def with_text_columns(self, columns: tuple[str, ...]) -> Dataset:
        missing = [c for c in columns if c not in self.items]
        if missing:
            raise DataError(f"catalogue of {self.name!r} has no column(s) {missing}")
        return replace(self, text_columns=tuple(columns))


def item_text(items: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    parts = []
    for col in columns:
        values = items[col].fillna("").astype(str).str.replace("|", ", ", regex=False)
        parts.append(values.str.strip())
    if not parts:
        return [""] * len(items)
    frame = pd.concat(parts, axis=1)
    return [". ".join(p for p in row if p) for row in frame.itertuples(index=False, name=None)]


# --------------------------------------------------------------------------- reading files


def read_table(
    path: str | Path,
    sep: str | None = None,
    encoding: str = "utf-8",
    header: int | None = 0,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Read CSV/TSV/Parquet with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types; all mean "not a parquet file"
            raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    else:
        df = _read_csv(path, sep, encoding, header, names)
    if df.empty:
        raise DataError(f"{path.name}: no data rows (only a header, or nothing at all)")
    return df


def _read_csv(path, sep, encoding, header, names) -> pd.DataFrame:
    kwargs = dict(
        sep=sep,
        header=header,
        names=names,
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )
    if sep is None:
        kwargs["sep"] = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if isinstance(kwargs["sep"], str) and len(kwargs["sep"]) > 1:
        kwargs["engine"] = "python"
    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name}: not valid {encoding} text (byte {exc.object[exc.start]:#x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: could not parse as a table ({exc})") from exc


# --------------------------------------------------------------------------- column mapping


def detect_columns(df: pd.DataFrame, wanted: tuple[str, ...]) -> dict[str, str]:
    """Map canonical names (user/item/rating/timestamp) to the frame's columns by alias."""
    lower = {c.lower().strip(): c for c in df.columns}
    found = {}
    for canon in wanted:
        for alias in ALIASES[canon]:
            if alias in lower:
                found[canon] = lower[alias]
                break
    return found


def _apply_mapping(
    df: pd.DataFrame,
    mapping: dict[str, str],
    source: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> tuple[pd.DataFrame, list[str]]:
    resolved = {
        **detect_columns(df, required + optional),
        **{k: v for k, v in mapping.items() if v},
    }
    for canon, col in resolved.items():
        if col not in df.columns:
            raise DataError(
                f"{source}: column {col!r} (mapped to {canon}) not found; "
                f"columns are {list(df.columns)}"
            )
    missing = [c for c in required if c not in resolved]
    if missing:
        raise DataError(
            f"{source}: cannot find a {'/'.join(missing)} column; columns are {list(df.columns)}. "
            f"Expected one of {[ALIASES[m] for m in missing]} or an explicit mapping"
        )
    renamed = df.rename(columns={v: k for k, v in resolved.items()})
    keep = [c for c in required + optional if c in resolved]
    return renamed, keep


# --------------------------------------------------------------------------- validation


def _bad_rows(df: pd.DataFrame, mask: pd.Series, limit: int = 3) -> str:
    rows = df.index[mask][:limit]
    return "; ".join(f"row {r + 2}: {df.loc[r].to_dict()}" for r in rows)  # +2: header, 1-based


def _check_ids(df: pd.DataFrame, cols: tuple[str, ...], source: str) -> None:
    for col in cols:
        values = df[col]
        null = values.isna() | (values.astype(str).str.strip() == "")
        if null.any():
            raise DataError(
                f"{source}: column {col!r} has {int(null.sum())} empty id(s), first "
                f"at {_bad_rows(df, null)}"
            )


def _to_float(df: pd.DataFrame, col: str, source: str) -> pd.Series:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & df[col].notna()
    if bad.any():
        raise DataError(
            f"{source}: column {col!r} must be numeric; {int(bad.sum())} bad value(s), "
            f"first at {_bad_rows(df, bad)}"
        )
    if values.isna().any():
        raise DataError(
            f"{source}: column {col!r} has {int(values.isna().sum())} empty value(s), "
            f"first at {_bad_rows(df, values.isna())}"
        )
    return values.astype(float)


def _to_seconds(df: pd.DataFrame, col: str, source: str) -> pd.Series:
    raw = df[col]
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        return numeric.astype("int64")
    parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        raise DataError(
            f"{source}: column {col!r} must hold Unix seconds or dates like 2024-01-31 12:00; "
            f"{int(bad.sum())} unparseable value(s), first at {_bad_rows(df, bad)}"
        )
    epoch = pd.Timestamp(0, tz="UTC")
    return ((parsed - epoch) // pd.Timedelta(seconds=1)).astype("int64")


def build_dataset(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    *,
    name: str,
    interactions_source: str = "interactions",
    items_source: str = "items",
    mapping: dict[str, str] | None = None,
    item_mapping: str | None = None,
    text_columns: tuple[str, ...] | None = None,
    unknown_items: OnUnknown = "error",
    duplicates: OnDuplicate = "error",
) -> Dataset:
    """Validate raw frames and return a :class:`Dataset` (raises :class:`DataError`)."""
    notes: list[str] = []
    inter, keep = _apply_mapping(
        interactions, mapping or {}, interactions_source, ("user", "item"), ("rating", "timestamp")
    )
    inter = inter[keep].reset_index(drop=True)
    _check_ids(inter, ("user", "item"), interactions_source)
    inter["user"] = inter["user"].astype(str).str.strip()
    inter["item"] = inter["item"].astype(str).str.strip()
    if "rating" in inter:
        inter["rating"] = _to_float(inter, "rating", interactions_source)
    if "timestamp" in inter:
        inter["timestamp"] = _to_seconds(inter, "timestamp", interactions_source)

    cat, _ = _apply_mapping(
        items, {"item": item_mapping} if item_mapping else {}, items_source, ("item",), ()
    )
    _check_ids(cat, ("item",), items_source)
    cat = cat.reset_index(drop=True)
    cat["item"] = cat["item"].astype(str).str.strip()
    dup_items = cat["item"].duplicated()
    if dup_items.any():
        raise DataError(
            f"{items_source}: item id column has {int(dup_items.sum())} repeated "
            f"id(s), first at {_bad_rows(cat, dup_items)}"
        )
    cat = cat[["item"] + [c for c in cat.columns if c != "item"]]

    inter, cat = _reconcile_unknown(inter, cat, unknown_items, interactions_source, notes)
    inter = _reconcile_duplicates(inter, duplicates, interactions_source, notes)

    text_columns = tuple(text_columns) if text_columns else guess_text_columns(cat)
    if not text_columns:
        raise DataError(
            f"{items_source}: no text column found; expected columns such as "
            f"{list(TEXT_HINTS[:5])} with item titles or descriptions"
        )
    missing = [c for c in text_columns if c not in cat]
    if missing:
        raise DataError(
            f"{items_source}: text column(s) {missing} not found; columns are {list(cat.columns)}"
        )
    if all(t == "" for t in item_text(cat, text_columns)):
        raise DataError(f"{items_source}: every item has empty text in {list(text_columns)}")
    return Dataset(
        interactions=inter, items=cat, text_columns=text_columns, name=name, notes=tuple(notes)
    )


def _reconcile_unknown(inter, cat, how, source, notes):
    unknown = ~inter["item"].isin(set(cat["item"]))
    if not unknown.any():
        return inter, cat
    n, ids = int(unknown.sum()), inter.loc[unknown, "item"].unique()
    if how == "error":
        raise DataError(
            f"{source}: {n} interaction(s) with {len(ids)} item id(s) not in the "
            f"catalogue, e.g. {list(ids[:5])}; drop or keep them with the "
            f"unknown-items option"
        )
    if how == "drop":
        notes.append(f"dropped {n} interactions whose {len(ids)} item ids are not in the catalogue")
        return inter[~unknown].reset_index(drop=True), cat
    extra = pd.DataFrame({"item": ids})
    notes.append(f"added {len(ids)} items without text to the catalogue ({n} interactions)")
    return inter, pd.concat([cat, extra], ignore_index=True)


def _reconcile_duplicates(inter, how, source, notes):
    dup = inter.duplicated(["user", "item"], keep="last")
    if not dup.any():
        return inter
    if how == "error":
        raise DataError(
            f"{source}: {int(dup.sum())} repeated (user, item) pair(s), first at "
            f"{_bad_rows(inter, dup)}; keep the latest with the duplicates option"
        )
    notes.append(f"kept the last of repeated (user, item) rows: dropped {int(dup.sum())}")
    return inter[~dup].reset_index(drop=True)


def guess_text_columns(items: pd.DataFrame) -> tuple[str, ...]:
    """Text-like catalogue columns: known names first, then other non-numeric columns."""
    cols = [c for c in items.columns if c != "item"]
    known = [c for c in cols if c.lower() in TEXT_HINTS]
    if known:
        return tuple(known)
    textual = [c for c in cols if pd.to_numeric(items[c], errors="coerce").isna().mean() > 0.5]
    return tuple(textual)


# --------------------------------------------------------------------------- loaders


def load_table(
    interactions_path: str | Path,
    items_path: str | Path,
    mapping: dict[str, str] | None = None,
    item_column: str | None = None,
    text_columns: tuple[str, ...] | None = None,
    name: str | None = None,
    **options,
) -> Dataset:
    """Generic CSV/Parquet pair; columns found by alias unless ``mapping`` names them."""
    inter = read_table(interactions_path)
    items = read_table(items_path)
    return build_dataset(
        inter,
        items,
        name=name or Path(interactions_path).stem,
        interactions_source=Path(interactions_path).name,
        items_source=Path(items_path).name,
        mapping=mapping,
        item_mapping=item_column,
        text_columns=text_columns,
        **options,
    )


def load_sample(**options) -> Dataset:
    """The bundled synthetic shop (see ``sample_data/README.md``)."""
    return load_table(
        SAMPLE_DIR / "interactions.csv",
        SAMPLE_DIR / "items.csv",
        text_columns=("title", "category", "style", "tags", "description"),
        name="sample shop",
        **options,
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


def load(source: str | Path, **options) -> Dataset:
    """``"sample"``, or a MovieLens folder."""
    if str(source) == "sample":
        return load_sample(**options)
    if Path(source).is_dir():
        return load_movielens(source, **options)
    raise DataError(
        f"{source}: expected 'sample' or a MovieLens folder (for a CSV/Parquet pair use load_table)"
    )
