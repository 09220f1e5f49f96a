"""Untrusted text through every page comes back inert (issue 14: F3, F12-F16).

One dataset whose upload name, item titles and category values, and one run whose folder name,
are Markdown links and images, HTML tags, Streamlit directives and bold markers. Every element
that renders Markdown (text, captions, alerts, headers, widget labels and help) must hold them
escaped, and plotly trace names and hover text HTML-escaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from pages import common
from recsys.maps import projection
from recsys.maps.neighbours import normalise
from recsys.runs import timing
from recsys.runs.folder import RunFolder

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "pages"
PAYLOADS = [
    "[x](https://attacker.example)",
    "![x](https://attacker.example/p.png)",
    "<img src=x onerror=alert(1)>",
    ":red[big]",
    "**bold**",
    "$x^2$ :material/home:",
]
UPLOAD_NAME = "[x](https://attacker.example).csv"
RUN = "[run](https:attacker.example) :red[big] **bold** <b>x $x^2$"  # no "/" in a folder name
COLUMN = "**col** [c](https://attacker.example) <i>c"  # a catalogue column's name
# Live Markdown: a link or image, an HTML tag, a directive or icon, LaTeX (not escaped).
LIVE = re.compile(
    r"(?<!\\)\]\(|(?<!\\)!\\?\[x|(?<!\\)<(img|b>|i>)|(?<!\\):(red|material/home)|(?<!\\)\$x"
)
TEXT_ELEMENTS = (
    "title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success",
    "toast",
)  # fmt: skip
WIDGETS = ("selectbox", "multiselect", "radio", "button", "slider", "checkbox", "text_input")


def fake_encode(texts, **_) -> np.ndarray:
    from sklearn.feature_extraction.text import HashingVectorizer

    x = HashingVectorizer(n_features=64, alternate_sign=False).transform(texts).toarray()
    return normalise(x)


@pytest.fixture(autouse=True)
def no_language_model(monkeypatch, tmp_path):
    from recsys.lm import encoder

    monkeypatch.setattr(encoder, "encode_items", fake_encode)
    monkeypatch.setattr(encoder, "describe_device", lambda device: f"{device} (test)")
    monkeypatch.setattr(encoder, "pick_device", lambda device=None: torch.device("cpu"))
    monkeypatch.setattr(encoder, "DEFAULT_CACHE_DIR", tmp_path / "embeddings")
    monkeypatch.setattr(projection, "DEFAULT_CACHE_DIR", tmp_path / "projections")
    monkeypatch.setattr(timing, "encoding_seconds", lambda texts, model=None, **_: 0.0)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def hostile(tmp_path) -> dict:
    """Session state for a hostile upload and an active run with a hostile name."""
    rng = np.random.default_rng(0)
    n_items, n_users = 40, 40
    rows = [f'item_id,title,category,"{COLUMN}"']
    for i in range(n_items):
        payload = PAYLOADS[i % len(PAYLOADS)]
        rows.append(f'i{i},"{payload} item {i}","{payload}",c{i % 3}')
    items = tmp_path / "items.csv"
    items.write_text("\n".join(rows) + "\n")
    weights = 1 / np.arange(1, n_items + 1)
    events = ["user_id,item_id"]
    for u in range(n_users):
        for i in rng.choice(n_items, 12, replace=False, p=weights / weights.sum()):
            events.append(f"u{u},i{i}")
    inter = tmp_path / "events.csv"
    inter.write_text("\n".join(events) + "\n")

    runs_dir = tmp_path / "runs"
    run = RunFolder(runs_dir / RUN)
    run.create({"regime": "adapter", "epochs": 1, "model": None, "dataset": UPLOAD_NAME})
    vectors = rng.normal(size=(n_items, 8)).astype(np.float32)
    run.save_item_embeddings(normalise(vectors), [f"i{i}" for i in range(n_items)])
    user_map = {"model.user.weight": torch.eye(8), "model.user.bias": torch.zeros(8)}
    run.save_checkpoint(user_map, {"epoch": 1}, best=True)
    run.write_metrics({"best_epoch": 1, "best": {"recall@20": 0.1, "tail_recall@20": 0.05}})
    run.write_status("finished", message=f"done {PAYLOADS[0]}")
    source = {
        "kind": "upload",
        "name": UPLOAD_NAME,
        "interactions": str(inter),
        "items": str(items),
    }
    return {"data_source": source, "runs_dir": str(runs_dir), "active_run": RUN}


def run_page(name: str, state: dict, **extra) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=180)
    for key, value in {**state, **extra}.items():
        at.session_state[key] = value
    return at.run()


def markdown_bodies(at: AppTest) -> list[str]:
    """Every string of the page that Streamlit renders as Markdown."""
    bodies = [el.value for kind in TEXT_ELEMENTS for el in getattr(at, kind)]
    for kind in WIDGETS:
        for widget in getattr(at, kind):
            bodies += [widget.label or "", getattr(widget, "help", None) or ""]
    bodies += [m.label for m in at.metric] + [m.help or "" for m in at.metric]
    return [str(b) for b in bodies]


def plotly_strings(at: AppTest) -> list[str]:
    """Trace names, hover text and text of every plotly chart on the page."""
    out = []
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            for key in ("name", "hovertext", "text"):
                value = trace.get(key)
                out += [str(v) for v in value] if isinstance(value, list) else [str(value or "")]
    return out


def assert_inert(at: AppTest) -> str:
    assert not at.exception, at.exception
    bodies = markdown_bodies(at)
    live = [b for b in bodies if LIVE.search(b) or any(p in b for p in PAYLOADS)]
    assert not live, live
    for text in plotly_strings(at):
        assert not any(tag in text for tag in ("<img", "<b>x", "<i>c", "<a ")), text
    return "\n".join(bodies)


def test_data_page_keeps_the_upload_name_inert(hostile):
    shown = assert_inert(run_page("data.py", hostile))
    assert r"\[x\]\(https\:" in shown  # the name is there, escaped


def test_finetune_page_keeps_dataset_and_run_names_inert(hostile):
    shown = assert_inert(run_page("finetune.py", hostile))
    assert r"\[x\]\(https\:" in shown and r"\[run\]\(https\:attacker" in shown


def test_recommendations_page_keeps_names_inert_in_text_and_legend(hostile):
    at = run_page("recommendations.py", hostile)
    shown = assert_inert(at)
    assert r"\[x\]\(https\:" in shown
    names = " ".join(plotly_strings(at))
    assert "&lt;b&gt;x" in names  # the run's name in the legend, HTML-escaped


def test_embeddings_page_keeps_titles_categories_and_run_name_inert(hostile):
    at = run_page(
        "embeddings.py", hostile, emb_method="pca", emb_colour="category", emb_query="item 2"
    )
    shown = assert_inert(at)
    assert r"\[run\]\(https\:attacker" in shown  # the compared run's heading
    assert " nearest items to “" in shown  # the searched title's caption
    legend = [str(t.get("name")) for c in at.get("plotly_chart")
              for t in json.loads(c.proto.spec)["data"]]  # fmt: skip
    assert any("&lt;img src=x onerror=alert(1)&gt;" in n for n in legend), legend


def test_embeddings_page_escapes_a_column_name_in_hover_text(hostile):
    at = run_page("embeddings.py", hostile, emb_method="pca", emb_colour=COLUMN)
    assert_inert(at)
    hover = " ".join(plotly_strings(at))
    assert "&lt;i&gt;c: c1" in hover  # the column's name labels each point's value, escaped


def test_an_error_quoting_the_data_is_one_escaped_capped_line(hostile, tmp_path):
    """A file whose columns are Markdown and a megabyte long: the message quotes it, inert."""
    bad = tmp_path / "bad.csv"
    long = "[a](https://attacker.example)" * 40_000
    bad.write_text(f'"{PAYLOADS[2]}","{long}"\n1,2\n')
    source = {**hostile["data_source"], "interactions": str(bad), "name": PAYLOADS[0]}
    at = run_page("data.py", {**hostile, "data_source": source})
    assert_inert(at)
    (error,) = at.error
    assert error.value.startswith("Could not load the chosen data, showing the bundled sample")
    assert "&lt;img" not in error.value and r"\<img" in error.value  # quoted, escaped
    assert len(error.value) < 2 * common.ERROR_LIMIT and "\n" not in error.value
    assert "Traceback" not in error.value and str(REPO) not in error.value
