"""Coordinates: China bounds, WGS-84 <-> GCJ-02, and H3 cells.

GCJ-02 is the offset coordinate system that Chinese base maps (AMap, Tencent) use. No maintained
package on PyPI implements it, so the widely published transform is written out here and tested
against an independent implementation's reference pairs.
"""

from __future__ import annotations

import functools
import itertools

import h3
import h3.api.basic_int as h3_numbers
import numpy as np

# Mainland China's bounding box, used to reject coordinates that cannot be right.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the transform defines it
_EE = 0.00669342162296594323


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return whether each point lies in China's bounding box (False for NaN)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (
        (lon >= CHINA_LON[0])
        & (lon <= CHINA_LON[1])
        & (lat >= CHINA_LAT[0])
        & (lat <= CHINA_LAT[1])
    )


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * np.sqrt(magic)) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / np.sqrt(magic) * np.cos(rad) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Return GCJ-02 coordinates of WGS-84 points (points outside China are unchanged)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lon, d_lat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_wgs84(lon, lat, iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS-84 coordinates of GCJ-02 points, by fixed-point iteration (error < 1e-7 degrees)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(iterations):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        w_lon, w_lat = w_lon - (g_lon - lon), w_lat - (g_lat - lat)
    return w_lon, w_lat


def h3_cell_numbers(lon, lat, resolution: int) -> np.ndarray:
    """Return the H3 cell of each point as its 64-bit number, 0 (H3's null) where a coordinate is
    missing. Numbers skip the hex strings, which joins and neighbour rings need not read."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.zeros(len(lon), dtype=np.int64)
    out[ok] = np.fromiter(
        map(functools.partial(h3_numbers.latlng_to_cell, res=resolution), lat[ok], lon[ok]),
        np.int64,
        int(ok.sum()),
    )
    return out


def h3_rings(cells: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, cell) for every cell within k steps of each row's cell (0: none), itself
    included. Each distinct cell's ring is asked of H3 once."""
    rows = np.flatnonzero(cells != 0)
    distinct, which = np.unique(cells[rows], return_inverse=True)
    rings = [h3_numbers.grid_disk(int(c), k) for c in distinct]
    sizes = np.fromiter(map(len, rings), np.int64, len(rings))
    flat = np.fromiter(itertools.chain.from_iterable(rings), np.int64, int(sizes.sum()))
    per_row = sizes[which]
    first = np.repeat((np.cumsum(sizes) - sizes)[which], per_row)
    within = np.arange(int(per_row.sum())) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    return np.repeat(rows, per_row), flat[first + within]


def h3_cells(lon, lat, resolution: int) -> np.ndarray:
    """Return the H3 cell (hex string) of each point, None where a coordinate is missing."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.full(len(lon), None, dtype=object)
    out[ok] = [h3.latlng_to_cell(a, b, resolution) for a, b in zip(lat[ok], lon[ok], strict=True)]
    return out
