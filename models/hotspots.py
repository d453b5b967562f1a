"""Hotspots for the 平安地图: where risk concentrates, how sure we are, and where it is emerging.

Cells are H3 hexagons (or the centre's own polygons, with neighbours given). The study area is every
cell that had a case in the trend period plus its ring of neighbours, so that quiet cells count as
zeros; Getis-Ord Gi* without them would call every busy place "hot".

The statistic is computed on the risk-weighted count (高 = 1, 中 = 0.5, 低 = 0.1 per case), with
Gi* as esda computes it (binary weights, the cell itself included; tested against esda, which the
nightly process does not import). Its p-values are conditional-permutation
pseudo p-values (each cell's value held, its neighbours drawn from the other cells; two-sided), not
the normal approximation, which skewed, mostly-zero counts break. They are corrected for testing
many cells with the Benjamini-Hochberg false-discovery rate: a cell is a hot (cold) spot at 99, 95
or 90% confidence when its p-value passes the FDR cut-off at alpha 0.01, 0.05 or 0.10 and z > 0
(z < 0).

Emerging hot spots follow ArcGIS Pro's Emerging Hot Spot Analysis: a space-time cube of weekly
bins, Gi* of every bin over its spatial neighbours in the same week and, one neighbourhood time
step back, the week before (FDR at 0.05 over the cube), and a Mann-Kendall test on each cell's
series of z-scores. Each cell gets one of the 17 categories (`emerging_category`).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pymannkendall
from scipy import sparse
from scipy.stats import norm

from features.domain import GRADES, HIGH, LOW, MEDIUM
from features.errors import UsageError
from features.geo import h3_cells, wgs84_to_gcj02
from features.places import LEVELS, county_centres, unit_keys, unit_label, unit_level

GRADE_WEIGHT = {HIGH: 1.0, MEDIUM: 0.5, LOW: 0.1}
CONFIDENCE = [(0.01, 99), (0.05, 95), (0.10, 90)]
HOT, COLD, NOT_SIGNIFICANT = "热点", "冷点", "不显著"
PATTERNS = {
    "new": "新增",
    "consecutive": "连续",
    "intensifying": "加剧",
    "persistent": "持续",
    "diminishing": "减弱",
    "sporadic": "零星",
    "oscillating": "振荡",
    "historical": "历史",
}
NO_PATTERN = "无明显模式"
# The 17 categories of ArcGIS Pro's Emerging Hot Spot Analysis, in Chinese: 新增热点 … 历史冷点.
EMERGING_CATEGORIES = [f"{name}{kind}" for kind in (HOT, COLD) for name in PATTERNS.values()] + [
    NO_PATTERN
]
# A two-sided pseudo p is at least 0.00002, and the hot set near the FDR cut-off does not hang on
# the draws' luck: on the demo's last night four seeds gave 35-37 hot cells (with 9,999 draws,
# 31-37, and 0-32 of them at 95%). 0.5 s for its 4,431 cells, 0.8 s for 21,600.
MAP_PERMUTATIONS = 99_999
# The cube's bins use the normal approximation, as ArcGIS Pro's Emerging Hot Spot Analysis does:
# a cube has tens of thousands of bins, and 999 permutations cannot pass the FDR cut-off there.
CUBE_PERMUTATIONS = 0
TREND_ALPHA = 0.05  # Mann-Kendall, and the cube's FDR


class H3Cells:
    """H3 hexagons at one resolution; the study area is the cells with cases and their neighbours."""

    def __init__(self, resolution: int = 8):
        self.resolution = resolution

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return h3_cells(lon, lat, self.resolution)

    def cells_of(self, cases: pd.DataFrame) -> np.ndarray:
        """Return each case's cell, None where it has no coordinates."""
        return self.assign(cases["lon"].to_numpy(float), cases["lat"].to_numpy(float))

    def study_area(self, cells: pd.Series) -> list[str]:
        return study_cells(cells)

    def neighbours(self, cells: list[str]) -> dict[str, list[str]]:
        return h3_neighbours(cells)

    def geometry(self, cell: str, coordinates: str = "wgs84") -> dict:
        boundary = h3.cell_to_boundary(cell)  # (lat, lng) pairs
        ring = _oriented_ring([b[1] for b in boundary], [b[0] for b in boundary], coordinates)
        return {"type": "Polygon", "coordinates": [ring]}


