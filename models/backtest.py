"""The time-based backtest: rolling origin, the grader against the baselines (and the oracle) per fold.

Fold k trains on every labelled case reported before its origin and is tested on the cases of the
next `test_days` days; the origins step forward so that the test windows tile the most recent
period. Context features come from build_context, which only ever looks at earlier cases, so no
feature carries information from the future of the case it describes.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from features.errors import UsageError
from features.parallel import in_background, plan
from features.progress import progress_bar
from features.text import normalise_texts
from models.baselines import KeywordChecklist, TfidfLogistic, checklist_points
from models.grader import GraderConfig, RiskGrader
from models.metrics import grade_metrics, observed_outcomes, outcome_metrics
from models.thresholds import (
    apply_thresholds,
    choose_thresholds,
    is_ordinal,
    label_classes,
)
from models.validation import time_slices

# When the cases are worth worker processes (features.parallel.plan), the baselines run in a
# process of their own while the grader trains: their jieba cutting and single-threaded logistic
# regressions fill the core the grader leaves idle in its own single-threaded steps.
BASELINE_COLUMNS = ["description", "reported_at"]
# The metrics of the grades; MLflow gets these for every model and fold (pipelines.catalog).
GRADE_METRICS = ("macro_f1", "high_recall", "high_precision", "auc_ovr", "log_loss", "brier", "ece")
TABLE_METRICS = [
    *GRADE_METRICS,
    "escalation_caught",
    "ticketed_share",
    "escalation_lift",
    "escalation_auc",
]


@dataclass(frozen=True)
class Fold:
    """One rolling-origin fold: train before `origin`, test on [origin, end)."""

    name: str
    origin: pd.Timestamp
    end: pd.Timestamp


@dataclass
class BacktestResult:
    """Per-fold and overall metrics of every model, and the test predictions behind them."""

    table: pd.DataFrame  # one row per (fold, model); fold "overall" pools the test folds
    predictions: pd.DataFrame  # case_id, fold, model, y, predicted, p_<class>
    folds: list[Fold]
    classes: list[str]
    seconds: dict[str, float] = field(default_factory=dict)

    def metric(self, model: str, name: str, fold: str = "overall") -> float:
        """Return one metric of one model."""
        row = self.table[(self.table["model"] == model) & (self.table["fold"] == fold)]
        return float(row[name].iloc[0])

    def markdown(self) -> str:
        """Return the backtest table as Markdown, models side by side per fold."""
        shown = self.table[["fold", "model", "n", *[m for m in TABLE_METRICS if m in self.table]]]
        return shown.to_markdown(index=False, floatfmt=".3f")


# A fold is only worth reporting with enough cases to measure on and to learn from.
MIN_TEST_CASES = 30
MIN_TRAIN_CASES = 100
N_FOLDS = 3
TEST_DAYS = 30


class InsufficientData(UsageError):
    """Too few labelled cases for an honest backtest; the message says how many are needed."""


def rolling_folds(
    times: pd.Series, n_folds: int = N_FOLDS, test_days: int = TEST_DAYS
) -> list[Fold]:
    """Return n_folds consecutive test windows of test_days that end at the last report."""
    end = pd.Timestamp(times.max()).normalize() + pd.Timedelta(days=1)
    folds = []
    for k in range(n_folds, 0, -1):
        origin = end - pd.Timedelta(days=test_days * k)
        folds.append(Fold(f"fold{n_folds - k + 1}", origin, origin + pd.Timedelta(days=test_days)))
    return folds


def quantile_folds(times: pd.Series, n_folds: int, test_cases: int) -> list[Fold]:
    """Return n_folds consecutive test blocks of about test_cases cases each, ending with the
    latest report: rolling origin by time quantiles, for data too thin for calendar windows."""
    ordered = np.sort(pd.to_datetime(times).to_numpy())
    n = len(ordered)
    starts = [ordered[n - k * test_cases] for k in range(n_folds, 0, -1)]
    ends = [*starts[1:], ordered[-1] + np.timedelta64(1, "s")]
    return [
        Fold(f"fold{i + 1}", pd.Timestamp(a), pd.Timestamp(b))
        for i, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]


def plan_folds(times: pd.Series, y: np.ndarray, n_folds: int = N_FOLDS) -> list[Fold]:
    """Return the backtest's rolling-origin folds, following the data.

    Three 30-day windows ending at the latest report when each holds at least MIN_TEST_CASES
    labelled cases and at least MIN_TRAIN_CASES came before the first (a busy centre); otherwise
    test blocks of equal numbers of cases by time (a small or sparse history, over years), as
    many as the data allows. Raises InsufficientData when not even one fold can be had.
    """
    times = pd.to_datetime(pd.Series(times)).reset_index(drop=True)
    y = np.asarray(y)
    calendar = rolling_folds(times, n_folds)
    if _usable(calendar, times, y):
        return calendar
    n = len(times)
    for k in range(n_folds, 0, -1):
        # Test blocks of a fifth of the cases each, or smaller when k of them would leave too
        # little to train the first fold on.
        size = min(max(MIN_TEST_CASES, n // 5), (n - MIN_TRAIN_CASES) // k)
        if size < MIN_TEST_CASES:
            continue
        folds = quantile_folds(times, k, size)
        if _usable(folds, times, y):
            return folds
    raise InsufficientData(
        f"{n} labelled cases are too few for an honest time-based backtest: it needs at least "
        f"{MIN_TRAIN_CASES + MIN_TEST_CASES} (each fold tests on at least {MIN_TEST_CASES} later "
        f"cases after training on at least {MIN_TRAIN_CASES} earlier ones, with two grades or "
        "classes among them). Train without one with --no-backtest; such a model is not "
        "compared with the baselines, so check its grades by hand."
    )


def _usable(folds: list[Fold], times: pd.Series, y: np.ndarray) -> bool:
    for fold in folds:
        train = (times < fold.origin).to_numpy()
        test = ((times >= fold.origin) & (times < fold.end)).to_numpy()
        if test.sum() < MIN_TEST_CASES or train.sum() < MIN_TRAIN_CASES:
            return False
        if len(np.unique(y[train])) < 2:
            return False
    return bool(folds)


def run_backtest(
    cases: pd.DataFrame,
    config: GraderConfig,
    folds: list[Fold] | None = None,
    oracle: pd.DataFrame | None = None,
    baselines: bool = True,
    progress=None,
    dask_client=None,
) -> BacktestResult:
    """Return the backtest of the grader (and baselines, and the oracle if given) over the folds.

    `cases` carry context columns and the target; `oracle` (demo only) has case_id and
    p_low/p_medium/p_high. `progress`, if given, is called with a message per step.
    """
    labelled = cases[cases[config.target].notna()].reset_index(drop=True)
    values = labelled[config.target].astype(str)
    classes = label_classes(values)
    y = values.map({c: i for i, c in enumerate(classes)}).to_numpy()
    folds = folds or plan_folds(labelled["reported_at"], y)
    masks = {fold.name: _fold_masks(labelled, fold, y) for fold in folds}
    observed = (
        observed_outcomes(labelled["escalated"], labelled["reported_at"])
        if "escalated" in labelled
        else np.zeros(len(labelled), bool)
    )
    runs, seconds = _fold_runs(
        labelled, y, classes, masks, config, oracle, baselines, progress, dask_client
    )
    rows, predictions = [], []
    for fold in folds:
        test = masks[fold.name][1]
        for model, (proba, predicted) in runs[fold.name].items():
            rows.append(
                {
                    "fold": fold.name,
                    "model": model,
                    **grade_metrics(y[test], proba, predicted, classes),
                    **_outcomes(labelled[test], observed[test], proba, predicted, classes, config),
                }
            )
            predictions.append(
                pd.DataFrame(
                    {
                        "case_id": labelled.loc[test, "case_id"].to_numpy(),
                        "fold": fold.name,
                        "model": model,
                        "y": y[test],
                        "predicted": predicted,
                        **{f"p_{c}": proba[:, i] for i, c in enumerate(classes)},
                    }
                )
            )
    pooled = pd.concat(predictions, ignore_index=True)
    table = pd.DataFrame(rows + _overall_rows(pooled, labelled, observed, classes, config))
    return BacktestResult(
        table=table, predictions=pooled, folds=folds, classes=classes, seconds=seconds
    )


def _fold_runs(
    labelled, y, classes, masks, config, oracle, baselines, progress, dask_client
) -> tuple[dict[str, dict], dict[str, float]]:
    """Return {fold: {model: (proba, predicted)}} for the grader, the baselines and the oracle
    (last), and the seconds each took. The baselines run in a spawned process beside the grader
    when there are processes to spare and cases enough to pay for one."""
    seconds: dict[str, float] = {}
    background = plan(len(labelled), config.n_jobs).how == "processes"
    with contextlib.ExitStack() as stack:
        if baselines and background:
            # Left running only while this block runs: a failing grader does not wait for it.
            pending = stack.enter_context(
                in_background(
                    functools.partial(baseline_runs, labelled[BASELINE_COLUMNS], y, classes, masks),
                    "spawn",
                )
            )
        graded, grader_seconds = _grader_runs(
            labelled, y, classes, masks, config, oracle, progress, dask_client
        )
        seconds.update(grader_seconds)
        others: dict[str, dict] = {name: {} for name in masks}
        if baselines:
            started = time.perf_counter()
            if background:
                _say(progress, "waiting for the baselines")
                others, baseline_seconds = pending()
                seconds["baselines_wait"] = time.perf_counter() - started
            else:
                others, baseline_seconds = baseline_runs(
                    labelled[BASELINE_COLUMNS], y, classes, masks
                )
            seconds.update(baseline_seconds)
    runs = {}
    for name in masks:
        runs[name] = {**graded[name], **others[name]}
        if "oracle" in runs[name]:
            runs[name]["oracle"] = runs[name].pop("oracle")  # last, as in every table before
    return runs, seconds


def _overall_rows(
    pooled: pd.DataFrame, labelled: pd.DataFrame, observed: np.ndarray, classes, config
) -> list[dict]:
    """Return each model's metrics over every fold's test cases pooled."""
    rows = []
    row_of = pd.Series(np.arange(len(labelled)), index=labelled["case_id"])
    for model, part in pooled.groupby("model", sort=False):
        proba = part[[f"p_{c}" for c in classes]].to_numpy()
        at = row_of.loc[part["case_id"]].to_numpy()
        tested = labelled.iloc[at].reset_index(drop=True)
        rows.append(
            {
                "fold": "overall",
                "model": model,
                **grade_metrics(part["y"].to_numpy(), proba, part["predicted"].to_numpy(), classes),
                **_outcomes(
                    tested, observed[at], proba, part["predicted"].to_numpy(), classes, config
                ),
            }
        )
    return rows


def _outcomes(
    tested: pd.DataFrame, known: np.ndarray, proba, predicted, classes, config: GraderConfig
) -> dict:
    """Return the escalation metrics of a risk grading over the cases whose outcome counts
    (models.metrics.observed_outcomes), else {}."""
    if not is_ordinal(classes) or "escalated" not in tested:
        return {}
    if not known.any():
        return {}
    return outcome_metrics(
        tested["escalated"].to_numpy()[known].astype(bool),
        RiskGrader.risk_score(proba)[known],
        (np.asarray(predicted) >= 1)[known],
        tested["reported_at"].dt.normalize().to_numpy()[known],
        config.capacity_per_day,
    )


def _fold_masks(labelled: pd.DataFrame, fold: Fold, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the fold's training and test rows as boolean masks; raise if either is too small."""
    train = (labelled["reported_at"] < fold.origin).to_numpy()
    test = (
        (labelled["reported_at"] >= fold.origin) & (labelled["reported_at"] < fold.end)
    ).to_numpy()
    if test.sum() == 0 or len(np.unique(y[train])) < 2:
        raise InsufficientData(
            f"{fold.name}: {test.sum()} test and {train.sum()} training cases; too little data for this fold"
        )
    return train, test


