"""Frozen vs fine-tuned LM alone, each ranked raw and popularity-neutral (``debias="band"``).

One fit per model on the quality-bench protocol's final stage (train -> test, ml-latest-small).
Every model is ranked two ways from the same scores: raw, and band-neutral (z-scores within each
popularity band, :func:`recsys.models.lm.band_neutral`); ``lm`` is also re-scored for each logQ
alpha (rank by u.v / tau - alpha * log Q(i)). TF-IDF and the frozen MiniLM profile (``content``,
mean pooling: the same encoder without fine-tuning) are the references.

Usage::

    python bench/lm_debias.py     # writes bench/results/lm_debias.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.evaluation.metrics import evaluate_topk  # noqa: E402
from recsys.evaluation.protocol import Protocol, prepare, recommend_all, resolve  # noqa: E402
from recsys.models import TrainData, make_model  # noqa: E402
from recsys.models.base import exclude, top_k  # noqa: E402
from recsys.models.lm import band_neutral  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
OUT = REPO / "bench/results/lm_debias.md"
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
KEYS = ("recall@20", "tail_recall@20", "cold_recall@20")


def main() -> int:
    start = time.time()
    dataset, text = resolve(ML_SMALL)
    exp = prepare(dataset, Protocol(), text)
    st = exp.final
    data = TrainData(st.train, st.text, exp.index.item_ids, {})
    rows = []

    def row(label, ranking, model, neutral=False):
        """One table row; ``neutral`` ranks ``model``'s scores band-neutral instead of raw."""
        if neutral:
            history = st.train[st.users]
            scores = band_neutral(model.score(st.users, history), st.groups)
            exclude(scores, history)
            top, _ = top_k(scores, 20)
        else:
            top = recommend_all(model, st.users, 20)
        m = evaluate_topk(top, st.holdout[st.users], st.counts, st.groups, (20,))
        rows.append((label, ranking, *[m[k] for k in KEYS]))
        print(rows[-1], file=sys.stderr, flush=True)

    frozen = "content (frozen MiniLM, mean profile)"
    for label, model in (("tfidf", make_model("tfidf").fit(data)),
                         (frozen, make_model("content").fit(data))):  # fmt: skip
        row(label, "raw", model)
        row(label, "band-neutral", model, neutral=True)
    lm = make_model("lm").fit(data)
    for alpha in ALPHAS:
        lm.debias = alpha
        row("lm (fine-tuned, adapter)", f"logQ alpha={alpha}", lm)
    lm.debias = "band"
    row("lm (fine-tuned, adapter)", 'band-neutral (`debias="band"`)', lm)
    lines = ["# Frozen vs fine-tuned language model, alone", "",
             f"`python bench/lm_debias.py` — {time.strftime('%Y-%m-%d')}, "
             f"{time.time() - start:.0f} s, 2-core CPU. ml-latest-small, quality-bench protocol, "
             "test stage, no tuning (one fit each). Band-neutral = z-scores within head / tail / "
             "cold (training counts), then one ranking.", "",
             "| model | ranking | R@20 | tail-R@20 | cold-R@20 |",
             "|---|---|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} |" for r in rows]
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
