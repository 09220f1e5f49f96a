"""What every page shares: state names, the loaded dataset, and safe display helpers.

Not a page itself: ``app.py`` lists the pages explicitly with ``st.navigation``. Every page calls
:func:`init_state` first, so a page opened directly by URL finds sensible defaults.
"""

from __future__ import annotations

import hashlib
import html
import os
from pathlib import Path

import streamlit as st

from recsys.data import popularity
from recsys.data.dataset import DataError, Dataset
from recsys.data.movielens import is_movielens, load_movielens
from recsys.data.sources import load_sample, load_table
from recsys.runs.atomic import atomic_write_bytes

REPO = Path(__file__).resolve().parents[1]
UPLOAD_DIR = REPO / ".cache" / "uploads"
MAX_UPLOAD_MB = 200  # same as .streamlit/config.toml server.maxUploadSize

# Session-state keys, defined once.
SOURCE = "data_source"  # dict describing what to load, see dataset_from_source
TAIL_RULE = "tail_rule"
TAIL_VALUE = "tail_value"
RUNS_DIR = "runs_dir"
ACTIVE_RUN = "active_run"

DEFAULTS = {
    SOURCE: {"kind": "sample"},
    TAIL_RULE: "top_share",
    TAIL_VALUE: popularity.DEFAULT_VALUES["top_share"],
    RUNS_DIR: os.environ.get("LONGTAIL_RUNS_DIR", str(REPO / "runs")),
    ACTIVE_RUN: None,
}


def init_state() -> None:
    _leave_legacy_navigation()
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def _leave_legacy_navigation() -> None:
    """Make a first visit straight to a page URL go through ``app.py``'s navigation.

    Streamlit treats a folder named ``pages/`` beside the entry script as a legacy multipage app
    until ``st.navigation`` is first called in the process: a fresh server's first request for
    ``/embeddings`` would run that file alone, without ``app.py``. Switching the flag that
    ``st.navigation`` itself clears and rerunning lets ``app.py`` route the same URL.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def data_roots() -> list[Path]:
    """Folders a typed-in dataset path may point into (user input never escapes them)."""
    extra = os.environ.get("LONGTAIL_DATA_DIRS", "")
    roots = [REPO.parent / "shared" / "datasets", REPO / "data"]
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return [r.resolve() for r in roots if r.exists()]


def movielens_folders() -> list[Path]:
    found = []
    for root in data_roots():
        found += [p for p in sorted(root.iterdir()) if p.is_dir() and is_movielens(p)]
    return found


def resolve_inside_roots(text: str) -> Path:
    """The typed path, resolved, if it lies inside one of :func:`data_roots`; else DataError."""
    path = Path(text).expanduser().resolve()
    for root in data_roots():
        if path == root or root in path.parents:
            return path
    allowed = ", ".join(str(r) for r in data_roots()) or "(none)"
    raise DataError(
        f"{text}: only folders inside {allowed} can be opened "
        f"(add more with the LONGTAIL_DATA_DIRS environment variable)"
    )


def save_upload(name: str, data: bytes) -> Path:
    """Store an uploaded file under our own folder, named by its content hash, never its name."""
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise DataError(f"{name}: {len(data) / 2**20:.0f} MB is over the {MAX_UPLOAD_MB} MB limit")
    suffix = ".parquet" if name.lower().endswith((".parquet", ".pq")) else ".csv"
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    path = UPLOAD_DIR / (hashlib.sha256(data).hexdigest()[:32] + suffix)
    if not path.exists():
        atomic_write_bytes(path, data)  # two sessions uploading the same file never collide
    return path


@st.cache_resource(show_spinner="Loading data…", max_entries=8)
def _load(source_key: tuple) -> Dataset:
    source = dict(source_key)
    options = dict(source.get("options", ()))
    if source["kind"] == "sample":
        return load_sample(**options)
    if source["kind"] == "movielens":
        return load_movielens(source["path"], **options)
    mapping = dict(source.get("mapping", ()))
    return load_table(
        source["interactions"],
        source["items"],
        mapping=mapping,
        item_column=source.get("item_column"),
        text_columns=source.get("text_columns") or None,
        name=source.get("name", "upload"),
        **options,
    )


def source_key(source: dict) -> tuple:
    """A hashable, order-independent form of a source dict (for caching)."""

    def freeze(v):
        if isinstance(v, dict):
            return tuple(sorted((k, freeze(x)) for k, x in v.items()))
        if isinstance(v, list):
            return tuple(freeze(x) for x in v)
        return v

    return freeze(source)


def current_dataset() -> Dataset:
    """The dataset chosen on the Data page; falls back to the sample (with an error) if broken."""
    init_state()
    try:
        return _load(source_key(st.session_state[SOURCE]))
    except DataError as exc:
        st.error(f"Could not load the chosen data, showing the bundled sample instead: {exc}")
        st.session_state[SOURCE] = {"kind": "sample"}
        return _load(source_key({"kind": "sample"}))


def tail_setting() -> tuple[str, float]:
    init_state()
    return st.session_state[TAIL_RULE], float(st.session_state[TAIL_VALUE])


def escape(text: object, limit: int = 200) -> str:
    """Untrusted text made safe for plotly hover labels (which render a subset of HTML)."""
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_bytes(frame) -> bytes:
    """A table as UTF-8 CSV for download, with spreadsheet formulas defused.

    Item text is untrusted: a cell such as ``=HYPERLINK(...)`` would run as a formula when the CSV
    is opened in a spreadsheet, so text cells starting with ``= + - @`` get a leading quote (OWASP
    CSV injection advice). Numbers are left as they are.
    """
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or str(safe[col].dtype).startswith(("string", "str")):
            text = safe[col].astype(str)
            risky = text.str.startswith(FORMULA_START)
            safe[col] = text.where(~risky, "'" + text)
    return safe.to_csv(index=False).encode("utf-8")
