"""The 平安地图 feed: hotspot cells and a point layer of 高/中 cases, as RFC 7946 GeoJSON.

Coordinates are WGS-84 [lon, lat], as RFC 7946 requires. With coordinates="gcj02" they are
shifted to GCJ-02 for Chinese base maps (AMap, Tencent); the feed then says so in its top-level
"fengqiao" member, because RFC 7946 itself only knows WGS-84. Points carry no personal data: a case
number, grade, score, type and date, at coordinates rounded to about 100 metres.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.domain import GRADE_RANK, GRADES, TICKETS
from features.geo import wgs84_to_gcj02

POINT_DECIMALS = 3  # about 100 m: enough for a map, not enough to find a flat


def _clean(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 4)
    return value


PLACE_LEVELS = {"street": "街道", "community": "社区"}  # the place names a map labels by zoom
_PLACE_HIERARCHY = ("district", "street", "community")


def feed_document(
    cells: pd.DataFrame,
    cases: pd.DataFrame,
    meta: dict,
    coordinates: str = "wgs84",
    places: pd.DataFrame | None = None,
) -> dict:
    """Return the FeatureCollection: one feature per cell worth showing (an H3 or boundary polygon
    with "layer": "cell", or an administrative unit's point with "layer": "unit" for cases without
    coordinates), then one Point per located 高/中 case ("layer": "case"), then one Point per
    township and community of the located `places` cases, at their median position ("layer":
    "place"), for labels.

    Empty hexagons (the study area's zeros, there for the statistic) are left out unless they are a
    significant hot or cold spot or have an emerging pattern; the centre's own polygons and units
    are all kept, as a complete partition of its area. docs/feed.md describes every property.
    """
    features = cell_features(cells, coordinates) + case_features(cases, coordinates)
    if places is not None:
        features.extend(place_features(places, coordinates))
    return {
        "type": "FeatureCollection",
        "fengqiao": {**meta, "coordinate_system": "GCJ-02" if coordinates == "gcj02" else "WGS-84"},
        "features": features,
    }


# A cell feature's properties, in the order docs/feed.md lists them ("top_type" is computed).
CELL_PROPERTIES = [
    "layer",
    "cell",
    "label",
    "n_cases",
    *(f"n_{grade}" for grade in reversed(GRADES)),
    "types",
    "top_type",
    "mean_score",
    "risk_weight",
    "gi_z",
    "gi_p",
    "hot_class",
    "confidence",
    "trend",
    "weeks_hot",
    "forecast",
    "forecast_rank",
]


def cell_features(cells: pd.DataFrame, coordinates: str = "wgs84") -> list[dict]:
    """Return a feature per cell worth showing (see feed_document)."""
    # hotspot_cells outlines only the cells worth showing (models.hotspots.worth_showing).
    features = []
    for row in cells[cells["geometry"].notna()].to_dict("records"):
        row["top_type"] = next(iter(row["types"]), None)
        features.append(
            {
                "type": "Feature",
                "geometry": _shifted(row["geometry"], coordinates),
                "properties": {k: _clean(row[k]) for k in CELL_PROPERTIES},
            }
        )
    return features


def case_features(cases: pd.DataFrame, coordinates: str = "wgs84") -> list[dict]:
    """Return a Point per located 高/中 case, 高 first, riskiest first."""
    wanted = cases["grade"].isin(list(TICKETS)) & cases["lon"].notna() & cases["lat"].notna()
    columns = ["case_id", "grade", "score", "dispute_type", "reported_at", "lon", "lat"]
    points = cases.loc[wanted, columns].assign(
        ticket=cases.loc[wanted, "ticket"] if "ticket" in cases else "",
        group_size=cases.loc[wanted, "grp_size"].fillna(1).astype(int)
        if "grp_size" in cases
        else 1,
    )
    # 高 before 中 by the grades' rank, as the watchlist sorts them, not by their characters'
    # ("中" sorts before "高").
    points = points.assign(_rank=points["grade"].map(GRADE_RANK)).sort_values(
        ["_rank", "score", "case_id"], ascending=[False, False, True]
    )
    lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    if coordinates == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    dates = pd.to_datetime(points["reported_at"]).dt.strftime("%Y-%m-%d")
    return [
        _point(
            x,
            y,
            {
                "layer": "case",
                "case_id": case_id,
                "grade": grade,
                "score": _clean(score),
                "ticket": ticket,
                "dispute_type": _clean(kind),
                "reported_date": date,
                "group_size": max(int(size), 1),
            },
        )
        for case_id, grade, score, ticket, kind, date, size, x, y in zip(
            points["case_id"],
            points["grade"],
            points["score"],
            points["ticket"],
            points["dispute_type"],
            dates,
            points["group_size"],
            lon,
            lat,
            strict=True,
        )
    ]


def place_features(cases: pd.DataFrame, coordinates: str = "wgs84") -> list[dict]:
    """Return a Point per township (街道/乡镇) and community named by located cases: the median
    of their positions, with how many cases it holds. Names repeated under different parents
    (two 新村社区) stay apart."""
    located = cases[cases["lon"].notna() & cases["lat"].notna()] if "lon" in cases else cases[:0]
    out = []
    for column, level in PLACE_LEVELS.items():
        if column not in located or located[column].isna().all():
            continue
        # the place and the parents the export has: a township is one point whatever
        # communities it holds, and a blank parent still keeps its children
        keys = [c for c in _PLACE_HIERARCHY[: _PLACE_HIERARCHY.index(column) + 1] if c in located]
        named = located.dropna(subset=[column])
        groups = named.groupby(keys, sort=True, dropna=False)[["lon", "lat"]]
        centre, size = groups.median(), groups.size()
        lon, lat = centre["lon"].to_numpy(float), centre["lat"].to_numpy(float)
        if coordinates == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        for key, x, y, n in zip(centre.index, lon, lat, size.to_numpy(), strict=True):
            name = key[-1] if isinstance(key, tuple) else key
            properties = {"layer": "place", "level": level, "name": str(name), "n_cases": int(n)}
            out.append(_point(x, y, properties))
    return out


def _point(lon: float, lat: float, properties: dict) -> dict:
    """Return a Point feature at a position rounded to POINT_DECIMALS."""
    coordinates = [round(float(lon), POINT_DECIMALS), round(float(lat), POINT_DECIMALS)]
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": coordinates},
        "properties": properties,
    }


def _shifted(geometry: dict, coordinates: str) -> dict:
    """Return a WGS-84 geometry in the feed's coordinates (GCJ-02 shifts every position)."""
    if coordinates != "gcj02":
        return geometry

    def shift(positions):
        if isinstance(positions[0], (int, float)):
            lon, lat = wgs84_to_gcj02(np.array([positions[0]]), np.array([positions[1]]))
            return [round(float(lon[0]), 6), round(float(lat[0]), 6)]
        return [shift(p) for p in positions]

    return {"type": geometry["type"], "coordinates": shift(geometry["coordinates"])}


def write_feed(document: dict, path: Path) -> Path:
    """Write the feed as compact, deterministic UTF-8 JSON."""
    Path(path).write_text(
        json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n",
        encoding="utf-8",
    )
    return Path(path)
