"""Text-tower bench: does fine-tuning the language model rank new items better than the frozen one?

Protocol: :mod:`recsys.evaluation.protocol` on MovieLens ml-latest-small with ``split="item_cold"``
(a seeded 20% of the catalogue is new: all of those items' interactions are held out) and the
candidate scope ``cold``: every list holds new items only, and every test positive is a new item.
Nothing is tuned on test: the anchors run with fixed parameters, the fine-tuned variants with a
fixed number of epochs (or steps), trained on the training split only.

Rows: the frozen anchors (TF-IDF, frozen MiniLM profile with mean and max pooling) and the two-tower
model in each training regime: ``adapter`` (frozen MiniLM vectors + a trained projection),
``top-2`` and ``top-4`` (the top transformer layers trained too, the lower ones cached). Each row
is reported as mean ± sd over the seeds (a seed changes the held-out items and the training).

Usage::

    python bench/text_tower.py                          # seeds 0 1 2, every row
    python bench/text_tower.py --seeds 0 --rows adapter,top-2
    python bench/text_tower.py --seeds 0 --profile top-2 --steps 3   # where a step's time goes
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

from recsys.evaluation.protocol import Protocol, prepare, resolve, run_model  # noqa: E402
from recsys.models.scope import CandidateScope  # noqa: E402

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
RESULTS = REPO / "bench/results/text_tower.md"
ROWS: dict[str, tuple[str, dict, str]] = {  # row -> (model, params, what it is)
    "tfidf": ("tfidf", {}, "TF-IDF cosine to the history (frozen anchor)"),
    "frozen-mean": ("content", {"pooling": "mean"}, "frozen MiniLM, mean history profile"),
    "frozen-max": ("content", {"pooling": "max"}, "frozen MiniLM, best single history item"),
    "adapter": (
        "lm",
        {"regime": "adapter", "epochs": 8},
        "fine-tuned: projection on frozen MiniLM",
    ),
    "top-2": ("lm", {"regime": "top-2", "epochs": 1}, "fine-tuned: top 2 of 6 layers + projection"),
    "top-4": ("lm", {"regime": "top-4", "epochs": 1}, "fine-tuned: top 4 of 6 layers + projection"),
}
METRICS = ("recall@20", "ndcg@20", "recall@10")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ML_SMALL, help="MovieLens folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated: {', '.join(ROWS)}")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--profile",
        metavar="REGIME",
        help="time a few steps of REGIME (e.g. top-2) "
        "on the first seed, split into forward / trainable layers / backward; no table",
    )
    p.add_argument("--steps", type=int, default=3, help="steps to time with --profile")
    return p.parse_args(argv)


def profile(args: argparse.Namespace) -> None:
    """Where a training step's time goes: the trainer's own step, cut into its parts."""
    import torch

    from recsys.lm import finetune as ft
    from recsys.lm.config import FinetuneConfig

    protocol = Protocol(
        split="item_cold", seed=args.seeds[0], tune=False, candidates=CandidateScope("cold")
    )
    dataset, text = resolve(args.data)
    stage = prepare(dataset, protocol, text).final
    t0 = time.perf_counter()
    cfg = FinetuneConfig(regime=args.profile, epochs=1, seed=args.seeds[0])
    trainer = ft._Trainer(stage.train, stage.text, cfg, None, None, None, None, None)
    print(f"setup {time.perf_counter() - t0:.1f} s; {len(trainer.pairs)} pairs, "
          f"{trainer.steps_per_epoch} steps an epoch, {stage.train.shape[1]} items")  # fmt: skip
    tower, text_s = trainer.model.text, [0.0]
    if tower is not None:
        lengths = tower.lengths.numpy()
        print(f"tokens per item: mean {lengths.mean():.1f}, median {np.median(lengths):.0f}, "
              f"p90 {np.percentile(lengths, 90):.0f}, max {lengths.max()}")  # fmt: skip
        forward = tower.forward

        def timed(items: torch.Tensor) -> torch.Tensor:
            t = time.perf_counter()
            out = forward(items)
            text_s[0] = time.perf_counter() - t
            return out

        tower.forward = timed  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(trainer.pairs))
    for k in range(args.steps):
        batch = trainer.pairs[order[k * cfg.batch_size : (k + 1) * cfg.batch_size]]
        trainer.model.train()
        items = torch.as_tensor(batch[:, 1])
        hist = ft._torch_csr(trainer.train[batch[:, 0]])
        counts = torch.as_tensor(np.diff(trainer.train.indptr)[batch[:, 0]])
        ta = time.perf_counter()
        u, v, table = trainer.net(trainer.base, items, hist, counts)
        tb = time.perf_counter()
        loss = trainer._loss(u, v, items, table, rng)
        trainer.opt.zero_grad()
        loss.backward()
        trainer.opt.step()
        tc = time.perf_counter()
        print(f"step {k}: forward {tb - ta:.2f} s (trainable layers {text_s[0]:.2f} s; "
              f"{len(items)} pairs, {len(torch.unique(items))} distinct items), "
              f"loss + backward + step {tc - tb:.2f} s", flush=True)  # fmt: skip
    if tower is not None:
        t = time.perf_counter()
        tower.encode_all()
        print(f"item table refresh (whole catalogue): {time.perf_counter() - t:.1f} s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.profile:
        return profile(args)
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(ROWS)}")
    found: dict[str, list[dict]] = {r: [] for r in rows}
    started = time.perf_counter()
    summaries = []
    for seed in args.seeds:
        protocol = Protocol(
            split="item_cold", seed=seed, tune=False, candidates=CandidateScope("cold")
        )
        dataset, text = resolve(args.data)
        experiment = prepare(dataset, protocol, text)
        summaries.append(experiment.summary)
        for row in rows:
            name, params, _ = ROWS[row]
            result = run_model(name, experiment, protocol, dict(params))  # seed: protocol's
            found[row].append({**result.metrics, "seconds": result.seconds})
            print(
                f"seed {seed} {row}: R@20 {result.metrics['recall@20']:.4f} "
                f"({result.seconds:.0f} s)",
                flush=True,
            )
    best_frozen = max(
        (np.mean([m["recall@20"] for m in found[r]]) for r in ("tfidf", "frozen-mean", "frozen-max")
         if r in found),
        default=np.nan,
    )  # fmt: skip
    lines = [
        "# Text-tower bench: new items only (`item_cold`, candidate scope `cold`)",
        "",
        f"`python bench/text_tower.py --seeds {' '.join(map(str, args.seeds))} --rows "
        f"{','.join(rows)}` — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{time.perf_counter() - started:.0f} s in all.",
        "",
        f"ml-latest-small, seeds {args.seeds}: {summaries[0]['cold_items']:.0f} cold items with "
        "seed 0; every list holds cold items only; mean ± sd over the seeds.",
        "",
        "| row | what | training | R@20 | N@20 | R@10 | × best frozen | s per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name, params, what = ROWS[row]
        ms = found[row]
        cells = []
        for key in METRICS:
            v = [m[key] for m in ms]
            cells.append(f"{np.mean(v):.4f} ± {np.std(v):.4f}")
        ratio = np.mean([m["recall@20"] for m in ms]) / best_frozen
        training = ", ".join(f"{k} {v}" for k, v in params.items()) if name == "lm" else "—"
        seconds = np.mean([m["seconds"] for m in ms])
        lines.append(
            f"| {row} | {what} | {training} | {' | '.join(cells)} | {ratio:.2f}× | {seconds:.0f} |"
        )
    text_out = "\n".join(lines) + "\n"
    args.out.write_text(text_out)
    print(text_out)


if __name__ == "__main__":
    main()
