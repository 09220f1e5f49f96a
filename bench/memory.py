"""Memory bench: ``python -m recsys recommend`` per model under a memory budget, peak RSS and wall.

Each case runs in its own child process (so its peak RSS is its own) and prints one row: dataset,
model, users, items, the route the model took (EASE's primal/dual, ItemKNN's dense/sparse, the
hybrid's collaborative part, or the refusal), peak RSS, wall time and exit code. The issue-15 target
is ``recommend --model hybrid`` on a 20k users x 50k items shop within 8 GB peak; the hybrid's text
part is TF-IDF there (``--param lm=tfidf``), the cheap one, so the bench measures the collaborative
side and the blend search rather than fine-tuning.

Usage::

    python sample_data/generate.py --users 20000 --items 50000 --interactions 635000 \\
        --out /tmp/shop50k
    RECSYS_THREADS=1 python bench/memory.py --shop /tmp/shop50k --memory-budget 6G
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "sample_data"
MODELS = {  # bench name -> recommend arguments
    "ease": ["--model", "ease"],
    "itemknn": ["--model", "itemknn"],
    "als": ["--model", "als"],
    "hybrid": ["--model", "hybrid", "--param", "lm=tfidf"],
}


def child(argv: list[str]) -> None:
    """Run one ``recommend`` in this process; print a JSON row with route, RSS and wall."""
    import recsys.cli as cli

    made = []
    make = cli.make_model

    def capture(*args, **kwargs):
        made.append(make(*args, **kwargs))
        return made[-1]

    cli.make_model = capture  # to read the fitted model's route afterwards
    start = time.perf_counter()
    code = cli.main(argv)
    wall = time.perf_counter() - start
    model = made[-1] if made else None
    route = "refused" if code else _route(model)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB
    train = getattr(model, "train_", None)
    shape = train.shape if train is not None else (0, 0)
    print(json.dumps({"code": code, "route": route, "rss": peak, "wall": wall, "shape": shape}))


def _route(model) -> str:
    if model is None:
        return "-"
    if hasattr(model, "cf_name_"):
        cf = model.cf_name_ + (f" ({model.cf_.route_})" if hasattr(model.cf_, "route_") else "")
        tuned, held = model.tune_users_ or (0, 0)
        return f"cf={cf}, tuned on {tuned:,}/{held:,} users"
    if hasattr(model, "factors"):
        return f"{model.factors} factors"
    return getattr(model, "route_", "-")


def run_case(data: Path, name: str, budget: str, out: Path) -> dict:
    argv = ["recommend", "--interactions", str(data / "interactions.csv"), "--items",
            str(data / "items.csv"), "--user-col", "user_id", "--item-col", "item_id",
            "--out", str(out), *MODELS[name]]  # fmt: skip
    if budget:
        argv += ["--memory-budget", budget]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    lines = proc.stdout.strip().splitlines()
    row = json.loads(lines[-1]) if lines else {"code": proc.returncode, "route": "crashed"}
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    row.update(data=data.name, model=name, error=errors[-1] if errors else "")
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| data | model | users | items | route | peak RSS | wall | exit |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        users, items = r.get("shape") or (0, 0)
        rss = f"{r['rss'] / 2**30:.2f} GiB" if "rss" in r else "-"
        wall = f"{r['wall']:.1f} s" if "wall" in r else "-"
        size = (f"{users:,}", f"{items:,}") if users else ("-", "-")
        lines.append(
            f"| {r['data']} | {r['model']} | {size[0]} | {size[1]} | {r['route']} | {rss} | "
            f"{wall} | {r['code']} |"
        )
    refusals = [f"- {r['data']} {r['model']}: {r['error']}" for r in rows if r["error"]]
    return "\n".join(lines + ([""] + refusals if refusals else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shop", type=Path, help="a generated shop folder (interactions.csv)")
    parser.add_argument("--memory-budget", default="", help="passed to recommend (e.g. 6G)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--sample-only", action="store_true", help="skip --shop")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    datasets = [SAMPLE] + ([args.shop] if args.shop and not args.sample_only else [])
    rows = []
    out = Path("/tmp/bench-memory-recs.csv")
    for data in datasets:
        for name in args.models.split(","):
            rows.append(run_case(data, name, args.memory_budget, out))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"memory budget: {args.memory_budget or 'default'}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
