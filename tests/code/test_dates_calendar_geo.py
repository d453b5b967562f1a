"""Date parsing, the official calendar, and coordinates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.calendar import calendar_features, holiday_table
from features.geo import gcj02_to_wgs84, in_china, wgs84_to_gcj02
from pipelines.ingest.dates import parse_datetime, parse_datetimes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020/1/6 12:09:38", "2020-01-06 12:09:38"),
        ("2024-03-05 14:20", "2024-03-05 14:20:00"),
        ("2024年3月5日14时20分", "2024-03-05 14:20:00"),
        ("2024年3月5日14时20分30秒", "2024-03-05 14:20:30"),
        ("2024年3月5日下午2点20分", "2024-03-05 14:20:00"),
        ("2024.3.5", "2024-03-05 00:00:00"),
        ("2024-03-05", "2024-03-05 00:00:00"),
        ("20240305 142000", "2024-03-05 14:20:00"),
        ("２０２４－０３－０５　１４：２０", "2024-03-05 14:20:00"),
        (45356.5, "2024-03-05 12:00:00"),
        ("45356.5", "2024-03-05 12:00:00"),
        (20240305, "2024-03-05 00:00:00"),
        ("2024-03-05T06:20:00Z", "2024-03-05 14:20:00"),
        (dt.datetime(2024, 3, 5, 14, 20), "2024-03-05 14:20:00"),
        (dt.date(2024, 3, 5), "2024-03-05 00:00:00"),
    ],
)
def test_parses_the_formats_real_exports_use(value, expected):
    assert parse_datetime(value) == pd.Timestamp(expected)


@pytest.mark.parametrize(
    "value", ["2025-13-45 25:61", "2025-02-30", "未知", "", None, "12", 3.7, "明天上午"]
)
def test_unreadable_dates_give_none(value):
    assert parse_datetime(value) is None


@given(st.one_of(st.text(max_size=30), st.floats(allow_nan=True), st.integers(), st.none()))
@settings(max_examples=500, deadline=None)
def test_the_date_parser_never_crashes(value):
    result = parse_datetime(value)
    assert result is None or isinstance(result, pd.Timestamp)


def test_vectorised_parse_matches_value_by_value():
    values = pd.Series(
        ["2024-03-05 14:20:00", "2024/3/5 14:20", "未知", None, "2024年3月5日14时20分"],
        dtype=object,
    )
    parsed = parse_datetimes(values)
    expected = [parse_datetime(v) for v in values]
    assert [None if pd.isna(p) else p for p in parsed] == expected


def test_make_up_workdays_are_workdays_not_holidays():
    table = holiday_table(dt.date(2025, 1, 25), dt.date(2025, 1, 29)).set_index("date")
    assert table.loc["2025-01-26", "is_workday"]  # a Sunday worked for 春节 (调休)
    assert pd.isna(table.loc["2025-01-26", "holiday"])
    assert table.loc["2025-01-28", "holiday"] == "Spring Festival"
    assert table.loc["2025-01-26", "days_to_spring_festival"] == 2


def test_days_outside_the_known_calendar_get_nan_not_an_error():
    with pytest.warns(UserWarning):
        table = holiday_table(dt.date(2026, 12, 30), dt.date(2027, 1, 2))
    assert table["days_to_holiday"].isna().iloc[-1]
    features = calendar_features(pd.Series(pd.to_datetime(["2027-01-02 10:00"])))
    assert features["hour"].iloc[0] == 10 and np.isnan(features["days_to_spring_festival"].iloc[0])


# Reference pairs (WGS-84 -> GCJ-02) computed with the independent eviltransform implementation;
# coord-convert agrees with fengqiao to the last digit and with eviltransform within 1.1e-7 degrees
# (about a centimetre), so 1e-6 degrees (about 0.1 m) is the tolerance.
GCJ_REFERENCE = [
    ((116.397428, 39.90923), (116.40367173168003, 39.910633530151664)),
    ((121.4737, 31.2304), (121.47822313586518, 31.228457704689244)),
    ((125.14366, 42.887766), (125.15005708267273, 42.89028552075166)),
    ((114.057865, 22.543096), (114.06297904399305, 22.540378706281516)),
]


@pytest.mark.parametrize(("wgs", "gcj"), GCJ_REFERENCE)
def test_gcj02_matches_reference_pairs_and_inverts(wgs, gcj):
    lon, lat = wgs84_to_gcj02(np.array([wgs[0]]), np.array([wgs[1]]))
    assert abs(lon[0] - gcj[0]) < 1e-6 and abs(lat[0] - gcj[1]) < 1e-6
    back_lon, back_lat = gcj02_to_wgs84(lon, lat)
    assert abs(back_lon[0] - wgs[0]) < 1e-6 and abs(back_lat[0] - wgs[1]) < 1e-6


def test_points_outside_china_are_left_alone():
    assert not in_china(np.array([2.35]), np.array([48.85]))[0]
    lon, lat = wgs84_to_gcj02(np.array([2.35]), np.array([48.85]))
    assert lon[0] == 2.35 and lat[0] == 48.85
