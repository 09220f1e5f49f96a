"""Command line: ``python -m recsys evaluate|recommend ...``.

Each subcommand is an ``add_<name>_parser(subparsers)`` function that builds its parser and sets
``handler``, a function of the parsed arguments returning an exit code. ``COMMANDS`` lists them;
another module adds a subcommand by appending its ``add_<name>_parser`` there.

Bad arguments or bad input files end with exit code 2 and a one-line reason on stderr, never a
traceback. What can be checked before the work is checked first: output paths, ``--k``,
``--param`` names and types (against the model's constructor), fractions and thresholds.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import json
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import popularity
from recsys.data.dataset import DataError, Dataset
from recsys.data.index import Index
from recsys.data.sources import load_table
from recsys.evaluation.protocol import DEFAULT_MODELS, evaluate, resolve
from recsys.evaluation.split import SPLITS
from recsys.lm.train_cli import add_train_parser
from recsys.models import MODELS, TrainData, make_model, memory
from recsys.models.scope import SCOPE_HELP, SCOPES, CandidateScope, check_model
from recsys.report.cli import add_report_parser

EXIT_USAGE = 2
ENCODER_MODELS = ("content", "ease_content", "lm", "hybrid")  # models fed to the text encoder
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # as pages/common.py's csv_bytes
AddParser = Callable[[argparse._SubParsersAction], argparse.ArgumentParser]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2) instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def model_list() -> str:
    return ", ".join(MODELS)


def parse_param(text: str) -> tuple[str, object]:
    """``"lambda_=300"`` -> ``("lambda_", 300)``; values are Python literals or plain strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def add_model_options(parser: argparse.ArgumentParser, multiple: bool) -> None:
    parser.add_argument(
        "--model",
        action="append" if multiple else "store",
        choices=list(MODELS),
        metavar="NAME",
        help=f"model name: {model_list()}" + (" (repeatable)" if multiple else ""),
    )
    parser.add_argument(
        "--param",
        action="append",
        type=parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="fixed hyper-parameter, e.g. lambda_=300 (repeatable; skips tuning)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_scope_options(parser: argparse.ArgumentParser) -> None:
    """``--candidates`` and the Data page's head/tail rule (``--head-rule``, ``--head-value``)."""
    parser.add_argument(
        "--candidates",
        choices=list(SCOPES),
        default="all",
        help="items a list may hold: " + "; ".join(f"{k} = {v}" for k, v in SCOPE_HELP.items()),
    )
    parser.add_argument(
        "--head-rule",
        choices=list(popularity.RULES),
        default="top_share",
        help="head/tail rule for --candidates tail: "
        + "; ".join(f"{k} = {v}" for k, v in popularity.RULES.items()).replace("%", "%%"),
    )
    parser.add_argument(
        "--head-value",
        type=float,
        help="x of the head rule (defaults: "
        + ", ".join(f"{k} {v:g}" for k, v in popularity.DEFAULT_VALUES.items())
        + ")",
    )


def add_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        type=Path,
        metavar="DIR",
        help="a finished `train` run folder: --model hybrid uses its fine-tuned text tower "
        "instead of training one (the page's 'Hybrid · fine-tuned run')",
    )


def hybrid_params(args: argparse.Namespace, names: Sequence[str], params: dict) -> dict:
    """The hybrid's extra parameters from ``--run`` and the head rule (one band definition)."""
    if args.run is not None:
        from recsys.runs.folder import RunFolder

        others = [n for n in names if n != "hybrid"]
        if others:
            raise ValueError(f"--run is for --model hybrid, not {', '.join(others)}")
        if not args.run.is_dir():
            raise ValueError(f"--run {args.run}: no such run folder")
        if RunFolder(args.run).load_best() is None:
            raise ValueError(f"--run {args.run}: the run has no best model yet (still training?)")
    if "hybrid" not in names:
        return params
    extra: dict = {"head_rule": args.head_rule, "head_value": args.head_value}
    if extra["head_value"] is None:
        extra["head_value"] = popularity.DEFAULT_VALUES[args.head_rule]
    if args.run is not None:
        extra |= {"lm": "run", "lm_params": {"run_dir": str(args.run)}}
    return {**extra, **params}


