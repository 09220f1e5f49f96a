"""Recommendations page: one user's list and why, and a live tail-boost what-if over all users.

Models are fitted on the training split minus validation and every user's top-200 candidates are
cached once; the boost slider only re-ranks those (see ``recsys.whatif.rerank``). KPIs and the
trade-off curve are measured on the validation split, never on test. The modelling is
``recsys.report.analysis`` (the same calls the stakeholder report makes) and
``recsys.whatif.audience`` (who a new item would reach); this file only lays it out.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages import common
from pages.rec_models import (
    SEED,
    baseline_of,
    best_model,
    candidates,
    finished_runs,
    fit_key,
    holdout_in,
    prepared,
    reach_of,
    sample_of,
    similarities,
    terms_of,
    tradeoff,
    user_candidates,
    user_table,
    warm_status,
)
from recsys.data import popularity, segments
from recsys.models import MODELS
from recsys.models.scope import EmptyScope
from recsys.report import analysis
from recsys.report.html import render, setting_figure, tradeoff_figure
from recsys.runs.folder import RunFolder
from recsys.whatif import audience, explain, rerank, scorers

K_CHOICES = (10, 20)
HISTORY_ROWS = 15
BOOST_STEP = 0.05
# Widget keys; the first four are mirrored in the URL under the short names.
MODEL, STRATEGY, BOOST, USER, K = "rec_model", "rec_strategy", "rec_boost", "rec_user", "rec_k"
SCOPE, NEW_ITEM, AUTO_MODEL = "rec_scope", "rec_new_item", "rec_model_auto"
URL_KEYS = {"model": MODEL, "strategy": STRATEGY, "boost": BOOST, "user": USER, "scope": SCOPE}
SCOPE_LABELS = {"all": "All items", "tail": "Long tail", "cold": "New items"}
USER_IN_LINK = "rec_user_in_link"  # opt-in: user ids can be personal data, kept out of URLs
MODEL_LABELS = analysis.MODEL_LABELS
TRAINS_LM = {"lm", "hybrid"}  # fine-tune a language model when fitted: the Fine-tune page's job
BAND_COLORS = {"head": "#dbe7f3", "tail": "#fbe3c4", "cold": "#f6d0d5"}
BOOST_HELP = {
    "penalty": "Adds boost × (1 − log popularity / log max popularity) to every score.",
    "xquad": "xQuAD weight λ: relevance (1 − λ) against covering head and tail in the user's "
    "own proportions (λ).",
    "target": "Minimum share of tail and cold items in every prefix of the list.",
}

common.init_state()
st.title("Recommendations")


def chosen_by_hand() -> None:
    st.session_state[AUTO_MODEL] = False


@st.fragment(run_every=3)
def warming_note(warm, label: str) -> None:
    """Progress of the background warm-up; reruns the page once the best model is ready."""
    if not st.session_state.get(AUTO_MODEL) or warm.finished or warm.error:
        st.rerun(scope="app")
    if not warm.pending(fit_key(best, runs)):
        st.rerun(scope="app")
    seconds = time.monotonic() - warm.started
    st.progress(
        warm.done / len(warm.steps),
        text=f"Preparing {common.md(label, 80)} in the background: step {warm.done + 1} of "
        f"{len(warm.steps)} ({common.md(warm.current, 60)}), {seconds:.0f} s so far. Showing "
        f"the {MODEL_LABELS[scorers.BLEND]} meanwhile; the page switches when it is ready, "
        "or pick it under Model to wait for it.",
    )


def model_label(choice: str) -> str:
    return analysis.model_label(choice)


def optimistic_note(folder: str, experiment) -> str | None:
    """Why a run's KPIs would be optimistic, or None: the run's own config says how many
    positives it trained on; more than this page's training minus validation means some
    validation rows were in its training data."""
    trained = RunFolder(folder).read_config().get("train")
    fit_on = int(experiment.tuning.train.nnz)
    if isinstance(trained, int) and trained <= fit_on:
        return None
    seen = f"{trained} positives" if isinstance(trained, int) else "an unknown split"
    return (
        f"This run's text tower was trained on {seen}, more than this page's training minus "
        f"validation ({fit_on}): some validation rows were in its training data, so its KPIs "
        "here are optimistic."
    )


@st.cache_resource(max_entries=4, ttl=common.DATASET_TTL_S)
def titles_of(source: tuple) -> list[str]:
    """Display titles, once per dataset (not per rerun); never mutated."""
    return analysis.titles(common._load(source))


def report_of(settings: analysis.Settings, fit_as: str, stamp: float):
    """The stakeholder report of ``settings`` as a no-argument callable for a download button.

    It runs when the button is clicked, outside this script run (no session state there): it
    reads only what it is given, and the page's cached candidates (the baseline too; none for
    new items, which a collaborative model cannot rank), so nothing is fitted twice.
    """
    key, rule_, value_, base_name = source, rule, value, baseline

    def make() -> bytes:
        _, exp, bands = prepared(key, rule_, value_)
        s = settings
        base = None
        if s.scope != "cold":
            base = candidates(key, rule_, value_, base_name, 0.0, s.scope)
        cands = candidates(key, rule_, value_, fit_as, stamp, s.scope)
        found = analysis.assemble(s, data, exp, bands, cands, base, base_name)
        return render(found).encode("utf-8")

    return make


def data_argument() -> str:
    """``--data`` for the report's command line: the sample or a MovieLens folder; other
    sources (uploads) by name (the command then names the files, see :func:`upload_of`)."""
    chosen = st.session_state[common.SOURCE]
    if chosen.get("kind") == "sample":
        return "sample"
    if chosen.get("kind") == "movielens":
        return common.without_server_paths(str(chosen.get("path", "")))
    return data.name


def upload_of(chosen: dict) -> analysis.Upload | None:
    """An uploaded source as the report names it: each file by the name it was uploaded under
    and its content hash (the upload cache names files by their SHA-256), never the cache path."""
    if chosen.get("kind") != "upload":
        return None

    def named(role: str, name: str | None) -> analysis.UploadedFile:
        path = Path(str(chosen[role]))
        placeholder = f"{role.upper()}_FILE{path.suffix}"  # the name was not kept
        return analysis.UploadedFile(role, Path(name or placeholder).name, path.stem[:12])

    return analysis.Upload(
        interactions=named("interactions", chosen.get("name")),
        items=named("items", chosen.get("items_name")),
        columns=tuple(sorted(dict(chosen.get("mapping") or {}).items())),
        item_column=chosen.get("item_column"),
        text_columns=tuple(chosen.get("text_columns") or ()),
        options=tuple(sorted(dict(chosen.get("options") or {}).items())),
    )


# --- controls and shareable state ----------------------------------------------------------------


def restore_from_url(models: list[str], users: list[str]) -> None:  # noqa: C901
    """Once per session: adopt model, strategy, boost and user from the URL when they are valid."""
    if st.session_state.get("rec_url_read"):
        return
    st.session_state["rec_url_read"] = True
    url = st.query_params
    model = url.get("model") or ""
    run = scorers.run_folder(model)
    if run is not None and model not in models:  # a report's link names the run by its folder
        model = f"{scorers.HYBRID_RUN_PREFIX}{Path(run).name}"
    if model in models:
        st.session_state[MODEL] = model
    if url.get("strategy") in rerank.STRATEGIES:
        st.session_state[STRATEGY] = url["strategy"]
    if url.get("scope") in SCOPE_LABELS:
        st.session_state[SCOPE] = url["scope"]
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


def update_url(model: str, strategy: str, boost: float, user: str, scope: str) -> None:
    """Mirror the controls in the URL; the user only when the analyst opted in."""
    st.query_params.update({"model": model, "strategy": strategy, "boost": f"{boost:g}"})
    if scope != "all":
        st.query_params["scope"] = scope
    elif "scope" in st.query_params:
        del st.query_params["scope"]
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


@st.cache_data(max_entries=64, ttl=600)
def history_frame(source: tuple, rule: str, value: float, user: str) -> pd.DataFrame:
    """The user's latest training rows, newest first (cached: it does not change with boost)."""
    _, experiment, groups = prepared(source, rule, value)
    titles = titles_of(source)
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


