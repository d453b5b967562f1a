"""Prefect flows: train, score one day, publish one day, and the demo that runs them all.

Tasks are thin wrappers over pipelines.steps. Only the tasks that touch files or the MLflow store
retry, and only on errors that can pass on their own (a locked store, an I/O hiccup), never on bad
input. No task caches across runs unless asked: every task uses NO_CACHE. Flow parameters are plain
values so that a deployment can schedule them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from models.promotion import CHALLENGER, CHAMPION, registered_name
from pipelines import steps
from pipelines.catalog import (
    backtest_summary,
    champion,
    demo_dir,
    history_store,
    is_transient,
    map_cache,
    outputs_root,
    reports_dir,
    stage_root,
    store_dir,
    tracking_uri,
)
from pipelines.config import Settings
from pipelines.contracts import (
    ModelInfo,
    PublishOptions,
    ScoredNight,
    TrainOutcome,
    TrainRequest,
)
from pipelines.ingest import IngestResult, export_specs
from pipelines.publish import publish_day


def _error_of(state) -> BaseException | None:
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        error = state.result(raise_on_failure=False)
    return error if isinstance(error, BaseException) else None


def _transient(task, task_run, state) -> bool:
    """Prefect's retry condition: retry only errors that can pass on their own (see
    catalog.is_transient), never bad input, a missing champion or a bug."""
    return is_transient(_error_of(state))


def _late_or_transient(task, task_run, state) -> bool:
    """As _transient, and a night's export that has not arrived yet."""
    return isinstance(_error_of(state), FileNotFoundError) or _transient(task, task_run, state)


IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _transient}


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_task(
    cases: str | list[str], mapping: str | None, settings: Settings, run_date: dt.date | None
) -> IngestResult:
    """Read, validate and mask the night's exports (FILE or FILE:MAPPING.yaml each)."""
    result = steps.ingest(export_specs(cases, mapping), settings, run_date)
    for part in result.inputs():
        get_run_logger().info(
            "ingested %s: %d rows in, %d ok, %d quarantined",
            Path(part["source"]).name,
            part["rows_in"],
            part["rows_ok"],
            part["rows_quarantined"],
        )
    return result


@task(cache_policy=NO_CACHE)
def context_task(
    cases: pd.DataFrame, history: pd.DataFrame | None, settings: Settings
) -> pd.DataFrame:
    """Attach merge groups and point-in-time history and spatial features."""
    return steps.context(cases, history, settings)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def store_append_task(cases: pd.DataFrame, settings: Settings, batch: str) -> int:
    """Append cases to the history store as one batch."""
    return history_store(settings).append(cases, batch)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def read_history_task(
    settings: Settings, run_date: pd.Timestamp, today: pd.DataFrame, training: bool = False
) -> pd.DataFrame:
    """Read the stored past that day D's history features need.

    training: read every text, and mask in them the names the store learnt after storing them (a
    model trained on them keeps their character n-grams); a night needs neither.
    """
    store = history_store(settings, settings.secret() if training else None)
    return steps.history_for(store, run_date, today, all_texts=training)


@task(cache_policy=NO_CACHE)
def train_task(
    cases: pd.DataFrame,
    ingested: IngestResult,
    settings: Settings,
    request: TrainRequest,
    dask_address: str | None = None,
) -> TrainOutcome:
    """Backtest, train, register and decide promotion (boosters on Dask when an address is given)."""
    logger = get_run_logger()
    if dask_address is None:
        return steps.train_and_register(cases, ingested, settings, request, logger.info)
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if dask_address == "local":
            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
            )
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(dask_address))
        logger.info("training the boosters on Dask (%s)", client.scheduler.address)
        return steps.train_and_register(
            cases, ingested, settings, request, logger.info, dask_client=client
        )


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def champion_task(settings: Settings, model_name: str, alias: str = CHAMPION):
    """Load the model behind an alias (models:/NAME@champion unless told otherwise)."""
    return champion(settings, model_name, alias)


@task(cache_policy=NO_CACHE)
def score_task(
    part: pd.DataFrame, tracking_uri: str, model_name: str, version: str
) -> pd.DataFrame:
    """Score one partition of the day's cases."""
    return steps.score_partition(part, tracking_uri, model_name, version)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def finish_task(night: ScoredNight, settings: Settings) -> str:
    """Stage the scored day and append it to the history store."""
    return str(steps.finish_day(night, history_store(settings), settings))