def scope_from(args: argparse.Namespace) -> CandidateScope:
    return CandidateScope(args.candidates, args.head_rule, args.head_value)


# --- evaluate ------------------------------------------------------------------------------------


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="offline evaluation of models on a dataset",
        description="Split a dataset, tune each model on validation, report test metrics.",
    )
    p.add_argument("--data", required=True, help="a MovieLens folder or 'sample'")
    p.add_argument("--split", choices=list(SPLITS), default="temporal")
    add_model_options(p, multiple=True)
    p.add_argument("--k", type=int, action="append", help="cut-off, repeatable (default 10, 20)")
    p.add_argument("--threshold", type=float, default=4.0, help="rating counted as positive")
    p.add_argument("--min-positives", type=int, default=5, help="drop users with fewer")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--no-tune", action="store_true", help="use default hyper-parameters")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    add_scope_options(p)
    add_run_option(p)
    add_memory_option(p)
    p.set_defaults(handler=run_evaluate)
    return p


def run_evaluate(args: argparse.Namespace) -> int:
    names = args.model or list(DEFAULT_MODELS)
    fixed = dict(args.param)
    hybrid = hybrid_params(args, names, fixed)
    ks = tuple(args.k or (10, 20))
    if min(ks) < 1:
        raise ValueError(f"--k must be at least 1, got {min(ks)}")
    check_fraction("--test-fraction", args.test_fraction, low_open=True)
    check_fraction("--validation-fraction", args.validation_fraction, low_open=False)
    check_threshold(args.threshold)
    if args.min_positives < 1:
        raise ValueError(f"--min-positives must be at least 1, got {args.min_positives}")
    candidates = scope_from(args)
    for name in names:
        check_params(name, fixed)
        check_model(name, candidates.scope)
    if args.json:
        check_output(args.json, "--json")
    data, text = resolve(args.data)
    print_notes(data)
    warn_unreadable(names, fixed, data.item_text())
    results = evaluate(
        data,
        names,
        split=args.split,
        test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction,
        threshold=args.threshold,
        min_positives=args.min_positives,
        ks=ks,
        seed=args.seed,
        tune=not args.no_tune,
        params={n: hybrid if n == "hybrid" else fixed for n in names if fixed or n == "hybrid"},
        text=text,
        progress=lambda line: print(line, file=sys.stderr),
        candidates=candidates,
    )
    print(results.to_markdown())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results.to_dict(), indent=2) + "\n")
    return 0


# --- recommend -----------------------------------------------------------------------------------


def add_recommend_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "recommend",
        help="train on interactions and write top-K lists for every user",
        description="Train a model on all given interactions and write user,item,rank,score "
        "for every user, excluding the items each user already interacted with.",
    )
    p.add_argument("--interactions", required=True, type=Path, help="CSV/Parquet of interactions")
    p.add_argument("--items", required=True, type=Path, help="CSV/Parquet catalogue with text")
    p.add_argument("--user-col", required=True, help="user id column of the interactions")
    p.add_argument("--item-col", required=True, help="item id column (interactions and items)")
    p.add_argument("--rating-col", help="rating column; needs --threshold")
    p.add_argument("--threshold", type=float, help="ratings >= this are positive")
    add_model_options(p, multiple=False)
    p.add_argument("--k", type=int, default=20, help="list length (default 20)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output CSV; ids starting with = + - @ get a leading ' so a spreadsheet does not run "
        "them as formulas (see --raw)",
    )
    p.add_argument("--raw", action="store_true", help="write ids exactly as they are (no ')")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="encode the catalogue and score users on a Ray cluster: local:N (N CPUs on this "
        "machine, loopback only), auto (this machine's cluster) or ray://HOST:PORT; task "
        "shards go to OUT.shards/",
    )
    p.add_argument(
        "--candidates-per-user",
        type=int,
        metavar="N",
        help="hybrid: draw each list from N candidates per user (collaborative neighbours, text "
        "ANN, tail/cold-only text ANN) and score only those; 0 scores every item; default: "
        "candidates past 100,000 items",
    )
    p.add_argument(
        "--users-sample",
        type=int,
        metavar="N",
        help="write lists for a seeded sample (--seed) of N users only, e.g. to time scoring",
    )
    add_scope_options(p)
    add_run_option(p)
    add_memory_option(p)
    p.set_defaults(handler=run_recommend, model="ease")
    return p


