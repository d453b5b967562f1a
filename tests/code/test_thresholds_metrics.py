"""Grade thresholds and the evaluation metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.metrics import (
    brier_score,
    classwise_ece,
    expected_calibration_error,
    grade_metrics,
    macro_f1,
    paired_f1_noise,
)
from models.thresholds import (
    MIN_HIGH_RECALL,
    RISK_CLASSES,
    apply_thresholds,
    choose_thresholds,
    threshold_table,
)
from models.validation import stack_is_better


def _synthetic(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(0, 1.5, n)
    p_high = 1 / (1 + np.exp(-(latent - 3)))
    p_ge_medium = 1 / (1 + np.exp(-(latent - 1.2)))
    proba = np.column_stack([1 - p_ge_medium, p_ge_medium - p_high, p_high])
    y = (rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1).clip(0, 2)
    days = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) % 40, unit="D"))
    return proba, y, days


def test_f1_rule_gives_ordered_grades():
    proba, y, _ = _synthetic()
    t = choose_thresholds(proba, y, RISK_CLASSES, "f1")
    grade, _ = apply_thresholds(proba, t)
    assert t.rule == "f1" and 0 < t.high < 1 and 0 < t.medium < 1
    assert set(np.unique(grade)) == {0, 1, 2}
    # The documented rule, exactly: 高 by p(高), else 中 by p(中) + p(高).
    assert ((grade == 2) == (proba[:, 2] >= t.high)).all()
    below = grade < 2
    assert ((grade[below] == 1) == (proba[below, 1:].sum(axis=1) >= t.medium)).all()


def test_the_threshold_table_counts_each_pairs_macro_f1_as_sklearn_does():
    from sklearn.metrics import f1_score

    proba, y, _ = _synthetic(n=600, seed=3)
    p_high, p_medium = proba[:, 2], proba[:, 1:].sum(axis=1)
    f1, recall = threshold_table(p_high, p_medium, y)
    grid = np.round(np.linspace(0.02, 0.95, 94), 4)
    for i, j in [(0, 0), (5, 12), (30, 8), (12, 60), (93, 93)]:
        grade = np.where(p_high >= grid[i], 2, np.where(p_medium >= grid[j], 1, 0))
        expected = f1_score(y, grade, average="macro", labels=[0, 1, 2], zero_division=0)
        assert f1[i, j] == pytest.approx(expected, abs=1e-12)
        assert recall[i] == pytest.approx(((grade == 2) & (y == 2)).sum() / (y == 2).sum())


def test_f1_rule_takes_the_best_macro_f1_whose_red_tickets_catch_half_the_high_cases():
    """Where 高 is one case in fifteen, a threshold chosen for 高's own F1 sits so low that half
    the red tickets go to 低 cases; the rule weighs every grade and keeps a floor on 高 recall."""
    proba, y, _ = _synthetic(n=3000, seed=4)
    assert 0.03 < (y == 2).mean() < 0.12
    t = choose_thresholds(proba, y, RISK_CLASSES, "f1")
    grade, _ = apply_thresholds(proba, t)
    caught = ((grade == 2) & (y == 2)).sum() / (y == 2).sum()
    assert caught >= MIN_HIGH_RECALL
    f1, recall = threshold_table(proba[:, 2], proba[:, 1:].sum(axis=1), y)
    best_allowed = f1[recall >= MIN_HIGH_RECALL].max()
    assert macro_f1(y, grade) == pytest.approx(best_allowed, abs=1e-12)


def test_capacity_rule_never_exceeds_the_daily_red_tickets():
    proba, y, days = _synthetic()
    t = choose_thresholds(proba, y, RISK_CLASSES, "capacity", days, capacity_per_day=3)
    grade, demoted = apply_thresholds(proba, t, days)
    per_day = pd.Series(grade == 2).groupby(days.to_numpy()).sum()
    assert per_day.max() <= 3
    assert (grade[demoted] == 1).all()


def test_capacity_rule_needs_its_inputs():
    proba, y, _ = _synthetic()
    with pytest.raises(ValueError, match="capacity"):
        choose_thresholds(proba, y, RISK_CLASSES, "capacity")


def test_other_targets_use_the_most_probable_class():
    proba = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    t = choose_thresholds(proba, np.array([1, 0]), ["a", "b", "c"])
    assert t.rule == "argmax" and t.class_weights == (1.0, 1.0, 1.0)
    assert apply_thresholds(proba, t)[0].tolist() == [1, 0]


def test_other_targets_weigh_rare_classes_up_when_that_raises_macro_f1():
    # Class 2 is rare and always a close second: plain argmax never predicts it.
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(90, int), np.full(10, 2)]
    proba = np.column_stack([np.full(100, 0.7), np.full(100, 0.1), np.full(100, 0.2)])
    proba[y == 2] = [0.45, 0.1, 0.45 - 1e-3]
    proba += rng.normal(0, 1e-4, proba.shape)
    t = choose_thresholds(proba, y, ["a", "b", "c"])
    weights = np.asarray(t.class_weights)
    assert weights[2] > weights[0]  # the rare class counts for more
    grades = apply_thresholds(proba, t)[0]
    assert (grades[y == 2] == 2).mean() > 0.5


def test_metrics_on_known_values():
    y = np.array([0, 1, 2, 0])
    perfect = np.eye(3)[y]
    assert brier_score(y, perfect) == 0
    assert expected_calibration_error(y, perfect) == 0
    uniform = np.full((4, 3), 1 / 3)
    assert brier_score(y, uniform) == pytest.approx(2 / 3)
    m = grade_metrics(y, perfect, y, RISK_CLASSES)
    assert (
        m["macro_f1"] == 1
        and m["high_recall"] == 1
        and m["confusion"] == [[2, 0, 0], [0, 1, 0], [0, 0, 1]]
    )


def test_calibrated_probabilities_have_small_ece_and_overconfident_ones_do_not():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(20000) < p).astype(int)
    calibrated = np.column_stack([1 - p, p])
    overconfident = np.column_stack([1 - p**0.3, p**0.3])
    assert expected_calibration_error(y, calibrated) < 0.02
    assert expected_calibration_error(y, overconfident / overconfident.sum(1, keepdims=True)) > 0.05
    assert classwise_ece(y, calibrated) < 0.02


@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=60),
)
@settings(max_examples=300, deadline=None)
def test_the_checklists_macro_f1_is_sklearns(pairs):
    from sklearn.metrics import f1_score

    from models.metrics import macro_f1

    y, predicted = (np.array(v) for v in zip(*pairs, strict=True))
    expected = f1_score(y, predicted, average="macro", zero_division=0)
    assert macro_f1(y, predicted) == pytest.approx(expected, abs=1e-12)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_the_threshold_searchs_binary_f1_is_sklearns(pairs):
    from sklearn.metrics import f1_score

    from models.metrics import binary_f1

    truth, predicted = (np.array(v) for v in zip(*pairs, strict=True))
    expected = f1_score(truth, predicted, zero_division=0)
    assert binary_f1(truth, predicted) == pytest.approx(expected, abs=1e-12)


def test_the_paired_macro_f1_noise_is_nil_for_one_grading_and_shrinks_with_more_cases():
    rng = np.random.default_rng(3)

    def noise(n):
        y = rng.integers(0, 3, n)
        first = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
        second = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
        return paired_f1_noise(y, first, second), paired_f1_noise(y, first, first)

    few, same = noise(300)
    many, _ = noise(30_000)
    assert same == 0.0
    assert 0.01 < few < 0.1  # a few hundred cases: about 0.03
    assert many < few / 5


def test_the_stack_is_kept_when_its_log_loss_is_lower_and_its_f1_behind_only_by_noise():
    text = {"log_loss": 0.45, "macro_f1": 0.684}
    assert stack_is_better({"log_loss": 0.44, "macro_f1": 0.678}, text, noise=0.02)
    assert not stack_is_better({"log_loss": 0.44, "macro_f1": 0.60}, text, noise=0.02)
    assert not stack_is_better({"log_loss": 0.46, "macro_f1": 0.75}, text, noise=0.02)


def test_temperature_scaling_mends_overconfidence_and_never_changes_the_likeliest_class():
    """Seven classes, scores three times too confident: the fitted temperature is about 3, the
    log-loss falls, and every case keeps its most probable class."""
    from sklearn.metrics import log_loss

    from models.calibration import TemperatureScaling

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (4000, 7))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(7, p=p) for p in truth])
    overconfident = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    scaler = TemperatureScaling().fit(overconfident[:2000], y[:2000])
    calibrated = scaler.transform(overconfident[2000:])
    assert 2.6 < scaler.temperature_ < 3.4
    assert log_loss(y[2000:], calibrated, labels=range(7)) < 0.9 * log_loss(
        y[2000:], overconfident[2000:], labels=range(7)
    )
    assert (calibrated.argmax(axis=1) == overconfident[2000:].argmax(axis=1)).all()
    assert np.allclose(calibrated.sum(axis=1), 1)
