"""Speed bench: item encoding and fine-tuning throughput, and peak memory, in one run.

Cases (each in its own child process, so its peak RSS is its own):

* ``encode_ours``   — :class:`recsys.lm.encoder.Encoder` (length bucketing, inference mode).
* ``encode_st``     — sentence-transformers ``encode`` on the same model, texts and batch size.
* ``train_seed``    — the seed's loop: ``BertForSequenceClassification`` over the same MiniLM,
  ``padding="max_length"`` 128, batch 16, AdamW 2e-5, pointwise BCE on (user history, item) text.
* ``train_<regime>``— :func:`recsys.lm.finetune.finetune` with that regime (adapter, top-2, full).

Data: ml-latest-small movies (title + genres) and positives (rating >= 4), restricted to the first
``--items`` movies so the default run takes a few minutes. Samples/s counts training examples
(positive pairs) per second of training steps, setup (encoding, layer caches) excluded and reported.

Usage::

    python bench/speed.py                      # all cases, writes bench/results/speed.md
    python bench/speed.py --device cuda        # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ML_SMALL = REPO.parent / "shared/datasets/ml-latest-small"
RESULTS = REPO / "bench/results/speed.md"
CASES = ("encode_ours", "encode_st", "train_seed", "train_adapter", "train_top-2", "train_full")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--items", type=int, default=2000, help="catalogue prefix to use")
    p.add_argument("--encode-texts", type=int, default=2000)
    p.add_argument("--train-steps", type=int, default=6, help="timed steps per training case")
    p.add_argument("--batch-size", type=int, default=128, help="batch of our regimes")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--case", help=argparse.SUPPRESS)  # child mode: run one case, print JSON
    return p.parse_args(argv)


# --- data ----------------------------------------------------------------------------------------


def load_data(n_items: int):
    """(texts, positives CSR) for the first ``n_items`` movies of ml-latest-small."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    movies = pd.read_csv(ML_SMALL / "movies.csv").head(n_items)
    texts = (movies["title"] + ". " + movies["genres"].str.replace("|", ", ")).tolist()
    ratings = pd.read_csv(ML_SMALL / "ratings.csv")
    ratings = ratings[(ratings["rating"] >= 4) & ratings["movieId"].isin(movies["movieId"])]
    users = {u: i for i, u in enumerate(sorted(ratings["userId"].unique()))}
    items = {m: i for i, m in enumerate(movies["movieId"])}
    rows = ratings["userId"].map(users).to_numpy()
    cols = ratings["movieId"].map(items).to_numpy()
    data = np.ones(len(rows), dtype=np.float32)
    return texts, sp.csr_matrix((data, (rows, cols)), shape=(len(users), len(movies)))


# --- cases ---------------------------------------------------------------------------------------


def encode_ours(args) -> dict:
    from recsys.lm.encoder import Encoder

    texts, _ = load_data(max(args.items, args.encode_texts))
    texts = texts[: args.encode_texts]
    enc = Encoder(device=args.device, batch_size=64, cache_dir=None, threads=args.threads)
    enc.encode(texts[:64])  # warm-up
    t = time.perf_counter()
    vectors = enc.encode(texts)
    seconds = time.perf_counter() - t
    import numpy as np

    np.save(Path(os.environ["SPEED_TMP"]) / "ours.npy", vectors)
    return {"texts_per_s": len(texts) / seconds, "seconds": seconds, "n": len(texts),
            "device": enc.describe()}  # fmt: skip


def encode_st(args) -> dict:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from recsys.lm.encoder import configure_threads, packaged_model_dir

    configure_threads(args.threads)
    texts, _ = load_data(max(args.items, args.encode_texts))
    texts = texts[: args.encode_texts]
    model = SentenceTransformer(str(packaged_model_dir()), device=args.device)
    model.encode(texts[:64], batch_size=64)
    t = time.perf_counter()
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
    seconds = time.perf_counter() - t
    ours = np.load(Path(os.environ["SPEED_TMP"]) / "ours.npy")
    agree = float(np.mean(np.sum(ours * vectors, axis=1))) if ours.shape == vectors.shape else None
    return {"texts_per_s": len(texts) / seconds, "seconds": seconds, "n": len(texts),
            "mean_cosine_to_ours": agree}  # fmt: skip


