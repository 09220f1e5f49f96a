"""The neighbour facts an item map only hints at, from the full embedding space.

- :func:`nearest_neighbours` — exact cosine k-NN in the full embedding space, block by block.
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
    :mod:`recsys.data.popularity` codes. The head share is the fraction of an item's k nearest
    neighbours (cosine, item excluded) that are head items; "kept" is
    ``|NN_before ∩ NN_after| / k``.
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
