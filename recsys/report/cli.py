"""``python -m recsys report``: the stakeholder report as one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recsys.data import popularity
from recsys.data.dataset import Dataset
from recsys.data.sources import load_table
from recsys.models.scope import SCOPES
from recsys.report.analysis import SAMPLE_USERS, Settings, Upload, UploadedFile, analyse
from recsys.report.html import render
from recsys.whatif import rerank, scorers


def add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="write the stakeholder report (HTML) of one what-if analysis",
        description="Fit a model and the EASE baseline on training minus validation, re-rank "
        "with a tail boost, and write one self-contained HTML file (no network needed to open "
        "it): popularity curve, KPIs against the baseline, the trade-off curve, three example "
        "users with explanations, and how to reproduce it.",
    )
    p.add_argument("--data", default="sample", help="'sample' (default) or a MovieLens folder")
    p.add_argument("--interactions", type=Path, help="CSV/Parquet of interactions (with --items)")
    p.add_argument(
        "--items", type=Path, help="CSV/Parquet catalogue with text (with --interactions)"
    )
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=COLUMN",
        help="interactions column for user, item, rating or timestamp (default: found by alias)",
    )
    p.add_argument("--item-col", help="item id column of the --items file (default: by alias)")
    p.add_argument("--text-cols", help="comma-separated text columns of --items (default: guessed)")
    p.add_argument("--unknown-items", choices=["error", "drop", "keep"], default="error")
    p.add_argument("--duplicates", choices=["error", "drop"], default="error")
    p.add_argument(
        "--model",
        default=scorers.BLEND,
        help=f"{scorers.BLEND} (default), {scorers.HYBRID_FROZEN}, "
        f"{scorers.HYBRID_RUN_PREFIX}FOLDER (the tuned hybrid over a finished run's text tower) "
        "or a model name",
    )
    p.add_argument(
        "--scope",
        default="all",
        choices=list(SCOPES),
        help="candidate scope: all (default), tail or cold (new items only)",
    )
    p.add_argument("--strategy", default="penalty", choices=list(rerank.STRATEGIES))
    p.add_argument("--boost", type=float, default=0.0, help="tail boost in [0, 1] (default 0)")
    p.add_argument("--k", type=int, default=10, help="list length (default 10)")
    p.add_argument("--head-rule", default="top_share", choices=list(popularity.RULES))
    p.add_argument("--head-value", type=float, help="the rule's x (default: the rule's own)")
    p.add_argument("--seed", type=int, default=0, help="split and model seed (default 0)")
    p.add_argument("--users", help="comma-separated example user ids (default: one per segment)")
    p.add_argument(
        "--sample-users",
        type=int,
        default=SAMPLE_USERS,
        help=f"past this many users with validation items, KPIs and curves are over a seeded "
        f"sample of that size (default {SAMPLE_USERS}; 0: every user)",
    )
    p.add_argument("--url", default="http://127.0.0.1:8501", help="dashboard address for links")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.set_defaults(handler=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    from recsys.cli import check_output

    check_output(args.out, "--out")
    model = args.model
    run = scorers.run_folder(model)
    if run is not None and not Path(run).is_dir():
        raise ValueError(f"--model {model!r}: no run folder {run!r}")
    upload, dataset = uploaded(args)
    settings = Settings(
        data=str(args.data) if upload is None else upload.interactions.name,
        model=model,
        strategy=args.strategy,
        boost=args.boost,
        k=args.k,
        head_rule=args.head_rule,
        head_value=args.head_value,
        seed=args.seed,
        users=tuple(u for u in (args.users or "").split(",") if u),
        scope=args.scope,
        upload=upload,
        sample_users=args.sample_users,
    )
    page = render(analyse(settings, dataset=dataset), base_url=args.url)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(page) / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def uploaded(args: argparse.Namespace) -> tuple[Upload | None, Dataset | None]:
    """The ``--interactions/--items`` pair, read, and named by file name and content hash."""
    if args.interactions is None and args.items is None:
        return None, None
    if args.interactions is None or args.items is None:
        raise ValueError("--interactions and --items go together: give both files")
    if args.data != "sample":
        raise ValueError("give either --data or --interactions/--items, not both")
    columns = []
    for pair in args.map:
        canon, sep, column = pair.partition("=")
        if not sep or not canon or not column:
            raise ValueError(f"--map {pair!r}: expected NAME=COLUMN, e.g. user=userId")
        columns.append((canon, column))
    text_cols = tuple(c for c in (args.text_cols or "").split(",") if c)
    options = (("unknown_items", args.unknown_items), ("duplicates", args.duplicates))
    upload = Upload(
        interactions=UploadedFile.of("interactions", args.interactions.name, args.interactions),
        items=UploadedFile.of("items", args.items.name, args.items),
        columns=tuple(columns),
        item_column=args.item_col,
        text_columns=text_cols,
        options=options,
    )
    data = load_table(
        args.interactions,
        args.items,
        mapping=dict(columns) or None,
        item_column=args.item_col,
        text_columns=text_cols or None,
        name=args.interactions.name,
        **dict(options),
    )
    return upload, data
