"""Where fengqiao keeps things: the one module that spells out the data folder's layout.

    DATA/store/cases/month=YYYY-MM/<batch>.parquet   the history store (pipelines.store)
    DATA/scored/D/                                   day D staged by the risk grader
    DATA/scored/<model>/D/                           ... by any other registered model
    DATA/outputs/D/                                  day D published by the risk grader
    DATA/outputs/<model>/D/                          ... by any other model (e.g. a dispute-type model)
    DATA/mlflow/                                     the MLflow store (sqlite and artifacts)

A model other than the risk grader publishes into its own folder, so that a dispute-type model
scored on the same night never replaces the dispatchers' risk watchlist.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.config import Settings

RISK_MODEL = "fengqiao-risk"


def _own_folder(model_name: str | None) -> list[str]:
    return [] if model_name in (None, RISK_MODEL) else [model_name]


def stage_dir(settings: Settings, day: pd.Timestamp, model_name: str | None = None) -> Path:
    """Return the folder where day D's scored cases wait for publishing."""
    return settings.home.joinpath("scored", *_own_folder(model_name), f"{day:%Y-%m-%d}")


def outputs_root(settings: Settings, out: str | Path | None, model_name: str | None = None) -> Path:
    """Return the folder that holds the published days: --out if given, else DATA/outputs[/model]."""
    if out:
        return Path(out)
    return settings.outputs_dir.joinpath(*_own_folder(model_name))
