"""Recommendations page: one user's list and why, and a live tail-boost what-if over all users.

Models are fitted on the training split minus validation and every user's top-200 candidates are
cached once; the boost slider only re-ranks those (see ``recsys.whatif.rerank``). KPIs and the
trade-off curve are measured on the validation split, never on test.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import common
from recsys.data import popularity, segments
from recsys.evaluation import protocol
from recsys.models import MODELS, TrainData
from recsys.runs.folder import BEST, EMBEDDINGS, RunFolder
from recsys.whatif import explain, rerank, scorers

SEED = 0  # split and model seed, shown in the caption
K_CHOICES = (10, 20)
HISTORY_ROWS = 15
BOOST_STEP = 0.05
# Widget keys; the first four are mirrored in the URL under the short names.
MODEL, STRATEGY, BOOST, USER, K = "rec_model", "rec_strategy", "rec_boost", "rec_user", "rec_k"
URL_KEYS = {"model": MODEL, "strategy": STRATEGY, "boost": BOOST, "user": USER}
USER_IN_LINK = "rec_user_in_link"  # opt-in: user ids can be personal data, kept out of URLs
MODEL_LABELS = {
    scorers.BLEND: "EASE + TF-IDF blend",
    scorers.HYBRID_FROZEN: "Hybrid: EASE + frozen MiniLM",
    "ease": "EASE",
    "itemknn": "ItemKNN",
    "als": "ALS",
    "tfidf": "TF-IDF (content)",
    "mostpop": "Most popular",
    "content": "Frozen MiniLM content",
    "ease_content": "EASE + MiniLM content",
}
TRAINS_LM = {"lm", "hybrid"}  # fine-tune a language model when fitted: the Fine-tune page's job
BASELINE = "ease"  # the collaborative model whose curve is drawn for comparison
STRATEGY_COLORS = {"penalty": "#30638e", "xquad": "#edae49", "target": "#d1495b"}
BAND_COLORS = {"head": "#dbe7f3", "tail": "#fbe3c4", "cold": "#f6d0d5"}
BOOST_HELP = {
    "penalty": "Adds boost × (1 − log popularity / log max popularity) to every score.",
    "xquad": "xQuAD weight λ: relevance (1 − λ) against covering head and tail in the user's "
    "own proportions (λ).",
    "target": "Minimum share of tail and cold items in every prefix of the list.",
}

common.init_state()
st.title("Recommendations")


# --- cached work: fitted once per (data, tail definition, model) ---------------------------------


@st.cache_resource(show_spinner="Preparing the split…", max_entries=4, ttl=common.DATASET_TTL_S)
def prepared(source: tuple, rule: str, value: float):
    data = common._load(source)
    split = "temporal" if data.has_timestamps else "random"  # temporal needs timestamps
    experiment = protocol.prepare(data, protocol.Protocol(split=split, seed=SEED))
    groups = popularity.groups(experiment.tuning.counts, rule, value)
    return data, experiment, groups


@st.cache_resource(
    show_spinner="Fitting the model and caching 200 candidates per user…",
    max_entries=8,
    ttl=common.DATASET_TTL_S,
)
def candidates(
    source: tuple, rule: str, value: float, model: str, stamp: float = 0.0
) -> rerank.Candidates:
    """``stamp``: the run's embeddings mtime for run models, so a newer epoch refits."""
    _, experiment, groups = prepared(source, rule, value)
    stage = experiment.tuning
    # No validation extras: a model tuning on them would be graded on its own tuning data.
    data = TrainData(stage.train, stage.text, experiment.index.item_ids)
    scorer = scorers.fit_scorer(model, data, seed=SEED)
    return rerank.build_candidates(scorer, stage.train, stage.counts, groups)


@st.cache_data(show_spinner="Sweeping boost values…", max_entries=16, ttl=common.DATASET_TTL_S)
def tradeoff(
    source: tuple, rule: str, value: float, model: str, k: int, stamp: float = 0.0
) -> pd.DataFrame:
    _, experiment, _ = prepared(source, rule, value)
    cands = candidates(source, rule, value, model, stamp)
    return rerank.tradeoff(cands, experiment.tuning.holdout, k)


