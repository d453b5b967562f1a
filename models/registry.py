"""MLflow: runs, the grader as one pyfunc model, registered names, aliases and promotion decisions.

Aliases: `challenger` is the newest candidate, `champion` what nightly scoring loads. Nightly
scoring loads models:/NAME@champion and never names a version or a path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sqlalchemy.exc import OperationalError

from models.backtest import BacktestResult
from models.grader import GraderConfig, RiskGrader
from models.metrics import grade_metrics

CHAMPION, CHALLENGER = "champion", "challenger"
EXPERIMENT = "fengqiao"
_REQUIREMENTS = [
    "lightgbm",
    "scikit-learn",
    "scipy",
    "numpy",
    "pandas",
    "pyarrow",
    "rjieba",
    "jieba",
    "opencc",
    "pyyaml",
    "chinese-calendar",
    "h3",
    "joblib",
    "mlflow",
]


class ChampionMissing(Exception):
    """No model carries the champion alias: train (and promote) one first."""


class TrackingStoreError(Exception):
    """The MLflow store cannot be used: it is missing, locked or unreadable."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """Return the database file of a sqlite:/// tracking URI, or None for other stores."""
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


@contextlib.contextmanager
def store_access(tracking_uri: str) -> Iterator[None]:
    """Turn the store's database errors into a TrackingStoreError that says what to do."""
    try:
        yield
    except (OperationalError, sqlite3.OperationalError, MlflowException) as error:
        text = str(error)
        if "locked" in text:
            raise TrackingStoreError(
                f"the MLflow store {tracking_uri} is locked by another process (a training run "
                "or an MLflow UI writing to it). Wait for it to finish and run again; nothing "
                "was written."
            ) from None
        if isinstance(error, MlflowException) and not isinstance(error.__cause__, OperationalError):
            raise
        raise TrackingStoreError(
            f"cannot use the MLflow store {tracking_uri}: {text.splitlines()[0]}. Check that the "
            "file is a readable MLflow database, or set FENGQIAO_TRACKING_URI to the centre's store."
        ) from None


class GraderModel(mlflow.pyfunc.PythonModel):
    """The fitted RiskGrader (featuriser, booster, calibrator, thresholds) as one MLflow model."""

    def load_context(self, context) -> None:
        self.grader: RiskGrader = joblib.load(context.artifacts["grader"])

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        params = params or {}
        return self.grader.predict(
            model_input,
            reasons=bool(params.get("reasons", True)),
            capacity=bool(params.get("capacity", True)),
        )


def registered_name(target: str) -> str:
    """Return the registered model name for a target column."""
    return "fengqiao-risk" if target == "risk_grade" else f"fengqiao-{target.replace(':', '-')}"


def setup_tracking(
    tracking_uri: str, artifact_root: Path | None = None, must_exist: bool = False
) -> str:
    """Point MLflow at the store and make sure the experiment exists; return its id.

    `must_exist`: the store should already hold models (scoring), so a missing sqlite file is an
    error rather than a new, empty store.
    """
    database = sqlite_path(tracking_uri)
    if must_exist and database is not None and not database.exists():
        raise TrackingStoreError(
            f"the MLflow store {database} does not exist. Train a model first (fengqiao train "
            "--cases FILE), or point FENGQIAO_HOME or FENGQIAO_TRACKING_URI at the centre's store."
        )
    mlflow.set_tracking_uri(tracking_uri)
    with store_access(tracking_uri):
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            location = Path(artifact_root).resolve().as_uri() if artifact_root else None
            return mlflow.create_experiment(EXPERIMENT, artifact_location=location)
        return experiment.experiment_id


