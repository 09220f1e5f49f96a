"""Candidate bench: how much of the exact lists the candidate stage keeps, and what it costs.

Part 1 (``--data``, default ml-latest-small, where exact scoring still fits): the quality bench's
protocol (:mod:`recsys.evaluation.protocol`), final stage (train -> test). Exact top-20 lists of
EASE, ItemKNN and the frozen-MiniLM ``content`` profile over the whole catalogue, then the
candidates of :class:`recsys.models.candidates.CandidateGenerator` (text vectors = the frozen
MiniLM item vectors, collaborative neighbours = ItemKNN's) for the same users. Per candidate
budget: candidates per user, the share of each exact top-20 kept ("recall vs exact"), the share of
test positives among the candidates (the ceiling of any ranker's recall), and ms per 1,000 users.

Part 2 (``--items``): index build and search time on synthetic unit vectors of MiniLM's width
(384, drawn around one centre per 100 items) at catalogue sizes past what exact scoring handles.
Synthetic vectors time the machinery; the recall that matters is part 1's, on real vectors.

Usage::

    python bench/candidates.py                       # both parts, 50k and 200k items in part 2
    python bench/candidates.py --items 1000000       # part 2 at a real shop's size
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

from recsys.data.popularity import COLD, HEAD  # noqa: E402
from recsys.evaluation.protocol import Protocol, prepare, recommend_all, resolve  # noqa: E402
from recsys.models.base import TrainData  # noqa: E402
from recsys.models.candidates import (  # noqa: E402
    CandidateConfig,
    CandidateGenerator,
    TextIndex,
    candidate_recall,
    sizes,
)
from recsys.models.ease import EASE  # noqa: E402
from recsys.models.itemknn import ItemKNN  # noqa: E402
from recsys.models.lm import ContentRecommender  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
BUDGETS = [(50, 50, 25), (100, 100, 50), (200, 200, 100), (400, 400, 200)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ML_SMALL, help="MovieLens folder ('' to skip)")
    p.add_argument("--split", default="temporal", choices=["temporal", "item_cold"])
    p.add_argument("--items", type=int, nargs="*", default=[50_000, 200_000])
    p.add_argument("--queries", type=int, default=2000, help="part 2: users searched")
    p.add_argument("--index", default="auto", choices=["auto", "exact", "hnsw"], help="part 1")
    return p.parse_args(argv)


def quality(data: Path, split: str, index: str) -> list[str]:
    dataset, text = resolve(data)
    exp = prepare(dataset, Protocol(split=split), text)  # type: ignore[arg-type]
    stage, users = exp.final, exp.final.users
    train = TrainData(stage.train, stage.text, exp.index.item_ids)
    ease, knn = EASE().fit(train), ItemKNN().fit(train)
    content = ContentRecommender().fit(train)
    exact = {
        name: recommend_all(m, users, 20)
        for name, m in [("EASE", ease), ("ItemKNN", knn), ("content", content)]
    }
    held = stage.holdout[users]
    cold = int(np.sum(stage.groups == COLD))
    lines = [
        f"### Recall of the candidates vs exact top-20 — `{data.name}`, {split} split, seed 0, "
        f"{index} text index",
        "",
        f"{len(users)} test users, {stage.train.shape[1]} items ({cold} cold, "
        f"{int(np.sum(stage.groups == HEAD))} head).",
        "",
        "| collaborative / text / text-tail | candidates per user | vs EASE | vs ItemKNN "
        "| vs content | test positives covered | cold test positives covered | ms / 1k users |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cold_held = held.multiply(sp.csr_matrix((stage.groups == COLD).astype(np.float32)))
    for c, t, tt in BUDGETS:
        gen = CandidateGenerator(
            content.vectors_,
            stage.groups,
            knn.sim_,
            CandidateConfig(c, t, tt, index, threads=1),  # type: ignore[arg-type]
        )
        start = time.perf_counter()
        cand = sp.vstack(
            [gen.candidates(stage.train[users[s : s + 1024]]) for s in range(0, len(users), 1024)]
        ).tocsr()
        ms = (time.perf_counter() - start) / len(users) * 1e6
        covered = held.multiply(cand).sum() / held.sum()
        cold_cov = cold_held.multiply(cand).sum() / max(cold_held.sum(), 1)
        row = [f"{c} / {t} / {tt}", f"{sizes(cand).mean():.0f}"]
        row += [f"{candidate_recall(exact[n], cand):.3f}" for n in ("EASE", "ItemKNN", "content")]
        row += [f"{covered:.3f}", f"{cold_cov:.3f}" if cold_held.sum() else "—", f"{ms:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def scale(n_items: int, queries: int) -> list[str]:
    # Clustered like text embeddings (topics), not uniform: uniform 384-d points have no
    # neighbourhoods, and every ANN method degrades to a scan on them.
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((max(n_items // 100, 1), 384), dtype=np.float32)
    vectors = centres[rng.integers(len(centres), size=n_items)]
    vectors += 0.5 * rng.standard_normal(vectors.shape, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    q = vectors[rng.integers(n_items, size=queries)] + 0.1 * rng.standard_normal((queries, 384))
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    rows = []
    for kind in ("exact", "hnsw"):
        start = time.perf_counter()
        index = TextIndex(vectors, None, CandidateConfig(index=kind))  # type: ignore[arg-type]
        built = time.perf_counter()
        found = index.search(q, 200)
        searched = time.perf_counter()
        rows.append((kind, built - start, (searched - built) / queries * 1000 * 1000, found))
    exact = rows[0][3]
    lines = []
    for kind, build, per_k, found in rows:
        recall = np.mean(
            [len(np.intersect1d(a, b)) / 200 for a, b in zip(found, exact, strict=True)]
        )
        lines.append(f"| {n_items:,} | {kind} | {build:.1f} | {per_k:.0f} | {recall:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = []
    if str(args.data):
        out += quality(args.data, args.split, args.index) + [""]
    if args.items:
        out += [
            "### Text index at scale (clustered synthetic vectors, 384 dims, top-200 per query)",
            "",
            "| items | index | build s | ms per 1k queries | recall@200 vs exact |",
            "|---|---|---|---|---|",
        ]
        for n in args.items:
            out += scale(n, args.queries)
            print("\n".join(out[-2:]), flush=True)
    print("\n".join(out))


if __name__ == "__main__":
    main()
