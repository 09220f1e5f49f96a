"""Pages at scale: the Data and Embeddings pages' first render on a large shop, load apart.

Each page runs in its own fresh process (cold Streamlit caches, a fresh projection cache, its own
peak RSS) through Streamlit's AppTest (server side: the script run that builds every element and
figure; not the browser's drawing). Per page it times, one after the other:

- ``load``: reading and validating the two Parquet files (``pages.common._load``, the cached
  loader every page shares);
- Embeddings only, ``umap compile``: ``recsys.maps.projection.warm_up`` (numba compiling UMAP
  on a 600-point map), which a fresh process pays once; the app starts it in the background at
  start (``app.py``);
- ``first render``: the page's first AppTest run after the above, with cold Streamlit caches and
  an empty projection cache: it computes the training counts that colour the map, draws the
  sample, encodes it, indexes it and projects it;
- ``second render``: a second session's first run of the page in the same process (Streamlit's
  caches warm, as for a second visitor or a rerun after a setting that does not change the map).

The Recommendations page opens on its default model (the frozen-MiniLM hybrid: no run in the
fresh runs folder) and its collaborative baseline; the row's note splits the first render into
encoding, fitting and candidate building (each call's seconds, model by model).

The item vectors at 1M items cannot come from MiniLM on a CPU here (≈ 130 items/s, two hours),
so ``--vectors`` gives an .npy of the vectors the page would use (one row per catalogue item);
the encoder is replaced by a function that looks the given texts up (the page only encodes the
drawn sample's texts); that lookup table is built before any timing. When that file does not
exist it is made
first (timed apart, not part of any page): TF-IDF of the item text (50,000 terms, sublinear tf)
reduced to 64 dimensions by a TruncatedSVD fitted on a seeded 50,000-item sample, rows unit
length.

Usage::

    python bench/scale_pages.py --data /work/scale/shop-1m --vectors /tmp/emb/vectors-1m-64.npy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench/results/scale_pages.md"
PAGES = {
    "data": REPO / "pages/data.py",
    "embeddings": REPO / "pages/embeddings.py",
    "recommendations": REPO / "pages/recommendations.py",
}
# The Recommendations page's stages, timed by wrapping these library calls (name: module, function)
STAGES = {
    "fit": ("recsys.report.analysis", "fit_model"),
    "candidates": ("recsys.report.analysis", "candidates_of"),
    "encode": ("recsys.lm.encoder", "encode_items"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with the two Parquet files")
    p.add_argument("--vectors", type=Path, help=".npy item vectors for the Embeddings page")
    p.add_argument("--pages", nargs="+", default=list(PAGES), choices=list(PAGES))
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown report (appended)")
    p.add_argument("--child", help=argparse.SUPPRESS)  # one page, in this process
    return p.parse_args(argv)


def source(data: Path) -> dict:
    return {
        "kind": "upload",
        "name": data.name,
        "interactions": str(data / "interactions.parquet"),
        "items": str(data / "items.parquet"),
    }


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def use_vectors(path: Path, catalogue_texts: list[str]) -> None:
    """The page's encoder returns the rows of the given vectors whose item has each text."""
    import numpy as np

    import recsys.lm

    vectors = np.load(path, allow_pickle=False)
    if len(vectors) != len(catalogue_texts):
        raise SystemExit(f"{path}: {len(vectors)} rows for {len(catalogue_texts)} catalogue items")
    row_of = {text: i for i, text in reversed(list(enumerate(catalogue_texts)))}  # first wins

    def encode_items(texts, **_):
        return np.ascontiguousarray(vectors[[row_of[t] for t in texts]])

    fake = types.ModuleType("recsys.lm.encoder")
    fake.encode_items = encode_items  # type: ignore[attr-defined]
    sys.modules["recsys.lm.encoder"] = fake
    recsys.lm.encoder = fake  # type: ignore[attr-defined]


def tfidf_vectors(data: Path, out: Path, dim: int = 64, fit_rows: int = 50_000) -> float:
    """Write TF-IDF/SVD item vectors for the shop in ``data`` to ``out``; returns seconds."""
    import numpy as np
    import pandas as pd
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    sys.path.insert(0, str(REPO))
    from recsys.data.dataset import item_text

    t = time.perf_counter()
    items = pd.read_parquet(data / "items.parquet")
    columns = [c for c in ("title", "category", "style", "tags", "description") if c in items]
    text = item_text(items, tuple(columns))
    x = TfidfVectorizer(max_features=50_000, sublinear_tf=True, dtype=np.float32).fit_transform(
        text
    )
    rng = np.random.default_rng(0)
    fit = rng.choice(x.shape[0], min(fit_rows, x.shape[0]), replace=False)
    v = TruncatedSVD(dim, random_state=0).fit(x[fit]).transform(x).astype(np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, v)
    return time.perf_counter() - t