@st.cache_resource(show_spinner="Item similarities…", max_entries=4, ttl=common.DATASET_TTL_S)
def similarities(source: tuple, rule: str, value: float, run: str | None, mtime: float) -> dict:
    """Item-item cosine, and embedding cosine from the active run (else TF-IDF text cosine)."""
    _, experiment, _ = prepared(source, rule, value)
    stage = experiment.tuning
    sims = {explain.ITEM_ITEM: explain.cooccurrence(stage.train)}
    loaded = RunFolder(run).load_item_embeddings() if run else None
    if loaded is not None:
        rows = pd.Index(loaded[1]).get_indexer(list(experiment.index.item_ids))
        if (rows >= 0).all():
            sims[f"embedding ({Path(run).name})"] = explain.cosine(loaded[0][rows])
            return sims
    sims["text"] = explain.cosine(explain.tfidf_vectors(stage.text))
    return sims


def active_run() -> tuple[str | None, float]:
    """Folder and embeddings mtime of the active run when it has item embeddings."""
    name = st.session_state[common.ACTIVE_RUN]
    folder = Path(st.session_state[common.RUNS_DIR]) / str(name) if name else None
    if folder is None or not (folder / EMBEDDINGS).exists():
        return None, 0.0
    return str(folder), (folder / EMBEDDINGS).stat().st_mtime


@st.cache_data(max_entries=4, ttl=common.DATASET_TTL_S)
def user_table(source: tuple, rule: str, value: float) -> pd.DataFrame:
    _, experiment, groups = prepared(source, rule, value)
    table = segments.user_segments(experiment.tuning.train, groups)
    table.insert(0, "user", experiment.index.user_ids)
    return table


def run_choice() -> tuple[str | None, str | None, float]:
    """``("run:<name>", folder, embeddings mtime)`` for the active run once it has a best
    checkpoint and item embeddings, else ``(None, None, 0)``."""
    name = st.session_state[common.ACTIVE_RUN]
    folder = Path(st.session_state[common.RUNS_DIR]) / str(name) if name else None
    if folder is None or not (folder / BEST).exists():
        return None, None, 0.0
    if not (folder / EMBEDDINGS).exists():
        return None, None, 0.0
    return f"{scorers.RUN_PREFIX}{name}", str(folder), (folder / EMBEDDINGS).stat().st_mtime


def model_label(choice: str) -> str:
    if choice.startswith(scorers.RUN_PREFIX):
        return f"EASE + fine-tuned run {choice[len(scorers.RUN_PREFIX) :]}"
    return MODEL_LABELS.get(choice, choice)


def titles_of(data) -> list[str]:
    if "title" in data.items:
        return data.items["title"].fillna("").astype(str).tolist()
    return data.item_text()


# --- controls and shareable state ----------------------------------------------------------------


def restore_from_url(models: list[str], users: list[str]) -> None:
    """Once per session: adopt model, strategy, boost and user from the URL when they are valid."""
    if st.session_state.get("rec_url_read"):
        return
    st.session_state["rec_url_read"] = True
    url = st.query_params
    if url.get("model") in models:
        st.session_state[MODEL] = url["model"]
    if url.get("strategy") in rerank.STRATEGIES:
        st.session_state[STRATEGY] = url["strategy"]
    if url.get("user") in users:
        st.session_state[USER] = url["user"]
        st.session_state[USER_IN_LINK] = True  # a link that names a user keeps naming it
    boost = boost_from_url(url.get("boost"))
    if boost is not None:
        st.session_state[BOOST] = boost


def boost_from_url(text: str | None) -> float | None:
    """The slider value for a ``?boost=`` text, or None when it is not a finite number.

    Out-of-range values are clipped to [0, 1]; ``inf``, ``1e999``, ``nan`` and words are ignored.
    """
    try:
        boost = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(boost):
        return None
    return float(np.clip(round(boost / BOOST_STEP) * BOOST_STEP, 0, 1))


def update_url(model: str, strategy: str, boost: float, user: str) -> None:
    """Mirror the controls in the URL; the user only when the analyst opted in."""
    st.query_params.update({"model": model, "strategy": strategy, "boost": f"{boost:g}"})
    if st.session_state.get(USER_IN_LINK):
        st.query_params["user"] = user
    elif "user" in st.query_params:
        del st.query_params["user"]


