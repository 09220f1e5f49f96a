"""The Embeddings page: AppTest with and without a fine-tuned run, plus one real-browser check.

AppTests never run the language model: ``recsys.lm.encoder`` is replaced by hashed bag-of-words
vectors, and maps use PCA (instant) unless a test says otherwise.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from recsys.maps import projection
from recsys.maps.neighbours import normalise
from recsys.runs.folder import RunFolder
from tests.browser import assert_no_exception, screenshot

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "embeddings.py")
APP = str(REPO / "app.py")


def fake_encode(texts, **_) -> np.ndarray:
    """Hashed bag of words: deterministic, fast, and near-duplicate texts land close."""
    from sklearn.feature_extraction.text import HashingVectorizer

    x = HashingVectorizer(n_features=64, alternate_sign=False).transform(texts).toarray()
    return normalise(x)


@pytest.fixture(autouse=True)
def no_language_model(monkeypatch, tmp_path):
    import recsys.lm

    fake = types.ModuleType("recsys.lm.encoder")
    fake.encode_items = fake_encode
    monkeypatch.setitem(sys.modules, "recsys.lm.encoder", fake)
    monkeypatch.setattr(recsys.lm, "encoder", fake, raising=False)
    monkeypatch.setattr(projection, "DEFAULT_CACHE_DIR", tmp_path / "projections")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A finished run whose item embeddings are the base vectors nudged and re-normalised."""
    from recsys.data.sources import load_sample

    data = load_sample()
    base = fake_encode(data.item_text())
    tuned = normalise(base + np.random.default_rng(0).normal(0, 0.05, base.shape))
    folder = RunFolder(tmp_path / "runs" / "run-a")
    folder.create({"regime": "test"})
    folder.save_item_embeddings(tuned.astype(np.float32), data.items["item"])
    folder.write_status("finished")
    return folder.path.parent


def run_page(runs_dir: Path, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["runs_dir"] = str(runs_dir)
    at.session_state["emb_method"] = "pca"
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_base_model_only(tmp_path):
    at = run_page(tmp_path / "no-runs")
    assert not at.exception
    assert any("base model only" in c.value for c in at.caption)
    assert any("2-D distances are only a picture" in c.value for c in at.caption)
    assert any("Base model" in m.value for m in at.markdown)
    assert not any(s.value == "How tail neighbourhoods changed" for s in at.subheader)
    assert not at.info  # 2,000 items fit the default point budget


def test_with_run_side_by_side_and_summary(run_dir):
    at = run_page(run_dir, active_run="run-a")
    assert not at.exception
    heads = [m.value for m in at.markdown]
    assert any("Base model" in h for h in heads) and any("Fine-tuned · run\\-a" in h for h in heads)
    summary = at.dataframe[0].value
    assert summary["group"].tolist() == ["tail", "cold"]
    assert summary["items"].sum() == 1600  # every non-head item: 80% of 2,000 under top 20%
    assert ((summary["neighbours kept"] >= 0) & (summary["neighbours kept"] <= 1)).all()


def test_search_lists_neighbours_in_each_space(run_dir):
    at = run_page(run_dir, active_run="run-a", emb_query="desk", emb_k=5)
    assert not at.exception
    tables = [d.value for d in at.dataframe if "similarity" in d.value.columns]
    assert len(tables) == 2 and all(len(t) == 5 for t in tables)
    assert all((np.diff(t["similarity"].to_numpy()) <= 1e-6).all() for t in tables)


def test_search_without_match_says_so(tmp_path):
    at = run_page(tmp_path, emb_query="zzzz-no-such-title")
    assert not at.exception
    assert any("No title contains" in i.value for i in at.info)


def test_point_budget_draws_stratified_sample_and_says_so(tmp_path):
    at = run_page(tmp_path, emb_budget=500)
    assert not at.exception
    note = next(i.value for i in at.info if "stratified sample" in i.value)
    assert "500 of 2,000" in note and "head" in note and "cold" in note


def test_colour_by_attribute_and_numeric(tmp_path):
    at = run_page(tmp_path, emb_colour="category")
    assert not at.exception
    at.selectbox(key="emb_colour").set_value("price").run()
    assert not at.exception


def test_run_for_another_catalogue_is_refused_with_a_warning(tmp_path):
    folder = RunFolder(tmp_path / "runs" / "other")
    folder.create({"regime": "test"})
    folder.save_item_embeddings(np.eye(3, dtype=np.float32), ["x", "y", "z"])
    at = run_page(tmp_path / "runs", active_run="other")
    assert not at.exception
    assert any("cannot be compared" in w.value for w in at.warning)
    assert not any("Fine-tuned" in m.value for m in at.markdown)


def test_hover_text_is_escaped(tmp_path):
    """A catalogue title is untrusted: it reaches the plotly hover label only HTML-escaped."""
    evil = "<img src=x onerror=alert(1)>"
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n" + "".join(f"i{n},{evil} {n}\n" for n in range(30)))
    inter = tmp_path / "events.csv"
    inter.write_text("user_id,item_id\n" + "".join(f"u{n % 7},i{n % 20}\n" for n in range(60)))
    source = {"kind": "upload", "interactions": str(inter), "items": str(items)}
    at = run_page(tmp_path, data_source=source)
    assert not at.exception
    spec = at.get("plotly_chart")[0].proto.spec
    assert "&lt;img src=x onerror=alert(1)&gt;" in spec and "<img" not in spec


def test_listed_in_app_navigation(tmp_path):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["runs_dir"] = str(tmp_path)
    at.session_state["emb_method"] = "pca"
    at.run()
    at.switch_page("pages/embeddings.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Embeddings"]


@pytest.mark.browser
def test_browser_draws_item_map_and_box_selection_lists_items(app_server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(app_server)
    # Wait for app.py's navigation: before it runs, the sidebar lists pages/ files instead.
    expect(page.get_by_text("of items receive").first).to_be_visible(timeout=60_000)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Embeddings").click()
    plot = page.locator(".js-plotly-plot").first
    # A cold checkout encodes the catalogue (~20-100 s on 2 busy cores) and compiles UMAP (~40 s)
    # once; later visits read both from .cache/.
    expect(plot.locator("canvas").first).to_be_attached(timeout=300_000)
    expect(page.get_by_text("2-D distances are only a picture")).to_be_visible(timeout=60_000)
    drawn = plot.evaluate("el => el._fullData.reduce((n, trace) => n + trace._length, 0)")
    assert drawn == 2000

    area = plot.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 5, area["y"] + 40)  # below the mode bar
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] - 5, area["y"] + area["height"] - 5, steps=8)
    page.mouse.up()
    expect(page.get_by_text("items as CSV")).to_be_visible(timeout=60_000)
    assert_no_exception(page)
    screenshot(page, "embeddings_page")


