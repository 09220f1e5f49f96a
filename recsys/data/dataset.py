"""One :class:`Dataset`: interactions plus an item catalogue, whatever the file it came from.

Canonical columns after loading: interactions ``user`` (str), ``item`` (str), optional ``rating``
(float) and ``timestamp`` (int64 Unix seconds); catalogue ``item`` (str, unique, catalogue order)
plus any text or attribute columns. Every loader (:mod:`recsys.data.sources`) ends in
:func:`recsys.data.validation.build_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from recsys.data.index import Index

MAX_VALUE_CHARS = 80  # one quoted value (a cell, an id, a column name) in a message
MAX_MESSAGE_CHARS = 500  # a whole DataError message


def shorten(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``str(value)`` cut to ``limit`` characters (an ellipsis and the full length mark the cut)."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


def quote(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as quoted in a message: ``'text'`` (cut to ``limit``) for strings, else ``str``."""
    return repr(shorten(value, limit)) if isinstance(value, str) else shorten(value, limit)


def blank(values: pd.Series) -> pd.Series:
    """Missing cells: NaN / None, and in a text column empty or all-space strings (a numeric or
    datetime column is not turned into 10^7 strings to find what cannot be there)."""
    empty = values.isna()
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return empty
    return empty | (values.astype(str).str.strip() == "")


class DataError(ValueError):
    """Bad input data; the message names the file, the column and what was expected.

    Messages quote file content (cells, ids, column names), so each quoted value is cut with
    :func:`shorten` where it is quoted and the whole message to :data:`MAX_MESSAGE_CHARS` here:
    a 1 MB cell cannot make a 1 MB message.
    """

    def __init__(self, message: object = "") -> None:
        super().__init__(shorten(message, MAX_MESSAGE_CHARS))


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
    columns_ = [part.to_numpy(dtype=object) for part in parts]  # fast to iterate, unlike Arrow
    return [". ".join(p for p in row if p) for row in zip(*columns_, strict=True)]
