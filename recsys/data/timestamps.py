"""A timestamp column to int64 Unix seconds, with one explicit reading per column.

- Numbers are Unix seconds. They must be finite and lie in the years 1677-2262 (the range of
  ``datetime64[ns]``, which the pages use to show dates); milliseconds are refused, not guessed.
- Dates are read as ISO 8601 first (``2024-01-31``, ``2024-01-31T12:00:00Z``, ``2024/01/31``).
- Numeric day/month dates (``31/01/2024``, ``01.02.2024``, ``1-2-24``) get ONE convention for the
  whole column: day/month/year or month/day/year, whichever reads every such value. A column that
  needs both (``31/01/2024`` and ``01/31/2024``), or that either reads with different results
  (only ``01/02/2024``-like values), is refused rather than guessed: dateutil's fallback reads
  ``01/02/2024`` as 2 January and ``31/01/2024`` as 31 January in the same column.
- Other values must name their month (``5 January 2024``, ``Tue, 02 Jan 2024 10:00:00 GMT``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recsys.data.dataset import DataError, blank, quote

MIN_SECONDS = -9_223_372_036  # 1677-09-21, the first second datetime64[ns] can hold
MAX_SECONDS = 9_223_372_036  # 2262-04-11, the last
DAY_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?:[ T]+(\S.*))?$")
HAS_MONTH_NAME = re.compile(r"[A-Za-z]{3,}")
EXPECTED = "Unix seconds or dates like 2024-01-31 12:00"
ADVICE = "write ISO dates (2024-01-31) or Unix seconds"


def to_seconds(raw: pd.Series, where: str) -> tuple[pd.Series, str | None]:
    """``raw`` as int64 Unix seconds, and a note when a day/month convention was chosen.

    Args:
        raw: the column as read (strings, numbers or datetimes), index = row positions.
        where: names the file and column in messages, e.g. ``"events.csv: column 'date'"``.

    Raises:
        DataError: empty, non-finite, out-of-range, unparseable or ambiguous values.
    """
    empty = blank(raw)
    if empty.any():
        raise DataError(
            f"{where} has {int(empty.sum())} empty value(s), first at {_rows(raw, empty)}"
        )
    if pd.api.types.is_datetime64_any_dtype(raw):  # Parquet timestamps: already dates
        return _date_seconds(_as_utc(raw), raw, where), None
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        return _numeric_seconds(numeric, raw, where), None
    parsed, note = _parse_dates(raw.astype(str).str.strip(), where)
    return _date_seconds(parsed, raw, where), note


def _numeric_seconds(numeric: pd.Series, raw: pd.Series, where: str) -> pd.Series:
    values = numeric.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{where} must hold finite Unix seconds; {int(bad.sum())} non-finite value(s), "
            f"first at {_rows(raw, bad)}"
        )
    out = (values < MIN_SECONDS) | (values > MAX_SECONDS)
    if out.any():
        hint = (
            "; they look like milliseconds: divide by 1000"
            if values[out].abs().max() > 1e11
            else ""
        )
        raise DataError(
            f"{where} must hold Unix seconds within the years 1677-2262 (|t| <= {MAX_SECONDS:,})"
            f"; {int(out.sum())} value(s) outside, first at {_rows(raw, out)}{hint}"
        )
    return np.floor(values).astype(np.int64)


def _date_seconds(parsed: pd.Series, raw: pd.Series, where: str) -> pd.Series:
    naive = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = pd.Series(naive.to_numpy().astype("datetime64[s]").astype(np.int64), index=raw.index)
    out = (seconds < MIN_SECONDS) | (seconds > MAX_SECONDS)
    if out.any():
        raise DataError(
            f"{where} must hold dates within the years 1677-2262; {int(out.sum())} value(s) "
            f"outside, first at {_rows(raw, out)}"
        )
    return seconds


def _as_utc(values: pd.Series) -> pd.Series:
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values


def _parse_dates(text: pd.Series, where: str) -> tuple[pd.Series, str | None]:
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    note = None
    rest = parsed.isna()
    parts = text[rest].str.extract(DAY_MONTH)
    numeric_dates = parts[0].notna()
    if numeric_dates.any():
        chosen, note = _day_month(text[rest][numeric_dates], parts[numeric_dates], where)
        parsed[chosen.index] = chosen
    named = rest & parsed.isna() & text.str.contains(HAS_MONTH_NAME)
    if named.any():
        parsed[named] = pd.to_datetime(text[named], format="mixed", utc=True, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        raise DataError(
            f"{where} must hold {EXPECTED}; {int(bad.sum())} unparseable value(s), first at "
            f"{_rows(text, bad)}"
        )
    return parsed, note


def _day_month(text: pd.Series, parts: pd.DataFrame, where: str) -> tuple[pd.Series, str | None]:
    """The one convention that reads every ``a/b/year`` value, or DataError."""
    year = parts[2].where(parts[2].str.len() == 4, _century(parts[2]))
    time = (" " + parts[3]).where(parts[3].notna(), "")
    a, b = parts[0].str.zfill(2), parts[1].str.zfill(2)
    day_first = pd.to_datetime(year + "-" + b + "-" + a + time, format="ISO8601", utc=True,
                               errors="coerce")  # fmt: skip
    month_first = pd.to_datetime(year + "-" + a + "-" + b + time, format="ISO8601", utc=True,
                                 errors="coerce")  # fmt: skip
    dmy, mdy = day_first.notna(), month_first.notna()
    if dmy.all() and mdy.all():
        if (a == b).all():
            return day_first, None
        sample = quote(text[a != b].iloc[0])
        raise DataError(
            f"{where}: dates like {sample} read either as day/month/year or as month/day/year "
            f"and no value settles which; {ADVICE}"
        )
    if dmy.all():
        return (
            day_first,
            f"{where}: read dates such as {quote(text.iloc[0])} as day/month/year",
        )
    if mdy.all():
        return month_first, (f"{where}: read dates such as {quote(text.iloc[0])} as month/day/year")
    only_d, only_m = dmy & ~mdy, mdy & ~dmy
    if only_d.any() and only_m.any():
        raise DataError(
            f"{where} mixes day/month/year ({_rows(text, only_d, 1)}) and month/day/year "
            f"({_rows(text, only_m, 1)}) dates; {ADVICE}"
        )
    fits = day_first if dmy.sum() >= mdy.sum() else month_first
    return fits, None  # the values neither reads stay NaT and are reported as unparseable


def _century(two_digits: pd.Series) -> pd.Series:
    # strptime's %y rule: 69-99 -> 1900s, 00-68 -> 2000s.
    number = pd.to_numeric(two_digits, errors="coerce").fillna(0).astype(int)
    return (number + np.where(number >= 69, 1900, 2000)).astype(str)


def _rows(values: pd.Series, mask: pd.Series, limit: int = 3) -> str:
    shown = values[mask].iloc[:limit]
    return ", ".join(f"row {r + 2}: {quote(v)}" for r, v in shown.items())  # header, 1-based
