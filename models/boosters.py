"""LightGBM boosters over the named features and the text model's scores.

Risk grades are ordinal (低 < 中 < 高), and the boosters treat them so (Frank & Hall's cumulative
decomposition): one binary booster learns P(高), another P(at least 中), each monotone in the
lexicon's cues (a threat never lowers risk, mitigation never raises it) and in its own text score.
Any other label gets one multiclass booster.

Two ways to train, by how much labelled data there is:
- time slices: the boosters learn on the earlier cases and stop early on the next ones;
- cross-fitting (few cases): k folds, the number of rounds from their mean validation loss
  (lightgbm.cv), out-of-fold predictions for every case, then one fit on all cases. A few hundred
  cases cannot spare a slice to stop on.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from models.thresholds import ORDINAL_SCORES


@dataclass(frozen=True)
class BoosterParams:
    """LightGBM settings; those left None are scaled to the data."""

    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    max_bin: int = 63
    min_child_samples: int | None = None
    colsample_bytree: float = 0.8
    subsample: float = 0.8
    reg_lambda: float = 1.0
    seed: int = 0
    n_jobs: int = 2

    def lightgbm(self, rows: int) -> dict:
        """Return LightGBM's parameters for a training set of `rows` cases.

        Small data gets small trees: with 400 cases, 31 leaves of at least 5 cases each is a
        lookup table of the training set.
        """
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": int(np.clip(rows // 40, 4, self.num_leaves)),
            "max_bin": self.max_bin,
            "min_child_samples": self.min_child_samples or int(np.clip(rows // 250, 5, 40)),
            "colsample_bytree": self.colsample_bytree,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "reg_lambda": self.reg_lambda,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbose": -1,
        }


class Boosters:
    """The ordinal pair of binary boosters, or one multiclass booster, with their fitted state.

    names: the LightGBM-safe feature names; categorical: indices of categorical features;
    monotone: per score name, the +1/-1/0 constraint of each feature (binary boosters only).
    """

    def __init__(
        self,
        params: BoosterParams,
        ordinal: bool,
        n_classes: int,
        names: list[str],
        categorical: list[int],
        monotone: dict[str, list[int]] | None = None,
    ):
        self.params, self.ordinal, self.n_classes = params, ordinal, n_classes
        self.names, self.categorical, self.monotone = names, categorical, monotone or {}

    @property
    def score_names(self) -> list[str]:
        return list(ORDINAL_SCORES) if self.ordinal else ["multiclass"]

    def _targets(self, y: np.ndarray) -> dict[str, np.ndarray]:
        if self.ordinal:
            return {name: (y >= k).astype(int) for name, k in ORDINAL_SCORES.items()}
        return {"multiclass": y}

    def _params(self, name: str, rows: int) -> dict:
        params = self.params.lightgbm(rows)
        if self.ordinal:
            params.update(objective="binary", metric="binary_logloss")
            if self.monotone.get(name):
                params.update(
                    monotone_constraints=self.monotone[name],
                    monotone_constraints_method="intermediate",
                )
        else:
            params.update(objective="multiclass", num_class=self.n_classes, metric="multi_logloss")
        return params

    def _dataset(self, X, target, reference=None) -> lgb.Dataset:
        return lgb.Dataset(
            X,
            target,
            feature_name=self.names,
            categorical_feature=self.categorical,
            free_raw_data=True,
            reference=reference,
        )

    def fit_slices(self, X, y: np.ndarray, fit: np.ndarray, stop: np.ndarray) -> Boosters:
        """Train on the `fit` rows, stopping early on the `stop` rows."""
        self.boosters_ = {}
        for name, target in self._targets(y).items():
            train = self._dataset(X[fit], target[fit])
            valid = self._dataset(X[stop], target[stop], reference=train)
            self.boosters_[name] = lgb.train(
                self._params(name, int(fit.sum())),
                train,
                num_boost_round=self.params.max_rounds,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
            )
        return self

    def fit_dask(self, client, X, y: np.ndarray, fit: np.ndarray, rounds: int) -> Boosters:
        """Train on the `fit` rows on a Dask cluster (lightgbm.dask; no early stopping there)."""
        from models.distributed import train_on_dask

        self.boosters_ = {
            name: train_on_dask(
                client,
                X[fit],
                target[fit],
                self._params(name, int(fit.sum())),
                rounds,
                self.names,
                self.categorical,
            )
            for name, target in self._targets(y).items()
        }
        return self

    def fit_cross(self, X, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Cross-fit on the folds, then fit on every row; return the out-of-fold predictions
        (columns as raw() gives them)."""
        self.boosters_ = {}
        parts = []
        for name, target in self._targets(y).items():
            params = self._params(name, int(len(y) * (len(folds) - 1) / len(folds)))
            result = lgb.cv(
                params,
                self._dataset(X, target),
                num_boost_round=self.params.max_rounds,
                folds=folds,
                callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
                return_cvbooster=True,
            )
            cv = result["cvbooster"]
            rounds = max(int(cv.best_iteration), 1)
            oof = np.zeros((len(y), self.n_classes if not self.ordinal else 1))
            for booster, (_, test) in zip(cv.boosters, folds, strict=True):
                oof[test] = booster.predict(X[test], num_iteration=rounds).reshape(len(test), -1)
            parts.append(oof)
            self.boosters_[name] = lgb.train(
                self._params(name, len(y)), self._dataset(X, target), num_boost_round=rounds
            )
        return np.hstack(parts)

    def raw(self, X) -> np.ndarray:
        """Return the boosters' probabilities: (P(高), P(at least 中)) or one per class."""
        return np.column_stack(
            [
                self.boosters_[name]
                .predict(X, num_iteration=self.boosters_[name].best_iteration or None)
                .reshape(X.shape[0], -1)
                for name in self.score_names
            ]
        )

    def rounds(self) -> dict[str, int]:
        return {name: int(b.current_iteration()) for name, b in self.boosters_.items()}