class PolygonCells:
    """The centre's own polygons (grids, communities) from a GeoJSON boundary file.

    Every polygon is in the study area (a quiet community is a zero, not a gap); neighbours share
    an edge or a corner (queen contiguity).
    """

    def __init__(self, ids: list[str], geometries: list):
        from shapely import STRtree

        if len(set(ids)) != len(ids):
            raise UsageError("boundary polygons need unique ids")
        self.ids, self.geometries = list(ids), list(geometries)
        self._tree = STRtree(self.geometries)

    @classmethod
    def from_geojson(cls, path, id_property: str) -> PolygonCells:
        """Return the polygons of a GeoJSON FeatureCollection, named by one of their properties."""
        import json

        from shapely.geometry import shape

        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UsageError(f"{path}: cannot read the boundaries as GeoJSON ({error})") from None
        if not isinstance(document, dict):
            raise UsageError(f"{path}: not a GeoJSON FeatureCollection")
        features = [
            f
            for f in document.get("features", [])
            if f.get("geometry", {}).get("type") in ("Polygon", "MultiPolygon")
        ]
        if not features:
            raise UsageError(f"{path}: no Polygon or MultiPolygon features")
        missing = [
            i for i, f in enumerate(features) if id_property not in (f.get("properties") or {})
        ]
        if missing:
            raise UsageError(f"{path}: feature(s) {missing[:5]} have no property {id_property!r}")
        return cls(
            [str(f["properties"][id_property]) for f in features],
            [shape(f["geometry"]) for f in features],
        )

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        from shapely import points

        out = np.full(len(lon), None, dtype=object)
        ok = np.isfinite(lon) & np.isfinite(lat)
        where = np.flatnonzero(ok)
        pairs = self._tree.query(points(lon[ok], lat[ok]), predicate="intersects")  # edges count
        for point, polygon in zip(pairs[0], pairs[1], strict=True):
            if out[where[point]] is None:
                out[where[point]] = self.ids[polygon]
        return out

    def cells_of(self, cases: pd.DataFrame) -> np.ndarray:
        """Return each case's polygon: the one its coordinates fall in, or, for a case without
        coordinates, the one named like its grid, community, street or district (finest first)."""
        out = self.assign(cases["lon"].to_numpy(float), cases["lat"].to_numpy(float))
        ids = set(self.ids)
        for level in reversed(LEVELS):
            if level not in cases:
                continue
            names = cases[level].astype("string").str.strip().to_numpy(dtype=object)
            for i in np.flatnonzero(pd.isna(out)):
                if names[i] in ids:
                    out[i] = names[i]
        return out

    def study_area(self, cells: pd.Series) -> list[str]:
        return sorted(self.ids)

    def neighbours(self, cells: list[str]) -> dict[str, list[str]]:
        from libpysal.weights import Queen

        index = {c: i for i, c in enumerate(self.ids)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = Queen.from_iterable([self.geometries[index[c]] for c in cells], ids=list(cells))
        return {c: sorted(w.neighbors[c]) for c in cells}

    def geometry(self, cell: str, coordinates: str = "wgs84") -> dict:
        from shapely.geometry import MultiPolygon

        geometry = self.geometries[self.ids.index(cell)]
        parts = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
        polygons = []
        for part in parts:
            x, y = np.asarray(part.exterior.coords.xy[0]), np.asarray(part.exterior.coords.xy[1])
            rings = [_oriented_ring(x[:-1], y[:-1], coordinates)]
            for hole in part.interiors:
                hx, hy = np.asarray(hole.coords.xy[0]), np.asarray(hole.coords.xy[1])
                rings.append(_oriented_ring(hx[:-1], hy[:-1], coordinates, clockwise=True))
            polygons.append(rings)
        if len(polygons) == 1:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}


class AdminUnits:
    """Administrative units (区县 / 街道 / 社区 / 网格) as cells, for cases without coordinates.

    A unit is drawn at a point: the centroid of its cases that do have coordinates (a mixed
    export), else, for a county-level unit, the county's centre from cpca's table. Units without
    a point cannot be mapped and stay out of the study area (the report still counts them).
    Neighbours are each unit's nearest units (k = 6, as an H3 cell's ring, or fewer when there are
    fewer units), made symmetric.
    """

    def __init__(self, level: str, points: dict[str, tuple[float, float]], k: int = 6):
        self.level, self.points, self.k = level, dict(points), k

    @classmethod
    def from_cases(cls, cases: pd.DataFrame, level: str | None = None) -> AdminUnits | None:
        """Return the units the cases name, at the finest level most of them give; None if
        they name none."""
        level = level or unit_level(cases)
        if level is None:
            return None
        keys = unit_keys(cases, level)
        points: dict[str, tuple[float, float]] = {}
        located = cases["lon"].notna().to_numpy() & cases["lat"].notna().to_numpy() & pd.notna(keys)
        if located.any():
            centroids = (
                pd.DataFrame(
                    {
                        "key": keys[located],
                        "lon": cases["lon"].to_numpy(float)[located],
                        "lat": cases["lat"].to_numpy(float)[located],
                    }
                )
                .groupby("key")[["lon", "lat"]]
                .mean()
            )
            points.update({k: (float(r.lon), float(r.lat)) for k, r in centroids.iterrows()})
        if level == "district":
            codes = {}
            if "adcode" in cases:
                pairs = cases[["district", "adcode"]].dropna().drop_duplicates("district")
                codes = dict(zip(pairs["district"], pairs["adcode"], strict=True))
            names = sorted({k for k in keys if k is not None and k not in points})
            points.update(county_centres(names, codes))
        return cls(level, points)

    def cells_of(self, cases: pd.DataFrame) -> np.ndarray:
        """Return each case's unit if it can be mapped, else None."""
        missing = [c for c in LEVELS[: LEVELS.index(self.level) + 1] if c not in cases]
        if missing:
            return np.full(len(cases), None, dtype=object)
        keys = unit_keys(cases, self.level)
        return np.array([k if k in self.points else None for k in keys], dtype=object)

    def study_area(self, cells: pd.Series) -> list[str]:
        return sorted(self.points)

    def neighbours(self, cells: list[str]) -> dict[str, list[str]]:
        if len(cells) < 2:
            return {c: [] for c in cells}
        xy = np.array([self.points[c] for c in cells])
        xy[:, 0] *= np.cos(np.radians(xy[:, 1].mean()))  # degrees of longitude shrink northward
        distance = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        np.fill_diagonal(distance, np.inf)
        k = min(self.k, len(cells) - 1)
        nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
        pairs = {(i, int(j)) for i in range(len(cells)) for j in nearest[i]}
        pairs |= {(j, i) for i, j in pairs}
        out: dict[str, list[str]] = {c: [] for c in cells}
        for i, j in sorted(pairs):
            out[cells[i]].append(cells[j])
        return out

    def geometry(self, cell: str, coordinates: str = "wgs84") -> dict:
        lon, lat = self.points[cell]
        if coordinates == "gcj02":
            lon, lat = (float(v[0]) for v in wgs84_to_gcj02(np.array([lon]), np.array([lat])))
        return {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}

    def label(self, cell: str) -> str:
        return unit_label(cell)


