"""The demo city, fengqiao's embedded default: a year of a 辽源-sized city's dispute reports."""

from __future__ import annotations

from pathlib import Path

from pipelines.demo_city.generate import DemoCity, DemoConfig, generate_demo_city
from pipelines.ingest.dates import parse_datetimes

__all__ = ["DemoCity", "DemoConfig", "generate_demo_city", "write_demo_exports"]


def write_demo_exports(folder: Path, n_cases: int = 45_000, seed: int = 20251231) -> dict:
    """Write the demo city as a centre would hand it over; return the paths and the run date.

    history.csv: every day but the last (UTF-8 with BOM), for training; day-D.csv: the last day
    (GB18030, as many Chinese systems export), for scoring; oracle.parquet: the true class
    probabilities, read only by evaluation.
    """
    city = generate_demo_city(DemoConfig(n_cases=n_cases, seed=seed))
    export = city.export
    # Split by the dates as fengqiao's ingest reads them (pandas alone misses 2025年12月31日10时3分,
    # which would leave a case of the scored day in the training export).
    when = parse_datetimes(export["受理时间"])
    run_date = when.max().normalize()
    # Rows whose date cannot be read stay with the history export, where ingest quarantines them.
    on_day = (when >= run_date).fillna(False).to_numpy()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "history": folder / "history.csv",
        "day": folder / f"day-{run_date:%Y-%m-%d}.csv",
        "oracle": folder / "oracle.parquet",
    }
    export[~on_day].to_csv(paths["history"], index=False, encoding="utf-8-sig")
    export[on_day].to_csv(paths["day"], index=False, encoding="gb18030")
    city.truth.to_parquet(paths["oracle"], index=False)
    return {
        **paths,
        "run_date": f"{run_date:%Y-%m-%d}",
        "history_rows": int((~on_day).sum()),
        "day_rows": int(on_day.sum()),
    }
