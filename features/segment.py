"""Chinese word segmentation with jieba's semantics and fengqiao's domain dictionary.

Two engines give the same tokens: jieba itself, and rjieba (the Rust jieba-rs, several times
faster). Both load jieba's dictionary plus the shipped domain dictionary with identical explicit
frequencies, and both run without the HMM new-word guesser: its handling of runs of digits and
Latin letters differs between the two, while the dictionary path is the same algorithm. bench/
features.py measures the agreement and the speed.

The segmenter is a scikit-learn transformer: fit learns the place names in the training data (so
that 春晖社区 stays one token), and the fitted object goes to scoring unchanged. Tokenizers are
created lazily and left out of the pickle: jieba's holds a lock and neither engine pickles.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from features.parallel import map_chunks, plan

ENGINES = ("rjieba", "jieba")
PLACE_FREQ = 20000
# Cutting a text costs more than most steps' rows: worker processes pay off from fewer of them.
_PROCESSES_FROM_TEXTS = 20000
_WHITESPACE = re.compile(r"\s")  # what str.split cuts at


@functools.cache
def domain_dictionary() -> tuple[tuple[str, int, str], ...]:
    """Return the shipped domain dictionary as (word, frequency, tag) entries."""
    text = (
        resources.files("features").joinpath("resources/userdict.txt").read_text(encoding="utf-8")
    )
    entries = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, freq, tag = line.split()
            entries.append((word, int(freq), tag))
    return tuple(entries)


@functools.cache
def stop_words() -> frozenset[str]:
    """Return the shipped stop words."""
    text = (
        resources.files("features").joinpath("resources/stopwords.txt").read_text(encoding="utf-8")
    )
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def make_tokenizer(engine: str, words: Sequence[tuple[str, int, str]]):
    """Return a cut function for the engine with the given extra dictionary entries loaded."""
    if engine == "rjieba":
        import rjieba

        tokenizer = rjieba.Jieba()
        for word, freq, tag in words:
            tokenizer.add_word(word, freq, tag)
        return lambda text: tokenizer.cut(text, False)
    if engine == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for word, freq, tag in words:
            tokenizer.add_word(word, freq, tag)
        return lambda text: tokenizer.lcut(text, HMM=False)
    raise ValueError(f"unknown segmentation engine {engine!r}; choose from {ENGINES}")


class Segmenter(TransformerMixin, BaseEstimator):
    """Segment texts into space-joined tokens, stop words removed.

    Parameters
    ----------
    engine : "rjieba" (default, fast) or "jieba"
    remove_stop_words : drop the shipped stop words and whitespace tokens
    n_jobs : processes for large inputs (-1: all cores); small inputs always run in-process
    """

    def __init__(self, engine: str = "rjieba", remove_stop_words: bool = True, n_jobs: int = 1):
        self.engine = engine
        self.remove_stop_words = remove_stop_words
        self.n_jobs = n_jobs

    def fit(self, X: Iterable[str] | None = None, y=None, places: Iterable[str] = ()) -> Segmenter:
        """Learn the dictionary: the shipped entries plus the place names seen in training data."""
        if self.engine not in ENGINES:
            raise ValueError(f"unknown segmentation engine {self.engine!r}; choose from {ENGINES}")
        shipped = domain_dictionary()
        known = {w for w, _, _ in shipped}
        extra = sorted(
            {p for p in places if isinstance(p, str) and 2 <= len(p) <= 12 and p not in known}
        )
        self.words_ = tuple(shipped) + tuple((p, PLACE_FREQ, "ns") for p in extra)
        return self

    def places(self) -> frozenset[str]:
        """Return the dictionary's place names (tagged ns): the training data's streets and
        communities and the shipped ones."""
        return frozenset(w for w, _, tag in self.words_ if tag == "ns")

    def transform(self, X: Iterable[str]) -> list[str]:
        """Return each text as its tokens joined by single spaces."""
        texts = list(X)
        how = plan(len(texts), self.n_jobs, processes_from=_PROCESSES_FROM_TEXTS)
        if how.how == "processes":
            return self._transform_parallel(texts, how.jobs)
        return self._segment(texts)

    def tokens(self, texts: Iterable[str]) -> list[list[str]]:
        """Return each text's tokens (in this process), as transform's texts split at whitespace."""
        cut = self._cut()
        stops = stop_words() if self.remove_stop_words else frozenset()
        out = []
        for text in texts:
            if _WHITESPACE.search(text) is None:  # then no token holds whitespace
                out.append([t for t in cut(text) if t and t not in stops])
            else:
                out.append(
                    [w for t in cut(text) if t.strip() and t not in stops for w in t.split()]
                )
        return out

    def _segment(self, texts: Sequence[str]) -> list[str]:
        return [" ".join(tokens) for tokens in self.tokens(texts)]

    def _transform_parallel(self, texts: list[str], jobs: int) -> list[str]:
        size = math.ceil(len(texts) / (jobs * 4))
        parts = map_chunks(_segment_chunk, size, jobs, texts, fixed=(self,))
        return [t for part in parts for t in part]

    def _cut(self):
        if getattr(self, "_cut_fn", None) is None:
            self._cut_fn = make_tokenizer(self.engine, self.words_)
        return self._cut_fn

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_cut_fn", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _segment_chunk(texts: list[str], segmenter: Segmenter) -> list[str]:
    return segmenter._segment(texts)


def token_agreement(texts: Sequence[str], a: Segmenter, b: Segmenter) -> float:
    """Return the share of texts that two fitted segmenters cut into exactly the same tokens."""
    same = np.fromiter(
        (x == y for x, y in zip(a.transform(texts), b.transform(texts), strict=True)), bool
    )
    return float(same.mean()) if len(same) else 1.0