def keep_valid(key: str, options: list, default) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def pick_random_user(pool: list[str]) -> None:
    seed = st.session_state.get("rec_random_seed", -1) + 1
    st.session_state["rec_random_seed"] = seed
    if pool:
        st.session_state[USER] = str(np.random.default_rng(seed).choice(pool))


# --- figures and tables --------------------------------------------------------------------------


def tradeoff_figure(curves: dict[str, pd.DataFrame], k: int, current: tuple[float, float]):
    fig = go.Figure()
    for label, table in curves.items():
        dashed = label.endswith("(baseline)")
        for strategy, rows in table.groupby("strategy", sort=False):
            hover = [
                f"{common.html_text(label)}<br>{rerank.STRATEGIES[strategy]} · boost {b:.2f}"
                f"<br>NDCG@{k} {n:.4f} · Recall@{k} {r:.4f}<br>tail share {a:.1%}"
                for b, n, r, a in zip(
                    rows["boost"],
                    rows[f"ndcg@{k}"],
                    rows[f"recall@{k}"],
                    rows[f"aplt@{k}"],
                    strict=True,
                )
            ]
            fig.add_scatter(
                x=rows[f"aplt@{k}"],
                y=rows[f"ndcg@{k}"],
                mode="lines+markers",
                name=f"{common.html_text(label, 40)} · {strategy}",
                hovertext=hover,
                hoverinfo="text",
                opacity=0.45 if dashed else 1.0,
                line=dict(color=STRATEGY_COLORS[strategy], dash="dot" if dashed else "solid"),
            )
    fig.add_scatter(
        x=[current[0]],
        y=[current[1]],
        mode="markers",
        name="current setting",
        marker=dict(symbol="star", size=18, color="black", line=dict(width=1, color="white")),
        hovertext=[f"current setting<br>tail share {current[0]:.1%} · NDCG@{k} {current[1]:.4f}"],
        hoverinfo="text",
    )
    fig.update_layout(
        title=f"Accuracy vs tail share over boost values 0 → 1 (validation, K = {k})",
        height=440,
        margin=dict(t=50, b=40),
        xaxis_title=f"tail share of the lists (APLT@{k})",
        yaxis_title=f"NDCG@{k} (validation)",
        legend=dict(orientation="h", yanchor="top", y=-0.18),
    )
    return fig


def history_frame(experiment, user: str, groups, titles) -> pd.DataFrame:
    rows = experiment.split.fit_train
    rows = rows[rows["user"] == user]
    if "timestamp" in rows:
        rows = rows.sort_values("timestamp", ascending=False)
    rows = rows.head(HISTORY_ROWS)
    pos = experiment.index.item_pos(rows["item"].to_numpy())
    frame = pd.DataFrame(
        {
            "item": rows["item"].to_numpy(),
            "title": np.asarray(titles, dtype=object)[pos],
            "band": [popularity.GROUP_NAMES[g] for g in groups[pos]],
        }
    )
    if "timestamp" in rows:
        frame.insert(0, "when", pd.to_datetime(rows["timestamp"].to_numpy(), unit="s").date)
    return frame


def band_style(frame: pd.DataFrame):
    return frame.style.map(lambda v: f"background-color: {BAND_COLORS.get(v, '')}", subset=["band"])


def column_config(parts: list[str]) -> dict:
    text, number = st.column_config.TextColumn, st.column_config.NumberColumn
    config = {
        "rank": number(width="small"),
        "rank before boost": number("before boost", width="small"),
        "rank before → after": text(width="small"),
        "title": text(width="medium"),
        "band": text(width="small"),
        "score": number(format="%.3f", width="small"),
        "because (similarity)": text(width="large"),
        "shared terms": text(width="medium"),
    }
    return config | {p: number(format="%.3f", width="small") for p in parts}


def metric_row(now: dict, before: dict, k: int) -> None:
    cols = st.columns(len(rerank.KPI_KEYS))
    for col, (label, template) in zip(cols, rerank.KPI_KEYS.items(), strict=True):
        key = template.format(k=k)
        value, base = now.get(key, np.nan), before.get(key, np.nan)
        delta = (
            None
            if np.isnan(value) or np.isnan(base) or round(value - base, 4) == 0
            else f"{value - base:+.4f}"
        )
        col.metric(
            f"{label}@{k}",
            "–" if np.isnan(value) else f"{value:.4f}",
            delta=delta,
            delta_color="inverse" if label == "Gini" else "normal",
            help=f"{key} on validation; delta against no boost ({base:.4f})",
        )