def run_recommend(args: argparse.Namespace) -> int:
    if (args.rating_col is None) != (args.threshold is None):
        raise ValueError("--rating-col and --threshold go together")
    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    if args.threshold is not None:
        check_threshold(args.threshold)
    check_params(args.model, dict(args.param))
    pool = candidate_pool(args)
    if args.users_sample is not None and args.users_sample < 1:
        raise ValueError(f"--users-sample must be at least 1, got {args.users_sample}")
    if args.users_sample is not None and args.ray:
        raise ValueError("--users-sample does not go with --ray yet")
    candidates = scope_from(args)
    check_model(args.model, candidates.scope)
    check_output(args.out, "--out")
    if args.ray:
        from recsys.runs.cluster import check_address

        check_address(args.ray)
    mapping = {"user": args.user_col, "item": args.item_col}
    if args.rating_col:
        mapping["rating"] = args.rating_col
    dataset = load_table(
        args.interactions,
        args.items,
        mapping=mapping,
        item_column=args.item_col,
        duplicates="drop",
        optional=(),  # only the columns asked for: no rating or timestamp found by alias
    )
    print_notes(dataset)
    if args.rating_col:
        check_positives(dataset, args.threshold, f"{args.interactions.name} column "
                        f"{args.rating_col!r}")  # fmt: skip
    seen = dataset.interactions
    if not args.rating_col:
        seen = seen.drop(columns="rating", errors="ignore")
    index = Index.build(seen, dataset.items)
    positives = index.matrix(dataset.positives(args.threshold) if args.rating_col else seen)
    seen_matrix = index.matrix(seen)
    # "new" = no interaction of any kind (a low rating is one too); the head counts every one,
    # as on the Data page. Checked before fitting: an empty scope costs no training.
    mask = None if candidates.scope == "all" else candidates.mask(seen_matrix)
    warn_unreadable([args.model], dict(args.param), dataset.item_text())
    params = hybrid_params(args, [args.model], dict(args.param))
    if pool is not None:
        params["candidate_pool"] = pool
    model = make_model(args.model, seed=args.seed, **params)
    users = sample_users(index.n_users, args.users_sample, args.seed)
    with contextlib.ExitStack() as stack:
        if args.ray:
            recs = _recommend_on_cluster(args, stack, model, dataset, index, positives,
                                         seen_matrix, mask)  # fmt: skip
        else:
            model.fit(TrainData(positives, dataset.item_text(), index.item_ids))
            describe(model)
            recs = recommend_frame(
                model, index, positives, seen_matrix, args.k, candidates=mask, users=users
            )
            pool_note = getattr(model, "pool_note", None)
            if getattr(model, "pool_used_", False) and pool_note is not None:
                print(f"note: {pool_note()}", file=sys.stderr)
    if not args.raw:
        recs["user"], recs["item"] = defuse(recs["user"]), defuse(recs["item"])
    recs = recs.rename(columns={"user": args.user_col, "item": args.item_col})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recs.to_csv(args.out, index=False)
    scored = f"{index.n_users}"
    if users is not None:
        scored = f"a seeded sample of {len(users)} of {scored}"
    print(f"wrote {len(recs)} rows for {scored} users to {args.out}", file=sys.stderr)
    return 0


def candidate_pool(args: argparse.Namespace):
    """``--candidates-per-user``: the hybrid's :class:`CandidatePool` (None: its default)."""
    n = args.candidates_per_user
    if n is None:
        return None
    if args.model != "hybrid":
        raise ValueError(f"--candidates-per-user is for --model hybrid, not {args.model}")
    if args.ray:
        raise ValueError("--candidates-per-user does not go with --ray yet")
    from recsys.models.candidates import CandidatePool

    if n == 0:
        return CandidatePool(mode="off")
    if n < 5:
        raise ValueError(f"--candidates-per-user must be 0 (off) or at least 5, got {n}")
    return CandidatePool(mode="on", per_user=n)


