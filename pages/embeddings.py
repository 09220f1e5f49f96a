"""Embeddings page: a map of the items that shows where the long tail lives, before and after
fine-tuning. All numbers come from :mod:`recsys.maps`; this page only lays them out."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import common, rec_models
from recsys.data import popularity
from recsys.data.dataset import item_text
from recsys.evaluation import protocol
from recsys.maps import projection
from recsys.maps.neighbours import (
    nearest_neighbours,
    nearest_to,
    neighbour_index,
    neighbourhood_change,
    search_titles,
)
from recsys.maps.projection import ProjectionConfig
from recsys.maps.sampling import POINT_BUDGET, popularity_bands, stratified_sample
from recsys.models.candidates import CandidateConfig
from recsys.report import analysis
from recsys.runs.folder import EMBEDDINGS, RunFolder, list_runs

# Page-local widget keys (shared state lives in pages/common.py).
METHOD, N_NEIGHBORS, MIN_DIST = "emb_method", "emb_n_neighbors", "emb_min_dist"
METRIC, SEED, BUDGET = "emb_metric", "emb_seed", "emb_budget"
COLOUR, RUN, QUERY, PICK, K = "emb_colour", "emb_run", "emb_query", "emb_pick", "emb_k"
_DEFAULT = ProjectionConfig()
PAGE_DEFAULTS = {
    METHOD: _DEFAULT.method,
    N_NEIGHBORS: _DEFAULT.n_neighbors,
    MIN_DIST: _DEFAULT.min_dist,
    METRIC: _DEFAULT.metric,
    SEED: _DEFAULT.seed,
    BUDGET: POINT_BUDGET,
    K: 10,
}
GROUP_COLOURS = {"head": "#d1495b", "tail": "#30638e", "cold": "#edae49"}
OTHER_COLOUR = "#b0b0b0"
MAX_CATEGORIES = 20  # more distinct values than this: the rest are drawn as "other"
NO_RUN = "(base model only)"
NEIGHBOURS_K = 10  # neighbours per tail item in the before/after summary
SUMMARY_ITEMS = 2000  # drawn tail items compared in the before/after summary (seeded)
PAGE_INDEX = CandidateConfig(index="exact")  # see index_of
OPTION_ROWS = 20_000  # catalogue rows a column is judged on for "Colour by" (seeded sample)

common.init_state()
for _key, _value in PAGE_DEFAULTS.items():
    st.session_state.setdefault(_key, _value)
st.title("Embeddings")
st.caption(
    "Where do tail items sit among the head items users love, and did fine-tuning move them? "
    "A 2-D map of the item embeddings, coloured by popularity or any catalogue attribute."
)


# --------------------------------------------------------------------------- cached loading


class Space(NamedTuple):
    """One embedding space as the page uses it: the vectors of the drawn rows only."""

    vectors: np.ndarray  # (len(rows), D), rows = the drawn sample (all items when it fits)
    fp: str  # fingerprint of ``vectors``
    full: np.ndarray | None  # (N, D) every item's vectors where already at hand (a run), or None


@st.cache_resource(
    show_spinner="Counting training interactions…", max_entries=8, ttl=common.DATASET_TTL_S
)
def catalogue(key: tuple, rule: str, value: float) -> tuple[pd.DataFrame, int]:
    """One row per catalogue item, in catalogue order: ids, title, counts, group, band; and the
    number of training interactions they count.

    Counts are the TRAINING positives (training minus validation) of the Recommendations page's
    split (the same protocol as :func:`pages.rec_models.prepared`, through
    :func:`recsys.evaluation.protocol.training_counts`, which builds no matrices or text: seconds
    at 10M interactions), banded by the Data page's rule: the bands the models use.
    """
    data = common._load(key)
    settings = analysis.Settings(head_rule=rule, head_value=value, seed=rec_models.SEED)  # type: ignore[arg-type]
    split = "temporal" if data.has_timestamps else "random"  # as analysis.prepare
    counted = protocol.training_counts(data, protocol.Protocol(split=split, seed=settings.seed))
    counts = counted.counts
    groups = popularity.groups(counts, rule, settings.head)  # type: ignore[arg-type]
    title_col = "title" if "title" in data.items else data.text_columns[0]
    frame = pd.DataFrame(
        {
            "item": data.items["item"].astype(str).to_numpy(),
            "title": data.items[title_col].fillna("").astype(str).to_numpy(),
            "interactions": counts,
            "group": np.asarray(list(popularity.GROUP_NAMES.values()), dtype=object)[groups],
            "group_code": groups,
            "band": popularity_bands(counts, groups),
        }
    )
    return frame, counted.pairs


def _texts(key: tuple, rows: np.ndarray | None) -> list[str]:
    data = common._load(key)
    return data.item_text() if rows is None else item_text(data.items.iloc[rows], data.text_columns)


@st.cache_resource(
    show_spinner="Encoding the drawn items with all-MiniLM-L6-v2 (once; ≈ 130 items/s on CPU)…",
    max_entries=4,
    ttl=common.DATASET_TTL_S,
)
def base_space(key: tuple, rows_fp: str, _rows: np.ndarray | None) -> Space:
    """Base-model vectors of the drawn rows (``None``: every item), from the encoder's disk cache
    when unchanged. Only the drawn items' text is built and encoded: a million-item catalogue
    would take hours to encode on a CPU, and its text alone seconds to build."""
    from recsys.lm import encoder  # imports torch: only when the page needs vectors

    vectors = encoder.encode_items(_texts(key, _rows))
    vectors.flags.writeable = False
    return Space(vectors, projection.fingerprint(vectors), None)


@st.cache_data(show_spinner="Encoding the item…", max_entries=64, ttl=common.DATASET_TTL_S)
def base_vector(key: tuple, item: int) -> np.ndarray:
    """The base-model vector of one item outside the drawn sample."""
    from recsys.lm import encoder

    return encoder.encode_items(_texts(key, np.array([item])))[0]


@st.cache_resource(show_spinner=False, max_entries=4, ttl=common.DATASET_TTL_S)
def run_space(path: str, mtime: float, item_ids: tuple) -> tuple[np.ndarray, str] | str:
    """A run's item vectors in catalogue order, or a message saying why they cannot be used."""
    loaded = RunFolder(path).load_item_embeddings()
    if loaded is None:
        return "its item embeddings are being written; reload in a moment"
    vectors, ids = loaded
    rows = pd.Index(ids).get_indexer(list(item_ids))
    if (rows < 0).any():
        return f"it has no embeddings for {int((rows < 0).sum()):,} of this catalogue's items"
    aligned = np.ascontiguousarray(vectors[rows])
    aligned.flags.writeable = False
    return aligned, projection.fingerprint(aligned)