def _oriented_ring(lon, lat, coordinates: str, clockwise: bool = False) -> list[list[float]]:
    """Return a closed ring, counter-clockwise (exterior) or clockwise (hole) per RFC 7946.

    In plain Python: on a hexagon's six points NumPy's per-call overhead outweighed the arithmetic
    (half a second of publishing a night's ten thousand cells).
    """
    if coordinates == "gcj02":
        lon, lat = wgs84_to_gcj02(np.asarray(lon, float), np.asarray(lat, float))
    xs, ys = [float(x) for x in lon], [float(y) for y in lat]
    twice_area = sum(
        x0 * y1 - x1 * y0
        for x0, y0, x1, y1 in zip(xs, ys, [*xs[1:], xs[0]], [*ys[1:], ys[0]], strict=True)
    )
    if (twice_area < 0) != clockwise:
        xs.reverse()
        ys.reverse()
    ring = [[round(x, 6), round(y, 6)] for x, y in zip(xs, ys, strict=True)]
    return [*ring, ring[0]]


def study_cells(cells: pd.Series) -> list[str]:
    """Return the study area: the given H3 cells and their neighbours, sorted."""
    present = {c for c in cells.dropna().unique()}
    area = set(present)
    for c in present:
        area.update(h3.grid_disk(c, 1))
    return sorted(area)


def h3_neighbours(cells: list[str]) -> dict[str, list[str]]:
    """Return each study cell's neighbours within the study area."""
    inside = set(cells)
    return {c: sorted(n for n in h3.grid_disk(c, 1) if n != c and n in inside) for c in cells}


def fdr_cutoff(p: np.ndarray, alpha: float) -> float:
    """Return the Benjamini-Hochberg cut-off: p-values at or below it are discoveries at FDR alpha."""
    ranked = np.sort(p)
    m = len(ranked)
    passing = ranked <= alpha * np.arange(1, m + 1) / m
    return float(ranked[np.flatnonzero(passing).max()]) if passing.any() else -1.0


def gi_star(
    values: np.ndarray,
    cells: list,
    neighbours: dict,
    permutations: int = MAP_PERMUTATIONS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Gi* z-scores and two-sided p-values of values over cells (esda, binary weights).

    With permutations, p is the two-sided conditional-permutation pseudo p-value: twice the smaller
    of the shares of simulated statistics at or above and at or below the observed one, at most 1,
    from the same seeded draws. (esda's folded p-value counts ties as not extreme in the lower tail,
    so a quiet cell among quiet cells would read as a cold spot at p = 1/(permutations + 1).) With
    0, the normal approximation.
    """
    return _gi_star(values, *_links(cells, neighbours), permutations, seed)


def _links(cells: list, neighbours: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return the neighbour links as position pairs (focal, neighbour), self excluded."""
    index = {c: i for i, c in enumerate(cells)}
    focal = np.repeat(np.arange(len(cells)), [len(neighbours[c]) for c in cells])
    neighbour = np.fromiter(
        (index[n] for c in cells for n in neighbours[c]), dtype=np.int64, count=len(focal)
    )
    return focal, neighbour


def _gi_star(
    values: np.ndarray,
    focal: np.ndarray,
    neighbour: np.ndarray,
    permutations: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """gi_star over cells 0..n-1 whose links are the pairs (focal, neighbour), self excluded."""
    if len(values) < MIN_CELLS or np.allclose(values, values[0]):
        return np.zeros(len(values)), np.ones(len(values))
    values = values.astype(float)
    z = _gi_star_z(values, focal, neighbour)
    if not permutations:
        return z, 2 * norm.sf(np.abs(z))
    return z, _permutation_p(values, focal, neighbour, permutations, seed)


def _gi_star_z(values: np.ndarray, focal: np.ndarray, neighbour: np.ndarray) -> np.ndarray:
    """Return Gi*'s z-scores under normality, binary weights, the cell itself included.

    esda's G_Local(star=True, transform="B").Zs (esda.getisord.G_Local.calc) in esda's order of
    operations, the same to the last bit on the demo's night (tests/code/test_hotspots_feed.py
    compares them): importing esda and libpysal's graph cost a night about a second, more than the
    statistic.
    """
    n = len(values)
    cells = np.arange(n)
    # The weights with each cell its own neighbour, summed in esda's order (a sparse product).
    weights = sparse.csr_matrix(
        (np.ones(n + len(focal)), (np.r_[cells, focal], np.r_[cells, neighbour])), shape=(n, n)
    )
    statistic = (weights @ values) / values.sum()
    mean = values.sum() / n
    variance = (values**2).sum() / n - mean**2
    cardinality = np.asarray(weights.sum(axis=1)).squeeze()
    spread = cardinality * (n - cardinality)
    spread /= n - 1
    spread *= 1 / n**2
    spread *= variance / mean**2
    return np.nan_to_num((statistic - cardinality / n) / np.sqrt(spread))


def _permutation_p(
    values: np.ndarray, focal: np.ndarray, neighbour: np.ndarray, permutations: int, seed: int
) -> np.ndarray:
    """Return Gi*'s two-sided conditional-permutation pseudo p-values (binary weights).

    esda's crand on seeded draws (_draws): a cell's k neighbours are replaced by the first k of
    each draw from the other cells, and Gi* recomputed. Both tails are counted from one pass
    over the draws, for all cells of the same neighbour count at once (esda without numba loops
    over cells in Python, once per tail). A permuted sum that equals the observed one but for
    rounding (weights 0.1 in another order) counts as a tie in both tails, not as chance.
    """
    n = len(values)
    cardinality = np.bincount(focal, minlength=n)
    # The focal cell's own value is in both the observed and every permuted Gi*: compare the
    # neighbours' sums alone.
    observed = np.bincount(focal, weights=values[neighbour], minlength=n)
    draws = _draws(int(cardinality.max()), n, permutations, seed)  # ids among the n - 1 others
    tie = 1e-9 * max(float(np.abs(values).sum()), 1.0)
    at_least = np.zeros(n)
    at_most = np.zeros(n)
    for k in np.unique(cardinality):
        members = np.flatnonzero(cardinality == k)
        sums, lo, hi = _draw_pieces(values, np.sort(draws[:, :k], axis=1))
        order = np.argsort(sums, kind="stable")
        sums, lo, hi = sums[order], lo[order], hi[order]
        thresholds, group = np.unique(observed[members], return_inverse=True)
        # At least the observed sum: the pieces from the largest sum down; at most: from the least.
        above = len(sums) - np.searchsorted(sums, thresholds - tie, "left")
        at_least[members] = _prefix_cover(lo[::-1], hi[::-1], n, above, members, group)
        below = np.searchsorted(sums, thresholds + tie, "right")
        at_most[members] = _prefix_cover(lo, hi, n, below, members, group)
    tails = (np.minimum(at_least, at_most) + 1) / (permutations + 1)
    return np.minimum(2 * tails, 1.0)


def _draw_pieces(values: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return each draw's permuted sum as pieces over the focal cells: (sum, first cell, end).

    Drawn id m stands for cell m when the focal cell i is above it and for cell m + 1 when i is
    at or below it, so a draw of sorted ids m_1 < ... < m_k sums to one value for i up to m_1,
    another for i in (m_1, m_2], and so on: k + 1 pieces [lo, hi) that cover every cell once.
    """
    draws = len(ids)
    head = np.cumsum(values[ids], axis=1)  # the first j ids read as themselves
    tail = np.cumsum(values[ids + 1][:, ::-1], axis=1)[:, ::-1]  # the rest read as the next cell
    zero = np.zeros((draws, 1))
    sums = np.hstack([zero, head]) + np.hstack([tail, zero])
    lo = np.hstack([np.zeros((draws, 1), ids.dtype), ids + 1])
    hi = np.hstack([ids + 1, np.full((draws, 1), len(values), ids.dtype)])
    return sums.ravel(), lo.ravel(), hi.ravel()


def _prefix_cover(
    lo: np.ndarray, hi: np.ndarray, n: int, ends: np.ndarray, members: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Return for each member cell how many of the first ends[g] pieces cover it (g its group).

    The groups are taken by growing prefix, each adding its new pieces' starts and ends to one
    difference array: a pass over the pieces and one cumulative sum over the cells per group.
    """
    counts = np.zeros(len(members))
    position = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=len(ends)))])
    difference = np.zeros(n + 1)
    cover = np.zeros(n + 1)
    done = 0
    for g in np.argsort(ends, kind="stable"):
        if ends[g] > done:
            new = slice(done, ends[g])
            difference += np.bincount(lo[new], minlength=n + 1)
            difference -= np.bincount(hi[new], minlength=n + 1)
            cover = np.cumsum(difference)
            done = ends[g]
        mine = position[bounds[g] : bounds[g + 1]]
        counts[mine] = cover[members[mine]]
    return counts


