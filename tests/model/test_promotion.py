"""Champion/challenger: promotion is a recorded decision on the same backtest."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import mlflow
import pytest

from models.grader import GraderConfig
from models.promotion import CHALLENGER, CHAMPION
from pipelines import steps
from pipelines.catalog import (
    ChampionMissing,
    _warn_on_other_versions,
    champion,
    connect,
    load_model,
    load_version,
    tracking_uri,
)
from pipelines.config import Settings
from pipelines.contracts import TrainRequest
from tests.privacy import personal_data

pytestmark = pytest.mark.xdist_group("model")

FAST = {"text_candidates": 2, "text_budget_seconds": 600, "cross_fit_folds": 3}
WEAK = GraderConfig(
    stack="boosters",
    text_budget_seconds=0,
    text_max_features=5,
    num_leaves=2,
    min_child_samples=1_000_000,  # no split: one score for every case
    max_rounds=2,
    early_stopping_rounds=1,
    learning_rate=0.02,
    cross_fit_folds=3,
)
GOOD = GraderConfig(**FAST)


# Session scope: xdist may run other modules' tests between these, and module fixtures would then
# train the four models again.
@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("registry"))
    connect(settings)
    return settings


@pytest.fixture(scope="session")
def history(settings, cases_with_context, ingested):
    """Train weak (first), good (first to beat the baselines), weak again (worse), good again
    (better than weak, compared on the same folds); return the outcomes."""
    name = "test-risk"
    outcomes = [
        steps.train_and_register(cases_with_context, ingested, settings, TrainRequest(config, name))
        for config in (WEAK, GOOD, WEAK)
    ]
    return name, outcomes


def test_a_first_model_that_does_not_beat_the_baselines_stays_challenger(history):
    name, (weak, _, _) = history
    decision = weak.decision
    assert not decision.promoted and decision.champion_version is None
    assert "does not beat the baseline" in decision.reason and "tfidf_lr" in decision.reason
    tags = mlflow.MlflowClient().get_model_version(name, weak.version).tags
    assert tags["promotion.decision"] == "refused"


def test_the_first_model_that_beats_the_baselines_becomes_champion(history):
    _, (_, good, _) = history
    decision = good.decision
    assert decision.promoted and "beats every baseline" in decision.reason
    overall = good.backtest.table[good.backtest.table["fold"] == "overall"].set_index("model")
    assert overall.loc["lightgbm", "macro_f1"] > overall.loc["tfidf_lr", "macro_f1"]
    assert overall.loc["lightgbm", "macro_f1"] > overall.loc["keyword_checklist", "macro_f1"]


def test_a_worse_challenger_is_refused_and_the_decision_is_recorded(history):
    name, (_, better, worse) = history
    assert not worse.decision.promoted
    client = mlflow.MlflowClient()
    tags = client.get_model_version(name, worse.version).tags
    assert tags["promotion.decision"] == "refused"
    assert float(tags["promotion.challenger.macro_f1"]) < float(tags["promotion.champion.macro_f1"])
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == worse.version
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == better.version
    champion_tags = client.get_model_version(name, better.version).tags
    assert "champion.since" in champion_tags
    entries = json.loads(client.get_registered_model(name).tags["champion.history"])
    assert [e["decision"] for e in entries] == ["refused", "promoted", "refused"]
    # The weak model was trained on the same data as the champion, so the champion's
    # configuration was re-run on the same folds.
    assert "retrained on the same" in worse.decision.evaluation


def test_nightly_scoring_always_loads_the_champion(history, settings):
    name, (_, better, _) = history
    pinned = champion(settings, name)
    assert pinned.version == better.version  # the refused challenger v3 is never what scoring loads
    # the pinned version is the one scoring partitions load, from the same cache: loaded once
    assert load_version(tracking_uri(settings), name, pinned.version) is pinned.model


def test_a_model_pinned_to_other_package_versions_is_named_at_load():
    requirements = f"numpy=={metadata.version('numpy')}\nlightgbm==0.0.1\nno-such-package==1.0\n"
    with pytest.warns(UserWarning) as caught:
        _warn_on_other_versions(requirements, "risk version 3")
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith(
        "risk version 3 was trained with lightgbm==0.0.1; this environment"
    )
    assert "no-such-package==1.0; this environment has no version of it" in messages[1]


def test_no_champion_is_a_clear_error(settings):
    with pytest.raises(ChampionMissing, match="fengqiao train"):
        load_model("no-such-model")


def test_the_model_carries_its_signature_and_a_masked_example(history, city):
    name, (_, better, _) = history
    info = mlflow.models.get_model_info(f"models:/{name}/{better.version}")
    inputs = {c.name for c in info.signature.inputs.inputs}
    assert {"description", "reported_at", "channel", "hist_party_n_30", "grp_channels"} <= inputs
    assert not inputs & {"party_keys", "parties", "party_phone", "party_id_number"}
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{better.version}"))
    example = (folder / "input_example.json").read_text(encoding="utf-8")
    assert "当事人" in json.loads(example)["data"][0][1] or "description" in example
    secrets = personal_data(city.export)
    assert not [s for s in secrets if s in example]


def test_an_empty_or_missing_backtest_promotes_nothing_over_a_champion(settings):
    import pandas as pd

    from models.backtest import BacktestResult
    from models.promotion import decide_first

    empty = BacktestResult(
        table=pd.DataFrame(columns=["fold", "model", "macro_f1"]),
        predictions=pd.DataFrame(),
        folds=[],
        classes=["低", "中", "高"],
    )
    promoted, reason = decide_first(empty)
    assert not promoted and "no test cases" in reason
    promoted, reason = decide_first(None)  # --no-backtest, asked for by the user
    assert promoted and "--no-backtest" in reason


def test_folds_follow_the_data():
    import numpy as np
    import pandas as pd

    from models.backtest import MIN_TEST_CASES, InsufficientData, plan_folds

    # A busy centre: three 30-day windows at the end.
    busy = pd.Series(pd.date_range("2025-01-01", "2025-12-31", periods=3000))
    y = np.arange(3000) % 3
    folds = plan_folds(busy, y)
    assert [f.end - f.origin for f in folds] == [pd.Timedelta(days=30)] * 3
    # 495 cases over eight years: 30-day windows would be nearly empty; blocks of cases instead.
    sparse_ = pd.Series(pd.date_range("2012-01-01", "2020-01-01", periods=495))
    y = np.arange(495) % 7
    folds = plan_folds(sparse_, y)
    assert len(folds) == 3
    for fold in folds:
        test = ((sparse_ >= fold.origin) & (sparse_ < fold.end)).sum()
        assert test >= MIN_TEST_CASES and (sparse_ < fold.origin).sum() >= 100
    # Too few for any honest fold: a message with the number needed and the way out.
    with pytest.raises(InsufficientData, match=r"at least 130.*--no-backtest"):
        plan_folds(sparse_[:120], y[:120])


def test_graders_registered_as_models_registry_still_unpickle():
    """Before pipelines.catalog owned MLflow, the pyfunc wrapper lived in models.registry; a
    champion registered then is still loaded by that name."""
    import pickle

    from pipelines import catalog

    assert pickle.loads(b"cmodels.registry\nGraderModel\n.") is catalog.GraderModel