def child(page: str, args: argparse.Namespace) -> dict:
    """Time one page in this (fresh) process; returns the row as a dict."""
    os.environ.setdefault("LONGTAIL_WARMUP", "0")
    sys.path.insert(0, str(REPO))
    from streamlit.testing.v1 import AppTest

    from pages import common
    from recsys.maps import projection

    projection.DEFAULT_CACHE_DIR = Path(tempfile.mkdtemp(prefix="scale-pages-"))  # cold maps
    src = source(args.data)
    key = common.source_key(src)
    row: dict = {"page": page}
    t = time.perf_counter()
    data = common._load(key)
    row["load"] = time.perf_counter() - t
    row["size"] = (
        f"{data.interactions['user'].nunique():,} users x {len(data.items):,} items x "
        f"{len(data.interactions):,} interactions"
    )
    if page == "embeddings":
        if args.vectors:
            use_vectors(args.vectors, data.item_text())
        row["umap compile"] = projection.warm_up()
    stages = timed_stages() if page == "recommendations" else {}
    runs = tempfile.mkdtemp(prefix="scale-pages-runs-")
    for name in ("first render", "second render"):
        at = AppTest.from_file(str(PAGES[page]), default_timeout=900)
        at.session_state[common.SOURCE] = src
        at.session_state[common.RUNS_DIR] = runs
        t = time.perf_counter()
        at.run()
        row[name] = time.perf_counter() - t
        if at.exception:
            raise SystemExit(f"{page} page raised: {at.exception[0].message}")
    shown = [i.value for i in at.info if "stratified sample" in i.value]
    row["note"] = shown[0].split(")")[0] + ")" if shown else ""
    if stages:
        said = [c.value for c in at.caption if "seeded sample" in c.value]
        sampled = "KPIs" + said[0].split(" KPIs", 1)[1].split(";")[0] if said else "every user"
        row["note"] = "; ".join(f"{name} {sec:.1f} s" for name, sec in stages.items())
        row["note"] += f" (nested calls count in each; {sampled})"
    row["peak RSS GB"] = peak_rss_gb()
    return row


def timed_stages() -> dict[str, float]:
    """Wrap :data:`STAGES` so each call adds its seconds under ``stage (model)`` to the dict."""
    import functools
    import importlib

    seconds: dict[str, float] = {}
    for stage, (module_name, name) in STAGES.items():
        module = importlib.import_module(module_name)
        inner = getattr(module, name)

        def wrapper(*a, _inner=inner, _stage=stage, **kw):
            t = time.perf_counter()
            out = _inner(*a, **kw)
            what = a[1] if _stage == "fit" and len(a) > 1 else getattr(out, "shape", "")
            if _stage == "candidates":
                what = f"{out.n_users} users"
            key = f"{_stage} ({what})"
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t
            return out

        setattr(module, name, functools.wraps(inner)(wrapper))
    return seconds


def run_child(page: str, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, *argv, "--child", page]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    columns = ("load", "umap compile", "first render", "second render")
    head = "| size | page | " + " | ".join(f"{c} s" for c in columns) + " | peak RSS GB |"
    lines = [head, "|---|---|" + "---:|" * (len(columns) + 1)]
    for r in rows:
        cells = [f"{r[c]:.1f}" if c in r else "–" for c in columns]
        lines.append(
            f"| {r['size']} | {r['page']} | {' | '.join(cells)} | {r['peak RSS GB']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    made = ""
    if args.vectors and not args.vectors.exists():
        seconds = tfidf_vectors(args.data, args.vectors)
        made = f"Vectors made first (TF-IDF/SVD-64, not part of any page): {seconds:.1f} s.\n"
        print(made.strip())
    rows = [run_child(page, argv) for page in args.pages]
    text = table(rows)
    print(text)
    notes = [f"- {r['page']}: {r['note']}" for r in rows if r.get("note")]
    command = "python bench/scale_pages.py " + " ".join(argv)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report = f"\n## {stamp}\n\n`{command}`\n\n{made}{text}\n" + "\n" + "\n".join(notes) + "\n"
    if not args.out.exists():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Pages at scale\n\nWritten by `bench/scale_pages.py`.\n")
    with args.out.open("a") as f:
        f.write(report)


if __name__ == "__main__":
    main()
