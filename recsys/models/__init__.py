"""Every recommender by name: ``make_model("ease", lambda_=350.0)``.

To add a model, register a factory (a class or a function returning a :class:`Recommender`) in
``MODELS``; the behavioural suite in ``tests/models/test_models.py``, the evaluation protocol, the
CLI and the quality bench then pick it up by name. A model's tunable hyper-parameters are its
``param_grid`` (name -> candidate values), searched on the validation split.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from recsys.models.als import ALS
from recsys.models.base import Recommender, TrainData
from recsys.models.ease import EASE
from recsys.models.hybrid import Hybrid
from recsys.models.itemknn import ItemKNN
from recsys.models.lm import ContentRecommender, EaseContent, LMRecommender
from recsys.models.mostpop import MostPop
from recsys.models.tfidf import TfidfRecommender

ModelFactory = Callable[..., Recommender]

MODELS: dict[str, ModelFactory] = {
    "mostpop": MostPop,
    "itemknn": ItemKNN,
    "ease": EASE,
    "als": ALS,
    "tfidf": TfidfRecommender,
    # language-model recommenders (recsys/models/lm.py, recsys/models/hybrid.py)
    "content": ContentRecommender,
    "ease_content": EaseContent,
    "lm": LMRecommender,
    "hybrid": Hybrid,
}


def make_model(name: str, seed: int | None = None, **params) -> Recommender:
    """Build the model registered as ``name`` with the given hyper-parameters.

    Args:
        name: a key of ``MODELS``.
        seed: passed on only to models whose factory takes a ``seed`` (the others are
            deterministic).
        **params: constructor keyword arguments.

    Raises:
        ValueError: unknown name or hyper-parameter.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    factory = MODELS[name]
    if seed is not None and "seed" in inspect.signature(factory).parameters:
        params["seed"] = seed
    try:
        return factory(**params)
    except TypeError as exc:  # an unexpected keyword: say which model rejected it
        raise ValueError(f"model {name!r}: {exc}") from None


__all__ = ["MODELS", "ModelFactory", "Recommender", "TrainData", "make_model"]
