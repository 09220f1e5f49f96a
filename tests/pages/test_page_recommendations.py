"""The Recommendations page: AppTest on the bundled sample, plus one real-browser check."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import assert_no_exception, screenshot, wait_idle

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "recommendations.py")
KPIS = ["Recall@10", "NDCG@10", "Tail recall@10", "APLT@10", "Coverage@10", "Gini@10", "Novelty@10"]


def run_page(**url) -> AppTest:
    """The page with the URL's settings; the fast EASE + TF-IDF blend unless a model is named
    (the default model, a hybrid, takes minutes to fit on a small CPU)."""
    at = AppTest.from_file(PAGE, default_timeout=600)
    for key, value in {"model": "blend", **url}.items():
        at.query_params[key] = value
    return at.run()


def kpis(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric if m.label in KPIS}


def test_page_renders_kpis_curve_and_lists():
    at = run_page()
    assert not at.exception
    assert list(kpis(at)) == KPIS
    assert all(m.delta in ("", None) for m in at.metric if m.label in KPIS)  # boost 0: no change
    assert len(at.get("plotly_chart")) == 2  # every curve; this setting on its line
    assert len(at.dataframe) == 4  # list, EASE's list, explanations, history
    why = at.dataframe[2].value
    assert len(why) == 10 and why["because (similarity)"].str.len().gt(0).all()
    parts = why[["collaborative", "content", "tail boost"]].sum(axis=1)
    assert (parts - why["score"]).abs().max() < 1e-5


def test_moving_the_slider_changes_the_kpis_and_the_url():
    at = run_page()
    before = kpis(at)
    at.slider(key="rec_boost").set_value(0.5).run()
    assert not at.exception
    after = kpis(at)
    assert after["APLT@10"] != before["APLT@10"] and after["Recall@10"] != before["Recall@10"]
    assert float(after["APLT@10"]) > float(before["APLT@10"])
    assert any(m.delta for m in at.metric if m.label == "APLT@10")
    assert at.query_params["boost"] == "0.5"


def test_a_slider_move_redraws_only_the_small_setting_chart():
    """The trade-off curves' chart is sent unchanged (the browser skips an identical figure, ~0.3 s
    of a move), the star moves in the small chart beside it, at the KPIs shown."""
    import json

    at = run_page()
    curves, setting = (c.proto.spec for c in at.get("plotly_chart"))
    at.slider(key="rec_boost").set_value(0.5).run()
    assert not at.exception
    curves_after, setting_after = (c.proto.spec for c in at.get("plotly_chart"))
    assert curves_after == curves and setting_after != setting
    names = [t.get("name") for t in json.loads(curves)["data"]]
    assert "current setting" not in names and any("(baseline)" in str(n) for n in names)
    star = json.loads(setting_after)["data"][-1]
    assert star["name"] == "current setting"
    shown = {m.label: float(m.value) for m in at.metric if m.label in ("APLT@10", "NDCG@10")}
    assert star["x"][0] == pytest.approx(shown["APLT@10"], abs=1e-4)
    assert star["y"][0] == pytest.approx(shown["NDCG@10"], abs=1e-4)


def test_state_is_read_from_the_url():
    at = run_page(strategy="target", boost="0.3", user="U0042", model="ease")
    assert not at.exception
    assert at.slider(key="rec_boost").value == pytest.approx(0.3)
    assert at.selectbox(key="rec_strategy").value == "target"
    assert at.selectbox(key="rec_user").value == "U0042"
    assert at.selectbox(key="rec_model").value == "ease"
    assert float(kpis(at)["APLT@10"]) >= 0.3  # the target share holds in every list


@pytest.mark.parametrize(
    ("text", "expected"),
    [("inf", 0.0), ("1e999", 0.0), ("-inf", 0.0), ("nan", 0.0), ("lots", 0.0), ("7", 1.0),
     ("-3", 0.0), ("0.33", 0.35)],
)  # fmt: skip
def test_a_bad_boost_in_the_url_is_clamped_or_ignored(text, expected):
    at = run_page(boost=text)
    assert not at.exception and not at.error
    assert at.slider(key="rec_boost").value == pytest.approx(expected)


def test_the_user_goes_into_the_link_only_when_the_analyst_opts_in():
    at = run_page()
    assert "user" not in at.query_params and at.query_params["boost"] == "0"
    at.checkbox(key="rec_user_in_link").check().run()
    assert at.query_params["user"] == at.selectbox(key="rec_user").value
    at.checkbox(key="rec_user_in_link").uncheck().run()
    assert "user" not in at.query_params
    shared = run_page(user="U0042")  # a link that names a user keeps naming it
    assert shared.checkbox(key="rec_user_in_link").value and shared.query_params["user"] == "U0042"


def test_random_user_comes_from_the_chosen_segment():
    at = run_page()
    at.selectbox(key="rec_activity").set_value("light").run()
    at.selectbox(key="rec_taste").set_value("niche").run()
    at.button[0].click().run()
    assert not at.exception
    segment = next(m.value for m in at.metric if m.label == "Segment")
    assert segment == "light · niche"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A run folder made by a real ``recsys train`` of a tiny BERT on the sample (seconds)."""
    from recsys.cli import main
    from tests.lm_fixtures import tiny_model_dir

    root = tmp_path_factory.mktemp("rec-runs")
    model = tiny_model_dir(root)
    args = ["train", "--data", "sample", "--run-dir", str(root / "runs" / "tiny1")]
    args += ["--model", str(model), "--regime", "full", "--epochs", "1", "--batch-size", "256"]
    assert main([*args, "--max-steps", "4", "--threads", "1"]) == 0
    return root / "runs" / "tiny1"


