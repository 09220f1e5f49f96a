"""Searching the hybrid's blend on validation: a seeded random box, then coordinate ascent.

The tables below say what is searched and in which order; :class:`recsys.models.hybrid.Hybrid`
runs the search (its ``_tune`` and ``retune``) with a ``measure(blend) -> (recall, long_tail)``.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
OFFSETS = tuple(float(x) for x in np.arange(-9.0, 2.01, 0.5))
# (parameter, band, candidates) in search order: offsets decide slots, weights decide order.
SLOPES = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
LENGTH_SLOPES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
SEARCH = (("w", 0, WEIGHTS), ("c", 1, OFFSETS), ("w", 1, WEIGHTS), ("d", 1, SLOPES),
          ("e", 1, LENGTH_SLOPES), ("c", 2, OFFSETS), ("w", 2, WEIGHTS[1:]), ("d", 2, SLOPES),
          ("e", 2, LENGTH_SLOPES))  # fmt: skip
# The random search's box, (parameter, band) -> candidates to choose from / (low, high) to draw in.
BOX_CHOICES = {("w", 0): WEIGHTS[:5], ("w", 1): WEIGHTS[:5], ("w", 2): WEIGHTS[1:5]}
BOX_RANGES = {("c", 1): (-4.0, 1.0), ("c", 2): (-7.0, 0.0), ("d", 1): (0.0, 3.0),
              ("d", 2): (0.0, 5.0), ("e", 1): (-1.0, 2.0), ("e", 2): (-1.0, 3.0)}  # fmt: skip
RANDOM_TRIALS = 400


def random_blend(rng: np.random.Generator) -> dict:
    """One blend drawn from :data:`BOX_CHOICES` and :data:`BOX_RANGES` (head offset and slopes
    stay 0)."""
    blend = {"w": [0.0, 0.0, 0.0], "c": [0.0] * 3, "d": [0.0] * 3, "e": [0.0] * 3}
    for (key, band), choices in BOX_CHOICES.items():
        blend[key][band] = float(rng.choice(choices))
    for (key, band), (low, high) in BOX_RANGES.items():
        blend[key][band] = float(rng.uniform(low, high))
    return blend


def blend_of(trial: dict) -> dict:
    return {k: list(trial[k]) for k in ("w", "c", "d", "e")}


def ascend(blend, measure, objective, trials, rounds: int = 2):
    """Coordinate ascent of ``objective(recall, long_tail)`` over each band's weight and offset."""
    best_m = measure(blend)
    best = objective(*best_m)
    for _ in range(rounds):
        for key, band, grid in SEARCH:
            for value in grid:
                trial = blend_of(blend)
                trial[key][band] = float(value)
                m = measure(trial)
                trials.append({**trial, "recall": m[0], "long_tail": m[1]})
                if objective(*m) > best + 1e-9:
                    best, best_m, blend = objective(*m), m, trial
    return blend, best_m
