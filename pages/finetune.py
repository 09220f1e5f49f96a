"""Fine-tune page: launch a fine-tuning run, watch it live, cancel it, reuse past runs.

Every run's state is read back from its run folder (:mod:`recsys.runs`), never kept in the
session, so a reload or a second tab shows the same live run and a closed tab loses nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import common
from recsys.runs import history, launch, liveness, timing
from recsys.runs.folder import BEST, EMBEDDINGS, STOP, RunFolder

POLL_S = 1.0
WATCH = "finetune_watch"  # session state: per-run {"offset", "records"} read so far
CONFIRM_DELETE = "finetune_confirm_delete"
REGIMES = {
    "auto": "auto (full on a GPU, adapter on a CPU)",
    "full": "full: all layers",
    "top-N": "top-N: train the top N layers, cache the frozen ones",
    "adapter": "adapter: frozen LM vectors + a small trained head (fastest on a CPU)",
}
STATE_LABELS = {"stopped": "cancelled", "stopping": "cancelling"}

common.init_state()
st.title("Fine-tune")
st.caption(
    "Fine-tune the language model on the loaded dataset in a background process. The run keeps "
    "going if you close this tab; reopen the page to follow it."
)
RUNS_DIR = Path(st.session_state[common.RUNS_DIR])


@st.cache_resource(show_spinner=False)
def device_name(device: str) -> str:
    from recsys.lm.encoder import describe_device

    return describe_device(device)


@st.cache_resource(show_spinner=False)
def devices() -> list[str]:
    import torch

    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@st.cache_data(show_spinner=False, ttl=60)
def encoding_seconds(source_key: tuple, model: str | None) -> float:
    """0 when the catalogue's vectors are in the encoder cache; rechecked every minute."""
    return timing.encoding_seconds(common._load(source_key).item_text(), model)


# --------------------------------------------------------------------------- launch form


def model_choice() -> str | None:
    """None for the packaged MiniLM, else a checked local folder."""
    kind = st.radio(
        "Base model",
        ["packaged", "folder"],
        format_func={
            "packaged": "Packaged MiniLM (all-MiniLM-L6-v2)",
            "folder": "Local folder",
        }.get,
        horizontal=True,
        key="ft_model_kind",
    )
    if kind == "packaged":
        return None
    found = history.model_folders(common.data_roots())
    picked = st.selectbox(
        "Model folders found", found, format_func=str, index=None, key="ft_model_found"
    )
    typed = st.text_input("…or a folder path (inside the allowed data folders)", key="ft_model")
    if typed:
        picked = common.resolve_inside_roots(typed)
    if picked is None:
        raise ValueError("Choose a model folder or type its path.")
    return str(history.check_model_folder(picked))


def config_form() -> launch.TrainConfig:
    c1, c2 = st.columns([3, 1])
    regime = c1.selectbox("Regime", list(REGIMES), format_func=REGIMES.get, key="ft_regime")
    top = c2.number_input("N (top layers)", 1, 24, 2, key="ft_top", disabled=regime != "top-N")
    d = launch.TrainConfig()  # the defaults of `recsys train`
    c = st.columns(5)
    epochs = c[0].number_input("Epochs", 1, 200, d.epochs, key="ft_epochs")
    batch = c[1].number_input("Batch size", 8, 8192, d.batch_size, step=8, key="ft_batch")
    lr = c[2].number_input("Learning rate", 1e-6, 1.0, d.lr, format="%.0e", key="ft_lr")
    seed = c[3].number_input("Seed", 0, 2**31 - 1, d.seed, key="ft_seed")
    device = c[4].selectbox("Device", devices(), key="ft_device")
    with st.expander("Advanced"):
        max_steps = st.number_input(
            "Stop after at most this many steps (0 = no limit)",
            0,
            10**7,
            0,
            key="ft_max_steps",
            help="A quick check that data, model and device work before a long run.",
        )
    return launch.TrainConfig(
        regime=regime,
        top_layers=int(top),
        epochs=int(epochs),
        batch_size=int(batch),
        lr=float(lr),
        seed=int(seed),
        device=device,
        max_steps=int(max_steps) or None,
    )


