"""The baselines every backtest measures in the same run, on the same folds.

KeywordChecklist is the centres' own 风险量化评价: points per cue found by plain keyword matching
(no negation: a checklist fires on "未扬言" too), grade cut-offs on the points total.
TfidfLogistic is what a data scientist writes in an afternoon: jieba's default dictionary and HMM,
TF-IDF over words and word pairs, logistic regression.
Both choose their grades by the same rule, on the same kind of later slice, as the grader does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from features.lexicon import load_lexicon
from features.text import normalise_texts
from models.grader import time_slices
from models.metrics import macro_f1
from models.thresholds import RISK_CLASSES, apply_thresholds, choose_thresholds

# Points per cue category, as a centre's checklist assigns them.
CHECKLIST_POINTS = {
    "threat": 3,
    "weapon": 4,
    "selfharm": 4,
    "crowd": 3,
    "petition": 2,
    "alcohol": 1,
    "domestic_violence": 3,
    "violence": 2,
    "emotion": 1,
    "failed_mediation": 1,
}


def checklist_points(texts: list[str]) -> np.ndarray:
    """Return each text's checklist points: a category's points once if any of its words appears."""
    lex = load_lexicon()
    categories = [
        (c.terms, CHECKLIST_POINTS[c.name]) for c in lex.categories if c.name in CHECKLIST_POINTS
    ]
    return np.array(
        [sum(p for terms, p in categories if any(t in text for t in terms)) for text in texts]
    )


class KeywordChecklist:
    """Points per keyword category; cut-offs and per-points class frequencies learned on training data.

    Each method takes the cases' precomputed checklist_points as `points` if given (a backtest
    computes them once for all its folds), else computes them from the descriptions.
    """

    def fit(
        self,
        cases: pd.DataFrame,
        y: np.ndarray,
        classes: list[str],
        points: np.ndarray | None = None,
    ) -> KeywordChecklist:
        points = _points(cases, points)
        self.classes_ = classes
        self.max_points_ = int(points.max()) + 1
        # P(class | points), smoothed, for log-loss and calibration.
        table = np.ones((self.max_points_ + 1, len(classes)))
        np.add.at(table, (np.minimum(points, self.max_points_), y), 1)
        self.table_ = table / table.sum(axis=1, keepdims=True)
        best, best_f1 = (self.max_points_, self.max_points_), -1.0
        for medium in range(self.max_points_ + 1):
            for high in range(medium, self.max_points_ + 1):
                predicted = np.where(points >= high, 2, np.where(points >= medium, 1, 0))
                f1 = macro_f1(y, predicted)
                if f1 > best_f1:
                    best, best_f1 = (medium, high), f1
        self.cutoffs_ = best
        return self

    def predict_proba(self, cases: pd.DataFrame, points: np.ndarray | None = None) -> np.ndarray:
        return self.table_[np.minimum(_points(cases, points), self.max_points_)]

    def predict(self, cases: pd.DataFrame, points: np.ndarray | None = None) -> np.ndarray:
        points = _points(cases, points)
        medium, high = self.cutoffs_
        return np.where(points >= high, 2, np.where(points >= medium, 1, 0))


def _points(cases: pd.DataFrame, points: np.ndarray | None) -> np.ndarray:
    return checklist_points(normalise_texts(cases["description"])) if points is None else points


def jieba_tokens(texts: list[str]) -> list[str]:
    """Return texts cut with jieba's default dictionary and HMM, tokens joined by spaces.

    The cutting is rjieba's: jieba-rs, the Rust port of jieba's algorithm with its dictionary and
    HMM, about 20 times faster than jieba 0.42.1 (a backtest at 1,000,000 cases spent 410-520 s of
    its baselines' time in jieba). Its tokens equal jieba.lcut's on ingested demo descriptions (on
    every one of 100,000 sampled from that backtest's cases); on the raw real complaints they differ
    only in runs of ASCII that jieba-rs keeps whole across "." and "-" (baidu.com, 2015-2040), in 47
    of 1,980 texts. The afternoon alternative in bench/training.py still calls jieba itself.
    """
    import rjieba

    return [" ".join(rjieba.cut(t)) for t in texts]


class TfidfLogistic:
    """jieba (default dictionary, HMM) + TF-IDF (words and word pairs) + multinomial logistic regression."""

    def __init__(
        self, C: float = 4.0, threshold_rule: str = "f1", calibration_fraction: float = 0.15
    ):
        self.C = C
        self.threshold_rule = threshold_rule
        self.calibration_fraction = calibration_fraction

    def fit(
        self,
        cases: pd.DataFrame,
        y: np.ndarray,
        classes: list[str],
        tokens: list[str] | None = None,
    ) -> TfidfLogistic:
        tokens = (
            tokens if tokens is not None else jieba_tokens(normalise_texts(cases["description"]))
        )
        fit, _, cal = time_slices(cases["reported_at"], 0.0, self.calibration_fraction)
        self.classes_ = classes
        self.vectorizer_ = TfidfVectorizer(
            token_pattern=r"(?u)\S+",
            ngram_range=(1, 2),
            min_df=3,
            max_features=50000,
            sublinear_tf=True,
        )
        X = self.vectorizer_.fit_transform(np.asarray(tokens, dtype=object)[fit])
        self.model_ = LogisticRegression(C=self.C, max_iter=2000).fit(X, y[fit])
        proba_cal = self._proba(np.asarray(tokens, dtype=object)[cal])
        self.thresholds_ = (
            choose_thresholds(proba_cal, y[cal], classes, self.threshold_rule)
            if classes == RISK_CLASSES
            else None
        )
        return self

    def _proba(self, tokens) -> np.ndarray:
        proba = np.zeros((len(tokens), len(self.classes_)))
        proba[:, self.model_.classes_] = self.model_.predict_proba(
            self.vectorizer_.transform(tokens)
        )
        return proba

    def predict_proba(self, cases: pd.DataFrame, tokens: list[str] | None = None) -> np.ndarray:
        tokens = (
            tokens if tokens is not None else jieba_tokens(normalise_texts(cases["description"]))
        )
        return self._proba(np.asarray(tokens, dtype=object))

    def predict(self, cases: pd.DataFrame, tokens: list[str] | None = None) -> np.ndarray:
        return self.grades(self.predict_proba(cases, tokens))

    def grades(self, proba: np.ndarray) -> np.ndarray:
        """Return the grades its thresholds give to probabilities from predict_proba."""
        if self.thresholds_ is None:
            return proba.argmax(axis=1)
        return apply_thresholds(proba, self.thresholds_)[0]
