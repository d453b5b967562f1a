"""The pipeline's steps as plain functions; the Prefect flows only orchestrate them."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import hashlib
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.context import HISTORY_COLUMNS, ContextParams, build_context
from features.dedup import earliest_reachable
from features.domain import HIGH, MEDIUM
from features.errors import UsageError
from models.backtest import BacktestResult, run_backtest
from models.drift import (
    DRIFT_CATEGORIES,
    DRIFT_FEATURES,
    DriftReport,
    category_shares,
    drift_report,
)
from models.grader import GraderConfig, RiskGrader
from models.metrics import grade_metrics
from models.promotion import PromotionDecision, decide, decide_first, summary_metrics
from models.thresholds import OVER_CAPACITY_REASON, over_capacity
from pipelines.catalog import (
    champion_config,
    champion_version,
    connect,
    history_store,
    is_staged,
    load_version,
    log_grader,
    record_promotion,
    registered_grader,
    stage_dir,
    stage_meta,
    staged_cases,
    staged_quarantine,
    staged_schema,
    write_stage,
)
from pipelines.config import Settings
from pipelines.contracts import ModelInfo, ScoredNight, TrainOutcome, TrainRequest
from pipelines.ingest import (
    IngestResult,
    combine,
    ingest_file,
    load_mapping,
    mask_names_elsewhere,
)
from pipelines.publish import DayOutputs
from pipelines.store import HistoryStore

HISTORY_DAYS = 400  # the longest history window (365 days) plus slack for late reports and merges


def ingest(
    exports: list[tuple[Path, Path | None]], settings: Settings, run_date: dt.date | None
) -> IngestResult:
    """Return the night's exports ingested as one intake: validated, masked, quarantined rows
    set aside, each export with its own mapping. Party names that any export of the night or
    of an earlier intake listed are masked wherever they appear; the store keeps them as keyed
    hashes."""
    intake = combine(
        [
            ingest_file(
                Path(path), load_mapping(mapping), settings.secret(), run_date, settings.n_jobs
            )
            for path, mapping in exports
        ]
    )
    store = history_store(settings)
    book = store.name_book(settings.secret()).union(intake.names)
    intake = mask_names_elsewhere(intake, book)
    store.keep_names(book)
    return intake


def context(cases: pd.DataFrame, history: pd.DataFrame | None, settings: Settings) -> pd.DataFrame:
    """Return cases with their point-in-time context features."""
    return build_context(
        cases, history, ContextParams(h3_resolution=settings.h3_resolution), settings.n_jobs
    )


def label_column(cases: pd.DataFrame, target: str, source) -> str:
    """Return the column that holds the label `target`: a canonical column, or a mapped label."""
    column = target if target in cases else f"label:{target}"
    if column not in cases:
        raise UsageError(
            f"no label column '{target}' in {source}; map it under `labels:` in the mapping"
        )
    return column


def grader_config(
    settings: Settings, target: str = "risk_grade", capacity: int | None = None
) -> GraderConfig:
    """Return the grader's training configuration: the red-ticket capacity rule when a capacity
    is given, else the best macro-F1 thresholds."""
    return GraderConfig(
        target=target,
        threshold_rule="capacity" if capacity else "f1",
        capacity_per_day=capacity,
        text_budget_seconds=settings.text_budget_seconds,
        text_candidates=settings.text_candidates,
    )


def retrain_cases(
    history: pd.DataFrame, end: pd.Timestamp, months: int, store_dir: Path
) -> IngestResult:
    """Return the store's graded cases of the `months` before `end` as one intake."""
    recent = history[history["reported_at"] >= end - pd.DateOffset(months=months)]
    labelled = recent[recent["risk_grade"].notna()].drop(
        columns=["history_grade", "predicted_grade", "score", "batch", "group_id", "written_at"],
        errors="ignore",
    )
    if labelled.empty:
        raise UsageError(f"the history store at {store_dir} holds no graded cases to retrain on")
    labelled = labelled.reset_index(drop=True)
    # What was trained on: every case's id, text and grade, in order (the store has no one file).
    rows = pd.util.hash_pandas_object(
        labelled[["case_id", "description", "risk_grade"]], index=False
    )
    return IngestResult(
        cases=labelled,
        quarantine=pd.DataFrame(),
        source=str(store_dir),
        sha256=hashlib.sha256(rows.to_numpy().tobytes()).hexdigest(),
        encoding=None,
        sheet=None,
        rows_in=len(labelled),
    )


def run_date_of(ingested: IngestResult, date: str | None, source) -> pd.Timestamp:
    """Return the night's run date: the one given, else the latest day reported in the export."""
    if date:
        return pd.Timestamp(date)
    if ingested.cases.empty:
        raise UsageError(
            f"{source}: no row could be scored and no --date was given; see the quarantine reasons"
        )
    return ingested.cases["reported_at"].max().normalize()


