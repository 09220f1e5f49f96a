"""Re-rank bench: what one tail-boost slider move and the whole trade-off grid cost.

Setup as the Recommendations page does it, on MovieLens ml-latest-small: the evaluation protocol's
tuning stage (fit on train minus validation), the EASE + TF-IDF blend and EASE alone, 200 cached
candidates per user for every user. Then, per strategy:

* ``rerank`` — re-rank all users' candidates into top-K lists (the slider move itself);
* ``+ KPIs`` — the same plus every metric on the validation split (what the page recomputes);
* ``grid`` — the trade-off curve: 11 boost values x 3 strategies, each with its metrics.

Times are the median of ``--repeats`` runs after one warm-up, on however many cores numpy uses.

Usage::

    python bench/rerank.py              # ml-latest-small, K = 10 and 20
    python bench/rerank.py --data sample
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

from recsys.evaluation import protocol  # noqa: E402
from recsys.models import TrainData  # noqa: E402
from recsys.whatif import rerank, scorers  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
RESULTS = REPO / "bench/results/rerank.md"
MODELS = (scorers.BLEND, "ease")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ML_SMALL), help="MovieLens folder or 'sample'")
    p.add_argument("--ks", default="10,20", help="comma-separated list lengths")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per figure (median)")
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown report")
    return p.parse_args(argv)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first-touch allocations and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    dataset, text = protocol.resolve(args.data)
    experiment = protocol.prepare(dataset, protocol.Protocol(), text)
    stage = experiment.tuning
    data = TrainData(stage.train, stage.text, experiment.index.item_ids)  # no validation extras
    rows, setup = [], []
    for model in MODELS:
        start = time.perf_counter()
        scorer = scorers.fit_scorer(model, data)
        fitted = time.perf_counter()
        cands = rerank.build_candidates(scorer, stage.train, stage.counts, stage.groups)
        setup.append((model, fitted - start, time.perf_counter() - fitted, cands.items.shape))
        for k in ks:
            for strategy in rerank.STRATEGIES:

                def move(s=strategy, k=k, c=cands):
                    return rerank.rerank(c, s, 0.5, k)

                def move_kpis(s=strategy, k=k, c=cands):
                    return rerank.list_metrics(
                        rerank.rerank(c, s, 0.5, k).items, c, stage.holdout, k
                    )

                rows.append(
                    (
                        model,
                        k,
                        strategy,
                        median_ms(move, args.repeats),
                        median_ms(move_kpis, args.repeats),
                    )
                )
            grid = median_ms(lambda c=cands, k=k: rerank.tradeoff(c, stage.holdout, k), 3)
            rows.append((model, k, "grid (11 boosts x 3 strategies)", None, grid))
    report = render(args, dataset.name, experiment, setup, rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return report


def render(args, name, experiment, setup, rows) -> str:
    s = experiment.summary
    command = "python bench/rerank.py" + (
        "" if args.data == str(ML_SMALL) else f" --data {args.data}"
    )
    lines = [
        "# Re-rank bench",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"median of {args.repeats} runs (grid: of 3), load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores (other jobs share the machine). Target: < 100 ms per slider move.",
        "",
        f"Dataset `{name}`: {s['users']} users, {s['items']} items; models fitted on train minus "
        f"validation; metrics on the validation split ({s['validation']} positives).",
        "",
        "| model | fit s | candidates s | candidates (users x C) |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {m} | {f:.1f} | {c:.1f} | {shape[0]} x {shape[1]} |" for m, f, c, shape in setup]
    lines += [
        "",
        "| model | K | strategy | re-rank all users, ms | + all KPIs, ms |",
        "|---|---:|---|---:|---:|",
    ]
    for model, k, strategy, move, with_kpis in rows:
        move_cell = "–" if move is None else f"{move:.1f}"
        lines.append(f"| {model} | {k} | {strategy} | {move_cell} | {with_kpis:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
