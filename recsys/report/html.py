"""The stakeholder report: one self-contained HTML file (plotly inlined, no network).

Sections, each an ``<section id=...>``: ``dataset`` (sizes, bands, the popularity curve),
``model`` (model, strategy, boost, split), ``kpis`` (against the collaborative baseline),
``tradeoff`` (the accuracy vs tail-share curves with the chosen point), ``users`` (three example
users: history, list with explanations, and the baseline's list beside it) and ``reproduce`` (the
settings, the command and the dashboard URL).

Every string that comes from data (titles, ids, names, column values) is HTML-escaped before it
is written, in the page and in plotly's hover and legend text; numbers are formatted here.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict
from html import escape
from typing import cast
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from recsys.data import popularity
from recsys.report.analysis import MODEL_LABELS, SAMPLE_USERS, Analysis, titles
from recsys.whatif import rerank

SECTIONS = {
    "dataset": "Dataset and popularity",
    "model": "Model and tail boost",
    "kpis": "KPIs against the baseline",
    "tradeoff": "Accuracy vs tail share",
    "users": "Example users",
    "reproduce": "Reproduce this report",
}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.band-head { background: #dbe7f3; } .band-tail { background: #fbe3c4; }
.band-cold { background: #f6d0d5; } .muted { color: #666; font-size: 0.9em; }
.side { display: flex; gap: 1.5em; flex-wrap: wrap; } .side > div { flex: 1 1 45%; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; }
"""
STRATEGY_COLORS = {"penalty": "#30638e", "xquad": "#edae49", "target": "#d1495b"}


def text(value: object, limit: int = 300) -> str:
    """Untrusted value as inert HTML text, cut to ``limit`` characters."""
    s = str(value)
    return escape(s if len(s) <= limit else s[: limit - 1] + "…", quote=True)