class Stopwatch:
    """Seconds per stage: each lap is the time since the previous one."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage], self._last = now - self._last, now


def train_summary(outcome: TrainOutcome, ingested: IngestResult, seconds: float) -> dict:
    """Return what `fengqiao train` prints about a training run."""
    summary = {
        "model_name": outcome.model_name,
        "version": outcome.version,
        "promoted": outcome.decision.promoted,
        "decision": outcome.decision.reason,
        "evaluation": outcome.decision.evaluation,
        "rows": ingested.summary(),
        "seconds": round(seconds, 1),
    }
    if outcome.backtest is not None:
        summary["backtest"] = outcome.backtest.table.drop(columns=["confusion"]).to_dict("records")
    return summary


def train_and_register(
    cases: pd.DataFrame,
    ingested: IngestResult,
    settings: Settings,
    request: TrainRequest,
    progress=None,
    dask_client=None,
) -> TrainOutcome:
    """Backtest, fit on all labelled history, register as challenger, and decide on promotion."""
    experiment = connect(settings)
    config, name = request.config, request.model_name
    backtest = None
    if request.backtest:
        backtest = run_backtest(
            cases,
            config,
            oracle=request.oracle,
            baselines=request.baselines,
            progress=progress,
            dask_client=dask_client,
        )
    _say(
        progress,
        f"fitting the final grader on {cases[config.target].notna().sum():,} labelled cases",
    )
    grader = RiskGrader(config).fit(cases, dask_client)
    data = {**ingested.summary(), "rows_labelled": int(cases[config.target].notna().sum())}
    version = log_grader(grader, backtest, cases, name, data, experiment)
    decision = promote(cases, backtest, config, name, str(version.version), progress)
    return TrainOutcome(name, str(version.version), decision, backtest, grader.training_)


def promote(
    cases: pd.DataFrame,
    backtest: BacktestResult | None,
    config: GraderConfig,
    model_name: str,
    challenger: str,
    progress=None,
) -> PromotionDecision:
    """Compare the challenger with the champion on the same backtest, record the decision, move the alias.

    The two are compared on the test folds the champion never saw (reported after its data
    cut-off): the champion model as registered against the challenger's fold models. When no such
    fold exists (the champion was trained on data as recent), the champion's configuration is
    retrained on the challenger's folds instead, so the comparison is always on the same cases.
    """
    current = champion_version(model_name)
    if current is None or backtest is None or backtest.predictions.empty:
        if current is None:
            promoted, reason = decide_first(backtest)
        elif backtest is None:
            promoted, reason = False, "no backtest was run, so no comparison with the champion"
        else:
            promoted, reason = False, "the backtest has no test cases, so no comparison"
        decision = PromotionDecision(
            promoted,
            reason,
            challenger,
            current.version if current else None,
            summary_metrics(backtest) if backtest is not None and len(backtest.predictions) else {},
            None,
            "none" if backtest is None else "challenger against the baselines on its backtest",
        )
        record_promotion(model_name, decision)
        return decision
    cutoff = pd.Timestamp(current.tags.get("data.cutoff", "1900-01-01"))
    unseen = [f for f in backtest.folds if f.origin > cutoff]
    if unseen:
        _say(progress, f"scoring {len(unseen)} unseen fold(s) with champion v{current.version}")
        champion_metrics = _score_folds_with(
            model_name, current.version, cases, unseen, backtest.classes, config.target
        )
        challenger_metrics = summary_metrics(backtest, "lightgbm", [f.name for f in unseen])
        how = f"registered champion v{current.version} vs challenger fold models on {len(unseen)} fold(s) after {cutoff:%Y-%m-%d}"
    else:
        _say(progress, f"retraining champion v{current.version}'s configuration on the same folds")
        rerun = run_backtest(cases, champion_config(current), folds=backtest.folds, baselines=False)
        champion_metrics, challenger_metrics = summary_metrics(rerun), summary_metrics(backtest)
        how = f"champion v{current.version}'s configuration retrained on the same {len(backtest.folds)} folds"
    promoted, reason = decide(challenger_metrics, champion_metrics)
    decision = PromotionDecision(
        promoted,
        reason,
        challenger,
        str(current.version),
        challenger_metrics,
        champion_metrics,
        how,
    )
    record_promotion(model_name, decision)
    return decision


def _score_folds_with(model_name, version, cases, folds, classes, target) -> dict:
    grader = registered_grader(model_name, version)
    labelled = cases[cases[target].notna()]
    parts = []
    for fold in folds:
        test = labelled[
            (labelled["reported_at"] >= fold.origin) & (labelled["reported_at"] < fold.end)
        ]
        out = grader.predict(test, reasons=False)
        parts.append((test[target].astype(str).to_numpy(), out))
    y = np.concatenate([p[0] for p in parts])
    scored = pd.concat([p[1] for p in parts], ignore_index=True)
    index = {c: i for i, c in enumerate(classes)}
    proba = np.column_stack(
        [scored[f"p_{c}"] if f"p_{c}" in scored else np.zeros(len(scored)) for c in classes]
    )
    m = grade_metrics(
        np.array([index[v] for v in y]), proba, scored["grade"].map(index).to_numpy(), classes
    )
    return {"macro_f1": m["macro_f1"], "log_loss": m["log_loss"], "n": float(m["n"])}


def history_for(
    store: HistoryStore, run_date: pd.Timestamp, today: pd.DataFrame, all_texts: bool = False
) -> pd.DataFrame:
    """Return the stored cases that count as the past for day D (today's own cases excluded).

    Descriptions come only where today's merge can compare them (its window before today's
    earliest report), unless all_texts: the history features read none. Before that window the
    cases keep only tonight's parties' keys: party history counts no one else. Only the columns
    the context reads (features.context.HISTORY_COLUMNS), unless all_texts.
    """
    texts_from, keys_of, columns = None, None, None
    if not all_texts and len(today):
        texts_from = earliest_reachable(today, ContextParams().merge)
        keys_of = {k for ks in today["party_keys"] if isinstance(ks, list | tuple) for k in ks}
        columns = HISTORY_COLUMNS
    return store.read(
        start=run_date.normalize() - pd.Timedelta(days=HISTORY_DAYS),
        end=run_date.normalize() + pd.Timedelta(days=1),
        exclude_case_ids=set(today["case_id"]),
        texts_from=texts_from,
        keys_of=keys_of,
        columns=columns,
    )


def score_partition(
    part: pd.DataFrame, tracking_uri: str, model_name: str, version: str
) -> pd.DataFrame:
    """Return one partition scored by the given model version (loaded once per process)."""
    model = load_version(tracking_uri, model_name, version)
    # The red-ticket capacity is a day's, not a partition's: apply_capacity applies it after.
    return model.predict(part, params={"reasons": True, "capacity": False})


def apply_capacity(predictions: pd.DataFrame, grader: RiskGrader, days: pd.Series) -> pd.DataFrame:
    """Return a day's predictions with its red-ticket capacity applied across all partitions:
    beyond the day's K highest P(高), a 高 case becomes 中 and its reasons say why."""
    capacity = grader.thresholds_.capacity_per_day
    if not grader.ordinal_ or capacity is None or predictions.empty:
        return predictions
    over = over_capacity(
        (predictions["grade"] == HIGH).to_numpy(),
        predictions[f"p_{HIGH}"].to_numpy(),
        days.reset_index(drop=True),
        capacity,
    )
    reasons = predictions["reasons"].fillna("")
    return predictions.assign(
        grade=np.where(over, MEDIUM, predictions["grade"]),
        reasons=np.where(
            over,
            (OVER_CAPACITY_REASON + "；" + reasons).str.rstrip("；"),
            reasons,
        ),
    )


