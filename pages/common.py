"""What every page shares: state names, the loaded dataset, and safe display helpers.

Untrusted text (file, dataset, run and column names, item text, error messages that quote them)
is shown only through one family of helpers: :func:`md` wherever Streamlit renders Markdown
(``st.markdown``, captions, alerts, headers, toasts, widget labels), :func:`html_text` for plotly
trace names and hover text, and :func:`show_error` for a failure, as one escaped, length-capped
line (never a traceback).

Not a page itself: ``app.py`` lists the pages explicitly with ``st.navigation``. Every page calls
:func:`init_state` first, so a page opened directly by URL finds sensible defaults.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import auth
from recsys.data import popularity, tables
from recsys.data.dataset import DataError, Dataset
from recsys.data.movielens import is_movielens, load_movielens
from recsys.data.sources import load_sample, load_table
from recsys.data.validation import guess_text_columns
from recsys.runs.atomic import atomic_write_bytes
from recsys.runs.pruning import cap_bytes, prune_cache, touch

REPO = Path(__file__).resolve().parents[1]
UPLOAD_DIR = REPO / ".cache" / "uploads"
MAX_UPLOAD_MB = 200  # same as .streamlit/config.toml server.maxUploadSize
DATASET_TTL_S = 3600  # a parsed dataset (and what pages derive from it) leaves memory after an hour
ERROR_LIMIT = 300  # characters of an error message shown on a page
log = logging.getLogger(__name__)

# Session-state keys, defined once.
SOURCE = "data_source"  # dict describing what to load, see dataset_from_source
TAIL_RULE = "tail_rule"
TAIL_VALUE = "tail_value"
RUNS_DIR = "runs_dir"
ACTIVE_RUN = "active_run"
LAST_GOOD = "data_source_last_good"  # the last source that loaded, the fallback after a failure

SAMPLE = {"kind": "sample"}
DEFAULTS = {
    SOURCE: SAMPLE,
    TAIL_RULE: "top_share",
    TAIL_VALUE: popularity.DEFAULT_VALUES["top_share"],
    RUNS_DIR: os.environ.get("LONGTAIL_RUNS_DIR", str(REPO / "runs")),
    ACTIVE_RUN: None,
}


def init_state() -> None:
    leave_legacy_navigation()
    auth.require_login()  # before any page renders, whether via app.py or a page URL
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def leave_legacy_navigation(rerun: bool = True) -> None:
    """Make a first visit straight to a page URL go through ``app.py``'s navigation.

    Streamlit treats a folder named ``pages/`` beside the entry script as a legacy multipage app
    until ``st.navigation`` is first called in the process: a fresh server's first request for
    ``/embeddings`` would run that file alone, without ``app.py``. Switching the flag that
    ``st.navigation`` itself clears and rerunning lets ``app.py`` route the same URL.
    ``app.py`` itself passes ``rerun=False``: it is already the script that routes, and a rerun
    there would drop the input of that run (a submitted login form).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if rerun:
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


def save_upload(name: str, data: bytes, keep: tuple[Path, ...] = ()) -> Path:
    """Store an uploaded file under our own folder, named by its content hash, never its name.

    The folder is capped (:func:`recsys.runs.pruning.cap_bytes`, ``LONGTAIL_UPLOAD_CACHE_MB``):
    the least recently used uploads go first, never this one or those in ``keep``.
    """
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise DataError(
            f"{name[:80]}: {len(data) / 2**20:.0f} MB is over the {MAX_UPLOAD_MB} MB limit"
        )
    suffix = ".parquet" if name.lower().endswith((".parquet", ".pq")) else ".csv"
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    path = UPLOAD_DIR / (hashlib.sha256(data).hexdigest()[:32] + suffix)
    if path.exists():
        touch(path)
    else:
        atomic_write_bytes(path, data)  # two sessions uploading the same file never collide
        prune_cache(UPLOAD_DIR, cap_bytes("uploads"), keep=(path, *keep))
    return path


@st.cache_data(show_spinner=False, max_entries=16, ttl=600)
def upload_columns(path: str) -> list[str]:
    """An upload's column names from its header or Parquet schema, without reading its rows."""
    return tables.read_columns(path)


@st.cache_data(show_spinner=False, max_entries=16, ttl=600)
def text_columns_guess(path: str, item_column: str) -> list[str]:
    """Text columns by name when the header has known ones; else read (capped) to judge values."""
    names = tables.read_columns(path)
    header = pd.DataFrame(columns=names).rename(columns={item_column: "item"})
    guess = guess_text_columns(header)
    if not guess:
        try:
            frame = tables.read_table(path).rename(columns={item_column: "item"})
            guess = guess_text_columns(frame)
        except DataError:
            guess = ()
    return [c for c in guess if c in names]


