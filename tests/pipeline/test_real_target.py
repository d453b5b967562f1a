"""`fengqiao train --target` on real complaints: the Teddy Cup sample's first-level category."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import SECRET, TEDDYCUP

pytestmark = pytest.mark.xdist_group("real-flows")
MAPPING = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "teddycup_mapping.yaml"


def test_train_any_label_column_through_a_mapping(prefect_server, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--cases",
            str(TEDDYCUP),
            "--mapping",
            str(MAPPING),
            "--target",
            "一级分类",
            "--no-backtest",
            "--home",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fengqiao-一级分类 v1" in result.output and "promoted to champion" in result.output


def test_cross_validated_accuracy_next_to_tfidf_lr():
    from features.context import build_context
    from models.backtest import cross_validated_accuracy
    from models.grader import GraderConfig
    from pipelines.ingest import ingest_file, load_mapping

    ingested = ingest_file(TEDDYCUP, load_mapping(MAPPING), SECRET, dt.date(2020, 12, 31))
    cv = cross_validated_accuracy(
        build_context(ingested.cases),
        GraderConfig(target="label:一级分类", text_candidates=2, text_budget_seconds=600),
        n_splits=5,
    )
    summary = cv.groupby("model")[["accuracy", "macro_f1"]].mean()
    print(
        "\nTeddy Cup 2020 C sample, 一级分类 (7 classes, 494 messages), 5-fold CV:\n"
        + summary.to_string()
    )
    # Chance is 1/7 and the majority class is 21%; both models must be far above either.
    assert (summary["accuracy"] > 0.5).all()
    assert summary.loc["lightgbm", "macro_f1"] > 0.5
