"""The LightGBM risk grader: features, booster, calibration, thresholds and reasons in one object.

Training splits the labelled cases by report time, oldest first:
  fit slice         the booster learns here (and the featuriser its vocabulary);
  early-stop slice  the next cases, which pick the number of boosting rounds;
  calibration slice the latest cases, on which probabilities are calibrated (matrix scaling) and
                    grade thresholds are chosen by the documented rule (models/thresholds.py).
No class reweighting: measured on the demo city, sqrt-inverse-frequency weights raised argmax F1
but worsened log-loss even after calibration; the thresholds do the recall trade-off instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.featuriser import CaseFeaturiser
from features.lexicon import cue_terms
from features.text import normalise_texts
from models.calibration import MatrixScaling
from models.reasons import top_reasons
from models.thresholds import (
    OVER_CAPACITY_REASON,
    RISK_CLASSES,
    apply_thresholds,
    choose_thresholds,
    is_ordinal,
)

_CONTRIB_CHUNK = 4096
DRIFT_FEATURES = (
    "lex_threat",
    "lex_violence",
    "grp_channels",
    "hist_party_n_30",
    "hist_grid_n_30",
    "geo_n_30",
    "text_length",
)


@dataclass(frozen=True)
class GraderConfig:
    """Everything that defines a grader's training; it is logged to MLflow as params."""

    target: str = "risk_grade"
    engine: str = "rjieba"
    word_features: int = 2000
    char_features: int = 1000
    min_df: int = 3
    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    max_bin: int = 63
    min_child_samples: int = 40
    colsample_bytree: float = 0.5
    subsample: float = 0.8
    reg_lambda: float = 1.0
    class_weight: str = "none"  # "none" or "sqrt" (sqrt-inverse class frequency)
    early_stopping_fraction: float = 0.10
    calibration_fraction: float = 0.15
    threshold_rule: str = "f1"  # "f1" or "capacity"
    capacity_per_day: int | None = None
    seed: int = 0
    n_jobs: int = 2

    def as_params(self) -> dict:
        return asdict(self)


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