def _grader_runs(labelled, y, classes, masks, config, oracle, progress, dask_client):
    """Return each fold's grader (and oracle) (probabilities, grades) by model, and the seconds taken."""
    ordinal = is_ordinal(classes)
    results, seconds = {}, {}
    for name in progress_bar(list(masks), "backtest folds"):
        train, test = masks[name]
        started = time.perf_counter()
        _say(progress, f"{name}: training the LightGBM grader on {train.sum():,} cases")
        grader = RiskGrader(config).fit(labelled[train], dask_client)
        scored = grader.predict(labelled[test], reasons=False)
        # A class absent from this fold's training data gets probability 0.
        proba = np.column_stack(
            [scored[f"p_{c}"] if f"p_{c}" in scored else np.zeros(len(scored)) for c in classes]
        )
        results[name] = {"lightgbm": (proba, _to_index(scored["grade"], classes))}
        seconds[f"{name}/lightgbm"] = time.perf_counter() - started
        if oracle is not None and ordinal:
            results[name]["oracle"] = _oracle_run(labelled, oracle, train, test, y, classes, config)
    return results, seconds


def baseline_runs(
    cases: pd.DataFrame,
    y: np.ndarray,
    classes: list[str],
    masks: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], dict[str, float]]:
    """Return each fold's baseline (probabilities, grades) by model, and the seconds taken.

    `cases` need only BASELINE_COLUMNS; `masks` hold each fold's (train, test) rows by fold name.
    The checklist runs only for the ordered risk grades.
    """
    started = time.perf_counter()
    texts = np.asarray(normalise_texts(cases["description"]), dtype=object)
    seconds = {"baseline_texts": time.perf_counter() - started}
    # A text's checklist points do not depend on the fold: computed once, like the tokens.
    started = time.perf_counter()
    points = checklist_points(texts) if is_ordinal(classes) else None
    seconds["baseline_points"] = time.perf_counter() - started
    results = {}
    for name, (train, test) in masks.items():
        started = time.perf_counter()
        lr = TfidfLogistic().fit(cases[train], y[train], classes, list(texts[train]))
        proba = lr.predict_proba(cases[test], list(texts[test]))
        results[name] = {"tfidf_lr": (proba, lr.grades(proba))}
        seconds[f"{name}/tfidf_lr"] = time.perf_counter() - started
        if points is not None:
            started = time.perf_counter()
            checklist = KeywordChecklist().fit(cases[train], y[train], classes, points[train])
            results[name]["keyword_checklist"] = (
                checklist.predict_proba(cases[test], points[test]),
                checklist.predict(cases[test], points[test]),
            )
            seconds[f"{name}/keyword_checklist"] = time.perf_counter() - started
    return results, seconds


