"""Command line: ``python -m recsys evaluate|recommend ...``.

Each subcommand is an ``add_<name>_parser(subparsers)`` function that builds its parser and sets
``handler``, a function of the parsed arguments returning an exit code. ``COMMANDS`` lists them;
another module adds a subcommand by appending its ``add_<name>_parser`` there.

Bad arguments or bad input files end with exit code 2 and a one-line reason on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import DataError
from recsys.data.index import Index
from recsys.data.sources import load_table
from recsys.evaluation.protocol import DEFAULT_MODELS, evaluate
from recsys.evaluation.split import SPLITS
from recsys.lm.train_cli import add_train_parser
from recsys.models import MODELS, TrainData, make_model
from recsys.models.base import exclude, top_k

EXIT_USAGE = 2
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
    p.set_defaults(handler=run_evaluate)
    return p


def run_evaluate(args: argparse.Namespace) -> int:
    names = args.model or list(DEFAULT_MODELS)
    fixed = dict(args.param)
    results = evaluate(
        args.data,
        names,
        split=args.split,
        test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction,
        threshold=args.threshold,
        min_positives=args.min_positives,
        ks=tuple(args.k or (10, 20)),
        seed=args.seed,
        tune=not args.no_tune,
        params={name: fixed for name in names} if fixed else None,
        progress=lambda line: print(line, file=sys.stderr),
    )
    print(results.to_markdown())
    if args.json:
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
    p.add_argument("--out", required=True, type=Path, help="output CSV")
    p.set_defaults(handler=run_recommend, model="ease")
    return p


def run_recommend(args: argparse.Namespace) -> int:
    if (args.rating_col is None) != (args.threshold is None):
        raise ValueError("--rating-col and --threshold go together")
    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    mapping = {"user": args.user_col, "item": args.item_col}
    if args.rating_col:
        mapping["rating"] = args.rating_col
    dataset = load_table(
        args.interactions, args.items, mapping=mapping, item_column=args.item_col, duplicates="drop"
    )
    seen = dataset.interactions
    if not args.rating_col:
        seen = seen.drop(columns="rating", errors="ignore")
    index = Index.build(seen, dataset.items)
    positives = index.matrix(dataset.positives(args.threshold) if args.rating_col else seen)
    model = make_model(args.model, seed=args.seed, **dict(args.param))
    model.fit(TrainData(positives, dataset.item_text(), index.item_ids))
    recs = recommend_frame(model, index, positives, index.matrix(seen), args.k)
    recs = recs.rename(columns={"user": args.user_col, "item": args.item_col})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recs.to_csv(args.out, index=False)
    print(f"wrote {len(recs)} rows for {index.n_users} users to {args.out}", file=sys.stderr)
    return 0


def recommend_frame(
    model, index: Index, history: sp.csr_matrix, seen: sp.csr_matrix, k: int, batch: int = 1024
) -> pd.DataFrame:
    """Top-``k`` of every user as rows (user, item, rank, score); ``seen`` items never shown."""
    frames = []
    for start in range(0, index.n_users, batch):
        users = np.arange(start, min(start + batch, index.n_users))
        scores = model.score(users, history[users])  # (B, I)
        exclude(scores, seen[users])
        items, values = top_k(scores, k)  # (B, k)
        rows, ranks = np.nonzero(np.isfinite(values))  # a short catalogue leaves -inf slots
        frames.append(
            pd.DataFrame(
                {
                    "user": index.user_ids[users[rows]],
                    "item": index.item_ids[items[rows, ranks]],
                    "rank": ranks + 1,
                    "score": values[rows, ranks],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# --- entry point ---------------------------------------------------------------------------------

COMMANDS: list[AddParser] = [
    add_evaluate_parser,
    add_recommend_parser,
    add_train_parser,  # recsys/lm/train_cli.py
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
        return args.handler(args)
    except (DataError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(exc: Exception) -> str:
    # KeyError's str() adds quotes; a message may span lines. Keep the reason on one line.
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(str(text).split()) or type(exc).__name__