def drawn_space(loaded: tuple[np.ndarray, str], shown: np.ndarray) -> Space:
    """A run's space restricted to the drawn rows (the whole array when every item is drawn)."""
    aligned, fp = loaded
    if len(shown) == len(aligned):
        return Space(aligned, fp, aligned)
    drawn = np.ascontiguousarray(aligned[shown])
    return Space(drawn, projection.fingerprint(drawn), aligned)


@st.cache_resource(
    show_spinner="Drawing the map (the first UMAP in a process compiles, ≈ 1 min)…",
    max_entries=32,
    ttl=common.DATASET_TTL_S,
)
def projected(fp: str, _vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
    """2-D coordinates of ``_vectors`` (the drawn sample's rows; ``fp`` is their fingerprint)."""
    return projection.project(_vectors, config)


@st.cache_resource(show_spinner="Indexing the vectors…", max_entries=4, ttl=common.DATASET_TTL_S)
def index_of(fp: str, _vectors: np.ndarray):
    """The candidate stage's faiss index over one space, flat (exact) at every size: at 1M items
    x 64 dimensions on one core it is built in 0.3 s and answers one query in 0.02 s, where an
    HNSW graph takes ~13 s per 100k items to build (bench/results/scale_pages.md)."""
    return neighbour_index(_vectors, PAGE_INDEX)


@st.cache_data(show_spinner="Comparing neighbourhoods…", max_entries=8, ttl=common.DATASET_TTL_S)
def change_summary(
    fp_base: str, fp_run: str, _base, _run, groups: np.ndarray, among: np.ndarray
) -> pd.DataFrame:
    indexes = (index_of(fp_base, _base), index_of(fp_run, _run))
    change = neighbourhood_change(_base, _run, groups, NEIGHBOURS_K, among, indexes)
    return change.summary()


@st.cache_data(show_spinner=False, max_entries=4, ttl=common.DATASET_TTL_S)
def colour_options(key: tuple) -> list[str]:
    """Popularity group plus catalogue columns that are numeric or have few distinct values,
    judged on a seeded sample of :data:`OPTION_ROWS` rows (a million rows need not be read)."""
    items = common._load(key).items
    if len(items) > OPTION_ROWS:
        rows = np.random.default_rng(0).choice(len(items), OPTION_ROWS, replace=False)
        items = items.iloc[np.sort(rows)]
    out = ["popularity group"]
    for col in items.columns:
        if col == "item":
            continue
        if _is_numeric(items[col]) or _first_values(items[col]).nunique() <= 3 * MAX_CATEGORIES:
            out.append(col)
    return out


# --------------------------------------------------------------------------- controls


def map_settings() -> tuple[ProjectionConfig, int]:
    with st.expander("Map settings"), st.form("map_settings", border=False):
        c = st.columns(6)
        c[0].radio("Method", ["umap", "pca"], key=METHOD, format_func=str.upper)
        c[1].slider("n_neighbors", 2, 100, key=N_NEIGHBORS, help="local detail ↔ global shape")
        c[2].slider("min_dist", 0.0, 0.99, step=0.01, key=MIN_DIST, help="how tightly points pack")
        c[3].selectbox("Metric", projection.METRICS, key=METRIC)
        c[4].number_input("Seed", 0, 2**31 - 1, step=1, key=SEED)
        c[5].number_input("Point budget", 500, 1_000_000, step=1000, key=BUDGET)
        st.form_submit_button("Redraw")
    s = st.session_state
    config = ProjectionConfig(
        method=s[METHOD],
        n_neighbors=int(s[N_NEIGHBORS]),
        min_dist=float(s[MIN_DIST]),
        metric=s[METRIC],
        seed=int(s[SEED]),
    )
    return config, int(s[BUDGET])


def describe(config: ProjectionConfig) -> str:
    if config.method == "pca":
        return "PCA (first two components)"
    return (
        f"UMAP · n_neighbors {config.n_neighbors} · min_dist {config.min_dist:g} · "
        f"{config.metric} · {config.n_epochs or 'auto'} epochs · seed {config.seed}"
    )


def runs_with_embeddings() -> list[dict]:
    found = list_runs(st.session_state[common.RUNS_DIR])
    return [r for r in found if (Path(r["path"]) / EMBEDDINGS).exists()]


def choose_run(found: list[dict]) -> dict | None:
    """The run to compare with: the active run when it has embeddings, else the newest one."""
    if not found:
        st.caption("No fine-tuning run with item embeddings yet: showing the base model only.")
        return None
    names = [r["name"] for r in found]
    active = st.session_state[common.ACTIVE_RUN]
    if st.session_state.get(RUN) not in [NO_RUN, *names]:
        st.session_state[RUN] = active if active in names else names[0]
    picked = st.selectbox("Fine-tuned run to compare", [NO_RUN, *names], key=RUN)
    return next((r for r in found if r["name"] == picked), None)


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().mean() >= 0.9)