@flow(name="fengqiao-train")
def train_flow(
    cases: str | list[str],
    mapping: str | None = None,
    target: str = "risk_grade",
    model_name: str | None = None,
    oracle: str | None = None,
    backtest: bool = True,
    into_store: bool = False,
    red_capacity: int | None = None,
    home: str | None = None,
    dask_address: str | None = None,
) -> dict:
    """Ingest labelled history, backtest, train, register as challenger and decide promotion.

    dask_address: train the boosters with lightgbm.dask on this scheduler ("local": a LocalCluster).
    """
    settings = Settings.at(home)
    started = time.perf_counter()
    ingested = ingest_task(cases, mapping, settings, None)
    target = steps.label_column(ingested.cases, target, cases)
    ctx = context_task(ingested.cases, None, settings)
    request = TrainRequest(
        config=steps.grader_config(settings, target, red_capacity or settings.red_capacity),
        model_name=model_name or registered_name(target.removeprefix("label:")),
        oracle=pd.read_parquet(oracle) if oracle else None,
        backtest=backtest,
    )
    outcome = train_task(ctx, ingested, settings, request, dask_address)
    if into_store:
        store_append_task(ctx, settings, f"import-{ingested.sha256[:12]}")
    _train_artifact(outcome, ingested)
    return steps.train_summary(outcome, ingested, time.perf_counter() - started)


def _train_artifact(outcome: TrainOutcome, ingested: IngestResult) -> None:
    decision = outcome.decision
    markdown = [
        f"# fengqiao train: {outcome.model_name} v{outcome.version}",
        "",
        f"- rows in {ingested.rows_in}, used {ingested.rows_ok}, quarantined {ingested.rows_quarantined}",
        f"- promotion: {'promoted to champion' if decision.promoted else 'not promoted'} ({decision.reason})",
    ]
    if outcome.backtest is not None:
        markdown += ["", "## Backtest", "", outcome.backtest.markdown()]
    create_markdown_artifact(
        "\n".join(markdown), key="fengqiao-train", description="training run summary"
    )


@flow(name="fengqiao-score")
def score_flow(
    cases: str | list[str],
    mapping: str | None = None,
    date: str | None = None,
    out: str | None = None,
    model_name: str | None = None,
    partitions: int = 1,
    coordinates: str = "wgs84",
    tiles: str | None = None,
    home: str | None = None,
    boundaries: str | None = None,
    boundary_id: str = "name",
) -> dict:
    """Score every row of one day's export with the champion and publish day D.

    boundaries: a GeoJSON of the centre's own polygons (grids, communities) to use as hotspot cells,
    each named by its `boundary_id` property; default H3 hexagons.
    """
    settings = Settings.at(home)
    clock = steps.Stopwatch()
    ingested = ingest_task(cases, mapping, settings, pd.Timestamp(date).date() if date else None)
    run_date = steps.run_date_of(ingested, date, cases)
    clock.lap("ingest")
    name, alias, grader, version = _champion(settings, model_name)
    clock.lap("model")
    history = read_history_task(settings, run_date, ingested.cases)
    clock.lap("history")
    ctx = context_task(ingested.cases, history, settings)
    clock.lap("context")
    predictions = _score(ctx, grader, settings, name, version, partitions)
    clock.lap("score")
    info = ModelInfo.of(grader, name, version, alias, backtest_summary(name, version))
    night = ScoredNight(run_date, ctx, predictions, ingested, grader, info, clock.laps)
    finish_task(night, settings)
    rows = ingested.summary()
    # Publishing reads the staged day back: free the night's frames (gigabytes for a province).
    del night, ingested, history, ctx, predictions
    steps.release_memory()
    day = f"{run_date:%Y-%m-%d}"
    options = _publish_options(settings, coordinates, tiles, boundaries, boundary_id)
    folder = _publish(settings, day, out, options, name)
    return {"run_date": day, "output": folder, "rows": rows, "model_version": version}


def _champion(settings: Settings, model_name: str | None):
    """Return the model's name, alias, grader and version: NAME[@ALIAS], else the risk grader's
    champion."""
    name, _, alias = (model_name or registered_name("risk_grade")).partition("@")
    pinned = champion_task(settings, name, alias or CHAMPION)
    return name, pinned.alias, pinned.grader, pinned.version


def _score(ctx, grader, settings: Settings, name: str, version: str, partitions: int):
    """Score the night in partitions (on the flow's task runner), then apply the red-ticket
    capacity to the whole day."""
    parts = steps.partitions(grader.model_input(ctx), partitions)
    futures = score_task.map(parts, tracking_uri(settings), name, version)
    predictions = (
        pd.concat([f.result() for f in futures], ignore_index=True)
        if parts
        else grader.predict(ctx.iloc[:0])
    )
    return steps.apply_capacity(predictions, grader, ctx["reported_at"])


