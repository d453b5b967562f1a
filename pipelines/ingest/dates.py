"""Parse the date-times real exports write, into naive Asia/Shanghai local time.

Handled: "2020/1/6 12:09:38", "2024-03-05 14:20", "2024年3月5日14时20分(30秒)", "2024.3.5",
"20240305 142000", ISO 8601 with an offset (converted to Asia/Shanghai), Excel serial numbers
(45356.6), date-only values, and native datetimes from Excel or Parquet. Chinese exports always
write year first, so no day-first guessing is done.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np
import pandas as pd

TIMEZONE = "Asia/Shanghai"

_YMD = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?"
    r"(?:\s*[T\s]?\s*(?:上午|下午|晚上|凌晨|中午)?\s*(?P<H>\d{1,2})\s*[:：时点]\s*(?P<M>\d{1,2})?\s*[:：分]?\s*(?P<S>\d{1,2}(?:\.\d+)?)?\s*秒?)?\s*$"
)
_COMPACT = re.compile(
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:[\sT]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
)
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_PM = re.compile(r"下午|晚上")
# Excel's serial day 1 is 1900-01-01, with its fictitious 1900-02-29; the usual origin absorbs both.
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_EXCEL_RANGE = (20000, 80000)  # 1954 .. 2119: anything else is not a plausible serial date


def parse_datetime(value: object) -> pd.Timestamp | None:
    """Return one value as a naive local Timestamp, or None when it cannot be read as a date-time."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return ts.tz_convert(TIMEZONE).tz_localize(None) if ts.tzinfo else ts
    if isinstance(value, dt.date):
        return pd.Timestamp(value)
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return _from_excel_serial(float(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    try:
        return _from_excel_serial(float(text))
    except ValueError:
        pass
    if _OFFSET.search(text) and ("T" in text or " " in text):
        try:
            return pd.Timestamp(text).tz_convert(TIMEZONE).tz_localize(None)
        except (ValueError, TypeError):
            return None
    match = _YMD.match(text) or _COMPACT.match(text)
    if not match:
        return None
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    hour = int(parts.get("H", 0))
    if _PM.search(text) and hour < 12:
        hour += 12
    try:
        return pd.Timestamp(
            year=int(parts["y"]),
            month=int(parts["m"]),
            day=int(parts["d"]),
            hour=hour,
            minute=int(parts.get("M", 0)),
            second=int(float(parts.get("S", 0))),
        )
    except ValueError:
        return None  # 2025-02-30, 25:61 and the like


def _from_excel_serial(number: float) -> pd.Timestamp | None:
    if not np.isfinite(number):
        return None
    if 19000101 <= number <= 21001231 and float(number).is_integer():
        # A date written as a number, 20240305.
        match = _COMPACT.match(str(int(number)))
        try:
            return pd.Timestamp(year=int(match["y"]), month=int(match["m"]), day=int(match["d"]))
        except ValueError:
            return None
    if not (_EXCEL_RANGE[0] <= number <= _EXCEL_RANGE[1]):
        return None
    return (_EXCEL_EPOCH + pd.Timedelta(days=number)).round("s")


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Return values parsed as naive local datetimes (NaT where unreadable).

    The common case, one ISO-like format for the whole column, takes the vectorised path; the rest
    falls back to parse_datetime value by value.
    """
    as_text = values.astype("string")
    fast = pd.to_datetime(as_text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    todo = fast.isna() & values.notna()
    if todo.any():
        fast = fast.astype("datetime64[ns]")
        fast[todo] = pd.to_datetime([parse_datetime(v) for v in values[todo]], errors="coerce")
    return fast.astype("datetime64[ns]")
