"""Item maps: a 2-D projection of item embeddings, and the neighbour facts the map only hints at.

- :func:`project` — UMAP (McInnes, Healy & Melville, 2018, arXiv:1802.03426) or PCA to 2-D, cached
  on disk as ``<cache_dir>/<key>.npy`` with key = (embeddings fingerprint, method, n_neighbors,
  min_dist, metric, seed, n_epochs); loaded with ``allow_pickle=False``. UMAP with a seed runs
  single-threaded and gives the same picture twice.
- :func:`nearest_neighbours` — exact cosine k-NN in the full embedding space, block by block.
- :func:`neighbourhood_change` — per tail item, the share of its k nearest neighbours that are head
  items, before and after fine-tuning.
- :func:`popularity_bands` + :func:`stratified_sample` — a point budget that keeps every band.
- :func:`search_titles` — case-insensitive title search, best matches first.

2-D distances are only a picture: UMAP keeps local neighbourhoods roughly, not global distances, so
neighbour lists always come from the full space.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recsys.popularity import COLD, GROUP_NAMES, HEAD, TAIL
from recsys.runs import atomic_save_npy

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE_DIR = REPO / ".cache" / "projections"
POINT_BUDGET = 50_000

Method = Literal["umap", "pca"]
Metric = Literal["cosine", "euclidean", "correlation", "manhattan"]
METRICS: tuple[str, ...] = ("cosine", "euclidean", "correlation", "manhattan")


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
    return root / f"{fingerprint(embeddings)}-{config.key()}.npy"


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
                return xy
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and overwrite
    x = np.asarray(embeddings, dtype=np.float32)
    xy = _pca(x) if config.method == "pca" else _umap(x, config)
    if use_cache:
        atomic_save_npy(path, xy)
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


def _umap(x: np.ndarray, config: ProjectionConfig) -> np.ndarray:
    if len(x) < 5:  # UMAP's spectral init needs a few points; a handful is a PCA picture anyway
        return _pca(x)
    import umap  # slow import (~3-20 s), so only when a UMAP is really computed

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(config.n_neighbors, len(x) - 1)),
        min_dist=config.min_dist,
        metric=config.metric,
        random_state=config.seed,
        n_epochs=config.n_epochs,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
    )
    return reducer.fit_transform(x).astype(np.float32)


# --------------------------------------------------------------------------- neighbours


def normalise(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def nearest_neighbours(
    embeddings: np.ndarray,
    rows: Sequence[int] | np.ndarray | None = None,
    k: int = 10,
    block_bytes: int = 1 << 27,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-NN of ``rows`` (default: all items) among all items, the item itself excluded.

    Returns ``(idx, sim)``, both (R, k): neighbour positions and cosine similarities, most similar
    first, ties by position. Works in blocks of queries so memory stays near ``block_bytes``.
    """
    x = normalise(embeddings)  # (N, D)
    n = len(x)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    k = max(0, min(k, n - 1))
    idx = np.zeros((len(rows), k), dtype=np.int64)
    sim = np.zeros((len(rows), k), dtype=np.float32)
    if k == 0:
        return idx, sim
    step = max(1, block_bytes // (4 * n))
    for start in range(0, len(rows), step):
        q = rows[start : start + step]
        s = x[q] @ x.T  # (B, N)
        s[np.arange(len(q)), q] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]  # (B, k), unordered
        vals = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)  # by similarity desc, then position
        idx[start : start + len(q)] = np.take_along_axis(part, order, axis=1)
        sim[start : start + len(q)] = np.take_along_axis(vals, order, axis=1)
    return idx, sim


