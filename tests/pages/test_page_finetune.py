"""The Fine-tune page: AppTest renders from hand-made run folders, plus real-browser runs.

AppTests build run folders with :mod:`recsys.runs.folder` (no training); the browser tests launch
real ``recsys train`` runs, kept to seconds by the adapter regime on the bundled sample.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from recsys.runs import liveness
from recsys.runs.atomic import atomic_write_json
from recsys.runs.folder import LOG, STATUS, RunFolder
from tests.browser import assert_no_exception, screenshot

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "finetune.py")


def run_page(runs_dir: Path, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["runs_dir"] = str(runs_dir)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def make_run(runs_dir: Path, name: str, state: str, epochs: int = 2, **status) -> Path:
    """A run folder as ``recsys train`` leaves it: config, progress, metrics, status, log."""
    folder = RunFolder(runs_dir / name)
    folder.create({"regime": "adapter", "epochs": 3, "model": None, "dataset": "sample shop"})
    t0 = time.time() - 120
    for e in range(1, epochs + 1):
        for s in range(1, 6):
            folder.log("step", step=(e - 1) * 5 + s, epoch=e, loss=1 / s, time=t0 + e * 10 + s)
        val = {"recall@20": 0.1 * e, "tail_recall@20": 0.04 * e}
        folder.log("epoch", epoch=e, step=e * 5, validation=val, best=True, time=t0 + e * 20)
        folder.write_metrics({"best_epoch": e, "best": val})
    if epochs:
        folder.save_checkpoint({"w": torch.zeros(2)}, {"epoch": epochs}, best=True)
        folder.save_item_embeddings(np.zeros((3, 4), dtype=np.float32), ["a", "b", "c"])
    (folder.path / LOG).write_text("epoch 1 done\nepoch 2 done\n")
    atomic_write_json(
        folder.file(STATUS),
        {"state": state, "pid": 0, "host": os.uname().nodename, "started": t0,
         "updated": t0 + 60, **status},
    )  # fmt: skip
    return folder.path


def test_renders_with_no_runs(tmp_path):
    at = run_page(tmp_path / "runs")
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)
    assert [b.label for b in at.button] == ["Launch"]
    assert any("Estimated time" in c.value for c in at.caption)


def test_renders_a_finished_run_with_charts_and_history(tmp_path):
    make_run(tmp_path / "runs", "20250101-120000-aaaaaa", "finished", message="done")
    at = run_page(tmp_path / "runs")
    assert not at.exception
    assert any("Finished" in s.value for s in at.success)
    history = at.dataframe[0].value
    assert history["state"].tolist() == ["finished"]
    assert history["recall@20"].tolist() == [pytest.approx(0.2)]
    assert "Cancel run" not in [b.label for b in at.button]


def test_renders_a_failed_run_with_its_reason(tmp_path):
    path = make_run(tmp_path / "runs", "20250101-120000-bbbbbb", "running", epochs=1, pid=2**22)
    reason = "MemoryError: out of RAM for [item](http://x.example)"
    (path / LOG).write_text(f"Traceback (most recent call last):\n{reason}\n")
    at = run_page(tmp_path / "runs")
    assert not at.exception
    assert any(r"MemoryError\: out of RAM for \[item\]\(http" in e.value for e in at.error)
    assert at.dataframe[0].value["state"].tolist() == ["failed"]


def test_use_as_active_model_and_delete_with_confirmation(tmp_path):
    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "20250101-120000-aaaaaa", "finished")
    make_run(runs_dir, "20250102-120000-cccccc", "stopped", epochs=0, message="cancelled")
    at = run_page(runs_dir)
    assert at.dataframe[0].value["state"].tolist() == ["cancelled", "finished"]
    assert any("before the first epoch" in w.value for w in at.warning)
    assert at.button(key="ft_use").disabled  # the cancelled run has no model to use
    at.selectbox(key="ft_pick").set_value("20250101-120000-aaaaaa").run()
    at.button(key="ft_use").click().run()
    assert at.session_state["active_run"] == "20250101-120000-aaaaaa"
    at.button(key="ft_delete").click().run()
    assert (runs_dir / "20250101-120000-aaaaaa").exists()  # not before confirming
    at.button(key="ft_delete_yes").click().run()
    assert not at.exception
    assert not (runs_dir / "20250101-120000-aaaaaa").exists()
    assert at.session_state["active_run"] is None
    assert at.dataframe[0].value["run"].tolist() == ["20250102-120000-cccccc"]


def test_a_second_launch_on_a_busy_device_is_refused_with_a_message(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "20250101-120000-dddddd", "running", pid=os.getpid())
    monkeypatch.setattr(liveness, "is_alive", lambda *a, **k: True)
    at = run_page(runs_dir, ft_device="cpu")
    at.button(key="ft_launch").click().run()
    assert not at.exception
    assert any("still running on cpu" in e.value for e in at.error)
    assert len(list(runs_dir.iterdir())) == 1 + 1  # the run and the launch lock only


# --------------------------------------------------------------------------- real browser


def fill_form(page, regime: str, epochs: int, batch: int, max_steps: int) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("stSelectbox").filter(has_text="Regime").click()
    page.get_by_role("option", name=re.compile(f"^{regime}")).click()
    for label, value in (("Epochs", epochs), ("Batch size", batch)):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(str(value))
        field.press("Enter")
        expect(field).to_have_value(str(value))
    page.get_by_text("Advanced").click()
    steps = page.get_by_role("spinbutton", name="Stop after at most this many steps")
    steps.fill(str(max_steps))
    steps.press("Enter")
    expect(steps).to_have_value(str(max_steps))
    # Let the reruns these edits trigger finish before Launch is clicked: a click that lands
    # while a rerun is in flight was lost on a loaded machine.
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


# Records every aria-valuenow any progress bar of the page takes, from now on.
RECORD_PROGRESS_JS = """() => {
  window.__progressSeen = [];
  const note = () => document.querySelectorAll('[role="progressbar"]').forEach(
      (bar) => window.__progressSeen.push(bar.getAttribute('aria-valuenow')));
  new MutationObserver(note).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow']});
}"""


def click_cancel(page) -> None:
    """Click "Cancel run" until the page shows the run stopping.

    The button sits in a fragment that reruns every second while the run is live; on a loaded
    machine a click that lands as the fragment is redrawn was lost. The condition waited on is
    the page's own: the progress label turns to "cancelling" (or the run already reads
    "Cancelled").
    """
    from playwright.sync_api import Error, expect

    stopping = page.get_by_text(re.compile(r"^(cancelling|Cancelled)"))
    for _ in range(4):
        try:
            page.get_by_role("button", name="Cancel run").click(timeout=30_000)
        except Error:
            pass  # the button is gone: the run may already be stopping
        try:
            expect(stopping.first).to_be_visible(timeout=45_000)
            return
        except AssertionError:
            continue
    raise AssertionError("the run never showed as cancelling after four clicks on Cancel run")


def open_page(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/finetune")
    expect(page.get_by_role("button", name="Launch")).to_be_visible(timeout=60_000)


@pytest.mark.browser
def test_browser_quick_run_progress_moves_and_finishes(app_server, page):
    from playwright.sync_api import expect

    open_page(page, app_server)
    fill_form(page, "adapter", epochs=2, batch=8, max_steps=1500)  # several polls long
    page.evaluate(RECORD_PROGRESS_JS)
    page.get_by_role("button", name="Launch").click()
    bar = page.get_by_role("progressbar")
    expect(page.get_by_text("Finished.")).to_be_visible(timeout=300_000)
    # Every value the bar took, recorded in the page: a value shown between two polls of
    # Playwright's still counts, so a fast run on an idle machine cannot slip through them.
    seen = page.evaluate("() => window.__progressSeen")
    assert any(v is not None and 0 < int(v) < 100 for v in seen), seen  # moved, then finished
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)  # loss, validation
    expect(page.get_by_test_id("stDataFrame").first).to_contain_text("finished", timeout=60_000)
    assert_no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 2000})  # the whole page in one picture
    expect(page.get_by_role("heading", name="Run history")).to_be_visible(timeout=60_000)
    screenshot(page, "finetune_page")


@pytest.mark.browser
def test_browser_cancel_a_run_marks_it_cancelled(app_server, page):
    from playwright.sync_api import expect

    open_page(page, app_server)
    fill_form(page, "adapter", epochs=200, batch=8, max_steps=0)  # never ends by itself
    page.get_by_role("button", name="Launch").click()
    live = re.compile(r"^running · epoch \d+/200 · step [1-9]")
    expect(page.get_by_text(live)).to_be_visible(timeout=180_000)
    heading = page.get_by_role("heading", name=re.compile(r"^Run \d{8}-")).inner_text()
    # A second tab (a new session) follows the same live run: state lives in the run folder.
    other = page.context.browser.new_context().new_page()
    open_page(other, app_server)
    expect(other.get_by_role("heading", name=heading)).to_be_visible(timeout=60_000)
    expect(other.get_by_text(live)).to_be_visible(timeout=60_000)
    other.context.close()
    click_cancel(page)
    expect(page.get_by_text(re.compile(r"^Cancelled"))).to_be_visible(timeout=180_000)
    # The page reruns once the run has ended; give the history table time to refresh.
    expect(page.get_by_test_id("stDataFrame").first).to_contain_text("cancelled", timeout=120_000)
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0, timeout=120_000)
    assert_no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 2000})
    expect(page.get_by_role("heading", name="Run history")).to_be_visible(timeout=60_000)
    screenshot(page, "finetune_cancelled")