class RiskGrader:
    """A fitted grader for one target column; pickled whole into the MLflow model."""

    def __init__(self, config: GraderConfig | None = None):
        self.config = config or GraderConfig()

    # ---- training -------------------------------------------------------------------------
    def fit(self, cases: pd.DataFrame) -> RiskGrader:
        """Train on labelled cases (with context columns); cases without a label are ignored."""
        cfg = self.config
        labelled = cases[cases[cfg.target].notna()].reset_index(drop=True)
        values = labelled[cfg.target].astype(str)
        found = sorted(values.unique())
        self.classes_ = RISK_CLASSES if set(found) <= set(RISK_CLASSES) else found
        if len(self.classes_) < 2:
            raise ValueError(f"target {cfg.target!r} needs at least two classes, found {found}")
        y = values.map({c: i for i, c in enumerate(self.classes_)}).to_numpy()
        fit, stop, cal = time_slices(
            labelled["reported_at"], cfg.early_stopping_fraction, cfg.calibration_fraction
        )

        self.featuriser_ = CaseFeaturiser(
            engine=cfg.engine,
            word_features=cfg.word_features,
            char_features=cfg.char_features,
            min_df=cfg.min_df,
            n_jobs=cfg.n_jobs,
        ).fit(labelled[fit])
        X = self.featuriser_.transform(labelled)
        self.booster_ = self._train_booster(X[fit], y[fit], X[stop], y[stop])
        raw_cal = self._raw_proba(X[cal])
        self.calibrator_ = MatrixScaling().fit(raw_cal, y[cal])
        proba_cal = self.calibrator_.transform(raw_cal)
        self.thresholds_ = choose_thresholds(
            proba_cal,
            y[cal],
            self.classes_,
            cfg.threshold_rule,
            labelled.loc[cal, "reported_at"],
            cfg.capacity_per_day,
        )
        times = labelled["reported_at"]
        self.training_ = {
            "rows": len(labelled),
            "fit_rows": int(fit.sum()),
            "early_stop_rows": int(stop.sum()),
            "calibration_rows": int(cal.sum()),
            "fit_from": str(times[fit].min()),
            "fit_to": str(times[fit].max()),
            "calibration_from": str(times[cal].min()),
            "data_cutoff": str(times.max()),
            "rounds": int(self.booster_.current_iteration()),
            "class_counts": {c: int((y == i).sum()) for i, c in enumerate(self.classes_)},
        }
        self.reference_ = self._reference(labelled[cal], X[cal], proba_cal)
        return self

    def _train_booster(self, X_fit, y_fit, X_stop, y_stop) -> lgb.Booster:
        cfg = self.config
        weight = None
        if cfg.class_weight == "sqrt":
            freq = np.bincount(y_fit, minlength=len(self.classes_)) / len(y_fit)
            weight = (1 / np.sqrt(np.maximum(freq, 1e-6)))[y_fit]
        params = {
            "objective": "multiclass",
            "num_class": len(self.classes_),
            "metric": "multi_logloss",
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "max_bin": cfg.max_bin,
            "min_child_samples": cfg.min_child_samples,
            "colsample_bytree": cfg.colsample_bytree,
            "subsample": cfg.subsample,
            "subsample_freq": 1,
            "reg_lambda": cfg.reg_lambda,
            "seed": cfg.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": cfg.n_jobs,
            "verbose": -1,
        }
        names = [_lgb_name(n) for n in self.featuriser_.feature_names_]
        train = lgb.Dataset(
            X_fit,
            y_fit,
            weight=weight,
            feature_name=names,
            categorical_feature=self.featuriser_.categorical_features_,
            free_raw_data=True,
        )
        valid = lgb.Dataset(X_stop, y_stop, reference=train)
        return lgb.train(
            params,
            train,
            num_boost_round=cfg.max_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )

    def _reference(self, cases: pd.DataFrame, X, proba: np.ndarray) -> dict:
        """Return the calibration slice's distributions, the reference for drift checks."""
        names = self.featuriser_.feature_names_
        dense = {
            n: np.asarray(X[:, names.index(n)].todense()).ravel()
            for n in DRIFT_FEATURES
            if n in names
        }
        return {
            "score": (
                self.risk_score(proba) if is_ordinal(self.classes_) else proba.max(axis=1)
            ).astype(np.float32),
            "features": {n: v.astype(np.float32) for n, v in dense.items()},
            "channel": cases["channel"]
            .astype("string")
            .fillna("未知")
            .value_counts(normalize=True)
            .to_dict(),
            "dispute_type": cases["dispute_type"]
            .astype("string")
            .fillna("未知")
            .value_counts(normalize=True)
            .to_dict(),
        }

    # ---- scoring --------------------------------------------------------------------------
    def _raw_proba(self, X) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.booster_.best_iteration or None)

    def predict_proba(self, cases: pd.DataFrame) -> np.ndarray:
        """Return calibrated class probabilities, columns in classes_ order."""
        return self.calibrator_.transform(self._raw_proba(self.featuriser_.transform(cases)))

    @staticmethod
    def risk_score(proba: np.ndarray) -> np.ndarray:
        """Return the 0-100 risk score: 100 x (p(高) + half p(中)), the expected ordinal risk."""
        return np.round(100 * (proba[:, 2] + 0.5 * proba[:, 1]), 1)

    def predict(
        self, cases: pd.DataFrame, reasons: bool = True, days: pd.Series | None = None
    ) -> pd.DataFrame:
        """Return per case: grade, score, one probability column per class, and reasons."""
        X = self.featuriser_.transform(cases)
        proba = self.calibrator_.transform(self._raw_proba(X))
        days = cases["reported_at"] if days is None else days
        grade, demoted = apply_thresholds(proba, self.thresholds_, days)
        out = pd.DataFrame(
            {
                "case_id": cases["case_id"].to_numpy()
                if "case_id" in cases
                else np.arange(len(cases))
            }
        )
        out["grade"] = np.asarray(self.classes_, dtype=object)[grade]
        out["score"] = (
            self.risk_score(proba)
            if is_ordinal(self.classes_)
            else np.round(100 * proba.max(axis=1), 1)
        )
        for i, c in enumerate(self.classes_):
            out[f"p_{c}"] = proba[:, i]
        if reasons:
            said = self.explain(cases, X, grade)
            said = [
                ([OVER_CAPACITY_REASON] if d else []) + r
                for r, d in zip(said, demoted, strict=True)
            ]
            out["reasons"] = ["；".join(r) for r in said]
        return out

    def explain(self, cases: pd.DataFrame, X, grade: np.ndarray, k: int = 3) -> list[list[str]]:
        """Return up to k reasons per case, from LightGBM's own feature contributions."""
        terms = cue_terms(normalise_texts(cases["description"]))
        names = self.featuriser_.feature_names_
        n_features = len(names)
        out: list[list[str]] = []
        ordinal = is_ordinal(self.classes_)
        for start in range(0, X.shape[0], _CONTRIB_CHUNK):
            chunk = X[start : start + _CONTRIB_CHUNK]
            contrib = self.booster_.predict(
                chunk, pred_contrib=True, num_iteration=self.booster_.best_iteration or None
            )
            per_class = (
                [np.asarray(c.todense()) for c in contrib]
                if isinstance(contrib, list)
                else np.split(np.asarray(contrib), len(self.classes_), axis=1)
            )
            if ordinal:
                toward = per_class[2][:, :n_features] - per_class[0][:, :n_features]
            else:
                chosen = grade[start : start + chunk.shape[0]]
                stacked = np.stack([c[:, :n_features] for c in per_class])
                toward = stacked[chosen, np.arange(chunk.shape[0])]
            out += top_reasons(
                toward,
                names,
                chunk.toarray(),
                terms[start : start + chunk.shape[0]],
                self.featuriser_.categories_,
                k,
            )
        return out

    @property
    def input_columns(self) -> list[str]:
        """Return the case columns scoring needs (what the MLflow signature declares)."""
        return [
            "case_id",
            "description",
            "reported_at",
            "channel",
            "dispute_type",
            "district",
            "n_parties",
            "completeness",
            *self.featuriser_.context_columns_,
        ]


def _lgb_name(name: str) -> str:
    # LightGBM rejects some JSON characters in feature names; the featuriser keeps the readable ones.
    return "f_" + "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"u{ord(ch):x}" for ch in name
    )