@flow(name="fengqiao-publish")
def publish_flow(
    date: str,
    out: str | None = None,
    coordinates: str = "wgs84",
    tiles: str | None = None,
    home: str | None = None,
    boundaries: str | None = None,
    boundary_id: str = "name",
    model_name: str | None = None,
) -> str:
    """Publish a scored day: watchlist, scores, feed, map, report, quarantine, manifest.

    model_name: the model whose scoring of the day to publish (default: the risk grader).
    """
    settings = Settings.at(home)
    options = _publish_options(settings, coordinates, tiles, boundaries, boundary_id)
    return _publish(settings, date, out, options, model_name)


def _publish_options(
    settings: Settings,
    coordinates: str,
    tiles: str | None,
    boundaries: str | None,
    boundary_id: str,
) -> PublishOptions:
    """Return how to publish: the command's options, and the settings for what it leaves out."""
    return PublishOptions(
        coordinates=coordinates,
        tiles=tiles or settings.map_tiles,
        boundaries=boundaries,
        boundary_id=boundary_id,
        resolution=settings.h3_resolution,
        window_days=settings.hotspot_days,
        trend_weeks=settings.trend_weeks,
        map_cache=map_cache(settings),
    )


def _publish(
    settings: Settings, date: str, out: str | None, options: PublishOptions, model_name: str | None
) -> str:
    """Publish a staged day; score_flow calls this, not publish_flow, which as a subflow cost a
    second of Prefect's bookkeeping on every night."""
    run_date = pd.Timestamp(date)
    started = time.perf_counter()
    day = steps.load_day(settings, run_date, model_name)
    folder = publish_task(day, outputs_root(settings, out, model_name), options, started)
    _publish_artifact(date, day, folder)
    return folder


def _publish_artifact(date: str, day, folder: str) -> None:
    counts = day.scored["grade"].value_counts()
    create_markdown_artifact(
        "\n".join(
            [
                f"# fengqiao {date}",
                "",
                f"- scored {len(day.scored)} cases: "
                + ", ".join(f"{k} {v}" for k, v in counts.sort_index().items()),
                f"- quarantined {len(day.quarantine)} rows",
                f"- model {day.model.name} v{day.model.version}",
                f"- drift: {'yes, see report' if day.drift and day.drift.drift else 'none flagged'}",
                f"- outputs: {folder}",
            ]
        ),
        key="fengqiao-publish",
        description="published outputs for one day",
    )


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def publish_task(day, out_dir: Path, options: PublishOptions, started: float) -> str:
    """Write day D's outputs atomically."""
    day.timings["publish_started_after"] = time.perf_counter() - started
    return str(publish_day(day, out_dir, options))


@flow(name="fengqiao-demo")
def demo_flow(n_cases: int = 45_000, seed: int = 20251231, home: str | None = None) -> dict:
    """Generate the demo city, train and register on all but its last day, score and publish that day."""
    from pipelines.demo_city import write_demo_exports

    settings = Settings.at(home)
    logger = get_run_logger()
    files = write_demo_exports(demo_dir(settings), n_cases, seed)
    logger.info(
        "demo city: %s history rows, %s rows on %s",
        files["history_rows"],
        files["day_rows"],
        files["run_date"],
    )
    trained = train_flow(
        str(files["history"]), oracle=str(files["oracle"]), into_store=True, home=str(settings.home)
    )
    # The demo shows the whole chain either way: a model the backtest did not promote (a small
    # demo city can leave it level with the keyword checklist) scores as the challenger it is.
    model = None
    if not trained["promoted"]:
        model = f"{trained['model_name']}@{CHALLENGER}"
        logger.warning("the demo's model was not promoted; scoring with %s", model)
    scored = score_flow(
        str(files["day"]), date=files["run_date"], home=str(settings.home), model_name=model
    )
    return {"files": {k: str(v) for k, v in files.items()}, "train": trained, "score": scored}


NIGHTLY_CRON = "0 2 * * *"
RETRAIN_CRON = "0 3 1 * *"
TIMEZONE = "Asia/Shanghai"