def log_grader(
    grader: RiskGrader,
    backtest: BacktestResult | None,
    input_example: pd.DataFrame,
    model_name: str,
    data: dict,
    experiment_id: str,
) -> mlflow.entities.model_registry.ModelVersion:
    """Log a trained grader with its backtest to a new run, register it and make it the challenger."""
    client = MlflowClient()
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{model_name}") as run:
        mlflow.log_params({k: str(v) for k, v in grader.config.as_params().items()})
        mlflow.log_dict(grader.config.as_params(), "grader_config.json")
        mlflow.log_dict(
            {
                "training": grader.training_,
                "data": data,
                "thresholds": grader.thresholds_.as_dict(),
            },
            "training.json",
        )
        mlflow.log_dict(grader.text_model_.summary(), "text_model.json")
        mlflow.set_tags(
            {
                "fengqiao.version": _version(),
                "data.sha256": data.get("sha256", ""),
                "data.cutoff": grader.training_["data_cutoff"],
                "target": grader.config.target,
                "stack.chosen": grader.selection_["chosen"],
                "text_model.chosen": json.dumps(grader.text_model_.candidate_.as_dict()),
            }
        )
        mlflow.log_metrics(
            {f"validation.{k}": v for k, v in grader.selection_.items() if k != "chosen"}
        )
        if backtest is not None:
            _log_backtest(backtest, input_example)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "grader.joblib"
            joblib.dump(grader, path)
            example = grader.model_input(input_example.head(5))
            output = grader.predict(example)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=GraderModel(),
                artifacts={"grader": str(path)},
                signature=infer_signature(
                    example, output, params={"reasons": True, "capacity": True}
                ),
                input_example=example,
                registered_model_name=model_name,
                pip_requirements=[f"{p}=={metadata.version(p)}" for p in _REQUIREMENTS],
            )
    version = client.get_model_version(model_name, info.registered_model_version)
    client.set_model_version_tag(model_name, version.version, "run_id", run.info.run_id)
    client.set_model_version_tag(
        model_name, version.version, "data.cutoff", grader.training_["data_cutoff"]
    )
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return version


def _log_backtest(backtest: BacktestResult, cases: pd.DataFrame) -> None:
    """Log the backtest: metrics per fold, the table, plots, and the test predictions for review.

    The predictions carry case numbers, district, channel and type (for fairness review), no text.
    """
    from models.plots import confusion_figure, reliability_figure  # matplotlib: training only

    places = cases[["case_id", "district", "channel", "dispute_type"]].drop_duplicates("case_id")
    predictions = backtest.predictions.merge(places, on="case_id", how="left")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.parquet"
        predictions.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), "backtest")
    table = backtest.table.drop(columns=["confusion"])
    for row in table.itertuples(index=False):
        for metric in (
            "macro_f1",
            "high_recall",
            "high_precision",
            "auc_ovr",
            "log_loss",
            "brier",
            "ece",
        ):
            value = getattr(row, metric, None)
            if value is not None and not pd.isna(value):
                mlflow.log_metric(f"{row.model}.{row.fold}.{metric}", float(value))
    mlflow.log_text(backtest.markdown(), "backtest/backtest.md")
    mlflow.log_text(table.to_csv(index=False), "backtest/backtest.csv")
    pooled = backtest.predictions[backtest.predictions["model"] == "lightgbm"]
    overall = backtest.table[
        (backtest.table["model"] == "lightgbm") & (backtest.table["fold"] == "overall")
    ].iloc[0]
    mlflow.log_figure(
        confusion_figure(overall["confusion"], backtest.classes, "回测混淆矩阵（LightGBM）"),
        "backtest/confusion.png",
    )
    proba = pooled[[f"p_{c}" for c in backtest.classes]].to_numpy()
    mlflow.log_figure(
        reliability_figure(pooled["y"].to_numpy(), proba, backtest.classes),
        "backtest/calibration.png",
    )


def _version() -> str:
    try:
        return metadata.version("fengqiao")
    except metadata.PackageNotFoundError:
        return "unknown"


def aliased_version(
    model_name: str, alias: str = CHAMPION
) -> mlflow.entities.model_registry.ModelVersion:
    """Return the version behind an alias; raise ChampionMissing if there is none."""
    try:
        with store_access(mlflow.get_tracking_uri()):
            return MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        raise ChampionMissing(
            f"no model '{model_name}' carries the '{alias}' alias in the MLflow store at "
            f"{mlflow.get_tracking_uri()}. Train one first: fengqiao train --cases FILE"
        ) from None


def load_model(model_name: str, alias: str = CHAMPION) -> tuple[mlflow.pyfunc.PyFuncModel, str]:
    """Return the model behind an alias and its version; raise ChampionMissing if there is none."""
    version = aliased_version(model_name, alias)
    return mlflow.pyfunc.load_model(f"models:/{model_name}@{alias}"), str(version.version)


def grader_of(model: mlflow.pyfunc.PyFuncModel) -> RiskGrader:
    """Return the RiskGrader inside a loaded pyfunc model."""
    return model.unwrap_python_model().grader


def champion_version(model_name: str) -> mlflow.entities.model_registry.ModelVersion | None:
    """Return the current champion's version, or None."""
    try:
        return aliased_version(model_name)
    except ChampionMissing:
        return None


def champion_config(version) -> GraderConfig:
    """Return the training configuration the given version was trained with."""
    params = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/grader_config.json")
    known = set(GraderConfig.__dataclass_fields__)
    return GraderConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in known}
    )


