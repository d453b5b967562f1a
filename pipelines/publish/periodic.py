"""The weekly and monthly 稳定专报: the seeds' centres push reports by day, week and month."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.drift import DriftReport
from models.hotspots import H3Cells, PolygonCells, hotspot_cells, name_cells
from pipelines.catalog import is_staged, stage_meta, staged_cases, staged_quarantine
from pipelines.contracts import ModelInfo
from pipelines.publish.report import PERIOD_DAYS, ReportInputs, build_report
from pipelines.publish.watchlist import assign_tickets
from pipelines.store import HistoryStore


def period_report(
    stage_root: Path,
    store: HistoryStore,
    run_date: pd.Timestamp,
    period: str,
    system: H3Cells | PolygonCells | None = None,
    trend_weeks: int = 10,
) -> str:
    """Return the 周报/月报 ending on run_date, from the scored days staged in that period.

    stage_root holds one folder per scored day (scored.parquet, quarantine.parquet, meta.json); the
    comparison period before it comes from the history store.
    """
    days = PERIOD_DAYS[period]
    end = pd.Timestamp(run_date).normalize()
    folders, missing = scored_days(stage_root, end, days)
    if not folders:
        raise FileNotFoundError(
            f"no scored day between {end - pd.Timedelta(days=days - 1):%Y-%m-%d} and "
            f"{end:%Y-%m-%d} under {stage_root}; run fengqiao score for those days first"
        )
    metas = [stage_meta(f) for f in sorted(folders)]
    current = pd.concat([staged_cases(f) for f in folders], ignore_index=True)
    current = store.masked(current)  # a name listed after its day was scored
    current = current.assign(
        p_high=current["p_高"], p_medium=current["p_中"], p_low=current["p_低"]
    )
    ticketed = assign_tickets(current)
    start = end - pd.Timedelta(days=days - 1)
    previous = store.read(start=start - pd.Timedelta(days=days), end=start)
    previous = previous.assign(grade=previous["history_grade"])
    history = store.read(
        start=end - pd.Timedelta(weeks=trend_weeks + 1),
        end=end + pd.Timedelta(days=1),
        exclude_case_ids=set(current["case_id"]),
    )
    history = pd.concat(
        [
            history.assign(grade=history["history_grade"]),
            ticketed[history.columns.intersection(ticketed.columns)],
        ],
        ignore_index=True,
    )
    cells = hotspot_cells(history, end, system, window_days=max(days, 28), trend_weeks=trend_weeks)
    cells = name_cells(cells, history, system or H3Cells())
    quarantine = pd.concat([staged_quarantine(f) for f in folders], ignore_index=True)
    return build_report(
        ReportInputs(
            run_date=end,
            current=current,
            previous=previous,
            ticketed=ticketed,
            cells=cells,
            quarantine=quarantine,
            rows_in=sum(i["rows_in"] for m in metas for i in m["ingest"]),
            model=ModelInfo.from_dict(metas[-1]["model"]),
            drift=DriftReport.from_dict(metas[-1]["drift"]),
            period=period,
            missing_days=tuple(missing),
        )
    )


def scored_days(stage_root: Path, end: pd.Timestamp, days: int) -> tuple[list[Path], list[str]]:
    """Return the staged folders of the period's scored days, and the period's days that were
    not scored (oldest first)."""
    dates = [f"{end - pd.Timedelta(days=k):%Y-%m-%d}" for k in reversed(range(days))]
    present = [d for d in dates if is_staged(stage_root / d)]
    return [stage_root / d for d in present], [d for d in dates if d not in present]