def sample_users(n_users: int, size: int | None, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of ``size`` user positions (None: every user)."""
    if size is None or size >= n_users:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_users, size=size, replace=False))


def describe(model) -> None:
    if hasattr(model, "describe"):
        print(f"note: {model.describe()}", file=sys.stderr)


def _recommend_on_cluster(args, stack, model, dataset, index, positives, seen, mask):
    """``recommend --ray``: the catalogue encoded and the users scored on a Ray cluster, each
    task's lists kept as Parquet shards in ``<out>.shards/``; the same rows as without."""
    from recsys.runs import cluster

    stack.enter_context(cluster.connect(args.ray))
    texts = dataset.item_text()
    params = dict(args.param)
    if args.model in ENCODER_MODELS and "model" not in params and "lm" not in params:
        cluster.warm_encoder_cache(texts)  # the default encoder; fitting then reads the cache
    model.fit(TrainData(positives, texts, index.item_ids))
    describe(model)
    if getattr(model, "pool_used_", False):
        raise ValueError(
            "--ray: the hybrid draws lists from candidates at this catalogue size, which the "
            "cluster path does not do yet; run without --ray"
        )
    shards = args.out.with_name(args.out.name + ".shards")
    found = cluster.score_on_cluster(model, positives, seen, args.k, model.batch_rows(), shards,
                                     candidates=mask)  # fmt: skip
    return found.assign(user=index.user_ids[found["user"]], item=index.item_ids[found["item"]])


def recommend_frame(
    model,
    index: Index,
    history: sp.csr_matrix,
    seen: sp.csr_matrix,
    k: int,
    candidates: np.ndarray | None = None,
    users: np.ndarray | None = None,
) -> pd.DataFrame:
    """Top-``k`` of every user (or of ``users``, positions) as rows (user, item, rank, score);
    ``seen`` items never shown, and only ``candidates`` items (an (I,) bool mask) when given.

    Users go in batches sized from the catalogue and the memory budget (``model.batch_rows``).
    """
    from recsys.runs.cluster import top_lists  # the one batch step, shared with --ray

    batch = model.batch_rows()
    users = np.arange(index.n_users) if users is None else np.asarray(users, dtype=np.int64)
    frames = [
        top_lists(model, users[s : s + batch], history, seen, k, candidates)
        for s in range(0, len(users), batch)
    ]
    found = pd.concat(frames, ignore_index=True)
    return found.assign(user=index.user_ids[found["user"]], item=index.item_ids[found["item"]])


# --- memory budget ------------------------------------------------------------------------------


def add_memory_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory-budget",
        type=parse_budget,
        metavar="SIZE",
        help=f"memory the models may use, e.g. 4G, 512M, 2.5GiB or bytes (default ${memory.ENV} "
        f"or {100 * memory.DEFAULT_SHARE:.0f}%% of the available memory); a model that would need "
        "more refuses before allocating and names one that fits",
    )


def parse_budget(text: str) -> memory.MemoryBudget:
    try:
        return memory.MemoryBudget.parse(text, "--memory-budget")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- checks before the work ---------------------------------------------------------------------


