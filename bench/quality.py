"""Quality bench: every model under one protocol on MovieLens ml-latest-small.

Protocol (:mod:`recsys.evaluation.protocol`): positives = rating >= 4.0; users with >= 5 positives;
per-user temporal split, the last 20% (round half up, >= 1) to test and the last 10% of the rest
to validation; candidates = the whole catalogue (9,742 movies); head = top 20% by training count;
item text = title + genres + tags, minus tags users put on their own held-out movies.
Hyper-parameters are tuned on validation, then each model is refitted on train and tested once.

Usage::

    python bench/quality.py                          # the default models
    python bench/quality.py --models ease,tfidf,lm   # any names registered in recsys.models
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

from recsys.evaluation.protocol import DEFAULT_MODELS, evaluate  # noqa: E402
from recsys.evaluation.tables import Results  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
RESULTS = REPO / "bench/results/quality.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated names")
    p.add_argument("--data", type=Path, default=ML_SMALL, help="MovieLens folder")
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown report")
    p.add_argument("--json", type=Path, help="also write the full results (with tuning) as JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-tune", action="store_true", help="default hyper-parameters only")
    return p.parse_args(argv)


def report(results: Results, command: str, seconds: float) -> str:
    """The markdown file: how it was made, the data, the table and the tuning choices."""
    s, p = results.summary, results.protocol
    lines = [
        "# Quality bench",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{seconds:.0f} s in all (tuning included).",
        "",
        f"Dataset `{results.dataset}`: {s['users']} users with >= {p.min_positives} positives "
        f"(rating >= {p.threshold}), {s['items']} candidate items; {s['train']} train "
        f"({s['validation']} of them validation) / {s['test']} test positives, {p.split} split, "
        f"seed {p.seed}. Head = top {p.head_share:.0%} by training count ({s['head_items']} "
        f"items); cold = no training positive ({s['cold_items']} items).",
        "",
        results.to_markdown(),
        "",
        f"R = recall (truncated at k), N = NDCG, tail-R / cold-R = recall over each user's "
        f"tail+cold / cold test items. Params were chosen on validation by {p.metric}; "
        f"fit+rec s = refit on train + top-{max(p.ks)} for all test users (2-core CPU).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    start = time.perf_counter()
    results = evaluate(
        args.data,
        names,
        seed=args.seed,
        tune=not args.no_tune,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    command = " ".join(["python bench/quality.py", *(sys.argv[1:] if argv is None else argv)])
    text = report(results, command, time.perf_counter() - start)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(results.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