def table(frame: pd.DataFrame, band: str | None = "band") -> str:
    """A frame as an HTML table, every cell escaped; rows coloured by ``band`` when present."""
    head = "".join(f"<th>{text(c)}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cls = f' class="band-{text(row[band])}"' if band and band in frame else ""
        cells = []
        for value in row:
            if isinstance(value, float | np.floating):
                cells.append(f'<td class="num">{value:.4f}</td>')
            elif isinstance(value, int | np.integer):
                cells.append(f'<td class="num">{int(value)}</td>')
            else:
                cells.append(f"<td>{text(value)}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def popularity_figure(
    counts: np.ndarray,
    groups: np.ndarray,
    title: str = "Interactions per item, most popular first (log scale)",
    max_points: int = 2000,
) -> go.Figure:
    """The popularity curve: interactions per warm item, most popular first, on a log axis, with
    the head | tail cut of ``groups`` and the Gini in a note. The Data page's figure and the
    report's.

    Drawn through at most about ``max_points`` items (:func:`popularity.rank_curve`: exact at
    both ends and either side of the cut), so a million-item catalogue stays light in a browser
    and in the report's file. Cold items (no interaction) have no place on a log axis.
    """
    counts = np.asarray(counts)
    n_head = int(np.sum(groups == popularity.HEAD))
    rank, count = popularity.rank_curve(counts, n_head, max_points)
    x, y = popularity.lorenz(counts)
    fig = go.Figure(
        go.Scatter(x=rank, y=count, mode="lines", name="items", line=dict(color="#30638e"))
    )
    fig.add_vline(
        x=n_head + 0.5,
        line_dash="dash",
        line_color="#d1495b",
        annotation_text="head | tail",
        annotation_position="top right",
    )
    fig.update_layout(
        title=title,
        xaxis_title="item rank by interactions",
        yaxis_title="interactions",
        yaxis_type="log",
        height=380,
        margin=dict(t=60, b=40),
        showlegend=False,
    )
    fig.add_annotation(
        text=f"Gini {popularity.gini(counts):.3f}; the least popular 80% of items hold "
        f"{np.interp(0.8, x, y):.1%} of interactions",
        xref="paper",
        yref="paper",
        x=1,
        y=1.1,
        showarrow=False,
        xanchor="right",
    )
    return fig


def tradeoff_figure(
    curves: dict[str, pd.DataFrame],
    k: int,
    chosen: tuple[float, float] | None,
    point_name: str = "chosen setting",
) -> go.Figure:
    """NDCG@k against tail share (APLT@k) per strategy over the boost sweep, one line per curve
    (a label ending in ``(baseline)`` is dotted), ``chosen`` = (tail share, NDCG) as a star named
    ``point_name``, or no star. The report's figure; the Recommendations page draws it without
    the star (so it stays the same while the slider moves) beside :func:`setting_figure`."""
    fig = go.Figure()
    for label, rows_all in curves.items():
        dotted = label.endswith("(baseline)")
        for strategy, rows in rows_all.groupby("strategy", sort=False):
            fig.add_scatter(
                x=rows[f"aplt@{k}"],
                y=rows[f"ndcg@{k}"],
                mode="lines+markers",
                name=f"{text(label, 60)} · {strategy}",
                hovertext=_sweep_hover(label, cast(rerank.Strategy, strategy), rows, k),
                hoverinfo="text",
                opacity=0.45 if dotted else 1.0,
                line=dict(color=STRATEGY_COLORS[str(strategy)], dash="dot" if dotted else "solid"),
            )
    if chosen is not None:
        fig.add_trace(_star(chosen, k, point_name))
    fig.update_layout(
        title=f"Accuracy vs tail share over boost 0 → 1 (validation, K = {k})",
        xaxis_title=f"tail share of the lists (APLT@{k})",
        yaxis_title=f"NDCG@{k} (validation)",
        height=440,
        margin=dict(t=50, b=40),
        legend=dict(orientation="h", yanchor="top", y=-0.18),
    )
    return fig


def setting_figure(
    curve: pd.DataFrame, label: str, strategy: rerank.Strategy, k: int, chosen: tuple[float, float]
) -> go.Figure:
    """The chosen setting alone: one model's sweep for one strategy, its no-boost end ringed and
    ``chosen`` = (tail share, NDCG) as a star. Small, so redrawing it at every slider move is
    cheap; :func:`tradeoff_figure` gives every strategy and the baseline."""
    rows = curve[curve["strategy"] == strategy]
    fig = go.Figure()
    fig.add_scatter(
        x=rows[f"aplt@{k}"],
        y=rows[f"ndcg@{k}"],
        mode="lines+markers",
        name=f"{text(label, 60)} · {strategy}",
        hovertext=_sweep_hover(label, strategy, rows, k),
        hoverinfo="text",
        line=dict(color=STRATEGY_COLORS[strategy]),
        marker=dict(size=5),
    )
    start = rows[rows["boost"] == 0]
    fig.add_scatter(
        x=start[f"aplt@{k}"],
        y=start[f"ndcg@{k}"],
        mode="markers",
        name="no boost",
        marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=2)),
        hoverinfo="skip",
    )
    fig.add_trace(_star(chosen, k, "current setting"))
    fig.update_layout(
        title=f"This setting on the {rerank.STRATEGIES[strategy]} line",
        xaxis_title=f"tail share (APLT@{k})",
        yaxis_title=f"NDCG@{k}",
        height=440,
        margin=dict(t=50, b=40, l=50, r=10),
        showlegend=False,
    )
    return fig


def _sweep_hover(label: str, strategy: rerank.Strategy, rows: pd.DataFrame, k: int) -> list[str]:
    return [
        f"{text(label)}<br>{text(rerank.STRATEGIES[strategy])} · boost {b:.2f}"
        f"<br>NDCG@{k} {n:.4f} · Recall@{k} {r:.4f}<br>tail share {a:.1%}"
        for b, n, r, a in zip(
            rows["boost"], rows[f"ndcg@{k}"], rows[f"recall@{k}"], rows[f"aplt@{k}"], strict=True
        )
    ]


def _star(chosen: tuple[float, float], k: int, name: str) -> go.Scatter:
    return go.Scatter(
        x=[chosen[0]],
        y=[chosen[1]],
        mode="markers",
        name=text(name, 60),
        marker=dict(symbol="star", size=18, color="black", line=dict(width=1, color="white")),
        hovertext=[f"{text(name, 60)}<br>tail share {chosen[0]:.1%} · NDCG@{k} {chosen[1]:.4f}"],
        hoverinfo="text",
    )


