"""Content-based recommender over item text: TF-IDF vectors and cosine similarity.

Term weighting after Salton & Buckley 1988, "Term-weighting approaches in automatic text
retrieval" (IP&M), with sublinear tf (1 + log tf; Manning, Raghavan & Schütze 2008, §6.4.1); the
user profile as the centroid of liked items' vectors follows the content-based recommenders
surveyed by Lops, de Gemmis & Semeraro 2011 ("Content-based recommender systems: state of the art
and trends", Recommender Systems Handbook). Text alone places items, so cold items can be reached.
"""

from __future__ import annotations

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
    param_grid: ClassVar[dict[str, list]] = {}

    def __init__(self, min_df: int = 1, stop_words: str | None = "english") -> None:
        self.min_df, self.stop_words = min_df, stop_words

    def _fit(self, data: TrainData) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # ~2 s import, only here

        vectorizer = TfidfVectorizer(
            sublinear_tf=True, min_df=self.min_df, stop_words=self.stop_words, dtype=np.float32
        )
        try:
            self.item_vectors_ = vectorizer.fit_transform(data.item_text).tocsr()  # (I, V), L2 rows
        except ValueError:  # empty vocabulary: no item has usable text
            self.item_vectors_ = sp.csr_matrix((data.n_items, 1), dtype=np.float32)

    def _score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        profiles = (history @ self.item_vectors_).tocsr()  # (B, V)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())  # (B,)
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        profiles = sp.diags(inverse.astype(np.float32)) @ profiles  # unit rows; empty rows stay 0
        return (profiles @ self.item_vectors_.T).toarray()  # (B, I)
