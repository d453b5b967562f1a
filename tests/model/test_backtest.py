"""The backtest: the baselines give the same results whether they run inline or in their own process."""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest

import models.backtest
from models.backtest import run_backtest
from models.grader import GraderConfig, RiskGrader

pytestmark = pytest.mark.xdist_group("model")

SMALL = GraderConfig(word_features=200, char_features=100, max_rounds=20, n_jobs=2)


def test_baselines_in_their_own_process_match_inline(cases_with_context, monkeypatch):
    monkeypatch.setattr(models.backtest, "BACKGROUND_MIN_CASES", 10**9)
    inline = run_backtest(cases_with_context, SMALL)
    monkeypatch.setattr(models.backtest, "BACKGROUND_MIN_CASES", 0)
    background = run_backtest(cases_with_context, SMALL)

    assert "baselines_wait" in background.seconds and "baselines_wait" not in inline.seconds
    assert set(inline.table["model"]) == {"lightgbm", "tfidf_lr", "keyword_checklist"}
    # Same models in the same order, same metrics, same predictions.
    pd.testing.assert_frame_equal(background.table, inline.table)
    pd.testing.assert_frame_equal(background.predictions, inline.predictions)
    for fold in inline.folds:
        assert f"{fold.name}/tfidf_lr" in background.seconds


def test_a_failing_grader_does_not_leave_the_baselines_running(cases_with_context, monkeypatch):
    monkeypatch.setattr(models.backtest, "BACKGROUND_MIN_CASES", 0)

    def fail(self, cases, dask_client=None):
        raise RuntimeError("grader failed")

    monkeypatch.setattr(RiskGrader, "fit", fail)
    with pytest.raises(RuntimeError, match="grader failed"):
        run_backtest(cases_with_context, SMALL)
    assert multiprocessing.active_children() == []


def test_an_error_in_the_background_process_is_raised_with_its_traceback():
    with models.backtest._in_background(int, "高") as result:
        with pytest.raises(RuntimeError, match="(?s)int failed in its process.*ValueError: invalid literal"):
            result()


def test_a_background_process_that_dies_is_an_error_not_a_hang():
    import os

    with models.backtest._in_background(os._exit, 3) as result:
        with pytest.raises(RuntimeError, match=r"_exit died in its process \(exit code 3\)"):
            result()
