"""The grader: a text model, LightGBM boosters stacked on it, calibration, thresholds and reasons.

- The text model (models/text.py) reads the case text: TF-IDF n-grams and a logistic regression
  whose settings inner cross-validation chooses. It learns from every labelled case, and the
  layers above read only its out-of-fold scores.
- The boosters (models/boosters.py) add what the text cannot know: the risk lexicon's cues with
  negation, amounts and headcounts, history of the parties and the place, channels, 同案, the
  calendar. For risk they are ordinal and monotone in the cues.
- For risk grades the clauses the text model does not read (a risk cue's whole clause) are read
  by the cue-clause model (models/clauses.py), whose n-gram weights cannot be negative; the boosters
  read its scores too, monotone, so an added cue clause still never lowers a grade.
- For risk grades the text model's candidate adds the lexicon's cues to its scores with
  monotone weights (models/cues.py), since it never reads a cue's clause: a grader without the
  boosters still sees a threat.
- The stack is kept only when it beats the text model's candidate on the validation cases in
  log-loss, and its macro-F1 there is not lower (for risk grades: not lower by more than the
  noise of a few hundred cases, one bootstrap standard error of the paired difference);
  otherwise the grader is that candidate, calibrated. Either way the choice and the numbers
  behind it are recorded (selection_, logged to MLflow).
- Calibration (Platt per ordinal score, temperature scaling for other labels) and the grade
  thresholds (models/thresholds.py) are fitted on the validation cases: the latest cases, as
  many as it takes to hold at least `min_class_validation` of every grade.

With many labelled cases the boosters train on the earlier ones, stop early on the next and are
validated on the latest (time slices). With few (below `cross_fit_max_rows`) every case is needed
for learning: the boosters are cross-fitted and validated on out-of-fold predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from features.domain import HIGH_INDEX, MEDIUM_INDEX
from features.errors import UsageError
from features.featuriser import CaseFeatures, CaseFeaturiser
from models import drift
from models.boosters import BoosterParams, Boosters
from models.calibration import Calibrator  # noqa: F401 (pickled graders look for it here)
from models.clauses import ClauseModel
from models.cues import CueWeights
from models.drift import DRIFT_FEATURES
from models.reasons import Explainer, quotable_words
from models.text import TextModel
from models.thresholds import (
    ORDINAL_SCORES,
    OVER_CAPACITY_REASON,
    apply_thresholds,
    is_ordinal,
    label_classes,
)
from models.validation import (
    Decisions,
    choose_candidate,
    cross_fit_folds,
    latest_holding,
    time_slices,
)

_PREDICT_CHUNK = 200_000


@dataclass(frozen=True)
class GraderConfig:
    """Everything that defines a grader's training; it is logged to MLflow as params."""

    target: str = "risk_grade"
    engine: str = "rjieba"
    # the text model
    char_ngrams: tuple[int, int] = (1, 3)
    text_min_df: int = 2
    text_max_features: int = 100_000
    text_budget_seconds: float = 30.0
    text_candidates: int | None = None  # at most this many settings tried (None: the budget)
    text_folds: int = 5
    text_search_rows: int = 20_000
    text_model_rows: int | None = 200_000  # the text model learns from at most this many cases
    clause_model: bool = True  # risk grades: the cue-clause model (models/clauses.py)
    clause_C: float = 0.1
    # the boosters
    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    max_bin: int = 63
    min_child_samples: int | None = None  # None: scaled to the data, 5..40
    colsample_bytree: float = 0.8
    subsample: float = 0.8
    reg_lambda: float = 1.0
    monotone_cues: bool = True
    dask_rounds: int = 300  # boosting rounds when trained on Dask (no early stopping there)
    # the stack, validation and decisions
    stack: str = "auto"  # "auto" (keep the boosters only if they help), "text" or "boosters"
    cross_fit_max_rows: int = 20_000
    cross_fit_folds: int = 5
    early_stopping_fraction: float = 0.10
    calibration_fraction: float = 0.15
    min_class_validation: int = 30
    threshold_rule: str = "f1"  # "f1" or "capacity"
    capacity_per_day: int | None = None
    seed: int = 0
    n_jobs: int = 2

    def as_params(self) -> dict:
        return asdict(self)

    def booster_params(self) -> BoosterParams:
        return BoosterParams(
            num_leaves=self.num_leaves,
            learning_rate=self.learning_rate,
            max_rounds=self.max_rounds,
            early_stopping_rounds=self.early_stopping_rounds,
            max_bin=self.max_bin,
            min_child_samples=self.min_child_samples,
            colsample_bytree=self.colsample_bytree,
            subsample=self.subsample,
            reg_lambda=self.reg_lambda,
            seed=self.seed,
            n_jobs=self.n_jobs,
        )


