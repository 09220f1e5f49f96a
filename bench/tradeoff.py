"""Accuracy vs long tail: R@20 against tail-R@20 for the hybrid and the strongest simple anchors.

Same protocol and data as ``bench/quality.py`` (ml-latest-small, temporal split, test stage).
Curves:

* ``hybrid``: EASE + fine-tuned LM, blend re-tuned (on its own inner holdout, never on test) for
  each ``max_accuracy_loss`` — the hybrid's one knob.
* ``ease+gamma*cos``: EASE + gamma * cosine(frozen-MiniLM mean profile, item), the LLM-ESR-style
  rule, over gamma.
* ``ease-pop``: EASE z-score - beta * log(1 + training count), a popularity penalty, over beta.
* ``content-mean`` / ``content-max``: frozen MiniLM profile alone (single points).

Writes ``bench/results/tradeoff.md`` (tables and the verdict at every anchor point with
R@20 >= 0.10) and ``tradeoff.html`` (interactive plot).

Usage::

    python bench/tradeoff.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recsys.evaluation.metrics import evaluate_topk  # noqa: E402
from recsys.evaluation.protocol import Protocol, prepare, resolve  # noqa: E402
from recsys.models import TrainData, make_model  # noqa: E402
from recsys.models.base import exclude, standardise, top_k  # noqa: E402
from recsys.models.lm import profile_cosine  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
OUT = REPO / "bench/results/tradeoff.md"
LOSSES = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)
GAMMAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
BETAS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def measure(scores: np.ndarray, stage, users: np.ndarray) -> dict:
    scores = scores.copy()
    exclude(scores, stage.train[users])
    top, _ = top_k(scores, 20)
    m = evaluate_topk(top, stage.holdout[users], stage.counts, stage.groups, (20,))
    return {k: float(m[k]) for k in ("recall@20", "tail_recall@20", "cold_recall@20")}


def curves(data_dir: Path, seed: int) -> dict[str, list[dict]]:
    dataset, text = resolve(data_dir)
    exp = prepare(dataset, Protocol(seed=seed), text)
    st, users = exp.final, exp.final.users
    data = TrainData(st.train, st.text, exp.index.item_ids, {})
    history = st.train[users]
    out: dict[str, list[dict]] = {}

    hybrid = make_model("hybrid", seed=seed).fit(data)
    out["hybrid"] = []
    for loss in LOSSES:
        hybrid.retune(loss)
        point = measure(hybrid.score(users, history), st, users)
        out["hybrid"].append({"max_accuracy_loss": loss, **point, "blend": hybrid.blend_.to_dict()})
        print("hybrid", loss, point, file=sys.stderr)

    ease = make_model("ease").fit(data)
    cf = ease.score(users, history)
    vectors = make_model("content").fit(data).vectors_
    cos = profile_cosine(history, vectors)
    out["ease+gamma*cos"] = [{"gamma": g, **measure(cf + g * cos, st, users)} for g in GAMMAS]
    z = standardise(cf)
    logpop = np.log1p(st.counts.astype(np.float32))[None, :]
    out["ease-pop"] = [{"beta": b, **measure(z - b * logpop, st, users)} for b in BETAS]
    for pooling in ("mean", "max"):
        model = make_model("content", pooling=pooling).fit(data)
        out[f"content-{pooling}"] = [{**measure(model.score(users, history), st, users)}]
    return out


def frontier_at(points: list[dict], recall: float) -> float:
    """Best tail-R@20 among ``points`` whose R@20 is at least ``recall`` (-1 when none)."""
    ok = [p["tail_recall@20"] for p in points if p["recall@20"] >= recall - 1e-12]
    return max(ok) if ok else -1.0


def report(out: dict, seconds: float) -> str:
    lines = ["# Accuracy vs long tail (R@20 vs tail-R@20)", "",
             f"`python bench/tradeoff.py` — {time.strftime('%Y-%m-%d')}, {seconds:.0f} s. "
             "ml-latest-small, the quality-bench protocol, test stage. Plot: `tradeoff.html`.",
             ""]  # fmt: skip
    for name, points in out.items():
        knob = next((k for k in ("max_accuracy_loss", "gamma", "beta") if k in points[0]), None)
        lines += [f"## {name}", "", f"| {knob or '–'} | R@20 | tail-R@20 | cold-R@20 |",
                  "|---:|---:|---:|---:|"]  # fmt: skip
        for p in points:
            lines.append(f"| {p.get(knob, '–')} | {p['recall@20']:.4f} | "
                         f"{p['tail_recall@20']:.4f} | {p['cold_recall@20']:.4f} |")  # fmt: skip
        lines.append("")
    lines += ["## Does the hybrid's curve lie above the anchors at R@20 >= 0.10?", ""]
    verdicts = []
    for name, points in out.items():
        if name == "hybrid":
            continue
        for p in points:
            if p["recall@20"] < 0.10:
                continue
            ours = frontier_at(out["hybrid"], p["recall@20"])
            above = ours >= p["tail_recall@20"]
            verdicts.append(above)
            lines.append(f"- {name} at R@20 {p['recall@20']:.4f}, tail {p['tail_recall@20']:.4f}"
                         f": hybrid reaches tail {ours:.4f} at R@20 >= that — "
                         f"{'above' if above else 'BELOW'}")  # fmt: skip
    lines += ["", f"Above at {sum(verdicts)} of {len(verdicts)} anchor points.", ""]
    return "\n".join(lines)


def plot(out: dict, path: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, points in out.items():
        fig.add_trace(go.Scatter(x=[p["recall@20"] for p in points],
                                 y=[p["tail_recall@20"] for p in points],
                                 mode="lines+markers", name=name))  # fmt: skip
    fig.update_layout(title="ml-latest-small: R@20 vs tail-R@20 (test)",
                      xaxis_title="R@20", yaxis_title="tail-R@20")  # fmt: skip
    fig.write_html(path, include_plotlyjs="cdn")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ML_SMALL)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    t = time.time()
    out = curves(args.data, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(out, time.time() - t))
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, args.out.with_suffix(".html"))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
