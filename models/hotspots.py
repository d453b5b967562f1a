"""Hotspots for the 平安地图: where risk concentrates, how sure we are, and where it is emerging.

Cells are H3 hexagons (or the centre's own polygons, with neighbours given). The study area is every
cell that had a case in the trend period plus its ring of neighbours, so that quiet cells count as
zeros; Getis-Ord Gi* without them would call every busy place "hot".

The statistic is computed on the risk-weighted count (高 = 1, 中 = 0.5, 低 = 0.1 per case), with
esda's Gi* (binary weights, the cell itself included). Two-sided p-values are corrected for testing
many cells with the Benjamini-Hochberg false-discovery rate: a cell is a hot (cold) spot at 99, 95
or 90% confidence when its p-value passes the FDR cut-off at alpha 0.01, 0.05 or 0.10 and z > 0
(z < 0). Emerging-trend classes follow the space-time pattern-mining vocabulary: a Mann-Kendall test
on each cell's weekly Gi* z-scores over the trend period.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pymannkendall
from scipy.stats import norm

from features.errors import UsageError
from features.geo import h3_cells, wgs84_to_gcj02
from features.places import LEVELS, county_centres, unit_keys, unit_label, unit_level

GRADE_WEIGHT = {"高": 1.0, "中": 0.5, "低": 0.1}
CONFIDENCE = [(0.01, 99), (0.05, 95), (0.10, 90)]
HOT, COLD, NOT_SIGNIFICANT = "热点", "冷点", "不显著"
TREND_CLASSES = {
    "new": "新增热点",
    "intensifying": "加剧热点",
    "persistent": "持续热点",
    "diminishing": "减弱热点",
    "sporadic": "零星热点",
    "none": "无趋势",
}


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
        ring = _oriented_ring(
            np.array([b[1] for b in boundary]), np.array([b[0] for b in boundary]), coordinates
        )
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


def _oriented_ring(
    lon: np.ndarray, lat: np.ndarray, coordinates: str, clockwise: bool = False
) -> list[list[float]]:
    """Return a closed ring, counter-clockwise (exterior) or clockwise (hole) per RFC 7946."""
    if coordinates == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    area = np.sum(lon * np.roll(lat, -1) - np.roll(lon, -1) * lat)
    if (area < 0) != clockwise:
        lon, lat = lon[::-1], lat[::-1]
    ring = [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat, strict=True)]
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
    values: np.ndarray, cells: list[str], neighbours: dict[str, list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Return Gi* z-scores and two-sided p-values of values over cells (esda, binary weights)."""
    import esda
    import libpysal

    if len(values) < MIN_CELLS:
        return np.zeros(len(values)), np.ones(len(values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands and disconnected components
        w = libpysal.weights.W(
            {c: neighbours[c] for c in cells}, id_order=list(cells), silence_warnings=True
        )
        w.transform = "B"
        if np.allclose(values, values[0]):
            return np.zeros(len(values)), np.ones(len(values))
        g = esda.G_Local(values.astype(float), w, transform="B", star=True, permutations=0)
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
    return z, 2 * norm.sf(np.abs(z))


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


def emerging_class(weekly_z: np.ndarray, weekly_hot: np.ndarray) -> str:
    """Return the emerging-trend class of one cell from its weekly Gi* z-scores and hot flags."""
    if not weekly_hot[-1]:
        return "none"
    share_hot = weekly_hot.mean()
    if weekly_hot[:-1].sum() == 0:
        return "new"
    trend = "no trend"
    if len(weekly_z) >= 4 and np.ptp(weekly_z) > 0:
        trend = pymannkendall.original_test(weekly_z, alpha=0.05).trend
    if share_hot >= 0.9:
        return {"increasing": "intensifying", "decreasing": "diminishing"}.get(trend, "persistent")
    return "sporadic"


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
]
MIN_CELLS = 3  # fewer cells than this have no neighbourhood worth testing


def hotspot_cells(
    scored: pd.DataFrame,
    run_date: pd.Timestamp,
    cells_system: H3Cells | PolygonCells | None = None,
    window_days: int = 28,
    trend_weeks: int = 8,
    weighted: bool = True,
) -> pd.DataFrame:
    """Return one row per study cell: counts by grade and type, mean score, Gi*, class and trend.

    `scored` has reported_at, grade, score, dispute_type and, where known, lon/lat and the
    administrative units (district, street, community, grid_id). Cases with coordinates are
    counted in the cells of `cells_system` (layer "cell"); cases without them, in the
    administrative units they name (layer "unit", see AdminUnits); a case that neither locates is
    left out. weighted: count 高/中/低 as 1/0.5/0.1 (risk grades), else every case as 1.
    An empty frame (with every column) when nothing can be located.
    """
    end = pd.Timestamp(run_date).normalize() + pd.Timedelta(days=1)
    start_trend = end - pd.Timedelta(weeks=trend_weeks)
    frame = scored[(scored["reported_at"] >= start_trend) & (scored["reported_at"] < end)]
    frame = frame.assign(
        weight=frame["grade"].map(GRADE_WEIGHT).fillna(0.1) if weighted else 1.0
    ).reset_index(drop=True)
    system = cells_system or H3Cells()
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
    frame: pd.DataFrame, system, layer: str, end: pd.Timestamp, window_days: int, trend_weeks: int
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
            "geometry": [system.geometry(c) for c in cells],
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
    for grade in ("高", "中", "低"):
        out[f"n_{grade}"] = counts[grade].fillna(0).astype(int).to_numpy() if grade in counts else 0
    out["n_cases"] = recent.groupby("cell").size().reindex(cells, fill_value=0).to_numpy()
    out["mean_score"] = recent.groupby("cell")["score"].mean().reindex(cells).round(1).to_numpy()
    by_cell = {
        c: dict(
            sorted(
                g["dispute_type"].fillna("未知").value_counts().items(),
                key=lambda kv: (-kv[1], kv[0]),
            )
        )
        for c, g in recent.groupby("cell")
    }
    out["types"] = [{k: int(v) for k, v in by_cell.get(c, {}).items()} for c in cells]

    # Weekly Gi* for the emerging-trend classes.
    week = ((frame["reported_at"] - start_trend) // pd.Timedelta(weeks=1)).clip(0, trend_weeks - 1)
    weekly_z = np.zeros((len(cells), trend_weeks))
    weekly_hot = np.zeros((len(cells), trend_weeks), bool)
    for k in range(trend_weeks):
        values = (
            frame[week == k]
            .groupby("cell")["weight"]
            .sum()
            .reindex(cells, fill_value=0.0)
            .to_numpy()
        )
        zk, pk = gi_star(values, cells, neighbours)
        _, lv = classify(zk, pk)
        weekly_z[:, k], weekly_hot[:, k] = zk, (lv > 0) & (zk > 0)
    out["trend"] = [
        TREND_CLASSES[emerging_class(weekly_z[i], weekly_hot[i])] for i in range(len(cells))
    ]
    out["weeks_hot"] = weekly_hot.sum(axis=1)
    return out


def name_cells(cells: pd.DataFrame, cases: pd.DataFrame, system) -> pd.DataFrame:
    """Return the cells with H3 hexagons named by the communities their cases come from, with
    shares (龙山区向阳街道新兴社区 62%、…), so that no two rows of a table read the same."""
    if not isinstance(system, H3Cells) or not (cells["layer"] == "cell").any():
        return cells
    located = cases[cases["lon"].notna() & cases["lat"].notna()]
    place = (
        located["district"].fillna("")
        + located["street"].fillna("")
        + located["community"].fillna("")
    ).to_numpy()
    frame = pd.DataFrame({"cell": system.cells_of(located), "place": place})
    frame = frame[frame["cell"].notna() & (frame["place"] != "")]
    names = {}
    for cell, group in frame.groupby("cell"):
        shares = group["place"].value_counts(normalize=True)
        top = [f"{name} {share:.0%}" for name, share in shares.head(2).items()]
        names[cell] = "、".join(top) if len(shares) > 1 else shares.index[0]
    hexagons = cells["layer"] == "cell"
    named = cells.loc[hexagons, "cell"].map(names)
    labels = cells["label"].where(~hexagons, named.fillna(cells["cell"] + "（周边）"))
    return cells.assign(label=_distinct(labels, cells["cell"], hexagons))


_OCTANTS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")


def _distinct(labels: pd.Series, cells: pd.Series, hexagons: pd.Series) -> pd.Series:
    """Return the labels with hexagons that share one told apart by where each lies among them
    (下锦绣社区（东北部）), and by a number where that is not enough."""
    labels = labels.copy()
    shared = hexagons & labels.duplicated(keep=False)
    for _, group in labels[shared].groupby(labels[shared]):
        centres = np.array([h3.cell_to_latlng(c) for c in cells[group.index]])  # (lat, lon)
        offset = centres - centres.mean(axis=0)
        angle = np.degrees(np.arctan2(offset[:, 0], offset[:, 1])) % 360
        octant = [_OCTANTS[int(((a + 22.5) % 360) // 45)] for a in angle]
        labels[group.index] = [f"{name}（{o}部）" for name, o in zip(group, octant, strict=True)]
    repeated = hexagons & labels.duplicated(keep=False)
    for _, group in labels[repeated].groupby(labels[repeated]):
        labels[group.index] = [f"{name}之{k}" for k, name in enumerate(group, start=1)]
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


def _top_cells(scores: pd.Series, share: float) -> set[str]:
    k = max(1, round(share * len(scores)))
    # Ties are broken by cell id so that every method is deterministic.
    return set(sorted(scores.index, key=lambda cell: (-scores[cell], cell))[:k])


def pai_evaluation(
    cases: pd.DataFrame,
    days: list[pd.Timestamp],
    top: float = 0.05,
    horizon_days: int = 7,
    system: H3Cells | None = None,
) -> pd.DataFrame:
    """Return, per evaluation day and method, the hit rate and PAI of the top cells for the next days' 高 cases.

    Methods, all ranking the same study cells with what was known on the day: the feed (Gi* z of the
    last 28 days' risk-weighted counts), the last 28 days' case counts, and a kernel density of those
    cases. PAI = hit rate / share of the study area flagged (Chainey's predictive accuracy index).
    `cases` has reported_at, lon, lat, grade (staff or predicted) and dispute_type.
    """
    system = system or H3Cells(8)
    cases = cases.assign(
        cell=system.assign(cases["lon"].to_numpy(float), cases["lat"].to_numpy(float))
    )
    rows = []
    for day in days:
        day = pd.Timestamp(day).normalize()
        known = cases[cases["reported_at"] < day + pd.Timedelta(days=1)]
        cells = hotspot_cells(known, day, system, window_days=28, trend_weeks=8)
        if cells.empty:
            continue
        cells = cells.set_index("cell")
        study = list(cells.index)
        recent = known[known["reported_at"] >= day - pd.Timedelta(days=27)]
        ahead = cases[
            (cases["reported_at"] >= day + pd.Timedelta(days=1))
            & (cases["reported_at"] < day + pd.Timedelta(days=1 + horizon_days))
        ]
        targets = ahead[ahead["grade"] == "高"]
        methods = {
            "feed (Gi*, risk-weighted)": cells["gi_z"],
            "last-28-day counts": recent.groupby("cell")
            .size()
            .reindex(study, fill_value=0)
            .astype(float),
            "kernel density (500 m)": pd.Series(
                kernel_density(study, recent["lon"].to_numpy(float), recent["lat"].to_numpy(float)),
                index=study,
            ),
        }
        for name, scores in methods.items():
            flagged = _top_cells(scores, top)
            hit_rate = targets["cell"].isin(flagged).sum() / max(len(targets), 1)
            rows.append(
                {
                    "day": f"{day:%Y-%m-%d}",
                    "method": name,
                    "hit_rate": hit_rate,
                    "pai": hit_rate / (len(flagged) / len(study)),
                    "targets": len(targets),
                    "cells": len(study),
                }
            )
    return pd.DataFrame(rows)
