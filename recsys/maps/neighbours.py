"""The neighbour facts an item map only hints at, from the full embedding space.

- :func:`nearest_neighbours` — cosine k-NN in the full embedding space: exact, block by block, or
  through :func:`neighbour_index`, the candidate stage's faiss index
  (:class:`recsys.models.candidates.TextIndex`: exact flat search up to ``exact_up_to`` items,
  an HNSW graph above), for catalogues of a million items.
- :func:`neighbourhood_change` — per tail item, the share of its k nearest neighbours that are head
  items, before and after fine-tuning.
- :func:`search_titles` — case-insensitive title search, best matches first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.popularity import COLD, GROUP_NAMES, HEAD, TAIL
from recsys.models.candidates import CandidateConfig, TextIndex


def normalise(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def neighbour_index(embeddings: np.ndarray, config: CandidateConfig | None = None) -> TextIndex:
    """The candidate stage's faiss index over the unit-length rows (cosine = inner product).

    ``config``: :class:`~recsys.models.candidates.CandidateConfig` (default: exact flat search up
    to 100,000 items, HNSW above).
    """
    return TextIndex(normalise(embeddings), None, config or CandidateConfig())


def nearest_neighbours(
    embeddings: np.ndarray,
    rows: Sequence[int] | np.ndarray | None = None,
    k: int = 10,
    block_bytes: int = 1 << 27,
    index: TextIndex | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-NN of ``rows`` (default: all items) among all items, the item itself excluded.

    Returns ``(idx, sim)``, both (R, k): neighbour positions and cosine similarities, most similar
    first. Without ``index``: exact, ties by position, in blocks of queries so memory stays near
    ``block_bytes``. With ``index`` (:func:`neighbour_index` of the same embeddings): the index's
    answer, approximate when it is an HNSW graph.
    """
    x = normalise(embeddings)  # (N, D)
    n = len(x)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    k = max(0, min(k, n - 1))
    idx = np.zeros((len(rows), k), dtype=np.int64)
    sim = np.zeros((len(rows), k), dtype=np.float32)
    if k == 0:
        return idx, sim
    if index is not None:
        return _indexed_neighbours(x, rows, k, index)
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


def nearest_to(
    embeddings: np.ndarray, queries: np.ndarray, k: int = 10, index: TextIndex | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-NN among ``embeddings`` of (Q, D) query vectors that are not rows of it (e.g. an
    item outside a map's sample): ``(idx, sim)``, both (Q, k), most similar first (ties by
    position when exact). With ``index`` (:func:`neighbour_index` of ``embeddings``): its answer."""
    x = normalise(embeddings)
    q = normalise(np.atleast_2d(queries))
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions, the embeddings {x.shape[1]}")
    k = max(0, min(k, len(x)))
    if index is not None:
        if len(index) != len(x):
            raise ValueError(f"the index holds {len(index)} items, the embeddings {len(x)}")
        idx = index.search(q, k)
    else:
        s = q @ x.T  # (Q, N)
        idx = np.lexsort((np.broadcast_to(np.arange(len(x)), s.shape), -s), axis=1)[:, :k]
    sim = np.einsum("qd,qkd->qk", q, x[np.maximum(idx, 0)]).astype(np.float32)
    sim[idx < 0] = 0.0
    return idx.astype(np.int64), sim


def _indexed_neighbours(
    x: np.ndarray, rows: np.ndarray, k: int, index: TextIndex
) -> tuple[np.ndarray, np.ndarray]:
    """k neighbours per row from ``index`` (asked for k + 1: the item itself is dropped)."""
    if len(index) != len(x):
        raise ValueError(f"the neighbour index holds {len(index)} items, the embeddings {len(x)}")
    found = index.search(x[rows], k + 1)  # (R, k + 1), best first, -1 = none
    keep = (found != rows[:, None]) & (found >= 0)
    keep &= np.cumsum(keep, axis=1) <= k
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept columns first, in rank order
    idx = np.take_along_axis(found, order, axis=1)
    sim = np.einsum("rd,rkd->rk", x[rows], x[np.maximum(idx, 0)]).astype(np.float32)
    sim[idx < 0] = 0.0
    return idx, sim


def head_share(
    embeddings: np.ndarray,
    groups: np.ndarray,
    rows: np.ndarray,
    k: int = 10,
    index: TextIndex | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the share of its k nearest neighbours that are head items; also the neighbours."""
    idx, _ = nearest_neighbours(embeddings, rows, k, index=index)
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
    before: np.ndarray,
    after: np.ndarray,
    groups: np.ndarray,
    k: int = 10,
    among: np.ndarray | None = None,
    indexes: tuple[TextIndex, TextIndex] | None = None,
) -> NeighbourhoodChange:
    """Compare each tail/cold item's k nearest neighbours in two embeddings of the same items.

    ``before`` and ``after`` are (N, D) and (N, D') arrays with the same rows; ``groups`` (N,) are
    :mod:`recsys.data.popularity` codes. The head share is the fraction of an item's k nearest
    neighbours (cosine, item excluded, among all N items) that are head items; "kept" is
    ``|NN_before ∩ NN_after| / k``. ``among``: compare only the tail/cold items at these
    positions (e.g. a map's sample); ``indexes``: :func:`neighbour_index` of ``before`` and
    ``after``, for catalogues too large for exact search.
    """
    if len(before) != len(after) or len(before) != len(groups):
        raise ValueError(
            f"before, after and groups must have the same rows: "
            f"{len(before)}, {len(after)}, {len(groups)}"
        )
    groups = np.asarray(groups)
    rows = np.flatnonzero(groups != HEAD)
    if among is not None:
        rows = np.intersect1d(rows, np.asarray(among, dtype=np.int64))
    index_b, index_a = indexes or (None, None)
    share_b, nn_b = head_share(before, groups, rows, k, index_b)
    share_a, nn_a = head_share(after, groups, rows, k, index_a)
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
