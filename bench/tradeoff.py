"""Accuracy vs long tail: R@20 against tail-R@20 for the hybrid and the strongest simple anchors.

Same protocol and data as ``bench/quality.py`` (ml-latest-small, temporal split, test stage).
Curves:

* ``hybrid``: EASE + fine-tuned LM, blend re-tuned (on its own inner holdout, never on test) for
  each ``max_accuracy_loss`` — the hybrid's one knob.
* ``hybrid+reserve``: the same fit with ``Reserve("tuned")``: for each ``max_accuracy_loss`` the
  reserved long-tail slots q (of 20) and their blend are chosen on the same inner holdout (q = 0,
  the plain hybrid, included); ``q`` and the validation figures are reported beside the test ones.
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
from recsys.models.blend import Reserve  # noqa: E402
from recsys.models.lm import profile_cosine  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
OUT = REPO / "bench/results/tradeoff.md"
LOSSES = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)
GAMMAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
RESERVED = (1, 2, 3, 4, 5, 6, 8, 10)
BETAS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)


def measure(scores: np.ndarray, stage, users: np.ndarray) -> dict:
    scores = scores.copy()
    exclude(scores, stage.train[users])
    top, _ = top_k(scores, 20)
    m = evaluate_topk(top, stage.holdout[users], stage.counts, stage.groups, (20,))
    return {k: float(m[k]) for k in ("recall@20", "tail_recall@20", "cold_recall@20")}


def measure_top(top: np.ndarray, stage, users: np.ndarray) -> dict:
    m = evaluate_topk(top, stage.holdout[users], stage.counts, stage.groups, (20,))
    return {k: float(m[k]) for k in ("recall@20", "tail_recall@20", "cold_recall@20")}


def curves(data_dir: Path, seed: int, losses=LOSSES) -> dict[str, list[dict]]:
    dataset, text = resolve(data_dir)
    exp = prepare(dataset, Protocol(seed=seed), text)
    st, users = exp.final, exp.final.users
    data = TrainData(st.train, st.text, exp.index.item_ids, {})
    history = st.train[users]
    out: dict[str, list[dict]] = {}

    hybrid = make_model("hybrid", seed=seed, reserve=Reserve("tuned")).fit(data)
    out["hybrid"], out["hybrid+reserve"] = [], []
    for loss in losses:
        hybrid.retune(loss)
        point = measure(hybrid.score(users, history), st, users)  # blend_ alone: no reserve
        valid = hybrid.measure_(hybrid.blend_)
        out["hybrid"].append({"max_accuracy_loss": loss, **point, "blend": hybrid.blend_.to_dict(),
                              "validation": valid})  # fmt: skip
        print("hybrid", loss, point, file=sys.stderr)
        pick = hybrid.reserve_pick_ or {"fill": "-", "share": 0.0}
        valid = (pick["recall"], pick["long_tail"]) if hybrid.reserve_pick_ else valid
        point = measure_top(hybrid.recommend(users, 20)[0], st, users)
        q = round(pick["share"] * 20)
        out["hybrid+reserve"].append(
            {"max_accuracy_loss": loss, **point, "validation": valid, "q": q, "fill": pick["fill"]}
        )
        print("hybrid+reserve", loss, pick, point, file=sys.stderr)
    # The whole reserved-slot frontier, q fixed (no choice): the accurate blend's top 20 - q, the
    # last q slots from the blend tuned at the default loss 0.08 or the widest long-tail blend.
    trials = hybrid.retune(0.08)
    accurate = hybrid.accurate_[1][-1].blend
    widest = max(trials, key=lambda x: (x.long_tail, x.recall)).blend
    shares = [q / 20 for q in RESERVED]
    for fill_name, fill in (("tuned at 0.08", hybrid.blend_), ("widest", widest)):
        valid = hybrid.measure_reserved_(accurate, [fill], shares)
        name = f"reserve q, fill {fill_name}"
        out[name] = []
        hybrid.main_blend_, hybrid.fill_blend_ = accurate, fill
        for q, share in zip(RESERVED, shares, strict=True):
            hybrid.reserve_share_ = share
            point = measure_top(hybrid.recommend(users, 20)[0], st, users)
            out[name].append({"q": q, **point, "validation": valid[(0, share)]})
            print(name, q, point, file=sys.stderr)

    cf, out["ease+gamma*cos"] = ease_cosine(data, st, users)
    z = standardise(cf)
    logpop = np.log1p(st.counts.astype(np.float32))[None, :]
    out["ease-pop"] = [{"beta": b, **measure(z - b * logpop, st, users)} for b in BETAS]
    for pooling in ("mean", "max"):
        model = make_model("content", pooling=pooling).fit(data)
        out[f"content-{pooling}"] = [{**measure(model.score(users, history), st, users)}]
    return out


def ease_cosine(data: TrainData, st, users: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """EASE's scores, and test figures of EASE + gamma * cosine(frozen-MiniLM mean profile,
    item) over :data:`GAMMAS`: the strongest simple anchor."""
    history = st.train[users]
    cf = make_model("ease").fit(data).score(users, history)
    cos = profile_cosine(history, make_model("content").fit(data).vectors_)
    return cf, [{"gamma": g, **measure(cf + g * cos, st, users)} for g in GAMMAS]


def frontier_at(points: list[dict], recall: float) -> float:
    """Best tail-R@20 among ``points`` whose R@20 is at least ``recall`` (-1 when none)."""
    ok = [p["tail_recall@20"] for p in points if p["recall@20"] >= recall - 1e-12]
    return max(ok) if ok else -1.0


def report(out: dict, seconds: float, command: str = "python bench/tradeoff.py") -> str:
    lines = ["# Accuracy vs long tail (R@20 vs tail-R@20)", "",
             f"`{command}` — {time.strftime('%Y-%m-%d')}, {seconds:.0f} s. "
             "ml-latest-small, the quality-bench protocol, test stage. Plot: `tradeoff.html`.",
             ""]  # fmt: skip
    for name, points in out.items():
        knobs = ("max_accuracy_loss", "gamma", "beta", "q")
        knob = next((k for k in knobs if k in points[0]), None)
        extra = [c for c in ("q", "fill") if c in points[0] and c != knob]
        valid = "validation" in points[0]
        head = [knob or "–", *extra, "R@20", "tail-R@20", "cold-R@20"]
        head += ["val R@20", "val long-tail"] if valid else []
        lines += [f"## {name}", "", "| " + " | ".join(head) + " |",
                  "|" + "---:|" * len(head)]  # fmt: skip
        for p in points:
            cells = [str(p.get(knob, "–")), *(str(p[c]) for c in extra)]
            cells += [f"{p[m]:.4f}" for m in ("recall@20", "tail_recall@20", "cold_recall@20")]
            cells += [f"{v:.4f}" for v in p["validation"]] if valid else []
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Validation = the hybrid's own inner holdout (never test); val long-tail = the "
              "worse-off of its tail and cold bands' recall@20 plus a tenth of the other, the "
              "figure the blend search maximises.", ""]  # fmt: skip
    lines += ["## Does the hybrid's curve lie above the anchors at R@20 >= 0.10?", ""]
    verdicts = []
    for name, points in out.items():
        if name.startswith(("hybrid", "reserve")):
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
    anchor = max(p["recall@20"] for n in ("ease+gamma*cos", "ease-pop") for p in out[n])
    lines += [f"## Target: R@20 >= {anchor:.4f} (best anchor point above, gamma/beta picked on "
              "test), tail-R@20 >= 0.055, cold-R@20 >= 0.045", ""]  # fmt: skip
    for name in [n for n in out if n.startswith(("hybrid", "reserve"))]:
        knob = "q" if name.startswith("reserve") else "max_accuracy_loss"
        met = [p[knob] for p in out.get(name, [])
               if p["recall@20"] >= anchor and p["tail_recall@20"] >= 0.055
               and p["cold_recall@20"] >= 0.045]  # fmt: skip
        lines.append(f"- {name}: met at {knob} {met}" if met else
                     f"- {name}: met at no {knob}")  # fmt: skip
    lines.append("")
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
    losses = ",".join(map(str, LOSSES))
    p.add_argument("--losses", default=losses, help="the hybrid curves' max_accuracy_loss values")
    args = p.parse_args(argv)
    t = time.time()
    out = curves(args.data, args.seed, tuple(float(x) for x in args.losses.split(",")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python bench/tradeoff.py", *(sys.argv[1:] if argv is None else argv)])
    args.out.write_text(report(out, time.time() - t, command))
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    plot(out, args.out.with_suffix(".html"))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