def test_a_finished_run_is_the_default_hybrid_and_scores_as_the_library(trained_run):
    from recsys.data.sources import load_sample
    from recsys.models import TrainData
    from recsys.models.base import exclude
    from recsys.models.hybrid import Hybrid
    from recsys.report.analysis import Settings, prepare
    from recsys.runs.folder import RunFolder

    at = AppTest.from_file(PAGE, default_timeout=900)
    at.session_state["runs_dir"] = str(trained_run.parent)
    at.run()
    assert not at.exception
    choice = at.selectbox(key="rec_model")
    assert choice.value == "hybrid_run:tiny1"
    assert "Hybrid · fine-tuned run tiny1" in choice.options
    assert not any(o.startswith("EASE + fine-tuned") for o in choice.options)  # blend is gone

    # The library's tuned hybrid over the same run, fitted on the page's training split.
    experiment, _ = prepare(load_sample(), Settings())
    stage = experiment.tuning
    model = Hybrid(lm="run", lm_params={"run_dir": str(trained_run)}, head_rule="top_share",
                   head_value=0.2)  # fmt: skip
    model.fit(TrainData(stage.train, stage.text, experiment.index.item_ids))
    user = at.selectbox(key="rec_user").value
    u = [str(x) for x in experiment.index.user_ids].index(user)
    scores = model.score(np.array([u]), stage.train[[u]])
    exclude(scores, stage.train[[u]])
    top = np.argsort(-scores[0], kind="stable")[:10]
    shown = at.dataframe[0].value
    assert shown["item"].tolist() == [str(experiment.index.item_ids[i]) for i in top]
    # Page scores are the library's in units of the user's candidate range: an exact line.
    slope, intercept = np.polyfit(shown["score"].to_numpy(), scores[0, top], 1)
    fit = slope * shown["score"].to_numpy() + intercept
    assert slope > 0 and np.allclose(fit, scores[0, top], rtol=1e-4, atol=1e-4)  # float32 sums

    trained = RunFolder(trained_run).read_config()["train"]
    optimistic = any("optimistic" in w.value for w in at.warning)
    assert optimistic == (trained > stage.train.nnz)  # said exactly when the run saw validation
    why = at.dataframe[2].value
    assert {"collaborative", "language model", "band offset", "tail boost"} <= set(why.columns)


def test_new_items_scope_lists_only_cold_items_and_who_an_item_reaches():
    at = run_page()
    at.radio(key="rec_scope").set_value("cold").run()
    assert not at.exception and not at.error
    assert "ease" not in at.selectbox(key="rec_model").options
    listed = at.dataframe[0].value
    assert len(listed) == 10 and (listed["band"] == "cold").all()
    assert at.query_params["scope"] == "cold"
    reach = at.dataframe[-1].value
    assert len(reach) > 0 and reach["rank in the user's list"].is_monotonic_increasing
    tail = run_page(scope="tail")
    assert (tail.dataframe[0].value["band"] != "head").all()