@functools.lru_cache(maxsize=4)
def _draws(max_card: int, n: int, permutations: int, seed: int) -> np.ndarray:
    """Return `permutations` seeded draws of max_card distinct ids among n - 1, each in random
    order (so that the first k of a draw are a draw of k), made once per process for each shape.

    esda's vec_permutations shuffles all n - 1 ids for every draw (numpy's legacy choice without
    replacement): 16 s for 9,999 draws over a province's 44,000 cells. Independent uniform ids
    with any repeat redrawn are the same distribution, in time that grows with the draws alone;
    among few cells, where repeats are common, the smallest of random keys.
    """
    if n - 1 < max_card:
        raise ValueError(f"cannot draw {max_card} distinct ids among {n - 1}")
    rng = np.random.default_rng(seed)
    if max_card * max_card > n - 1:  # few cells (a centre's units): repeats would be common
        return _draws_by_keys(max_card, n, permutations, rng)
    ids = rng.integers(0, n - 1, size=(permutations, max_card))
    while True:  # a row holds a repeat with chance under 1 - e^-1/2: redraw those rows
        ordered = np.sort(ids, axis=1)
        repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if not len(repeated):
            break
        ids[repeated] = rng.integers(0, n - 1, size=(len(repeated), max_card))
    ids.flags.writeable = False
    return ids


def _draws_by_keys(
    max_card: int, n: int, permutations: int, rng: np.random.Generator
) -> np.ndarray:
    """_draws among few cells: each draw the max_card smallest of n - 1 random keys, in key order."""
    ids = np.empty((permutations, max_card), np.int64)
    for start in range(0, permutations, 4096):  # 4,096 draws' keys at a time
        keys = rng.random((min(4096, permutations - start), n - 1))
        smallest = np.argpartition(keys, max_card - 1, axis=1)[:, :max_card]
        order = np.take_along_axis(keys, smallest, axis=1).argsort(axis=1)
        ids[start : start + len(keys)] = np.take_along_axis(smallest, order, axis=1)
    ids.flags.writeable = False
    return ids


