"""Does the map point where the next days' 高 cases happen? A rolling evaluation against baselines.

    python bench/hotspots.py [--cases 45000]

For each evaluation day D (weekly over the demo's last 8 weeks that leave 28 days to look ahead)
every method ranks the same study cells (H3 resolution 8) with what was known on D; the top 1%, 5%
and 10% of the area are flagged, and the 高 cases of the next 7 and 28 days are the target:
  hit rate = share of those 高 cases in flagged cells
  PAI      = hit rate / share of the study area flagged (Chainey's predictive accuracy index)
  PEI*     = cases caught / the most as many cells could have caught (Hunt's efficiency index)
Methods (models.hotspots.forecast_rankings): the feed's Gi* z on the last 28 days' risk-weighted
counts, last period's counts, last period's risk-weighted counts, a kernel density (500 m) of the
last 28 days and of the trend period (10 weeks), the trend period's counts, and a HunchLab-style
gradient-boosting model on cell x week. The feed publishes the method this evaluation chose
(models.hotspots.PUBLISHED_FORECAST) as forecast_rank; the checks compare it with last period's
counts and the kernel density.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ingest_demo, machine, write_results
from models.hotspots import PUBLISHED_FORECAST, H3Cells, pai_evaluation
from pipelines.demo_city import DemoConfig, generate_demo_city


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    args = parser.parse_args()
    city = generate_demo_city(DemoConfig(n_cases=args.cases))
    cases = ingest_demo(city).cases
    cases = cases.assign(grade=cases["risk_grade"], score=np.nan)
    last = cases["reported_at"].max().normalize() - pd.Timedelta(days=28)
    days = [last - pd.Timedelta(weeks=k) for k in range(7, -1, -1)]
    table = pai_evaluation(cases, days, system=H3Cells(8))
    summary = (
        table.groupby(["horizon_days", "share", "method"], sort=False)[
            ["hit_rate", "pai", "pei_star"]
        ]
        .mean()
        .reset_index()
    )
    print(
        f"Demo city {args.cases:,} cases; {len(days)} weekly evaluation days "
        f"{days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}; machine {machine()}"
    )
    print("| ahead | area | method | hit rate | PAI | PEI* |\n|---|---:|---|---:|---:|---:|")
    for r in summary.itertuples():
        print(
            f"| {r.horizon_days} d | {r.share:.0%} | {r.method} | {r.hit_rate:.3f} | {r.pai:.2f} | {r.pei_star:.3f} |"
        )
    at5 = summary[summary["share"] == 0.05].set_index(["horizon_days", "method"])["pai"]
    published = PUBLISHED_FORECAST  # the feed's forecast_rank
    checks = []
    for horizon in (7, 28):
        for other in ("last period's counts", "kernel density (500 m)"):
            ok = at5[(horizon, published)] >= at5[(horizon, other)]
            checks.append(ok)
            print(
                f"{'PASS' if ok else 'FAIL'}  {horizon}-day PAI at 5%: published ranking ({published}) "
                f"{at5[(horizon, published)]:.2f} vs {other} {at5[(horizon, other)]:.2f}"
            )
    write_results(
        "hotspots",
        {
            "cases": args.cases,
            "days": [f"{d:%Y-%m-%d}" for d in days],
            "summary": summary.to_dict("records"),
            "per_day": table.to_dict("records"),
            "pass": all(checks),
        },
    )
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
