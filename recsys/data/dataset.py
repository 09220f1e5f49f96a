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
