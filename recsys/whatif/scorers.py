"""Models as *score parts*: what a candidate list keeps so an explanation can split a score.

A :data:`PartScorer` maps ``(users, history)`` to named (B, I) score arrays whose sum is the
model's score. Part names are shared with the explanations: ``collaborative``, ``language_model``
(MiniLM or a fine-tuned run), ``content`` (TF-IDF) and, for the hybrid, ``band_offset``.

* :func:`model_parts` — any :class:`~recsys.models.base.Recommender` as one part.
* :func:`blend_parts` — several models, each scaled by the user's best score, then weighted.
* :func:`hybrid_parts` — :class:`recsys.models.hybrid.Hybrid` split exactly into its terms.
* :func:`run_language_model` — the fine-tuned language model of a run folder, without retraining.
* :func:`fit_scorer` — the page's model choices, fitted and turned into a scorer.

Choices beyond the registered models: :data:`BLEND`, :data:`HYBRID_FROZEN` and
``"hybrid_run:<folder>"`` (:data:`HYBRID_RUN_PREFIX`), the tuned per-band hybrid over a finished
run's text tower (:class:`recsys.models.lm.RunTower`), fitted and tuned as
``python -m recsys evaluate --model hybrid`` does, without training the language model again.
The hybrids' bands follow the head rule they are given (the Data page's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys.data import popularity
from recsys.models import MODELS, TrainData, make_model
from recsys.models.base import Recommender, exclude

PartScorer = Callable[[np.ndarray, sp.csr_matrix], dict[str, np.ndarray]]  # users, history -> parts
Scores = Callable[[np.ndarray, sp.csr_matrix], np.ndarray]  # users, history -> (B, I)

BLEND = "blend"  # EASE + TF-IDF: a collaborative and a text part, so cold items can enter
HYBRID_FROZEN = "hybrid_frozen"  # the Hybrid over EASE and the frozen MiniLM (no fine-tuning)
HYBRID_RUN_PREFIX = "hybrid_run:"  # "hybrid_run:<folder>": the Hybrid over a finished run's tower
BLEND_PARTS: dict[str, tuple[str, float]] = {
    "collaborative": ("ease", 1.0),
    "content": ("tfidf", 0.5),
}
TEXT_PARTS: dict[str, str] = {  # single-part models scored from text; others are "collaborative"
    "tfidf": "content",
    "content": "language_model",
    "lm": "language_model",
}


def model_parts(model: Recommender, part: str = "collaborative") -> PartScorer:
    """A scorer of one part; a model with ``score_parts(users, history)`` gives its own parts."""
    own = getattr(model, "score_parts", None)
    if callable(own):
        return own
    return lambda users, history: {part: model.score(users, history)}


def blend_parts(models: Mapping[str, tuple[Recommender, float]]) -> PartScorer:
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


def run_folder(choice: str) -> str | None:
    """The run folder of a ``"hybrid_run:<folder>"`` choice, else None."""
    return choice[len(HYBRID_RUN_PREFIX) :] if choice.startswith(HYBRID_RUN_PREFIX) else None


def scores_cold_items(choice: str) -> bool:
    """Whether a page choice can rank new items (a text part), as the ``cold`` scope needs."""
    if choice in (BLEND, HYBRID_FROZEN) or run_folder(choice) is not None:
        return True
    return bool(getattr(MODELS.get(choice), "scores_cold_items", False))


def make_hybrid(
    choice: str,
    seed: int = 0,
    head_rule: popularity.Rule = "top_share",
    head_value: float | None = None,
):
    """The unfitted :class:`~recsys.models.hybrid.Hybrid` of :data:`HYBRID_FROZEN` or a
    ``"hybrid_run:<folder>"`` choice, banded by ``head_rule`` / ``head_value``."""
    folder = run_folder(choice)
    if folder is not None:
        return make_model(
            "hybrid",
            seed=seed,
            lm="run",
            lm_params={"run_dir": folder},
            head_rule=head_rule,
            head_value=head_value,
        )
    if choice == HYBRID_FROZEN:
        return make_model(
            "hybrid", seed=seed, lm="content", head_rule=head_rule, head_value=head_value
        )
    raise ValueError(f"{choice!r} is not a hybrid choice")


def fit_scorer(
    choice: str,
    data: TrainData,
    seed: int = 0,
    head_rule: popularity.Rule = "top_share",
    head_value: float | None = None,
) -> PartScorer:
    """Fit one of the page's model choices and return its scorer.

    ``choice``: :data:`BLEND`, :data:`HYBRID_FROZEN`, ``"hybrid_run:<folder>"`` or a registered
    model. ``head_rule`` / ``head_value`` band the hybrids (``None``: the rule's default).
    Tuned models (the hybrid) tune on their own inner holdout: ``data`` should carry no
    validation split that is later reported on.
    """
    if choice == BLEND:
        fitted = {
            part: (make_model(name, seed=seed).fit(data), weight)
            for part, (name, weight) in BLEND_PARTS.items()
        }
        return blend_parts(fitted)
    if choice == HYBRID_FROZEN or run_folder(choice) is not None:
        if run_folder(choice) is not None and data.item_ids is None:
            raise ValueError("a run's language model needs the catalogue's item ids")
        return hybrid_parts(make_hybrid(choice, seed, head_rule, head_value).fit(data))
    if choice not in MODELS:
        raise ValueError(f"unknown model {choice!r}; choose {BLEND!r} or one of {list(MODELS)}")
    model = make_model(choice, seed=seed).fit(data)
    return model_parts(model, TEXT_PARTS.get(choice, "collaborative"))