@st.cache_resource(max_entries=16, ttl=600)
def curves_figure(
    source: tuple,
    rule: str,
    value: float,
    fit_as: str,
    k: int,
    stamp: float,
    scope: str,
    label: str,
    with_baseline: bool,
):
    """The trade-off curves without the chosen point: one figure object per setting, so its
    chart is the same at every slider move and the browser does not draw it again (plotly
    figures take ~0.1 s to build and ~0.3 s to draw); never mutated."""
    curves = {label: tradeoff(source, rule, value, fit_as, k, stamp, scope)}
    if with_baseline:
        curves[baseline_label] = tradeoff(source, rule, value, baseline, k, 0.0, scope)
    return tradeoff_figure(curves, k, None)


def band_column():
    """The band as a coloured label: a column setting, not a pandas Styler (styling a frame
    costs ~50 ms per table at every rerun)."""
    return st.column_config.MultiselectColumn(
        "band", options=list(BAND_COLORS), color=list(BAND_COLORS.values()), width="small"
    )


def column_config(parts: list[str]) -> dict:
    text, number = st.column_config.TextColumn, st.column_config.NumberColumn
    config = {
        "rank": number(width="small"),
        "rank before boost": number("before boost", width="small"),
        "rank before → after": text(width="small"),
        "title": text(width="medium"),
        "band": band_column(),
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
titles = titles_of(source)
baseline = baseline_of(source, rule, value)  # EASE where it fits the memory budget, else ItemKNN
baseline_label = f"{MODEL_LABELS[baseline]} (baseline)"
sample = sample_of(source, rule, value)
runs = finished_runs(Path(st.session_state[common.RUNS_DIR]), st.session_state[common.ACTIVE_RUN])
all_models = [*runs, scorers.HYBRID_FROZEN, scorers.BLEND]
all_models += [m for m in MODELS if m not in TRAINS_LM]
best = best_model(runs)  # a finished run's hybrid, else the frozen-MiniLM hybrid
if MODEL not in st.session_state and "model" not in st.query_params:
    st.session_state[AUTO_MODEL] = True  # the page picks the model until the analyst does

restore_from_url(all_models, users)
keep_valid(SCOPE, list(SCOPE_LABELS), "all")
keep_valid(STRATEGY, list(rerank.STRATEGIES), "penalty")
keep_valid(USER, users, users[0])
st.session_state.setdefault(BOOST, 0.0)
st.session_state.setdefault(K, K_CHOICES[0])

st.caption(
    f"{common.md(data.name, 80)}: every model is fitted on the training split minus validation "
    f"({experiment.split.kind} split, seed {SEED}); the KPIs, the trade-off curve and the lists' "
    "tail shares are measured on the validation split, which no part of the model was fitted "
    f"or tuned on; test is never used here. Head/tail: {popularity.RULES[rule]} "
    f"(x = {value:g}), set on the Data page, for every band, badge and KPI on this page."
)
scope = st.radio(
    "Candidates",
    list(SCOPE_LABELS),
    format_func=SCOPE_LABELS.get,
    key=SCOPE,
    horizontal=True,
    help="All items; the long tail (outside the head, new items included); or new items only "
    "(no training interaction), with who a chosen new item would reach.",
)
fit_of = {m: fit_key(m, runs)[0] for m in all_models}
models = all_models
if scope == "cold":
    models = [m for m in all_models if scorers.scores_cold_items(fit_of[m])]
    left_out = [model_label(m) for m in all_models if m not in models]
    st.caption(
        "Not offered for new items: "
        + common.md(", ".join(left_out), 300)
        + " (they learn only from interactions and give every new item the same score)."
    )
warm = warm_status()
waiting = warm is not None and warm.pending(fit_key(best, runs)) and best in models
if st.session_state.get(AUTO_MODEL):
    # The best model takes minutes to fit on a small CPU: while the warm-up is still fitting
    # it, the first view shows the blend (seconds) and switches once it is ready.
    st.session_state[MODEL] = scorers.BLEND if waiting else best
keep_valid(MODEL, models, best if best in models else models[0])
if waiting and st.session_state.get(AUTO_MODEL):
    warming_note(warm, model_label(best))

c_model, c_k, c_strategy, c_boost = st.columns([2, 1, 2, 3])
model = c_model.selectbox(
    "Model", models, format_func=model_label, key=MODEL, on_change=chosen_by_hand
)
k = c_k.selectbox("List length K", K_CHOICES, key=K)
strategy = c_strategy.selectbox(
    "Tail-boost strategy", list(rerank.STRATEGIES), format_func=rerank.STRATEGIES.get, key=STRATEGY
)
boost = c_boost.slider(
    "Tail boost", 0.0, 1.0, step=BOOST_STEP, key=BOOST, help=BOOST_HELP[strategy]
)

fit_as, stamp = fit_key(model, runs)
run_folder = runs[model][0] if model in runs else None
try:
    holdout = holdout_in(experiment, rule, value, scope)
except EmptyScope as exc:
    common.show_error("No candidates in this scope", exc)
    st.stop()
try:
    cands = candidates(source, rule, value, fit_as, stamp, scope)
except Exception as exc:  # noqa: BLE001 - a run for another catalogue, or not written yet
    if model == scorers.BLEND:
        common.show_error("Cannot fit the model", exc)
        st.stop()
    fallback = MODEL_LABELS[scorers.BLEND]
    st.warning(common.md(f"{common.error_line(exc)}. Showing the {fallback} instead.", 300))
    model, fit_as, stamp, run_folder = scorers.BLEND, scorers.BLEND, 0.0, None
    cands = candidates(source, rule, value, fit_as, stamp, scope)
if run_folder is not None and (note := optimistic_note(run_folder, experiment)):
    st.warning(note, icon=":material/warning:")
ranked = rerank.rerank(cands, strategy, boost, k)
now = rerank.list_metrics(ranked.items, cands, holdout, k)
curve = tradeoff(source, rule, value, fit_as, k, stamp, scope)
no_boost = curve.query("boost == 0 and strategy == @strategy").iloc[0].to_dict()
metric_row(now, no_boost, k)

with_baseline = scope != "cold" and model != baseline
c_curves, c_setting = st.columns([3, 2])
c_curves.plotly_chart(
    curves_figure(source, rule, value, fit_as, k, stamp, scope, model_label(model), with_baseline),
    width="stretch",
    key="tradeoff_curve",
)
c_setting.plotly_chart(
    setting_figure(curve, model_label(model), strategy, k, (now[f"aplt@{k}"], now[f"ndcg@{k}"])),
    width="stretch",
    key="tradeoff_setting",
)
st.caption(
    f"Right: the current setting (★, boost {boost:.2f}) on this model's "
    f"{rerank.STRATEGIES[strategy]} line, ringed where the boost is 0. Left: each line sweeps "
    "the boost from 0 to 1 for one strategy, on the validation split"
    + (
        f"; dotted lines are the collaborative baseline ({MODEL_LABELS[baseline]}) under the "
        "same strategies."
        if with_baseline
        else "."
    )
    + (
        f" KPIs and curves are over a seeded sample (seed {SEED}) of {len(sample):,} of the "
        f"{len(users):,} users, those with validation items; any user's list below is "
        "computed when picked."
        if sample is not None
        else ""
    )
    + (
        " New items: lists and KPIs hold only items with no training interaction, judged on "
        f"the validation positives among them; {MODEL_LABELS[baseline]} cannot rank them, so "
        "there is no baseline."
        if scope == "cold"
        else " Long tail: lists hold only items outside the head, judged on the validation "
        "positives among them."
        if scope == "tail"
        else ""
    )
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
update_url(model, strategy, boost, user, scope)

u = users.index(user)
row = table.iloc[u]
history = experiment.tuning.train[u].indices
user_cands, at = user_candidates(source, rule, value, fit_as, stamp, scope, u)
user_ranked = ranked if user_cands is cands else rerank.rerank(user_cands, strategy, boost, k)
explanations = explain.explain_user(
    at,
    user_cands,
    user_ranked,
    history,
    similarities(source, rule, value, run_folder, stamp),
    terms=terms_of(source),
)
frame = explain.explanations_frame(explanations, experiment.index.item_ids, titles)
list_tail = float(np.mean(frame["band"] != "head")) if len(frame) else 0.0
base_frame = None
if with_baseline:
    base_cands, base_at = user_candidates(source, rule, value, baseline, 0.0, scope, u)
    base_items = rerank.rerank(base_cands, strategy, boost, k).items[base_at]
    base_frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(base_items) + 1),
            "title": np.asarray(titles, dtype=object)[base_items],
            "band": [popularity.GROUP_NAMES[g] for g in groups[base_items]],
        }
    )