def file_safe(text: str) -> str:
    return re.sub(r"[^\w.-]", "_", text)[:60] or "user"


# --- page ----------------------------------------------------------------------------------------

data = common.current_dataset()
source = common.source_key(st.session_state[common.SOURCE])
rule, value = common.tail_setting()
try:
    data, experiment, groups = prepared(source, rule, value)
except Exception as exc:  # noqa: BLE001 - e.g. no user with enough positives to split
    common.show_error("Cannot build recommendations for this data", exc)
    st.stop()
users = [str(u) for u in experiment.index.user_ids]
titles = titles_of(data)
run_model, run_folder, run_stamp = run_choice()
models = [*([run_model] if run_model else []), scorers.BLEND, scorers.HYBRID_FROZEN]
models += [m for m in MODELS if m not in TRAINS_LM]

restore_from_url(models, users)
keep_valid(MODEL, models, models[0])  # the active run when there is one
keep_valid(STRATEGY, list(rerank.STRATEGIES), "penalty")
keep_valid(USER, users, users[0])
st.session_state.setdefault(BOOST, 0.0)
st.session_state.setdefault(K, K_CHOICES[0])

st.caption(
    f"{common.md(data.name, 80)}: models fitted on training minus validation "
    f"({experiment.split.kind} split, seed {SEED}); KPIs on the validation split. "
    f"Head/tail: {popularity.RULES[rule]} (x = {value:g}), set on the Data page."
)
c_model, c_k, c_strategy, c_boost = st.columns([2, 1, 2, 3])
model = c_model.selectbox("Model", models, format_func=model_label, key=MODEL)
k = c_k.selectbox("List length K", K_CHOICES, key=K)
strategy = c_strategy.selectbox(
    "Tail-boost strategy", list(rerank.STRATEGIES), format_func=rerank.STRATEGIES.get, key=STRATEGY
)
boost = c_boost.slider(
    "Tail boost", 0.0, 1.0, step=BOOST_STEP, key=BOOST, help=BOOST_HELP[strategy]
)

fit_as, stamp = (
    (f"{scorers.RUN_PREFIX}{run_folder}", run_stamp) if model == run_model else (model, 0)
)
try:
    cands = candidates(source, rule, value, fit_as, stamp)
except Exception as exc:  # noqa: BLE001 - a run for another catalogue, or not written yet
    if model == scorers.BLEND:
        common.show_error("Cannot fit the model", exc)
        st.stop()
    fallback = MODEL_LABELS[scorers.BLEND]
    st.warning(common.md(f"{common.error_line(exc)}. Showing the {fallback} instead.", 300))
    model, fit_as, stamp = scorers.BLEND, scorers.BLEND, 0
    cands = candidates(source, rule, value, fit_as, stamp)
if model == run_model:
    st.warning(
        "Fine-tuning runs hold out only each user's latest 10% of positives, so this page's "
        "validation rows were part of the run's training data: its KPIs here are optimistic.",
        icon=":material/warning:",
    )
holdout = experiment.tuning.holdout
ranked = rerank.rerank(cands, strategy, boost, k)
now = rerank.list_metrics(ranked.items, cands, holdout, k)
no_boost = tradeoff(source, rule, value, fit_as, k, stamp).query("boost == 0").iloc[0].to_dict()
metric_row(now, no_boost, k)

curves = {model_label(model): tradeoff(source, rule, value, fit_as, k, stamp)}
if model != BASELINE:
    curves[f"{MODEL_LABELS[BASELINE]} (baseline)"] = tradeoff(source, rule, value, BASELINE, k)
st.plotly_chart(
    tradeoff_figure(curves, k, (now[f"aplt@{k}"], now[f"ndcg@{k}"])),
    width="stretch",
    key="tradeoff_curve",
)
st.caption(
    "Each line sweeps the boost from 0 to 1 for one strategy; dotted lines are the "
    "collaborative baseline (EASE) under the same strategies."
)

