"""The offline experiment protocol shared by the quality bench, the CLI and the dashboard.

Dataset -> positives -> split -> index and matrices -> (tune on validation) -> fit -> top-K ->
metrics, in that order and nowhere else:

1. Positives are interactions with ``rating >= threshold`` (all of them when there is no rating).
   Users with fewer than ``min_positives`` positives are dropped before splitting: too short a
   history leaves nothing to learn from once the test share is held out.
2. :func:`recsys.evaluation.split.make_split` holds out ``test_fraction`` of each user's positives
   (temporal: the latest) and carves ``validation_fraction`` of the remaining training rows out the
   same way.
3. Candidates are the whole catalogue, cold items included, unless a candidate scope
   (:class:`recsys.models.scope.CandidateScope`: ``tail`` or ``cold``, from the stage's training
   counts) narrows them; each user's training items are excluded from their list. Under a scope,
   test positives are restricted to in-scope items too, so the metrics answer the question the
   scope asks; only users with at least one (in-scope) test item are scored, and the users skipped
   for having none are counted in the summary.
4. Popularity bands come from TRAINING counts (:func:`recsys.data.popularity.groups`): head = top
   20% of the catalogue by count (ties by catalogue order) unless the candidates' head rule says
   otherwise, cold = no training positive, tail = rest.
5. Each hyper-parameter combination in a model's ``param_grid`` is fitted on ``fit_train`` (train
   minus validation) and scored on validation by ``tune_metric`` (under the same candidate scope,
   from ``fit_train``'s counts); the best one is refitted on the full train and scored once on
   test.
6. Item text must not leak held-out interactions: for MovieLens, a tag a user put on one of their
   own held-out movies is dropped (test pairs for the final fit; test and validation pairs while
   tuning). A :data:`TextFn` turns held-out (user, item) pairs into catalogue text.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import popularity
from recsys.data.dataset import Dataset
from recsys.data.index import Index
from recsys.data.movielens import is_movielens, load_movielens
from recsys.data.sources import load
from recsys.evaluation.metrics import evaluate_by_band, evaluate_topk
from recsys.evaluation.split import Split, SplitKind, make_split, split_masks
from recsys.evaluation.tables import Results
from recsys.models import TrainData, make_model
from recsys.models.scope import CandidateScope, Scope, check_model

TextFn = Callable[[pd.DataFrame], list[str]]  # held-out (user, item) pairs -> text per item
Progress = Callable[[str], None]

DEFAULT_MODELS = ("mostpop", "itemknn", "ease", "als", "tfidf")


@dataclass(frozen=True)
class Protocol:
    """Every choice that changes the numbers, with the defaults of the quality bench."""

    split: SplitKind = "temporal"
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    threshold: float | None = 4.0
    min_positives: int = 5
    ks: tuple[int, ...] = (10, 20)
    seed: int = 0
    tune: bool = True
    head_share: float = 0.2  # the top_share value when ``candidates`` gives none
    tune_metric: str | None = None  # None: ndcg at the largest k
    candidates: CandidateScope = (
        CandidateScope()
    )  # scope of every list, and the head rule of the bands

    @property
    def metric(self) -> str:
        return self.tune_metric or f"ndcg@{max(self.ks)}"

    @property
    def head_rule(self) -> tuple[popularity.Rule, float]:
        """(rule, value) of the head/tail cut, for the bands and the ``tail`` scope."""
        c = self.candidates
        if c.head_value is None and c.head_rule == "top_share":
            return "top_share", self.head_share
        return c.head_rule, c.value


@dataclass
class Stage:
    """One train/holdout pair as models see it: what to fit on and what to score against."""

    train: sp.csr_matrix  # (U, I) positives to fit on, also excluded from the lists
    holdout: sp.csr_matrix  # (U, I) positives to find
    text: list[str]  # (I,) item text with the held-out pairs' own tags removed
    counts: np.ndarray  # (I,) training positives per item
    groups: np.ndarray  # (I,) int8 HEAD / TAIL / COLD from ``counts``
    extras: dict = field(default_factory=dict)
    candidates: np.ndarray | None = None  # (I,) bool scope mask; None = the whole catalogue

    @property
    def users(self) -> np.ndarray:
        """Users with at least one held-out (in-scope) item: the ones scored."""
        return np.flatnonzero(np.diff(self.target.indptr))

    @property
    def target(self) -> sp.csr_matrix:
        """The held-out positives the metrics count: only in-scope items under a scope."""
        if self.candidates is None:
            return self.holdout
        keep = sp.diags(self.candidates.astype(np.float32))
        target = (self.holdout @ keep).tocsr()
        target.eliminate_zeros()
        return target

    @property
    def skipped_users(self) -> int:
        """Users with held-out items but none in scope: not scored."""
        return int(np.count_nonzero(np.diff(self.holdout.indptr))) - len(self.users)


@dataclass
class Experiment:
    """A prepared dataset: the split and the two stages (tuning and final)."""

    index: Index
    split: Split
    tuning: Stage  # fit_train -> validation
    final: Stage  # train -> test
    summary: dict[str, float]


@dataclass
class ModelResult:
    """Test metrics of one model with the hyper-parameters chosen on validation."""

    model: str
    params: dict
    metrics: dict[str, float]
    fit_seconds: float
    recommend_seconds: float
    trials: list[dict] = field(default_factory=list)  # [{"params": ..., metric: value}, ...]

    @property
    def seconds(self) -> float:
        return self.fit_seconds + self.recommend_seconds


# --- preparing the data --------------------------------------------------------------------------


def resolve(source: Dataset | str | Path) -> tuple[Dataset, TextFn]:
    """A dataset and the text function that removes held-out tags (MovieLens) or ignores them."""
    if isinstance(source, Dataset):
        return source, static_text(source)
    dataset = load(source)
    if str(source) != "sample" and is_movielens(source):
        return dataset, movielens_text(source)
    return dataset, static_text(dataset)


def static_text(dataset: Dataset) -> TextFn:
    """Text that does not depend on who held out what (catalogue-only text)."""
    text = dataset.item_text()
    return lambda held_out: text


def movielens_text(path: str | Path) -> TextFn:
    """Title + genres + tags, minus every tag a user put on one of their own held-out movies."""
    return lambda held_out: load_movielens(path, tag_exclude=held_out).item_text()


def filter_users(positives: pd.DataFrame, min_positives: int) -> pd.DataFrame:
    """Keep users with at least ``min_positives`` positives."""
    sizes = positives.groupby("user")["item"].transform("size")
    return positives[sizes >= min_positives].reset_index(drop=True)


def prepare(dataset: Dataset, protocol: Protocol, text: TextFn | None = None) -> Experiment:
    """Positives, split, index and the tuning and final stages of ``dataset``."""
    text = text or static_text(dataset)
    liked = dataset.positives(protocol.threshold)
    _check_positives(dataset, protocol, liked=len(liked), kept=None)
    positives = filter_users(liked, protocol.min_positives)
    _check_positives(dataset, protocol, liked=None, kept=len(positives))
    columns = [c for c in ("user", "item", "timestamp") if c in positives]
    split = make_split(
        positives[columns],
        protocol.split,
        protocol.test_fraction,
        protocol.seed,
        protocol.validation_fraction,
    )
    index = Index.build(positives, dataset.items)
    pairs = ["user", "item"]
    tuning = _stage(
        index,
        split.fit_train,
        split.validation,
        text(pd.concat([split.test[pairs], split.validation[pairs]])),
        protocol,
    )
    tuning.extras["validation"] = tuning.holdout
    final = _stage(index, split.train, split.test, text(split.test[pairs]), protocol)
    summary: dict[str, float] = {
        "users": index.n_users,
        "items": index.n_items,
        "train": len(split.train),
        "validation": len(split.validation),
        "test": len(split.test),
        "head_items": int(np.sum(final.groups == popularity.HEAD)),
        "cold_items": int(np.sum(final.groups == popularity.COLD)),
    }
    if final.candidates is not None:
        summary["scope_items"] = int(final.candidates.sum())
        summary["scope_users"] = len(final.users)
        summary["scope_skipped_users"] = final.skipped_users
        if not len(final.users):
            scope = protocol.candidates.scope
            raise ValueError(
                f"no test positive is in candidate scope {scope!r} ({summary['scope_items']} "
                f"items), so there is nothing to measure; use another --candidates or --split"
            )
    return Experiment(index=index, split=split, tuning=tuning, final=final, summary=summary)


@dataclass(frozen=True)
class TrainingCounts:
    """What :func:`training_counts` returns: the tuning stage's counts without the stage."""

    counts: np.ndarray  # (I,) int64, catalogue order: users with the item in fit_train
    pairs: int  # distinct (user, item) pairs of fit_train: ``tuning.train.nnz``


