"""China's official calendar (holidays, make-up workdays, 春节) as day-level features."""

from __future__ import annotations

import datetime as dt
import functools
import warnings

import chinese_calendar
import numpy as np
import pandas as pd

SPRING_FESTIVAL = chinese_calendar.Holiday.spring_festival.value


def _supported_years() -> tuple[int, int]:
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]


def holiday_table(start: dt.date, end: dt.date) -> pd.DataFrame:
    """Return one row per day in [start, end] with workday, holiday and 春节 distances.

    Days outside the years that chinese_calendar knows get weekend-based workdays and
    NaN holiday distances, rather than an error: a model can score them, with less to go on.
    """
    first_year, last_year = _supported_years()
    days = pd.date_range(start, end, freq="D")
    # Look a year beyond both ends so that "next"/"last" holiday distances are defined at the edges.
    span = pd.date_range(
        max(dt.date(first_year, 1, 1), dt.date(start.year - 1, 1, 1)),
        min(dt.date(last_year, 12, 31), dt.date(end.year + 1, 12, 31)),
        freq="D",
    )
    known = _official_days(span[0].date(), span[-1].date()) if len(span) else {}
    # A named day that is not off is a make-up workday (调休), not part of the holiday.
    days_off = {d: name for d, (off, name) in known.items() if off and name is not None}
    named = np.array(list(days_off), dtype="datetime64[ns]")
    spring = np.array(
        [d for d, name in days_off.items() if name == SPRING_FESTIVAL], dtype="datetime64[ns]"
    )
    # The first day of each 春节 block: a Spring Festival day whose previous day is not one.
    spring_starts = (
        spring[np.insert(np.diff(spring) != np.timedelta64(1, "D"), 0, True)]
        if len(spring)
        else spring
    )

    in_range = (days.year >= first_year) & (days.year <= last_year)
    if not in_range.all():
        warnings.warn(
            f"chinese_calendar knows {first_year}-{last_year}; holiday features are missing "
            f"for {int((~in_range).sum())} day(s) outside it",
            stacklevel=2,
        )
    is_workday = np.array([not known[d][0] if d in known else d.weekday() < 5 for d in days])
    holiday_name = [days_off.get(d) for d in days]
    values = days.to_numpy()
    return pd.DataFrame(
        {
            "date": days,
            "is_workday": is_workday,
            "holiday": pd.array(holiday_name, dtype="string"),
            "days_to_holiday": _days_to_next(values, named, in_range),
            "days_since_holiday": _days_since_last(values, named, in_range),
            "days_to_spring_festival": _days_to_next(values, spring_starts, in_range),
        }
    )


@functools.lru_cache(maxsize=16)
def _official_days(first: dt.date, last: dt.date) -> dict[pd.Timestamp, tuple[bool, str | None]]:
    """Return (day off, holiday name) of each day in [first, last]: the calendar's answers, asked
    once per span (a scoring run asks for the same years several times). Not to be mutated."""
    return {
        d: chinese_calendar.get_holiday_detail(d.date())
        for d in pd.date_range(first, last, freq="D")
    }


def _days_to_next(days: np.ndarray, events: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(len(days), np.nan)
    if len(events) == 0:
        return out
    idx = np.searchsorted(events, days, side="left")
    ok = (idx < len(events)) & valid
    out[ok] = (events[idx[ok]] - days[ok]) / np.timedelta64(1, "D")
    return out


def _days_since_last(days: np.ndarray, events: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(len(days), np.nan)
    if len(events) == 0:
        return out
    idx = np.searchsorted(events, days, side="right") - 1
    ok = (idx >= 0) & valid
    out[ok] = (days[ok] - events[idx[ok]]) / np.timedelta64(1, "D")
    return out


def calendar_features(reported_at: pd.Series) -> pd.DataFrame:
    """Return hour, weekday and the official-calendar features of each report time."""
    times = pd.to_datetime(reported_at)
    days = times.dt.normalize()
    if days.isna().all():
        table = holiday_table(dt.date.today(), dt.date.today()).iloc[:0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warning is for people; features just carry NaN
            table = holiday_table(days.min().date(), days.max().date())
    looked_up = table.set_index("date").reindex(days)
    return pd.DataFrame(
        {
            "hour": times.dt.hour.to_numpy(float),
            "weekday": times.dt.weekday.to_numpy(float),
            "is_workday": looked_up["is_workday"].astype(float).to_numpy(),
            "is_holiday": looked_up["holiday"].notna().astype(float).to_numpy(),
            "days_to_holiday": looked_up["days_to_holiday"].to_numpy(),
            "days_since_holiday": looked_up["days_since_holiday"].to_numpy(),
            "days_to_spring_festival": looked_up["days_to_spring_festival"].to_numpy(),
        },
        index=reported_at.index,
    )
