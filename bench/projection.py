"""Projection bench: the item map's cost for 10k x 384 embeddings, cold and cached, and the page.

Measures, in one fresh process (so the first UMAP pays numba compilation, as a fresh dashboard
does):

- ``import umap``; UMAP 2-D of N synthetic item vectors (unit vectors around 40 topic centres)
  the first time in the process, again with another seed (compiled, not cached) and from the
  disk cache; PCA for comparison;
- exact cosine 10-NN of every item and the tail before/after summary (two embeddings);
- the Embeddings page in AppTest (server side) on a synthetic N-item catalogue whose vectors are
  the ones above (so the map comes from the cache), first run and rerun, and the size of the map
  figure sent to the browser;
- with ``--browser``: Plotly.js drawing that exact figure in headless chromium (WebGL), and a
  restyle (what a hover/selection redraw costs).

Usage::

    python bench/projection.py                  # 10,000 x 384, writes bench/results/projection.md
    python bench/projection.py --n 50000 --browser
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recsys.data.popularity import groups  # noqa: E402
from recsys.maps import neighbours, projection  # noqa: E402
from recsys.maps.projection import ProjectionConfig  # noqa: E402

RESULTS = REPO / "bench/results/projection.md"
PAGE = REPO / "pages/embeddings.py"
PLOTLY_JS = "plotly.min.js"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="items")
    p.add_argument("--dim", type=int, default=384, help="embedding dimensions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--browser", action="store_true", help="also time drawing in chromium")
    p.add_argument("--out", type=Path, default=RESULTS, help="markdown report")
    return p.parse_args(argv)


def synthetic_vectors(n: int, dim: int, seed: int, topics: int = 40) -> np.ndarray:
    """(n, dim) float32 unit vectors scattered around ``topics`` random directions."""
    rng = np.random.default_rng(seed)
    centres = neighbours.normalise(rng.normal(size=(topics, dim)))
    x = centres[rng.integers(0, topics, n)] * 3 + rng.normal(size=(n, dim)) / np.sqrt(dim) * 4
    return neighbours.normalise(x)


def synthetic_catalogue(n: int, folder: Path, seed: int) -> dict:
    """A Zipf-popular catalogue written as CSVs; returns the page's data-source dict."""
    rng = np.random.default_rng(seed)
    ids = [f"I{i:06d}" for i in range(n)]
    weight = 1.0 / np.arange(1, n + 1) ** 1.1
    weight[rng.choice(n, n // 30, replace=False)] = 0  # ~3% cold items
    draws = rng.choice(n, 10 * n, p=weight / weight.sum())
    users = rng.integers(0, n // 5, len(draws))
    inter = pd.DataFrame({"user_id": users, "item_id": np.asarray(ids)[draws]}).drop_duplicates()
    items = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Synthetic item {i}" for i in range(n)],
            "category": [f"topic {i % 40}" for i in range(n)],
        }
    )
    inter.to_csv(folder / "interactions.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return {
        "kind": "upload",
        "name": f"synthetic {n:,}",
        "interactions": str(folder / "interactions.csv"),
        "items": str(folder / "items.csv"),
        "text_columns": ["title", "category"],
    }


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def bench_projection(x: np.ndarray, cache: Path, seed: int) -> dict[str, float]:
    out = {}
    _, out["import umap"] = timed(__import__, "umap")
    cfg = ProjectionConfig(seed=seed)
    _, out["UMAP, first fit in the process (numba compile)"] = timed(
        projection.project, x, cfg, cache
    )
    _, out["UMAP, cold (another seed, compiled)"] = timed(
        projection.project, x, ProjectionConfig(seed=seed + 1), cache
    )
    _, out["UMAP, cached (fingerprint + .npy load)"] = timed(projection.project, x, cfg, cache)
    _, out["PCA"] = timed(projection.project, x, ProjectionConfig(method="pca"), use_cache=False)
    return out


def bench_neighbours(x: np.ndarray, seed: int) -> dict[str, float]:
    out = {}
    _, out["exact cosine 10-NN of every item"] = timed(neighbours.nearest_neighbours, x, None, 10)
    tuned = neighbours.normalise(x + np.random.default_rng(seed).normal(0, 0.02, x.shape))
    rng = np.random.default_rng(seed)
    g = groups(rng.zipf(1.5, len(x)) - 1)
    _, out["tail before/after summary (10-NN in both spaces)"] = timed(
        neighbours.neighbourhood_change, x, tuned, g, 10
    )
    return out


def bench_page(x: np.ndarray, cache: Path, folder: Path, seed: int) -> tuple[dict, str]:
    """AppTest of the page on a synthetic catalogue whose base vectors are ``x``."""
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    import recsys.lm

    set_log_level("error")  # AppTest outside a server warns about a missing script context
    fake = types.ModuleType("recsys.lm.encoder")
    fake.encode_items = lambda texts, **_: x  # the map is then a cache hit from bench_projection
    sys.modules["recsys.lm.encoder"] = fake
    recsys.lm.encoder = fake
    projection.DEFAULT_CACHE_DIR = cache
    source = synthetic_catalogue(len(x), folder, seed)
    at = AppTest.from_file(str(PAGE), default_timeout=600)
    at.session_state["data_source"] = source
    at.session_state["runs_dir"] = str(folder / "runs")
    at.session_state["emb_seed"] = seed  # the seed whose UMAP bench_projection cached
    _, first = timed(at.run)
    _, again = timed(at.run)
    assert not at.exception, at.exception
    spec = at.get("plotly_chart")[0].proto.spec
    out = {
        "page, first run (load data, counts, cached map, figure)": first,
        "page, rerun (widget change)": again,
    }
    return out, spec


def bench_browser(spec: str, folder: Path) -> dict[str, float]:
    """Plotly.js newPlot of the page's figure in headless chromium, and one restyle."""
    import shutil

    import plotly
    from playwright.sync_api import sync_playwright

    js = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    shutil.copy(js, folder / PLOTLY_JS)
    html = folder / "map.html"
    html.write_text(
        f'<html><body><div id="g" style="width:1200px;height:560px"></div>'
        f'<script src="{PLOTLY_JS}"></script><script>window.FIG = {spec};</script></body></html>'
    )
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(html.as_uri())
        draw = page.evaluate(
            "async () => { const t = performance.now();"
            " await Plotly.newPlot('g', FIG.data, FIG.layout); return performance.now() - t; }"
        )
        restyle = page.evaluate(
            "async () => { const t = performance.now();"
            " await Plotly.restyle('g', {'marker.opacity': 0.5}); return performance.now() - t; }"
        )
        browser.close()
    return {"browser: draw the figure (WebGL)": draw / 1000, "browser: restyle": restyle / 1000}


def report(rows: dict[str, float], args, size_mb: float, command: str) -> str:
    lines = [
        "# Projection bench",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{platform.python_version()}. {args.n:,} synthetic unit vectors × {args.dim} "
        f"(40 topics), UMAP {ProjectionConfig().n_neighbors} neighbours, min_dist "
        f"{ProjectionConfig().min_dist}, {ProjectionConfig().n_epochs} epochs, cosine, "
        f"seed {args.seed}. Shared 2-core machine: other jobs ran at the same time, so treat "
        "seconds as ±30%.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {sec:.2f} |" for name, sec in rows.items()],
        "",
        f"Map figure sent to the browser: {size_mb:.1f} MB of JSON ({args.n:,} points).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    x = synthetic_vectors(args.n, args.dim, args.seed)
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "projections"
        rows |= bench_projection(x, cache, args.seed)
        rows |= bench_neighbours(x, args.seed)
        page_rows, spec = bench_page(x, cache, Path(tmp), args.seed)
        rows |= page_rows
        if args.browser:
            rows |= bench_browser(spec, Path(tmp))
    size_mb = len(spec.encode()) / 2**20
    command = "python bench/projection.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report(rows, args, size_mb, command.strip())
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
