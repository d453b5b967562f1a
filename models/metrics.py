"""How a grader is scored: classification, ranking, probability quality and calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from features.domain import HIGH

N_BINS = 15


def macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    """Return sklearn's f1_score(y, predicted, average="macro", zero_division=0) for small
    non-negative integer labels, from one confusion matrix: the same counts and the same division
    (2 tp / (true + predicted)) as sklearn, without its checks, for searches that call it hundreds
    of times on every training case."""
    k = int(max(y.max(initial=0), predicted.max(initial=0))) + 1
    confusion = np.bincount(y * k + predicted, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    true, guessed = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (true + guessed) > 0  # sklearn averages over the labels in either
    f1 = np.divide(2 * tp, true + guessed, out=np.zeros(k), where=present)
    return float(f1[present].mean())


def paired_f1_noise(
    y: np.ndarray, first: np.ndarray, second: np.ndarray, seed: int = 0, draws: int = 200
) -> float:
    """Return the bootstrap standard error of macro_f1(y, first) - macro_f1(y, second), the two
    gradings of the same cases resampled together: how far apart they can land by chance."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(y), size=(draws, len(y)))
    differences = [macro_f1(y[i], first[i]) - macro_f1(y[i], second[i]) for i in picks]
    return float(np.std(differences, ddof=1))


def binary_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Return sklearn's f1_score(truth, predicted, zero_division=0) for boolean arrays, from counts."""
    both = np.count_nonzero(truth) + np.count_nonzero(predicted)
    return 2 * np.count_nonzero(truth & predicted) / both if both else 0.0


def brier_score(y: np.ndarray, proba: np.ndarray) -> float:
    """Return the multi-class Brier score: mean over cases of the squared error summed over classes."""
    onehot = np.eye(proba.shape[1])[y]
    return float(((proba - onehot) ** 2).sum(axis=1).mean())


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, n_bins: int = N_BINS) -> float:
    """Return the top-label ECE: |accuracy - confidence| over equal-width confidence bins, weighted."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def classwise_ece(y: np.ndarray, proba: np.ndarray, n_bins: int = N_BINS) -> float:
    """Return the class-wise ECE: per class, |frequency - mean probability| over bins, averaged."""
    errors = []
    for k in range(proba.shape[1]):
        p, hit = proba[:, k], (y == k).astype(float)
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        errors.append(
            sum(
                (bins == b).mean() * abs(hit[bins == b].mean() - p[bins == b].mean())
                for b in np.unique(bins)
            )
        )
    return float(np.mean(errors))


def grade_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    predicted: np.ndarray,
    classes: list[str],
    high: str | None = HIGH,
) -> dict:
    """Return every metric the backtest reports for one set of predictions.

    y and predicted are class indices into `classes`; proba has one column per class.
    """
    labels = list(range(len(classes)))
    out = {
        "n": len(y),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "accuracy": float((y == predicted).mean()),
        "log_loss": float(log_loss(y, as_probabilities(proba), labels=labels)),
        "brier": brier_score(y, proba),
        "ece": expected_calibration_error(y, proba),
        "classwise_ece": classwise_ece(y, proba),
        "confusion": confusion_matrix(y, predicted, labels=labels).tolist(),
    }
    present = np.unique(y)
    if len(present) == len(classes):
        out["auc_ovr"] = float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    if high is not None and high in classes:
        h = classes.index(high)
        out["high_recall"] = float(recall_score(y == h, predicted == h, zero_division=0))
        out["high_precision"] = float(precision_score(y == h, predicted == h, zero_division=0))
        if (y == h).any() and (y != h).any():
            out["high_auc"] = float(roc_auc_score(y == h, proba[:, h]))
    return out


def as_probabilities(proba: np.ndarray) -> np.ndarray:
    """Return probabilities kept off 0 and summing to 1, as log-loss needs them."""
    clipped = np.clip(proba, 1e-12, 1)
    return clipped / clipped.sum(axis=1, keepdims=True)


def outcome_metrics(
    escalated: np.ndarray,
    risk: np.ndarray,
    ticketed: np.ndarray,
    days: np.ndarray,
    capacity: int | None = None,
) -> dict:
    """Return how well a grading anticipates escalation (民转刑, extreme acts, mass incidents,
    petitions past the local level), which staff grades only stand in for.

    escalated: the outcome known later; risk: the model's risk score; ticketed: whether the case
    got a red or yellow ticket. Reports the share of escalations the tickets caught and the share
    of cases ticketed (a grading that tickets more catches more: compare gradings at the same
    workload with `caught_by_riskiest`), the lift among the `capacity` riskiest cases of each day
    (or the riskiest 5% when no capacity is set), and the AUC of the risk score for the outcome.
    """
    escalated = np.asarray(escalated, bool)
    if not escalated.any() or escalated.all():
        return {}
    frame = pd.DataFrame({"day": days, "risk": risk, "escalated": escalated})
    if capacity:
        rank = frame.groupby("day")["risk"].rank(ascending=False, method="first")
        top = (rank <= capacity).to_numpy()
    else:
        top = (
            frame["risk"].rank(ascending=False, method="first") <= max(1, round(0.05 * len(frame)))
        ).to_numpy()
    base = escalated.mean()
    return {
        "escalation_caught": float(ticketed[escalated].mean()),
        "ticketed_share": float(np.mean(ticketed)),
        "escalation_lift": float(escalated[top].mean() / base),
        "escalation_auc": float(roc_auc_score(escalated, risk)),
    }


def caught_by_riskiest(escalated: np.ndarray, risk: np.ndarray, n: int) -> float:
    """Return the share of escalations among the `n` cases with the highest risk score: what a
    grading would catch if it ticketed as many cases as another (ties broken by order)."""
    escalated = np.asarray(escalated, bool)
    top = np.argsort(-np.asarray(risk, float), kind="stable")[:n]
    return float(escalated[top].sum() / escalated.sum()) if escalated.any() else float("nan")


def observed_outcomes(escalated: pd.Series, reported_at: pd.Series) -> np.ndarray:
    """Return which cases' escalation outcome can be counted: known, and reported no later than
    the last day on which at least half as many of the day's outcomes are known as on a usual
    day (the median day).

    An outcome is recorded as soon as a case escalates, but as 否 only once its follow-up is
    over: in an export's last weeks the known outcomes are nearly all escalations, and counting
    them credits any grading with catching them (on the demo's last fold, 93% of the cases with
    a known outcome were ticketed, against 25% before).
    """
    known = pd.Series(escalated).notna().to_numpy()
    day = pd.Series(reported_at).dt.normalize().to_numpy()
    share = pd.Series(known).groupby(day).mean()
    usual = share.median() if len(share) else 0.0
    if not usual:
        return np.zeros(len(known), bool)
    horizon = share.index[share >= usual / 2].max()
    return known & (day <= horizon)
