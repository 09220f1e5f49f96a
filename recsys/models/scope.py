"""Candidate scope: which items a list may hold, ``all``, ``tail`` or ``cold`` ("new items").

* ``all``: the whole catalogue (the default everywhere).
* ``tail``: every item outside the head, cold items included. The head is the Data page's rule
  (:func:`recsys.data.popularity.head_mask`: ``top_share``, ``interaction_share`` or
  ``threshold``, with the same defaults), applied to the training interaction counts.
* ``cold``: items with no training interaction at all, the items a shop has just added.

:class:`CandidateScope` holds a scope and its head rule; :meth:`CandidateScope.mask` turns it
and the training interactions into an (I,) boolean mask, which
:meth:`recsys.models.base.Recommender.recommend` applies before its top-K. A model that learns
only from interactions gives every cold item the same score, so it refuses the ``cold`` scope
(:func:`check_model`) rather than return an arbitrary order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import scipy.sparse as sp

from recsys.data import popularity

Scope = Literal["all", "tail", "cold"]
SCOPES: tuple[str, ...] = get_args(Scope)
SCOPE_HELP = {
    "all": "the whole catalogue",
    "tail": "items outside the head, cold items included",
    "cold": "new items: no training interaction",
}


class EmptyScope(ValueError):
    """The scope holds no item (e.g. ``cold`` on a catalogue where every item was interacted)."""


@dataclass(frozen=True)
class CandidateScope:
    """A candidate scope and the head/tail rule that defines ``tail``.

    ``head_value`` None is the rule's default (:data:`recsys.data.popularity.DEFAULT_VALUES`:
    top 20% of items, 80% of interactions, 10 interactions).
    """

    scope: Scope = "all"
    head_rule: popularity.Rule = "top_share"
    head_value: float | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown candidate scope {self.scope!r}; choose one of {SCOPES}")
        if self.head_rule not in popularity.RULES:
            raise ValueError(
                f"unknown head rule {self.head_rule!r}; choose one of {list(popularity.RULES)}"
            )
        value = self.head_value
        if value is None:
            return
        if not math.isfinite(value):
            raise ValueError(f"head value must be a finite number, got {value}")
        if self.head_rule != "threshold" and not 0 < value <= 1:
            raise ValueError(f"head value for {self.head_rule} is a share in (0, 1], got {value}")
        if self.head_rule == "threshold" and value < 1:
            raise ValueError(f"head value for threshold is a count >= 1, got {value}")

    @property
    def value(self) -> float:
        """The head value in force (the rule's default when none was given)."""
        if self.head_value is not None:
            return self.head_value
        return popularity.DEFAULT_VALUES[self.head_rule]

    def describe(self) -> str:
        """``"cold (new items: no training interaction)"``, for headers and messages."""
        return f"{self.scope} ({SCOPE_HELP[self.scope]})"

    def mask(self, train: sp.spmatrix | np.ndarray) -> np.ndarray:
        """(I,) bool mask of the in-scope items, from a (U, I) training matrix or (I,) counts.

        Raises:
            EmptyScope: no item is in scope.
        """
        return candidate_mask(self.scope, train, self.head_rule, self.head_value)


def item_counts(train: sp.spmatrix | np.ndarray) -> np.ndarray:
    """(I,) int64 training interactions per item, from a (U, I) matrix or counts as they are."""
    if sp.issparse(train):
        return np.asarray((train != 0).sum(axis=0)).ravel().astype(np.int64)
    counts = np.asarray(train)
    if counts.ndim == 2:
        return np.count_nonzero(counts, axis=0).astype(np.int64)
    return counts.astype(np.int64)


def candidate_mask(
    scope: Scope,
    train: sp.spmatrix | np.ndarray,
    head_rule: popularity.Rule = "top_share",
    head_value: float | None = None,
) -> np.ndarray:
    """(I,) bool mask of the items in ``scope`` given the training interactions.

    Args:
        scope: ``all``, ``tail`` (not head under ``head_rule``; cold included) or ``cold``
            (no training interaction).
        train: a (U, I) matrix of training interactions, or (I,) counts per item.
        head_rule, head_value: the Data page's head/tail rule (:func:`popularity.head_mask`).

    Raises:
        EmptyScope: no item is in scope, with the reason on one line.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown candidate scope {scope!r}; choose one of {SCOPES}")
    counts = item_counts(train)
    if scope == "all":
        mask = np.ones(len(counts), dtype=bool)
    elif scope == "tail":
        mask = ~popularity.head_mask(counts, head_rule, head_value)
    else:
        mask = counts == 0
    if not mask.any():
        raise EmptyScope(_empty_reason(scope, len(counts), head_rule))
    return mask


def _empty_reason(scope: str, n_items: int, head_rule: str) -> str:
    if scope == "cold":
        return (
            f"candidate scope 'cold' is empty: every one of the {n_items} items has a training "
            f"interaction, so there is no new item to recommend; use --candidates tail or all"
        )
    if scope == "tail":
        return (
            f"candidate scope 'tail' is empty: the head rule {head_rule!r} puts all {n_items} "
            f"items in the head; raise --head-value or pick another --head-rule"
        )
    return "the catalogue has no item"


def models_for_cold() -> list[str]:
    """Registered model names that can rank items with no interaction (text-based ones)."""
    from recsys.models import MODELS

    return [name for name, f in MODELS.items() if getattr(f, "scores_cold_items", False)]


def check_model(name: str, scope: Scope) -> None:
    """Refuse ``cold`` for a registered model that learns only from interactions.

    Raises:
        ValueError: naming the models that can rank new items.
    """
    from recsys.models import MODELS

    factory = MODELS.get(name)
    if scope == "cold" and factory is not None and not getattr(factory, "scores_cold_items", False):
        raise ValueError(cold_refusal(name))


def cold_refusal(name: str) -> str:
    return (
        f"model {name!r} learns only from interactions and gives every new item the same score, "
        f"so it cannot rank --candidates cold; use a text model: {', '.join(models_for_cold())}"
    )