def train_seed(args) -> dict:
    """The seed's loop, reconstructed: text pair (user's last liked titles, item) -> like?"""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from recsys.lm.encoder import configure_threads, packaged_model_dir

    configure_threads(args.threads)
    texts, train = load_data(args.items)
    folder = str(packaged_model_dir())
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=1).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    rng = np.random.default_rng(0)
    coo = train.tocoo()
    batch, steps = 16, args.train_steps
    model.train()
    t = time.perf_counter()
    for s in range(steps + 1):
        if s == 1:
            t = time.perf_counter()  # step 0 is warm-up
        pick = rng.integers(0, coo.nnz, batch // 2)
        users, pos = coo.row[pick], coo.col[pick]
        neg = rng.integers(0, train.shape[1], batch // 2)  # pointwise: half positives, half random
        items = np.concatenate([pos, neg])
        hist = [
            " ".join(texts[j] for j in train[u].indices[:5]) for u in np.concatenate([users] * 2)
        ]
        enc = tok(hist, [texts[i] for i in items], padding="max_length", max_length=128,
                  truncation=True, return_tensors="pt").to(args.device)  # fmt: skip
        labels = torch.tensor([1.0] * (batch // 2) + [0.0] * (batch // 2), device=args.device)
        logits = model(**enc).logits.squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t
    return {"samples_per_s": steps * batch / seconds, "step_s": seconds / steps, "batch": batch}


def train_regime(args, regime: str) -> dict:
    from recsys.lm.config import FinetuneConfig
    from recsys.lm.finetune import finetune

    texts, train = load_data(args.items)
    records: list[dict] = []
    cfg = FinetuneConfig(regime=regime, batch_size=args.batch_size, epochs=1000,
                         max_steps=args.train_steps + 1, device=args.device, threads=args.threads,
                         cache_dir=os.environ["SPEED_TMP"], log_every=1)  # fmt: skip
    t0 = time.perf_counter()
    marks: list[float] = []
    finetune(train, texts, cfg, callback=lambda r: (records.append(r), marks.append(
        time.perf_counter())))  # fmt: skip
    steps = [m for r, m in zip(records, marks, strict=True) if r["kind"] == "step"]
    timed = steps[-1] - steps[0]  # first step is warm-up
    n = len(steps) - 1
    return {"samples_per_s": n * args.batch_size / timed, "step_s": timed / n,
            "batch": args.batch_size, "setup_s": steps[0] - t0}  # fmt: skip


def run_case(args) -> dict:
    import torch

    torch.manual_seed(0)
    if args.case == "encode_ours":
        out = encode_ours(args)
    elif args.case == "encode_st":
        out = encode_st(args)
    elif args.case == "train_seed":
        out = train_seed(args)
    else:
        out = train_regime(args, args.case.removeprefix("train_"))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


# --- driver --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.case:
        print("RESULT " + json.dumps(run_case(args)))
        return 0
    import tempfile

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SPEED_TMP": tmp}
        for case in args.cases.split(","):
            cmd = [sys.executable, __file__, "--case", case, "--device", args.device,
                   "--items", str(args.items), "--encode-texts", str(args.encode_texts),
                   "--train-steps", str(args.train_steps),
                   "--batch-size", str(args.batch_size)]  # fmt: skip
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            results[case] = json.loads(line[-1][7:]) if line else {"error": proc.stderr[-500:]}
            results[case]["wall_s"] = time.perf_counter() - t
            print(case, json.dumps(results[case]), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, args))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(results, args))
    return 0


def report(results: dict, args) -> str:
    def get(case, key, fmt="{:.1f}"):
        value = results.get(case, {}).get(key)
        return fmt.format(value) if isinstance(value, int | float) else "–"

    load = os.getloadavg()[0]
    ours, st = results.get("encode_ours", {}), results.get("encode_st", {})
    seed = results.get("train_seed", {}).get("samples_per_s")
    lines = [
        "# Speed bench",
        "",
        f"`python bench/speed.py --device {args.device}` — {time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end. "
        "No GPU was lent to this task: every figure is CPU.",
        "",
        f"## Encoding ({args.encode_texts} ml-latest-small titles + genres, batch 64)",
        "",
        "| encoder | texts/s | peak RSS MB |",
        "|---|---:|---:|",
        f"| ours (`recsys.lm.encoder.Encoder`) | {get('encode_ours', 'texts_per_s')} | "
        f"{get('encode_ours', 'peak_rss_mb', '{:.0f}')} |",
        f"| sentence-transformers `encode` | {get('encode_st', 'texts_per_s')} | "
        f"{get('encode_st', 'peak_rss_mb', '{:.0f}')} |",
        "",
    ]
    if ours.get("texts_per_s") and st.get("texts_per_s"):
        ratio = ours["texts_per_s"] / st["texts_per_s"]
        cosine = get("encode_st", "mean_cosine_to_ours", "{:.5f}")
        lines += [f"Ratio ours / sentence-transformers: {ratio:.2f}x; mean cosine between the "
                  f"two vectors of a text: {cosine}.", ""]  # fmt: skip
    lines += [
        f"## Training ({args.items} movies, their positives; {args.train_steps} timed steps)",
        "",
        "| loop | batch | samples/s | s/step | setup s | vs seed | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in [c for c in results if c.startswith("train_")]:
        r = results[case]
        ratio = f"{r['samples_per_s'] / seed:.1f}x" if seed and r.get("samples_per_s") else "–"
        lines.append(f"| {case.removeprefix('train_')} | {r.get('batch', '–')} | "
                     f"{get(case, 'samples_per_s')} | {get(case, 'step_s', '{:.2f}')} | "
                     f"{get(case, 'setup_s')} | {ratio} | "
                     f"{get(case, 'peak_rss_mb', '{:.0f}')} |")  # fmt: skip
    lines += [
        "",
        "Seed = `BertForSequenceClassification` on (history titles, item) pairs, "
        "`padding='max_length'` 128, batch 16, AdamW 2e-5. Ours = two-tower, in-batch softmax; "
        "`setup` = catalogue encoding (cached on disk across runs) and, for top-N, the frozen "
        "layers' outputs computed once. Peak RSS per case (own process, `ru_maxrss`). "
        "A seed sample is one (pair, label), half of them random negatives; one of ours is one "
        "positive pair scored against the batch's other items (in-batch negatives). The seed loop "
        "is reconstructed from its description (model class, padding, batch, optimiser).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
