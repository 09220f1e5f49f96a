"""Reporting an evaluation: :class:`Results` as a markdown table per model and per band, or JSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recsys.evaluation.protocol import ModelResult, Protocol


@dataclass
class Results:
    """Everything one evaluation produced, ready for a table or JSON."""

    protocol: Protocol
    dataset: str
    summary: dict[str, float]
    models: list[ModelResult]

    def to_dict(self) -> dict:
        return _json_safe(
            {
                "dataset": self.dataset,
                "protocol": asdict(self.protocol),
                "summary": self.summary,
                "models": [{**asdict(m), "seconds": m.seconds} for m in self.models],
            }
        )

    def to_markdown(self) -> str:
        caption = self.scope_caption
        return (
            (caption + "\n\n" if caption else "")
            + markdown_table(self.models, self.protocol.ks, self.scope_label)
            + "\n\nBy popularity band (test items of that band only; share = share of list "
            "slots):\n\n" + band_table(self.models, max(self.protocol.ks))
        )

    @property
    def scope_label(self) -> str | None:
        """``"scope: cold, 412 users"`` under a candidate scope (None for the whole catalogue)."""
        scope = self.protocol.candidates.scope
        if scope == "all":
            return None
        return f"scope: {scope}, {self.summary.get('scope_users', math.nan):.0f} users"

    @property
    def scope_caption(self) -> str | None:
        """One line on what the scope holds and which users were skipped, above the table."""
        if self.scope_label is None:
            return None
        s = self.summary
        return (
            f"Candidates: {self.protocol.candidates.describe()}, {s['scope_items']:.0f} items; "
            f"test positives restricted to them; {s['scope_users']:.0f} users scored, "
            f"{s['scope_skipped_users']:.0f} skipped (no in-scope test item)."
        )


def table_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(header, metric key) pairs: accuracy at every k, long-tail figures at the largest k."""
    k = max(ks)
    cols = []
    for j in sorted(ks):
        cols += [(f"R@{j}", f"recall@{j}"), (f"N@{j}", f"ndcg@{j}")]
    cols += [
        (f"tail-R@{k}", f"tail_recall@{k}"),
        (f"cold-R@{k}", f"cold_recall@{k}"),
        (f"APLT@{k}", f"aplt@{k}"),
        (f"coverage@{k}", f"coverage@{k}"),
        (f"Gini@{k}", f"gini@{k}"),
    ]
    return cols


def markdown_table(
    results: Sequence[ModelResult], ks: Sequence[int], scope: str | None = None
) -> str:
    """One row per model; the last columns are the chosen hyper-parameters and fit+recommend s.

    ``scope`` (e.g. ``"scope: cold, 412 users"``) goes into the accuracy headers, so a figure
    measured over a candidate scope is never read as a whole-catalogue one.
    """
    cols = table_columns(ks)
    if scope:
        cols = [(f"{h} ({scope})" if h.startswith(("R@", "N@")) else h, k) for h, k in cols]
    header = ["model"] + [h for h, _ in cols] + ["fit+rec s", "params"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(cols) + 1) + ["---"]) + "|",
    ]
    for r in results:
        cells = [r.model] + [_fmt(r.metrics.get(key, math.nan)) for _, key in cols]
        cells += [f"{r.seconds:.1f}", _fmt_params(r.params)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def band_table(results: Sequence[ModelResult], k: int) -> str:
    """One row per (model, band): recall, NDCG, hit rate on that band's test items, slot share."""
    keys = [f"recall@{k}", f"ndcg@{k}", f"hit_rate@{k}", f"share@{k}"]
    lines = ["| model | band | " + " | ".join(keys) + " | users |",
             "|---|---|" + "---:|" * (len(keys) + 1)]  # fmt: skip
    for r in results:
        for band in ("head", "tail", "cold"):
            cells = [_fmt(r.metrics.get(f"{band}:{key}", math.nan)) for key in keys]
            users = r.metrics.get(f"{band}:n_users", math.nan)
            users_cell = "–" if math.isnan(users) else f"{users:.0f}"
            lines.append(f"| {r.model} | {band} | " + " | ".join(cells) + f" | {users_cell} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.4f}"


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "–"


def _json_safe(obj):
    # Strict JSON has no NaN: undefined metrics (e.g. no cold test item) become null.
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