def _first_values(values: pd.Series) -> pd.Series:
    """First entry of "a|b|c" lists (genres, tags), as text."""
    return values.fillna("").astype(str).str.split("|").str[0].str.strip()


# --------------------------------------------------------------------------- the map


def colouring(frame: pd.DataFrame, items: pd.DataFrame, by: str):
    """(values, colour map or None for numeric). Same mapping for every figure of the page."""
    if by == "popularity group":
        return frame["group"].to_numpy(), GROUP_COLOURS
    if _is_numeric(items[by]):
        return pd.to_numeric(items[by], errors="coerce").to_numpy(), None
    values = _first_values(items[by]).replace("", "(none)")
    top = values.value_counts().index[:MAX_CATEGORIES]
    values = values.where(values.isin(top), "other").to_numpy()
    palette = px.colors.qualitative.Dark24
    colours = {v: palette[i % len(palette)] for i, v in enumerate(top)}
    return values, {**colours, "other": OTHER_COLOUR}


def hover_text(frame: pd.DataFrame, values: np.ndarray, by: str, rows: np.ndarray) -> np.ndarray:
    """Escaped hover labels of the items at ``rows`` (only the drawn ones are ever built)."""
    part = frame.iloc[rows]
    text = [
        f"{common.html_text(t)}<br>{n:,} training interactions · {g}"
        for t, n, g in zip(part["title"], part["interactions"], part["group"], strict=True)
    ]
    if by != "popularity group":
        label = common.html_text(by)
        shown = values[rows]
        text = [f"{t}<br>{label}: {common.html_text(v)}" for t, v in zip(text, shown, strict=True)]
    return np.asarray(text, dtype=object)


