"""Drift over the last week of scored days: read from the staged days, sampled when it is large."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines import steps
from pipelines.config import Settings

pytestmark = pytest.mark.xdist_group("model")


def _scored(grader, cases):
    return cases.merge(grader.predict(cases), on="case_id", validate="one_to_one")


def test_drift_covers_the_staged_week_and_samples_a_large_one(
    grader, cases_with_context, tmp_path, monkeypatch
):
    settings = Settings.at(str(tmp_path))
    day = cases_with_context["reported_at"].max().normalize()
    days = cases_with_context["reported_at"].dt.normalize()
    today = _scored(grader, cases_with_context[days == day])
    yesterday = _scored(grader, cases_with_context[days == day - pd.Timedelta(days=1)])
    steps.stage_day(settings, day - pd.Timedelta(days=1), yesterday, pd.DataFrame(), {})

    full = steps._drift(settings, day, today, grader, None)
    assert full.rows == full.sampled_from == len(today) + len(yesterday)
    assert set(full.psi) >= {"score", "text_length", "lex_threat", "channel"}

    half = full.rows // 2
    monkeypatch.setattr(steps, "DRIFT_SAMPLE", half)
    sampled = steps._drift(settings, day, today, grader, None)
    assert sampled.sampled_from == full.rows
    assert abs(sampled.rows - half) <= 1  # each day gives the same share
    assert steps._drift(settings, day, today, grader, None) == sampled  # seeded: re-runs agree


def test_an_input_no_case_has_gets_no_psi_and_the_report_says_so():
    """Exports without coordinates have no geo_n_30: its PSI is null (the manifest stays strict
    JSON, which a browser's JSON.parse reads) and the report says 无数据, not nan."""
    import json

    import numpy as np

    from models.drift import drift_report
    from pipelines.publish.report import _drift_lines

    reference = {"score": np.linspace(0, 100, 200), "features": {"geo_n_30": np.ones(200)}}
    report = drift_report(
        reference, np.linspace(0, 100, 150), {"geo_n_30": np.full(150, np.nan)}, {}
    )
    assert report.psi["geo_n_30"] is None and isinstance(report.psi["score"], float)
    assert "geo_n_30" not in report.flagged
    json.dumps(report.as_dict(), allow_nan=False)  # raises on NaN
    table = "\n".join(_drift_lines(report))
    assert "| geo_n_30 | 无数据 |" in table and "nan" not in table