def training_counts(dataset: Dataset, protocol: Protocol) -> TrainingCounts:
    """``prepare(dataset, protocol).tuning.counts`` and ``.tuning.train.nnz``, from integer codes
    only: no item text, no matrices, no per-user Python. On 10M interactions this is what a page
    that only colours items by training popularity pays (the whole :func:`prepare` builds both
    stages' matrices and text)."""
    inter = dataset.interactions
    keep = np.ones(len(inter), dtype=bool)
    if protocol.threshold is not None and dataset.has_ratings:
        keep = (inter["rating"] >= protocol.threshold).to_numpy(dtype=bool, copy=True)
    _check_positives(dataset, protocol, liked=int(keep.sum()), kept=None)
    users, user_ids = pd.factorize(inter["user"])
    sizes = np.bincount(users[keep], minlength=len(user_ids))
    keep &= sizes[users] >= protocol.min_positives
    _check_positives(dataset, protocol, liked=None, kept=int(keep.sum()))
    items, ids = pd.factorize(inter["item"], sort=True)  # codes in item-id order
    where = pd.Index(dataset.items["item"].to_numpy(dtype=object)).get_indexer(
        np.asarray(ids, dtype=object)
    )
    if (where < 0).any():
        raise KeyError(f"unknown ids: {np.asarray(ids, dtype=object)[where < 0][:5].tolist()}")
    rows = np.flatnonzero(keep)
    users, items = users[rows], items[rows].astype(np.int64)
    if protocol.split == "temporal" and "timestamp" not in inter:
        raise ValueError("the temporal split needs a 'timestamp' column")
    timestamps = inter["timestamp"].to_numpy()[rows] if protocol.split == "temporal" else None
    in_test, in_validation = split_masks(
        users, items, timestamps, protocol.split, protocol.test_fraction, protocol.seed,
        protocol.validation_fraction,
    )  # fmt: skip
    fit = ~in_test & ~in_validation
    pairs = np.sort(users[fit].astype(np.int64) * max(len(ids), 1) + items[fit])
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs  # distinct
    counts = np.bincount(where[pairs % max(len(ids), 1)], minlength=len(dataset.items))
    return TrainingCounts(counts=counts.astype(np.int64), pairs=len(pairs))


