"""The Data page: AppTest renders and error paths, plus one real-browser check."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import common
from tests.browser import assert_no_exception, screenshot

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_renders_sample_with_summary_and_caption():
    at = run_app()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["Users", "Items", "Interactions", "Density", "Cold items"]
    assert any("of items receive" in m.value for m in at.markdown)


def test_tail_definition_changes_caption():
    at = run_app()
    before = next(m.value for m in at.markdown if "of items receive" in m.value)
    rule = next(r for r in at.radio if r.label == "Head/tail definition")
    rule.set_value("interaction_share").run()
    after = next(m.value for m in at.markdown if "of items receive" in m.value)
    assert not at.exception and before != after


@pytest.mark.slow
def test_movielens_folder_source(ml_small):
    at = run_app(data_source={"kind": "movielens", "path": str(ml_small)})
    assert not at.exception
    assert [m.value for m in at.metric][:3] == ["610", "9,742", "100,836"]


def test_broken_source_shows_error_not_exception(tmp_path):
    bad = tmp_path / "events.csv"
    bad.write_text("who,what\n1,2\n")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n2,x\n")
    at = run_app(data_source={"kind": "upload", "interactions": str(bad), "items": str(items)})
    assert not at.exception
    shown = common.md("events.csv: cannot find a user/item column")  # escaped, as displayed
    assert any(shown in e.value for e in at.error)


def test_typed_path_outside_data_folders_is_refused():
    from pages import common
    from recsys.data.dataset import DataError

    with pytest.raises(DataError, match="only folders inside"):
        common.resolve_inside_roots("/etc")


@pytest.mark.browser
def test_browser_data_page_draws_chart(app_server, page):
    from playwright.sync_api import expect

    page.goto(app_server)
    expect(page.get_by_text("of items receive").first).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    assert_no_exception(page)
    screenshot(page, "data_page")


@pytest.mark.browser
def test_browser_first_visit_straight_to_a_page_url_uses_app_navigation(browser, tmp_path):
    """Regression: Streamlit's legacy pages/ mode ran a page without app.py on a fresh server."""
    from playwright.sync_api import expect

    from tests.browser import serve_app

    with serve_app(tmp_path) as url:
        pg = browser.new_page()
        pg.goto(f"{url}/data")
        nav = pg.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Explore")).to_be_visible(timeout=60_000)
        expect(nav.get_by_text("common")).to_have_count(0)
        expect(pg.get_by_text("of items receive").first).to_be_visible(timeout=60_000)
        assert_no_exception(pg)
        pg.close()
