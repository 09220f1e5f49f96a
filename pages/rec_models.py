"""The Recommendations page's cached work, and the warm-up that fills it at app start.

Not a page (``app.py`` lists the pages explicitly): the fitted models, candidate lists,
trade-off sweeps and similarities live here so that :func:`start_warmup` can fill the same
caches from a background thread while the first visitor looks at another page. Everything is a
call into :mod:`recsys.report.analysis` or :mod:`recsys.whatif`; nothing here models.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages import common
from recsys.data import popularity, segments
from recsys.models.scope import CandidateScope
from recsys.report import analysis
from recsys.runs.folder import BEST, EMBEDDINGS
from recsys.whatif import audience, explain, rerank, scorers

SEED = 0  # split and model seed, shown in the page caption
SAMPLE_USERS = analysis.SAMPLE_USERS  # judged users past which KPIs and curves use a sample
ONE_USER_CACHE = 64  # one-user candidate lists kept (users outside the KPI sample)
AUDIENCE_USERS = 15
RUNS_OFFERED = 5  # finished runs offered besides the active one, newest first
WARMUP_ENV = "LONGTAIL_WARMUP"  # "0": no background warm-up (tests that time a cold page)
# Held while the warm-up encodes the sample or draws its map: the Embeddings page waits on it
# rather than do the same minute of work twice at once, then reads both from the disk caches.
MAP_LOCK = threading.Lock()
log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Preparing the split…", max_entries=4, ttl=common.DATASET_TTL_S)
def prepared(source: tuple, rule: str, value: float):
    data = common._load(source)  # temporal split where there are timestamps, else random
    settings = analysis.Settings(head_rule=rule, head_value=value, seed=SEED)  # type: ignore[arg-type]
    experiment, groups = analysis.prepare(data, settings)
    return data, experiment, groups


@st.cache_resource(show_spinner="Fitting the model…", max_entries=8, ttl=common.DATASET_TTL_S)
def fitted(source: tuple, rule: str, value: float, model: str, stamp: float = 0.0):
    """The fitted model's score parts; ``stamp``: a run's embeddings mtime (a newer one refits)."""
    _, experiment, _ = prepared(source, rule, value)
    return analysis.fit_model(experiment, model, SEED, rule, value)  # hybrids banded by the rule


@st.cache_resource(max_entries=4, ttl=common.DATASET_TTL_S)
def baseline_of(source: tuple, rule: str, value: float) -> str:
    """The collaborative baseline every list and curve is compared with, chosen by size
    (:func:`recsys.report.analysis.baseline_model`: EASE where it fits, else ItemKNN)."""
    _, experiment, _ = prepared(source, rule, value)
    return analysis.baseline_model(experiment.tuning.train)


@st.cache_resource(max_entries=4, ttl=common.DATASET_TTL_S)
def sample_of(source: tuple, rule: str, value: float) -> np.ndarray | None:
    """The seeded users the KPIs, curves and cached lists cover (None: every user): on a large
    dataset the first render does not wait for every user's candidates."""
    _, experiment, _ = prepared(source, rule, value)
    return analysis.user_sample(experiment, analysis.Settings(seed=SEED, sample_users=SAMPLE_USERS))


@st.cache_resource(
    show_spinner="Caching 200 candidates per user…", max_entries=12, ttl=common.DATASET_TTL_S
)
def candidates(
    source: tuple, rule: str, value: float, model: str, stamp: float = 0.0, scope: str = "all"
) -> rerank.Candidates:
    """Candidates for every user, or for the seeded sample (:func:`sample_of`) on a large
    dataset."""
    _, experiment, groups = prepared(source, rule, value)
    scorer = fitted(source, rule, value, model, stamp)
    return analysis.candidates_of(
        scorer,
        experiment,
        groups,
        CandidateScope(scope, rule, value),
        sample_of(source, rule, value),
    )


def user_candidates(
    source: tuple,
    rule: str,
    value: float,
    model: str,
    stamp: float,
    scope: str,
    user: int,
) -> tuple[rerank.Candidates, int]:
    """(candidates, row) holding user position ``user``: the cached lists where they cover it,
    else that one user's, built on demand (the same row a full build would give it)."""
    cands = candidates(source, rule, value, model, stamp, scope)
    row = cands.row(user)
    if row is not None:
        return cands, row
    return _one_user(source, rule, value, model, stamp, scope, user), 0


@st.cache_resource(show_spinner=False, max_entries=ONE_USER_CACHE, ttl=common.DATASET_TTL_S)
def _one_user(
    source: tuple, rule: str, value: float, model: str, stamp: float, scope: str, user: int
) -> rerank.Candidates:
    _, experiment, groups = prepared(source, rule, value)
    scorer = fitted(source, rule, value, model, stamp)
    scoped = CandidateScope(scope, rule, value)
    return analysis.candidates_of(scorer, experiment, groups, scoped, np.array([user]))


