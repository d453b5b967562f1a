"""The case featuriser: one fitted object that turns case records into what the grader reads.

It is fitted once in training and travels inside the model artifact to nightly scoring, so the
scorer builds exactly the training features: the same dictionary and category codes. Context
features (history, merge groups, spatial intensity) are computed beforehand by
features.context.build_context and passed in as columns.

It returns four things per case (CaseFeatures): the named features (categories, calendar, the
risk lexicon's cue counts with negation, text shape, context), the normalised text the text model
reads, that text's words, and the risk-cue clauses taken out of it. The text model's text has every
lexicon cue taken out with the rest of its clause (features.lexicon.split_cue_clauses): cues count
through the lexicon, and their clauses through models.clauses, which cannot lower a score.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.calendar import calendar_features
from features.context import context_columns
from features.lexicon import lexicon_features, load_lexicon, split_cue_clauses, without_cue_clauses
from features.parallel import chunk_rows, in_forks, map_chunks, plan
from features.pii import ID_TOKEN, NAME_TOKEN, PHONE_TOKEN
from features.segment import Segmenter
from features.text import normalise_texts

CATEGORICAL = ("channel", "dispute_type", "district")
_TEXT_INPUTS = ("description", "reported_at")
_SHAPE_INPUTS = ("n_parties", "completeness")
SHAPE_FEATURES = (
    "text_length",
    "text_has_phone",
    "text_has_id",
    "text_names_masked",
    "n_parties",
    "completeness",
)
_CHUNK_ROWS = 100000


@dataclass
class CaseFeatures:
    """What the featuriser makes of cases, row for row."""

    named: sparse.csr_matrix  # columns: CaseFeaturiser.dense_names()
    texts: list[str]  # normalised, cue clauses taken out: what the text model reads
    tokens: list[list[str]]  # the words of those texts
    # the risk-cue clauses taken out of those texts (features.lexicon.split_cue_clauses)
    clauses: list[str]

    def __len__(self) -> int:
        return self.named.shape[0]

    def rows(self, which: np.ndarray) -> CaseFeatures:
        """Return the features of some rows (a boolean mask or positions)."""
        at = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which)
        return CaseFeatures(
            self.named[at],
            [self.texts[i] for i in at],
            [self.tokens[i] for i in at],
            [self.clauses[i] for i in at],
        )


class CaseFeaturiser(TransformerMixin, BaseEstimator):
    """Turn canonical case records (with context columns) into CaseFeatures.

    Parameters
    ----------
    engine : segmentation engine ("rjieba" or "jieba")
    exclude : categorical inputs to leave out, e.g. the label when training on dispute_type
    n_jobs : processes for large inputs; the features do not depend on it
    """

    def __init__(self, engine: str = "rjieba", exclude: tuple[str, ...] = (), n_jobs: int = 1):
        self.engine = engine
        self.exclude = exclude
        self.n_jobs = n_jobs

    @property
    def categoricals(self) -> tuple[str, ...]:
        """Return the categorical inputs used (CATEGORICAL minus `exclude`)."""
        return tuple(c for c in CATEGORICAL if c not in self.exclude)

    @property
    def input_columns_(self) -> list[str]:
        """Return the case columns transform reads. Every categorical input is listed, the one a
        model of that label excludes too, so that a centre's models all take the same columns."""
        return [*_TEXT_INPUTS, *CATEGORICAL, *_SHAPE_INPUTS, *self.context_columns_]

    def fit(self, cases: pd.DataFrame, y=None) -> CaseFeaturiser:
        """Learn the segmentation dictionary (with the places seen) and the category levels."""
        missing = [c for c in (*_TEXT_INPUTS, *self.categoricals) if c not in cases]
        if missing:
            raise ValueError(f"cases lack column(s) {missing}")
        places = (
            pd.concat([cases[c] for c in ("street", "community") if c in cases]).dropna().unique()
        )
        self.segmenter_ = Segmenter(self.engine, n_jobs=self.n_jobs).fit(places=places)
        self.categories_ = {
            c: sorted(cases[c].dropna().astype(str).unique()) for c in self.categoricals
        }
        self.context_columns_ = context_columns(cases)
        self.feature_names_ = self.dense_names()
        self.categorical_features_ = [self.feature_names_.index(c) for c in self.categoricals]
        return self

    def transform(self, cases: pd.DataFrame) -> CaseFeatures:
        """Return the cases' named features, model texts and words."""
        check_is_fitted(self, "feature_names_")
        missing = [
            c for c in (*_TEXT_INPUTS, *self.categoricals, *self.context_columns_) if c not in cases
        ]
        if missing:
            raise ValueError(
                f"cases lack column(s) {missing}; context features come from build_context"
            )
        how = plan(len(cases), self.n_jobs, forks=True)
        if how.how == "processes":
            inputs = cases[
                [
                    *_TEXT_INPUTS,
                    *self.categoricals,
                    *self.context_columns_,
                    *(c for c in _SHAPE_INPUTS if c in cases),
                ]
            ]
            size = chunk_rows(len(inputs), how.jobs, _CHUNK_ROWS)
            return _stacked(map_chunks(_transform_chunk, size, how.jobs, inputs, fixed=(self,)))
        if how.how == "serial":
            return self._transform(cases)
        bounds = np.linspace(0, len(cases), how.jobs + 1).astype(int)
        parts = in_forks(
            [
                functools.partial(self._transform, cases.iloc[a:b])
                for a, b in itertools.pairwise(bounds)
            ],
            how.jobs,
        )
        return _stacked(parts)

    def _transform(self, cases: pd.DataFrame) -> CaseFeatures:
        """Return cases' features, computed in this process."""
        texts = normalise_texts(cases["description"])
        model_texts, clauses = split_cue_clauses(texts)
        named = sparse.csr_matrix(
            self.dense_features(cases, texts, model_texts).to_numpy(np.float32)
        )
        return CaseFeatures(named, model_texts, self.segmenter_.tokens(model_texts), clauses)

    def dense_features(
        self,
        cases: pd.DataFrame,
        texts: list[str] | None = None,
        model_texts: list[str] | None = None,
    ) -> pd.DataFrame:
        """Return the named, non-text features: categories, calendar, lexicon, text shape, context.

        texts: the normalised descriptions; model_texts: them without cue clauses (the text
        length counts only those, so that a cue changes nothing but the cue counts)."""
        texts = normalise_texts(cases["description"]) if texts is None else texts
        model_texts = without_cue_clauses(texts) if model_texts is None else model_texts
        codes = {
            c: pd.Categorical(cases[c].astype("string"), categories=self.categories_[c]).codes
            for c in self.categoricals
        }
        frame = pd.DataFrame({c: np.where(v >= 0, v, np.nan) for c, v in codes.items()})
        frame = pd.concat(
            [
                frame,
                calendar_features(cases["reported_at"]).reset_index(drop=True),
                lexicon_features(texts),
                self._text_shape(cases, texts, model_texts),
                cases[self.context_columns_].reset_index(drop=True).astype(float),
            ],
            axis=1,
        )
        return frame[self.dense_names()]

    @staticmethod
    def _text_shape(cases: pd.DataFrame, texts: list[str], model_texts: list[str]) -> pd.DataFrame:
        n_parties = (
            cases["n_parties"] if "n_parties" in cases else pd.Series(np.nan, index=cases.index)
        )
        completeness = (
            cases["completeness"]
            if "completeness" in cases
            else pd.Series(np.nan, index=cases.index)
        )
        return pd.DataFrame(
            {
                "text_length": np.fromiter((len(t) for t in model_texts), float, len(texts)),
                "text_has_phone": np.fromiter((PHONE_TOKEN in t for t in texts), float, len(texts)),
                "text_has_id": np.fromiter((ID_TOKEN in t for t in texts), float, len(texts)),
                "text_names_masked": np.fromiter(
                    (t.count(NAME_TOKEN) for t in texts), float, len(texts)
                ),
                "n_parties": pd.to_numeric(n_parties, errors="coerce").to_numpy(float),
                "completeness": pd.to_numeric(completeness, errors="coerce").to_numpy(float),
            }
        )

    def dense_names(self) -> list[str]:
        """Return the named features' names, in matrix order."""
        lexicon = list(lexicon_features([""]).columns)
        calendar = list(calendar_features(pd.Series(pd.to_datetime(["2025-01-01"]))).columns)
        shape = list(SHAPE_FEATURES)
        return [*self.categoricals, *calendar, *lexicon, *shape, *self.context_columns_]

    def monotone_directions(self) -> list[int]:
        """Return +1/-1/0 per feature: the lexicon's direction for its cue counts (and the
        opposite for a negated cue that raises risk: "未持刀" can only lower it), 0 elsewhere."""
        lex = load_lexicon()
        sign = {f"lex_{c.name}": (1 if c.direction == "up" else -1) for c in lex.categories}
        sign.update({f"lex_neg_{c.name}": -1 for c in lex.categories if c.direction == "up"})
        sign.update({f"lex_{name}": 1 for name in lex.compounds})
        return [sign.get(name, 0) for name in self.feature_names_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)


def _transform_chunk(cases: pd.DataFrame, featuriser: CaseFeaturiser) -> CaseFeatures:
    return featuriser._transform(cases)


def _stacked(parts: list[CaseFeatures]) -> CaseFeatures:
    """Return the features of consecutive row ranges as one."""
    return CaseFeatures(
        sparse.vstack([p.named for p in parts], format="csr", dtype=np.float32),
        [t for p in parts for t in p.texts],
        [t for p in parts for t in p.tokens],
        [c for p in parts for c in p.clauses],
    )
