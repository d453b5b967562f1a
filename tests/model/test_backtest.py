"""The backtest: the baselines give the same results whether they run inline or in their own process,
and LightGBM's threads do not spin against that process."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

import models.backtest
from features.parallel import Plan, in_background
from models.backtest import run_backtest
from models.grader import GraderConfig, RiskGrader

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