# --- one user ------------------------------------------------------------------------------------
st.subheader("One user")
table = user_table(source, rule, value)
f_activity, f_taste, f_random, f_user = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
activity = f_activity.selectbox("Activity", ["any", *segments.ACTIVITY], key="rec_activity")
taste = f_taste.selectbox("Taste", ["any", *segments.TASTE], key="rec_taste")
pool = (
    table[
        ((table["activity"] == activity) | (activity == "any"))
        & ((table["taste"] == taste) | (taste == "any"))
    ]["user"]
    .astype(str)
    .tolist()
)
f_random.button(
    "Random user",
    on_click=pick_random_user,
    args=(pool,),
    width="stretch",
    help=f"A seeded draw from the {len(pool)} users of this segment",
)
user = f_user.selectbox("User (type to search)", users, key=USER)
f_user.checkbox(
    "Put the user in the shareable link",
    key=USER_IN_LINK,
    help="Off by default: user ids can be personal data and URLs end up in browser history, "
    "proxy logs and shared messages.",
)
update_url(model, strategy, boost, user)

u = users.index(user)
row = table.iloc[u]
history = experiment.tuning.train[u].indices
explanations = explain.explain_user(
    u,
    cands,
    ranked,
    history,
    similarities(source, rule, value, *active_run()),
    terms=lambda pos: explain.item_terms(data.items, data.text_columns, pos),
)
frame = explain.explanations_frame(explanations, experiment.index.item_ids, titles)
list_tail = float(np.mean(frame["band"] != "head")) if len(frame) else 0.0

m1, m2, m3 = st.columns(3)
m1.metric(
    "Segment",
    f"{row['activity']} · {row['taste']}",
    help=f"{row['n_history']} training positives; medians split the users",
)
m2.metric("Tail share · history", f"{row['tail_share']:.0%}")
m3.metric(
    "Tail share · this list",
    f"{list_tail:.0%}",
    delta=f"{list_tail - row['tail_share']:+.0%} vs history",
)
if "rec_random_seed" in st.session_state:
    st.caption(f"Random user drawn with seed {st.session_state['rec_random_seed']}.")

parts = [name.replace("_", " ") for name in cands.parts] + ["tail boost"]
frame["rank before → after"] = [
    f"{b} → {a}" for b, a in zip(frame["rank before boost"], frame["rank"], strict=True)
]
left, right = st.columns([2, 3])
left.markdown("**Recent history** (training)")
recent = history_frame(experiment, user, groups, titles)
left.dataframe(
    band_style(recent),
    hide_index=True,
    width="stretch",
    column_order=[c for c in ("when", "title", "band") if c in recent],
)
right.markdown(f"**Top {k}** · {rerank.STRATEGIES[strategy]}, boost {boost:.2f}")
right.dataframe(
    band_style(frame),
    hide_index=True,
    width="stretch",
    key="rec_list",
    column_order=["rank", "rank before boost", "title", "band", "score"],
    column_config=column_config(parts),
)

st.markdown("**Why these items**")
st.dataframe(
    band_style(frame),
    hide_index=True,
    width="stretch",
    key="rec_why",
    column_order=[
        "rank",
        "title",
        "band",
        "rank before → after",
        "score",
        *parts,
        "because (similarity)",
        "shared terms",
    ],
    column_config=column_config(parts),
)
st.caption(
    "Score = model parts + tail boost, in units of this user's candidate score range "
    "(it is what the list is ordered by). Because: the user's history items most similar "
    "to the item — item-item cosine when the collaborative part dominates, else text "
    "cosine — with the similarity; shared terms are catalogue terms they have in common."
)

d1, d2 = st.columns(2)
d1.download_button(
    "Download this user's list (CSV)",
    common.csv_bytes(frame.drop(columns="rank before → after")),
    file_name=f"recommendations_{file_safe(user)}.csv",
    mime="text/csv",
    width="stretch",
)
d2.download_button(
    "Download all users' lists (CSV)",
    lambda: common.csv_bytes(
        explain.lists_frame(
            cands, ranked, experiment.index.user_ids, experiment.index.item_ids, titles
        )
    ),
    file_name=f"recommendations_{model}_{strategy}_{boost:g}.csv",
    mime="text/csv",
    width="stretch",
)
