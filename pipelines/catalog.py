"""Where fengqiao keeps things: the only module that knows the data folder's layout and MLflow.

    DATA/store/cases/month=YYYY-MM/<batch>.parquet   the history store (pipelines.store)
    DATA/scored/D/                                   day D staged by the risk grader:
                                                     scored.parquet, quarantine.parquet, meta.json
    DATA/scored/<model>/D/                           ... by any other registered model
    DATA/outputs/D/                                  day D published by the risk grader
    DATA/outputs/<model>/D/                          ... by any other model (e.g. a dispute-type model)
    DATA/outputs/reports/                            the weekly and monthly 稳定专报
    DATA/mlflow/                                     the MLflow store (sqlite and artifacts)
    DATA/demo/                                       the demo city's exports
    DATA/logs/, DATA/prefect/                        error logs; the local Prefect server's home

A model other than the risk grader publishes into its own folder, so that a dispute-type model
scored on the same night never replaces the dispatchers' risk watchlist.

MLflow holds each trained grader as one pyfunc model (GraderModel), registered under a name with
the aliases `challenger` (the newest candidate) and `champion` (what nightly scoring loads).
champion() resolves the alias once and loads that pinned version; scoring partitions load the same
version from the same cache, so a night loads its model once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sqlite3
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import astuple, dataclass, fields
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import pandas as pd
import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sqlalchemy.exc import OperationalError

from models.backtest import GRADE_METRICS, BacktestResult
from models.grader import GraderConfig, RiskGrader
from models.promotion import CHALLENGER, CHAMPION, RISK_MODEL, PromotionDecision
from pipelines.config import Settings
from pipelines.store import HistoryStore

# MLflow draws a progress bar for every artifact it reads, a model's requirements included: noise
# in a nightly log. An operator who wants the bars back sets the variable to true.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

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


STORE, STAGED, OUTPUTS, MLFLOW, REPORTS, DEMO, LOGS, PREFECT, CACHE = (
    "store",
    "scored",
    "outputs",
    "mlflow",
    "reports",
    "demo",
    "logs",
    "prefect",
    "cache",
)
SCORED, QUARANTINE, META = "scored.parquet", "quarantine.parquet", "meta.json"  # a staged day
# A published day's files, in the order a person reads them (DayFiles names each one).
OUTPUT_FILES = (
    "watchlist.csv",
    "watchlist.xlsx",
    "scores.parquet",
    "hotspots.geojson",
    "map.html",
    "report.md",
    "七何退回清单.csv",
    "quarantine.csv",
    "manifest.json",
)


@dataclass(frozen=True)
class DayFiles:
    """The files of one published day's folder (OUTPUT_FILES, in that order)."""

    watchlist_csv: Path
    watchlist_xlsx: Path
    scores: Path
    feed: Path
    map: Path
    report: Path
    return_list: Path  # 七何退回清单: the cases sent back for missing elements
    quarantine: Path
    manifest: Path

    @classmethod
    def of(cls, folder: str | Path) -> DayFiles:
        paths = (Path(folder) / name for name in OUTPUT_FILES)
        return cls(**{f.name: path for f, path in zip(fields(cls), paths, strict=True)})

    def __iter__(self) -> Iterator[Path]:
        return iter(astuple(self))


def store_dir(settings: Settings) -> Path:
    return settings.home / STORE


def history_store(settings: Settings, secret: str | None = None) -> HistoryStore:
    """Return the history store; with the site secret, its reads mask every name it has learnt."""
    return HistoryStore(store_dir(settings), secret)


def outputs_dir(settings: Settings) -> Path:
    return settings.home / OUTPUTS


def reports_dir(settings: Settings, out: str | Path | None = None) -> Path:
    """Return where the weekly and monthly reports go: --out if given, else DATA/outputs/reports."""
    return Path(out) if out else outputs_dir(settings) / REPORTS


def demo_dir(settings: Settings) -> Path:
    return settings.home / DEMO


def logs_dir(home: Path) -> Path:
    return Path(home) / LOGS


def prefect_dir(home: Path) -> Path:
    """Return the local Prefect server's home (its sqlite database and settings)."""
    return Path(home) / PREFECT


def map_cache(settings: Settings) -> Path:
    """Return where the map keeps its county outlines (safe to delete; they are made again)."""
    return settings.home / CACHE


def tracking_uri(settings: Settings) -> str:
    """Return the MLflow tracking URI: the configured one, or a sqlite store under DATA/mlflow."""
    if settings.tracking_uri:
        return settings.tracking_uri
    return f"sqlite:///{(settings.home / MLFLOW / 'mlflow.db').resolve()}"


def _own_folder(model_name: str | None) -> list[str]:
    return [] if model_name in (None, RISK_MODEL) else [model_name]


def stage_root(settings: Settings, model_name: str | None = None) -> Path:
    """Return the folder that holds a model's staged days."""
    return settings.home.joinpath(STAGED, *_own_folder(model_name))


def stage_dir(settings: Settings, day: pd.Timestamp, model_name: str | None = None) -> Path:
    """Return the folder where day D's scored cases wait for publishing."""
    return stage_root(settings, model_name) / f"{day:%Y-%m-%d}"


def write_stage(folder: Path, scored: pd.DataFrame, quarantine: pd.DataFrame, meta: dict) -> Path:
    """Write a staged day (atomically): its scored cases without party keys, quarantine, metadata."""
    from pipelines.publish import atomic_folder

    with atomic_folder(folder) as staging:
        scored.drop(columns=["party_keys"], errors="ignore").to_parquet(
            staging / SCORED, index=False
        )
        quarantine.astype(str).to_parquet(staging / QUARANTINE, index=False)
        (staging / META).write_text(
            json.dumps(meta, ensure_ascii=False, default=str), encoding="utf-8"
        )
    return folder