@dataclass(frozen=True)
class PromotionDecision:
    """A recorded champion/challenger decision and the numbers it rests on."""

    promoted: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger: dict
    champion: dict | None
    evaluation: str  # how the two were compared

    def tags(self) -> dict[str, str]:
        out = {
            "promotion.decision": "promoted" if self.promoted else "refused",
            "promotion.reason": self.reason,
            "promotion.evaluation": self.evaluation,
            "promotion.compared_with": self.champion_version or "",
            "promotion.at": dt.datetime.now().isoformat(timespec="seconds"),
        }
        for side, metrics in (("challenger", self.challenger), ("champion", self.champion or {})):
            for k, v in metrics.items():
                out[f"promotion.{side}.{k}"] = f"{v:.6f}"
        return out


def decide(challenger: dict, champion: dict) -> tuple[bool, str]:
    """Return whether the challenger beats the champion: higher macro-F1 and no worse log-loss."""
    better_f1 = challenger["macro_f1"] > champion["macro_f1"]
    no_worse_ll = challenger["log_loss"] <= champion["log_loss"]
    if better_f1 and no_worse_ll:
        return True, "challenger has higher macro-F1 and no worse log-loss on the same backtest"
    why = []
    if not better_f1:
        why.append(
            f"macro-F1 {challenger['macro_f1']:.4f} is not above the champion's {champion['macro_f1']:.4f}"
        )
    if not no_worse_ll:
        why.append(
            f"log-loss {challenger['log_loss']:.4f} is worse than the champion's {champion['log_loss']:.4f}"
        )
    return False, "; ".join(why)


def decide_first(backtest: BacktestResult | None) -> tuple[bool, str]:
    """Return whether a first model (no champion yet) becomes champion, and why.

    It must beat every baseline's macro-F1 on its own backtest. Without a backtest it becomes
    champion only because training was told to skip one (--no-backtest), and the reason says so.
    """
    if backtest is None:
        return True, (
            "no champion yet and no backtest was run (--no-backtest): promoted without evidence "
            "that it beats the baselines; backtest it once there is enough labelled history"
        )
    if backtest.predictions.empty:
        return False, "the backtest has no test cases, so nothing shows that this model works"
    overall = backtest.table[backtest.table["fold"] == "overall"].set_index("model")["macro_f1"]
    ours = float(overall.get("lightgbm", float("nan")))
    behind = {
        m: float(v) for m, v in overall.items() if m not in ("lightgbm", "oracle") and not ours > v
    }
    if behind:
        listed = ", ".join(f"{m} {v:.4f}" for m, v in behind.items())
        return False, (
            f"first model not promoted: its backtest macro-F1 {ours:.4f} does not beat the "
            f"baseline(s) {listed}; it stays challenger (to use it anyway: fengqiao score "
            "--model-name NAME@challenger; better, add labelled history and train again)"
        )
    return True, f"no champion yet: the first model beats every baseline (macro-F1 {ours:.4f})"


def record_promotion(model_name: str, decision: PromotionDecision) -> None:
    """Write the decision as tags on the challenger; move the champion alias if it was promoted."""
    client = MlflowClient()
    for key, value in decision.tags().items():
        client.set_model_version_tag(model_name, decision.challenger_version, key, value)
    if decision.promoted:
        now = dt.datetime.now().isoformat(timespec="seconds")
        if decision.champion_version:
            client.set_model_version_tag(
                model_name, decision.champion_version, "champion.until", now
            )
        client.set_model_version_tag(model_name, decision.challenger_version, "champion.since", now)
        client.set_registered_model_alias(model_name, CHAMPION, decision.challenger_version)
    history = client.get_registered_model(model_name).tags.get("champion.history", "[]")
    entries = json.loads(history)
    entries.append(
        {
            "at": dt.datetime.now().isoformat(timespec="seconds"),
            "version": decision.challenger_version,
            "decision": "promoted" if decision.promoted else "refused",
            "champion_before": decision.champion_version,
        }
    )
    client.set_registered_model_tag(
        model_name, "champion.history", json.dumps(entries[-200:], ensure_ascii=False)
    )


def summary_metrics(
    result: BacktestResult, model: str = "lightgbm", folds: list[str] | None = None
) -> dict:
    """Return macro-F1 and log-loss of one model pooled over the named folds (default: all)."""
    part = result.predictions[result.predictions["model"] == model]
    if folds is not None:
        part = part[part["fold"].isin(folds)]
    proba = part[[f"p_{c}" for c in result.classes]].to_numpy()
    m = grade_metrics(part["y"].to_numpy(), proba, part["predicted"].to_numpy(), result.classes)
    return {"macro_f1": m["macro_f1"], "log_loss": m["log_loss"], "n": float(m["n"])}
