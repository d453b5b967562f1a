"""Shared fixtures: a small demo city, its ingested cases with context, and a trained grader."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

# One OpenBLAS kernel for every machine the tests run on, set before NumPy loads OpenBLAS: its
# kernels differ in the last bits by CPU (AVX-512 against AVX2), and a difference in the last bit
# can flip one of the backtest's choices, so the snapshots' numbers would hold on one machine only.
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEDDYCUP = SHARED / "data" / "real" / "teddycup2020C_sample" / "附件2.xlsx"
SECRET = "test-secret-not-for-production"
SMALL_CITY = 4000


@pytest.fixture(scope="session", autouse=True)
def _quiet_environment(tmp_path_factory):
    # Keep Prefect's and MLflow's state out of the user's home during tests.
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # The text model's settings search tries a fixed number of settings rather than filling a
    # time budget: the same choice on a fast or a slow machine, and seconds rather than minutes.
    os.environ.setdefault("FENGQIAO_TEXT_BUDGET_SECONDS", "600")
    os.environ.setdefault("FENGQIAO_TEXT_CANDIDATES", "3")
    yield


@pytest.fixture(scope="session")
def city():
    """Return a small demo city (a year, ~4,000 cases)."""
    from pipelines.demo_city import DemoConfig, generate_demo_city

    return generate_demo_city(DemoConfig(n_cases=SMALL_CITY, seed=11))


@pytest.fixture(scope="session")
def city_csv(city, tmp_path_factory) -> Path:
    """Return the small demo city's export written as a UTF-8 CSV with BOM."""
    path = tmp_path_factory.mktemp("city") / "cases.csv"
    city.export.to_csv(path, index=False, encoding="utf-8-sig")
    return path


@pytest.fixture(scope="session")
def ingested(city_csv):
    """Return the small demo city ingested."""
    from pipelines.ingest import ColumnMapping, ingest_file

    return ingest_file(city_csv, ColumnMapping(), SECRET, dt.date(2025, 12, 31))


@pytest.fixture(scope="session")
def cases_with_context(ingested) -> pd.DataFrame:
    """Return the ingested cases with their point-in-time context features."""
    from features.context import build_context

    return build_context(ingested.cases)


@pytest.fixture(scope="session")
def grader(cases_with_context):
    """Return a risk grader trained on the small city (all but its last month)."""
    from models.grader import GraderConfig, RiskGrader

    train = cases_with_context[cases_with_context["reported_at"] < "2025-12-01"]
    return RiskGrader(GraderConfig(text_candidates=3, text_budget_seconds=600)).fit(train)


@pytest.fixture(scope="session")
def stacked_grader(cases_with_context):
    """Return the grader of the same cases with the boosters kept whatever validation says."""
    from models.grader import GraderConfig, RiskGrader

    train = cases_with_context[cases_with_context["reported_at"] < "2025-12-01"]
    config = GraderConfig(text_candidates=3, text_budget_seconds=600, stack="boosters")
    return RiskGrader(config).fit(train)


@pytest.fixture
def json_snapshot(snapshot):
    """Return syrupy's snapshot, kept as readable JSON in the test module's __snapshots__/."""
    from syrupy.extensions.json import JSONSnapshotExtension

    return snapshot.use_extension(JSONSnapshotExtension)
