"""Why an item is in a user's list: computed from the model's scores, never from templates.

For every recommended item an :class:`Explanation` holds

* the score split into its parts (the model's parts from :class:`recsys.whatif.rerank.Candidates`
  plus the ``tail_boost`` the re-ranker added); they sum to the score the list was ordered by;
* the rank before the boost (among all the user's unseen items) and after it;
* the history items most similar to it, with their similarity: item-item cosine over the training
  matrix (Sarwar et al. 2001, "Item-based collaborative filtering recommendation algorithms", WWW)
  when the collaborative part dominates, else cosine of text vectors (language-model embeddings or
  TF-IDF), so cold items are explained by their text;
* the catalogue terms (genres, tags, category, title words, ...) it shares with those items.

The idea follows implicit's ``explain()``: which liked items contributed, with values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.popularity import GROUP_NAMES
from recsys.whatif.rerank import Candidates, Reranked

Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]  # items a, items b -> (|a|, |b|)
Term = tuple[str, str]  # (catalogue column, lower-cased value)

BOOST = "tail_boost"
COLLABORATIVE = "collaborative"
ITEM_ITEM = "item-item"  # the similarity name of :func:`cooccurrence`
FREE_TEXT = frozenset({"title", "name", "description", "summary"})  # split into words
WORDS = "words"  # the column label of terms from free-text columns
_WORD = re.compile(r"[^\W\d_]{3,}")  # letters only, 3+ long, any script
_LIST_SEP = re.compile(r"[|,;]")


@dataclass(frozen=True)
class Explanation:
    """Why ``item`` is at ``rank_after`` in one user's list."""

    item: int
    rank_before: int
    rank_after: int
    band: int  # HEAD / TAIL / COLD
    parts: dict[str, float]  # model parts + "tail_boost"; they sum to ``score``
    similarity: str  # which similarity ``because`` uses: "item-item" or "text"
    because: tuple[tuple[int, float], ...]  # (history item, similarity), strongest first
    shared: tuple[Term, ...]  # catalogue terms shared with the ``because`` items

    @property
    def score(self) -> float:
        return float(sum(self.parts.values()))


# --- similarities --------------------------------------------------------------------------------


def cosine(vectors: np.ndarray | sp.spmatrix) -> Similarity:
    """Cosine similarity between rows of ``vectors`` (dense embeddings or sparse TF-IDF)."""
    unit = _unit_rows(vectors)

    def sim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = unit[np.asarray(a)] @ unit[np.asarray(b)].T
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float64)

    return sim


