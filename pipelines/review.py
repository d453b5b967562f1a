"""What the analysts' notebooks read: a published day, the history store, the champion's backtest.

The notebooks import these loaders and the models' functions; they define no logic of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.promotion import registered_name
from pipelines.catalog import (
    DayFiles,
    champion,
    history_store,
    is_staged,
    logged_backtest,
    outputs_root,
    published_days,
    stage_dir,
    staged_cases,
)
from pipelines.config import Settings


@dataclass
class Run:
    """One published day: its scores, quarantine, manifest and feed."""

    folder: Path
    scores: pd.DataFrame
    quarantine: pd.DataFrame
    manifest: dict
    feed: dict
    scored: pd.DataFrame  # the staged, scored cases with their context (no personal data)


def latest_run(home: Path) -> Path:
    """Return the most recent published day's folder under home."""
    root = outputs_root(Settings(home=Path(home)), None)
    days = published_days(root)
    if not days:
        raise FileNotFoundError(f"no published day under {root}; run fengqiao demo or score first")
    return days[-1]


def load_run(home: Path, run: Path | None = None) -> Run:
    """Return a published day (default: the latest) and its staged scored cases."""
    folder = Path(run) if run else latest_run(home)
    settings = Settings(home=Path(home))
    staged = stage_dir(settings, pd.Timestamp(folder.name))
    store = history_store(settings, settings.secret())  # names learnt since that day
    files = DayFiles.of(folder)
    return Run(
        folder=folder,
        scores=pd.read_parquet(files.scores),
        quarantine=pd.read_csv(files.quarantine, encoding="utf-8-sig", dtype=str),
        manifest=json.loads(files.manifest.read_text(encoding="utf-8")),
        feed=json.loads(files.feed.read_text(encoding="utf-8")),
        scored=store.masked(staged_cases(staged)) if is_staged(staged) else pd.DataFrame(),
    )


def load_history(home: Path, end: pd.Timestamp, days: int = 365) -> pd.DataFrame:
    """Return the stored cases of the `days` before end, with the grade history counts them by."""
    settings = Settings(home=Path(home))
    frame = history_store(settings, settings.secret()).read(
        start=end - pd.Timedelta(days=days), end=end + pd.Timedelta(days=1)
    )
    return frame.assign(grade=frame["history_grade"])


@dataclass
class ModelReview:
    """The champion model, its backtest table and its backtest predictions."""

    name: str
    version: str
    grader: object
    table: pd.DataFrame
    predictions: pd.DataFrame


def load_champion(home: Path, target: str = "risk_grade") -> ModelReview:
    """Return the champion model and the backtest its training run logged."""
    pinned = champion(Settings(home=Path(home)), registered_name(target))
    table, predictions = logged_backtest(pinned.name, pinned.version)
    return ModelReview(
        name=pinned.name,
        version=pinned.version,
        grader=pinned.grader,
        table=table,
        predictions=predictions,
    )
