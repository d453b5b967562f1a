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

import h3
import numpy as np
import pandas as pd
import pymannkendall
from scipy.stats import norm

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


def study_cells(cells: pd.Series) -> list[str]:
    """Return the study area: the given cells and their neighbours, sorted."""
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


def hotspot_cells(
    scored: pd.DataFrame,
    run_date: pd.Timestamp,
    resolution: int = 8,
    window_days: int = 28,
    trend_weeks: int = 8,
) -> pd.DataFrame:
    """Return one row per study cell: counts by grade and type, mean score, Gi*, class and trend.

    `scored` has lon, lat, reported_at, grade, score, dispute_type for cases up to run_date.
    """
    end = pd.Timestamp(run_date).normalize() + pd.Timedelta(days=1)
    start_trend = end - pd.Timedelta(weeks=trend_weeks)
    frame = scored[(scored["reported_at"] >= start_trend) & (scored["reported_at"] < end)].copy()
    frame = frame[frame["lon"].notna() & frame["lat"].notna()]
    if frame.empty:
        return pd.DataFrame()
    frame["cell"] = [
        h3.latlng_to_cell(la, lo, resolution)
        for lo, la in zip(frame["lon"], frame["lat"], strict=True)
    ]
    frame["weight"] = frame["grade"].map(GRADE_WEIGHT).fillna(0.1)
    cells = study_cells(frame["cell"])
    neighbours = h3_neighbours(cells)
    recent = frame[frame["reported_at"] >= end - pd.Timedelta(days=window_days)]

    risk = recent.groupby("cell")["weight"].sum().reindex(cells, fill_value=0.0).to_numpy()
    z, p = gi_star(risk, cells, neighbours)
    labels, level = classify(z, p)
    out = pd.DataFrame(
        {
            "cell": cells,
            "gi_z": z,
            "gi_p": p,
            "hot_class": labels,
            "confidence": level,
            "risk_weight": risk,
        }
    )
    counts = recent.pivot_table(
        index="cell", columns="grade", values="reported_at", aggfunc="count"
    ).reindex(cells)
    for grade in ("高", "中", "低"):
        out[f"n_{grade}"] = counts[grade].fillna(0).astype(int).to_numpy() if grade in counts else 0
    out["n_cases"] = out[["n_高", "n_中", "n_低"]].sum(axis=1)
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
