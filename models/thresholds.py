"""From calibrated probabilities to grades: the documented decision rules.

For the risk grader (classes 低 < 中 < 高) the grade is ordinal:
  高 if p(高) >= t_high;
  else 中 if p(中) + p(高) >= t_medium;
  else 低.

The thresholds are chosen on the calibration slice (later than the training slice, never the test
period) by one of two rules:
  "f1":       the pair (t_high, t_medium) with the best macro-F1 among the pairs whose red tickets
              catch at least MIN_HIGH_RECALL of the slice's 高 cases. Choosing each threshold for
              its own class's F1 set t_high near 0.15 where 高 is one case in fifteen: half the red
              tickets went to 低 cases, and 低's F1 counted for nothing in the choice.
  "capacity": as "f1", but t_high is at least the threshold at which the busiest usual day (the
              90th percentile of daily 高 counts on the calibration slice) fits within the centre's
              daily capacity K for red tickets (红色督办单); capacity comes before the recall floor.
              At scoring time a day that still exceeds K keeps its K highest p(高) cases as 高; the
              rest become 中, and their reasons say why.

Any other target (e.g. dispute_type) is graded by the most probable class after weighting each
class's probability by (its share of the calibration cases)^-beta: beta 0 is plain argmax
(accuracy), beta 1 gives every class an equal say (macro-F1). beta is chosen on the calibration
cases by macro-F1: the smallest within 0.01 of the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.domain import GRADES, HIGH_INDEX, LOW_INDEX, MEDIUM_INDEX
from models.metrics import macro_f1

RISK_CLASSES = GRADES  # the risk grades, lowest first
# The ordinal models' two scores, and the lowest grade index each counts: P(高), P(at least 中).
ORDINAL_SCORES = {"high": HIGH_INDEX, "at_least_medium": MEDIUM_INDEX}
_GRID = np.round(np.linspace(0.02, 0.95, 94), 4)
OVER_CAPACITY_REASON = "超出当日红色督办容量，按黄色交办"
# Red tickets catch at least this share of the calibration slice's 高 cases (when capacity allows).
MIN_HIGH_RECALL = 0.5


@dataclass(frozen=True)
class Thresholds:
    """The decision rule and its thresholds; they travel inside the model artifact."""

    rule: str  # "f1", "capacity" or "argmax"
    high: float | None = None
    medium: float | None = None
    capacity_per_day: int | None = None
    class_weights: tuple[float, ...] | None = None  # "argmax": each class's weight

    def as_dict(self) -> dict:
        return {
            "rule": self.rule,
            "high": self.high,
            "medium": self.medium,
            "capacity_per_day": self.capacity_per_day,
            "class_weights": list(self.class_weights) if self.class_weights else None,
        }


def ordinal_proba(p_high: np.ndarray, p_at_least_medium: np.ndarray) -> np.ndarray:
    """Return (低, 中, 高) probabilities from P(高) and P(at least 中), kept consistent."""
    p_at_least_medium = np.maximum(p_at_least_medium, p_high)
    return np.column_stack([1 - p_at_least_medium, p_at_least_medium - p_high, p_high])


def _ordinal_scores(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return P(高) and P(at least 中) from (低, 中, 高) probabilities."""
    return proba[:, HIGH_INDEX], proba[:, MEDIUM_INDEX:].sum(axis=1)


def label_classes(values: pd.Series) -> list[str]:
    """Return a label's classes in order: the risk grades lowest first, any other label sorted."""
    found = sorted(values.unique())
    return RISK_CLASSES if set(found) <= set(RISK_CLASSES) else found


def is_ordinal(classes: list[str]) -> bool:
    """Return whether the classes are the risk grades, graded by ordinal thresholds."""
    return list(classes) == RISK_CLASSES


