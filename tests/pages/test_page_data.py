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


def test_large_catalogue_draws_thinned_curves_from_counts(tmp_path):
    """5,000 items: each curve carries at most ~2,000 points, the ends and the cut exact."""
    import json

    import numpy as np

    n_items = 5000
    rng = np.random.default_rng(0)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n" + "".join(f"i{n},thing {n}\n" for n in range(n_items)))
    zipf = np.minimum(rng.zipf(1.3, 30_000), n_items) - 1  # a long tail
    picks = np.concatenate([zipf, rng.integers(0, n_items, 10_000)])  # most items warm
    users = rng.integers(0, 3000, len(picks))
    pairs = sorted({(int(u), int(i)) for u, i in zip(users, picks, strict=True)})
    inter = tmp_path / "events.csv"
    inter.write_text("user_id,item_id\n" + "".join(f"u{u},i{i}\n" for u, i in pairs))
    source = {"kind": "upload", "interactions": str(inter), "items": str(items)}
    at = run_app(data_source=source)
    assert not at.exception
    trace = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    x, y = (plotly_array(trace[axis]) for axis in ("x", "y"))
    counts = np.bincount([i for _, i in pairs], minlength=n_items)
    warm = np.sort(counts[counts > 0])[::-1]
    assert len(x) <= 2004
    assert x[0] == 1 and y[0] == warm[0]
    assert x[-1] == len(warm) and y[-1] == warm[-1]
    assert (y == warm[x - 1]).all()
    assert any("Curves drawn through 2,000" in c.value for c in at.caption)


def plotly_array(value):
    """A plotly trace array from the chart's JSON: a list, or a typed array (dtype + base64)."""
    import base64

    import numpy as np

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)
