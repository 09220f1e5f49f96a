"""Scale bench: ``python -m recsys recommend --model hybrid`` on large shops, one row per run.

Each run goes in its own child process (its peak RSS is its own) and gives one row: size (users x
items x interactions), the model with the collaborative part the hybrid chose, whether lists were
drawn from candidates and how many per user, wall time split into fit (components, blend tuning,
candidate indexes) and scoring, peak RSS, time per 1,000 users scored, and, with ``--exact
CSV`` (the lists of a run that scored every item), the candidate recall: the share of those exact
top-K items that are among the users' candidates. With ``--users-sample N`` only N seeded users
are scored and the total for every user is extrapolated (fit + users x time per user), marked so.

Usage (the commands of ``bench/results/scale.md``)::

    RECSYS_THREADS=1 python bench/scale.py --shop /tmp/shop50k
    RECSYS_THREADS=1 python bench/scale.py --shop /work/scale/shop-1m --users-sample 2000 \\
        --param max_tune_cells=2000000
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


def recommend_argv(args: argparse.Namespace, out: Path) -> list[str]:
    ext = "parquet" if (args.shop / "interactions.parquet").exists() else "csv"
    argv = ["recommend", "--interactions", str(args.shop / f"interactions.{ext}"),
            "--items", str(args.shop / f"items.{ext}"), "--user-col", "user_id",
            "--item-col", "item_id", "--out", str(out), "--model", "hybrid",
            "--param", f"lm={args.lm}", "--k", str(args.k)]  # fmt: skip
    for param in args.param:
        argv += ["--param", param]
    if args.candidates_per_user is not None:
        argv += ["--candidates-per-user", str(args.candidates_per_user)]
    if args.users_sample:
        argv += ["--users-sample", str(args.users_sample)]
    if args.memory_budget:
        argv += ["--memory-budget", args.memory_budget]
    return argv


def child(argv: list[str], exact: str) -> None:
    """One ``recommend`` in this process; prints a JSON row (phases, RSS, recall)."""
    import recsys.cli as cli

    seen: dict = {}
    make, frame = cli.make_model, cli.recommend_frame

    def capture(*a, **kw):
        model = seen["model"] = make(*a, **kw)
        fit = model.fit

        def timed_fit(data):
            start = time.perf_counter()
            fit(data)
            seen["fit"] = time.perf_counter() - start
            return model

        model.fit = timed_fit
        return model

    def timed_frame(model, index, history, seen_matrix, k, candidates=None, users=None):
        start = time.perf_counter()
        out = frame(model, index, history, seen_matrix, k, candidates=candidates, users=users)
        seen.update(score=time.perf_counter() - start, index=index, history=history)
        seen["users"] = index.n_users if users is None else len(users)
        return out

    cli.make_model, cli.recommend_frame = capture, timed_frame
    start = time.perf_counter()
    code = cli.main(argv)
    wall = time.perf_counter() - start
    model = seen.get("model")
    row = {"code": code, "wall": wall, "fit": seen.get("fit"), "score": seen.get("score"),
           "users": seen.get("users"), "rss": _peak_rss()}  # fmt: skip
    if model is not None and hasattr(model, "train_"):
        row["shape"] = list(model.train_.shape)
        row["nnz"] = int(model.train_.nnz)
        row["cf"] = getattr(model, "cf_name_", "-")
        row["pool"] = bool(getattr(model, "pool_used_", False))
        if row["pool"]:
            users, cells = model.pool_counts_
            row["per_user"] = cells / max(users, 1)
            row["index"] = model.generator_.text.kind
        if exact and row["pool"] and "index" in seen:
            row["recall"] = _recall(model, seen["index"], seen["history"], Path(exact))
    print(json.dumps(row))


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def _recall(model, index, history, exact: Path) -> float:
    """Share of an exact run's listed items (its users that this run's index knows) that are
    among the same users' candidates."""
    import numpy as np
    import pandas as pd

    from recsys.models.candidates import candidate_recall

    lists = pd.read_csv(exact, dtype=str)
    users = pd.Index(index.user_ids).get_indexer(lists["user_id"])
    items = pd.Index(index.item_ids).get_indexer(lists["item_id"])
    lists = lists.assign(u=users, i=items, rank=lists["rank"].astype(int))
    lists = lists[(lists.u >= 0) & (lists.i >= 0)]
    sample = np.random.default_rng(0).permutation(lists.u.unique())[:2000]
    lists = lists[lists.u.isin(sample)]
    rows = pd.Index(np.sort(sample))
    top = np.full((len(rows), int(lists["rank"].max())), -1, dtype=np.int64)
    top[rows.get_indexer(lists.u), lists["rank"].to_numpy() - 1] = lists.i.to_numpy()
    hits = [
        candidate_recall(top[s : s + 256], model.generator_.candidates(history[rows[s : s + 256]]))
        * np.sum(top[s : s + 256] >= 0)
        for s in range(0, len(rows), 256)
    ]
    return float(np.sum(hits) / np.sum(top >= 0))


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    argv = recommend_argv(args, out)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(argv), "--exact", args.exact or ""],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    lines = proc.stdout.strip().splitlines()
    row = json.loads(lines[-1]) if lines else {"code": proc.returncode, "crashed": True}
    notes = [x for x in proc.stderr.splitlines() if x.startswith(("note:", "error:"))]
    row.update(command="python -m recsys " + " ".join(argv), notes=notes)
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| size (users x items x interactions) | model | candidates | wall | fit | scoring "
        "| peak RSS | candidate recall vs exact | s per 1,000 users | all users |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        users, items = r.get("shape", (0, 0))
        size = f"{users:,} x {items:,} x {r.get('nnz', 0):,}"
        cand = f"{r['per_user']:.0f} per user, {r['index']} index" if r.get("pool") else "off"
        per_k = r["score"] / r["users"] * 1000 if r.get("users") else float("nan")
        total = f"{r['wall']:.0f} s"
        if r.get("users") and r["users"] < users:
            total = f"{r['fit'] + per_k * users / 1000:.0f} s (extrapolated)"
        recall = f"{r['recall']:.3f}" if "recall" in r else "—"
        lines.append(
            f"| {size} | hybrid, cf={r.get('cf', '-')} | {cand} | {r['wall']:.0f} s | "
            f"{r['fit'] or 0:.0f} s | {r['score'] or 0:.0f} s ({r.get('users', 0):,} users) | "
            f"{r['rss'] / 2**30:.2f} GiB | {recall} | {per_k:.1f} | {total} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shop", type=Path, help="a generated shop (interactions/items .csv|.parquet)")
    p.add_argument("--lm", default="tfidf", help="the hybrid's text part (default tfidf)")
    p.add_argument("--param", action="append", default=[], help="more hybrid NAME=VALUE")
    p.add_argument("--candidates-per-user", type=int, help="passed to recommend")
    p.add_argument("--users-sample", type=int, help="score a seeded sample of N users only")
    p.add_argument("--exact", help="lists of a run scoring every item: candidate recall vs them")
    p.add_argument("--memory-budget", default="", help="passed to recommend (e.g. 12G)")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--out", default="/tmp/bench-scale-recs.csv", help="the lists written")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(json.loads(args.child), args.exact)
        return 0
    if args.shop is None:
        p.error("--shop is required")
    row = run(args)
    print(f"command: {row['command']}")
    print("\n".join(row["notes"]))
    print(table([row]) if "rss" in row else f"crashed: exit {row['code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