def threshold_table(
    p_high: np.ndarray, p_at_least_medium: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the macro-F1 of every (t_high, t_medium) pair of the grid, as a [high, medium]
    array, and the 高 recall of every t_high.

    Counted, not recomputed per pair: for each t_high, the cases left below it are sorted once per
    class, and the count at or above every t_medium is a binary search.
    """
    true = np.bincount(y, minlength=3).astype(float)
    f1 = np.zeros((len(_GRID), len(_GRID)))
    recall = np.zeros(len(_GRID))
    for i, t_high in enumerate(_GRID):
        high = p_high >= t_high
        red = np.bincount(y[high], minlength=3).astype(float)  # red tickets, by true grade
        below = [np.sort(p_at_least_medium[~high & (y == c)]) for c in range(3)]
        yellow = np.stack([len(b) - np.searchsorted(b, _GRID) for b in below]).astype(float)
        green = np.array([len(b) for b in below], float)[:, None] - yellow
        hits = np.stack([green[0], yellow[1], np.full(len(_GRID), red[HIGH_INDEX])])
        given = np.stack([green.sum(0), yellow.sum(0), np.full(len(_GRID), red.sum())])
        total = given + true[:, None]
        f1[i] = np.divide(2 * hits, total, out=np.zeros_like(total), where=total > 0).mean(0)
        recall[i] = red[HIGH_INDEX] / true[HIGH_INDEX] if true[HIGH_INDEX] else 0.0
    return f1, recall


def choose_thresholds(
    proba: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    rule: str = "f1",
    days: pd.Series | None = None,
    capacity_per_day: int | None = None,
) -> Thresholds:
    """Return thresholds chosen on a calibration slice by the named rule."""
    if not is_ordinal(classes):
        return Thresholds("argmax", class_weights=_class_weights(proba, y))
    if rule not in ("f1", "capacity"):
        raise ValueError(f"unknown threshold rule {rule!r}; use 'f1' or 'capacity'")
    p_high, p_at_least_medium = _ordinal_scores(proba)
    f1, recall = threshold_table(p_high, p_at_least_medium, y)
    allowed = np.ones(len(_GRID), bool)
    if rule == "capacity":
        if capacity_per_day is None or days is None:
            raise ValueError("the capacity rule needs capacity_per_day and the cases' days")
        lowest = _capacity_threshold(p_high, days, capacity_per_day)
        allowed = lowest <= _GRID
    if (allowed & (recall >= MIN_HIGH_RECALL)).any():
        allowed &= recall >= MIN_HIGH_RECALL
    # The first best pair: the lowest t_high, then the lowest t_medium, among ties.
    i, j = np.unravel_index(np.argmax(np.where(allowed[:, None], f1, -1.0)), f1.shape)
    t_high, t_medium = float(_GRID[i]), float(_GRID[j])
    return Thresholds(
        rule,
        high=t_high,
        medium=t_medium,
        capacity_per_day=capacity_per_day if rule == "capacity" else None,
    )


BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BETA_MARGIN = 0.01


def _class_weights(proba: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """Return the class weights of the smallest beta within BETA_MARGIN of the best macro-F1:
    on a few hundred calibration cases a larger beta must earn its place."""
    share = np.bincount(y, minlength=proba.shape[1]) / max(len(y), 1)
    share = np.where(share > 0, share, 1.0)
    scores = [macro_f1(y, (proba * share**-beta).argmax(axis=1)) for beta in BETAS]
    chosen = next(b for b, f in zip(BETAS, scores, strict=True) if f >= max(scores) - BETA_MARGIN)
    weights = share**-chosen
    return tuple(float(w) for w in weights / weights.max())


def _capacity_threshold(p_high: np.ndarray, days: pd.Series, capacity: int) -> float:
    day = pd.to_datetime(days).dt.normalize().to_numpy()
    for t in _GRID:
        daily = pd.Series(p_high >= t).groupby(day).sum()
        if daily.quantile(0.9) <= capacity:
            return float(t)
    return float(_GRID[-1])


def apply_thresholds(
    proba: np.ndarray, thresholds: Thresholds, days: pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (grade index per case, whether the case was demoted for capacity)."""
    demoted = np.zeros(len(proba), bool)
    if thresholds.rule == "argmax":
        weights = np.asarray(thresholds.class_weights or np.ones(proba.shape[1]))
        return (proba * weights).argmax(axis=1), demoted
    p_high, p_at_least_medium = _ordinal_scores(proba)
    grade = np.where(
        p_high >= thresholds.high,
        HIGH_INDEX,
        np.where(p_at_least_medium >= thresholds.medium, MEDIUM_INDEX, LOW_INDEX),
    )
    if thresholds.capacity_per_day is not None and days is not None:
        demoted = over_capacity(grade == HIGH_INDEX, p_high, days, thresholds.capacity_per_day)
        grade[demoted] = MEDIUM_INDEX
    return grade, demoted


def over_capacity(
    high: np.ndarray, p_high: np.ndarray, days: pd.Series, capacity: int
) -> np.ndarray:
    """Return the 高 cases beyond each day's `capacity` highest P(高): they become 中.

    It must see a whole day at once: applied to parts of a day, each part would keep its own K.
    """
    frame = pd.DataFrame(
        {"day": pd.to_datetime(pd.Series(days)).dt.normalize().to_numpy(), "p": p_high}
    )
    rank = frame[high].groupby("day")["p"].rank(ascending=False, method="first")
    over = np.zeros(len(frame), bool)
    over[rank[rank > capacity].index.to_numpy()] = True
    return over