def holdout_in(experiment, rule: str, value: float, scope: str):
    """Validation positives within the scope: what a scoped list is judged on."""
    mask = CandidateScope(scope, rule, value).mask(experiment.tuning.counts)
    return analysis.scoped_holdout(experiment.tuning.holdout, mask)


@st.cache_data(show_spinner="Sweeping boost values…", max_entries=16, ttl=common.DATASET_TTL_S)
def tradeoff(
    source: tuple,
    rule: str,
    value: float,
    model: str,
    k: int,
    stamp: float = 0.0,
    scope: str = "all",
) -> pd.DataFrame:
    _, experiment, _ = prepared(source, rule, value)
    cands = candidates(source, rule, value, model, stamp, scope)
    return rerank.tradeoff(cands, holdout_in(experiment, rule, value, scope), k)


@st.cache_resource(show_spinner="Item similarities…", max_entries=4, ttl=common.DATASET_TTL_S)
def similarities(source: tuple, rule: str, value: float, run: str | None, mtime: float) -> dict:
    """Item-item cosine, and embedding cosine from the run (else TF-IDF text cosine)."""
    _, experiment, _ = prepared(source, rule, value)
    stage = experiment.tuning
    sims = {explain.ITEM_ITEM: explain.cooccurrence(stage.train)}
    return sims | analysis.text_similarity(run, experiment, stage.text)


@st.cache_data(show_spinner="Scoring every user for this item…", max_entries=32, ttl=600)
def reach_of(
    source: tuple, rule: str, value: float, model: str, stamp: float, item: int, run: str | None
) -> list[audience.Reach]:
    _, experiment, _ = prepared(source, rule, value)
    stage = experiment.tuning
    text = similarities(source, rule, value, run, stamp)
    name = next(n for n in text if n != explain.ITEM_ITEM)
    return audience.audience(
        fitted(source, rule, value, model, stamp),
        item,
        stage.train,
        text[name],
        scope=CandidateScope("cold", rule, value).mask(stage.counts),
        n_users=AUDIENCE_USERS,
        users=sample_of(source, rule, value),
    )


@st.cache_data(max_entries=4, ttl=common.DATASET_TTL_S)
def user_table(source: tuple, rule: str, value: float) -> pd.DataFrame:
    _, experiment, groups = prepared(source, rule, value)
    table = segments.user_segments(experiment.tuning.train, groups)
    table.insert(0, "user", experiment.index.user_ids)
    return table


@st.cache_resource(max_entries=4, ttl=common.DATASET_TTL_S)
def _terms_memo(source: tuple) -> dict[int, set]:
    return {}


def terms_of(source: tuple):
    """:func:`recsys.whatif.explain.item_terms` of the dataset, each item's terms worked out once
    per dataset and kept (explanations ask for the same list and history items every rerun)."""
    memo, data = _terms_memo(source), common._load(source)

    def terms(positions) -> list[set]:
        wanted = [int(p) for p in positions]
        missing = [p for p in dict.fromkeys(wanted) if p not in memo]
        if missing:
            found = explain.item_terms(data.items, data.text_columns, np.array(missing))
            memo.update(zip(missing, found, strict=True))
        return [memo[p] for p in wanted]

    return terms


def finished_runs(root: Path, active: str | None) -> dict[str, tuple[str, float]]:
    """``{"hybrid_run:<name>": (folder, embeddings mtime)}`` for runs with a best checkpoint and
    item embeddings: the active run first, then the newest :data:`RUNS_OFFERED`."""
    names = [str(active)] if active else []
    if root.is_dir():
        names += sorted((p.name for p in root.iterdir() if p.is_dir()), reverse=True)
    out: dict[str, tuple[str, float]] = {}
    for name in names:
        folder = root / name
        if (folder / BEST).exists() and (folder / EMBEDDINGS).exists():
            out.setdefault(
                f"{scorers.HYBRID_RUN_PREFIX}{name}",
                (str(folder), (folder / EMBEDDINGS).stat().st_mtime),
            )
        if len(out) > RUNS_OFFERED:
            break
    return out


def best_model(runs: dict[str, tuple[str, float]]) -> str:
    """The page's first view: a finished run's hybrid, else the frozen-MiniLM hybrid."""
    return next(iter(runs), scorers.HYBRID_FROZEN)


def fit_key(choice: str, runs: dict[str, tuple[str, float]]) -> tuple[str, float]:
    """What :func:`candidates` is called with for a page choice: (model, stamp)."""
    if choice in runs:
        folder, stamp = runs[choice]
        return f"{scorers.HYBRID_RUN_PREFIX}{folder}", stamp
    return choice, 0.0


# --- warm-up ---------------------------------------------------------------------------------


