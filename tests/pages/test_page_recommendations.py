"""The Recommendations page: AppTest on the bundled sample, plus one real-browser check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import assert_no_exception, screenshot, wait_idle

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "recommendations.py")
KPIS = ["Recall@10", "NDCG@10", "Tail recall@10", "APLT@10", "Coverage@10", "Gini@10", "Novelty@10"]


def run_page(**url) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for key, value in url.items():
        at.query_params[key] = value
    return at.run()


def kpis(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric if m.label in KPIS}


def test_page_renders_kpis_curve_and_lists():
    at = run_page()
    assert not at.exception
    assert list(kpis(at)) == KPIS
    assert all(m.delta in ("", None) for m in at.metric if m.label in KPIS)  # boost 0: no change
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 3  # history, list, explanations
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


def test_active_run_is_the_default_model_and_explains_by_its_embeddings(tmp_path):
    import numpy as np
    import torch

    from recsys.data.sources import load_sample
    from recsys.runs.folder import RunFolder

    ids = load_sample().items["item"].to_numpy()
    vectors = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    run = RunFolder(tmp_path / "r1")
    run.save_item_embeddings(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), ids)
    user_map = {"model.user.weight": torch.eye(8), "model.user.bias": torch.zeros(8)}
    run.save_checkpoint(user_map, {"epoch": 1}, best=True)
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.session_state["runs_dir"] = str(tmp_path)
    at.session_state["active_run"] = "r1"
    at.query_params["boost"] = "0.6"
    at.run()
    assert not at.exception
    assert at.selectbox(key="rec_model").value == "run:r1"
    assert any("KPIs here are optimistic" in w.value for w in at.warning)
    why = at.dataframe[2].value
    assert {"collaborative", "language model", "tail boost"} <= set(why.columns)
    assert why["because (similarity)"].str.startswith("embedding (r1): ").any()  # LM-led items


@pytest.mark.browser
def test_browser_slider_moves_the_list(app_server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 2300})  # the whole page in one screenshot
    page.goto(f"{app_server}/recommendations?strategy=target&boost=0&user=U0001")  # a shared link
    expect(page.get_by_text("Tail share · this list")).to_be_visible(timeout=180_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    top_list = page.get_by_test_id("stDataFrame").nth(1).locator("table")
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