def launch_section(data) -> None:
    st.subheader("New run")
    st.markdown(
        f"**Dataset:** {common.md(data.name, 80)} · {len(data.interactions):,} interactions · "
        f"{len(data.items):,} items — change it on the Data page"
    )
    try:
        model = model_choice()
    except ValueError as exc:  # a typed path outside the allowed folders, or not a model
        common.show_error("Cannot use that model", exc)
        return
    config = config_form()
    config.model = model
    st.badge(device_name(config.device), icon=":material/memory:", help="where training runs")
    encode = encoding_seconds(common.source_key(st.session_state[common.SOURCE]), model)
    estimate = timing.estimate_epoch(RUNS_DIR, len(data.interactions), config, encode)
    st.caption(f"Estimated time: {estimate}.")
    if st.button("Launch", type="primary", key="ft_launch"):
        try:
            run_id = launch.launch(
                RUNS_DIR, st.session_state[common.SOURCE], config, dataset_name=data.name
            )
        except (launch.Busy, ValueError, OSError) as exc:
            common.show_error("Cannot launch the run", exc, expected=(launch.Busy,))
        else:
            st.toast(f"Started run {common.md(run_id, 80)}")
            st.rerun()


# --------------------------------------------------------------------------- live panel


def has_model(run_dir: Path) -> bool:
    """Whether a run has a validated model: best checkpoint and item embeddings."""
    return (run_dir / BEST).exists() and (run_dir / EMBEDDINGS).exists()


def watched(run_id: str) -> dict:
    cache = st.session_state.setdefault(WATCH, {})
    return cache.setdefault(run_id, {"offset": 0, "records": []})


def loss_figure(steps: list[dict]) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=[r.get("global_step", r["step"]) for r in steps],
            y=[r["loss"] for r in steps],
            mode="lines" if len(steps) > 20 else "lines+markers",  # one point draws no line
            line=dict(color="#30638e"),
            name="loss",
        )
    )
    fig.update_layout(
        title="Training loss",
        xaxis_title="step",
        yaxis_title="loss",
        height=320,
        margin=dict(t=40, b=40),
    )
    return fig


def validation_figure(epochs: list[dict]) -> go.Figure:
    fig = go.Figure()
    x = [r["epoch"] for r in epochs]
    for key, name, colour in (
        ("recall@20", "Recall@20", "#30638e"),
        ("tail_recall@20", "tail-Recall@20", "#d1495b"),
    ):
        y = [(r.get("validation") or {}).get(key) for r in epochs]
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=name, line=dict(color=colour))
    fig.update_layout(
        title="Validation per epoch",
        xaxis_title="epoch",
        xaxis=dict(dtick=max(1, math.ceil(len(x) / 10)), range=[0.5, max(x) + 0.5]),
        yaxis_title="recall",
        height=320,
        margin=dict(t=40, b=40),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def run_panel(run_id: str) -> None:
    """One look at a run; re-run every POLL_S seconds by the fragment while the run is live."""
    run_dir = RUNS_DIR / run_id
    seen = watched(run_id)
    polled = liveness.poll(run_dir, seen["offset"])
    seen["records"] += polled.records
    seen["offset"] = polled.offset
    records = seen["records"]
    if polled.ended and st.session_state.get(f"ft_live_{run_id}"):
        st.session_state[f"ft_live_{run_id}"] = False
        st.rerun(scope="app")  # the run ended: stop polling and refresh the history table
    config = RunFolder(run_dir).read_config()
    progress = timing.progress_of(polled.status, records, config)
    stopping = not polled.ended and (run_dir / STOP).exists()
    label = "cancelling" if stopping else STATE_LABELS.get(polled.state, polled.state)

    st.subheader(f"Run {common.md(run_id, 80)}")
    st.progress(progress.fraction, text=f"{common.md(label, 40)} · {progress.text}")
    if polled.state == "failed":
        st.error(f"Failed: {common.md(polled.message, common.ERROR_LIMIT)}")
    elif polled.state == "stopped":
        best = RunFolder(run_dir).read_metrics().get("best_epoch")
        st.warning(
            f"Cancelled. Its best model so far (epoch {best}) stays usable."
            if has_model(run_dir)
            else "Cancelled before the first epoch ended: no validated model to use."
        )
    elif polled.state == "finished":
        st.success("Finished.")
    if not polled.ended and not stopping and st.button("Cancel run", key=f"ft_cancel_{run_id}"):
        launch.cancel(run_dir)
        st.rerun(scope="fragment")  # show "cancelling" at once

    steps = [r for r in records if r.get("kind") == "step" and "loss" in r]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    left, right = st.columns(2)
    if steps:
        left.plotly_chart(loss_figure(steps), width="stretch", key=f"ft_loss_{run_id}")
    else:
        left.caption("The loss curve appears after the first training step.")
    if epochs:
        right.plotly_chart(validation_figure(epochs), width="stretch", key=f"ft_val_{run_id}")
    else:
        right.caption("Validation Recall@20 and tail-Recall@20 appear after the first epoch.")
    with st.expander("Log (last lines)", expanded=polled.state == "failed"):
        st.code(liveness.log_tail(run_dir, 40) or "(empty)", language=None)


def live_section(rows: list[dict]) -> None:
    """The running run if any (whoever launched it), else the newest run."""
    if not rows:
        return
    live = [r for r in rows if r["state"] in liveness.ACTIVE]
    run_id = (live or rows)[0]["run"]
    st.session_state[f"ft_live_{run_id}"] = bool(live)
    st.fragment(run_every=POLL_S if live else None, key="ft_panel")(run_panel)(run_id)


# --------------------------------------------------------------------------- history


def history_table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["state"] = frame["state"].map(lambda s: STATE_LABELS.get(s, s))
    frame["duration"] = frame["duration_s"].map(timing.format_seconds)
    frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True).dt.strftime(
        "%Y-%m-%d %H:%M"
    )
    return frame[
        [
            "run",
            "state",
            "dataset",
            "model",
            "regime",
            "device",
            "epochs",
            "duration",
            "best_epoch",
            "recall@20",
            "tail_recall@20",
            "started",
            "message",
        ]
    ]


