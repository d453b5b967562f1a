"""The backtest: the baselines give the same results whether they run inline or in their own process,
and LightGBM's threads do not spin against that process."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import models.backtest
from features.parallel import Plan, in_background
from models.backtest import run_backtest
from models.grader import GraderConfig, RiskGrader
from models.metrics import caught_by_riskiest, observed_outcomes, outcome_metrics

pytestmark = pytest.mark.xdist_group("model")

SMALL = GraderConfig(text_candidates=2, text_budget_seconds=600, max_rounds=20, n_jobs=2)


def test_baselines_in_their_own_process_match_inline(cases_with_context, monkeypatch):
    monkeypatch.setattr(models.backtest, "plan", lambda rows, n_jobs: Plan("serial", 1))
    inline = run_backtest(cases_with_context, SMALL)
    monkeypatch.setattr(models.backtest, "plan", lambda rows, n_jobs: Plan("processes", 2))
    background = run_backtest(cases_with_context, SMALL)

    assert "baselines_wait" in background.seconds and "baselines_wait" not in inline.seconds
    assert set(inline.table["model"]) == {"lightgbm", "tfidf_lr", "keyword_checklist"}
    # Same models in the same order, same metrics, same predictions.
    pd.testing.assert_frame_equal(background.table, inline.table)
    pd.testing.assert_frame_equal(background.predictions, inline.predictions)
    for fold in inline.folds:
        assert f"{fold.name}/tfidf_lr" in background.seconds


def test_a_failing_grader_does_not_leave_the_baselines_running(cases_with_context, monkeypatch):
    monkeypatch.setattr(models.backtest, "plan", lambda rows, n_jobs: Plan("processes", 2))

    def fail(self, cases, dask_client=None):
        raise RuntimeError("grader failed")

    monkeypatch.setattr(RiskGrader, "fit", fail)
    # Other tests' loky workers may be alive in this process; only a new child would be ours.
    before = set(multiprocessing.active_children())
    with pytest.raises(RuntimeError, match="grader failed"):
        run_backtest(cases_with_context, SMALL)
    assert set(multiprocessing.active_children()) - before == set()


def test_an_error_in_the_background_process_is_raised_with_its_traceback():
    with (
        in_background(functools.partial(int, "高"), "spawn") as result,
        pytest.raises(ValueError, match="invalid literal") as failed,
    ):
        result()
    assert re.search(
        r"(?s)int failed in its process.*ValueError: invalid", failed.value.__notes__[0]
    )


def test_a_background_process_that_dies_is_an_error_not_a_hang():
    with (
        in_background(functools.partial(os._exit, 3), "spawn") as result,
        pytest.raises(RuntimeError, match=r"_exit died in its process \(exit code 3\)"),
    ):
        result()


@pytest.mark.parametrize(("given", "expected"), [(None, "1000"), ("50", "50")])
def test_the_models_package_sets_the_openmp_spin_count_before_lightgbm_loads(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if given is not None:
        env["GOMP_SPINCOUNT"] = given
    code = "import models.grader, os, sys; print(os.environ['GOMP_SPINCOUNT'], 'lightgbm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == [expected, "True"]


def test_outcome_metrics_count_the_escalations_the_tickets_caught_and_the_workload():
    escalated = np.array([1, 1, 0, 0, 0, 0, 1, 0], bool)
    risk = np.array([0.9, 0.2, 0.8, 0.1, 0.1, 0.1, 0.7, 0.3])
    ticketed = risk >= 0.5
    days = np.repeat(np.array(["2026-01-01", "2026-01-02"], "datetime64[D]"), 4)
    out = outcome_metrics(escalated, risk, ticketed, days, capacity=1)
    assert out["escalation_caught"] == pytest.approx(2 / 3)
    assert out["ticketed_share"] == pytest.approx(3 / 8)
    # Each day's riskiest case: 0.9 (escalated) and 0.7 (escalated); the base rate is 3/8.
    assert out["escalation_lift"] == pytest.approx(1 / (3 / 8))
    assert outcome_metrics(np.zeros(8, bool), risk, ticketed, days) == {}


def test_caught_by_riskiest_compares_gradings_at_the_same_number_of_tickets():
    escalated = np.array([0, 1, 0, 1, 0], bool)
    risk = np.array([0.9, 0.8, 0.7, 0.1, 0.6])
    assert caught_by_riskiest(escalated, risk, 1) == 0.0
    assert caught_by_riskiest(escalated, risk, 2) == 0.5
    assert caught_by_riskiest(escalated, risk, 5) == 1.0


def test_outcomes_past_the_export_s_follow_up_horizon_are_not_counted():
    # 否 is recorded only once a case's follow-up is over: in the last days only escalations
    # are known, and counting them would credit any grading.
    days = pd.date_range("2026-01-01", periods=6).repeat(4)
    escalated = pd.Series(
        [False, False, True, None] * 4 + [True, None, None, None] * 2, dtype="boolean"
    )
    observed = observed_outcomes(escalated, pd.Series(days))
    assert observed.tolist() == [True, True, True, False] * 4 + [False] * 8
    assert not observed_outcomes(
        pd.Series([None, None], dtype="boolean"), pd.Series(days[:2])
    ).any()
