"""Character n-gram TF-IDF for a fitted vectorizer, computed on code-point arrays.

sklearn's char analyzer builds every n-gram as a Python string and looks it up in a dict, which is
most of the featuriser's time on short Chinese texts. Here all texts are encoded at once as code
points; each n-gram is one integer (21 bits a code point, so up to three characters fit in 64 bits
and n-grams of different lengths never collide), and the fitted vocabulary is searched as a sorted
array. The weighting then follows TfidfTransformer: sublinear tf, the fitted idf, l2 norm. The
result equals `vectorizer.transform(texts)` exactly (tests/code/test_lexicon_and_segment.py).
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

_WHITE_SPACES = re.compile(r"\s\s+")  # the char analyzer's own whitespace rule
_BITS = 21  # every code point fits in 21 bits
MAX_N = 3  # 3 x 21 bits fit in a uint64


def char_tfidf(vectorizer: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """Return vectorizer.transform(texts) for a fitted analyzer="char" TfidfVectorizer."""
    if vectorizer.analyzer != "char" or vectorizer.lowercase or vectorizer.ngram_range[1] > MAX_N:
        return vectorizer.transform(texts)
    vocabulary_keys, columns = _vocabulary_keys(vectorizer.vocabulary_)
    doc, key = _ngram_keys(texts, vectorizer.ngram_range)
    at = np.minimum(np.searchsorted(vocabulary_keys, key), max(len(vocabulary_keys) - 1, 0))
    hit = vocabulary_keys[at] == key if len(vocabulary_keys) else np.zeros(len(key), bool)
    counts = sparse.csr_matrix(
        (np.ones(int(hit.sum()), vectorizer.dtype), (doc[hit], columns[at[hit]])),
        shape=(len(texts), len(columns)),
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
    """Return the vocabulary's n-gram keys, sorted, and the column of each."""
    keys = np.fromiter((_key(t) for t in vocabulary), np.uint64, len(vocabulary))
    columns = np.fromiter(vocabulary.values(), np.int64, len(vocabulary))
    order = np.argsort(keys)
    return keys[order], columns[order]


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