def _unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(vectors):
        v = sp.csr_matrix(vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
        return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ v
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def tfidf_vectors(texts: Sequence[str]) -> sp.csr_matrix:
    """(I, V) TF-IDF rows of the item texts, with :class:`recsys.models.tfidf` settings."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        return TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts).tocsr()
    except ValueError:  # empty vocabulary: no usable text at all
        return sp.csr_matrix((len(texts), 1))


def cooccurrence(train: sp.csr_matrix) -> Similarity:
    """Item-item cosine over the (U, I) training matrix: the items' user columns compared."""
    return cosine(sp.csr_matrix(train).T.tocsr())


def choose_similarity(parts: Mapping[str, float], available: Sequence[str]) -> str:
    """``"item-item"`` when the collaborative part is the largest model part, else the first
    other (text or embedding) similarity in ``available``."""
    model_parts = {k: v for k, v in parts.items() if k != BOOST}
    collab_wins = (
        bool(model_parts) and max(model_parts, key=lambda k: model_parts[k]) == COLLABORATIVE
    )
    others = [name for name in available if name != ITEM_ITEM]
    if collab_wins and ITEM_ITEM in available or not others:
        return ITEM_ITEM if ITEM_ITEM in available else available[0]
    return others[0]


# --- shared terms --------------------------------------------------------------------------------


def item_terms(items: pd.DataFrame, columns: Sequence[str], positions: np.ndarray) -> list[set]:
    """Terms of each item: list columns split on ``| , ;`` as ``(column, value)``, free-text
    columns (title, description, ...) into ``("words", word)`` without English stop words."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out = []
    rows = items.iloc[np.asarray(positions, dtype=np.int64)]
    for _, row in rows.iterrows():
        terms: set[Term] = set()
        for col in columns:
            value = row.get(col)
            if not isinstance(value, str) or not value:
                continue
            if col.lower() in FREE_TEXT:
                terms |= {
                    (WORDS, w) for w in set(_WORD.findall(value.lower())) - ENGLISH_STOP_WORDS
                }
            else:
                terms |= {(col, p.strip().lower()) for p in _LIST_SEP.split(value) if p.strip()}
        out.append(terms)
    return out


def shared_terms(target: set, others: Sequence[set], limit: int = 6) -> tuple[Term, ...]:
    """Terms of ``target`` found in ``others``: most shared first, list columns before words."""
    counts = Counter(t for terms in others for t in terms & target)
    ranked = sorted(counts, key=lambda t: (-counts[t], t[0] == WORDS, t))
    return tuple(ranked[:limit])


# --- explanations --------------------------------------------------------------------------------


def explain_user(
    user: int,
    cands: Candidates,
    ranked: Reranked,
    history: np.ndarray,
    similarities: Mapping[str, Similarity],
    terms: Callable[[np.ndarray], list[set]] | None = None,
    n_because: int = 3,
) -> list[Explanation]:
    """One :class:`Explanation` per item of ``user``'s re-ranked list, in list order.

    Args:
        user: the user's row in ``cands`` and ``ranked`` (:meth:`Candidates.row` of its
            position where the candidates hold a sample of users).
        history: the user's training items (indices), the candidates for ``because``.
        similarities: by name (``"item-item"``, ``"text"``); see :func:`choose_similarity`.
        terms: item positions -> term sets (e.g. :func:`item_terms` bound to a catalogue).
    """
    slots = ranked.slots[user]
    items = ranked.items[user]
    history = np.asarray(history, dtype=np.int64)
    sims = {name: fn(history, items) for name, fn in similarities.items()} if len(history) else {}
    out = []
    for j, (slot, item) in enumerate(zip(slots, items, strict=True)):
        parts = {name: float(v[user, slot]) for name, v in cands.parts.items()}
        parts[BOOST] = float(ranked.boost[user, j])
        kind = choose_similarity(parts, list(similarities))
        because = _strongest(history, sims[kind][:, j], n_because) if sims else ()
        shared: tuple[Term, ...] = ()
        if terms is not None and because:
            found = terms(np.array([item] + [h for h, _ in because]))
            shared = shared_terms(found[0], found[1:])
        out.append(
            Explanation(
                item=int(item),
                rank_before=int(cands.rank[user, slot]),
                rank_after=j + 1,
                band=int(cands.groups[item]),
                parts=parts,
                similarity=kind,
                because=because,
                shared=shared,
            )
        )
    return out


def _strongest(history: np.ndarray, values: np.ndarray, n: int) -> tuple[tuple[int, float], ...]:
    order = np.argsort(-values, kind="stable")[:n]
    return tuple((int(history[i]), float(values[i])) for i in order if values[i] > 0)


def explanations_frame(
    explanations: Sequence[Explanation], item_ids: np.ndarray, titles: Sequence[str]
) -> pd.DataFrame:
    """A display/export table: one row per item with parts, ranks, ``because`` and ``shared``."""
    rows = []
    for e in explanations:
        because = "; ".join(f"{titles[h]} ({v:.2f})" for h, v in e.because)
        rows.append(
            {
                "rank": e.rank_after,
                "rank before boost": e.rank_before,
                "item": str(item_ids[e.item]),
                "title": titles[e.item],
                "band": GROUP_NAMES[e.band],
                "score": e.score,
                **{name.replace("_", " "): value for name, value in e.parts.items()},
                "because (similarity)": f"{e.similarity}: {because}" if because else "",
                "shared terms": format_terms(e.shared),
            }
        )
    return pd.DataFrame(rows)


def lists_frame(
    cands: Candidates,
    ranked: Reranked,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    titles: Sequence[str],
) -> pd.DataFrame:
    """Every user's list (each sampled user's, where the candidates hold a sample) in long form,
    one row per user and rank, with score parts and ranks."""
    n_users, k = ranked.items.shape
    items = ranked.items.ravel()
    slots = ranked.slots.ravel()
    users = np.repeat(np.arange(n_users), k)
    positions = users if cands.users is None else cands.users[users]
    frame = pd.DataFrame(
        {
            "user": np.asarray(user_ids, dtype=object)[positions],
            "rank": np.tile(np.arange(1, k + 1), n_users),
            "rank before boost": cands.rank[users, slots],
            "item": np.asarray(item_ids, dtype=object)[items],
            "title": np.asarray(titles, dtype=object)[items],
            "band": np.array([GROUP_NAMES[g] for g in sorted(GROUP_NAMES)])[cands.groups[items]],
            "score": ranked.scores(cands).ravel(),
        }
    )
    for name, values in cands.parts.items():
        frame[name.replace("_", " ")] = values[users, slots]
    frame["tail boost"] = ranked.boost.ravel()
    return frame


def format_terms(terms: Sequence[Term]) -> str:
    """``"genres: comedy, drama · words: love"``: values grouped by column, in first-seen order."""
    by_column: dict[str, list[str]] = {}
    for col, value in terms:
        by_column.setdefault(col, []).append(value)
    return " · ".join(f"{col}: {', '.join(values)}" for col, values in by_column.items())