def _check_positives(dataset: Dataset, protocol: Protocol, liked, kept) -> None:
    """:func:`prepare`'s refusals: no positive at the threshold, or no user with enough."""
    if liked == 0 and dataset.has_ratings:  # a threshold above every rating: nothing to learn
        rating = dataset.interactions["rating"]
        raise ValueError(
            f"no rating >= {protocol.threshold:g} in {dataset.name!r} (ratings run from "
            f"{rating.min():g} to {rating.max():g}), so nothing counts as positive; lower the "
            f"threshold"
        )
    if kept == 0:
        raise ValueError(
            f"no user has {protocol.min_positives} or more positives"
            + (f" at rating >= {protocol.threshold}" if dataset.has_ratings else "")
        )


def _stage(
    index: Index, train: pd.DataFrame, holdout: pd.DataFrame, text: list[str], protocol: Protocol
) -> Stage:
    matrix = index.matrix(train)
    counts = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
    rule, value = protocol.head_rule
    scope = protocol.candidates.scope
    return Stage(
        train=matrix,
        holdout=index.matrix(holdout),
        text=text,
        counts=counts,
        groups=popularity.groups(counts, rule, value),
        candidates=None if scope == "all" else CandidateScope(scope, rule, value).mask(counts),
    )


# --- fitting and scoring -------------------------------------------------------------------------


def fit_and_score(
    name: str, params: dict, stage: Stage, index: Index, protocol: Protocol
) -> tuple[dict[str, float], float, float]:
    """Fit on ``stage.train`` and rank the catalogue for held-out users: (metrics, fit s, rec s)."""
    data = TrainData(stage.train, stage.text, index.item_ids, dict(stage.extras))
    start = time.perf_counter()
    model = make_model(name, seed=protocol.seed, **params).fit(data)
    fitted = time.perf_counter()
    users = stage.users
    top = recommend_all(model, users, max(protocol.ks), stage.candidates)
    done = time.perf_counter()
    held = stage.target[users]
    metrics = evaluate_topk(top, held, stage.counts, stage.groups, protocol.ks)
    # Every figure also per popularity band, as "head:recall@20", "cold:ndcg@10", ...
    for band, values in evaluate_by_band(
        top, held, stage.counts, stage.groups, protocol.ks
    ).items():
        metrics.update({f"{band}:{key}": value for key, value in values.items()})
    return metrics, fitted - start, done - fitted