m1, m2, m3, m4 = st.columns(4)
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
if base_frame is not None:
    m4.metric(
        f"Tail share · {MODEL_LABELS[baseline]} list",
        f"{float(np.mean(base_frame['band'] != 'head')):.0%}",
        help="What the collaborative baseline shows this user, same strategy and boost",
    )
if "rec_random_seed" in st.session_state:
    st.caption(f"Random user drawn with seed {st.session_state['rec_random_seed']}.")

parts = [name.replace("_", " ") for name in user_cands.parts] + ["tail boost"]
frame["rank before → after"] = [
    f"{b} → {a}" for b, a in zip(frame["rank before boost"], frame["rank"], strict=True)
]
left, right = st.columns(2)
left.markdown(
    f"**{common.md(model_label(model), 80)}** · top {k}, {rerank.STRATEGIES[strategy]}, "
    f"boost {boost:.2f}"
)
LIST_COLUMNS = ["rank", "rank before boost", "title", "band", "score"]
left.dataframe(
    frame[["item", *LIST_COLUMNS]],
    hide_index=True,
    width="stretch",
    key="rec_list",
    column_order=LIST_COLUMNS,
    column_config=column_config(parts),
)
if base_frame is not None:
    right.markdown(
        f"**{MODEL_LABELS[baseline]} (collaborative baseline)** · same strategy and boost"
    )
    right.dataframe(
        base_frame,
        hide_index=True,
        width="stretch",
        key="rec_baseline",
        column_config=column_config([]),  # title and band fit beside each other
    )