class RiskGrader:
    """A fitted grader for one target column; pickled whole into the MLflow model."""

    def __init__(self, config: GraderConfig | None = None):
        self.config = config or GraderConfig()

    # ---- training -------------------------------------------------------------------------
    def fit(self, cases: pd.DataFrame, dask_client=None) -> RiskGrader:
        """Train on labelled cases (with context columns); cases without a label are ignored.

        With a Dask client the boosters train on its cluster (lightgbm.dask) when there is
        enough data for time slices; the client is used during fit only and never stored.
        """
        cfg = self.config
        labelled = cases[cases[cfg.target].notna()].reset_index(drop=True)
        values = labelled[cfg.target].astype(str)
        found = sorted(values.unique())
        self.classes_ = label_classes(values)
        if len(self.classes_) < 2 or len(found) < 2:
            raise UsageError(f"target {cfg.target!r} needs at least two classes, found {found}")
        self.ordinal_ = is_ordinal(self.classes_)
        y = values.map({c: i for i, c in enumerate(self.classes_)}).to_numpy()
        times = labelled["reported_at"]

        self.featuriser_ = CaseFeaturiser(
            engine=cfg.engine,
            exclude=(cfg.target,),  # a model of dispute_type must not read dispute_type
            n_jobs=cfg.n_jobs,
        ).fit(labelled)
        features = self.featuriser_.transform(labelled)
        text = self._fit_text_model(features, y)
        clause = self._fit_clause_model(features, y)
        X = self._booster_matrix(features.named, text, clause)

        cross_fit = len(y) < cfg.cross_fit_max_rows
        folds = None
        if cross_fit:
            validation = latest_holding(
                times, y, cfg.calibration_fraction, cfg.min_class_validation
            )
            folds = cross_fit_folds(y, cfg.cross_fit_folds, cfg.seed)
        else:
            fit, stop, validation = time_slices(
                times, cfg.early_stopping_fraction, cfg.calibration_fraction
            )
        self.cue_weights_, text_logits = self._fit_cue_weights(
            features.named, text, y, folds, validation
        )
        candidates = {"text": self._text_raw(text_logits)}
        if cfg.stack != "text":
            self.boosters_ = self._new_boosters()
            if cross_fit:
                candidates["stack"] = self.boosters_.fit_cross(X, y, folds)
            else:
                if dask_client is not None:
                    self.boosters_.fit_dask(dask_client, X, y, fit, cfg.dask_rounds)
                else:
                    self.boosters_.fit_slices(X, y, fit, stop)
                candidates["stack"] = np.zeros((len(y), candidates["text"].shape[1]))
                candidates["stack"][validation] = self.boosters_.raw(X[validation])
        self._choose(candidates, y, validation, labelled.loc[validation, "reported_at"])

        self.training_ = {
            "rows": len(labelled),
            "validation": "cross-fitted" if cross_fit else "time slices",
            "validation_rows": int(validation.sum()),
            "text_model_rows": len(self.text_model_.oof_),
            "fit_from": str(times.min()),
            "validation_from": str(times[validation].min()),
            "data_cutoff": str(times.max()),
            "rounds": self.boosters_.rounds() if self.use_boosters_ else {},
            "class_counts": {c: int((y == i).sum()) for i, c in enumerate(self.classes_)},
            "stack": self.selection_,
            "clause_model": self.clause_model_.summary() if self.clause_model_ else None,
        }
        proba = self._calibrated_from(candidates, validation)
        self.reference_ = self._reference(labelled[validation], X[validation], proba)
        self.quotable_ = quotable_words(
            features.tokens,
            self.text_model_,
            self.featuriser_.segmenter_.places(),
        )
        self.explainer_ = self._new_explainer()
        return self

    def _fit_text_model(self, features: CaseFeatures, y: np.ndarray) -> np.ndarray:
        """Fit the text model on (up to text_model_rows of) the cases; return every case's text
        scores: out-of-fold where it learned, the fitted model's elsewhere."""
        cfg = self.config
        learn = self._learning_rows(len(y))
        part = features.rows(learn)
        self.text_model_ = TextModel(
            ordinal=self.ordinal_,
            folds=cfg.text_folds,
            budget_seconds=cfg.text_budget_seconds,
            max_candidates=cfg.text_candidates,
            char_ngrams=cfg.char_ngrams,
            min_df=cfg.text_min_df,
            max_features=cfg.text_max_features,
            search_rows=cfg.text_search_rows,
            seed=cfg.seed,
        ).fit(part.texts, part.tokens, y[learn])
        return _out_of_fold_where_learnt(
            self.text_model_.oof_,
            learn,
            len(y),
            lambda: self.text_model_.scores(features.texts, features.tokens),
        )

    def _learning_rows(self, n: int) -> np.ndarray:
        """Return the rows the text and cue-clause models learn from: all, or text_model_rows of
        them drawn at random (the same draw for both)."""
        cfg = self.config
        if cfg.text_model_rows is None or n <= cfg.text_model_rows:
            return np.arange(n)
        rng = np.random.default_rng(cfg.seed)
        return np.sort(rng.choice(n, cfg.text_model_rows, replace=False))

    def _fit_clause_model(self, features: CaseFeatures, y: np.ndarray) -> np.ndarray | None:
        """Fit the cue-clause model (risk grades only, and only for the boosters, which read it)
        on the cases the text model learns from; return every case's clause scores: out-of-fold
        where it learned, else the fitted model's."""
        cfg = self.config
        self.clause_model_ = None
        if not (self.ordinal_ and cfg.clause_model and cfg.stack != "text"):
            return None
        learn = self._learning_rows(len(y))
        self.clause_model_ = ClauseModel(
            C=cfg.clause_C, ngram_range=cfg.char_ngrams, folds=cfg.text_folds, seed=cfg.seed
        ).fit([features.clauses[i] for i in learn], y[learn])
        return _out_of_fold_where_learnt(
            self.clause_model_.oof_,
            learn,
            len(y),
            lambda: self.clause_model_.scores(features.clauses),
        )

    def _clause_scores(self, features: CaseFeatures) -> np.ndarray | None:
        model = getattr(self, "clause_model_", None)  # None: a grader from before the clauses
        return None if model is None else model.scores(features.clauses)

    def _new_boosters(self) -> Boosters:
        names = self.feature_names_
        monotone = {}
        if self.ordinal_ and self.config.monotone_cues:
            cues = dict(
                zip(
                    self.featuriser_.feature_names_,
                    self.featuriser_.monotone_directions(),
                    strict=True,
                )
            )
            for score in ORDINAL_SCORES:
                own = f"text_model:{score}"  # each booster rises with its own text score
                rising = {own, *self._clause_names}
                monotone[score] = [1 if n in rising else cues.get(n, 0) for n in names]
        return Boosters(
            self.config.booster_params(),
            self.ordinal_,
            len(self.classes_),
            [_lgb_name(n) for n in names],
            self.featuriser_.categorical_features_,
            monotone,
        )

    def _fit_cue_weights(
        self, named, text: np.ndarray, y: np.ndarray, folds, validation: np.ndarray
    ) -> tuple[CueWeights | None, np.ndarray]:
        """Fit the cue weights of the text model's candidate (risk grades only, see models.cues);
        return them and the candidate's scores for validation: out of fold when cross-fitted,
        else from weights learnt on the cases before the validation ones. Without cue weights
        the scores are the text model's."""
        if not (self.ordinal_ and self.config.monotone_cues):
            return None, text
        directions = self.featuriser_.monotone_directions()
        columns = [i for i, d in enumerate(directions) if d]
        signs = [directions[i] for i in columns]
        if folds is None:
            learn = ~validation
            weights = CueWeights(columns, signs).fit(text[learn], named[learn], y[learn])
            return weights, weights.logits(text, named)
        out_of_fold = np.zeros_like(text)
        for train, test in folds:
            fold = CueWeights(columns, signs).fit(text[train], named[train], y[train])
            out_of_fold[test] = fold.logits(text[test], named[test])
        return CueWeights(columns, signs).fit(text, named, y), out_of_fold

    def _text_logits(self, text: np.ndarray, named) -> np.ndarray:
        """Return the text model's candidate scores: for risk grades with the cues added."""
        weights = getattr(self, "cue_weights_", None)  # None: a grader from before cues
        return text if weights is None else weights.logits(text, named)

    def _text_raw(self, text: np.ndarray) -> np.ndarray:
        """Return the text model's candidate scores as uncalibrated probabilities."""
        if self.ordinal_:
            return 1 / (1 + np.exp(-np.clip(text, -30, 30)))
        p = np.exp(text - text.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def _choose(self, candidates: dict, y: np.ndarray, validation: np.ndarray, days) -> None:
        """Keep the text model's candidate or the stack (models.validation.choose_candidate)."""
        cfg = self.config
        choice = choose_candidate(
            candidates,
            y,
            validation,
            self.classes_,
            Decisions(cfg.threshold_rule, days, cfg.capacity_per_day, cfg.stack, cfg.seed),
        )
        self.use_boosters_ = choice.name == "stack"
        if not self.use_boosters_:
            # Only the boosters read the cue-clause model: a night would score it for nothing.
            self.boosters_ = self.clause_model_ = None
        self.calibrator_ = choice.calibrator
        self.thresholds_ = choice.thresholds
        self.selection_ = choice.selection

    def _calibrated_from(self, candidates: dict, validation: np.ndarray) -> np.ndarray:
        raw = candidates["stack" if self.use_boosters_ else "text"][validation]
        return self.calibrator_.transform(raw)

    def _reference(self, cases: pd.DataFrame, X, proba: np.ndarray) -> dict:
        """Return the validation cases' distributions, the reference for drift checks."""
        names = self.feature_names_
        dense = {
            n: np.asarray(X[:, names.index(n)].todense()).ravel()
            for n in DRIFT_FEATURES
            if n in names
        }
        return drift.reference(cases, dense, self.score(proba))

    def _booster_matrix(
        self, named: sparse.csr_matrix, text: np.ndarray, clause: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        """Return what the boosters read: the named features, the text model's scores and the
        cue-clause model's (if any)."""
        scores = text if clause is None else np.hstack([text, clause])
        return sparse.hstack(
            [named, sparse.csr_matrix(scores.astype(np.float32))], format="csr", dtype=np.float32
        )

    @property
    def _clause_names(self) -> list[str]:
        model = getattr(self, "clause_model_", None)
        return [] if model is None else list(model.names)

    @property
    def feature_names_(self) -> list[str]:
        """Return the boosters' feature names: the featuriser's, the text model's scores, then
        the cue-clause model's."""
        return [*self.featuriser_.feature_names_, *self.text_model_.names, *self._clause_names]

    # ---- scoring --------------------------------------------------------------------------
    def _score_chunk(
        self, cases: pd.DataFrame
    ) -> tuple[np.ndarray, CaseFeatures, sparse.csr_matrix]:
        """Return a chunk's calibrated probabilities, its features and the boosters' matrix."""
        features = self.featuriser_.transform(cases)
        text = self.text_model_.scores(features.texts, features.tokens)
        X = self._booster_matrix(features.named, text, self._clause_scores(features))
        if self.use_boosters_:
            raw = self.boosters_.raw(X)
        else:
            raw = self._text_raw(self._text_logits(text, features.named))
        return self.calibrator_.transform(raw), features, X

    def predict_proba(self, cases: pd.DataFrame) -> np.ndarray:
        """Return calibrated class probabilities, columns in classes_ order."""
        return self._score_chunk(cases.reset_index(drop=True))[0]

    @staticmethod
    def risk_score(proba: np.ndarray) -> np.ndarray:
        """Return the 0-100 risk score: 100 x (p(高) + half p(中)), the expected ordinal risk."""
        return np.round(100 * (proba[:, HIGH_INDEX] + 0.5 * proba[:, MEDIUM_INDEX]), 1)

    def score(self, proba: np.ndarray) -> np.ndarray:
        """Return the 0-100 score: the risk score for grades, else 100 x the top class's probability."""
        return self.risk_score(proba) if self.ordinal_ else np.round(100 * proba.max(axis=1), 1)

    def predict(
        self,
        cases: pd.DataFrame,
        reasons: bool = True,
        days: pd.Series | None = None,
        capacity: bool = True,
    ) -> pd.DataFrame:
        """Return per case: grade, score, one probability column per class, and reasons.

        Cases are featurised, scored and explained _PREDICT_CHUNK at a time, so that a province's
        night never holds more than one chunk's intermediate matrices; grades are then chosen
        over all cases at once (a day's red-ticket capacity spans the chunks). A chunk is
        explained as graded before capacity, which needs no other chunk: a case demoted for the
        day's capacity is explained as the 高 case it was graded. (Holding every chunk's matrices
        until the day's grades were known took a million-case batch to 10 GB.)
        capacity: apply the red-ticket capacity here; a caller that scores a day in parts turns
        it off and applies it to the whole day (models.thresholds.over_capacity).
        """
        cases = cases.reset_index(drop=True)
        probas, said = [], []
        for start in range(0, max(len(cases), 1), _PREDICT_CHUNK):
            chunk = cases.iloc[start : start + _PREDICT_CHUNK]
            p, features, X = self._score_chunk(chunk)
            probas.append(p)
            if reasons:
                graded, _ = apply_thresholds(p, self.thresholds_)
                said += self.explain(chunk, X, graded, features)
            del features, X
        proba = np.vstack(probas)
        days = cases["reported_at"] if days is None else days
        grade, demoted = apply_thresholds(proba, self.thresholds_, days if capacity else None)
        out = pd.DataFrame(
            {
                "case_id": cases["case_id"].to_numpy()
                if "case_id" in cases
                else np.arange(len(cases))
            }
        )
        out["grade"] = np.asarray(self.classes_, dtype=object)[grade]
        out["score"] = self.score(proba)
        for i, c in enumerate(self.classes_):
            out[f"p_{c}"] = proba[:, i]
        if reasons:
            out["reasons"] = [
                "；".join(([OVER_CAPACITY_REASON] if d else []) + r)
                for r, d in zip(said, demoted, strict=True)
            ]
        return out

    # ---- reasons --------------------------------------------------------------------------
    def _new_explainer(self) -> Explainer:
        return Explainer(
            self.featuriser_,
            self.text_model_.names,
            self.quotable_,
            self.ordinal_,
            len(self.classes_),
            self.boosters_ if self.use_boosters_ else None,
            getattr(self, "cue_weights_", None),  # None: a grader from before cue weights
            self._clause_names,
        ).fit()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "explainer_" not in state and "quotable_" in state:  # pickled before the explainer
            self.explainer_ = self._new_explainer()

    def explain(
        self,
        cases: pd.DataFrame,
        X,
        grade: np.ndarray,
        features: CaseFeatures,
        k: int = 3,
        method: str = "path",
    ) -> list[list[str]]:
        """Return up to k reasons per case (see models.reasons.Explainer.explain)."""
        return self.explainer_.explain(cases, X, grade, features, k, method)

    def contributions(self, booster: str, X, method: str = "path") -> list[sparse.csr_matrix]:
        """Return a booster's (cases x features) raw-score contributions, one matrix per class."""
        return self.explainer_.contributions(booster, X, method)

    def importance(self) -> pd.DataFrame:
        """Return the global explanation, largest first: each feature's total gain per booster;
        for the text model's candidate, the size of each cue's weight and of the text slope
        (log-odds per unit of log(1 + count) or of text score; column "weight" keeps the sign)."""
        if not self.use_boosters_:
            weights = getattr(self, "cue_weights_", None)
            if weights is None:
                return pd.DataFrame(columns=["total"])
            signed = pd.Series(weights.weights(self.featuriser_.feature_names_), name="weight")
            frame = signed.to_frame().assign(total=signed.abs())
            return frame[frame["total"] > 0].sort_values("total", ascending=False)
        gains = {
            name: booster.feature_importance("gain")
            for name, booster in self.boosters_.boosters_.items()
        }
        frame = pd.DataFrame(gains, index=self.feature_names_)
        return frame.assign(total=frame.sum(axis=1)).sort_values("total", ascending=False)

    @property
    def input_columns(self) -> list[str]:
        """Return the case columns scoring needs (what the MLflow signature declares)."""
        return ["case_id", *self.featuriser_.input_columns_]

    def model_input(self, cases: pd.DataFrame) -> pd.DataFrame:
        """Return the columns scoring needs, counts as floats (a signature's integers cannot be missing)."""
        frame = cases[self.input_columns].reset_index(drop=True)
        return frame.astype({c: float for c in frame.select_dtypes("integer").columns})


def _out_of_fold_where_learnt(oof: np.ndarray, learn: np.ndarray, n: int, score_all) -> np.ndarray:
    """Return n cases' scores: a model's out-of-fold ones for the rows it learnt from, score_all()'s
    (the model fitted on them) for the rest."""
    if len(learn) == n:
        return oof
    scores = score_all()
    scores[learn] = oof
    return scores


def _lgb_name(name: str) -> str:
    # LightGBM rejects some JSON characters in feature names; the featuriser keeps the readable ones.
    return "f_" + "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"u{ord(ch):x}" for ch in name
    )