@task(
    cache_policy=NO_CACHE,
    retries=6,
    retry_delay_seconds=600,
    retry_condition_fn=_late_or_transient,
)
def find_exports_task(inbox: str, pattern: str, run_date: str, mapping: str | None) -> list[str]:
    """Return day D's exports in the inbox, as FILE[:MAPPING] specs; retried for an hour, as
    exports can arrive late.

    The pattern may match several files, one per source (多口进): "*/{date}.csv" finds
    12345/2025-12-31.csv, 信访/2025-12-31.xlsx ... Each uses the mapping.yaml beside it, if any,
    else the nightly's own mapping.
    """
    found = sorted(Path(inbox).glob(pattern.format(date=run_date)))
    if not found:
        raise FileNotFoundError(f"no export for {run_date} in {inbox} (pattern {pattern!r})")
    specs = []
    for path in found:
        own = path.parent / "mapping.yaml"
        chosen = str(own) if own.is_file() else mapping
        specs.append(f"{path}:{chosen}" if chosen else str(path))
    return specs


@flow(name="fengqiao-nightly")
def nightly_flow(
    inbox: str,
    pattern: str = "{date}.csv",
    mapping: str | None = None,
    date: str | None = None,
    out: str | None = None,
    home: str | None = None,
) -> dict:
    """Score yesterday's exports (Asia/Shanghai) from the inbox with the champion, and publish."""
    run_date = date or (pd.Timestamp.now(tz=TIMEZONE).normalize() - pd.Timedelta(days=1)).strftime(
        "%Y-%m-%d"
    )
    exports = find_exports_task(inbox, pattern, run_date, mapping)
    return score_flow(exports, date=run_date, out=out, home=home)


@flow(name="fengqiao-retrain")
def retrain_flow(
    months: int = 12,
    model_name: str | None = None,
    red_capacity: int | None = None,
    home: str | None = None,
    as_of: str | None = None,
) -> dict:
    """Retrain on the store's labelled history of the `months` before `as_of` (default: today,
    Asia/Shanghai); promote only if the challenger beats the champion on the same backtest.

    The red-ticket capacity is the one given, else the champion's, else FENGQIAO_RED_CAPACITY.
    """
    settings = Settings.at(home)
    name = model_name or registered_name("risk_grade")
    today = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz=TIMEZONE).tz_localize(None)
    end = today.normalize() + pd.Timedelta(days=1)
    history = read_history_task(settings, end, pd.DataFrame({"case_id": []}), training=True)
    ingested = steps.retrain_cases(history, end, months, store_dir(settings))
    ctx = context_task(ingested.cases, None, settings)
    capacity = red_capacity or steps.champion_capacity(settings, name) or settings.red_capacity
    request = TrainRequest(steps.grader_config(settings, capacity=capacity), name)
    outcome = train_task(ctx, ingested, settings, request)
    return {
        "model_name": outcome.model_name,
        "version": outcome.version,
        "promoted": outcome.decision.promoted,
        "decision": outcome.decision.reason,
    }


def deployments(
    inbox: str,
    pattern: str,
    mapping: str | None,
    out: str | None,
    home: str | None,
    nightly_cron: str = NIGHTLY_CRON,
) -> list:
    """Return the nightly scoring (02:00) and monthly retrain (1st, 03:00) deployments, Asia/Shanghai."""
    from prefect.schedules import Cron

    nightly = nightly_flow.to_deployment(
        name="fengqiao-nightly",
        schedule=Cron(nightly_cron, timezone=TIMEZONE),
        parameters={
            "inbox": inbox,
            "pattern": pattern,
            "mapping": mapping,
            "out": out,
            "home": home,
        },
        description="Score yesterday's export with the champion and publish the watchlist, feed and report.",
    )
    monthly = retrain_flow.to_deployment(
        name="fengqiao-monthly-retrain",
        schedule=Cron(RETRAIN_CRON, timezone=TIMEZONE),
        parameters={"home": home},
        description="Retrain on the store's labelled history; promote only a challenger that beats the champion.",
    )
    return [nightly, monthly]


@flow(name="fengqiao-report")
def report_flow(
    date: str, period: str = "周报", out: str | None = None, home: str | None = None
) -> str:
    """Write the weekly (周报) or monthly (月报) 稳定专报 ending on a date; return its path."""
    from pipelines.publish.periodic import period_report

    settings = Settings.at(home)
    text = period_report(
        stage_root(settings),
        history_store(settings, settings.secret()),
        pd.Timestamp(date),
        period,
        trend_weeks=settings.trend_weeks,
    )
    folder = reports_dir(settings, out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{period}-{date}.md"
    temporary = path.with_suffix(".md.partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return str(path)