def test_the_collaborative_baseline_is_shown_beside_the_list():
    from recsys.data.sources import load_sample
    from recsys.report.analysis import Settings, fit_candidates, prepare
    from recsys.whatif import rerank

    at = run_page(boost="0.4", strategy="target")
    assert not at.exception
    experiment, groups = prepare(load_sample(), Settings())
    base = rerank.rerank(fit_candidates(experiment, groups, "ease"), "target", 0.4, 10)
    user = at.selectbox(key="rec_user").value
    u = [str(x) for x in experiment.index.user_ids].index(user)
    beside = at.dataframe[1].value
    titles = load_sample().items["title"].astype(str).to_numpy()
    assert beside["title"].tolist() == titles[base.items[u]].tolist()
    assert set(beside["band"]) <= {"head", "tail", "cold"}
    assert any(m.label == "Tail share · EASE list" for m in at.metric)


def test_the_report_button_downloads_the_html_report_of_these_settings(downloads):
    from recsys.report.html import SECTIONS

    made = downloads
    at = run_page(boost="0.3", strategy="xquad")
    assert not at.exception
    name = next(n for n in made if n.endswith(".html"))
    page = made[name]().decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for key in SECTIONS:
        assert f'<section id="{key}">' in page
    assert "--model blend --strategy xquad --boost 0.3" in page


