"""A catalogue of any size, built column by column from the vocabulary (no loop per item).

Same model as the bundled ``make_items``: a category from Dirichlet(8) shares, a style from the
category's Dirichlet(2) prior, words picked uniformly from the category's and style's lists, one
of 9 title and 4 lead templates, 0-2 extra sentences, tags from the words the text shows, a
lognormal price, Zipf popularity over a random order with the last 3% new arrivals. Titles carry
a model number ("(No. 4821)") so that a million of them stay distinct.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from sample_data.model import CHINESE_SHARE, ZIPF_EXPONENT_AT_SCALE, ids, n_alive
from sample_data.vocabulary import (
    BRANDS,
    CATEGORIES,
    LEAD_TEMPLATES,
    STYLE_INDEX,
    STYLES,
    TITLE_TEMPLATES,
    USE_TEMPLATES,
    Category,
    article,
    capitalise,
    keyword,
    place,
)


class _Words:
    """One vocabulary field flattened over its groups (categories or styles).

    Group ``g`` owns ``words[start[g]:start[g] + size[g]]``, so one pick per row is one vector op.
    """

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        self.words = np.array([w for g in groups for w in g], dtype=object)
        self.size = np.array([len(g) for g in groups])
        self.start = np.cumsum(self.size) - self.size

    def pick(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        """A uniformly chosen word from each row's group, (rows,) object."""
        return self.words[self.start[group] + rng.integers(0, self.size[group])]


def _zh_only(words: tuple[str, ...], cat: Category) -> tuple[str, ...]:
    return tuple(w for w in words if w in cat.zh)


_NOUNS = _Words([c.nouns for c in CATEGORIES])
_ZH_NOUNS = _Words([_zh_only(c.nouns, c) for c in CATEGORIES])
_MATERIALS = _Words([c.materials for c in CATEGORIES])
_ZH_MATERIALS = _Words([_zh_only(c.materials, c) or c.materials for c in CATEGORIES])
_VARIANTS = _Words([c.variants for c in CATEGORIES])
_ORIGINS = _Words([c.origins for c in CATEGORIES])
_USES = _Words([c.uses for c in CATEGORIES])
_FEATURES = _Words([c.features for c in CATEGORIES])
_ADJECTIVES = _Words([s.adjectives for s in STYLES])
_STYLE_SENTENCES = _Words([s.sentences for s in STYLES])
_BRANDS = _Words([BRANDS])
# Style words and sentences that spell out their style's name ("eco" in "eco-friendly").
_NAMES_STYLE = {x: s.name in x.lower() for s in STYLES for x in (*s.adjectives, *s.sentences)}


def _per_word(func, values: np.ndarray) -> np.ndarray:
    """``func`` applied once per distinct string of a column, then spread back over its rows."""
    codes, uniques = pd.factorize(values)
    return np.array([func(u) for u in uniques], dtype=object)[codes]