def history_section(rows: list[dict]) -> None:
    st.subheader("Run history")
    if not rows:
        st.info("No runs yet. Launch one above; it will be listed here.")
        return
    st.dataframe(
        history_table(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "recall@20": st.column_config.NumberColumn("R@20", format="%.4f"),
            "tail_recall@20": st.column_config.NumberColumn("tail-R@20", format="%.4f"),
            "best_epoch": st.column_config.NumberColumn("best epoch"),
        },
    )
    names = [r["run"] for r in rows]
    active = st.session_state[common.ACTIVE_RUN]
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    picked = c1.selectbox(
        "Run",
        names,
        index=names.index(active) if active in names else 0,
        format_func=lambda n: n + (" (active model)" if n == active else ""),
        key="ft_pick",
    )
    usable = has_model(RUNS_DIR / picked)
    if c2.button(
        "Use as active model",
        key="ft_use",
        width="stretch",
        disabled=not usable,
        help=None if usable else "This run has no trained model yet (no epoch finished).",
    ):
        st.session_state[common.ACTIVE_RUN] = picked
        st.toast(f"Active model: run {common.md(picked, 80)}")
        st.rerun()
    if c3.button("Delete…", key="ft_delete", width="stretch"):
        st.session_state[CONFIRM_DELETE] = picked
    confirm_delete()


def confirm_delete() -> None:
    name = st.session_state.get(CONFIRM_DELETE)
    if not name:
        return
    st.warning(f"Delete run {common.md(name, 80)} and all its files? This cannot be undone.")
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Yes, delete", type="primary", key="ft_delete_yes"):
        st.session_state[CONFIRM_DELETE] = None
        try:
            history.delete(RUNS_DIR, name)
        except (launch.Busy, ValueError, OSError) as exc:
            common.show_error("Cannot delete the run", exc, expected=(launch.Busy,))
            return
        if st.session_state[common.ACTIVE_RUN] == name:
            st.session_state[common.ACTIVE_RUN] = None
        st.session_state.get(WATCH, {}).pop(name, None)
        st.rerun()
    if c2.button("Keep", key="ft_delete_no"):
        st.session_state[CONFIRM_DELETE] = None
        st.rerun()


data = common.current_dataset()
launch_section(data)
rows = history.history(RUNS_DIR)
live_section(rows)
history_section(rows)
