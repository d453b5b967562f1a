"""The baselines every backtest measures in the same run, on the same folds.

KeywordChecklist is the centres' own 风险量化评价: points per cue found by plain keyword matching
(no negation: a checklist fires on "未扬言" too), grade cut-offs on the points total.
TfidfLogistic is what a data scientist writes in an afternoon: TF-IDF over character 1-3-grams
and a logistic regression with balanced class weights, each case graded by its most probable
class. On real Chinese text it is the model to beat (see bench/real.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from features.lexicon import load_lexicon
from features.ngrams import char_counts, char_vocabulary, idf_weights, tfidf
from features.text import normalise_texts
from models.metrics import macro_f1

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
    "failed_negotiation": 1,
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
    """TF-IDF (character 1-3-grams) + logistic regression (balanced class weights), argmax."""

    def __init__(self, C: float = 1.0, max_features: int = 200_000):
        self.C = C
        self.max_features = max_features

    def fit(
        self,
        cases: pd.DataFrame,
        y: np.ndarray,
        classes: list[str],
        texts: list[str] | None = None,
    ) -> TfidfLogistic:
        texts = texts if texts is not None else normalise_texts(cases["description"])
        self.classes_ = classes
        self.vocabulary_ = {
            t: i for i, t in enumerate(char_vocabulary(texts, (1, 3), 1, self.max_features))
        }
        counts = char_counts(self.vocabulary_, texts, (1, 3))
        self.idf_ = idf_weights(counts)
        self.model_ = LogisticRegression(
            C=self.C,
            class_weight="balanced",
            solver="saga",
            tol=1e-3,
            max_iter=300,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(tfidf(counts, self.idf_, sublinear=False), y)
        return self

    def predict_proba(self, cases: pd.DataFrame, texts: list[str] | None = None) -> np.ndarray:
        texts = texts if texts is not None else normalise_texts(cases["description"])
        X = tfidf(char_counts(self.vocabulary_, texts, (1, 3)), self.idf_, sublinear=False)
        proba = np.zeros((len(texts), len(self.classes_)))
        proba[:, self.model_.classes_] = self.model_.predict_proba(X)
        return proba

    def predict(self, cases: pd.DataFrame, texts: list[str] | None = None) -> np.ndarray:
        return self.grades(self.predict_proba(cases, texts))

    def grades(self, proba: np.ndarray) -> np.ndarray:
        """Return the most probable class of each case."""
        return proba.argmax(axis=1)