def is_staged(folder: Path) -> bool:
    return (folder / META).exists()


def stage_meta(folder: Path) -> dict:
    return json.loads((folder / META).read_text(encoding="utf-8"))


def staged_cases(folder: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Return a staged day's scored cases (only the named columns, if given)."""
    return pd.read_parquet(folder / SCORED, columns=columns)


def staged_schema(folder: Path) -> tuple[int, list[str]]:
    """Return a staged day's number of scored cases and its columns, from the file's footer."""
    footer = pq.ParquetFile(folder / SCORED)
    return footer.metadata.num_rows, footer.schema_arrow.names


def staged_quarantine(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / QUARANTINE)


def outputs_root(settings: Settings, out: str | Path | None, model_name: str | None = None) -> Path:
    """Return the folder that holds the published days: --out if given, else DATA/outputs[/model]."""
    if out:
        return Path(out)
    return outputs_dir(settings).joinpath(*_own_folder(model_name))


def published_dir(root: Path, day: pd.Timestamp) -> Path:
    """Return the folder of day D under a root of published days (outputs_root)."""
    return Path(root) / f"{day:%Y-%m-%d}"


def published_days(root: Path) -> list[Path]:
    """Return the published days' folders under root, oldest first."""
    return sorted(p for p in Path(root).glob("????-??-??") if p.is_dir())


class ChampionMissing(Exception):
    """No model carries the champion alias: train (and promote) one first."""


class TrackingStoreError(Exception):
    """The MLflow store cannot be used: it is missing, locked or unreadable."""


# Errors of the file system and the stores that can pass on their own; a missing file, a refused
# permission or bad input never do, and retrying them only delays the message.
_LASTING_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(error: BaseException | None) -> bool:
    """Return whether an IO task that failed with `error` is worth retrying."""
    if isinstance(error, TrackingStoreError):
        return "locked" in str(error)
    if isinstance(error, _LASTING_OS_ERRORS):
        return False
    return isinstance(error, OSError | TimeoutError | sqlite3.OperationalError)


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
        for metric in GRADE_METRICS:
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


def connect(settings: Settings, must_exist: bool = False) -> str:
    """Point MLflow at the settings' store; return the experiment's id (see setup_tracking)."""
    return setup_tracking(tracking_uri(settings), settings.home / MLFLOW / "artifacts", must_exist)


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


@dataclass(frozen=True)
class Champion:
    """A registered model pinned to one version: what an alias pointed at when it was resolved."""

    name: str
    alias: str
    version: str
    model: mlflow.pyfunc.PyFuncModel

    @property
    def grader(self) -> RiskGrader:
        return grader_of(self.model)


def champion(settings: Settings, model_name: str, alias: str = CHAMPION) -> Champion:
    """Resolve the alias once and load that version; raise ChampionMissing if there is none."""
    connect(settings)
    model, version = load_model(model_name, alias)
    return Champion(model_name, alias, version, model)


@functools.lru_cache(maxsize=4)
def load_version(tracking_uri: str, model_name: str, version: str) -> mlflow.pyfunc.PyFuncModel:
    """Return one registered version, loaded once per process.

    The version's pinned requirements are compared with what is installed here by name: MLflow's
    own check first maps every installed package to its modules, most of a second of a night.
    """
    mlflow.set_tracking_uri(tracking_uri)
    source = MlflowClient().get_model_version_download_uri(model_name, version)
    _warn_on_other_versions(
        mlflow.artifacts.load_text(f"{source}/requirements.txt"),
        f"{model_name} version {version}",
    )
    return mlflow.pyfunc.load_model(source, suppress_warnings=True)


def _warn_on_other_versions(requirements: str, model: str) -> None:
    """Warn when a package the model pinned at training is installed here in another version."""
    for line in requirements.splitlines():
        name, _, pinned = line.strip().partition("==")
        if not pinned:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "no version of it"
        if installed != pinned:
            warnings.warn(
                f"{model} was trained with {name}=={pinned}; this environment has {installed}. "
                "Its scores may differ from those of its backtest: retrain it here, or install "
                f"{name}=={pinned}",
                stacklevel=2,
            )


def load_model(model_name: str, alias: str = CHAMPION) -> tuple[mlflow.pyfunc.PyFuncModel, str]:
    """Return the model behind an alias and its version; raise ChampionMissing if there is none."""
    version = str(aliased_version(model_name, alias).version)
    return load_version(mlflow.get_tracking_uri(), model_name, version), version


def registered_grader(model_name: str, version: str) -> RiskGrader:
    """Return the grader of one registered version, from the store MLflow points at."""
    return grader_of(load_version(mlflow.get_tracking_uri(), model_name, version))


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


def backtest_summary(model_name: str, version: str) -> dict:
    """Return the registered version's overall backtest metrics per model, for the report."""
    client = MlflowClient()
    run = client.get_run(client.get_model_version(model_name, version).run_id)
    out: dict[str, dict] = {}
    for key, value in run.data.metrics.items():
        model, fold, metric = key.split(".", 2)  # as _log_backtest writes them
        if fold == "overall" and metric in ("macro_f1", "log_loss"):
            out.setdefault(model, {})[metric] = value
    return out


def logged_backtest(model_name: str, version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the backtest table and predictions a registered version's training run logged."""
    run_id = MlflowClient().get_model_version(model_name, version).run_id
    folder = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/backtest"))
    return pd.read_csv(folder / "backtest.csv"), pd.read_parquet(folder / "predictions.parquet")


# Graders registered before this module owned MLflow were pickled as models.registry.GraderModel;
# unpickling finds that name here.
sys.modules.setdefault("models.registry", sys.modules[__name__])