@st.cache_resource(show_spinner="Loading data…", max_entries=4, ttl=DATASET_TTL_S)
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
    """The dataset chosen on the Data page.

    When it fails to load (any exception: a bad file, a bug), the page shows one line and keeps
    working on the last source that loaded in this session, else on the bundled sample.
    """
    init_state()
    chosen = st.session_state[SOURCE]
    fallbacks = [st.session_state.get(LAST_GOOD) or SAMPLE, SAMPLE]
    try:
        data = _load(source_key(chosen))
    except Exception as exc:  # noqa: BLE001 - shown as one line; the page goes on
        for fallback in fallbacks:
            if fallback == chosen:
                continue
            try:
                data = _load(source_key(fallback))
            except Exception:  # noqa: BLE001 - e.g. the previous upload was pruned meanwhile
                continue
            what = "the bundled sample" if fallback == SAMPLE else "the previous data"
            show_error(f"Could not load the chosen data, showing {what} instead", exc)
            st.session_state[SOURCE] = chosen = fallback
            break
        else:
            raise
    st.session_state[LAST_GOOD] = chosen
    return data


def tail_setting() -> tuple[str, float]:
    init_state()
    return st.session_state[TAIL_RULE], float(st.session_state[TAIL_VALUE])


def clip(text: object, limit: int) -> str:
    """``str(text)`` on one line (whitespace runs become one space), at most ``limit`` chars."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1] + "…"


# Every character that Markdown, GitHub Markdown or Streamlit gives a meaning: emphasis, code,
# links and images, HTML, headings, lists, tables, maths, strikethrough, ``:red[...]`` directives,
# ``:material/...:`` icons and emoji shortcodes, entities, ``www.`` and e-mail autolinks.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$@&])")


def md(text: object, limit: int = 200) -> str:
    """Untrusted text for a Markdown context, shown literally: one line, escaped, capped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clip(text, limit))


def html_text(text: object, limit: int = 200) -> str:
    """Untrusted text for plotly names and hover labels (which render a subset of HTML)."""
    return html.escape(clip(text, limit), quote=True)


# Exceptions whose message we write ourselves (with the file, column and what was expected); any
# other exception is a bug or an environment problem: its text stays in the server log.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (DataError, ValueError, OSError)


def error_line(exc: BaseException, expected: tuple[type[BaseException], ...] = ()) -> str:
    """One line describing ``exc`` for a page: its message when it is ours, else its type.

    ``expected``: further exception types whose message is ours (e.g. ``launch.Busy``).
    """
    if isinstance(exc, EXPECTED_ERRORS + expected) and str(exc):
        return without_server_paths(str(exc))
    log.error("unexpected error shown as one line", exc_info=exc)
    return f"unexpected {type(exc).__name__} (the details are in the server log)"


def without_server_paths(text: str) -> str:
    """A message with this server's folders cut out: uploads by their content name, the rest
    relative to the checkout (``./runs/x``), so no browser learns where the app lives."""
    for folder, short in ((UPLOAD_DIR, "upload "), (REPO, "."), (REPO.parent, ".."),
                          (Path.home(), "~")):  # fmt: skip
        text = text.replace(f"{folder}{os.sep}", short if short == "upload " else short + os.sep)
        text = text.replace(str(folder), short.strip())
    return text


def show_error(prefix: str, exc: BaseException, where=st, expected=()) -> None:
    """``prefix: message`` as one escaped line of at most :data:`ERROR_LIMIT` characters."""
    where.error(md(f"{prefix}: {error_line(exc, expected)}", ERROR_LIMIT))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_bytes(frame) -> bytes:
    """A table as UTF-8 CSV for download, with spreadsheet formulas defused.

    Item text is untrusted: a cell such as ``=HYPERLINK(...)`` would run as a formula when the CSV
    is opened in a spreadsheet, so every non-numeric cell (text, category, mixed objects) starting
    with ``= + - @`` or a tab or line break, also after leading whitespace, gets a leading quote
    (OWASP CSV injection advice). Numbers, booleans, dates and missing values are left as they are.
    Cells holding line breaks are quoted.
    """
    safe = frame.copy()
    for col in safe.columns:
        values = safe[col]
        if values.dtype.kind in "biufcmM":  # numbers, booleans, dates: never a formula
            continue
        missing = values.isna().to_numpy()
        text = values.astype(object).where(~missing, "").astype(str)
        risky = text.str.startswith(FORMULA_START) | text.str.lstrip().str.startswith(
            FORMULA_START[:4]
        )
        safe[col] = text.where(~risky, "'" + text).where(~missing, None)
    # RFC 4180 line ends: the writer then quotes a cell holding a bare CR, which a spreadsheet
    # would otherwise take as a row break (and read what follows as a new, unquoted cell).
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
