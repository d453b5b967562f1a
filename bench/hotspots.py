"""Does the hotspot feed point where the next week's 高 cases happen? PAI and hit rate against baselines.

    python bench/hotspots.py [--cases 45000] [--top 0.05]

For each evaluation day D (weekly, September to December of the demo year) every method ranks the
same study cells (H3 resolution 8) with what was known on D, the top 5% are flagged, and the next
7 days' 高 cases are the target:
  hit rate = share of those 高 cases in flagged cells
  PAI      = hit rate / share of the study area flagged (Chainey's predictive accuracy index)
Methods: the feed (Gi* z on the last 28 days' risk-weighted counts), the last 28 days' case counts,
and a kernel density of the last 28 days' cases (Gaussian, 500 m bandwidth) at the cell centres.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import h3
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write_results
from models.hotspots import H3Cells, hotspot_cells
from pipelines.demo_city import DemoConfig, generate_demo_city
from pipelines.ingest import ColumnMapping, ingest_file

BANDWIDTH_KM = 0.5


def _kde(cells: list[str], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    centres = np.array([h3.cell_to_latlng(c) for c in cells])  # (lat, lon)
    ky = 110.57
    kx = 111.32 * np.cos(np.radians(np.mean(lat))) if len(lat) else 81.0
    density = np.zeros(len(cells))
    for start in range(0, len(lon), 2000):
        dx = (centres[:, 1][:, None] - lon[None, start : start + 2000]) * kx
        dy = (centres[:, 0][:, None] - lat[None, start : start + 2000]) * ky
        density += np.exp(-(dx**2 + dy**2) / (2 * BANDWIDTH_KM**2)).sum(axis=1)
    return density


def _top(scores: pd.Series, share: float) -> set[str]:
    k = max(1, round(share * len(scores)))
    # Ties are broken by cell id so that every method is deterministic.
    ranked = sorted(scores.index, key=lambda cell: (-scores[cell], cell))
    return set(ranked[:k])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    parser.add_argument("--top", type=float, default=0.05)
    args = parser.parse_args()
    city = generate_demo_city(DemoConfig(n_cases=args.cases))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.csv"
        city.export.to_csv(path, index=False, encoding="utf-8-sig")
        cases = ingest_file(
            path, ColumnMapping(), "bench-secret-xxxxxxxx", dt.date(2025, 12, 31)
        ).cases
    cases = cases.assign(grade=cases["risk_grade"], score=np.nan)
    system = H3Cells(8)
    cases["cell"] = system.assign(cases["lon"].to_numpy(float), cases["lat"].to_numpy(float))
    rows = []
    for day in pd.date_range("2025-09-07", "2025-12-21", freq="7D"):
        known = cases[cases["reported_at"] < day + pd.Timedelta(days=1)]
        cells = hotspot_cells(known, day, system, window_days=28, trend_weeks=8).set_index("cell")
        study = list(cells.index)
        recent = known[known["reported_at"] >= day - pd.Timedelta(days=27)]
        future = cases[
            (cases["reported_at"] >= day + pd.Timedelta(days=1))
            & (cases["reported_at"] < day + pd.Timedelta(days=8))
        ]
        targets = future[future["grade"] == "高"]
        methods = {
            "feed (Gi*, risk-weighted)": cells["gi_z"].rename("s"),
            "last-28-day counts": recent.groupby("cell")
            .size()
            .reindex(study, fill_value=0)
            .rename("s")
            .astype(float),
            "kernel density (500 m)": pd.Series(
                _kde(study, recent["lon"].to_numpy(float), recent["lat"].to_numpy(float)),
                index=study,
                name="s",
            ),
        }
        for name, scores in methods.items():
            flagged = _top(scores, args.top)
            hits = targets["cell"].isin(flagged).sum()
            hit_rate = hits / max(len(targets), 1)
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
    table = pd.DataFrame(rows)
    summary = table.groupby("method", sort=False)[["hit_rate", "pai"]].mean()
    print(
        f"Demo city {args.cases:,} cases; top {args.top:.0%} of cells; {table['day'].nunique()} weekly evaluation days; "
        f"machine {machine()}"
    )
    print("| method | hit rate | PAI |\n|---|---:|---:|")
    for name, r in summary.iterrows():
        print(f"| {name} | {r['hit_rate']:.3f} | {r['pai']:.2f} |")
    feed = summary.loc["feed (Gi*, risk-weighted)"]
    ok = all(feed["pai"] > summary.loc[m, "pai"] for m in summary.index if not m.startswith("feed"))
    print(f"{'PASS' if ok else 'FAIL'}  the feed's PAI beats both naive baselines")
    write_results(
        "hotspots",
        {
            "cases": args.cases,
            "top": args.top,
            "summary": summary.reset_index().to_dict("records"),
            "per_day": rows,
            "pass": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
