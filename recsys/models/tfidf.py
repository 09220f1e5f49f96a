"""Content-based recommender over item text: TF-IDF vectors and cosine similarity.

Term weighting after Salton & Buckley 1988, "Term-weighting approaches in automatic text
retrieval" (IP&M), with sublinear tf (1 + log tf; Manning, Raghavan & Schütze 2008, §6.4.1); the
user profile as the centroid of liked items' vectors follows the content-based recommenders
surveyed by Lops, de Gemmis & Semeraro 2011 ("Content-based recommender systems: state of the art
and trends", Recommender Systems Handbook). Text alone places items, so cold items can be reached.

Words are sklearn's (lower-cased runs of 2+ word characters, English stop words dropped), except
in runs of CJK characters (Chinese, Japanese kana, Korean Hangul), which have no spaces between
words: a run becomes its single characters and character bigrams, the standard indexing of
Chinese text without a segmenter (Nie, Gao, Zhang & Zhou 2000, "On the use of words and n-grams
for Chinese information retrieval", IRAL), so 精致手工皮包 and 手工皮包 share 手, 工, 皮, 包, 手工,
工皮 and 皮包. Text without CJK characters gets exactly the terms it got before.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, TrainData


class TfidfRecommender(Recommender):
    """score(u, j) = cos(mean of u's item vectors, item j's vector); unigrams, English stop words.

    The centroid and the sum of the history vectors point the same way, so the sum is used.
    Items without text, and users without history, score 0 everywhere.
    """

    name = "tfidf"
    scores_cold_items = True
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(self, min_df: int | float = 1, stop_words: str | list | None = "english") -> None:
        """``min_df``: keep terms found in at least this many items (int >= 1) or this share of
        them (float in [0, 1]); ``stop_words``: ``"english"``, a list of words, or None."""
        _check_params(min_df, stop_words)
        self.min_df = min_df
        self.stop_words = list(stop_words) if isinstance(stop_words, tuple) else stop_words

    def _fit(self, data: TrainData) -> None:
        if isinstance(self.min_df, int) and self.min_df > data.n_items:
            raise ValueError(
                f"tfidf: min_df={self.min_df} is more than the {data.n_items} items; no term "
                f"could be kept"
            )
        try:
            self.item_vectors_ = (
                _vectorizer(self.min_df, self.stop_words).fit_transform(data.item_text).tocsr()
            )  # (I, V), L2 rows
        except ValueError as exc:
            # Only "empty vocabulary" means "no usable text": a bad parameter must not turn into
            # all-zero scores (sklearn's InvalidParameterError is a ValueError too).
            if "empty vocabulary" not in str(exc):
                raise ValueError(f"tfidf: {exc}") from exc
            if self.min_df != 1 and _has_terms(_vectorizer(1, self.stop_words), data.item_text):
                raise ValueError(
                    f"tfidf: min_df={self.min_df!r} leaves no term of the {data.n_items} items' "
                    f"text; lower it"
                ) from exc
            self.item_vectors_ = sp.csr_matrix((data.n_items, 1), dtype=np.float32)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        profiles = (history @ self.item_vectors_).tocsr()  # (B, V)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())  # (B,)
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        profiles = sp.diags(inverse.astype(np.float32)) @ profiles  # unit rows; empty rows stay 0
        return (profiles @ self.item_vectors_.T).toarray()  # (B, I)


def _check_params(min_df: object, stop_words: object) -> None:
    count = isinstance(min_df, int) and not isinstance(min_df, bool) and min_df >= 1
    share = isinstance(min_df, float) and 0.0 <= min_df <= 1.0
    if not (count or share):
        raise ValueError(f"tfidf: min_df must be an int >= 1 or a float in [0, 1], got {min_df!r}")
    words = isinstance(stop_words, list | tuple) and all(isinstance(w, str) for w in stop_words)
    if not (stop_words is None or stop_words == "english" or words):
        raise ValueError(
            f"tfidf: stop_words must be 'english', a list of words or None, got {stop_words!r}"
        )


# Hiragana/katakana, CJK ideographs (extension A, unified, compatibility, extensions B+), Hangul.
CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]+"
)


class CjkAnalyzer:
    """Text -> terms: sklearn's word analyzer outside CJK runs, 1- and 2-character n-grams in them.

    ``word`` is the analyzer of a ``TfidfVectorizer`` with the model's stop words, so text without
    CJK characters gets exactly the terms the plain vectorizer gives.
    """

    def __init__(self, word) -> None:
        self.word = word

    def __call__(self, text: str) -> list[str]:
        if not CJK.search(text):
            return self.word(text)
        terms = self.word(CJK.sub(" ", text))
        for run in CJK.findall(text.lower()):
            terms += list(run) + [run[j : j + 2] for j in range(len(run) - 1)]
        return terms


def _vectorizer(min_df: int | float, stop_words: str | list | None):
    from sklearn.feature_extraction.text import TfidfVectorizer  # ~2 s import, only here

    words = TfidfVectorizer(stop_words=stop_words)
    # sklearn checks parameters at fit; this one is never fitted, so check here (a ValueError
    # named after the parameter, as the fit would raise) before building its analyzer
    words._validate_params()
    word = words.build_analyzer()
    return TfidfVectorizer(
        sublinear_tf=True,
        min_df=min_df,
        analyzer=CjkAnalyzer(word),
        token_pattern=None,  # the analyzer tokenises
        dtype=np.float32,
    )


def _has_terms(vectorizer, text: list[str]) -> bool:
    try:
        vectorizer.fit(text)
    except ValueError:
        return False
    return True
