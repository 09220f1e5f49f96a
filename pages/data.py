"""Data page: choose a dataset, check it, and see how lopsided its popularity is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import common
from recsys.data import popularity
from recsys.data.dataset import DataError, item_text
from recsys.data.validation import ALIASES, detect_columns
from recsys.report.html import popularity_figure

common.init_state()
st.title("Data")
st.caption(
    "Interactions and an item catalogue with text. Everything below recomputes when the "
    "source or the tail definition changes."
)

EXPECTED = """**Expected schema**
- interactions: a user id column, an item id column, optional rating (number) and optional
  timestamp (Unix seconds or a date). Recognised names: `{user}`, `{item}`, …
- items: the same item id column plus at least one text column (title, description, genres, tags…).
""".format(user="`, `".join(ALIASES["user"][:4]), item="`, `".join(ALIASES["item"][:5]))


def choose_source() -> None:
    kinds = {"sample": "Bundled sample", "movielens": "MovieLens folder", "upload": "Upload files"}
    current = st.session_state[common.SOURCE]["kind"]
    kind = st.radio(
        "Source",
        list(kinds),
        format_func=kinds.get,
        horizontal=True,
        index=list(kinds).index(current),
        key="source_kind",
    )
    if kind == "sample":
        if current != "sample":
            st.session_state[common.SOURCE] = {"kind": "sample"}
        st.caption(
            "A synthetic shop made by `sample_data/generate.py` (see sample_data/README.md)."
        )
    elif kind == "movielens":
        movielens_form()
    else:
        upload_form()


def movielens_form() -> None:
    folders = common.movielens_folders()
    with st.form("movielens"):
        picked = (
            st.selectbox("Found folders", folders, format_func=lambda p: p.name)
            if folders
            else None
        )
        typed = st.text_input("…or a folder path (inside the allowed data folders)")
        if st.form_submit_button("Load MovieLens"):
            try:
                path = common.resolve_inside_roots(typed) if typed else picked
                if path is None:
                    raise DataError("no MovieLens folder found; type a path")
                st.session_state[common.SOURCE] = {"kind": "movielens", "path": str(path)}
            except DataError as exc:
                common.show_error("Cannot open that folder", exc)


def upload_form() -> None:
    st.markdown(EXPECTED)
    c1, c2 = st.columns(2)
    inter_file = c1.file_uploader("Interactions (CSV or Parquet)", type=["csv", "parquet"])
    items_file = c2.file_uploader("Items (CSV or Parquet)", type=["csv", "parquet"])
    if not (inter_file and items_file):
        return
    try:
        inter_path = common.save_upload(inter_file.name, inter_file.getvalue())
        items_path = common.save_upload(items_file.name, items_file.getvalue(), keep=(inter_path,))
        inter_cols = common.upload_columns(str(inter_path))
        item_options = common.upload_columns(str(items_path))
    except Exception as exc:  # noqa: BLE001 - any unreadable upload is one line, not a crash
        common.show_error("Cannot read the uploaded files (expected schema above)", exc)
        return
    with st.form("mapping"):
        detected = detect_columns(pd.DataFrame(columns=inter_cols), tuple(ALIASES))
        mapping = {}
        cols = st.columns(4)
        for col, canon in zip(cols, ALIASES, strict=True):
            options = ["(none)"] + inter_cols
            guess = detected.get(canon, "(none)")
            mapping[canon] = col.selectbox(canon, options, index=options.index(guess))
        header = pd.DataFrame(columns=item_options)
        item_guess = detect_columns(header, ("item",)).get("item", item_options[0])
        item_column = st.selectbox(
            "Item id column in the items file", item_options, index=item_options.index(item_guess)
        )
        text_guess = common.text_columns_guess(str(items_path), item_column)
        text_columns = st.multiselect(
            "Text columns for the language model", item_options, default=text_guess
        )
        unknown = st.selectbox(
            "Interactions with items missing from the catalogue", ["error", "drop", "keep"]
        )
        dupes = st.selectbox("Repeated (user, item) rows", ["error", "drop"])
        if st.form_submit_button("Load upload"):
            st.session_state[common.SOURCE] = {
                "kind": "upload",
                "name": inter_file.name,
                "items_name": items_file.name,  # the report names both files
                "interactions": str(inter_path),
                "items": str(items_path),
                "mapping": {k: v for k, v in mapping.items() if v != "(none)"},
                "item_column": item_column,
                "text_columns": text_columns,
                "options": {"unknown_items": unknown, "duplicates": dupes},
            }


CURVE_POINTS = 2000  # points drawn per curve; the ends and the head/tail cut are exact


@st.cache_data(show_spinner=False, max_entries=4, ttl=common.DATASET_TTL_S)
def item_counts(key: tuple) -> np.ndarray:
    """Interactions per catalogue item: one ``value_counts`` over the rows, then only counts."""
    data = common._load(key)
    return popularity.item_counts(data.interactions, data.items["item"].to_numpy())


@st.cache_data(show_spinner=False, max_entries=4, ttl=common.DATASET_TTL_S)
def dataset_summary(key: tuple) -> dict[str, float]:
    return common._load(key).summary()


@st.cache_data(show_spinner=False, max_entries=16, ttl=common.DATASET_TTL_S)
def popularity_tables(key: tuple, rule: str, value: float) -> dict:
    """The report, both curves thinned to :data:`CURVE_POINTS` (the popularity curve as the
    stakeholder report draws it) and the popularity order, all from the cached counts (never
    from the rows)."""
    rep = popularity.analyse(item_counts(key), rule, value)  # type: ignore[arg-type]
    n_head = int(np.sum(rep.groups == popularity.HEAD))
    n = len(rep.counts)
    return {
        "report": rep,
        "n_head": n_head,
        "figure": popularity_figure(rep.counts, rep.groups, max_points=CURVE_POINTS),
        "lorenz": popularity.lorenz(rep.counts, CURVE_POINTS, keep=(n - n_head,)),
        "order": popularity.popularity_order(rep.counts),
    }


def tail_controls() -> tuple[str, float]:
    c1, c2 = st.columns([2, 1])
    rules = list(popularity.RULES)
    rule = c1.radio(
        "Head/tail definition",
        rules,
        format_func=popularity.RULES.get,
        index=rules.index(st.session_state[common.TAIL_RULE]),
        horizontal=True,
    )
    if rule != st.session_state[common.TAIL_RULE]:
        st.session_state[common.TAIL_VALUE] = popularity.DEFAULT_VALUES[rule]
        st.session_state[common.TAIL_RULE] = rule
    if rule == "threshold":
        value = c2.number_input(
            "x (interactions)",
            min_value=1,
            max_value=100_000,
            step=1,
            value=int(st.session_state[common.TAIL_VALUE]),
        )
    else:
        value = c2.slider("x (%)", 1, 99, int(round(st.session_state[common.TAIL_VALUE] * 100)))
        value = value / 100
    st.session_state[common.TAIL_VALUE] = value
    return rule, float(value)


def lorenz_curve(pop: dict) -> go.Figure:
    rep = pop["report"]
    x, y = pop["lorenz"]
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="equality", line=dict(dash="dot", color="gray")
    )
    fig.add_scatter(
        x=x, y=y, mode="lines", name="items", line=dict(color="#30638e"), fill="tonexty"
    )
    fig.update_layout(
        title=f"Lorenz curve · Gini {rep.gini:.3f}",
        height=380,
        xaxis_title="share of items (least popular first)",
        yaxis_title="share of interactions",
        margin=dict(t=40, b=40),
    )
    return fig


def item_table(data, rep, positions: np.ndarray) -> pd.DataFrame:
    items = data.items.iloc[positions]
    text = item_text(items, data.text_columns)  # only these rows: never the whole catalogue
    return pd.DataFrame(
        {
            "item": items["item"].to_numpy(),
            "interactions": rep.counts[positions],
            "group": [popularity.GROUP_NAMES[g] for g in rep.groups[positions]],
            "text": text,
        }
    )


choose_source()
data = common.current_dataset()
for note in data.notes:
    st.info(common.md(note, common.ERROR_LIMIT))

summary = dataset_summary(common.source_key(st.session_state[common.SOURCE]))
cols = st.columns(5)
cols[0].metric("Users", f"{summary['users']:,}")
cols[1].metric("Items", f"{summary['items']:,}")
cols[2].metric("Interactions", f"{summary['interactions']:,}")
cols[3].metric("Density", f"{summary['density']:.3%}")
cols[4].metric("Cold items", f"{summary['cold_share']:.1%}", help="items with no interaction")

st.subheader(f"Popularity · {common.md(data.name, 80)}")
rule, value = tail_controls()
pop = popularity_tables(common.source_key(st.session_state[common.SOURCE]), rule, value)
rep = pop["report"]
st.markdown(
    f"**{rep.caption}** · {rep.cold_share:.1%} of items are cold (no interactions, not "
    f"drawn on the log scale)."
)
left, right = st.columns(2)
left.plotly_chart(pop["figure"], width="stretch", key="popularity_curve")
right.plotly_chart(lorenz_curve(pop), width="stretch", key="lorenz_curve")
if len(rep.counts) > CURVE_POINTS:
    st.caption(
        f"Curves drawn through {CURVE_POINTS:,} evenly spaced items of {len(rep.counts):,} "
        "(the ends and the head/tail cut exact), from per-item counts."
    )

st.subheader("Items")
order = pop["order"]
head_tab, tail_tab = st.tabs(["Top of the head", "A sample of the tail"])
head_tab.dataframe(item_table(data, rep, order[:20]), hide_index=True, width="stretch")
tail_positions = np.flatnonzero(rep.groups != popularity.HEAD)
sample = (
    np.random.default_rng(0).choice(tail_positions, min(20, len(tail_positions)), replace=False)
    if len(tail_positions)
    else tail_positions
)
tail_tab.dataframe(item_table(data, rep, np.sort(sample)), hide_index=True, width="stretch")
tail_tab.caption("Seeded sample (seed 0) of tail and cold items.")
