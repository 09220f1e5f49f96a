"""First visit on a fresh checkout: time until each dashboard page is usable, cold and warm.

A fresh copy of the committed tree (``git archive HEAD``, the virtualenv linked, no ``.cache``:
the encoder's disk cache, projections and uploads start empty) is served with ``streamlit run
app.py`` on 127.0.0.1, and a headless Debian chromium (Playwright, as ``tests/browser.py``) opens
each page in turn, as a first visitor would, then reloads it (a warm revisit). "Usable" is the
page's own main element drawn with the script no longer running:

* Data: the popularity chart; Fine-tune: the Launch button; Recommendations: the user's list
  (``Tail share · this list``); Embeddings: the map.

Usage::

    .venv/bin/python bench/first_visit.py                # with the app's background warm-up
    .venv/bin/python bench/first_visit.py --no-warmup    # LONGTAIL_WARMUP=0: every cache cold
    .venv/bin/python bench/first_visit.py --wait 60      # visit 60 s after the server starts

Prints one table row per page: seconds to usable on the first visit and on a reload.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.browser import serve_app  # noqa: E402 - needs the repo on sys.path

PAGES = {  # url path -> (label, what shows the page is usable)
    "": ("Data", ".js-plotly-plot"),
    "finetune": ("Fine-tune", "role=button[name='Launch']"),
    "recommendations": ("Recommendations", "text=Tail share · this list"),
    "embeddings": ("Embeddings", ".js-plotly-plot"),
}
IDLE_JS = """() => document.querySelector('[data-testid="stApp"]')
    ?.getAttribute('data-test-script-state') === 'notRunning'"""


def fresh_copy(dest: Path) -> Path:
    """The committed tree in ``dest`` with this checkout's .venv linked (caches left behind)."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    (dest / ".venv").symlink_to((REPO / ".venv").resolve())
    return dest


def time_to_usable(page, url: str, selector: str, timeout_s: float, reload: bool) -> float:
    t0 = time.monotonic()
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.locator(selector).first.wait_for(state="visible", timeout=timeout_s * 1000)
    page.wait_for_function(IDLE_JS, timeout=timeout_s * 1000)
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-warmup", action="store_true", help="serve with LONGTAIL_WARMUP=0")
    p.add_argument("--wait", type=float, default=0.0, help="seconds between start and visits")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per page at most")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import Error, sync_playwright

    root = Path(tempfile.mkdtemp(prefix="first-visit-"))
    fresh_copy(root)
    rows = []
    t0 = time.monotonic()
    warmup = {"LONGTAIL_WARMUP": "0" if args.no_warmup else "1"}
    venv_python = str(root / ".venv" / "bin" / "python")
    try:
        with serve_app(root / "runs", 120.0, root, venv_python, warmup) as url:
            started = time.monotonic() - t0
            time.sleep(args.wait)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                for path, (label, selector) in PAGES.items():
                    times = []
                    for reload in (False, True):
                        try:
                            seconds = time_to_usable(
                                page, f"{url}/{path}", selector, args.timeout, reload
                            )
                            times.append(f"{seconds:8.1f}")
                        except Error:
                            times.append(f">{args.timeout:7.0f}")
                    rows.append((label, *times))
                browser.close()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    mode = "no warm-up" if args.no_warmup else "background warm-up"
    print(f"server healthy after {started:.1f} s; {mode}; visits {args.wait:g} s after start")
    print(f"{'page':<16} {'cold (s)':>9} {'warm (s)':>9}")
    for label, cold, warm in rows:
        print(f"{label:<16} {cold:>9} {warm:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
