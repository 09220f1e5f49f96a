"""Models as *score parts*: what a candidate list keeps so an explanation can split a score.

A :data:`PartScorer` maps ``(users, history)`` to named (B, I) score arrays whose sum is the
model's score. Part names are shared with the explanations: ``collaborative``, ``language_model``
(MiniLM or a fine-tuned run), ``content`` (TF-IDF) and, for the hybrid, ``band_offset``.

* :func:`model_parts` — any :class:`~recsys.models.base.Recommender` as one part.
* :func:`blend_parts` — several models, each scaled by the user's best score, then weighted.
* :func:`hybrid_parts` — :class:`recsys.models.hybrid.Hybrid` split exactly into its terms.
* :func:`run_language_model` — the fine-tuned language model of a run folder, without retraining.
* :func:`fit_scorer` — the page's model choices, fitted and turned into a scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.models import MODELS, TrainData, make_model
from recsys.models.base import Recommender, exclude

PartScorer = Callable[[np.ndarray, sp.csr_matrix], dict[str, np.ndarray]]  # users, history -> parts
Scores = Callable[[np.ndarray, sp.csr_matrix], np.ndarray]  # users, history -> (B, I)

BLEND = "blend"  # EASE + TF-IDF: a collaborative and a text part, so cold items can enter
HYBRID_FROZEN = "hybrid_frozen"  # the Hybrid over EASE and the frozen MiniLM (no fine-tuning)
RUN_PREFIX = "run:"  # "run:<folder>": EASE + the fine-tuned language model of a run folder
BLEND_PARTS: dict[str, tuple[str, float]] = {
    "collaborative": ("ease", 1.0),
    "content": ("tfidf", 0.5),
}
TEXT_PARTS: dict[str, str] = {  # single-part models scored from text; others are "collaborative"
    "tfidf": "content",
    "content": "language_model",
    "lm": "language_model",
}


class _Scored:
    """A score function dressed as the one method :func:`blend_parts` needs."""

    def __init__(self, fn: Scores) -> None:
        self.fn = fn

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.fn(users, history), dtype=np.float32)


def model_parts(model: Recommender, part: str = "collaborative") -> PartScorer:
    """A scorer of one part; a model with ``score_parts(users, history)`` gives its own parts."""
    own = getattr(model, "score_parts", None)
    if callable(own):
        return own
    return lambda users, history: {part: model.score(users, history)}


def blend_parts(models: Mapping[str, tuple[Recommender | _Scored, float]]) -> PartScorer:
    """Parts ``weight * score / max score`` per model, the max taken over each user's catalogue.

    Scaling by the user's best unseen score puts a collaborative model and a cosine-based text
    model on the same footing before ``weight`` sets their mix.
    """

    def score(users: np.ndarray, history: sp.csr_matrix) -> dict[str, np.ndarray]:
        out = {}
        for name, (model, weight) in models.items():
            s = model.score(users, history)  # (B, I)
            masked = s.copy()
            exclude(masked, history)
            top = masked.max(axis=1, keepdims=True)  # (B, 1)
            out[name] = weight * s / np.where(np.isfinite(top) & (top > 0), top, 1.0)
        return out

    return score


def hybrid_parts(model) -> PartScorer:
    """A fitted :class:`~recsys.models.hybrid.Hybrid` split into its own terms (collaborative,
    language model, lexical ``content`` when on, band offset); their sum is exactly its score."""
    return model.parts


def run_language_model(run_dir: str | Path, item_ids: np.ndarray) -> Scores:
    """Scores of a run's fine-tuned two-tower model (:func:`recsys.lm.checkpoints.load_run_tower`).

    Raises:
        ValueError: the run has no embeddings or best checkpoint yet, or lacks catalogue items.
    """
    from recsys.lm.checkpoints import load_run_tower

    model = load_run_tower(run_dir, item_ids)
    return lambda users, history: model.score(history)


def fit_scorer(choice: str, data: TrainData, seed: int = 0) -> PartScorer:
    """Fit one of the page's model choices and return its scorer.

    ``choice``: :data:`BLEND`, :data:`HYBRID_FROZEN`, ``"run:<folder>"`` or a registered model.
    Tuned models (the hybrid) tune on their own inner holdout: ``data`` should carry no
    validation split that is later reported on.
    """
    if choice == BLEND:
        fitted = {
            part: (make_model(name, seed=seed).fit(data), weight)
            for part, (name, weight) in BLEND_PARTS.items()
        }
        return blend_parts(fitted)
    if choice == HYBRID_FROZEN:
        return hybrid_parts(make_model("hybrid", seed=seed, lm="content").fit(data))
    if choice.startswith(RUN_PREFIX):
        if data.item_ids is None:
            raise ValueError("a run's language model needs the catalogue's item ids")
        lm = _Scored(run_language_model(choice[len(RUN_PREFIX) :], data.item_ids))
        ease = make_model("ease", seed=seed).fit(data)
        return blend_parts({"collaborative": (ease, 1.0), "language_model": (lm, 1.0)})
    if choice not in MODELS:
        raise ValueError(f"unknown model {choice!r}; choose {BLEND!r} or one of {list(MODELS)}")
    model = make_model(choice, seed=seed).fit(data)
    return model_parts(model, TEXT_PARTS.get(choice, "collaborative"))
