"""Searching the hybrid's blend on validation: a seeded random box, then coordinate ascent.

The tables below say what is searched and in which order; :class:`recsys.models.hybrid.Hybrid`
runs the search (its ``_tune`` and ``retune``) with a ``measure(blend) -> (recall, long_tail)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsys.models.blend import Blend, Field

Measure = Callable[[Blend], tuple[float, float]]  # blend -> (recall, long-tail figure)
Objective = Callable[[float, float], float]  # (recall, long-tail figure) -> higher is better

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
OFFSETS = tuple(float(x) for x in np.arange(-9.0, 2.01, 0.5))
SLOPES = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
LENGTH_SLOPES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
# (field, band, candidates) in search order: offsets decide slots, weights decide order.
SEARCH: tuple[tuple[Field, int, tuple[float, ...]], ...] = (
    ("weights", 0, WEIGHTS),
    ("offsets", 1, OFFSETS),
    ("weights", 1, WEIGHTS),
    ("tail_slopes", 1, SLOPES),
    ("length_slopes", 1, LENGTH_SLOPES),
    ("offsets", 2, OFFSETS),
    ("weights", 2, WEIGHTS[1:]),
    ("tail_slopes", 2, SLOPES),
    ("length_slopes", 2, LENGTH_SLOPES),
)
# The random search's box, (field, band) -> candidates to choose from / (low, high) to draw in,
# drawn in this order (choices first, then ranges).
BOX_CHOICES: dict[tuple[Field, int], tuple[float, ...]] = {
    ("weights", 0): WEIGHTS[:5],
    ("weights", 1): WEIGHTS[:5],
    ("weights", 2): WEIGHTS[1:5],
}
BOX_RANGES: dict[tuple[Field, int], tuple[float, float]] = {
    ("offsets", 1): (-4.0, 1.0),
    ("offsets", 2): (-7.0, 0.0),
    ("tail_slopes", 1): (0.0, 3.0),
    ("tail_slopes", 2): (0.0, 5.0),
    ("length_slopes", 1): (-1.0, 2.0),
    ("length_slopes", 2): (-1.0, 3.0),
}
RANDOM_TRIALS = 400


@dataclass(frozen=True)
class Trial:
    """One blend measured on validation: recall@20 and the long-tail figure the search uses."""

    blend: Blend
    recall: float
    long_tail: float


def random_blend(rng: np.random.Generator) -> Blend:
    """One blend drawn from :data:`BOX_CHOICES` and :data:`BOX_RANGES` (head offset and slopes
    stay 0)."""
    blend = Blend()
    for (field, band), choices in BOX_CHOICES.items():
        blend = blend.with_value(field, band, float(rng.choice(choices)))
    for (field, band), (low, high) in BOX_RANGES.items():
        blend = blend.with_value(field, band, float(rng.uniform(low, high)))
    return blend


def ascend(
    blend: Blend, measure: Measure, objective: Objective, trials: list[Trial], rounds: int = 2
) -> tuple[Blend, tuple[float, float]]:
    """Coordinate ascent of ``objective(recall, long_tail)`` over each band's weight and offset.

    Every candidate measured is appended to ``trials``; a candidate replaces the best so far only
    when it beats it by more than 1e-9, so ties keep the earlier blend.
    """
    best_m = measure(blend)
    best = objective(*best_m)
    for _ in range(rounds):
        for field, band, grid in SEARCH:
            for value in grid:
                trial = blend.with_value(field, band, value)
                m = measure(trial)
                trials.append(Trial(trial, *m))
                if objective(*m) > best + 1e-9:
                    best, best_m, blend = objective(*m), m, trial
    return blend, best_m
