"""Reading CSV, TSV and Parquet files, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.data.dataset import DataError


def read_table(
    path: str | Path,
    sep: str | None = None,
    encoding: str = "utf-8",
    header: int | None = 0,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Read CSV/TSV/Parquet with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types; all mean "not a parquet file"
            raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    else:
        df = _read_csv(path, sep, encoding, header, names)
    if df.empty:
        raise DataError(f"{path.name}: no data rows (only a header, or nothing at all)")
    return df


def _read_csv(path, sep, encoding, header, names) -> pd.DataFrame:
    kwargs = dict(
        sep=sep,
        header=header,
        names=names,
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )
    if sep is None:
        kwargs["sep"] = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    if isinstance(kwargs["sep"], str) and len(kwargs["sep"]) > 1:
        kwargs["engine"] = "python"
    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name}: not valid {encoding} text (byte {exc.object[exc.start]:#x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: could not parse as a table ({exc})") from exc
