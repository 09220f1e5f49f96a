"""The bundled sample: per-item and per-user loops at the fixed sizes, kept byte for byte.

Its (users, items) matrices and Python loops are fine at 1,000 x 2,000 and nowhere near 1M
items; other sizes go through ``catalogue.py`` and ``behaviour.py``. Changing anything here
changes the committed ``items.csv`` and ``interactions.csv`` (``tests/test_sample_data.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sample_data.model import (
    CHINESE_SHARE,
    COLD_SHARE,
    N_ITEMS,
    N_USERS,
    NICHE_USERS,
    POP_IN_AFFINITY,
    SPAN_S,
    START_TS,
    TARGET_INTERACTIONS,
    W_CATEGORY,
    W_MATERIAL,
    W_STYLE,
    ZIPF_EXPONENT,
    Users,
)
from sample_data.vocabulary import (
    BRANDS,
    CATEGORIES,
    LEAD_TEMPLATES,
    STYLE_INDEX,
    STYLES,
    TITLE_TEMPLATES,
    USE_TEMPLATES,
    Category,
    Style,
    article,
    capitalise,
    keyword,
    place,
)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def _make_item(
    rng: np.random.Generator, cat: Category, style: Style, chinese: bool
) -> dict[str, str]:
    """Compose one product's title, description and tags from its category and style words."""
    nouns, materials = cat.nouns, cat.materials
    if chinese:  # only words with a Chinese name, so the title and description agree
        nouns = tuple(n for n in nouns if n in cat.zh)
        materials = tuple(m for m in materials if m in cat.zh) or materials
    w = {
        "n": _pick(rng, nouns),
        "m": _pick(rng, materials),
        "s": _pick(rng, style.adjectives),
        "v": _pick(rng, cat.variants),
        "o": _pick(rng, cat.origins),
        "u": _pick(rng, cat.uses),
        "b": _pick(rng, BRANDS),
    }
    w["As"], w["Am"] = article(w["s"]), article(w["m"])
    if chinese:
        title = style.zh + cat.zh.get(w["m"], "") + cat.zh[w["n"]]
    else:
        title = capitalise(_pick(rng, TITLE_TEMPLATES).format(**w))
    extras = [
        _pick(rng, style.sentences),
        _pick(rng, USE_TEMPLATES).format(**w),
        _pick(rng, cat.features),
    ]
    n_extra = rng.choice(3, p=[0.15, 0.45, 0.40])
    chosen = [extras[k] for k in sorted(rng.choice(3, size=n_extra, replace=False))]
    description = " ".join([capitalise(_pick(rng, LEAD_TEMPLATES).format(**w)), *chosen])
    text = f"{title} {description}".lower()
    candidates = [w["n"], w["m"], w["s"], style.name, keyword(w["v"]), place(w["o"])]
    found = [c.lower() for c in dict.fromkeys(candidates) if c.lower() in text]
    tags = "|".join(dict.fromkeys(found[: rng.integers(3, 6)]))
    return {"title": title, "description": description, "tags": tags, "material": w["m"]}


def make_items(rng: np.random.Generator) -> pd.DataFrame:
    """The catalogue, plus helper columns ``material`` and ``popularity`` used for sampling."""
    cat_weights = rng.dirichlet(np.full(len(CATEGORIES), 8.0))
    style_priors = [rng.dirichlet(np.full(len(c.styles), 2.0)) for c in CATEGORIES]
    cat_idx = rng.choice(len(CATEGORIES), size=N_ITEMS, p=cat_weights)
    chinese = rng.random(N_ITEMS) < CHINESE_SHARE
    rows, seen = [], set()
    for i in range(N_ITEMS):
        cat = CATEGORIES[cat_idx[i]]
        style_name = cat.styles[rng.choice(len(cat.styles), p=style_priors[cat_idx[i]])]
        style = STYLES[STYLE_INDEX[style_name]]
        for _ in range(50):  # redraw rare exact duplicates so every title is unique
            row = _make_item(rng, cat, style, bool(chinese[i]))
            if row["title"] not in seen:
                break
        seen.add(row["title"])
        price = cat.price * style.price_factor * rng.lognormal(0.0, 0.45)
        price = round(price) - 0.01 if price > 20 else round(price, 2)
        rows.append({"category": cat.name, "style": style.name, "price": max(price, 2.99), **row})
    items = pd.DataFrame(rows)
    items.insert(0, "item_id", [f"P{i + 1:05d}" for i in range(N_ITEMS)])
    # Zipf popularity over a random item order; the last COLD_SHARE of that order are new arrivals.
    rank = rng.permutation(N_ITEMS) + 1
    popularity = rank.astype(float) ** -ZIPF_EXPONENT
    popularity[rank > N_ITEMS * (1 - COLD_SHARE)] = 0.0
    items["popularity"] = popularity
    return items


