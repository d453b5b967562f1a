"""The lexicon's cues added to the text model's scores: a small monotone logistic model.

The text model never reads a cue's clause (features.lexicon.without_cue_clauses), so a grader
that is the text model alone would not see "扬言要杀了他" or "持刀" at all. On real text with a
few hundred labelled cases the boosters are often not kept (they must beat the text model), and
that grader would be blind to exactly the cases the centre exists to catch.

So the text model's candidate is its ordinal log-odds plus a weighted sum of the cue counts, per
ordinal score (P(高), P(at least 中)):

    logit = a + b * text_logit + sum_j w_j * log(1 + count_j)

with b >= 0 and each w_j signed as the lexicon says (a threat can only raise, 已和解 and a negated
cue only lower), fitted by L2-penalised maximum likelihood under those bounds (L-BFGS-B). A cue
the data does not support gets a weight of 0, never the wrong sign.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, sparse
from scipy.special import expit, log_expit

from models.thresholds import ORDINAL_SCORES


class CueWeights:
    """Monotone cue weights on top of the text model's ordinal scores.

    columns: which named features are cues; directions: +1 (raises risk) or -1 per column.
    alpha: the L2 penalty on the weights (the text slope and intercept are not penalised).
    """

    def __init__(self, columns: list[int], directions: list[int], alpha: float = 1.0):
        self.columns = list(columns)
        self.directions = list(directions)
        self.alpha = alpha

    def _inputs(self, named) -> np.ndarray:
        counts = sparse.csr_matrix(named)[:, self.columns].toarray()
        return np.log1p(np.clip(np.nan_to_num(counts), 0, None))

    def fit(self, text: np.ndarray, named, y: np.ndarray) -> CueWeights:
        """Fit on cases' text logits (n x 2, ORDINAL_SCORES order), named features and grades."""
        C = self._inputs(named)
        self.coef_ = np.zeros((len(ORDINAL_SCORES), 2 + len(self.columns)))
        for s, level in enumerate(ORDINAL_SCORES.values()):
            self.coef_[s] = self._fit_one(text[:, s], C, (y >= level).astype(float))
        return self

    def _fit_one(self, t: np.ndarray, C: np.ndarray, target: np.ndarray) -> np.ndarray:
        if target.min() == target.max():  # nothing to learn: keep the text score as it is
            return np.r_[0.0, 1.0, np.zeros(C.shape[1])]
        X = np.column_stack([np.ones(len(t)), t, C])
        penalty = np.r_[0.0, 0.0, np.full(C.shape[1], self.alpha)]

        def loss(beta):
            z = X @ beta
            nll = -(target * log_expit(z) + (1 - target) * log_expit(-z)).sum()
            grad = X.T @ (expit(z) - target) + penalty * beta
            return nll + 0.5 * (penalty * beta**2).sum(), grad

        bounds = [(None, None), (0.0, None)] + [
            (0.0, None) if d > 0 else (None, 0.0) for d in self.directions
        ]
        start = np.r_[0.0, 1.0, np.zeros(C.shape[1])]
        return optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x

    def logits(self, text: np.ndarray, named) -> np.ndarray:
        """Return the adjusted ordinal log-odds (n x 2)."""
        C = self._inputs(named)
        return np.column_stack(
            [b[0] + b[1] * text[:, s] + C @ b[2:] for s, b in enumerate(self.coef_)]
        )

    def contributions(self, named, score: np.ndarray, n_features: int) -> sparse.csr_matrix:
        """Return (cases x n_features) each cue's share of the log-odds behind score[i] (0: P(高),
        1: P(at least 中)), in its named-feature column."""
        C = self._inputs(named)
        weights = self.coef_[np.asarray(score), 2:]
        out = sparse.lil_matrix((C.shape[0], n_features))
        for k, column in enumerate(self.columns):
            out[:, column] = (C[:, k] * weights[:, k])[:, None]
        return out.tocsr()

    def weights(self, names: list[str]) -> dict[str, dict[str, float]]:
        """Return the fitted weights by score and cue name (for the model card)."""
        return {
            score: {names[c]: round(float(w), 4) for c, w in zip(self.columns, b[2:], strict=True)}
            | {"text_slope": round(float(b[1]), 4)}
            for score, b in zip(ORDINAL_SCORES, self.coef_, strict=True)
        }