def check_output(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written as a file, before any work is done."""
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give the path of a file to write")
    folder = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable (permission denied)")


def check_fraction(option: str, value: float, low_open: bool) -> None:
    low_ok = value > 0 if low_open else value >= 0
    if not (low_ok and value < 1):
        raise ValueError(f"{option} must be in {'(' if low_open else '['}0, 1), got {value}")


def check_threshold(value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"--threshold must be a finite number, got {value}")


def check_positives(dataset: Dataset, threshold: float | None, where: str) -> None:
    """Refuse a threshold that leaves no positive: the model would learn nothing (exit 0)."""
    if threshold is None or not dataset.has_ratings or len(dataset.positives(threshold)):
        return
    rating = dataset.interactions["rating"]
    raise DataError(
        f"no rating >= {threshold:g} in {where} (ratings run from {rating.min():g} to "
        f"{rating.max():g}), so nothing counts as positive; lower --threshold"
    )


def warn_unreadable(names: Sequence[str], params: dict, texts: list[str]) -> None:
    """On stderr: the share of the catalogue's tokens the encoder cannot read, when it is high.

    Only for models that feed text to the encoder (the lexical TF-IDF reads any script); a
    tokenizer that cannot be loaded is left to the model's own error.
    """
    if not any(name in ENCODER_MODELS for name in names):
        return
    from recsys.lm.vocabulary import check_catalogue

    folder = params.get("model") or (params.get("lm_params") or {}).get("model")
    try:
        warning = check_catalogue(texts, model=folder).warning
    except (OSError, ValueError):
        return
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def print_notes(dataset: Dataset) -> None:
    """What loading changed (rows dropped, a date convention chosen), on stderr."""
    for note in dataset.notes:
        print(f"note: {dataset.name}: {note}", file=sys.stderr)


def defuse(ids: pd.Series) -> pd.Series:
    """Ids a spreadsheet would run as formulas (``=1+1``) get a leading ``'`` (OWASP advice)."""
    text = ids.astype(str)
    return text.where(~text.str.lstrip().str.startswith(FORMULA_START), "'" + text)


def check_params(name: str, params: dict) -> None:
    """Refuse ``--param`` names the model does not take and values of the wrong type.

    Types come from the constructor's annotations (or the default's type); an integer parameter
    whose default is at least 1 is a count or a size and must be at least 1 too.
    """
    factory = MODELS[name]
    signature = inspect.signature(factory)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        # a class: the hints are those of its own __init__ (mypy: unsound on an instance)
        init = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that does not resolve: fall back on the defaults
        hints = {}
    named = {k: p for k, p in signature.parameters.items() if p.kind is not p.VAR_KEYWORD}
    if "seed" in params:
        raise ValueError("--param seed=...: give the seed with --seed")
    for key, value in params.items():
        if key not in named:
            if takes_any:
                continue
            raise ValueError(
                f"model {name!r} has no parameter {key!r}; it takes {', '.join(named) or 'none'}"
            )
        default = named[key].default
        expected = hints.get(
            key, type(default) if default not in (None, named[key].empty) else None
        )
        if not _fits(value, expected):
            raise ValueError(
                f"--param {key}={value!r}: model {name!r} expects {_describe(expected)}"
            )
        positive = isinstance(default, int) and not isinstance(default, bool) and default >= 1
        if positive and isinstance(value, int) and value < 1:
            raise ValueError(f"--param {key}={value}: model {name!r} expects an integer >= 1")
    make_model(name, **params)  # the constructor's own checks (e.g. lambda_ > 0), before any data


def _fits(value: object, expected: object) -> bool:
    if expected is None or expected is typing.Any:
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:
        return value in typing.get_args(expected)
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if isinstance(origin, type):
        return isinstance(value, origin)
    return isinstance(value, expected) if isinstance(expected, type) else True


def _describe(expected: object) -> str:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(expected))
    names: dict[object, str] = {int: "an integer", float: "a finite number", str: "a string",
                                bool: "True or False", type(None): "None", dict: "a dict",
                                list: "a list"}  # fmt: skip
    return names.get(origin or expected, getattr(expected, "__name__", str(expected)))


# --- entry point ---------------------------------------------------------------------------------

COMMANDS: list[AddParser] = [
    add_evaluate_parser,
    add_recommend_parser,
    add_train_parser,  # recsys/lm/train_cli.py
    add_report_parser,  # recsys/report/cli.py
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m recsys",
        description="Long-Tail Lab: evaluate recommenders and write recommendations.",
        epilog=f"models: {model_list()}",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; expected failures become exit code 2 and one line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        with memory.using(getattr(args, "memory_budget", None)):
            return args.handler(args)
    except (DataError, ValueError, OSError, KeyError, TypeError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(exc: Exception) -> str:
    # KeyError's str() adds quotes; a message may span lines. Keep the reason on one line.
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split()) or type(exc).__name__
