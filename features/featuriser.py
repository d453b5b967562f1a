"""The case featuriser: one fitted object that turns case records into the model's feature matrix.

It is fitted once in training and travels inside the model artifact to nightly scoring, so the
scorer builds exactly the training features: the same dictionary, vocabulary, IDF weights and
category codes. Context features (history, merge groups, spatial intensity) are computed beforehand
by features.context.build_context and passed in as columns.

Risk cues enter only through the lexicon's counts, which the grader constrains to be monotone. The
word and character n-grams see the text with the lexicon's terms taken out: they carry the context
around the cues, and adding a cue to a report changes nothing but the cue counts.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from features.calendar import calendar_features
from features.context import context_columns
from features.lexicon import lexicon_features, load_lexicon, strip_cues
from features.ngrams import char_tfidf, word_tfidf
from features.parallel import FORK_MIN_ROWS, chunk_rows, in_forks, map_chunks, processes
from features.pii import ID_TOKEN, NAME_TOKEN, PHONE_TOKEN
from features.segment import Segmenter
from features.text import normalise_texts

CATEGORICAL = ("channel", "dispute_type", "district")
_TEXT_INPUTS = ("description", "reported_at")
_SHAPE_INPUTS = ("n_parties", "completeness")
_PARALLEL_MIN_ROWS = 50000
_CHUNK_ROWS = 100000


def _split(text: str) -> list[str]:
    return text.split()


def _free_texts(texts: list[str]) -> list[str]:
    lex = load_lexicon()
    return [strip_cues(t, lex) for t in texts]


class CaseFeaturiser(TransformerMixin, BaseEstimator):
    """Turn canonical case records (with context columns) into a sparse feature matrix.

    Parameters
    ----------
    engine : segmentation engine ("rjieba" or "jieba")
    word_features, char_features : vocabulary sizes of the word and character n-gram TF-IDF (0: off)
    min_df : minimum documents a term must appear in to enter a vocabulary
    char_ngrams : the character n-gram lengths
    exclude : categorical inputs to leave out, e.g. the label when training on dispute_type
    fit_sample : learn vocabularies and IDF weights from at most this many cases (a seeded random
        sample; None: all). Terms common enough to matter are found in any 200,000 cases, and a
        vocabulary fitted on a million costs minutes and gigabytes.
    n_jobs : processes for large inputs; the features do not depend on it
    """

    def __init__(
        self,
        engine: str = "rjieba",
        word_features: int = 20000,
        char_features: int = 20000,
        min_df: int = 3,
        char_ngrams: tuple[int, int] = (1, 3),
        exclude: tuple[str, ...] = (),
        fit_sample: int | None = 200000,
        n_jobs: int = 1,
    ):
        self.engine = engine
        self.word_features = word_features
        self.char_features = char_features
        self.min_df = min_df
        self.char_ngrams = char_ngrams
        self.exclude = exclude
        self.fit_sample = fit_sample
        self.n_jobs = n_jobs

    @property
    def categoricals(self) -> tuple[str, ...]:
        """Return the categorical inputs used (CATEGORICAL minus `exclude`)."""
        return tuple(c for c in CATEGORICAL if c not in self.exclude)

    def fit(self, cases: pd.DataFrame, y=None) -> CaseFeaturiser:
        """Learn the dictionary, vocabularies, IDF weights and category levels from training cases."""
        missing = [c for c in (*_TEXT_INPUTS, *self.categoricals) if c not in cases]
        if missing:
            raise ValueError(f"cases lack column(s) {missing}")
        texts = cases["description"]
        if self.fit_sample and len(texts) > self.fit_sample:
            texts = texts.sample(self.fit_sample, random_state=0)
        free = _free_texts(normalise_texts(texts))
        places = (
            pd.concat([cases[c] for c in ("street", "community") if c in cases]).dropna().unique()
        )
        self.segmenter_ = Segmenter(self.engine, n_jobs=self.n_jobs).fit(places=places)
        self.word_vectorizer_ = None
        if self.word_features:
            self.word_vectorizer_ = self._word_vectorizer().fit(self.segmenter_.transform(free))
        self.char_vectorizer_ = self._char_vectorizer().fit(free) if self.char_features else None
        self.categories_ = {
            c: sorted(cases[c].dropna().astype(str).unique()) for c in self.categoricals
        }
        self.context_columns_ = context_columns(cases)
        self.feature_names_ = self._names()
        self.categorical_features_ = [self.feature_names_.index(c) for c in self.categoricals]
        return self

    def transform(self, cases: pd.DataFrame) -> sparse.csr_matrix:
        """Return the feature matrix (rows: cases, columns: feature_names_)."""
        return sparse.hstack(self.transform_blocks(cases), format="csr", dtype=np.float32)

    def transform_blocks(self, cases: pd.DataFrame) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """Return transform's matrix as its two blocks: the named features (dense_names) and the
        word and character n-grams (text_block), so that a reader of one is spared a copy."""
        check_is_fitted(self, "feature_names_")
        missing = [
            c for c in (*_TEXT_INPUTS, *self.categoricals, *self.context_columns_) if c not in cases
        ]
        if missing:
            raise ValueError(
                f"cases lack column(s) {missing}; context features come from build_context"
            )
        jobs = processes(self.n_jobs)
        if jobs > 1 and len(cases) >= _PARALLEL_MIN_ROWS:
            inputs = cases[
                [
                    *_TEXT_INPUTS,
                    *self.categoricals,
                    *self.context_columns_,
                    *(c for c in _SHAPE_INPUTS if c in cases),
                ]
            ]
            size = chunk_rows(len(inputs), jobs, _CHUNK_ROWS)
            return _stacked(map_chunks(_transform_chunk, size, jobs, inputs, fixed=(self,)))
        # too few to start worker interpreters for: forks, or this process alone
        n_parts = min(jobs, len(cases) // FORK_MIN_ROWS)
        if n_parts <= 1:
            return self._transform(cases)
        bounds = np.linspace(0, len(cases), n_parts + 1).astype(int)
        parts = in_forks(
            [
                functools.partial(self._transform, cases.iloc[a:b])
                for a, b in itertools.pairwise(bounds)
            ],
            n_parts,
        )
        return _stacked(parts)

    def _transform(self, cases: pd.DataFrame) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """Return the two blocks of cases' features, computed in this process."""
        texts = normalise_texts(cases["description"])
        free = _free_texts(texts)
        dense = sparse.csr_matrix(self.dense_features(cases, texts, free).to_numpy(np.float32))
        ngrams = [sparse.csr_matrix((len(cases), 0), dtype=np.float32)]
        if self.word_vectorizer_ is not None:
            tokens = self.segmenter_.tokens(free)
            ngrams.append(word_tfidf(self.word_vectorizer_, tokens, tokenized=True))
        if self.char_vectorizer_ is not None:
            ngrams.append(char_tfidf(self.char_vectorizer_, free))
        return dense, sparse.hstack(ngrams, format="csr", dtype=np.float32)

    def dense_features(
        self, cases: pd.DataFrame, texts: list[str] | None = None, free: list[str] | None = None
    ) -> pd.DataFrame:
        """Return the named, non-text features: categories, calendar, lexicon, text shape, context."""
        texts = normalise_texts(cases["description"]) if texts is None else texts
        free = _free_texts(texts) if free is None else free
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
                self._text_shape(cases, texts, free),
                cases[self.context_columns_].reset_index(drop=True).astype(float),
            ],
            axis=1,
        )
        return frame[self.dense_names()]

    @staticmethod
    def _text_shape(cases: pd.DataFrame, texts: list[str], free: list[str]) -> pd.DataFrame:
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
                "text_length": np.fromiter((len(t) for t in free), float, len(free)),
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
        """Return the named features' names, in matrix order (the n-gram block follows them)."""
        lexicon = list(lexicon_features([""]).columns)
        calendar = list(calendar_features(pd.Series(pd.to_datetime(["2025-01-01"]))).columns)
        shape = [
            "text_length",
            "text_has_phone",
            "text_has_id",
            "text_names_masked",
            "n_parties",
            "completeness",
        ]
        return [*self.categoricals, *calendar, *lexicon, *shape, *self.context_columns_]

    def _names(self) -> list[str]:
        names = self.dense_names()
        if self.word_vectorizer_ is not None:
            names += [f"word:{w}" for w in self.word_vectorizer_.get_feature_names_out()]
        if self.char_vectorizer_ is not None:
            names += [f"char:{w}" for w in self.char_vectorizer_.get_feature_names_out()]
        return names

    def _word_vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            tokenizer=_split,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, 2),
            min_df=self.min_df,
            max_features=self.word_features,
            sublinear_tf=True,
            dtype=np.float32,
        )

    def _char_vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char",
            ngram_range=(2, 3),
            lowercase=False,
            min_df=self.min_df,
            max_features=self.char_features,
            sublinear_tf=True,
            dtype=np.float32,
        )

    def text_block(self, X):
        """Return the word and character n-gram columns of a feature matrix."""
        return X[:, len(self.dense_names()) :]

    def monotone_directions(self) -> list[int]:
        """Return +1/-1/0 per feature: the lexicon's direction for its cue counts, 0 elsewhere."""
        lex = load_lexicon()
        sign = {f"lex_{c.name}": (1 if c.direction == "up" else -1) for c in lex.categories}
        return [sign.get(name, 0) for name in self.feature_names_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)


def _transform_chunk(
    cases: pd.DataFrame, featuriser: CaseFeaturiser
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    return featuriser._transform(cases)


def _stacked(parts: list[tuple[sparse.csr_matrix, ...]]) -> tuple[sparse.csr_matrix, ...]:
    """Return the blocks of row ranges' features, each stacked over the ranges."""
    return tuple(
        sparse.vstack(blocks, format="csr", dtype=np.float32) for blocks in zip(*parts, strict=True)
    )