def _fill(templates: tuple[str, ...], choice: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Row i is ``templates[choice[i]]`` filled from row i of the word columns, capitalised."""
    out = np.empty(len(choice), dtype=object)
    for k, template in enumerate(templates):
        rows = np.flatnonzero(choice == k)
        text = np.full(len(rows), "", dtype=object)
        for pos, (literal, name, _, _) in enumerate(string.Formatter().parse(template)):
            text = text + literal
            if name:
                words = w[name][rows]
                opens = pos == 0 and not literal  # the template starts with this word
                text = text + (_per_word(capitalise, words) if opens else words)
        out[rows] = text
    return out


def _shown(templates: tuple[str, ...], choice: np.ndarray, field: str) -> np.ndarray:
    """Whether each row's template shows ``{field}``, (rows,) bool."""
    return np.array([f"{{{field}}}" in t for t in templates])[choice]


def _styles(rng: np.random.Generator, cat: np.ndarray) -> np.ndarray:
    """A style per item, from its category's own Dirichlet(2) prior over the styles it comes in."""
    width = max(len(c.styles) for c in CATEGORIES)
    cdf = np.ones((len(CATEGORIES), width))
    code = np.zeros((len(CATEGORIES), width), dtype=np.int64)
    for k, c in enumerate(CATEGORIES):
        cdf[k, : len(c.styles)] = np.cumsum(rng.dirichlet(np.full(len(c.styles), 2.0)))
        cdf[k, len(c.styles) - 1 :] = 1.0
        code[k, : len(c.styles)] = [STYLE_INDEX[s] for s in c.styles]
    local = (rng.random(len(cat))[:, None] >= cdf[cat]).sum(axis=1)  # (I,)
    return code[cat, local]


def _tags(rng: np.random.Generator, w: dict[str, np.ndarray], shown: dict[str, np.ndarray]):
    """3-5 keywords per item (2 where words repeat), each one its text shows, joined by ``|``."""
    fields = ("n", "m", "s", "name", "v", "o")
    cands = [_per_word(str.lower, w[f]) for f in fields]
    cands[4], cands[5] = _per_word(keyword, cands[4]), _per_word(place, cands[5])
    present = np.stack([np.broadcast_to(shown[f], len(cands[0])) for f in fields], axis=1)
    for j in range(1, len(fields)):  # a word already tagged is not tagged twice
        for i in range(j):
            present[:, j] &= ~(present[:, i] & (cands[j] == cands[i]))
    wanted = rng.integers(3, 6, len(present))[:, None]
    keep = present & (np.cumsum(present, axis=1) <= wanted)  # (I, 6)
    tags = cands[0]  # the noun: always shown, always first
    for j in range(1, len(fields)):
        tags = np.where(keep[:, j], tags + "|" + cands[j], tags)
    return tags


def _numbered(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Titles with a model number; a repeated title gets a new one from a wider range."""

    def number(n: int, high: int) -> np.ndarray:
        return " (No. " + rng.integers(100, high, n).astype(str).astype(object) + ")"

    title = base + number(len(base), 10_000)
    for _ in range(10):
        again = pd.Series(title).duplicated().to_numpy()
        if not again.any():
            break
        title[again] = base[again] + number(int(again.sum()), 1_000_000)
    return title


def scaled_items(rng: np.random.Generator, n_items: int) -> pd.DataFrame:
    """A catalogue of any size, built column by column; helper columns as :func:`make_items`."""
    n_cat = len(CATEGORIES)
    cat = rng.choice(n_cat, size=n_items, p=rng.dirichlet(np.full(n_cat, 8.0)))
    style = _styles(rng, cat)
    zh = rng.random(n_items) < CHINESE_SHARE  # only words with a Chinese name, as make_items
    w = {
        "n": np.where(zh, _ZH_NOUNS.pick(rng, cat), _NOUNS.pick(rng, cat)),
        "m": np.where(zh, _ZH_MATERIALS.pick(rng, cat), _MATERIALS.pick(rng, cat)),
        "s": _ADJECTIVES.pick(rng, style),
        "v": _VARIANTS.pick(rng, cat),
        "o": _ORIGINS.pick(rng, cat),
        "u": _USES.pick(rng, cat),
        "b": _BRANDS.pick(rng, np.zeros(n_items, dtype=np.int64)),
        "name": np.array([s.name for s in STYLES], dtype=object)[style],
    }
    w["As"], w["Am"] = _per_word(article, w["s"]), _per_word(article, w["m"])
    title_t = rng.integers(len(TITLE_TEMPLATES), size=n_items)
    lead_t = rng.integers(len(LEAD_TEMPLATES), size=n_items)
    title = _fill(TITLE_TEMPLATES, title_t, w)
    title[zh] = [
        STYLES[s].zh + CATEGORIES[c].zh.get(m, "") + CATEGORIES[c].zh[n]
        for s, c, m, n in zip(style[zh], cat[zh], w["m"][zh], w["n"][zh], strict=True)
    ]
    # A lead sentence, then 0-2 of (style sentence, use sentence, feature), in that order.
    description = _fill(LEAD_TEMPLATES, lead_t, w)
    extras = (
        _STYLE_SENTENCES.pick(rng, style),
        _fill(USE_TEMPLATES, rng.integers(len(USE_TEMPLATES), size=n_items), w),
        _FEATURES.pick(rng, cat),
    )
    n_extra = rng.choice(3, size=n_items, p=[0.15, 0.45, 0.40])
    chosen = rng.random((n_items, 3)).argsort(axis=1).argsort(axis=1) < n_extra[:, None]
    for k, extra in enumerate(extras):
        description = np.where(chosen[:, k], description + " " + extra, description)
    # Which tag candidates the text shows, read off the templates (nouns and materials: always).
    shown = {f: (_shown(TITLE_TEMPLATES, title_t, f) & ~zh) | _shown(LEAD_TEMPLATES, lead_t, f)
             for f in ("s", "v", "o")}  # fmt: skip
    names = _per_word(_NAMES_STYLE.get, w["s"]).astype(bool)
    in_sentence = _per_word(_NAMES_STYLE.get, extras[0]).astype(bool) & chosen[:, 0]
    shown |= {"n": np.True_, "m": np.True_, "name": (shown["s"] & names) | in_sentence}
    price = (
        np.array([c.price for c in CATEGORIES])[cat]
        * np.array([s.price_factor for s in STYLES])[style]
        * rng.lognormal(0.0, 0.45, n_items)
    )
    price = np.maximum(np.where(price > 20, np.round(price) - 0.01, np.round(price, 2)), 2.99)
    # Zipf popularity over a random item order; the last COLD_SHARE of that order are new arrivals.
    rank = rng.permutation(n_items) + 1
    popularity = rank.astype(float) ** -ZIPF_EXPONENT_AT_SCALE
    popularity[rank > n_alive(n_items)] = 0.0
    columns = {
        "item_id": ids("P", n_items, 5),
        "title": _numbered(rng, title),
        "description": description,
        "category": np.array([c.name for c in CATEGORIES], dtype=object)[cat],
        "style": w["name"],
        "tags": _tags(rng, w, shown),
        "price": price,
        "material": w["m"],
        "popularity": popularity,
    }
    return pd.DataFrame(columns)