def command(a: Analysis) -> str:
    """The ``python -m recsys report`` line that makes this report again."""
    s = a.settings
    parts = ["python", "-m", "recsys", "report", *data_options(s), "--model", s.model]
    parts += ["--strategy", s.strategy, "--boost", f"{s.boost:g}", "--k", str(s.k)]
    parts += ["--head-rule", s.head_rule, "--head-value", f"{s.head:g}", "--seed", str(s.seed)]
    if s.scope != "all":
        parts += ["--scope", s.scope]
    if s.users:
        parts += ["--users", ",".join(s.users)]
    if s.sample_users != SAMPLE_USERS:
        parts += ["--sample-users", str(s.sample_users)]
    return shlex.join(parts + ["--out", "report.html"])


def data_options(s) -> list[str]:
    """``--data NAME``, or for uploaded files ``--interactions/--items`` with the names they were
    uploaded under (placeholders for the reader's own copies) and how they were read."""
    up = s.upload
    if up is None:
        return ["--data", s.data]
    out = ["--interactions", up.interactions.name, "--items", up.items.name]
    for canon, column in up.columns:
        out += ["--map", f"{canon}={column}"]
    if up.item_column:
        out += ["--item-col", up.item_column]
    if up.text_columns:
        out += ["--text-cols", ",".join(up.text_columns)]
    for key, value in up.options:
        out += [f"--{key.replace('_', '-')}", value]
    return out


def dashboard_url(a: Analysis, user: str, base: str) -> str:
    s = a.settings
    query = {"model": s.model, "strategy": s.strategy, "boost": f"{s.boost:g}", "user": user}
    if s.scope != "all":
        query["scope"] = s.scope
    return f"{base.rstrip('/')}/recommendations?{urlencode(query)}"


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{body}</section>'


def _dataset(a: Analysis) -> str:
    data, stage, s = a.dataset, a.experiment.tuning, a.settings
    bands = {name: int(np.sum(a.groups == code)) for code, name in popularity.GROUP_NAMES.items()}
    summary = pd.DataFrame(
        {
            "what": ["users", "items", "interactions", "training positives", "head items",
                     "tail items", "cold items (no training positive)"],
            "count": [a.experiment.index.n_users, a.experiment.index.n_items,
                      len(data.interactions), int(stage.train.sum()), bands["head"],
                      bands["tail"], bands["cold"]],
        }
    )  # fmt: skip
    rule = f"{popularity.RULES[s.head_rule]} (x = {s.head:g})"
    return (
        f"<p>{text(data.name)}: head/tail rule <b>{text(rule)}</b>, from training counts.</p>"
        + table(summary, band=None)
    )


def _model(a: Analysis) -> str:
    s, exp = a.settings, a.experiment
    rows = pd.DataFrame(
        {
            "setting": ["model", "baseline", "candidates", "tail-boost strategy", "boost",
                        "list length K", "split", "seed"],
            "value": [s.model_label,
                      MODEL_LABELS[a.baseline_model] if a.baseline is not None
                      else "none (new items)",
                      s.candidate_scope.describe(), rerank.STRATEGIES[s.strategy],
                      f"{s.boost:g}", str(s.k), exp.split.kind, str(s.seed)],
        }
    )  # fmt: skip
    return (
        table(rows, band=None)
        + "<p class=muted>Models are fitted on the training split minus validation; every "
        "figure in this report is measured on the validation split (no model saw it), never "
        "on test.</p>"
    )


def _kpis(a: Analysis) -> str:
    kpis = a.kpis().reset_index(names="list")
    judged = int(np.sum(np.diff(a.candidates.rows_of(a.holdout).indptr) > 0))
    sampled = "" if a.candidates.users is None else f"a seeded sample (seed {a.settings.seed}) of "
    return table(kpis, band=None) + (
        f"<p class=muted>@{a.settings.k} over {sampled}the {judged} "
        "users with validation items. APLT = share of list slots given to tail and cold "
        "items.</p>"
    )


