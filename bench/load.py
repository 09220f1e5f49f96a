"""Load check: concurrent browser sessions moving the Recommendations slider on the bundled sample.

Starts its own ``streamlit run app.py`` on a free port of 127.0.0.1 (never another interface) with
its own empty runs folder, warms the page up in one session (the models are fitted once per
server) and waits until the app's background warm-up has put the page's first-view model in (the
page's "Preparing ... in the background" progress bar is gone: the frozen-MiniLM hybrid, minutes
on a 2-core CPU; ``--no-wait-warmup`` measures while it still runs, against the blend and a busy
CPU), then opens ``--sessions`` browser sessions at once (each its own context, so its own
Streamlit session) that each press the Tail boost slider's arrow keys ``--moves`` times. A rerun
time runs from the key press until the URL carries the new boost (the page writes it as it runs)
and ``stApp``'s ``data-test-script-state`` is back to ``notRunning``: what the analyst waits for.
Errors: an exception box, a page error, a lost connection, or a rerun that does not finish within
``--rerun-timeout`` seconds. Everything is bounded: at most 20 sessions, 20 moves each, and
``--timeout`` seconds in all; the server is stopped at the end.

``--breakdown`` also times, per move, what the browser does: when each kind of element (plotly
chart, dataframe, metric, ...) last changed in the page after the key press, when the server's
first and last websocket messages arrived (and their kB), when the app's script state went
running -> notRunning, and the main thread's long tasks (over 50 ms each) in all; p50/p95 over
every move, as a second table. It waits 0.3 s after each move to see late redraws.

Debian's chromium through Playwright (``executable_path``), as the browser tests use.

Usage::

    python bench/load.py                        # 10 sessions x 6 moves
    python bench/load.py --sessions 4 --moves 3
    python bench/load.py --sessions 1 --moves 8 --breakdown
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from tests.browser import serve_app  # noqa: E402 - needs the repo on sys.path

MAX_SESSIONS, MAX_MOVES = 20, 20
READY_TEXT = "Tail share · this list"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
# The rerun for a slider value is over once the URL carries that value (the page writes it while
# running) and the app's script state is back to notRunning.
RERUN_DONE_JS = """(value) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const boost = new URL(location.href).searchParams.get('boost');
  return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && boost !== null && Math.abs(parseFloat(boost) - parseFloat(value)) < 1e-9;
}"""
NOT_RUNNING_JS = """() => document.querySelector('[data-testid="stApp"]')
  ?.getAttribute('data-test-script-state') === 'notRunning'"""
# The warm-up's progress bar is shown while the page's best model is still being fitted.
WARMED_UP_JS = """() => document.querySelector('[data-testid="stProgress"]') === null
  && document.querySelector('[data-testid="stApp"]')
       ?.getAttribute('data-test-script-state') === 'notRunning'"""

# --breakdown: element kinds timed, a recorder installed before the page loads, and its reader.
KINDS = ("stPlotlyChart", "stDataFrame", "stMetric", "stMarkdown", "stCaptionContainer",
         "stAlert", "stSelectbox", "stSlider", "stExpander", "stDownloadButton")  # fmt: skip
RECORDER_JS = """(() => {
  const kinds = __KINDS__.map((k) => `[data-testid="${k}"]`).join(",");
  window.__marks = {t0: 0, last: {}, long: [], state: [], frames: []};
  const Native = window.WebSocket;  // when the server's messages arrive, and their size
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const n = e.data.byteLength ?? e.data.size ?? e.data.length ?? 0;
        window.__marks.frames.push([performance.now(), n]);
      });
    }
  };
  new MutationObserver((records) => {
    const t = performance.now();
    for (const r of records) {
      const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (node === null) continue;
      if (r.type === "attributes" && r.attributeName === "data-test-script-state") {
        window.__marks.state.push([t, node.getAttribute("data-test-script-state")]);
        continue;
      }
      const el = node.closest(kinds);  // a change inside an element, not its stale marking
      if (el === null || (el === node && r.type === "attributes")) continue;
      window.__marks.last[el.dataset.testid] = t;
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__marks.long.push([e.startTime, e.duration]);
  }).observe({type: "longtask", buffered: true});
})();""".replace("__KINDS__", json.dumps(KINDS))
MARK_JS = "() => { window.__marks.t0 = performance.now(); window.__marks.last = {}; }"
READ_MARKS_JS = """() => {
  const m = window.__marks, out = {};
  for (const [k, t] of Object.entries(m.last)) out[k] = t - m.t0;
  out["long tasks (sum)"] = m.long.filter(([t]) => t >= m.t0).reduce((a, [, d]) => a + d, 0);
  const frames = m.frames.filter(([t]) => t >= m.t0);
  if (frames.length) {
    out["first message"] = frames[0][0] - m.t0;
    out["last message"] = frames[frames.length - 1][0] - m.t0;
    out["messages (kB)"] = frames.reduce((a, [, n]) => a + n, 0) / 1000;
  }
  const run = m.state.filter(([t]) => t >= m.t0);
  const start = run.find(([, s]) => s === "running");
  const end = run.findLast(([, s]) => s === "notRunning");
  if (start && end) {
    out["script started"] = start[0] - m.t0;
    out["script done"] = end[0] - m.t0;
  }
  return out;
}"""


@dataclass
class Session:
    index: int
    rerun_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    model: str = ""  # the model the page showed (its URL's ``model``)
    marks: list[dict[str, float]] = field(default_factory=list)  # --breakdown: ms per move


async def drive(
    browser,
    url: str,
    session: Session,
    moves: int,
    rerun_timeout: float,
    warmup_s: float = 0.0,
    breakdown: bool = False,
) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    if breakdown:
        await page.add_init_script(RECORDER_JS)
    page.on("pageerror", lambda exc: session.errors.append(f"page error: {exc}"))
    ms = rerun_timeout * 1000
    try:
        await page.goto(f"{url}/recommendations?boost=0", timeout=ms)
        await page.get_by_text(READY_TEXT).first.wait_for(timeout=ms)
        await page.wait_for_function(NOT_RUNNING_JS, timeout=ms)
        if warmup_s:
            await page.wait_for_function(WARMED_UP_JS, timeout=warmup_s * 1000, polling=500)
        session.model = await page.evaluate(
            "() => new URL(location.href).searchParams.get('model') || ''"
        )
        slider = page.get_by_role("slider", name="Tail boost")
        await slider.focus()
        for move in range(moves):
            key = "ArrowRight" if (move // 3) % 2 == 0 else "ArrowLeft"  # stay within 0..0.15
            if breakdown:
                await page.evaluate(MARK_JS)
            t0 = time.perf_counter()
            await slider.press(key, timeout=ms)
            value = await slider.get_attribute("aria-valuetext", timeout=ms)
            await page.wait_for_function(RERUN_DONE_JS, arg=value, timeout=ms)
            session.rerun_ms.append((time.perf_counter() - t0) * 1000)
            if breakdown:
                await page.wait_for_timeout(300)  # what is still drawn after the script is done
                session.marks.append(await page.evaluate(READ_MARKS_JS))
        if await page.get_by_test_id("stException").count():
            session.errors.append("an exception box is shown")
        state = await page.get_attribute('[data-testid="stApp"]', "data-test-connection-state")
        if state != "CONNECTED":
            session.errors.append(f"connection state {state}")
    except Exception as exc:  # noqa: BLE001 - every failure of a session is counted, not raised
        session.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    finally:
        await context.close()


async def run(
    url: str, sessions: int, moves: int, rerun_timeout: float, warmup_s: float, breakdown: bool
) -> list[Session]:
    from playwright.async_api import async_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("load: Debian's chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        warm = Session(-1)
        await drive(browser, url, warm, 0, max(rerun_timeout, 300), warmup_s)  # fits them once
        if warm.errors:
            raise SystemExit(f"load: the page did not come up: {warm.errors[0]}")
        out = [Session(i) for i in range(sessions)]
        await asyncio.gather(
            *(drive(browser, url, s, moves, rerun_timeout, breakdown=breakdown) for s in out)
        )
        await browser.close()
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(out: list[Session], seconds: float) -> str:
    times = [t for s in out for t in s.rerun_ms]
    errors = [e for s in out for e in s.errors]
    lines = [
        "| sessions | reruns | p50 ms | p95 ms | max ms | errors | wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {len(out)} | {len(times)} | {percentile(times, 50):.0f} | {percentile(times, 95):.0f} "
        f"| {max(times, default=float('nan')):.0f} | {len(errors)} | {seconds:.0f} |",
    ]
    lines.append("model: " + ", ".join(sorted({s.model for s in out if s.model})))
    lines += [f"error: {e}" for e in errors[:10]]
    return "\n".join(lines + breakdown([m for s in out for m in s.marks]))


def breakdown(marks: list[dict[str, float]]) -> list[str]:
    """``--breakdown``'s table: per mark, p50/p95 ms after the key press over every move."""
    if not marks:
        return []
    names = sorted({n for m in marks for n in m})
    seen = {n: [m[n] for m in marks if n in m] for n in names}
    lines = ["", "| after the key press (--breakdown) | p50 ms | p95 ms | moves |"]
    lines.append("|---|---:|---:|---:|")
    for name in sorted(names, key=lambda n: percentile(seen[n], 50)):
        t = seen[name]
        lines.append(f"| {name} | {percentile(t, 50):.0f} | {percentile(t, 95):.0f} | {len(t)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help=f"1..{MAX_SESSIONS}")
    parser.add_argument("--moves", type=int, default=6, help=f"moves per session, 1..{MAX_MOVES}")
    parser.add_argument("--rerun-timeout", type=float, default=120.0, help="seconds per rerun")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole check")
    parser.add_argument(
        "--warmup-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the background warm-up's first-view model (default 600)",
    )
    parser.add_argument(
        "--no-wait-warmup",
        action="store_true",
        help="measure at once, while the warm-up still fits the first-view model",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time what the browser redraws per move (see the module docstring)",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.sessions <= MAX_SESSIONS and 1 <= args.moves <= MAX_MOVES):
        parser.error(f"--sessions must be 1..{MAX_SESSIONS} and --moves 1..{MAX_MOVES}")
    warmup_s = 0.0 if args.no_wait_warmup else args.warmup_timeout
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="longtail-load-") as runs, serve_app(Path(runs)) as url:
        assert url.startswith("http://127.0.0.1:"), url  # loopback only
        try:
            out = asyncio.run(
                asyncio.wait_for(
                    run(
                        url, args.sessions, args.moves, args.rerun_timeout, warmup_s, args.breakdown
                    ),
                    args.timeout,
                )
            )
        except TimeoutError:
            print(f"load: did not finish within --timeout {args.timeout:.0f} s", file=sys.stderr)
            return 1
    print(report(out, time.monotonic() - started))
    return 1 if any(s.errors for s in out) else 0


if __name__ == "__main__":
    sys.exit(main())
