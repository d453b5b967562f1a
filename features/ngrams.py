"""Word and character n-gram TF-IDF for fitted vectorizers, computed on integer arrays.

sklearn's analyzers build every n-gram as a Python string and look it up in a dict, which was most
of the featuriser's time. Here every n-gram of a batch of texts becomes one integer key at once,
and the fitted vocabulary is looked up as a hash index of keys:

- characters: 21 bits a code point, so up to three characters fit in 64 bits and n-grams of
  different lengths never collide;
- words: each token is numbered among the tokens the vocabulary's terms are made of (0 for any
  other, which no term contains), and an n-gram is its tokens' numbers as digits in base
  (tokens + 1), so n-grams of different lengths never collide either.

The weighting then follows TfidfTransformer: sublinear tf, the fitted idf, l2 norm. Both results
equal `vectorizer.transform(texts)` exactly (tests/code/test_lexicon_and_segment.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain, repeat

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

_WHITE_SPACES = re.compile(r"\s\s+")  # the char analyzer's own whitespace rule
_BITS = 21  # every code point fits in 21 bits
MAX_N = 3  # 3 x 21 bits fit in a uint64
# Texts keyed at a time: a key array per n-gram of a batch, and each word a string until it is
# numbered. A 100,000-text chunk keyed at once held 664 MiB (characters) and 716 MiB (words).
_BATCH = 10000


def char_tfidf(vectorizer: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """Return vectorizer.transform(texts) for a fitted analyzer="char" TfidfVectorizer."""
    if vectorizer.analyzer != "char" or not _plain(vectorizer) or vectorizer.ngram_range[1] > MAX_N:
        return vectorizer.transform(texts)
    terms = list(vectorizer.vocabulary_)
    term_keys = np.fromiter(map(_char_key, terms), np.uint64, len(terms))
    return _tfidf(
        vectorizer,
        texts,
        lambda batch: _char_ngram_keys(batch, vectorizer.ngram_range),
        term_keys,
    )


def word_tfidf(
    vectorizer: TfidfVectorizer, texts: list[str] | list[list[str]], tokenized: bool = False
) -> sparse.csr_matrix:
    """Return vectorizer.transform(texts) for a fitted analyzer="word" TfidfVectorizer that only
    tokenizes (no lowercasing, preprocessor or stop words), as the featuriser's on segmented text.

    tokenized: the texts are given as their tokens, as the vectorizer's tokenizer cuts them.
    """

    def sklearns() -> sparse.csr_matrix:
        if tokenized:
            raise ValueError("tokenized texts need a vectorizer that only tokenizes, n-grams <= 3")
        return vectorizer.transform(texts)

    low, high = vectorizer.ngram_range
    if vectorizer.analyzer != "word" or not _plain(vectorizer) or vectorizer.stop_words is not None:
        return sklearns()
    terms = [term.split(" ") for term in vectorizer.vocabulary_]
    number_of = {t: i for i, t in enumerate(dict.fromkeys(chain.from_iterable(terms)), 1)}
    base = len(number_of) + 1
    if high > MAX_N or base**high >= 2**63:
        return sklearns()
    tokenize = (lambda tokens: tokens) if tokenized else vectorizer.build_tokenizer()

    def keys_of(batch: list) -> tuple[np.ndarray, np.ndarray]:
        tokens = [tokenize(t) for t in batch]
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        every_token = chain.from_iterable(tokens)
        number = np.fromiter(
            map(number_of.get, every_token, repeat(0)), np.int64, int(lengths.sum())
        )
        return _ngram_keys(number, lengths, (low, high), base, drop_zero=True)

    term_keys = np.fromiter(
        (_word_key(term, number_of, base) for term in terms), np.int64, len(terms)
    )
    return _tfidf(vectorizer, texts, keys_of, term_keys)


def _plain(vectorizer: TfidfVectorizer) -> bool:
    """Return whether the vectorizer's analyzer does nothing to a text before cutting n-grams."""
    return (
        vectorizer.input == "content"
        and not vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and not vectorizer.binary
    )


def _tfidf(
    vectorizer: TfidfVectorizer,
    texts: list[str],
    keys_of: Callable[[list[str]], tuple[np.ndarray, np.ndarray]],
    term_keys: np.ndarray,
) -> sparse.csr_matrix:
    """Return the weighted counts of the texts' n-grams that are in the vocabulary.

    keys_of(batch) gives (text within the batch, key) of every n-gram of a batch of texts;
    term_keys holds the vocabulary's keys in the order of vectorizer.vocabulary_.
    """
    terms = pd.Index(term_keys)  # a hash lookup: 4x a binary search in the sorted keys
    columns = np.fromiter(vectorizer.vocabulary_.values(), np.int32, len(term_keys))
    rows, cols = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    for first in range(0, len(texts), _BATCH):
        doc, key = keys_of(texts[first : first + _BATCH])
        at = terms.get_indexer(key)
        hit = at >= 0
        rows.append((doc[hit] + first).astype(np.int32))
        cols.append(columns[at[hit]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sparse.csr_matrix(
        (np.ones(len(rows), vectorizer.dtype), (rows, cols)),
        shape=(len(texts), len(columns)),
        dtype=vectorizer.dtype,
    )
    counts.sum_duplicates()
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    if vectorizer.use_idf:
        counts.data *= vectorizer.idf_[counts.indices]
    if not vectorizer.norm or len(texts) == 0:  # sklearn's normalize refuses an empty matrix
        return counts
    return normalize(counts, norm=vectorizer.norm, copy=False)


def _ngram_keys(
    units: np.ndarray,
    lengths: np.ndarray,
    ngram_range: tuple[int, int],
    base: int,
    drop_zero: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (text, key) of every n-gram of consecutive units within a text.

    units: every text's units (code points or token numbers) one after another, lengths[i] of
    text i; a key holds an n-gram's units as digits in `base`. With drop_zero, n-grams with a 0
    unit (a token no vocabulary term holds) are left out.
    """
    doc = np.repeat(np.arange(len(lengths)), lengths)
    room = np.cumsum(lengths)[doc] - np.arange(len(units))  # units left in the text
    dtype = units.dtype.type
    docs, keys = [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        start = np.flatnonzero(room >= n)
        parts = [units[start + i] for i in range(n)]
        if drop_zero:
            keep = np.logical_and.reduce([part > 0 for part in parts])
            start, parts = start[keep], [part[keep] for part in parts]
        key = np.zeros(len(start), units.dtype)
        for part in parts:
            key = key * dtype(base) + part
        docs.append(doc[start])
        keys.append(key)
    return np.concatenate(docs), np.concatenate(keys)


def _char_key(term: str) -> int:
    key = 0
    for ch in term:
        key = (key << _BITS) | ord(ch)
    return key


def _char_ngram_keys(texts: list[str], ngram_range: tuple[int, int]):
    """Return (text, key) of every character n-gram of the texts: 21 bits a code point."""
    texts = [_WHITE_SPACES.sub(" ", t) for t in texts]
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
    return _ngram_keys(points, lengths, ngram_range, 1 << _BITS)


def _word_key(term: list[str], number_of: dict[str, int], base: int) -> int:
    key = 0
    for token in term:
        key = key * base + number_of[token]
    return key
