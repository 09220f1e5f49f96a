"""Where a :class:`~recsys.data.dataset.Dataset` comes from: a file pair, the sample, MovieLens."""

from __future__ import annotations

from pathlib import Path

from recsys.data.dataset import DataError, Dataset
from recsys.data.movielens import load_movielens
from recsys.data.tables import read_table
from recsys.data.validation import build_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "sample_data"


def load_table(
    interactions_path: str | Path,
    items_path: str | Path,
    mapping: dict[str, str] | None = None,
    item_column: str | None = None,
    text_columns: tuple[str, ...] | None = None,
    name: str | None = None,
    **options,
) -> Dataset:
    """Generic CSV/Parquet pair; columns found by alias unless ``mapping`` names them."""
    inter = read_table(interactions_path)
    items = read_table(items_path)
    return build_dataset(
        inter,
        items,
        name=name or Path(interactions_path).stem,
        interactions_source=Path(interactions_path).name,
        items_source=Path(items_path).name,
        mapping=mapping,
        item_mapping=item_column,
        text_columns=text_columns,
        **options,
    )


def load_sample(**options) -> Dataset:
    """The bundled synthetic shop (see ``sample_data/README.md``)."""
    return load_table(
        SAMPLE_DIR / "interactions.csv",
        SAMPLE_DIR / "items.csv",
        text_columns=("title", "category", "style", "tags", "description"),
        name="sample shop",
        **options,
    )


def load(source: str | Path, **options) -> Dataset:
    """``"sample"``, or a MovieLens folder."""
    if str(source) == "sample":
        return load_sample(**options)
    if Path(source).is_dir():
        return load_movielens(source, **options)
    raise DataError(
        f"{source}: expected 'sample' or a MovieLens folder (for a CSV/Parquet pair use load_table)"
    )