def recommend_all(
    model, users: np.ndarray, k: int, candidates: np.ndarray | None = None, batch: int = 1024
) -> np.ndarray:
    """(len(users), k) top items of each user, training items excluded, in batches of users;
    only ``candidates`` items (an (I,) bool mask) when given."""
    tops = [
        model.recommend(users[s : s + batch], k, candidates=candidates)[0]
        for s in range(0, len(users), batch)
    ]
    return np.vstack(tops) if tops else np.zeros((0, k), dtype=np.int64)


def grid(name: str) -> list[dict]:
    """Every hyper-parameter combination of a model's ``param_grid``, in grid order."""
    space = type(make_model(name)).param_grid
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


def tune(
    name: str, experiment: Experiment, protocol: Protocol, progress: Progress | None = None
) -> tuple[dict, list[dict]]:
    """Best hyper-parameters of ``name`` on validation (first in grid order on ties), and trials.

    A grid of one combination (or none) has nothing to choose: no validation fit is spent on it.
    """
    candidates = grid(name)
    if len(candidates) <= 1:
        return (dict(candidates[0]) if candidates else {}), []
    trials: list[dict[str, Any]] = []
    for params in candidates:
        metrics, _, _ = fit_and_score(name, params, experiment.tuning, experiment.index, protocol)
        trials.append({"params": params, protocol.metric: metrics[protocol.metric]})
        if progress:
            progress(f"tune {name} {params}: {protocol.metric} = {metrics[protocol.metric]:.4f}")
    if not trials:
        return {}, []
    best = max(trials, key=lambda t: _or_minus_inf(t[protocol.metric]))
    return dict(best["params"]), trials


def run_model(
    name: str,
    experiment: Experiment,
    protocol: Protocol,
    params: dict | None = None,
    progress: Progress | None = None,
) -> ModelResult:
    """Tune ``name`` on validation (unless ``params`` are given or tuning is off), test once."""
    trials: list[dict] = []
    if params is None:
        params = {}
        if protocol.tune:
            params, trials = tune(name, experiment, protocol, progress)
    metrics, fit_s, rec_s = fit_and_score(
        name, params, experiment.final, experiment.index, protocol
    )
    if progress:
        progress(
            f"test {name} {params}: recall@{max(protocol.ks)} = "
            f"{metrics[f'recall@{max(protocol.ks)}']:.4f} ({fit_s + rec_s:.1f} s)"
        )
    return ModelResult(name, params, metrics, fit_s, rec_s, trials)


def evaluate(
    dataset: Dataset | str | Path,
    model_names: Sequence[str] = DEFAULT_MODELS,
    split: SplitKind = "temporal",
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    threshold: float | None = 4.0,
    min_positives: int = 5,
    ks: Sequence[int] = (10, 20),
    seed: int = 0,
    tune: bool = True,
    params: dict[str, dict] | None = None,
    text: TextFn | None = None,
    progress: Progress | None = None,
    candidates: CandidateScope | Scope = "all",
) -> Results:
    """Run the protocol (module docstring) for each model on one split of ``dataset``.

    Args:
        dataset: a :class:`Dataset`, ``"sample"`` or a MovieLens folder. Given a folder, item text
            drops the held-out tags; given a Dataset, pass ``text`` to do the same.
        model_names: registered model names (:data:`recsys.models.MODELS`).
        params: fixed hyper-parameters per model name; those models are not tuned.
        progress: called with one line per fit, for logs and dashboards.
        candidates: the scope of every list (``"all"``, ``"tail"``, ``"cold"`` or a
            :class:`CandidateScope` with its head rule); metrics are computed over the same scope.
    """
    if isinstance(candidates, str):
        candidates = CandidateScope(candidates)
    protocol = Protocol(
        split=split,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        threshold=threshold,
        min_positives=min_positives,
        ks=tuple(sorted(set(ks))),
        seed=seed,
        tune=tune,
        candidates=candidates,
    )
    for name in model_names:
        make_model(name)  # fail on an unknown name before any work
        check_model(name, candidates.scope)
    data, default_text = resolve(dataset)
    experiment = prepare(data, protocol, text or default_text)
    fixed = params or {}
    results = [
        run_model(name, experiment, protocol, fixed.get(name), progress) for name in model_names
    ]
    return Results(protocol, data.name, experiment.summary, results)


def _or_minus_inf(value: float) -> float:
    return -math.inf if value is None or math.isnan(value) else value