def _users(a: Analysis, base_url: str) -> str:
    names, ids = titles(a.dataset), a.user_ids
    out = []
    for u in a.example_users():
        why = a.explain(u)
        keep = [c for c in ("rank", "title", "band", "rank before boost", "score",
                            "because (similarity)", "shared terms") if c in why]  # fmt: skip
        history = a.experiment.tuning.train[u].indices
        tail_hist = float(np.mean(a.groups[history] != popularity.HEAD)) if len(history) else 0.0
        tail_list = float(np.mean(why["band"] != "head")) if len(why) else 0.0
        side, versus = "", ""
        if a.baseline_ranked is not None and a.baseline is not None:
            base_items = a.baseline_ranked.items[a.baseline.row(u)]
            baseline = pd.DataFrame(
                {
                    "rank": np.arange(1, len(base_items) + 1),
                    "title": [names[i] for i in base_items],
                    "band": [popularity.GROUP_NAMES[int(a.groups[i])] for i in base_items],
                }
            )
            versus = f"the baseline's: {float(np.mean(baseline['band'] != 'head')):.0%}. "
            side = f"<div><b>{text(a.baseline_label, 80)}, same boost</b>{table(baseline)}</div>"
        out.append(
            f"<h3>User {text(ids[u], 80)}</h3><p>{len(history)} training positives, "
            f"{tail_hist:.0%} of them outside the head; this list: {tail_list:.0%} tail/cold"
            f"{', ' + versus if versus else '. '}"
            f'<a href="{text(dashboard_url(a, ids[u], base_url), 2000)}">Open in the '
            "dashboard</a></p>"
            f'<div class="side"><div><b>{text(a.settings.model_label)}</b>'
            f"{table(why[keep])}</div>{side}</div>"
        )
    return "".join(out) + (
        "<p class=muted>Users chosen as the most typical (median history) of the heavy-niche, "
        "light-mainstream and heavy-mainstream segments, unless named. Because: the history "
        "items most similar to the item; shared terms: catalogue terms they have in common.</p>"
    )


def _reproduce(a: Analysis, base_url: str) -> str:
    settings = json.dumps(asdict(a.settings), indent=2, default=str)
    users = a.example_users()
    url = dashboard_url(a, a.user_ids[users[0]], base_url) if users else ""
    files = ""
    if (up := a.settings.upload) is not None:
        rows = pd.DataFrame(
            {
                "file": [f.role for f in (up.interactions, up.items)],
                "uploaded as": [f.name for f in (up.interactions, up.items)],
                "sha256 (first 12 hex digits)": [f.sha256 for f in (up.interactions, up.items)],
            }
        )
        files = (
            "<p>The data are two uploaded files; the command names them by the names they were "
            "uploaded under: <b>replace those names with the paths of your own copies</b> and "
            "check that <code>sha256sum FILE</code> starts with the digits below (the same bytes "
            "give the same report).</p>" + table(rows, band=None)
        )
    return (
        files + f"<p>Command:</p><pre>{text(command(a), 4000)}</pre>"
        f"<p>Dashboard (the same model, strategy and boost):</p><pre>{text(url, 2000)}</pre>"
        f"<p>Settings:</p><pre>{text(settings, 4000)}</pre>"
    )


def render(a: Analysis, base_url: str = "http://127.0.0.1:8501") -> str:
    """The whole report as one HTML string, plotly.js inlined once."""
    k = a.settings.k
    now = rerank.list_metrics(a.ranked.items, a.candidates, a.holdout, k)
    figures = [
        popularity_figure(
            a.experiment.tuning.counts,
            a.groups,
            "Training interactions per item, most popular first (log scale)",
        ),
        tradeoff_figure(a.curves(), k, (now[f"aplt@{k}"], now[f"ndcg@{k}"])),
    ]
    plots = [
        pio.to_html(f, include_plotlyjs=(i == 0), full_html=False, config={"displaylogo": False})
        for i, f in enumerate(figures)
    ]
    body = [
        _section("dataset", _dataset(a) + plots[0]),
        _section("model", _model(a)),
        _section("kpis", _kpis(a)),
        _section("tradeoff", plots[1]),
        _section("users", _users(a, base_url)),
        _section("reproduce", _reproduce(a, base_url)),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>Long-Tail Lab report · {text(a.dataset.name, 80)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Long-Tail Lab report</h1><p class=muted>{text(a.dataset.name)} · "
        f"{text(a.settings.model_label)} · made {stamp}</p>" + "".join(body) + "</body></html>"
    )
