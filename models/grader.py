"""The LightGBM risk grader: features, boosters, calibration, thresholds and reasons in one object.

Risk grades are ordinal (低 < 中 < 高), and the grader treats them so (Frank & Hall's cumulative
decomposition): one binary booster learns P(高), another P(at least 中). Both are monotone in the
lexicon's cues (a threat never lowers risk, mitigation never raises it), and each is calibrated by
a monotone map (Platt scaling), so adding "扬言报复" to a report can never lower its P(高). The
staff grades' own structure is ordinal too: a centre grades one latent risk against two cut-offs.
Any other label (dispute_type, a mapped label) gets one multiclass booster with matrix scaling.

Training splits the labelled cases by report time, oldest first:
  fit slice         the boosters learn here (and the featuriser its vocabulary);
  early-stop slice  the next cases, which pick the number of boosting rounds;
  calibration slice the latest cases, on which probabilities are calibrated and grade thresholds
                    are chosen by the documented rule (models/thresholds.py).
No class reweighting: measured on the demo city, sqrt-inverse-frequency weights raised argmax F1
but worsened log-loss even after calibration; the thresholds do the recall trade-off instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from features.featuriser import CaseFeaturiser
from features.lexicon import cue_terms
from features.text import normalise_text
from models.calibration import MatrixScaling, PlattScaling
from models.contributions import PathContributions
from models.reasons import quotable_word, top_reasons
from models.thresholds import (
    OVER_CAPACITY_REASON,
    RISK_CLASSES,
    apply_thresholds,
    choose_thresholds,
    is_ordinal,
)

_CONTRIB_CHUNK = 4096
_PREDICT_CHUNK = 200_000
DRIFT_FEATURES = (
    "lex_threat",
    "lex_violence",
    "grp_channels",
    "hist_party_n_30",
    "hist_grid_n_30",
    "geo_n_30",
    "text_length",
)
ORDINAL_TARGETS = {"high": 2, "at_least_medium": 1}  # booster name -> the lowest grade it counts


@dataclass(frozen=True)
class GraderConfig:
    """Everything that defines a grader's training; it is logged to MLflow as params."""

    target: str = "risk_grade"
    engine: str = "rjieba"
    word_features: int = 2000
    char_features: int = 1000
    min_df: int = 3
    char_ngrams: tuple[int, int] = (1, 3)
    num_leaves: int = 31
    learning_rate: float = 0.1
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    max_bin: int = 63
    min_child_samples: int | None = None  # None: scaled to the data, 5..40
    colsample_bytree: float = 0.5
    subsample: float = 0.8
    reg_lambda: float = 1.0
    class_weight: str = "none"  # "none" or "sqrt" (sqrt-inverse class frequency)
    monotone_cues: bool = True
    text_model: bool = True  # stack a linear model's out-of-fold text scores into the boosters
    text_model_folds: int = 5
    text_model_rows: int | None = 200_000  # the text model learns from at most this many fit cases
    booster_ngrams: bool = False  # boosters also read the raw n-grams (not only the text scores)
    dask_rounds: int = 300  # boosting rounds when trained on Dask (no early stopping there)
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
    def fit(self, cases: pd.DataFrame, dask_client=None) -> RiskGrader:
        """Train on labelled cases (with context columns); cases without a label are ignored.

        With a Dask client the boosters train on its cluster (lightgbm.dask); the client is used
        during fit only and never stored, so the fitted grader pickles as usual.
        """
        cfg = self.config
        self._dask_client = dask_client
        labelled = cases[cases[cfg.target].notna()].reset_index(drop=True)
        values = labelled[cfg.target].astype(str)
        found = sorted(values.unique())
        self.classes_ = RISK_CLASSES if set(found) <= set(RISK_CLASSES) else found
        if len(self.classes_) < 2:
            raise ValueError(f"target {cfg.target!r} needs at least two classes, found {found}")
        self.ordinal_ = is_ordinal(self.classes_)
        y = values.map({c: i for i, c in enumerate(self.classes_)}).to_numpy()
        fit, stop, cal = time_slices(
            labelled["reported_at"], cfg.early_stopping_fraction, cfg.calibration_fraction
        )

        self.featuriser_ = CaseFeaturiser(
            engine=cfg.engine,
            word_features=cfg.word_features,
            char_features=cfg.char_features,
            min_df=cfg.min_df,
            char_ngrams=cfg.char_ngrams,
            n_jobs=cfg.n_jobs,
            exclude=(cfg.target,),  # a model of dispute_type must not read dispute_type
        ).fit(labelled[fit])
        named, ngrams = self.featuriser_.transform_blocks(labelled)
        # The boosters read the raw n-grams only when asked, or when no text model reads them.
        self.booster_ngrams_ = cfg.booster_ngrams or not cfg.text_model
        learn = None
        if cfg.text_model:
            learn = _sample_rows(fit, cfg.text_model_rows, cfg.seed)
            self.text_model_ = TextModel(cfg.text_model_folds, cfg.seed).fit(
                ngrams, y, learn, self.ordinal_
            )
        else:
            self.text_model_ = None
        X = self._booster_matrix(named, ngrams, learn)
        del named, ngrams
        if self.ordinal_:
            self.boosters_ = {
                name: self._train_booster(
                    X[fit],
                    (y[fit] >= k).astype(int),
                    X[stop],
                    (y[stop] >= k).astype(int),
                    binary=True,
                )
                for name, k in ORDINAL_TARGETS.items()
            }
            raw = self._raw_scores(X[cal])
            self.calibrators_ = {
                name: PlattScaling().fit(raw[name], (y[cal] >= k).astype(int))
                for name, k in ORDINAL_TARGETS.items()
            }
        else:
            self.boosters_ = {
                "multiclass": self._train_booster(X[fit], y[fit], X[stop], y[stop], binary=False)
            }
            self.calibrators_ = {
                "multiclass": MatrixScaling().fit(self._multiclass_raw(X[cal]), y[cal])
            }
        proba_cal = self._calibrated(X[cal])
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
            "text_model_rows": int(self.text_model_.oof_.shape[0]) if cfg.text_model else 0,
            "fit_from": str(times[fit].min()),
            "fit_to": str(times[fit].max()),
            "calibration_from": str(times[cal].min()),
            "data_cutoff": str(times.max()),
            "rounds": {name: int(b.current_iteration()) for name, b in self.boosters_.items()},
            "class_counts": {c: int((y == i).sum()) for i, c in enumerate(self.classes_)},
        }
        self.reference_ = self._reference(labelled[cal], X[cal], proba_cal)
        return self

    def _train_booster(self, X_fit, y_fit, X_stop, y_stop, binary: bool) -> lgb.Booster:
        cfg = self.config
        weight = None
        if cfg.class_weight == "sqrt":
            freq = np.bincount(y_fit) / len(y_fit)
            weight = (1 / np.sqrt(np.maximum(freq, 1e-6)))[y_fit]
        min_child = cfg.min_child_samples or int(np.clip(len(y_fit) // 250, 5, 40))
        params = {
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "max_bin": cfg.max_bin,
            "min_child_samples": min_child,
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
        if binary:
            params.update(objective="binary", metric="binary_logloss")
            if cfg.monotone_cues:
                sign = dict(
                    zip(
                        self.featuriser_.feature_names_,
                        self.featuriser_.monotone_directions(),
                        strict=True,
                    )
                )
                directions = [sign.get(name, 0) for name in self.feature_names_]
                params.update(
                    monotone_constraints=directions, monotone_constraints_method="intermediate"
                )
        else:
            params.update(
                objective="multiclass", num_class=len(self.classes_), metric="multi_logloss"
            )
        names = [_lgb_name(n) for n in self.feature_names_]
        if getattr(self, "_dask_client", None) is not None:
            from models.distributed import train_on_dask

            return train_on_dask(
                self._dask_client,
                X_fit,
                y_fit,
                params,
                cfg.dask_rounds,
                names,
                self.featuriser_.categorical_features_,
            )
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
        names = self.feature_names_
        dense = {
            n: np.asarray(X[:, names.index(n)].todense()).ravel()
            for n in DRIFT_FEATURES
            if n in names
        }
        score = self.risk_score(proba) if self.ordinal_ else proba.max(axis=1)
        return {
            "score": score.astype(np.float32),
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

    def _booster_matrix(self, named, ngrams, out_of_fold: np.ndarray | None = None):
        """Return what the boosters read, from the featuriser's two blocks: the named features,
        the n-grams if booster_ngrams_, and the text model's scores (out-of-fold for the rows
        that trained it)."""
        if getattr(self, "text_model_", None) is None:
            return sparse.hstack([named, ngrams], format="csr", dtype=np.float32)
        scores = self.text_model_.scores(ngrams)
        if out_of_fold is not None:
            scores[out_of_fold] = self.text_model_.oof_
        # graders before 2026-11 read the n-grams all
        blocks = [named, ngrams] if getattr(self, "booster_ngrams_", True) else [named]
        return sparse.hstack([*blocks, sparse.csr_matrix(scores.astype(np.float32))], format="csr")

    @property
    def feature_names_(self) -> list[str]:
        """Return the boosters' feature names: the featuriser's (all, or its named features), then
        the text model's scores."""
        if getattr(self, "text_model_", None) is None:
            return self.featuriser_.feature_names_
        if getattr(self, "booster_ngrams_", True):
            return [*self.featuriser_.feature_names_, *self.text_model_.names]
        return [*self.featuriser_.dense_names(), *self.text_model_.names]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_dask_client", None)
        for derived in ("_paths", "_quotable", "_words"):  # rebuilt on first use
            state.pop(derived, None)
        return state

    # ---- scoring --------------------------------------------------------------------------
    def _predict(self, name: str, X, **kwargs):
        booster = self.boosters_[name]
        return booster.predict(X, num_iteration=booster.best_iteration or None, **kwargs)

    def _raw_scores(self, X) -> dict[str, np.ndarray]:
        return {name: self._predict(name, X) for name in ORDINAL_TARGETS}

    def _multiclass_raw(self, X) -> np.ndarray:
        return self._predict("multiclass", X)

    def _features(self, cases: pd.DataFrame):
        """Return the boosters' matrix for cases."""
        return self._featurise(cases)[0]

    def _featurise(self, cases: pd.DataFrame):
        """Return the boosters' matrix and the n-gram block (the text model's input) for cases."""
        named, ngrams = self.featuriser_.transform_blocks(cases)
        return self._booster_matrix(named, ngrams), ngrams

    def _calibrated(self, X) -> np.ndarray:
        if not self.ordinal_:
            return self.calibrators_["multiclass"].transform(self._multiclass_raw(X))
        raw = self._raw_scores(X)
        p_high = self.calibrators_["high"].transform(raw["high"])
        p_at_least_medium = np.maximum(
            self.calibrators_["at_least_medium"].transform(raw["at_least_medium"]), p_high
        )
        return np.column_stack([1 - p_at_least_medium, p_at_least_medium - p_high, p_high])

    def predict_proba(self, cases: pd.DataFrame) -> np.ndarray:
        """Return calibrated class probabilities, columns in classes_ order."""
        return self._calibrated(self._features(cases))

    @staticmethod
    def risk_score(proba: np.ndarray) -> np.ndarray:
        """Return the 0-100 risk score: 100 x (p(高) + half p(中)), the expected ordinal risk."""
        return np.round(100 * (proba[:, 2] + 0.5 * proba[:, 1]), 1)

    def predict(
        self, cases: pd.DataFrame, reasons: bool = True, days: pd.Series | None = None
    ) -> pd.DataFrame:
        """Return per case: grade, score, one probability column per class, and reasons.

        Cases are featurised and scored _PREDICT_CHUNK at a time, so that a province's night never
        holds more than one chunk's intermediate matrices; grades are then chosen over all cases
        at once (a day's red-ticket capacity spans the chunks), and each chunk is explained.
        """
        cases = cases.reset_index(drop=True)
        chunks = [
            slice(start, start + _PREDICT_CHUNK)
            for start in range(0, max(len(cases), 1), _PREDICT_CHUNK)
        ]
        features = []
        for rows in chunks:
            X, text = self._featurise(cases.iloc[rows])
            # The n-gram block (about 1 KB a case) serves only the words reasons quote: find those
            # now and let the block go, rather than hold every chunk's until the reasons are said.
            features.append((X, self.quoted_words(text) if reasons else None))
        proba = np.vstack([self._calibrated(X) for X, _ in features])
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
            self.risk_score(proba) if self.ordinal_ else np.round(100 * proba.max(axis=1), 1)
        )
        for i, c in enumerate(self.classes_):
            out[f"p_{c}"] = proba[:, i]
        if reasons:
            said = [
                phrases
                for rows, (X, words) in zip(chunks, features, strict=True)
                for phrases in self.explain(cases.iloc[rows], X, grade[rows], words=words)
            ]
            out["reasons"] = [
                "；".join(([OVER_CAPACITY_REASON] if d else []) + r)
                for r, d in zip(said, demoted, strict=True)
            ]
        return out

    def explain(
        self,
        cases: pd.DataFrame,
        X,
        grade: np.ndarray,
        k: int = 3,
        method: str = "path",
        text=None,
        words: dict[str, np.ndarray] | None = None,
    ) -> list[list[str]]:
        """Return up to k reasons per case, from the model's own feature contributions.

        Risk: a case graded 高 is explained by the P(高) booster, any other by the P(at least 中)
        booster, both in log-odds toward more risk. Other targets: the predicted class's trees.
        method: "path" (credits along the case's decision paths, models.contributions) or
        "treeshap" (LightGBM's pred_contrib; about a hundred times slower, same raw-score sums).
        text: the cases' n-gram block (from _featurise); a reason carried by the text model's
        score then quotes the word that raised that score most. Without it such reasons go unsaid.
        words: those words already found, quoted_words(text), in place of the block.
        """
        descriptions = cases["description"].to_numpy(dtype=object)
        found: dict[int, _CaseEvidence] = {}
        words = dict(words or {})  # per text score, every case's word (found once)

        def text_word(name: str, i: int) -> str | None:
            if name not in words:
                if text is None:
                    return None
                words[name] = self._text_words(name, text)
            return words[name][i]

        def terms(i: int) -> _CaseEvidence:
            if i not in found:
                found[i] = _CaseEvidence(descriptions[i], lambda name, i=i: text_word(name, i))
            return found[i]

        names = self.feature_names_
        X = sparse.csr_matrix(X)
        if self.ordinal_:  # each case needs only the booster that explains its grade
            groups = [
                ("high", np.flatnonzero(grade == 2)),
                ("at_least_medium", np.flatnonzero(grade != 2)),
            ]
        else:
            groups = [("multiclass", np.arange(X.shape[0]))]
        out: list[list[str]] = [[] for _ in range(X.shape[0])]
        for booster, rows in groups:
            for start in range(0, len(rows), _CONTRIB_CHUNK):
                chosen = rows[start : start + _CONTRIB_CHUNK]
                chunk = X[chosen]
                per_class = self.contributions(booster, chunk, method)
                if self.ordinal_:
                    toward = per_class[0]
                else:
                    toward = sum(
                        sparse.diags((grade[chosen] == c).astype(float)) @ per_class[c]
                        for c in range(len(self.classes_))
                    )
                said = top_reasons(
                    toward,
                    names,
                    chunk,
                    lambda i, chosen=chosen: terms(chosen[i]),
                    self.featuriser_.categories_,
                    k,
                )
                for i, phrases in zip(chosen, said, strict=True):
                    out[i] = phrases
        return out

    def quoted_words(self, text) -> dict[str, np.ndarray]:
        """Return, per text-model score, each case's word to quote (see _text_words)."""
        if getattr(self, "text_model_", None) is None:
            return {}
        return {name: self._text_words(name, text) for name in self.text_model_.names}

    def _text_words(self, name: str, text) -> np.ndarray:
        """Return per case the quotable word among its n-grams that raised text-model score `name`
        most (the linear model's weight times the case's TF-IDF value), or None."""
        if getattr(self, "_quotable", None) is None:  # which n-gram columns can be quoted
            names = self.featuriser_.feature_names_[len(self.featuriser_.dense_names()) :]
            self._quotable = np.array(
                [n.startswith("word:") and quotable_word(n[5:]) for n in names]
            )
            self._words = np.array([n[5:].replace(" ", "") for n in names], dtype=object)
        weights = np.where(self._quotable, self.text_model_.coefficients(name), 0.0)
        text = sparse.csr_matrix(text)
        if not text.has_sorted_indices:
            text = text.sorted_indices()
        raised = text.data * weights[text.indices]
        up = raised > 0
        rows = np.repeat(np.arange(text.shape[0]), np.diff(text.indptr))[up]
        raised, columns = raised[up], text.indices[up]
        out = np.full(text.shape[0], None, dtype=object)
        if not len(rows):
            return out
        # Per row the largest raise, the lowest column among equals (as a sparse argmax).
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        top = np.maximum.reduceat(raised, starts)
        at_top = np.flatnonzero(raised == np.repeat(top, np.diff(np.r_[starts, len(rows)])))
        first = at_top[np.r_[True, rows[at_top][1:] != rows[at_top][:-1]]]
        out[rows[first]] = self._words[columns[first]]
        return out

    def contributions(self, booster: str, X, method: str = "path") -> list[sparse.csr_matrix]:
        """Return a booster's (cases x features) raw-score contributions, one matrix per class."""
        n_features = len(self.feature_names_)
        if method == "path":
            paths = self.__dict__.setdefault("_paths", {})
            if booster not in paths:
                trees = self.boosters_[booster]
                paths[booster] = PathContributions(trees, trees.best_iteration or None)
            return paths[booster](X)
        if method != "treeshap":
            raise ValueError(f"unknown contribution method {method!r}: path or treeshap")
        contrib = self._predict(booster, X, pred_contrib=True)  # last column: the expected value
        if isinstance(contrib, list):  # sparse input, several classes
            per_class = contrib
        elif sparse.issparse(contrib):
            per_class = [contrib]
        else:  # dense: the classes side by side
            per_class = np.split(contrib, self.boosters_[booster].num_model_per_iteration(), axis=1)
        return [sparse.csr_matrix(c)[:, :n_features] for c in per_class]

    def importance(self) -> pd.DataFrame:
        """Return each feature's total gain per booster, largest first (the global explanation)."""
        gains = {
            name: booster.feature_importance("gain") for name, booster in self.boosters_.items()
        }
        frame = pd.DataFrame(gains, index=self.feature_names_)
        return frame.assign(total=frame.sum(axis=1)).sort_values("total", ascending=False)

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

    def model_input(self, cases: pd.DataFrame) -> pd.DataFrame:
        """Return the columns scoring needs, counts as floats (a signature's integers cannot be missing)."""
        frame = cases[self.input_columns].reset_index(drop=True)
        return frame.astype({c: float for c in frame.select_dtypes("integer").columns})


class TextModel:
    """A linear model on the word and character n-grams, whose scores the boosters read.

    Trees split one n-gram at a time and need many cases to learn from text; a regularised linear
    model reads all n-grams at once. Its scores on the fit slice are out-of-fold (each case scored by
    a model that did not see it), so the boosters learn how far to trust it; elsewhere the model
    refitted on the whole fit slice scores. For risk, its targets are the two ordinal thresholds.
    """

    def __init__(self, folds: int = 5, seed: int = 0, C: float = 4.0):
        self.folds, self.seed, self.C = folds, seed, C

    def _targets(self, y: np.ndarray) -> list[np.ndarray]:
        if self.ordinal_:
            return [(y >= 2).astype(int), (y >= 1).astype(int)]
        return [y]

    def _fit_one(self, X, target):
        return LogisticRegression(C=self.C, max_iter=1000).fit(X, target)

    @staticmethod
    def _logits(model, X) -> np.ndarray:
        p = np.clip(model.predict_proba(X), 1e-6, 1 - 1e-6)
        if p.shape[1] == 2:
            return np.log(p[:, 1] / p[:, 0])[:, None]
        return np.log(p)

    def fit(self, X, y: np.ndarray, rows: np.ndarray, ordinal: bool) -> TextModel:
        """Fit on the given rows; keep out-of-fold scores for them."""
        self.ordinal_ = ordinal
        X, y = X[rows], y[rows]
        self.models_ = [self._fit_one(X, t) for t in self._targets(y)]
        self.oof_ = np.zeros(
            (X.shape[0], sum(self._logits(m, X[:1]).shape[1] for m in self.models_))
        )
        split_on = self._targets(y)[0]
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
        for train, test in folds.split(np.zeros(len(split_on)), split_on):
            parts = [
                self._logits(self._fit_one(X[train], t[train]), X[test]) for t in self._targets(y)
            ]
            self.oof_[test] = np.hstack(parts)
        self.names = (
            [f"text_model:{n}" for n in ("high", "at_least_medium")]
            if ordinal
            else [f"text_model:{c}" for c in range(self.oof_.shape[1])]
        )
        return self

    def scores(self, X) -> np.ndarray:
        """Return the text scores (log-odds) of the refitted models."""
        return np.hstack([self._logits(m, X) for m in self.models_])

    def coefficients(self, name: str) -> np.ndarray:
        """Return the n-gram weights behind one of the scores (named as in `names`)."""
        index = self.names.index(name)
        if self.ordinal_:  # one binary model per score
            return self.models_[index].coef_[0]
        coef = self.models_[0].coef_
        return coef[index] if len(coef) > 1 else coef[0]


class _CaseEvidence:
    """What one case's text shows, looked up only when one of its reasons needs it: the first
    firing lexicon term per cue category, and per text-model score the word that raised it."""

    def __init__(self, description: str, text_word):
        self.description, self.text_word = description, text_word
        self.cues: dict[str, str] | None = None

    def get(self, key: str) -> str | None:
        if key.startswith("text_model:"):
            return self.text_word(key)
        if self.cues is None:
            self.cues = cue_terms([normalise_text(self.description)])[0]
        return self.cues.get(key)


def _sample_rows(rows: np.ndarray, at_most: int | None, seed: int) -> np.ndarray:
    """Return a seeded random subset of the True rows of a mask, at most `at_most` of them."""
    chosen = np.flatnonzero(rows)
    if at_most is None or len(chosen) <= at_most:
        return rows
    out = np.zeros_like(rows)
    out[np.random.default_rng(seed).choice(chosen, at_most, replace=False)] = True
    return out


def _lgb_name(name: str) -> str:
    # LightGBM rejects some JSON characters in feature names; the featuriser keeps the readable ones.
    return "f_" + "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"u{ord(ch):x}" for ch in name
    )
