"""The cue-clause model: what a risk cue's clause says besides the cue, read so that it can only
raise a score.

The text model never reads a risk cue's clause (features.lexicon.split_cue_clauses). Left in, the
words around a cue ("拿着一把", "说要") taught it the cue's effect, the boosters split the credit
between those words and the lexicon's count, and a threat added alone raised a grade too little.
But the clause says what a count cannot: who did it to whom (被丈夫殴打 is domestic violence, 殴打
alone a fight), how far it went (打得头破血流), what was threatened. On the demo city the cut cost
the boosters about 0.03 of log-loss against the oracle's (bench/README.md).

This model reads only those clauses, as which character n-grams they hold (presence: TF-IDF would
scale a clause's n-grams down when another clause is added), with a logistic regression whose
n-gram weights are held at zero or above. Adding a cue clause to a report therefore never lowers
its scores, and the boosters are monotone in them: the guarantee the cut was for still holds.

Risk grades only, two scores like the text model's: log-odds of P(高) and of P(at least 中). The
boosters read out-of-fold scores for the cases it learnt from.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, sparse
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold

from features.domain import HIGH_INDEX, MEDIUM_INDEX
from features.ngrams import char_counts, char_vocabulary

NAMES = ("clause_model:high", "clause_model:at_least_medium")
_TARGETS = (HIGH_INDEX, MEDIUM_INDEX)  # the lowest grade each score counts


class ClauseModel:
    """Non-negative logistic regressions of the ordinal targets on the cue clauses' n-grams.

    C: inverse regularisation (the data term is a sum over cases, as in scikit-learn's).
    """

    names: tuple[str, ...] = NAMES

    def __init__(
        self,
        C: float = 0.1,
        ngram_range: tuple[int, int] = (1, 3),
        min_df: int = 3,
        max_features: int = 50_000,
        folds: int = 5,
        seed: int = 0,
    ):
        self.C = C
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.folds = folds
        self.seed = seed

    def fit(self, clauses: list[str], y: np.ndarray) -> ClauseModel:
        """Learn the weights from every case; keep each case's out-of-fold scores (oof_)."""
        y = np.asarray(y)
        terms = char_vocabulary(clauses, self.ngram_range, self.min_df, self.max_features)
        self.vocabulary_ = {term: i for i, term in enumerate(terms)}
        X = self._presence(clauses)
        targets = [y >= k for k in _TARGETS]
        self.oof_ = np.zeros((len(y), len(targets)))
        splits = min(self.folds, int(np.bincount(y).max()))
        if splits >= 2:
            folds = StratifiedKFold(splits, shuffle=True, random_state=self.seed)
            for train, test in folds.split(np.zeros(len(y)), y):
                for k, target in enumerate(targets):
                    weights, intercept = _nonnegative_logit(X[train], target[train], self.C)
                    self.oof_[test, k] = X[test] @ weights + intercept
        self.coef_ = np.zeros((len(targets), X.shape[1]))
        self.intercept_ = np.zeros(len(targets))
        for k, target in enumerate(targets):
            self.coef_[k], self.intercept_[k] = _nonnegative_logit(X, target, self.C)
        return self

    def scores(self, clauses: list[str]) -> np.ndarray:
        """Return the (cases x 2) log-odds of the models fitted on every case."""
        return self._presence(clauses) @ self.coef_.T + self.intercept_

    def _presence(self, clauses: list[str]) -> sparse.csr_matrix:
        counts = char_counts(self.vocabulary_, clauses, self.ngram_range)
        return (counts > 0).astype(np.float64).tocsr()

    def summary(self) -> dict:
        """Return what MLflow records of the fitted model."""
        return {
            "C": self.C,
            "vocabulary": len(self.vocabulary_),
            "nonzero_weights": [int((c > 0).sum()) for c in self.coef_],
        }


def _nonnegative_logit(
    X: sparse.csr_matrix, target: np.ndarray, C: float
) -> tuple[np.ndarray, float]:
    """Return (weights >= 0, intercept) of an L2-regularised logistic regression (L-BFGS-B)."""
    sign = np.where(target, 1.0, -1.0)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = -sign * (X @ w[:-1] + w[-1])
        slope = -sign * expit(margin)
        value = np.logaddexp(0, margin).sum() + 0.5 / C * (w[:-1] @ w[:-1])
        return value, np.append(X.T @ slope + w[:-1] / C, slope.sum())

    bounds = [(0, None)] * X.shape[1] + [(None, None)]
    found = optimize.minimize(
        loss, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 300},
    )  # fmt: skip
    return found.x[:-1], float(found.x[-1])
