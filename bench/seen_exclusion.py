"""What the evaluation protocol shows against what a user sees: lists that exclude a user's earlier
below-threshold ratings, or not.

``python -m recsys recommend`` never shows an item the user has already interacted with (every
rating, liked or not). The evaluation protocol (:mod:`recsys.evaluation.protocol`) excludes only
training *positives* (rating >= 4.0), so a movie a user rated 2 stars last year can take one of the
20 slots, where it can never be a hit (a MovieLens user rates a movie once). This bench measures
the gap: each model scored on the quality bench's temporal split, its top 20 taken twice, once
excluding training positives (the protocol today) and once also excluding the user's ratings below
the threshold made before their first test positive (what the product does; nothing after the
cutoff is used, so no future leaks in). ``wasted`` is the share of slots in the protocol's lists
that hold such an already-rated item.

Parameters are the quality bench's validation picks (``bench/results/quality.md``), fixed here.

Usage::

    python bench/seen_exclusion.py [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from bench.tradeoff import ML_SMALL, measure_top  # noqa: E402
from recsys.evaluation.protocol import Protocol, prepare, resolve  # noqa: E402
from recsys.models import TrainData, make_model  # noqa: E402
from recsys.models.base import exclude, top_k  # noqa: E402

OUT = REPO / "bench/results/seen_exclusion.md"
MODELS = {  # the quality bench's picks on validation
    "mostpop": {},
    "itemknn": {"k": 1600},
    "ease": {"lambda_": 100.0},
    "als": {"factors": 64, "regularization": 30.0},
}


def earlier_unliked(dataset, exp, threshold: float) -> sp.csr_matrix:
    """(U, I) binary: ratings below ``threshold`` made before the user's first test positive."""
    cutoff = exp.split.test.groupby("user")["timestamp"].min()
    inter = dataset.interactions
    low = inter[(inter["rating"] < threshold) & inter["user"].isin(cutoff.index)]
    low = low[low["item"].isin(exp.index.item_ids)]
    low = low[low["timestamp"].to_numpy() < cutoff.reindex(low["user"]).to_numpy()]
    return exp.index.matrix(low[["user", "item"]])


def rows(seed: int) -> tuple[list[dict], dict]:
    dataset, text = resolve(ML_SMALL)
    protocol = Protocol(seed=seed)
    exp = prepare(dataset, protocol, text)
    st, users = exp.final, exp.final.users
    history = st.train[users]
    low = earlier_unliked(dataset, exp, protocol.threshold)[users]
    already_rated = low.toarray().astype(bool)  # (users, I), once for every model
    data = TrainData(st.train, st.text, exp.index.item_ids, {})
    out = []
    for name, params in MODELS.items():
        started = time.perf_counter()
        scores = make_model(name, **params).fit(data).score(users, history)
        exclude(scores, history)
        today, _ = top_k(scores, 20)
        wasted = np.take_along_axis(already_rated, today, axis=1).mean()
        exclude(scores, low)
        product, _ = top_k(scores, 20)
        out.append({"model": name, "today": measure_top(today, st, users),
                    "product": measure_top(product, st, users), "wasted": float(wasted),
                    "seconds": time.perf_counter() - started})  # fmt: skip
        print(out[-1], file=sys.stderr)
    info = {"users": len(users), "low": int(low.nnz), "train": int(st.train.nnz),
            "threshold": protocol.threshold}  # fmt: skip
    return out, info


def report(out: list[dict], info: dict, seconds: float, command: str) -> str:
    lines = [
        "# Lists that skip what the user already rated (the product) vs the protocol today", "",
        f"`{command}` — {time.strftime('%Y-%m-%d')}, {seconds:.0f} s. ml-latest-small, the "
        f"quality-bench protocol (temporal split), test stage: {info['users']} users, "
        f"{info['train']} training positives and {info['low']} earlier ratings below "
        f"{info['threshold']:g} "
        "(before each user's first test positive).", "",
        "| model | R@20 today | R@20 product | tail-R@20 today | tail-R@20 product | "
        "cold-R@20 today | cold-R@20 product | slots wasted today |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in out:
        t, p = r["today"], r["product"]
        lines.append(
            f"| {r['model']} | {t['recall@20']:.4f} | {p['recall@20']:.4f} | "
            f"{t['tail_recall@20']:.4f} | {p['tail_recall@20']:.4f} | {t['cold_recall@20']:.4f} | "
            f"{p['cold_recall@20']:.4f} | {r['wasted']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    started = time.perf_counter()
    out, info = rows(args.seed)
    command = "python bench/seen_exclusion.py" + (f" --seed {args.seed}" if args.seed else "")
    text = report(out, info, time.perf_counter() - started, command)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
