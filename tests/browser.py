"""Serving the app for real-browser tests, and what every browser test checks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(
    runs_dir: Path,
    timeout: float = 90.0,
    root: Path = REPO,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
):
    """``streamlit run app.py`` from ``root`` on a free loopback port; yields its URL once healthy.

    ``runs_dir`` becomes ``LONGTAIL_RUNS_DIR`` and holds ``streamlit.log``; ``env`` adds variables.
    """
    port = free_port()
    runs_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "LONGTAIL_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    full_env.update(env or {})
    log = open(runs_dir / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=root,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit did not start: {(runs_dir / 'streamlit.log').read_text()}"
                )
            time.sleep(0.3)  # polling a server start, not waiting on the page
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def assert_no_exception(page) -> None:
    """Streamlit shows uncaught exceptions in a box with this test id; it must never appear."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stException")).to_have_count(0)


def wait_idle(page, timeout_ms: float = 120_000) -> None:
    """Wait until the app's script is not running (``stApp``'s ``data-test-script-state``).

    Only meaningful after a condition that proves the rerun in question has started or ended (a
    new URL, a new text): right after an input the state may still read "notRunning".
    """
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"]')
             ?.getAttribute('data-test-script-state') === 'notRunning'""",
        timeout=timeout_ms,
    )


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