def item_map(xy, frame, shown, colours, colour_by, highlight) -> go.Figure:
    """WebGL scatter of the ``shown`` positions; ``highlight`` = (item, neighbours) or None.

    ``xy`` (N, 2) holds NaN for items outside the drawn sample: those are never drawn.
    """
    values, cmap = colours
    counts = frame["interactions"].to_numpy()
    size = 4 + 10 * np.log1p(counts) / np.log1p(max(counts.max(), 1))  # cold: 4
    fig = go.Figure()

    def add(rows, name, marker):
        fig.add_trace(
            go.Scattergl(
                x=xy[rows, 0],
                y=xy[rows, 1],
                mode="markers",
                name=name,
                marker=marker,
                text=hover_text(frame, values, colour_by, rows),
                customdata=rows,
                hovertemplate="%{text}<extra></extra>",
            )
        )

    if cmap is None:
        rows = shown[~np.isnan(values[shown])]
        add(rows, "items", dict(size=size[rows], color=values[rows], colorscale="Viridis",
                                showscale=True, opacity=0.8))  # fmt: skip
    else:
        for name, colour in cmap.items():
            rows = shown[values[shown] == name]
            if len(rows):
                legend = common.html_text(name, 40)
                add(rows, legend, dict(size=size[rows], color=colour, opacity=0.75))
    if highlight is not None:
        item, neighbours = highlight
        neighbours = neighbours[~np.isnan(xy[neighbours, 0])]
        ring = dict(size=13, color="rgba(0,0,0,0)", line=dict(color="black", width=1.5))
        add(neighbours, "neighbours", ring)
        star = dict(size=20, color="black", symbol="star", line=dict(color="white", width=1))
        if not np.isnan(xy[item, 0]):
            add(np.array([item]), "found item", star)
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_layout(
        height=560,
        margin=dict(t=30, b=10, l=10, r=10),  # t: room for the mode bar
        legend=dict(orientation="h", y=-0.02, yanchor="top", itemsizing="constant"),
        xaxis=axis,
        yaxis=axis,
        uirevision="item-map",  # keep zoom and pan across reruns
    )
    return fig


