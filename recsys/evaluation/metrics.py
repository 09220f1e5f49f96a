"""Full-ranking accuracy and long-tail metrics over top-K lists, vectorised over users.

Conventions shared by every function:

* ``top`` is a (U, K) int array of item indices per user, best first, training items already
  excluded; items within a row are distinct.
* ``test`` is a (U, I) CSR matrix aligned row by row with ``top``; any stored non-zero is relevant.
* Accuracy metrics are averaged over users with at least one relevant test item; beyond-accuracy
  metrics (APLT, ARP, coverage, Gini, novelty) describe what is shown, so they use every row.
* ``groups`` holds one popularity band per item: ``HEAD``, ``TAIL`` or ``COLD``.

Per-user functions return (U,) arrays with NaN where the metric is undefined (no relevant items);
``evaluate_topk`` averages them over the users where they are defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

HEAD, TAIL, COLD = 0, 1, 2
BANDS: dict[str, int] = {"head": HEAD, "tail": TAIL, "cold": COLD}


# --- hits ----------------------------------------------------------------------------------------


def hit_matrix(top: np.ndarray, test: sp.csr_matrix) -> np.ndarray:
    """(U, K) bool: ``hits[u, j]`` is True when ``top[u, j]`` is a test item of user ``u``.

    Each stored (row, col) pair becomes one int64 key ``row * I + col``; in canonical CSR these keys
    are already sorted, so a single ``searchsorted`` looks up every list slot at once.
    """
    test = _canonical(test)
    n_users, n_items = test.shape
    _check_top(top, n_users, n_items)
    if test.nnz == 0:
        return np.zeros(top.shape, dtype=bool)
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(test.indptr))
    keys = rows * n_items + test.indices  # (nnz,) sorted
    query = np.arange(n_users, dtype=np.int64)[:, None] * n_items + top  # (U, K)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return keys[pos] == query


def relevant_counts(test: sp.csr_matrix, item_mask: np.ndarray | None = None) -> np.ndarray:
    """(U,) number of test items per user, optionally only those where ``item_mask`` is True."""
    test = _canonical(test)
    if item_mask is None:
        return np.diff(test.indptr).astype(np.int64)
    rows = np.repeat(np.arange(test.shape[0]), np.diff(test.indptr))
    return np.bincount(rows[item_mask[test.indices]], minlength=test.shape[0]).astype(np.int64)


# --- accuracy, per user --------------------------------------------------------------------------


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Precision@k = |L_u@k ∩ T_u| / k, per user.

    Standard IR precision at a cut-off (Manning, Raghavan & Schütze 2008, §8.4).
    """
    return hits[:, :k].sum(axis=1) / k


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Recall@k = |L_u@k ∩ T_u| / min(k, |T_u|), per user; NaN where |T_u| = 0.

    The min(k, ·) denominator keeps a perfect list at 1 when a user has more than k test items
    (the "truncated recall" of Liang et al. 2018, "Variational Autoencoders for Collaborative
    Filtering", WWW).
    """
    denom = np.minimum(k, n_relevant)
    return _divide(hits[:, :k].sum(axis=1), denom)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k with binary gain, per user; NaN where |T_u| = 0.

    DCG@k = Σ_{j=1..k} rel_j / log2(j + 1); IDCG@k = Σ_{j=1..min(k, |T_u|)} 1 / log2(j + 1);
    NDCG@k = DCG@k / IDCG@k (Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR
    techniques", ACM TOIS).
    """
    disc = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
    dcg = hits[:, :k] @ disc
    ideal = np.concatenate([[0.0], np.cumsum(disc)])  # ideal[n] = IDCG with n relevant in the top
    idcg = ideal[np.minimum(k, n_relevant)]
    return _divide(dcg, idcg)


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """HitRate@k = 1 if |L_u@k ∩ T_u| > 0 else 0, per user (Deshpande & Karypis 2004, ACM TOIS)."""
    return np.asarray(hits[:, :k].any(axis=1)).astype(np.float64)


def reciprocal_rank(hits: np.ndarray) -> np.ndarray:
    """RR = 1 / rank of the first hit in the whole list, 0 if none (Voorhees 1999, TREC-8 QA)."""
    any_hit = hits.any(axis=1)
    first = hits.argmax(axis=1) + 1
    return np.where(any_hit, 1.0 / first, 0.0)


# --- beyond accuracy, over all lists --------------------------------------------------------------


def aplt_at_k(top: np.ndarray, groups: np.ndarray, k: int) -> float:
    """APLT@k = (1/|U|) Σ_u |{i ∈ L_u@k : i ∈ tail ∪ cold}| / k.

    Average Percentage of Long Tail items (Abdollahpouri, Burke & Mobasher 2019, "Managing
    popularity bias in recommender systems with personalized re-ranking", FLAIRS). Cold items count
    as long tail: they are the far end of it.
    """
    return float(np.mean(groups[top[:, :k]] != HEAD)) if len(top) else np.nan


def arp_at_k(top: np.ndarray, train_counts: np.ndarray, k: int) -> float:
    """ARP@k = (1/|U|) Σ_u Σ_{i ∈ L_u@k} φ(i) / k, with φ(i) the item's training interactions.

    Average Recommendation Popularity (Yin et al. 2012, "Challenging the long tail recommendation",
    VLDB). Lower means less popular items are shown.
    """
    return float(np.mean(train_counts[top[:, :k]])) if len(top) else np.nan


def exposure_counts(top: np.ndarray, n_items: int, k: int) -> np.ndarray:
    """(I,) how many lists show each item within their first k slots (0 for never-shown items)."""
    return np.bincount(top[:, :k].ravel(), minlength=n_items)


def coverage_at_k(top: np.ndarray, n_items: int, k: int) -> float:
    """Coverage@k = |∪_u L_u@k| / |I|.

    Catalogue (aggregate) coverage (Ge, Delgado-Battenfeld & Jannach 2010, "Beyond accuracy",
    RecSys; Adomavicius & Kwon 2012, IEEE TKDE).
    """
    return float(np.count_nonzero(exposure_counts(top, n_items, k)) / n_items)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values; 0 = perfectly equal, (n-1)/n = all on one.

    G = Σ_{i=1..n} (2i − n − 1) x_(i) / (n Σ_i x_i), with x_(i) sorted ascending (the standard
    form, e.g. Damgaard & Weiner 2000). Applied to item exposure it measures concentration of
    recommendations (Fleder & Hosanagar 2009, Management Science; Shani & Gunawardana 2011,
    "Evaluating recommendation systems", §4.2). All-zero input gives 0.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    coef = 2 * np.arange(1, n + 1) - n - 1
    return float(coef @ x / (n * total))


def gini_at_k(top: np.ndarray, n_items: int, k: int) -> float:
    """Gini of item exposure over the whole catalogue, never-shown items included as zeros."""
    return gini(exposure_counts(top, n_items, k))


def novelty_at_k(top: np.ndarray, train_counts: np.ndarray, n_users: int, k: int) -> float:
    """Novelty@k = (1/|U|) Σ_u (1/k) Σ_{i ∈ L_u@k} −log2 p_i, mean self-information of shown items.

    p_i = (count_i + 1) / (n_users + 1): the +1 is one pseudo-user who interacted with every item,
    so cold items (count 0) get a finite novelty log2(n_users + 1) and an item every user has seen
    gets 0. Self-information novelty follows Zhou et al. 2010 ("Solving the apparent diversity-
    accuracy dilemma", PNAS) and Vargas & Castells 2011 ("Rank and relevance in novelty and
    diversity metrics", RecSys).
    """
    if not len(top):
        return np.nan
    # Clip so counts above n_users (non-binary training data) cannot give negative novelty.
    p = np.minimum((train_counts + 1.0) / (n_users + 1.0), 1.0)
    return float(np.mean(-np.log2(p)[top[:, :k]]))


# --- evaluators -----------------------------------------------------------------------------------


def evaluate_topk(
    top: np.ndarray,
    test: sp.csr_matrix,
    train_counts: np.ndarray,
    groups: np.ndarray,
    ks: Sequence[int] = (10, 20),
) -> dict[str, float]:
    """Every metric at every k, as ``{"recall@10": ..., "mrr": ..., "n_users": ...}``.

    ``tail_recall@k`` is recall over each user's tail ∪ cold test items, ``cold_recall@k`` over cold
    only, each averaged over the users who have such items (NaN when none does).
    """
    top = np.asarray(top, dtype=np.int64)
    test = _canonical(test)
    groups = np.asarray(groups)
    train_counts = np.asarray(train_counts, dtype=np.float64)
    n_users, n_items = test.shape
    _check_ks(ks, top.shape[1])
    hits = hit_matrix(top, test)  # (U, Kmax)
    n_rel = relevant_counts(test)
    users = n_rel > 0
    long_tail = groups != HEAD
    tail_hits, n_tail = hits & long_tail[top], relevant_counts(test, long_tail)
    cold_hits, n_cold = hits & (groups == COLD)[top], relevant_counts(test, groups == COLD)

    out: dict[str, float] = {}
    for k in ks:
        out[f"precision@{k}"] = _mean(precision_at_k(hits, k)[users])
        out[f"recall@{k}"] = _mean(recall_at_k(hits, n_rel, k)[users])
        out[f"ndcg@{k}"] = _mean(ndcg_at_k(hits, n_rel, k)[users])
        out[f"hit_rate@{k}"] = _mean(hit_rate_at_k(hits, k)[users])
        out[f"tail_recall@{k}"] = _mean(recall_at_k(tail_hits, n_tail, k)[n_tail > 0])
        out[f"cold_recall@{k}"] = _mean(recall_at_k(cold_hits, n_cold, k)[n_cold > 0])
        out[f"aplt@{k}"] = aplt_at_k(top, groups, k)
        out[f"arp@{k}"] = arp_at_k(top, train_counts, k)
        out[f"coverage@{k}"] = coverage_at_k(top, n_items, k)
        out[f"gini@{k}"] = gini_at_k(top, n_items, k)
        out[f"novelty@{k}"] = novelty_at_k(top, train_counts, n_users, k)
    out["mrr"] = _mean(reciprocal_rank(hits)[users])
    out["n_users"] = float(users.sum())
    return out


def evaluate_by_band(
    top: np.ndarray,
    test: sp.csr_matrix,
    train_counts: np.ndarray,
    groups: np.ndarray,
    ks: Sequence[int] = (10, 20),
) -> dict[str, dict[str, float]]:
    """Recall / NDCG / hit rate per popularity band, each on only that band's test items.

    Returns ``{"head": {...}, "tail": {...}, "cold": {...}}``; within a band, a user counts only if
    they have test items in it (``n_users``), and ``share@k`` is the share of list slots the band
    holds. ``train_counts`` is unused; it keeps the signature the same as ``evaluate_topk``.
    """
    del train_counts
    top = np.asarray(top, dtype=np.int64)
    test = _canonical(test)
    groups = np.asarray(groups)
    _check_ks(ks, top.shape[1])
    hits = hit_matrix(top, test)
    out: dict[str, dict[str, float]] = {}
    for name, code in BANDS.items():
        in_band = groups == code
        band_hits, n_band = hits & in_band[top], relevant_counts(test, in_band)
        users = n_band > 0
        row: dict[str, float] = {}
        for k in ks:
            row[f"recall@{k}"] = _mean(recall_at_k(band_hits, n_band, k)[users])
            row[f"ndcg@{k}"] = _mean(ndcg_at_k(band_hits, n_band, k)[users])
            row[f"hit_rate@{k}"] = _mean(hit_rate_at_k(band_hits, k)[users])
            row[f"share@{k}"] = float(np.mean(in_band[top[:, :k]])) if len(top) else np.nan
        row["n_users"] = float(users.sum())
        out[name] = row
    return out


# --- helpers --------------------------------------------------------------------------------------


def _canonical(test: sp.spmatrix) -> sp.csr_matrix:
    # Sorted, duplicate-free indices without explicit zeros are what hit_matrix's keys rely on.
    test = sp.csr_matrix(test, copy=True)
    test.eliminate_zeros()
    test.sum_duplicates()
    return test


def _check_top(top: np.ndarray, n_users: int, n_items: int) -> None:
    if top.ndim != 2 or top.shape[0] != n_users:
        raise ValueError(f"top must be (U={n_users}, K), got shape {top.shape}")
    if top.size and (top.min() < 0 or top.max() >= n_items):
        raise ValueError(f"top holds item indices outside [0, {n_items})")


def _check_ks(ks: Sequence[int], k_max: int) -> None:
    if not ks or min(ks) < 1 or max(ks) > k_max:
        raise ValueError(f"every k must be in [1, {k_max}] (the list length), got {list(ks)}")


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _mean(x: np.ndarray) -> float:
    # NaN for "no user qualifies" rather than numpy's empty-mean warning.
    return float(x.mean()) if len(x) else float("nan")
