"""Generate a synthetic e-commerce shop: a product catalogue and a long-tail interaction log.

``python sample_data/generate.py`` (or ``--out DIR``) rewrites the bundled ``items.csv`` and
``interactions.csv``, byte-identical on every run for a given numpy version.
``--users N --items M --interactions K --out DIR`` makes a shop of any size with the same model,
vectorised so that 200,000 users x 1,000,000 items x 10,000,000 interactions fit on one box.

How the data is made:

* Items: 20 categories, each with its own vocabulary (nouns, materials, variants, origins,
  uses, features; ``vocabulary.py``). Titles and 1-3 sentence descriptions are composed from
  that vocabulary plus one of 8 cross-category styles, so the text carries the category, style
  and material.
* Popularity: a Zipf weight ``rank ** -exponent`` over a random item order; a few % of items
  are "new arrivals" with no weight at all, so they stay cold.
* Users: 1-3 preferred categories, 1-2 preferred styles and 0-2 preferred materials. Each user's
  choice distribution mixes popularity with affinity (category/style/material matches); niche
  users lean on affinity, mainstream users on popularity. Activity is lognormal.
* Ratings rise with affinity; timestamps span 2024 and increase within each user.

Files: ``model.py`` (parameters, size limits), ``bundled.py`` (the committed sample, exact),
``catalogue.py`` and ``behaviour.py`` (any size), ``summary.py`` (the printed figures); this
file writes the tables and holds the command line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv

OUT_DIR = Path(__file__).resolve().parent
if str(OUT_DIR.parent) not in sys.path:  # run as a script or loaded by path: find sample_data.*
    sys.path.insert(0, str(OUT_DIR.parent))

from sample_data import bundled  # noqa: E402
from sample_data.behaviour import scaled_interactions, scaled_users  # noqa: E402
from sample_data.catalogue import scaled_items  # noqa: E402
from sample_data.model import (  # noqa: E402
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    N_ITEMS,
    N_USERS,
    SEED,
    TARGET_INTERACTIONS,
    ids,
    size_error,
)
from sample_data.summary import summarize  # noqa: E402

Format = Literal["csv", "parquet"]
BUNDLED_SIZES = (N_USERS, N_ITEMS, TARGET_INTERACTIONS)  # these sizes make the committed files


def make_shop(
    rng: np.random.Generator, n_users: int, n_items: int, n_interactions: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items (with helper columns) and interactions at any size; ids are categorical."""
    items = scaled_items(rng, n_items)
    users = scaled_users(rng, n_users, n_interactions, items)
    log = scaled_interactions(rng, items, users)
    user_ids = pd.Categorical.from_codes(log["user"], categories=ids("U", n_users, 4))
    item_ids = pd.Categorical.from_codes(log["item"], categories=items["item_id"])
    interactions = pd.DataFrame(
        {"user_id": user_ids, "item_id": item_ids, "rating": log["rating"]}
    ).assign(timestamp=log["timestamp"])
    return items, interactions


def _log_table(interactions: pd.DataFrame) -> pa.Table:
    """The interactions as an Arrow table; categorical ids become plain strings."""
    columns = {}
    for name in INTERACTION_COLUMNS:
        column = interactions[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            names = pa.array(column.cat.categories.to_numpy(dtype=object), pa.string())
            columns[name] = names.take(pa.array(column.cat.codes.to_numpy()))
        elif column.dtype.kind in "iu":  # int64 like the bundled ratings, whatever the width
            columns[name] = pa.array(column.to_numpy().astype(np.int64))
        else:
            columns[name] = pa.array(column.to_numpy())
    return pa.table(columns)


def _write(items: pd.DataFrame, interactions: pd.DataFrame, out: Path, fmt: Format) -> None:
    """Items through pandas (it quotes only the text that needs it); the log through Arrow, whose
    CSV writer is ~10x faster and writes these id and integer columns exactly as pandas does."""
    log = _log_table(interactions)
    if fmt == "parquet":
        items[ITEM_COLUMNS].to_parquet(out / "items.parquet", index=False)
        pq.write_table(log, out / "interactions.parquet")
        return
    options = {"index": False, "lineterminator": "\n", "encoding": "utf-8"}
    items[ITEM_COLUMNS].to_csv(out / "items.csv", float_format="%.2f", **options)
    with open(out / "interactions.csv", "wb") as f:
        f.write((",".join(INTERACTION_COLUMNS) + "\n").encode())
        csv.write_csv(log, f, csv.WriteOptions(include_header=False, quoting_style="none"))


def main(
    out_dir: Path | str = OUT_DIR,
    seed: int = SEED,
    n_users: int = N_USERS,
    n_items: int = N_ITEMS,
    n_interactions: int = TARGET_INTERACTIONS,
    fmt: Format = "csv",
) -> dict[str, float]:
    """Write the items and interactions files into ``out_dir``; return :func:`summarize`.

    The bundled sizes reproduce the bundled files; any other size uses the vectorised generator.
    """
    if error := size_error(n_users, n_items, n_interactions):
        raise ValueError(error)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if (n_users, n_items, n_interactions) == BUNDLED_SIZES:
        items = bundled.make_items(rng)
        materials = pd.Index(sorted(items["material"].unique()))
        users = bundled.make_users(rng, materials)
        interactions = bundled.make_interactions(rng, items, users, materials)
    else:
        items, interactions = make_shop(rng, n_users, n_items, n_interactions)
    _write(items, interactions, out, fmt)
    return {**summarize(items, interactions), "requested_interactions": n_interactions}


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _count(text: str) -> int:
    """A whole number for a size flag; ``10_000_000`` is accepted."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def cli(argv: list[str] | None = None) -> None:
    """``python sample_data/generate.py [--users N --items M --interactions K --out DIR]``."""
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    sizes = (("--users", N_USERS), ("--items", N_ITEMS), ("--interactions", TARGET_INTERACTIONS))
    for flag, default in sizes:
        parser.add_argument(flag, type=_count, default=default, help=f"default {default:,}")
    parser.add_argument(
        "--format", choices=["csv", "parquet"], default="csv",
        help="file format (parquet recommended above ~1M rows)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if error := size_error(args.users, args.items, args.interactions):
        parser.error(error)
    sizes = (args.users, args.items, args.interactions)
    if args.out.resolve() == OUT_DIR and (sizes != BUNDLED_SIZES or args.format != "csv"):
        parser.error("argument --out: other sizes and formats go outside sample_data/")
    started = time.perf_counter()
    summary = main(args.out, args.seed, args.users, args.items, args.interactions, args.format)
    for key, value in summary.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    made, asked = summary["interactions"], summary["requested_interactions"]
    print(f"interactions vs requested: {made / asked - 1:+.2%}")
    print(f"seconds: {time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    cli()
