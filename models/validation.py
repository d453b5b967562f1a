"""Which labelled cases validate a grader: time slices when there are many, the latest cases
holding enough of every class with cross-fitted folds when there are few; and the rule that keeps
the stack over the text model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold


def time_slices(
    times: pd.Series, early_stopping_fraction: float, calibration_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return boolean masks (fit, early stop, calibration) that split cases by report time."""
    order = np.argsort(times.to_numpy(), kind="stable")
    n = len(order)
    fit_end = int(n * (1 - early_stopping_fraction - calibration_fraction))
    es_end = int(n * (1 - calibration_fraction))
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    return rank < fit_end, (rank >= fit_end) & (rank < es_end), rank >= es_end


def latest_holding(times: pd.Series, y: np.ndarray, fraction: float, per_class: int) -> np.ndarray:
    """Return the latest cases by report time: at least `fraction` of them, and more, back in
    time, until every class has `per_class` cases among them (or every case is taken)."""
    order = np.argsort(times.to_numpy(), kind="stable")[::-1]
    counts = np.zeros(int(y.max()) + 1 if len(y) else 0, int)
    goal = np.minimum(np.bincount(y, minlength=len(counts)), per_class)
    taken = 0
    for taken, i in enumerate(order, start=1):
        counts[y[i]] += 1
        if taken >= fraction * len(y) and (counts >= goal).all():
            break
    mask = np.zeros(len(y), bool)
    mask[order[:taken]] = True
    return mask


def stack_is_better(stack: dict, text: dict, noise: float) -> bool:
    """Return whether the stack beats the text model on validation: a lower log-loss, and a
    macro-F1 no lower than the text model's by more than `noise`."""
    return stack["log_loss"] < text["log_loss"] and stack["macro_f1"] >= text["macro_f1"] - noise


def cross_fit_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return stratified folds (fewer when a class has fewer than k cases)."""
    k = int(min(k, max(np.bincount(y).min(), 2)))
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))