@dataclass
class Warmup:
    """Progress of the background warm-up, shared by every session of this server process."""

    steps: list[str]
    done: int = 0
    current: str = ""
    finished: bool = False
    error: str | None = None
    ready: set[tuple[str, float]] = field(default_factory=set)  # fit keys with candidates cached
    started: float = field(default_factory=time.monotonic)

    def pending(self, key: tuple[str, float]) -> bool:
        """Whether the warm-up will fit ``key`` but has not yet."""
        return not self.finished and self.error is None and key not in self.ready


_WARMUP: Warmup | None = None
_WARMUP_LOCK = threading.Lock()


def warm_status() -> Warmup | None:
    return _WARMUP


def start_warmup(runs_dir: str) -> Warmup | None:
    """Start (once per process) a daemon thread that fills the caches the first visits need.

    On the bundled sample under the default head/tail rule, cheapest first so each page's first
    view is ready early: the shipped vectors and map of the sample (``sample_data/artefacts/``,
    copied into the disk caches when they still match), the split, the EASE + TF-IDF blend and
    EASE with their K = 10 trade-off sweeps (seconds), the Embeddings page's MiniLM vectors
    (into the encoder's disk cache) and
    UMAP's numba compilation (about a minute), then the page's best model (a finished run's
    hybrid, else the frozen-MiniLM hybrid: minutes on a loaded 2-core CPU) and the text
    similarities its explanations use. It starts with the first session (Streamlit runs
    ``app.py`` per session, not at server start). Navigation never waits on it; the
    Recommendations page shows its progress and shows the blend until the best model is in.
    """
    global _WARMUP
    if os.environ.get(WARMUP_ENV, "1") == "0":
        return None
    with _WARMUP_LOCK:
        if _WARMUP is not None:
            return _WARMUP
        runs = finished_runs(Path(runs_dir), None)
        best = best_model(runs)
        plan = [
            ("the sample's shipped vectors and map", _install_sample_artefacts),
            ("the split", lambda: prepared(SAMPLE_KEY, *DEFAULT_RULE)),
            (analysis.model_label(scorers.BLEND), lambda: _warm_model(scorers.BLEND, 0.0)),
            ("the collaborative baseline", _warm_baseline),
            ("the catalogue's MiniLM vectors", _warm_vectors),
            ("the sample's map (UMAP compiles once)", _warm_umap),
            (analysis.model_label(best), lambda: _warm_model(*fit_key(best, runs))),
            ("explanations", lambda: similarities(SAMPLE_KEY, *DEFAULT_RULE, *_run_of(best, runs))),
        ]
        _WARMUP = Warmup(steps=[name for name, _ in plan])
        status = _WARMUP

    def work() -> None:
        for name, step in plan:
            status.current = name
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the pages fit on demand instead
                log.warning("warm-up step %r failed: %s", name, exc)
                status.error = f"{name}: {type(exc).__name__}"
            status.done += 1
        status.finished, status.current = True, ""
        log.info("warm-up finished in %.0f s", time.monotonic() - status.started)

    threading.Thread(target=work, name="longtail-warmup", daemon=True).start()
    return status


SAMPLE_KEY = common.source_key(common.SAMPLE)
DEFAULT_RULE = ("top_share", float(popularity.DEFAULT_VALUES["top_share"]))


def _run_of(choice: str, runs) -> tuple[str | None, float]:
    return (runs[choice][0], runs[choice][1]) if choice in runs else (None, 0.0)


def _warm_model(model: str, stamp: float) -> None:
    candidates(SAMPLE_KEY, *DEFAULT_RULE, model, stamp)
    tradeoff(SAMPLE_KEY, *DEFAULT_RULE, model, 10, stamp)
    if _WARMUP is not None:
        _WARMUP.ready.add((model, stamp))


def _warm_baseline() -> None:
    _warm_model(baseline_of(SAMPLE_KEY, *DEFAULT_RULE), 0.0)


def _install_sample_artefacts() -> None:
    """The vectors and map ``sample_data/artefacts.py`` made, into the disk caches, when they still
    match the model and the sample (:mod:`recsys.data.sample_cache`)."""
    from recsys.data import sample_cache

    with MAP_LOCK:
        if not sample_cache.install():
            log.info("shipped sample artefacts do not match the model or the sample: not used")


def _warm_vectors() -> None:
    from recsys.lm import encoder

    with MAP_LOCK:
        encoder.encode_items(common._load(SAMPLE_KEY).item_text())  # fills the disk cache


def _warm_umap() -> None:
    """The Embeddings page's default map of the sample: compiles UMAP's numba code once per
    process and leaves the projection in its disk cache, where the page finds it."""
    from recsys.lm import encoder
    from recsys.maps import projection

    with MAP_LOCK:
        vectors = encoder.encode_items(common._load(SAMPLE_KEY).item_text())  # from disk
        projection.project(vectors, projection.ProjectionConfig())
