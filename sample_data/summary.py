"""The figures the README quotes, from the two tables alone; cheap at 10M rows."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _favourite_share(
    user: np.ndarray, item: np.ndarray, cat: np.ndarray, counts: np.ndarray
) -> tuple[float, float]:
    """Share of users' later long-tail picks in the category they favoured in their first half,
    and that category's catalogue share (what random picks would give).

    Same definition as ``test_text_predicts_taste_in_the_tail``: rows sorted by user then time,
    the tail is all but the top 20% of items, users with >= 5 early and >= 2 late-tail picks.
    """
    n_cat, n_users = int(cat.max()) + 1, int(user.max()) + 1
    tail = np.zeros(len(counts), dtype=bool)
    tail[np.argsort(-counts, kind="stable")[int(0.2 * len(counts)) :]] = True
    size = np.bincount(user, minlength=n_users)
    early = np.arange(len(user)) - (np.cumsum(size) - size)[user] < (size // 2)[user]
    key = user[early] * n_cat + cat[item[early]]
    seen = np.bincount(key, minlength=n_users * n_cat).astype(np.int64)
    first = np.full(n_users * n_cat, len(user), dtype=np.int64)
    cells, at = np.unique(key, return_index=True)
    first[cells] = at  # ties go to the category met first, as pandas value_counts
    favourite = (seen * (len(user) + 1) - first).reshape(n_users, n_cat).argmax(axis=1)
    late = ~early & tail[item] & (size // 2 >= 5)[user]
    hits = np.bincount(user[late], cat[item[late]] == favourite[user[late]], n_users)
    picks = np.bincount(user[late], minlength=n_users)
    ok = picks >= 2
    if not ok.any():  # a shop too small to tell
        return float("nan"), float("nan")
    base = np.bincount(cat, minlength=n_cat) / len(cat)
    return float(np.mean(hits[ok] / picks[ok])), float(np.mean(base[favourite[ok]]))


def _read_from_text(items: pd.DataFrame, column: str, limit: int = 20_000) -> float:
    """Naive Bayes on title + description words, fitted on even rows of the first ``limit``
    items and scored on odd rows: how often ``column`` is recovered (as the bundled test)."""
    sample = items.iloc[:limit]
    words = (sample["title"] + " " + sample["description"]).str.lower().str.findall("[a-z]+")
    words = words.map(lambda ws: list(dict.fromkeys(ws)))  # each word once per item
    label, classes = pd.factorize(sample[column], sort=True)
    doc = np.repeat(np.arange(len(sample)), words.map(len).to_numpy())
    token = np.concatenate([np.array(ws, dtype=object) for ws in words])
    train = doc % 2 == 0
    vocab = pd.Index(pd.unique(token[train]))
    code = vocab.get_indexer(token)
    seen = np.ones((len(classes), len(vocab)))  # Laplace smoothing
    np.add.at(seen, (label[doc[train]], code[train]), 1)
    log_p = np.log(seen / seen.sum(axis=1, keepdims=True))
    test = ~train & (code >= 0)
    score = np.zeros((len(sample), len(classes)))
    np.add.at(score, doc[test], log_p[:, code[test]].T)
    held_out = np.arange(len(sample)) % 2 == 1
    return float(np.mean(score[held_out].argmax(axis=1) == label[held_out]))


def summarize(items: pd.DataFrame, interactions: pd.DataFrame) -> dict[str, float]:
    """Headline figures quoted in the README: sizes, head and cold share, taste carried by text."""
    item = pd.Categorical(interactions["item_id"], categories=items["item_id"]).codes
    user = pd.factorize(interactions["user_id"])[0]  # rows are sorted by user
    counts = np.bincount(item, minlength=len(items))
    top = np.sort(counts)[::-1][: int(0.2 * len(items))]
    cat = pd.factorize(items["category"])[0]
    later, chance = _favourite_share(user, item, cat, counts)
    return {
        "items": len(items),
        "users": int(user.max()) + 1,
        "interactions": len(interactions),
        "top20_share": top.sum() / counts.sum(),
        "cold_share": float((counts == 0).mean()),
        "chinese_titles": int(items["title"].str.contains("[\u4e00-\u9fff]").sum()),
        "unique_titles": items["title"].nunique(),
        "mean_rating": float(interactions["rating"].mean()),
        "later_tail_in_favourite_category": later,
        "later_tail_chance": chance,
        "category_from_text": _read_from_text(items, "category"),
        "style_from_text": _read_from_text(items, "style"),
    }
