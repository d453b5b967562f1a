"""Champion/challenger: promotion is a recorded decision on the same backtest."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from models.grader import GraderConfig
from models.registry import CHALLENGER, CHAMPION, ChampionMissing, load_model, setup_tracking
from pipelines import steps
from pipelines.config import Settings
from tests.privacy import personal_data

pytestmark = pytest.mark.xdist_group("model")

WEAK = GraderConfig(
    word_features=0,
    char_features=0,
    text_model=False,
    num_leaves=2,
    max_rounds=2,
    early_stopping_rounds=1,
    learning_rate=0.02,
)
GOOD = GraderConfig(word_features=300, char_features=200)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("registry"))
    setup_tracking(settings.mlflow_uri(), settings.mlflow_dir / "artifacts")
    return settings


@pytest.fixture(scope="module")
def history(settings, cases_with_context, ingested):
    """Train weak (first), good (better), weak again (worse); return the three outcomes."""
    name = "test-risk"
    outcomes = [
        steps.train_and_register(cases_with_context, ingested, settings, config, name)
        for config in (WEAK, GOOD, WEAK)
    ]
    return name, outcomes


def test_the_first_model_becomes_champion(history):
    _, (first, _, _) = history
    assert first.decision.promoted and "no champion yet" in first.decision.reason


def test_a_better_challenger_is_promoted_on_the_same_folds(history):
    _, (first, better, _) = history
    decision = better.decision
    assert decision.promoted
    assert decision.champion_version == first.version
    # The weak champion was trained on the same data, so its configuration was re-run on the same folds.
    assert "retrained on the same 3 folds" in decision.evaluation
    assert decision.challenger["macro_f1"] > decision.champion["macro_f1"]
    assert decision.challenger["log_loss"] <= decision.champion["log_loss"]


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
    assert [e["decision"] for e in entries] == ["promoted", "promoted", "refused"]


def test_nightly_scoring_always_loads_the_champion(history, settings):
    name, (_, better, _) = history
    _, version = steps.champion(settings, name)
    assert version == better.version  # the refused challenger v3 is never what scoring loads


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