def _to_index(grades: pd.Series, classes: list[str]) -> np.ndarray:
    return grades.map({c: i for i, c in enumerate(classes)}).to_numpy()


def _oracle_run(labelled, oracle, train, test, y, classes, config):
    """Return the oracle's probabilities on the test fold and its grades by the same threshold rule."""
    proba = (
        labelled[["case_id"]]
        .merge(oracle[["case_id", "p_low", "p_medium", "p_high"]], on="case_id", how="left")[
            ["p_low", "p_medium", "p_high"]
        ]
        .to_numpy()
    )
    # Thresholds for the oracle come from the same kind of slice as the grader's: the latest part of training.
    _, _, cal = time_slices(
        labelled.loc[train, "reported_at"],
        config.early_stopping_fraction,
        config.calibration_fraction,
    )
    train_rows = np.flatnonzero(train)[cal]
    thresholds = choose_thresholds(
        proba[train_rows],
        y[train_rows],
        classes,
        config.threshold_rule,
        labelled.loc[train_rows, "reported_at"],
        config.capacity_per_day,
    )
    return proba[test], apply_thresholds(
        proba[test], thresholds, labelled.loc[test, "reported_at"]
    )[0]


def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)


def cross_validated_accuracy(
    cases: pd.DataFrame, config: GraderConfig, n_splits: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Return per-fold accuracy and macro-F1 of the grader and TF-IDF + LR under stratified k-fold CV.

    For labels without a time structure worth backtesting (a category taxonomy, a small sample).
    """
    from sklearn.model_selection import StratifiedKFold

    labelled = cases[cases[config.target].notna()].reset_index(drop=True)
    y_text = labelled[config.target].astype(str).to_numpy()
    classes = sorted(np.unique(y_text))
    y = np.searchsorted(classes, y_text)
    texts = normalise_texts(labelled["description"])
    rows = []
    for k, (train, test) in enumerate(
        StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(labelled, y)
    ):
        grader = RiskGrader(config).fit(labelled.iloc[train])
        predicted = grader.predict(labelled.iloc[test], reasons=False)["grade"].to_numpy()
        lr = TfidfLogistic().fit(labelled.iloc[train], y[train], classes, [texts[i] for i in train])
        lr_predicted = np.asarray(classes)[
            lr.predict(labelled.iloc[test], [texts[i] for i in test])
        ]
        for model, guess in (("lightgbm", predicted), ("tfidf_lr", lr_predicted)):
            rows.append(
                {
                    "fold": k + 1,
                    "model": model,
                    "accuracy": float((guess == y_text[test]).mean()),
                    "macro_f1": float(
                        f1_score(y_text[test], guess, average="macro", zero_division=0)
                    ),
                }
            )
    return pd.DataFrame(rows)