else:
    right.info(
        f"No collaborative baseline here: {MODEL_LABELS[baseline]} learns only from "
        "interactions and cannot rank new items."
        if scope == "cold"
        else "This is the collaborative baseline itself."
    )

st.markdown("**Why these items**")
st.dataframe(
    frame,
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
with st.expander("Recent history (training)"):
    recent = history_frame(source, rule, value, user)
    st.dataframe(
        recent,
        hide_index=True,
        width="stretch",
        column_order=[c for c in ("when", "title", "band") if c in recent],
        column_config={"band": band_column()},
    )

# --- one new item: who it would reach ---------------------------------------------------------
if scope == "cold":
    st.subheader("Who would a new item reach?")
    cold = [int(i) for i in np.flatnonzero(groups == popularity.COLD)]
    first = int(user_ranked.items[at][0]) if len(user_ranked.items[at]) else cold[0]
    keep_valid(NEW_ITEM, cold, first)  # the top new item of this user's list
    item = st.selectbox(
        "New item",
        cold,
        format_func=lambda i: common.clip(titles[i], 100),
        key=NEW_ITEM,
        help="Any item with no training interaction",
    )
    reach = reach_of(source, rule, value, fit_as, stamp, int(item), run_folder)
    reached = audience.audience_frame(reach, users, titles)
    st.dataframe(reached, hide_index=True, width="stretch", key="rec_audience")
    st.caption(
        f"The {len(reach)} users"
        + (f" (of the {len(sample):,} sampled)" if sample is not None else "")
        + " whose new-items list this item would enter highest (rank "
        "among every new item they have not seen; then the score in units of the user's own "
        "range). Because: the items in that user's history closest to it in text."
    )

d1, d2, d3 = st.columns(3)
d1.download_button(
    "Download this user's list (CSV)",
    lambda shown=frame: common.csv_bytes(shown.drop(columns="rank before → after")),
    file_name=f"recommendations_{file_safe(user)}.csv",
    mime="text/csv",
    width="stretch",
)
d2.download_button(
    "Download all users' lists (CSV)"
    if sample is None
    else "Download the sampled users' lists (CSV)",
    lambda: common.csv_bytes(
        explain.lists_frame(
            cands, ranked, experiment.index.user_ids, experiment.index.item_ids, titles
        )
    ),
    file_name=f"recommendations_{file_safe(model)}_{strategy}_{boost:g}.csv",
    mime="text/csv",
    width="stretch",
)
d3.download_button(
    "Download the stakeholder report (HTML)",
    report_of(
        analysis.Settings(
            data=data_argument(),
            model=common.without_server_paths(fit_as),  # a run by ./runs/NAME, no server path
            strategy=strategy,
            boost=float(boost),
            k=int(k),
            head_rule=rule,  # type: ignore[arg-type]
            head_value=value,
            seed=SEED,
            scope=scope,  # type: ignore[arg-type]
            upload=upload_of(st.session_state[common.SOURCE]),
        ),
        fit_as,
        stamp,
    ),
    file_name=f"longtail_report_{file_safe(model)}_{scope}_{strategy}_{boost:g}.html",
    mime="text/html",
    width="stretch",
    key="rec_report",
    help="One self-contained HTML file of these settings (no network needed to open it): "
    f"dataset, model and boost, KPIs against {MODEL_LABELS[baseline]}, the trade-off curve, "
    "three example users, and how to reproduce it.",
)