@pytest.mark.browser
def test_browser_slider_moves_the_list(app_server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 2300})  # the whole page in one screenshot
    page.goto(f"{app_server}/recommendations?model=blend&strategy=target&boost=0&user=U0001")
    expect(page.get_by_text("Tail share · this list")).to_be_visible(timeout=180_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    top_list = page.get_by_test_id("stDataFrame").nth(0).locator("table")  # the model's list
    expect(top_list.locator("tbody tr")).to_have_count(10, timeout=60_000)  # the list is drawn
    wait_idle(page)
    before = top_list.inner_text()

    slider = page.get_by_role("slider", name="Tail boost")
    for step in range(1, 7):  # 6 steps of 0.05: at least 3 of 10 items must be tail
        # One step at a time, each rerun finished before the next key: a key pressed while a
        # rerun is in flight can be overwritten by the value that rerun sends back.
        slider.press("ArrowRight")
        expect(slider).to_have_attribute("aria-valuetext", f"{0.05 * step:.2f}", timeout=60_000)
        boost = f"{round(0.05 * step, 2):g}".replace(".", r"\.")
        expect(page).to_have_url(re.compile(rf"[?&]boost={boost}(&|$)"), timeout=120_000)
        wait_idle(page)
    expect(slider).to_have_attribute("aria-valuetext", "0.30")
    expect(top_list).not_to_have_text(before, timeout=120_000)
    assert_no_exception(page)
    screenshot(page, "recommendations_page")


@pytest.mark.browser
def test_browser_run_hybrid_slider_new_items_and_the_report(trained_run, browser, monkeypatch):
    from playwright.sync_api import expect

    from recsys.report.html import SECTIONS
    from tests.browser import serve_app

    monkeypatch.setenv("LONGTAIL_WARMUP", "0")  # fit only what this test opens
    with serve_app(trained_run.parent) as url:
        context = browser.new_context(
            viewport={"width": 1400, "height": 2300}, accept_downloads=True
        )
        page = context.new_page()
        page.goto(f"{url}/recommendations?model=blend&user=U0001")
        expect(page.get_by_text("Tail share · this list")).to_be_visible(timeout=180_000)
        wait_idle(page)
        page.get_by_test_id("stSelectbox").filter(has_text="Model").click()
        page.get_by_role("option", name="Hybrid · fine-tuned run tiny1").click()
        expect(page).to_have_url(re.compile(r"model=hybrid_run%3Atiny1"), timeout=600_000)
        expect(page.get_by_text("Hybrid · fine-tuned run tiny1").first).to_be_visible()
        wait_idle(page, 600_000)
        screenshot(page, "recommendations_run_hybrid")

        slider = page.get_by_role("slider", name="Tail boost")
        slider.press("ArrowRight")
        expect(slider).to_have_attribute("aria-valuetext", "0.05", timeout=60_000)
        expect(page).to_have_url(re.compile(r"[?&]boost=0\.05(&|$)"), timeout=300_000)
        wait_idle(page, 300_000)

        page.get_by_text("New items", exact=True).click()
        expect(page).to_have_url(re.compile(r"[?&]scope=cold(&|$)"), timeout=600_000)
        expect(page.get_by_role("heading", name="Who would a new item reach?")).to_be_visible(
            timeout=600_000
        )
        wait_idle(page, 600_000)
        assert_no_exception(page)
        screenshot(page, "recommendations_new_items")

        with page.expect_download(timeout=300_000) as download:
            page.get_by_role("button", name="Download the stakeholder report (HTML)").click()
        html = Path(download.value.path()).read_text(encoding="utf-8")
        for key in SECTIONS:
            assert f'<section id="{key}">' in html
        assert "Hybrid · fine-tuned run tiny1" in html and "--scope cold" in html
        assert_no_exception(page)
        context.close()


def test_while_the_warm_up_fits_the_best_model_the_first_view_shows_the_blend(monkeypatch):
    from pages import rec_models

    warm = rec_models.Warmup(steps=["the split", "Hybrid: EASE + frozen MiniLM"], done=1)
    warm.current = "Hybrid: EASE + frozen MiniLM"
    monkeypatch.setattr(rec_models, "_WARMUP", warm)
    at = AppTest.from_file(PAGE, default_timeout=600).run()  # no model in the URL
    assert not at.exception
    assert at.selectbox(key="rec_model").value == "blend"
    bars = at.get("progress")
    assert bars and "step 2 of 2" in bars[0].proto.text
    assert at.session_state["rec_model_auto"]
    at.selectbox(key="rec_model").set_value("ease").run()  # the analyst's choice sticks
    assert at.selectbox(key="rec_model").value == "ease" and not at.session_state["rec_model_auto"]
    assert not at.get("progress")


@pytest.fixture
def small_page_sample(monkeypatch):
    """The page as on a large dataset: KPIs and curves over a seeded 100 of the sample's users.
    Streamlit's caches are per process: cleared before and after, so no other test sees it."""
    import streamlit as st

    from pages import rec_models

    st.cache_resource.clear()
    st.cache_data.clear()
    monkeypatch.setattr(rec_models, "SAMPLE_USERS", 100)
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def test_on_a_large_dataset_kpis_use_a_sample_and_any_user_gets_their_own_list(small_page_sample):
    from recsys.data.sources import load_sample
    from recsys.report.analysis import Settings, fit_candidates, prepare, user_sample
    from recsys.whatif import rerank

    experiment, groups = prepare(load_sample(), Settings())
    sample = user_sample(experiment, Settings(sample_users=100))
    outside = next(u for u in range(experiment.index.n_users) if u not in sample)
    user = str(experiment.index.user_ids[outside])
    at = run_page(boost="0.3", strategy="xquad", user=user)
    assert not at.exception
    assert any("seeded sample (seed 0) of 100 of the 887 users" in c.value for c in at.caption)
    full = rerank.rerank(fit_candidates(experiment, groups, "blend"), "xquad", 0.3, 10)
    item_ids = experiment.index.item_ids
    assert at.dataframe[0].value["item"].tolist() == list(item_ids[full.items[outside]])
    base = rerank.rerank(fit_candidates(experiment, groups, "ease"), "xquad", 0.3, 10)
    titles = load_sample().items["title"].astype(str).to_numpy()
    assert at.dataframe[1].value["title"].tolist() == titles[base.items[outside]].tolist()
    sampled = fit_candidates(experiment, groups, "blend", users=sample)
    want = rerank.list_metrics(
        rerank.rerank(sampled, "xquad", 0.3, 10).items, sampled, experiment.tuning.holdout, 10
    )
    assert float(kpis(at)["Recall@10"]) == pytest.approx(want["recall@10"], abs=1e-3)
    assert any("sampled users" in b.label for b in at.get("download_button"))
