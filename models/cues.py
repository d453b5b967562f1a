"""The lexicon's cues added to the text model's scores: a small monotone logistic model.

The text model never reads a cue's clause (features.lexicon.without_cue_clauses), so a grader
that is the text model alone would not see "扬言要杀了他" or "持刀" at all. On real text with a
few hundred labelled cases the boosters are often not kept (they must beat the text model), and
that grader would be blind to exactly the cases the centre exists to catch.

So the text model's candidate is its ordinal log-odds plus a weighted sum of the cue counts, per
ordinal score (P(高), P(at least 中)):

    logit_s = a_s + b * text_logit + sum_j w_j * log(1 + count_j)

(text_logit the mean of the text model's two scores; b and w shared by both scores), b >= 0
and each w_j signed as the lexicon says (a threat can only raise, 已和解 and a negated
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
    alpha: the L2 penalty on the weights (the text slope and intercepts are not penalised). With
    alpha 1 the weights fitted on the ~160 cases of a cross-fit fold of 200 court narratives
    overfit: validation macro-F1 of the candidate fell to 0.32 against the text model's 0.48, and
    the thresholds chosen on it graded 93 of 99 later cases 中 or 高. At 10 it was 0.45; on a
    centre's thousands of cases 10 is no constraint.
    """

    def __init__(self, columns: list[int], directions: list[int], alpha: float = 10.0):
        self.columns = list(columns)
        self.directions = list(directions)
        self.alpha = alpha

    def _inputs(self, named) -> np.ndarray:
        counts = sparse.csr_matrix(named)[:, self.columns].toarray()
        return np.log1p(np.clip(np.nan_to_num(counts), 0, None))

    def fit(self, text: np.ndarray, named, y: np.ndarray) -> CueWeights:
        """Fit on cases' text logits (n x 2, ORDINAL_SCORES order), named features and grades.

        A proportional-odds model: the two scores share the text slope and the cue weights and
        have their own intercepts, so that P(at least 中) stays above P(高) whatever a case says.
        The text input is the mean of the text model's two scores: an out-of-fold text model and
        the final one may set the gap between them differently (an SVM's margins do), and only
        what both scores say alike is read.
        """
        C = self._inputs(named)
        u = text.mean(axis=1)
        targets = [(y >= level).astype(float) for level in ORDINAL_SCORES.values()]
        start = np.r_[0.0, 0.0, 1.0, np.zeros(C.shape[1])]
        if any(t.min() == t.max() for t in targets):  # nothing to learn: the text score alone
            self.coef_ = start
            return self
        penalty = np.r_[0.0, 0.0, 0.0, np.full(C.shape[1], self.alpha)]

        def loss(beta):
            total, grad = 0.5 * (penalty * beta**2).sum(), penalty * beta
            common = beta[2] * u + C @ beta[3:]
            for s, target in enumerate(targets):
                z = beta[s] + common
                total -= (target * log_expit(z) + (1 - target) * log_expit(-z)).sum()
                residual = expit(z) - target
                grad[s] += residual.sum()
                grad[2] += residual @ u
                grad[3:] += C.T @ residual
            return total, grad

        bounds = [(None, None), (None, None), (0.0, None)] + [
            (0.0, None) if d > 0 else (None, 0.0) for d in self.directions
        ]
        self.coef_ = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
        return self

    def logits(self, text: np.ndarray, named) -> np.ndarray:
        """Return the adjusted ordinal log-odds (n x 2)."""
        common = self.coef_[2] * text.mean(axis=1) + self._inputs(named) @ self.coef_[3:]
        return np.column_stack([self.coef_[0] + common, self.coef_[1] + common])

    def contributions(self, named, n_features: int) -> sparse.csr_matrix:
        """Return (cases x n_features) each cue's share of the log-odds, in its named-feature
        column (the same for both scores)."""
        C = self._inputs(named) * self.coef_[3:]
        rows = np.repeat(np.arange(C.shape[0]), len(self.columns))
        columns = np.tile(self.columns, C.shape[0])
        return sparse.csr_matrix((C.ravel(), (rows, columns)), shape=(C.shape[0], n_features))

    def weights(self, names: list[str]) -> dict[str, float]:
        """Return the fitted cue weights by name, and the text slope (for the model card)."""
        cues = zip(self.columns, self.coef_[3:], strict=True)
        return {names[c]: round(float(w), 4) for c, w in cues} | {
            "text_slope": round(float(self.coef_[2]), 4)
        }
