"""Reading CSV, TSV and Parquet files, with errors that name the file.

Size caps are checked before a table is read, so a small file cannot expand into gigabytes of
memory (a 557 KB Parquet file of one repeated string decompresses to 5.4 GB):

- :data:`MAX_ROWS` rows (Parquet: from the file's metadata; CSV: reading stops one row past it);
- :data:`MAX_BYTES` bytes (Parquet: the uncompressed column data recorded in the metadata, then
  the decoded size projected from the first batches read; CSV: the file size).

Both are read from the environment at import (``RECSYS_MAX_ROWS``, ``RECSYS_MAX_BYTES``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from recsys.data.dataset import DataError, quote, shorten

MAX_ROWS = int(os.environ.get("RECSYS_MAX_ROWS", 20_000_000))
MAX_BYTES = int(os.environ.get("RECSYS_MAX_BYTES", 1 << 30))  # 1 GiB of table data
PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = (",", ";", "\t", "|")  # tried in this order when a .csv file's header has no comma


def read_table(
    path: str | Path,
    sep: str | None = None,
    encoding: str = "utf-8",
    header: int | None = 0,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Read CSV/TSV/Parquet with errors that name the file (raises :class:`DataError`).

    Refuses files past the size caps (module docstring), folders, repeated column names and
    column names holding control characters. A UTF-8 byte-order mark is ignored; a ``.csv`` file
    whose header has no comma but semicolons, tabs or pipes is read with that separator.
    """
    path = _check_file(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        df = _read_parquet(path)
    else:
        _check_cap(path, "bytes", path.stat().st_size, MAX_BYTES, "RECSYS_MAX_BYTES")
        df = _read_csv(path, sep, encoding, header, names, nrows=MAX_ROWS + 1)
        more = f"more than {MAX_ROWS:,}"  # reading stopped one row past the cap
        _check_cap(path, "rows", len(df), MAX_ROWS, "RECSYS_MAX_ROWS", more)
    if df.empty:
        raise DataError(f"{path.name}: no data rows (only a header, or nothing at all)")
    _check_names(path, list(df.columns))
    return df


def read_columns(path: str | Path, sep: str | None = None, encoding: str = "utf-8") -> list[str]:
    """The column names of a table without reading its rows (Parquet schema, CSV header)."""
    path = _check_file(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises many types; all mean "not a parquet file"
            raise DataError(f"{path.name}: not a readable Parquet file ({shorten(exc)})") from exc
        names = [n for n in schema.names if not n.startswith("__index_level_")]
    else:
        names = list(_read_csv(path, sep, encoding, 0, None, nrows=0).columns)
    _check_names(path, names)
    return names


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{shorten(path)}: file not found")
    if path.is_dir():
        raise DataError(f"{shorten(path)}: is a folder; expected a CSV, TSV or Parquet file")
    if not path.is_file():
        raise DataError(f"{shorten(path)}: not a regular file; expected a CSV, TSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name}: the file is empty")
    return path


def _check_cap(path: Path, what: str, value: int, cap: int, env: str, figure: str = "") -> None:
    """Refuse ``value`` above ``cap``; ``figure`` replaces the number shown (e.g. "more than")."""
    if value > cap:
        raise DataError(
            f"{path.name}: {figure or f'{value:,}'} {what} (the cap is {cap:,}; set {env} to "
            f"raise it)"
        )


def _check_names(path: Path, names: list) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        text = str(name)
        if any(ord(ch) < 32 and ch != "\t" for ch in text):
            raise DataError(
                f"{path.name}: column {position + 1} has a control character in its name "
                f"({quote(text)}); column names must be plain text"
            )
        key = text.strip()
        if key in seen:
            raise DataError(
                f"{path.name}: column name {quote(key)} appears twice (columns "
                f"{seen[key] + 1} and {position + 1}); column names must be unique"
            )
        seen[key] = position


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        meta = file.metadata
    except Exception as exc:  # pyarrow raises many types; all mean "not a parquet file"
        raise DataError(f"{path.name}: not a readable Parquet file ({shorten(exc)})") from exc
    _check_cap(path, "rows", meta.num_rows, MAX_ROWS, "RECSYS_MAX_ROWS")
    stored = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )
    _check_cap(path, "bytes of column data", stored, MAX_BYTES, "RECSYS_MAX_BYTES")
    # Dictionary pages keep the stored size small for repeated values: project the decoded size
    # from the batches read so far and stop as soon as it passes the cap, long before the table
    # is in memory (the first 65,536 rows of the 8 M-row file are enough).
    batches, decoded, rows = [], 0, 0
    try:
        for batch in file.iter_batches(batch_size=65_536):
            decoded, rows = decoded + batch.nbytes, rows + batch.num_rows
            projected = decoded * meta.num_rows // max(rows, 1)
            about = f"about {projected:,}"
            _check_cap(path, "bytes once decoded", projected, MAX_BYTES, "RECSYS_MAX_BYTES", about)
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=file.schema_arrow)
        return table.to_pandas()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path.name}: not a readable Parquet file ({shorten(exc)})") from exc


def _read_csv(path, sep, encoding, header, names, nrows: int | None) -> pd.DataFrame:
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        encoding = "utf-8-sig"  # a byte-order mark (Excel's "CSV UTF-8") is not part of a name
    kwargs = dict(
        sep=sep or _guess_sep(path, encoding),
        header=header,
        names=names,
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        nrows=nrows,
    )
    if isinstance(kwargs["sep"], str) and len(kwargs["sep"]) > 1:
        kwargs["engine"] = "python"
    try:
        frame = pd.read_csv(path, **kwargs)
        if header is not None:  # pandas renames a repeated name to "name.1": check the raw header
            raw = pd.read_csv(path, **{**kwargs, "header": None, "names": None, "nrows": 1})
            _check_names(path, [n for n in raw.iloc[0].tolist() if isinstance(n, str)])
        return frame
    except UnicodeDecodeError as exc:
        shown = "utf-8" if encoding == "utf-8-sig" else encoding
        raise DataError(
            f"{path.name}: not valid {shown} text (byte {exc.object[exc.start]:#x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name}: the file is empty") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path.name}: could not parse as a table ({shorten(exc)})") from exc
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc


def _guess_sep(path: Path, encoding: str) -> str:
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as f:
            first = f.readline(1 << 16)
    except OSError:
        return ","
    counts = {s: first.count(s) for s in SEPARATORS}
    if counts[","]:
        return ","
    best = max(SEPARATORS[1:], key=lambda s: counts[s])
    return best if counts[best] else ","
