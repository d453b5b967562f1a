"""Word and character n-gram TF-IDF for fitted vectorizers, computed on integer arrays.

sklearn's analyzers build every n-gram as a Python string and look it up in a dict, which was most
of the featuriser's time. Here every n-gram of every text becomes one integer key at once, and the
fitted vocabulary is looked up as a hash index of keys:

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
from itertools import chain, repeat

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

_WHITE_SPACES = re.compile(r"\s\s+")  # the char analyzer's own whitespace rule
_BITS = 21  # every code point fits in 21 bits
MAX_N = 3  # 3 x 21 bits fit in a uint64


def char_tfidf(vectorizer: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """Return vectorizer.transform(texts) for a fitted analyzer="char" TfidfVectorizer."""
    if vectorizer.analyzer != "char" or not _plain(vectorizer) or vectorizer.ngram_range[1] > MAX_N:
        return vectorizer.transform(texts)
    vocabulary_keys, columns = _vocabulary_keys(vectorizer.vocabulary_)
    doc, key = _ngram_keys(texts, vectorizer.ngram_range)
    return _tfidf(vectorizer, doc, key, vocabulary_keys, columns, len(texts))


def word_tfidf(vectorizer: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """Return vectorizer.transform(texts) for a fitted analyzer="word" TfidfVectorizer that only
    tokenizes (no lowercasing, preprocessor or stop words), as the featuriser's on segmented text.
    """
    low, high = vectorizer.ngram_range
    if vectorizer.analyzer != "word" or not _plain(vectorizer) or vectorizer.stop_words is not None:
        return vectorizer.transform(texts)
    terms = [term.split(" ") for term in vectorizer.vocabulary_]
    number_of = {t: i for i, t in enumerate(dict.fromkeys(chain.from_iterable(terms)), 1)}
    base = len(number_of) + 1
    if high > MAX_N or base**high >= 2**63:
        return vectorizer.transform(texts)
    tokenize = vectorizer.build_tokenizer()
    tokens = [tokenize(t) for t in texts]
    lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
    every_token = chain.from_iterable(tokens)
    number = np.fromiter(map(number_of.get, every_token, repeat(0)), np.int64, int(lengths.sum()))
    doc = np.repeat(np.arange(len(texts)), lengths)
    room = np.cumsum(lengths)[doc] - np.arange(len(number))  # tokens left in the text
    docs, keys = [], []
    for n in range(low, high + 1):
        start = np.flatnonzero(room >= n)
        key = np.zeros(len(start), np.int64)
        known_only = np.ones(len(start), bool)
        for i in range(n):
            key = key * base + number[start + i]
            known_only &= number[start + i] > 0
        docs.append(doc[start[known_only]])
        keys.append(key[known_only])
    term_keys = np.fromiter(
        (_word_key(term, number_of, base) for term in terms), np.int64, len(terms)
    )
    columns = np.fromiter(vectorizer.vocabulary_.values(), np.int64, len(terms))
    return _tfidf(
        vectorizer, np.concatenate(docs), np.concatenate(keys), term_keys, columns, len(texts)
    )


def _plain(vectorizer: TfidfVectorizer) -> bool:
    """Return whether the vectorizer's analyzer does nothing to a text before cutting n-grams."""
    return (
        vectorizer.input == "content"
        and not vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and not vectorizer.binary
    )


def _word_key(term: list[str], number_of: dict[str, int], base: int) -> int:
    key = 0
    for token in term:
        key = key * base + number_of[token]
    return key


def _tfidf(
    vectorizer: TfidfVectorizer,
    doc: np.ndarray,
    key: np.ndarray,
    vocabulary_keys: np.ndarray,
    columns: np.ndarray,
    n_texts: int,
) -> sparse.csr_matrix:
    """Return the weighted counts of the n-grams (doc, key) that are in the vocabulary (its terms'
    keys, each with its column)."""
    at = pd.Index(vocabulary_keys).get_indexer(key)  # a hash lookup: 4x a binary search here
    hit = at >= 0
    counts = sparse.csr_matrix(
        (np.ones(int(hit.sum()), vectorizer.dtype), (doc[hit], columns[at[hit]])),
        shape=(n_texts, len(columns)),
        dtype=vectorizer.dtype,
    )
    counts.sum_duplicates()
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    if vectorizer.use_idf:
        counts.data *= vectorizer.idf_[counts.indices]
    return normalize(counts, norm=vectorizer.norm, copy=False) if vectorizer.norm else counts


def _key(term: str) -> int:
    key = 0
    for ch in term:
        key = (key << _BITS) | ord(ch)
    return key


def _vocabulary_keys(vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the vocabulary's n-gram keys and the column of each."""
    keys = np.fromiter((_key(t) for t in vocabulary), np.uint64, len(vocabulary))
    return keys, np.fromiter(vocabulary.values(), np.int64, len(vocabulary))


def _ngram_keys(texts: list[str], ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return (document, key) of every character n-gram of every text."""
    texts = [_WHITE_SPACES.sub(" ", t) for t in texts]
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
    doc = np.repeat(np.arange(len(texts)), lengths)
    room = np.cumsum(lengths)[doc] - np.arange(len(points))  # characters left in the text
    docs, keys = [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        start = np.flatnonzero(room >= n)
        key = np.zeros(len(start), np.uint64)
        for i in range(n):
            key = (key << np.uint64(_BITS)) | points[start + i]
        docs.append(doc[start])
        keys.append(key)
    return np.concatenate(docs), np.concatenate(keys)