def head_share(
    embeddings: np.ndarray, groups: np.ndarray, rows: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the share of its k nearest neighbours that are head items; also the neighbours."""
    idx, _ = nearest_neighbours(embeddings, rows, k)
    return (np.asarray(groups)[idx] == HEAD).mean(1), idx


@dataclass(frozen=True)
class NeighbourhoodChange:
    """How non-head items' neighbourhoods moved between two embeddings of the same items.

    Attributes:
        rows: (R,) positions of the tail and cold items compared.
        groups: (R,) their popularity groups (TAIL or COLD).
        before, after: (R,) share of each item's k nearest neighbours that are head items.
        kept: (R,) share of each item's k neighbours that are the same in both spaces.
        k: neighbours per item.
    """

    rows: np.ndarray
    groups: np.ndarray
    before: np.ndarray
    after: np.ndarray
    kept: np.ndarray
    k: int

    def summary(self) -> pd.DataFrame:
        """One row per group: items, mean head share before/after, items gaining head neighbours,
        mean neighbours kept."""
        out = []
        for code in (TAIL, COLD):
            m = self.groups == code
            if not m.any():
                continue
            out.append(
                {
                    "group": GROUP_NAMES[code],
                    "items": int(m.sum()),
                    f"head share of {self.k}-NN, base": float(self.before[m].mean()),
                    f"head share of {self.k}-NN, fine-tuned": float(self.after[m].mean()),
                    "items with more head neighbours": float(
                        (self.after[m] > self.before[m]).mean()
                    ),
                    "neighbours kept": float(self.kept[m].mean()),
                }
            )
        return pd.DataFrame(out)


def neighbourhood_change(
    before: np.ndarray, after: np.ndarray, groups: np.ndarray, k: int = 10
) -> NeighbourhoodChange:
    """Compare each tail/cold item's k nearest neighbours in two embeddings of the same items.

    ``before`` and ``after`` are (N, D) and (N, D') arrays with the same rows; ``groups`` (N,) are
    :mod:`recsys.popularity` codes. The head share is the fraction of an item's k nearest neighbours
    (cosine, item excluded) that are head items; "kept" is ``|NN_before ∩ NN_after| / k``.
    """
    if len(before) != len(after) or len(before) != len(groups):
        raise ValueError(
            f"before, after and groups must have the same rows: "
            f"{len(before)}, {len(after)}, {len(groups)}"
        )
    groups = np.asarray(groups)
    rows = np.flatnonzero(groups != HEAD)
    share_b, nn_b = head_share(before, groups, rows, k)
    share_a, nn_a = head_share(after, groups, rows, k)
    k_eff = nn_b.shape[1]
    kept = np.array([len(np.intersect1d(a, b)) for a, b in zip(nn_a, nn_b, strict=True)])
    return NeighbourhoodChange(
        rows=rows,
        groups=groups[rows],
        before=share_b,
        after=share_a,
        kept=kept / max(k_eff, 1),
        k=k_eff,
    )


# --------------------------------------------------------------------------- sampling


def popularity_bands(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N,) band labels: "head", tail by powers of two ("tail 1", "tail 2-3", "tail 4-7", ...),
    and "cold"."""
    counts = np.asarray(counts)
    groups = np.asarray(groups)
    labels = np.empty(len(counts), dtype=object)
    octave = np.floor(np.log2(np.maximum(counts, 1))).astype(int)
    for o in np.unique(octave[groups == TAIL]):
        lo, hi = 2**o, 2 ** (o + 1) - 1
        labels[(groups == TAIL) & (octave == o)] = f"tail {lo}" if lo == hi else f"tail {lo}-{hi}"
    labels[groups == HEAD] = "head"
    labels[groups == COLD] = "cold"
    return labels


def stratified_sample(strata: np.ndarray, budget: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``budget`` items keeping every stratum.

    Each stratum first gets ``min(size, max(1, budget // (2 * strata)))`` items, so small bands
    (the far tail, cold items) are always drawn; the rest of the budget is shared in proportion to
    what each stratum has left (largest remainder). All items when ``len(strata) <= budget``.
    """
    strata = np.asarray(strata)
    n = len(strata)
    if n <= budget:
        return np.arange(n)
    names, inverse, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    floor = np.minimum(sizes, max(1, budget // (2 * len(names))))
    left = sizes - floor
    spare = max(0, budget - int(floor.sum()))
    share = spare * left / max(left.sum(), 1)
    extra = np.floor(share).astype(int)
    by_remainder = np.argsort(-(share - extra), kind="stable")
    extra[by_remainder[: spare - int(extra.sum())]] += 1
    quota = floor + np.minimum(extra, left)
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(inverse == s), quota[s], replace=False) for s in range(len(names))
    ]
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------- search


def search_titles(titles: Sequence[str], query: str, limit: int = 20) -> np.ndarray:
    """Positions of titles containing ``query`` (case-insensitive), best first.

    Exact matches first, then titles starting with the query, then titles with a word starting
    with it, then any other match; ties by catalogue position.
    """
    q = query.strip().casefold()
    if not q:
        return np.zeros(0, dtype=np.int64)
    t = pd.Series(list(titles), dtype=object).fillna("").astype(str).str.casefold()
    hit = t.str.contains(q, regex=False).to_numpy()
    rank = np.full(len(t), 3)
    rank[t.str.contains(" " + q, regex=False).to_numpy()] = 2
    rank[t.str.startswith(q).to_numpy()] = 1
    rank[(t == q).to_numpy()] = 0
    positions = np.flatnonzero(hit)
    order = np.lexsort((positions, rank[positions]))
    return positions[order][:limit]