def partitions(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """Return the frame cut into n row ranges of nearly equal size (in order)."""
    bounds = np.linspace(0, len(frame), max(1, n) + 1).astype(int)
    return [frame.iloc[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def champion_capacity(settings: Settings, model_name: str) -> int | None:
    """Return the red-ticket capacity the champion was trained with, if any."""
    connect(settings)
    current = champion_version(model_name)
    return champion_config(current).capacity_per_day if current is not None else None


def finish_day(night: ScoredNight, store: HistoryStore, settings: Settings) -> Path:
    """Stage day D's scored cases for publishing and, for the risk grader, append them to the
    history store; return the stage.

    Only the risk grader's nights go into the store: its predicted grades are what later history
    features count. Another model's predictions (a dispute type, say) are not grades, and its
    night must not replace the risk grader's record of the same cases.
    """
    started = time.perf_counter()
    run_date, predictions, model = night.run_date, night.predictions, night.model
    dropped = [c for c in predictions.columns if c in night.cases.columns and c != "case_id"]
    scored = night.cases.merge(
        predictions.drop(columns=dropped), on="case_id", how="left", validate="one_to_one"
    )
    drift = _drift(settings, run_date, scored, night.grader, model.name)
    if night.grader.ordinal_:
        store.append(
            scored.assign(predicted_grade=scored["grade"]), batch=f"day-{run_date:%Y-%m-%d}"
        )
    night.timings["store"] = time.perf_counter() - started
    meta = {
        "run_date": f"{run_date:%Y-%m-%d}",
        "ingest": night.ingested.inputs(),
        "model": model.as_dict(),
        "drift": drift.as_dict(),
        "timings": night.timings,
        "settings": {
            "h3_resolution": settings.h3_resolution,
            "hotspot_days": settings.hotspot_days,
            "trend_weeks": settings.trend_weeks,
            "mode": settings.mode,
        },
    }
    return stage_day(settings, run_date, scored, night.ingested.quarantine, meta, model.name)


DRIFT_DAYS = 7
DRIFT_SAMPLE = 100_000


def _drift(
    settings: Settings,
    run_date: pd.Timestamp,
    scored: pd.DataFrame,
    grader: RiskGrader,
    model_name: str,
) -> DriftReport:
    """Return drift over the last DRIFT_DAYS scored days (today's cases and the staged days before).

    Past a DRIFT_SAMPLE cases the window is a seeded uniform sample (the same share of every day):
    PSI over ten bins does not need a province's week, and the lexicon features cost a pass over
    every text. The report says how many cases the sample was drawn from. A column the export
    lacks is compared as all unknown, never a failure.
    """
    featuriser = grader.featuriser_
    needed = list(
        dict.fromkeys(
            [
                "score",
                "reported_at",
                "description",
                "n_parties",
                "completeness",
                *DRIFT_CATEGORIES,
                *featuriser.categoricals,
                *featuriser.context_columns_,
            ]
        )
    )
    staged = [
        (folder, *staged_schema(folder))  # the footer once: rows and columns
        for back in range(1, DRIFT_DAYS)
        if is_staged(folder := stage_dir(settings, run_date - pd.Timedelta(days=back), model_name))
    ]
    total = len(scored) + sum(rows for _, rows, _ in staged)
    share = min(1.0, DRIFT_SAMPLE / max(total, 1))

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[[c for c in needed if c in frame]]
        return frame if share == 1.0 else frame.sample(frac=share, random_state=0)

    frames = [sample(scored)]
    for folder, _, present in staged:
        frames.append(sample(staged_cases(folder, [c for c in needed if c in present])))
    window = pd.concat(frames, ignore_index=True)
    window = window.assign(**{c: None for c in needed if c not in window})
    features = featuriser.dense_features(window)
    days = window["reported_at"].dt.normalize()
    report = drift_report(
        grader.reference_,
        window["score"].to_numpy(),
        {n: features[n].to_numpy() for n in DRIFT_FEATURES if n in features},
        {c: category_shares(window, c) for c in DRIFT_CATEGORIES},
        window=f"{days.min():%Y-%m-%d} – {days.max():%Y-%m-%d}",
    )
    return dataclasses.replace(report, sampled_from=total)


def stage_day(
    settings: Settings,
    run_date: pd.Timestamp,
    scored: pd.DataFrame,
    quarantine: pd.DataFrame,
    meta: dict,
    model_name: str | None = None,
) -> Path:
    """Write day D's scored cases, quarantine and metadata where publishing reads them (atomically)."""
    return write_stage(stage_dir(settings, run_date, model_name), scored, quarantine, meta)


def load_day(
    settings: Settings, run_date: pd.Timestamp, model_name: str | None = None
) -> DayOutputs:
    """Return a staged day with the recent history publishing compares it against."""
    folder = stage_dir(settings, run_date, model_name)
    if not is_staged(folder):
        raise FileNotFoundError(
            f"day {run_date:%Y-%m-%d} has not been scored: no {folder}; run fengqiao score first"
        )
    meta = stage_meta(folder)
    scored = staged_cases(folder)
    end = run_date.normalize() + pd.Timedelta(days=1)
    recent = history_store(settings).read(
        start=run_date.normalize() - pd.Timedelta(weeks=settings.trend_weeks + 1),
        end=end,
        exclude_case_ids=set(scored["case_id"]),
        texts_from=end,  # maps and comparisons count cases; they quote only tonight's texts
        keys_of=(),  # and follow no party
    )
    return DayOutputs(
        run_date=run_date,
        scored=scored,
        quarantine=staged_quarantine(folder),
        recent=recent.assign(grade=recent["history_grade"]),
        ingest=meta["ingest"],
        model=ModelInfo.from_dict(meta["model"]),
        drift=DriftReport.from_dict(meta["drift"]),
        timings=meta["timings"],
        settings=meta["settings"],
    )


def release_memory() -> None:
    """Stop joblib's idle worker processes and hand the freed heap back to the system.

    Workers otherwise keep their last chunk's memory for minutes, and glibc keeps freed memory
    mapped; on a million-case night the stages' peaks would add up. The next parallel step starts
    fresh workers (a few seconds).
    """
    from joblib.externals.loky import get_reusable_executor

    # The pool joblib's loky backend reuses. Asked for with other settings, loky replaces it (its
    # workers stop); either way the pool returned is shut down, and none starts a worker unasked.
    get_reusable_executor().shutdown(wait=True)
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)