def selected_positions(event) -> list[int]:
    """Item positions of the points picked with box or lasso (customdata holds the position)."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    out = []
    for p in points:
        value = p.get("customdata")
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            out.append(int(value))
    return sorted(set(out))


# --------------------------------------------------------------------------- neighbours


def find_item(frame: pd.DataFrame) -> int | None:
    c1, c2, c3 = st.columns([2, 3, 1])
    query = c1.text_input("Find an item by title", key=QUERY, placeholder="e.g. desk")
    c3.slider("Neighbours", 3, 50, key=K)
    if not query.strip():
        return None
    hits = search_titles(frame["title"], query, limit=50)
    if not len(hits):
        c2.info(f"No title contains “{common.md(query.strip(), 80)}”.")
        return None
    if st.session_state.get(PICK) not in hits:
        st.session_state[PICK] = int(hits[0])
    label = {int(i): f"{frame['title'].iat[i]} ({frame['group'].iat[i]})" for i in hits}
    return c2.selectbox(f"{len(hits)} match(es)", list(label), format_func=label.get, key=PICK)


def neighbours_of(space: Space, item: int, k: int, shown: np.ndarray, index, key: tuple):
    """(catalogue positions, similarities) of ``item``'s k nearest drawn neighbours in ``space``;
    an item outside the drawn sample is searched by its own vector (encoded on demand)."""
    at = int(np.searchsorted(shown, item))
    if at < len(shown) and shown[at] == item:
        idx, sim = nearest_neighbours(space.vectors, [at], k, index=index)
    else:
        query = space.full[item] if space.full is not None else base_vector(key, item)
        idx, sim = nearest_to(space.vectors, query, k, index=index)
    keep = idx[0] >= 0
    return shown[idx[0][keep]], sim[0][keep]


def show_neighbours(column, frame: pd.DataFrame, found: tuple[np.ndarray, np.ndarray]) -> None:
    idx, sim = found
    rows = frame.iloc[idx]
    table = pd.DataFrame(
        {
            "similarity": sim,
            "group": rows["group"].to_numpy(),
            "interactions": rows["interactions"].to_numpy(),
            "title": rows["title"].to_numpy(),
        }
    )
    column.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={"similarity": st.column_config.NumberColumn(format="%.3f")},
    )


# --------------------------------------------------------------------------- layout

data = common.current_dataset()
rule, value = common.tail_setting()
key = common.source_key(st.session_state[common.SOURCE])
frame, n_train = catalogue(key, rule, value)
config, budget = map_settings()
run = choose_run(runs_with_embeddings())
shown = stratified_sample(frame["band"].to_numpy(), budget, seed=config.seed)
sampled = len(shown) < len(frame)

warm = rec_models.warm_status()
if warm is not None and rec_models.MAP_LOCK.locked():
    with st.spinner(f"The background warm-up is drawing this map ({common.md(warm.current)})…"):
        with rec_models.MAP_LOCK:  # then the vectors and the map come from the disk caches
            pass
base_rows = shown if sampled else None
spaces = {
    "Base model · all-MiniLM-L6-v2": base_space(key, projection.fingerprint(shown), base_rows)
}
if run is not None:
    mtime = (Path(run["path"]) / EMBEDDINGS).stat().st_mtime
    loaded = run_space(run["path"], mtime, tuple(frame["item"]))
    if isinstance(loaded, str):
        st.warning(f"Run “{common.md(run['name'], 80)}” cannot be compared: {common.md(loaded)}.")
    else:
        spaces[f"Fine-tuned · {common.md(run['name'], 80)}"] = drawn_space(loaded, shown)

colour_by = st.selectbox("Colour by", colour_options(key), key=COLOUR)
colours = colouring(frame, data.items, colour_by)
st.caption(
    f"Popularity groups and sizes count the {n_train:,} training interactions (training minus "
    "validation positives: the split the Recommendations page and the models use), with the "
    f"Data page's head rule: {common.md(popularity.RULES[rule])}, x = {value:g}."
)
if sampled:
    bands = ", ".join(pd.unique(frame["band"].to_numpy()[shown]))
    st.info(
        f"Drawing a stratified sample of {len(shown):,} of {len(frame):,} items (seed "
        f"{config.seed}) that keeps every popularity band ({bands}); only the sample is "
        "encoded and projected. Search covers all items; neighbour lists and the summary look "
        "among the drawn items, and a found item outside the sample is placed on the map at "
        "its drawn neighbours' similarity-weighted mean position."
    )

item = find_item(frame)
k = int(st.session_state[K])
indexes = {space.fp: index_of(space.fp, space.vectors) for space in spaces.values()}

st.caption(
    f"{describe(config)}. 2-D distances are only a picture: the map keeps local neighbourhoods "
    "roughly, not global distances. Neighbour lists and the summary use cosine similarity in the "
    "full embedding space. Box or lasso select (top-right tools) to list items."
)
selected: set[int] = set()
columns = st.columns(len(spaces))
for i, (column, (name, space)) in enumerate(zip(columns, spaces.items(), strict=True)):
    column.markdown(f"**{name}** · {space.vectors.shape[1]} dimensions")  # names escaped above
    xy = np.full((len(frame), 2), np.nan, dtype=np.float32)  # NaN: not in the drawn sample
    xy[shown] = projected(space.fp, space.vectors, config)
    highlight = found = None
    placed = False
    if item is not None:  # each space highlights its own neighbours
        found = neighbours_of(space, item, k, shown, indexes[space.fp], key)
        if np.isnan(xy[item, 0]) and len(found[0]):
            xy[item] = projection.place(xy[found[0]], found[1])
            placed = True
        highlight = (item, found[0])
    fig = item_map(xy, frame, shown, colours, colour_by, highlight)
    event = column.plotly_chart(
        fig, key=f"map_{i}", on_select="rerun", selection_mode=("box", "lasso"), width="stretch"
    )
    selected.update(p for p in selected_positions(event) if not placed or p != item)
    if item is not None and found is not None:
        title = common.md(frame["title"].iat[item], 120)
        among = f"drawn items ({len(shown):,})" if sampled else "items"
        column.caption(f"{len(found[0])} nearest {among} to “{title}”")
        show_neighbours(column, frame, found)
        if placed:
            column.caption(
                "The found item is not in the drawn sample: its star is placed at the "
                "similarity-weighted mean position of these neighbours (not projected)."
            )

if len(spaces) == 2:
    base, tuned = spaces.values()
    st.subheader("How tail neighbourhoods changed")
    codes = frame["group_code"].to_numpy()[shown]  # the drawn rows' groups
    compared = np.flatnonzero(codes != popularity.HEAD)  # positions among the drawn rows
    if len(compared) > SUMMARY_ITEMS:
        rng = np.random.default_rng(config.seed)
        compared = np.sort(rng.choice(compared, SUMMARY_ITEMS, replace=False))
    summary = change_summary(base.fp, tuned.fp, base.vectors, tuned.vectors, codes, compared)
    shares = [c for c in summary.columns if c not in ("group", "items")]
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="percent") for c in shares},
    )
    st.caption(
        f"For each drawn tail (and cold) item (at most {SUMMARY_ITEMS:,}, seed {config.seed}): "
        f"the share of its {NEIGHBOURS_K} nearest neighbours among "
        f"{'the drawn' if sampled else 'all'} items (cosine, full space) that are head items, in "
        "the base model and after fine-tuning; 'neighbours kept' is the overlap of the two "
        "neighbour lists."
    )
st.subheader("Selected items")
if not selected:
    st.caption("Nothing selected: use the box or lasso tool on a map.")
else:
    rows = sorted(selected)
    table = frame.iloc[rows][["item", "title", "group", "interactions"]].copy()
    table["text"] = item_text(data.items.iloc[rows], data.text_columns)
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(
        f"Download {len(table):,} items as CSV",
        common.csv_bytes(table),
        file_name="selected_items.csv",
        mime="text/csv",
    )