def space_time_gi_star(
    cube: np.ndarray,
    cells: list,
    neighbours: dict,
    time_step: int = 1,
    permutations: int = CUBE_PERMUTATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Gi* z-scores and two-sided p-values of every bin of a space-time cube.

    cube: cells x time bins, oldest bin first. A bin's neighbours are its cell's spatial neighbours
    in the same bin and, with the cell itself, in the `time_step` bins before it (ArcGIS's backward
    neighbourhood time step); the whole cube is the population the statistic compares against.
    """
    n_cells, n_bins = cube.shape
    cell, near = _links(cells, neighbours)  # spatial links, cell -> neighbour
    # The same bin's neighbours, then each step back: the cell itself and its neighbours.
    earlier = np.concatenate([np.arange(n_cells), cell]), np.concatenate([np.arange(n_cells), near])
    focal, neighbour = [], []
    for t in range(n_bins):
        focal.append(t * n_cells + cell)
        neighbour.append(t * n_cells + near)
        for back in range(1, min(time_step, t) + 1):
            focal.append(t * n_cells + earlier[0])
            neighbour.append((t - back) * n_cells + earlier[1])
    z, p = _gi_star(
        cube.T.reshape(-1),
        np.concatenate(focal),
        np.concatenate(neighbour),
        permutations=permutations,
    )
    return z.reshape(n_bins, n_cells).T, p.reshape(n_bins, n_cells).T


def classify(z: np.ndarray, p: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Return the hot/cold class ("热点-99%") and confidence level (99/95/90/0) of each cell, FDR-controlled."""
    level = np.zeros(len(z), int)
    for alpha, confidence in reversed(CONFIDENCE):
        cut = fdr_cutoff(p, alpha)
        level = np.where(p <= cut, confidence, level)
    labels = [
        f"{HOT if zi > 0 else COLD}-{lv}%" if lv else NOT_SIGNIFICANT
        for zi, lv in zip(z, level, strict=True)
    ]
    return labels, level


def emerging_category(z: np.ndarray, significant: np.ndarray, alpha: float = TREND_ALPHA) -> str:
    """Return the Emerging Hot Spot Analysis category of one cell from its bins, oldest first.

    z: the Gi* z-score of each bin; significant: whether the bin passed the cube's FDR. The rules
    are ArcGIS Pro's, for hot spots and, mirrored, for cold spots:
    - 新增: hot in the final bin and never a hot spot before.
    - 连续: a single uninterrupted run of at least two hot bins ending in the final bin, never hot
      before the run, less than 90% of the bins hot.
    - 加剧 / 持续 / 减弱: hot in at least 90% of the bins, the final one included; the Mann-Kendall
      trend of the z-scores is significantly increasing / absent / decreasing.
    - 零星: hot in the final bin, on and off before, less than 90% of the bins hot, never cold.
    - 振荡: hot in the final bin, cold in some earlier bin, less than 90% of the bins hot.
    - 历史: hot in at least 90% of the bins, but not in the final one.
    A history of the other kind (a cold spot before a new or consecutive hot run) reads as 振荡,
    as in sfdep's implementation of the same rules. Else 无明显模式.
    """
    hot = significant & (z > 0)
    cold = significant & (z < 0)
    for kind, this, other, sign in ((HOT, hot, cold, 1), (COLD, cold, hot, -1)):
        share = this.mean()
        if share >= 0.9:
            if not this[-1]:
                return f"{PATTERNS['historical']}{kind}"
            trend = "no trend"
            if len(z) >= 4 and np.ptp(z) > 0:
                trend = pymannkendall.original_test(sign * z, alpha=alpha).trend
            pattern = {"increasing": "intensifying", "decreasing": "diminishing"}.get(
                trend, "persistent"
            )
            return f"{PATTERNS[pattern]}{kind}"
        if not this[-1]:
            continue
        if other[:-1].any():
            return f"{PATTERNS['oscillating']}{kind}"
        before = this[:-1]
        if not before.any():
            return f"{PATTERNS['new']}{kind}"
        run = len(this) - np.flatnonzero(~this)[-1] - 1 if (~this).any() else len(this)
        if run >= 2 and not this[: len(this) - run].any():
            return f"{PATTERNS['consecutive']}{kind}"
        return f"{PATTERNS['sporadic']}{kind}"
    return NO_PATTERN


CELL_COLUMNS = [
    "layer",
    "cell",
    "label",
    "geometry",
    "gi_z",
    "gi_p",
    "hot_class",
    "confidence",
    "risk_weight",
    "n_高",
    "n_中",
    "n_低",
    "n_cases",
    "mean_score",
    "types",
    "trend",
    "weeks_hot",
    "forecast",
    "forecast_rank",
]
MIN_CELLS = 3  # fewer cells than this have no neighbourhood worth testing
_INPUTS = ("reported_at", "grade", "score", "dispute_type", "lon", "lat", *LEVELS)


def hotspot_cells(
    scored: pd.DataFrame,
    run_date: pd.Timestamp,
    cells_system: H3Cells | PolygonCells | None = None,
    window_days: int = 28,
    trend_weeks: int = 10,
    weighted: bool = True,
    case_cells: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return one row per study cell: counts by grade and type, mean score, Gi*, class and trend.

    `scored` has reported_at, grade, score, dispute_type and, where known, lon/lat and the
    administrative units (district, street, community, grid_id). Cases with coordinates are
    counted in the cells of `cells_system` (layer "cell"); cases without them, in the
    administrative units they name (layer "unit", see AdminUnits); a case that neither locates is
    left out. weighted: count 高/中/低 as 1/0.5/0.1 (risk grades), else every case as 1.
    case_cells: each scored case's cell in `cells_system` (its cells_of), when the caller has it.
    An empty frame (with every column) when nothing can be located.
    """
    end = pd.Timestamp(run_date).normalize() + pd.Timedelta(days=1)
    start_trend = end - pd.Timedelta(weeks=trend_weeks)
    in_trend = ((scored["reported_at"] >= start_trend) & (scored["reported_at"] < end)).to_numpy()
    # Only the columns the cells count: a province's texts and keys made the copy take seconds.
    frame = scored.loc[in_trend, [c for c in _INPUTS if c in scored]]
    frame = frame.assign(
        weight=frame["grade"].map(GRADE_WEIGHT).fillna(0.1) if weighted else 1.0
    ).reset_index(drop=True)
    system = cells_system or H3Cells()
    if case_cells is not None:
        cell = np.asarray(case_cells, dtype=object)[in_trend]
    else:
        cell = system.cells_of(frame) if len(frame) else np.array([], dtype=object)
    placed = pd.notna(cell)
    layers = []
    if placed.any():
        layers.append(
            _layer(
                frame[placed].assign(cell=cell[placed]),
                system,
                "cell",
                end,
                window_days,
                trend_weeks,
            )
        )
    rest = frame[~placed]
    units = AdminUnits.from_cases(frame) if len(rest) else None
    if units is not None:
        unit = units.cells_of(rest)
        mapped = pd.notna(unit)
        if mapped.any():
            layers.append(
                _layer(
                    rest[mapped].assign(cell=unit[mapped]),
                    units,
                    "unit",
                    end,
                    window_days,
                    trend_weeks,
                )
            )
    if not layers:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CELL_COLUMNS})
    return pd.concat(layers, ignore_index=True)[CELL_COLUMNS]


def _layer(
    frame: pd.DataFrame,
    system,
    layer: str,
    end: pd.Timestamp,
    window_days: int,
    trend_weeks: int,
) -> pd.DataFrame:
    """Return the statistics of one layer's cells (frame: its cases, with cell and weight)."""
    start_trend = end - pd.Timedelta(weeks=trend_weeks)
    cells = system.study_area(frame["cell"])
    neighbours = system.neighbours(cells)
    recent = frame[frame["reported_at"] >= end - pd.Timedelta(days=window_days)]

    risk = recent.groupby("cell")["weight"].sum().reindex(cells, fill_value=0.0).to_numpy()
    z, p = gi_star(risk, cells, neighbours)
    labels, level = classify(z, p)
    label_of = getattr(system, "label", lambda c: c)
    out = pd.DataFrame(
        {
            "layer": layer,
            "cell": cells,
            "label": [label_of(c) for c in cells],
            "geometry": None,  # below, for the cells the map shows
            "gi_z": z,
            "gi_p": p,
            "hot_class": labels,
            "confidence": level,
            "risk_weight": risk,
        }
    )
    counts = (
        recent.pivot_table(index="cell", columns="grade", values="reported_at", aggfunc="count")
        if recent["grade"].notna().any()
        else pd.DataFrame(index=cells)
    ).reindex(cells)
    for grade in reversed(GRADES):
        out[f"n_{grade}"] = counts[grade].fillna(0).astype(int).to_numpy() if grade in counts else 0
    out["n_cases"] = recent.groupby("cell").size().reindex(cells, fill_value=0).to_numpy()
    out["mean_score"] = recent.groupby("cell")["score"].mean().reindex(cells).round(1).to_numpy()
    out["types"] = _type_counts(recent, cells)
    # Where the next cases are likeliest: the ranking the rolling evaluation chose
    # (bench/hotspots.py, PUBLISHED_FORECAST).
    forecast = forecast_counts(frame, cells)
    out["forecast"] = np.round(forecast, 3)
    out["forecast_rank"] = (
        pd.Series(forecast).rank(ascending=False, method="first").astype(int).to_numpy()
    )

    # The space-time cube of weekly bins for the emerging hot-spot categories.
    week = ((frame["reported_at"] - start_trend) // pd.Timedelta(weeks=1)).clip(0, trend_weeks - 1)
    cube = (
        frame.assign(week=week)
        .pivot_table(index="cell", columns="week", values="weight", aggfunc="sum")
        .reindex(index=cells, columns=range(trend_weeks))
        .fillna(0.0)
        .to_numpy()
    )
    weekly_z, weekly_p = space_time_gi_star(cube, cells, neighbours)
    significant = weekly_p <= fdr_cutoff(weekly_p.reshape(-1), TREND_ALPHA)
    # A cell with no significant week has no pattern (most of a province's cells).
    out["trend"] = [
        emerging_category(weekly_z[i], significant[i]) if significant[i].any() else NO_PATTERN
        for i in range(len(cells))
    ]
    out["weeks_hot"] = (significant & (weekly_z > 0)).sum(axis=1)
    shown = worth_showing(out, np.full(len(out), isinstance(system, H3Cells)))
    out["geometry"] = [system.geometry(c) if s else None for c, s in zip(cells, shown, strict=True)]
    return out


def worth_showing(cells: pd.DataFrame, hexagon: np.ndarray) -> np.ndarray:
    """Return which cells the feed and the map show: every polygon and unit, and the H3 hexagons
    with cases, a hot or cold spot or a trend. A city's quiet hexagons are most of its study area;
    the others get no outline (a province's hundred thousand outlines took seconds to draw)."""
    return (
        ~hexagon
        | (cells["n_cases"] > 0).to_numpy()
        | (cells["hot_class"] != NOT_SIGNIFICANT).to_numpy()
        | (cells["trend"] != NO_PATTERN).to_numpy()
    )


def _type_counts(recent: pd.DataFrame, cells: list) -> list[dict[str, int]]:
    """Return per cell its cases' dispute types with counts, commonest first (ties by name)."""
    counts = (
        recent.assign(dispute_type=recent["dispute_type"].fillna("未知"))
        .groupby(["cell", "dispute_type"], observed=True)
        .size()
        .reset_index(name="n")
        .sort_values(["cell", "n", "dispute_type"], ascending=[True, False, True])
    )
    by_cell: dict = {}
    for cell, dispute_type, n in zip(
        counts["cell"], counts["dispute_type"], counts["n"].tolist(), strict=True
    ):
        by_cell.setdefault(cell, {})[dispute_type] = n
    return [by_cell.get(c, {}) for c in cells]


def name_cells(
    cells: pd.DataFrame, cases: pd.DataFrame, system, case_cells: np.ndarray | None = None
) -> pd.DataFrame:
    """Return the cells with H3 hexagons named by the communities their cases come from, with
    shares (龙山区向阳街道新兴社区 62%、…), so that no two rows of a table read the same.
    case_cells: each case's cell (system.cells_of(cases)), when the caller has it."""
    if not isinstance(system, H3Cells) or not (cells["layer"] == "cell").any():
        return cells
    with_place = (cases["lon"].notna() & cases["lat"].notna()).to_numpy()
    located = cases[with_place]
    place = (
        located["district"].fillna("")
        + located["street"].fillna("")
        + located["community"].fillna("")
    ).to_numpy()
    of_located = (
        system.cells_of(located)
        if case_cells is None
        else np.asarray(case_cells, dtype=object)[with_place]
    )
    frame = pd.DataFrame({"cell": of_located, "place": place})
    frame = frame[frame["cell"].notna() & (frame["place"] != "")]
    hexagons = cells["layer"] == "cell"
    named = cells.loc[hexagons, "cell"].map(_place_names(frame))
    labels = cells["label"].where(~hexagons, named.fillna(cells["cell"] + "（周边）"))
    return cells.assign(label=_distinct(labels, cells["cell"], hexagons))


def _place_names(frame: pd.DataFrame) -> dict:
    """Return each cell's name: its one place, or its two commonest places with their shares
    (among equals, the place that appears first)."""
    counts = frame.groupby(["cell", "place"], sort=False).size().reset_index(name="n")
    counts["share"] = counts["n"] / counts.groupby("cell")["n"].transform("sum")
    counts = counts.sort_values(["cell", "n"], ascending=[True, False], kind="stable")
    alone = counts.groupby("cell")["n"].transform("size").eq(1).to_numpy()
    shown = [
        place if only else f"{place} {share:.0%}"
        for place, share, only in zip(counts["place"], counts["share"], alone, strict=True)
    ]
    top = pd.Series(shown, index=counts["cell"].to_numpy()).groupby(level=0, sort=False).head(2)
    cells, names = top.index.to_numpy(), top.to_numpy()
    first = np.r_[True, cells[1:] != cells[:-1]]  # a cell's rows are adjacent, commonest first
    named = dict(zip(cells[first], names[first], strict=True))
    for cell, name in zip(cells[~first], names[~first], strict=True):
        named[cell] += f"、{name}"
    return named


_OCTANTS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")


def _distinct(labels: pd.Series, cells: pd.Series, hexagons: pd.Series) -> pd.Series:
    """Return the labels with hexagons that share one told apart by where each lies among them
    (下锦绣社区（东北部）), and by a number where that is not enough."""
    labels = labels.copy()
    shared = hexagons & labels.duplicated(keep=False)
    told = {}  # set once at the end: a pandas assignment per group cost more than the group
    for _, group in labels[shared].groupby(labels[shared]):
        centres = np.array([h3.cell_to_latlng(c) for c in cells[group.index]])  # (lat, lon)
        offset = centres - centres.mean(axis=0)
        angle = np.degrees(np.arctan2(offset[:, 0], offset[:, 1])) % 360
        octant = [_OCTANTS[int(((a + 22.5) % 360) // 45)] for a in angle]
        for i, name, o in zip(group.index, group, octant, strict=True):
            told[i] = f"{name}（{o}部）"
    labels.update(pd.Series(told, dtype=object))
    repeated = hexagons & labels.duplicated(keep=False)
    numbered = {}
    for _, group in labels[repeated].groupby(labels[repeated]):
        for k, (i, name) in enumerate(group.items(), start=1):
            numbered[i] = f"{name}之{k}"
    labels.update(pd.Series(numbered, dtype=object))
    return labels


KDE_BANDWIDTH_KM = 0.5


def kernel_density(
    cells: list[str], lon: np.ndarray, lat: np.ndarray, bandwidth_km: float = KDE_BANDWIDTH_KM
) -> np.ndarray:
    """Return a Gaussian kernel density of the points at each H3 cell's centre (a naive baseline)."""
    centres = np.array([h3.cell_to_latlng(c) for c in cells]).reshape(-1, 2)  # (lat, lon)
    kx = 111.32 * np.cos(np.radians(np.mean(lat))) if len(lat) else 81.0
    density = np.zeros(len(cells))
    for start in range(0, len(lon), 2000):
        dx = (centres[:, 1][:, None] - lon[None, start : start + 2000]) * kx
        dy = (centres[:, 0][:, None] - lat[None, start : start + 2000]) * 110.57
        density += np.exp(-(dx**2 + dy**2) / (2 * bandwidth_km**2)).sum(axis=1)
    return density


PUBLISHED_FORECAST = "case counts (trend period)"


def forecast_counts(cases: pd.DataFrame, cells: list[str]) -> np.ndarray:
    """Return the published forecast of where the next cases fall: each cell's cases over the
    trend period (10 weeks by default), every case counted once.

    Chosen by the rolling evaluation of bench/hotspots.py over a month's counts, kernel densities
    of either period, the Gi* z and a gradient-boosting model. Places where disputes gather stay
    the same for months (the law of crime concentration: a few micro-places hold most events,
    year after year), so a longer period is a steadier estimate of the same rate than a month.
    """
    return cases.groupby("cell").size().reindex(cells, fill_value=0).to_numpy(float)


GBM_HISTORY_WEEKS = 26  # weeks of weekly counts the gradient-boosting forecast learns from
_GBM_LAGS = (1, 2, 4, 13)  # its features: counts over the last 1, 2, 4 and 13 weeks


def boosted_forecast(
    known: pd.DataFrame,
    day: pd.Timestamp,
    study: list[str],
    neighbours: dict[str, list[str]],
    horizon_days: int = 7,
    weeks: int = GBM_HISTORY_WEEKS,
    seed: int = 0,
) -> np.ndarray:
    """Return the expected 高 cases of each study cell in the next horizon_days, from a
    HunchLab-style gradient-boosting model on cell x week (LightGBM, Poisson).

    Rows are (cell, weekly origin) pairs from the last `weeks` weeks whose next horizon_days were
    known on day; features are the cell's own and its neighbours' counts of all cases and of 高
    cases over the last 1, 2, 4 and 13 weeks before the origin; the target is the cell's 高
    cases in the horizon after it. Nothing after day is read.
    """
    import lightgbm as lgb

    end = pd.Timestamp(day).normalize() + pd.Timedelta(days=1)
    index = pd.Index(study)
    at = index.get_indexer(known["cell"])
    back = ((end - known["reported_at"]) // pd.Timedelta(days=1)).to_numpy()
    inside = (at >= 0) & (back >= 0) & (back < 7 * weeks)  # nothing after day
    week = weeks - 1 - back[inside] // 7  # week weeks-1 ends on day
    high = (known["grade"].to_numpy(object) == HIGH)[inside]
    counts = np.zeros((2, len(study), weeks))
    np.add.at(counts[0], (at[inside], week), 1.0)
    np.add.at(counts[1], (at[inside][high], week[high]), 1.0)
    rows = [i for c in study for i in index.get_indexer(neighbours.get(c, []))]
    cols = [j for j, c in enumerate(study) for _ in neighbours.get(c, [])]
    ring = sparse.csr_matrix((np.ones(len(rows)), (cols, rows)), shape=(len(study),) * 2)
    cumulative = np.concatenate([np.zeros((2, len(study), 1)), counts.cumsum(axis=2)], axis=2)

    def features(origin: int) -> np.ndarray:
        """Features of every cell at an origin (the number of weeks before it that are known)."""
        own = [
            cumulative[k, :, origin] - cumulative[k, :, max(origin - lag, 0)]
            for k in (0, 1)
            for lag in _GBM_LAGS
        ]
        return np.column_stack(own + [ring @ f for f in own])

    ahead = -(-horizon_days // 7)  # weeks of target after an origin
    origins = range(max(_GBM_LAGS), weeks - ahead + 1)
    if not len(origins):
        return np.zeros(len(study))
    X = np.vstack([features(o) for o in origins])
    y = np.concatenate([cumulative[1, :, o + ahead] - cumulative[1, :, o] for o in origins])
    params = {
        "objective": "poisson",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 50,
        "verbose": -1,
        "seed": seed,
        "num_threads": 2,
    }
    model = lgb.train(params, lgb.Dataset(X, y), num_boost_round=200)
    return model.predict(features(weeks))


def _top_cells(scores: pd.Series, share: float) -> set[str]:
    k = max(1, round(share * len(scores)))
    # Ties are broken by cell id so that every method is deterministic.
    return set(sorted(scores.index, key=lambda cell: (-scores[cell], cell))[:k])


def forecast_rankings(
    known: pd.DataFrame,
    day: pd.Timestamp,
    system: H3Cells,
    window_days: int = 28,
    trend_weeks: int = 10,
    horizons: tuple[int, ...] = (7,),
) -> dict[int, dict[str, pd.Series]]:
    """Return, per horizon (days ahead) and method, a score for every study cell from what was
    known on day (its end).

    The study area is the feed's: cells with a case in the trend period and their neighbours.
    Methods: the feed's ranking (Gi* z of the window's risk-weighted counts), the window's case
    counts ("last period"), its risk-weighted counts, a kernel density of its cases and of the
    trend period's, the trend period's counts (the published forecast, forecast_counts), and a
    gradient-boosting model of the horizon's 高 cases (boosted_forecast), the one method that
    depends on the horizon.
    """
    end = pd.Timestamp(day).normalize() + pd.Timedelta(days=1)
    trend = known[known["reported_at"] >= end - pd.Timedelta(weeks=trend_weeks)]
    study = study_cells(trend["cell"])
    neighbours = system.neighbours(study)
    recent = known[known["reported_at"] >= end - pd.Timedelta(days=window_days)]
    weight = recent["grade"].map(GRADE_WEIGHT).fillna(0.1)
    risk = weight.groupby(recent["cell"]).sum().reindex(study, fill_value=0.0)
    z, _ = gi_star(risk.to_numpy(), study, neighbours, permutations=0)

    def density(cases: pd.DataFrame) -> pd.Series:
        lon, lat = cases["lon"].to_numpy(float), cases["lat"].to_numpy(float)
        return pd.Series(kernel_density(study, lon, lat), index=study)

    common = {
        "feed (Gi* z, risk-weighted)": pd.Series(z, index=study),
        "last period's counts": pd.Series(forecast_counts(recent, study), index=study),
        "last period's risk-weighted counts": risk,
        "kernel density (500 m)": density(recent),
        "kernel density (500 m, trend period)": density(trend),
        PUBLISHED_FORECAST: pd.Series(forecast_counts(trend, study), index=study),
    }
    return {
        horizon: {
            **common,
            "gradient boosting (cell x week)": pd.Series(
                boosted_forecast(known, day, study, neighbours, horizon), index=study
            ),
        }
        for horizon in horizons
    }


def pai_evaluation(
    cases: pd.DataFrame,
    days: list[pd.Timestamp],
    shares: tuple[float, ...] = (0.01, 0.05, 0.10),
    horizons: tuple[int, ...] = (7, 28),
    system: H3Cells | None = None,
) -> pd.DataFrame:
    """Return, per evaluation day, horizon, share of area and method, how well the flagged cells
    catch the next days' 高 cases: a rolling evaluation with only what was known on each day.

    hit rate = share of the 高 cases of the next `horizon` days that fall in the flagged cells;
    PAI = hit rate / share of the study area flagged (Chainey's predictive accuracy index);
    PEI* = cases caught / the most any choice of as many cells could have caught (Hunt's
    predictive efficiency index), 1 at best. `cases` has reported_at, lon, lat and grade.
    """
    system = system or H3Cells(8)
    cases = cases.assign(
        cell=system.assign(cases["lon"].to_numpy(float), cases["lat"].to_numpy(float))
    )
    cases = cases[cases["cell"].notna()]
    rows = []
    for day in days:
        day = pd.Timestamp(day).normalize()
        known = cases[cases["reported_at"] < day + pd.Timedelta(days=1)]
        if known.empty:
            continue
        rankings = forecast_rankings(known, day, system, horizons=horizons)
        for horizon in horizons:
            methods = rankings[horizon]
            study = next(iter(methods.values())).index
            ahead = cases[
                (cases["reported_at"] >= day + pd.Timedelta(days=1))
                & (cases["reported_at"] < day + pd.Timedelta(days=1 + horizon))
                & (cases["grade"] == HIGH)
            ]
            per_cell = ahead.groupby("cell").size().reindex(study, fill_value=0)
            total = len(ahead)  # a 高 case outside the study area counts as missed by all
            for share in shares:
                k = max(1, round(share * len(study)))
                best = int(per_cell.sort_values(ascending=False).iloc[:k].sum())
                for name, scores in methods.items():
                    caught = int(per_cell[list(_top_cells(scores, share))].sum())
                    hit_rate = caught / max(total, 1)
                    rows.append(
                        {
                            "day": f"{day:%Y-%m-%d}",
                            "horizon_days": horizon,
                            "share": share,
                            "method": name,
                            "hit_rate": hit_rate,
                            "pai": hit_rate / (k / len(study)),
                            "pei_star": caught / best if best else np.nan,
                            "targets": total,
                            "cells": len(study),
                        }
                    )
    return pd.DataFrame(rows)
