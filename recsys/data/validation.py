"""Raw frames to a checked :class:`~recsys.data.dataset.Dataset`: column mapping and validation.

Every loader ends in :func:`build_dataset`, which checks the data and raises :class:`DataError`
with the file, the column and the first offending rows when something is wrong. Nothing is dropped
silently: what an option removes is recorded in ``Dataset.notes``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from recsys.data.dataset import DataError, Dataset, item_text

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
