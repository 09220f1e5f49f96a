"""Item maps: a 2-D projection of item embeddings (:func:`project`), cached on disk.

UMAP (McInnes, Healy & Melville, 2018, arXiv:1802.03426) or PCA to 2-D, cached as
``<cache_dir>/<key>.npy`` with key = (embeddings fingerprint, method, n_neighbors, min_dist,
metric, seed, n_epochs, and ``-xknn`` where the neighbour graph is exact, see below); loaded with
``allow_pickle=False``. The folder is capped in bytes
(``LONGTAIL_PROJECTION_CACHE_MB``, default 512): the least recently used files go first
(:mod:`recsys.runs.pruning`). UMAP with a seed runs single-threaded
and gives the same picture twice.

From :data:`EXACT_KNN_FROM` points on (where UMAP itself switches to approximate NN-descent,
whose numba compilation alone takes ~70 s in a fresh process here), the k-NN graph UMAP starts
from is computed exactly with faiss (flat inner-product or L2 search, a second or two for 20,000
points) and handed to UMAP as ``precomputed_knn``; cosine and euclidean metrics only. Those maps
start from PCA rather than UMAP's spectral layout, which alone took ~19 s of a 30 s fit on 20,000
points here (11 s with PCA).

2-D distances are only a picture: UMAP keeps local neighbourhoods roughly, not global distances, so
neighbour lists always come from the full space (:mod:`recsys.maps.neighbours`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from recsys.runs.atomic import atomic_save_npy
from recsys.runs.pruning import cap_bytes, prune_cache, touch

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO / ".cache" / "projections"

Method = Literal["umap", "pca"]
Metric = Literal["cosine", "euclidean", "correlation", "manhattan"]
METRICS: tuple[str, ...] = ("cosine", "euclidean", "correlation", "manhattan")
EXACT_KNN_FROM = 4096  # UMAP's own switch from exact to approximate neighbours
EXACT_KNN_METRICS = ("cosine", "euclidean")


@dataclass(frozen=True)
class ProjectionConfig:
    """How to draw the map. PCA ignores every field but ``method``.

    Attributes:
        method: ``"umap"`` (the map) or ``"pca"`` (instant, linear; for tests and huge catalogues).
        n_neighbors: UMAP's neighbourhood size: small keeps local detail, large the global shape.
        min_dist: UMAP's minimum distance between drawn points. UMAP's own default (0.1) packs
            each catalogue category into a dot; 0.5 spreads it so tail and head items inside a
            category can be told apart.
        metric: distance in the embedding space; cosine suits sentence embeddings.
        seed: random state; fixed so the same data gives the same picture.
        n_epochs: UMAP optimisation epochs; 200 (UMAP's own choice above 10k items) is enough for
            a picture and 2-3x faster than the 500 it uses for small data; ``None`` = UMAP's.
    """

    method: Method = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.5
    metric: Metric = "cosine"
    seed: int = 42
    n_epochs: int | None = 200

    def key(self) -> str:
        if self.method == "pca":
            return "pca"
        return (
            f"umap-nn{self.n_neighbors}-md{self.min_dist:g}-{self.metric}-s{self.seed}"
            f"-e{self.n_epochs or 'auto'}"
        )


# --------------------------------------------------------------------------- projection


def fingerprint(embeddings: np.ndarray) -> str:
    """16 hex digits identifying an array's shape, dtype and values."""
    x = np.ascontiguousarray(embeddings)
    h = hashlib.sha256(f"{x.shape}-{x.dtype.str}".encode())
    h.update(x.data)
    return h.hexdigest()[:16]


def cache_path(embeddings: np.ndarray, config: ProjectionConfig, cache_dir=None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    exact = "-xknn" if uses_exact_knn(len(embeddings), config) else ""
    return root / f"{fingerprint(embeddings)}-{config.key()}{exact}.npy"


def uses_exact_knn(n: int, config: ProjectionConfig) -> bool:
    """Whether a UMAP of ``n`` points starts from a faiss exact k-NN graph (see module doc)."""
    return config.method == "umap" and n >= EXACT_KNN_FROM and config.metric in EXACT_KNN_METRICS


def is_cached(embeddings: np.ndarray, config: ProjectionConfig, cache_dir=None) -> bool:
    return cache_path(embeddings, config, cache_dir).exists()


def project(
    embeddings: np.ndarray,
    config: ProjectionConfig | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """(N, D) embeddings -> (N, 2) float32 coordinates, from the disk cache when possible.

    ``cache_dir=None`` means :data:`DEFAULT_CACHE_DIR` (looked up at call time).
    """
    config = config or ProjectionConfig()
    path = cache_path(embeddings, config, cache_dir)
    if use_cache and path.exists():
        try:
            xy = np.load(path, allow_pickle=False)
            if xy.shape == (len(embeddings), 2):
                touch(path)  # least recently used entries are evicted first
                return xy
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and overwrite
    x = np.asarray(embeddings, dtype=np.float32)
    xy = _pca(x) if config.method == "pca" else _umap(x, config)
    if use_cache:
        atomic_save_npy(path, xy)
        prune_cache(path.parent, cap_bytes("projections"), keep=(path,))
    return xy


def _pca(x: np.ndarray) -> np.ndarray:
    """First two principal components, signs fixed so the result is deterministic.

    Eigenvectors of the (D, D) scatter matrix rather than an SVD of the (N, D) data: the same
    axes, several times faster when N >> D.
    """
    out = np.zeros((len(x), 2), dtype=np.float32)
    if len(x) < 2:
        return out
    centred = x - x.mean(0)  # (N, D)
    scatter = (centred.T @ centred).astype(np.float64)  # (D, D); f32 product: BLAS, fast
    _, vecs = np.linalg.eigh(scatter)  # ascending eigenvalues
    axes = vecs[:, ::-1][:, :2].astype(np.float32)  # (D, r), r = min(2, D)
    scores = centred @ axes  # (N, r)
    r = scores.shape[1]
    signs = np.sign(scores[np.abs(scores).argmax(0), np.arange(r)])
    out[:, :r] = scores * np.where(signs == 0, 1, signs)
    return out


def place(neighbour_xy: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """(2,) map position of an item outside the drawn sample: the similarity-weighted mean of its
    nearest drawn neighbours' positions (what UMAP's ``transform`` starts from, without its
    optimisation epochs). Negative similarities weigh nothing; NaN positions are skipped."""
    xy = np.asarray(neighbour_xy, dtype=np.float64).reshape(-1, 2)
    w = np.maximum(np.asarray(similarity, dtype=np.float64).ravel(), 0.0)
    ok = ~np.isnan(xy).any(axis=1)
    if not ok.any():
        return np.full(2, np.nan, dtype=np.float32)
    xy, w = xy[ok], w[ok]
    w = w if w.sum() > 0 else np.ones(len(xy))
    return (w @ xy / w.sum()).astype(np.float32)


_WARMED = threading.Event()
_WARM_LOCK = threading.Lock()


def warm_up() -> float:
    """Compile UMAP's numba code in this process (uncached 600-point map through the same exact
    k-NN + PCA-init path a sampled map takes); seconds spent, 0 when already done. Numba does not
    cache most of UMAP's functions on disk, so each fresh process pays this once."""
    with _WARM_LOCK:
        if _WARMED.is_set():
            return 0.0
        start = time.perf_counter()
        x = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
        _umap(x, ProjectionConfig(n_epochs=10), exact=True)
        _WARMED.set()
        return time.perf_counter() - start


_WARM_THREAD: list[threading.Thread] = []


def start_warm_up() -> threading.Thread:
    """:func:`warm_up` in a daemon thread, started once per process (the app calls this for
    every session; the first map then does not compile); failures are logged, the page then
    compiles on demand."""
    with _WARM_LOCK:
        if _WARM_THREAD:
            return _WARM_THREAD[0]

    def work() -> None:
        try:
            log.info("UMAP compiled in the background in %.1f s", warm_up())
        except Exception as exc:  # noqa: BLE001 - the first map compiles instead
            log.warning("UMAP warm-up failed: %s", exc)

    thread = threading.Thread(target=work, name="longtail-umap-warmup", daemon=True)
    with _WARM_LOCK:
        _WARM_THREAD.append(thread)
    thread.start()
    return thread


def _umap(x: np.ndarray, config: ProjectionConfig, exact: bool | None = None) -> np.ndarray:
    """``exact``: force (or forbid) the faiss k-NN graph; ``None``: :func:`uses_exact_knn`."""
    if len(x) < 5:  # UMAP's spectral init needs a few points; a handful is a PCA picture anyway
        return _pca(x)
    import umap  # slow import (~3-20 s), so only when a UMAP is really computed

    n_neighbors = max(2, min(config.n_neighbors, len(x) - 1))
    exact = uses_exact_knn(len(x), config) if exact is None else exact
    knn = exact_knn(x, n_neighbors, config.metric) if exact else None
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=config.min_dist,
        metric=config.metric,
        random_state=config.seed,
        n_epochs=config.n_epochs,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
        precomputed_knn=knn if knn is not None else (None, None, None),
        init="spectral" if knn is None else "pca",
    )
    with warnings.catch_warnings():  # ours has no search index: we never call transform
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        return reducer.fit_transform(x).astype(np.float32)


def exact_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) neighbour positions and distances, each point first (distance 0), as UMAP's own
    neighbour search returns them; faiss flat search (cosine: ``1 - cos``; euclidean: L2)."""
    import faiss

    if metric not in EXACT_KNN_METRICS:
        raise ValueError(f"exact k-NN for {EXACT_KNN_METRICS}, not {metric!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    index: faiss.Index
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        index = faiss.IndexFlatIP(x.shape[1])
    else:
        index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    score, idx = index.search(x, k + 1)  # (N, k + 1): usually the point itself first
    dist = 1.0 - score if metric == "cosine" else np.sqrt(np.maximum(score, 0))
    self_ = np.arange(len(x))[:, None]
    others = idx != self_
    others &= np.cumsum(others, axis=1) <= k - 1  # k - 1 others, the point itself in front
    order = np.argsort(~others, axis=1, kind="stable")[:, : k - 1]
    knn_idx = np.concatenate([self_, np.take_along_axis(idx, order, axis=1)], axis=1)
    knn_dist = np.concatenate(
        [np.zeros((len(x), 1)), np.maximum(np.take_along_axis(dist, order, axis=1), 0)], axis=1
    )
    return knn_idx.astype(np.int64), knn_dist.astype(np.float32)