def make_users(rng: np.random.Generator, materials: pd.Index) -> Users:
    """Draw 1-3 categories, 1-2 styles, 0-2 materials (from liked categories) per user."""
    n_cat, n_style = len(CATEGORIES), len(STYLES)
    likes_category = np.zeros((N_USERS, n_cat), dtype=bool)
    likes_style = np.zeros((N_USERS, n_style), dtype=bool)
    likes_material = np.zeros((N_USERS, len(materials)), dtype=bool)
    for u in range(N_USERS):
        cats = rng.choice(n_cat, size=rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]), replace=False)
        likes_category[u, cats] = True
        styles = rng.choice(n_style, size=rng.choice([1, 2], p=[0.6, 0.4]), replace=False)
        likes_style[u, styles] = True
        pool = sorted({m for c in cats for m in CATEGORIES[c].materials})
        picked = rng.choice(pool, size=rng.choice([0, 1, 2], p=[0.3, 0.4, 0.3]), replace=False)
        likes_material[u, materials.get_indexer(picked)] = True
    # Niche users (~40%) follow their taste; mainstream users mostly follow the charts.
    is_niche = rng.random(N_USERS) < NICHE_USERS
    niche = np.where(is_niche, rng.beta(8, 2, N_USERS), rng.beta(2, 6, N_USERS))
    raw = rng.lognormal(0.0, 1.0, N_USERS)
    activity = np.clip(np.round(raw * TARGET_INTERACTIONS / raw.sum()), 5, 600).astype(int)
    bias = rng.normal(0.0, 0.35, N_USERS)
    return Users(likes_category, likes_style, likes_material, niche, activity, bias)


def _affinity(items: pd.DataFrame, users: Users, materials: pd.Index) -> tuple[np.ndarray, ...]:
    """Per (user, item) matches: category, style and material, each (U, I) float."""
    cat_of = items["category"].map({c.name: k for k, c in enumerate(CATEGORIES)}).to_numpy()
    style_of = items["style"].map(STYLE_INDEX).to_numpy()
    material_of = materials.get_indexer(items["material"])
    return (
        users.likes_category[:, cat_of].astype(float),
        users.likes_style[:, style_of].astype(float),
        users.likes_material[:, material_of].astype(float),
    )


def make_interactions(
    rng: np.random.Generator, items: pd.DataFrame, users: Users, materials: pd.Index
) -> pd.DataFrame:
    """Sample each user's items without replacement from a popularity/affinity mixture."""
    cat_m, style_m, mat_m = _affinity(items, users, materials)  # (U, I) each
    pop = items["popularity"].to_numpy()
    alive = pop > 0
    with np.errstate(divide="ignore"):
        logit = W_CATEGORY * cat_m + W_STYLE * style_m + W_MATERIAL * mat_m  # (U, I)
        logit = logit + POP_IN_AFFINITY * np.log(pop)
    affinity = np.exp(logit - logit.max(axis=1, keepdims=True)) * alive
    affinity /= affinity.sum(axis=1, keepdims=True)
    chart = pop / pop.sum()
    prob = (1 - users.niche[:, None]) * chart + users.niche[:, None] * affinity  # (U, I)
    # Gumbel top-k: the k largest log(p) + Gumbel keys are a draw of k items without replacement.
    with np.errstate(divide="ignore"):
        keys = np.log(prob) + rng.gumbel(size=prob.shape)
    order = np.argsort(-keys, axis=1, kind="stable")
    user_idx = np.repeat(np.arange(N_USERS), users.activity)
    # Keys rank items by taste; shuffle each user's draw so their history is not sorted by it.
    item_idx = np.concatenate([rng.permutation(order[u, :k]) for u, k in enumerate(users.activity)])
    # Ratings: a taste match lifts the score; item quality, user bias and noise spread it out.
    match = 1.0 * cat_m + 0.5 * style_m + 0.4 * mat_m  # (U, I)
    quality = rng.normal(0.0, 0.4, N_ITEMS)
    noise = rng.normal(0.0, 0.8, len(user_idx))
    score = 3.2 + match[user_idx, item_idx] + quality[item_idx] + users.bias[user_idx] + noise
    rating = np.clip(np.round(score), 1, 5).astype(int)
    timestamp = _timestamps(rng, users.activity)
    frame = pd.DataFrame(
        {
            "user_id": [f"U{u + 1:04d}" for u in user_idx],
            "item_id": items["item_id"].to_numpy()[item_idx],
            "rating": rating,
            "timestamp": timestamp,
        }
    )
    return frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


def _timestamps(rng: np.random.Generator, activity: np.ndarray) -> np.ndarray:
    """Strictly increasing times per user between a random join date and the end of the year."""
    out = []
    for n in activity:
        join = START_TS + rng.integers(0, SPAN_S - 30 * 86_400)
        times = np.sort(rng.integers(join, START_TS + SPAN_S - n, size=n))
        out.append(times + np.arange(n))  # + rank breaks ties without reordering
    return np.concatenate(out)