def test_colours_are_training_count_bands_under_the_data_page_rule(tmp_path):
    """The map's head/tail/cold are the Recommendations page's bands: the training counts of its
    split under the Data page's rule, not counts over all interactions."""
    import json

    from recsys.data import popularity
    from recsys.data.sources import load_sample
    from recsys.report import analysis
    from tests.pages.test_page_data import plotly_array

    at = run_page(tmp_path, tail_rule="threshold", tail_value=8.0)
    assert not at.exception
    data = load_sample()
    settings = analysis.Settings(head_rule="threshold", head_value=8.0, seed=0)
    _, train_groups = analysis.prepare(data, settings)
    all_counts = popularity.item_counts(data.interactions, data.items["item"].to_numpy())
    all_groups = popularity.groups(all_counts, "threshold", 8.0)
    assert (train_groups != all_groups).sum() > 100  # the two definitions really differ here
    traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    drawn = {t["name"]: np.sort(plotly_array(t["customdata"])) for t in traces}
    for code, name in popularity.GROUP_NAMES.items():
        np.testing.assert_array_equal(drawn[name], np.flatnonzero(train_groups == code))
    note = next(c.value for c in at.caption if "training interactions" in c.value)
    assert "items with at least x interactions, x = 8" in note.replace("\\", "")


def test_only_the_drawn_sample_is_projected(tmp_path):
    import json

    from tests.pages.test_page_data import plotly_array

    at = run_page(tmp_path, emb_budget=500)
    assert not at.exception
    cached = list((tmp_path / "projections").glob("*.npy"))
    assert [np.load(p).shape for p in cached] == [(500, 2)]  # not the 2,000-item catalogue
    traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    assert sum(len(plotly_array(t["x"])) for t in traces) == 500


def test_only_the_drawn_items_are_encoded_and_an_outside_item_is_placed(tmp_path, monkeypatch):
    """At a point budget below the catalogue only the sample's text reaches the encoder; a found
    item outside the sample is encoded alone, starred at its drawn neighbours' weighted mean."""
    import json

    import recsys.lm
    from pages import common
    from pages.embeddings import catalogue
    from recsys.data.sources import load_sample
    from recsys.maps.sampling import stratified_sample
    from tests.pages.test_page_data import plotly_array

    seen: list[int] = []

    def counting(texts, **kw):
        seen.append(len(texts))
        return fake_encode(texts, **kw)

    monkeypatch.setattr(recsys.lm.encoder, "encode_items", counting)
    first = run_page(tmp_path, emb_budget=500)
    assert not first.exception and seen == [500]
    table, _ = catalogue(common.source_key(common.SAMPLE), "top_share", 0.2)
    shown = stratified_sample(table["band"].to_numpy(), 500, seed=42)  # as the page draws it
    titles = load_sample().items["title"]
    outside = next(
        i for i in range(len(titles)) if i not in set(shown) and (titles == titles[i]).sum() == 1
    )
    at = run_page(tmp_path, emb_budget=500, emb_query=titles[outside], emb_k=5)
    assert not at.exception and seen[-1] == 1  # the one found item, nothing else re-encoded
    traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    star = next(t for t in traces if t["name"] == "found item")
    assert plotly_array(star["customdata"]).tolist() == [outside]
    assert np.isfinite(plotly_array(star["x"])).all()
    assert any("not in the drawn sample" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert len(table) == 5
