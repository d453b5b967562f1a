"""Word and character n-gram vocabularies, counts and TF-IDF, computed on integer arrays.

sklearn's analyzers build every n-gram as a Python string and look it up in a dict, which was most
of the text model's time. Here every n-gram of a batch of texts becomes one integer key at once,
and a vocabulary is looked up as a hash index of keys:

- characters: 21 bits a code point, so up to three characters fit in 64 bits and n-grams of
  different lengths never collide;
- words: each token is numbered among the tokens the vocabulary's terms are made of (0 for any
  other, which no term contains), and an n-gram is its tokens' numbers as digits in base
  (tokens + 1), so n-grams of different lengths never collide either.

Vocabularies, counts and weights equal sklearn's CountVectorizer and TfidfTransformer (smoothed
idf, optional sublinear tf, l2 norm) on the same texts (tests/code/test_lexicon_and_segment.py).
"""

from __future__ import annotations

import re
from itertools import chain, repeat

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import normalize

_WHITE_SPACES = re.compile(r"\s\s+")  # the char analyzer's own whitespace rule
_BITS = 21  # every code point fits in 21 bits
MAX_N = 3  # 3 x 21 bits fit in a uint64
# Texts keyed at a time: a key array per n-gram of a batch, and each word a string until it is
# numbered. A 100,000-text chunk keyed at once held 664 MiB (characters) and 716 MiB (words).
_BATCH = 10000


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


# The text model keeps its vocabulary as plain terms and its weighting as plain arrays, so that
# one count matrix serves every TF-IDF variant its search tries.


def char_vocabulary(
    texts: list[str], ngram_range: tuple[int, int], min_df: int, max_features: int | None
) -> list[str]:
    """Return the character n-grams of the texts that at least min_df texts hold, the
    max_features most frequent of them (ties by term), as sklearn's char analyzer cuts them."""
    if ngram_range[1] > MAX_N:
        raise ValueError(f"character n-grams up to {MAX_N} characters")
    docs, keys = [], []
    for first in range(0, len(texts), _BATCH):
        doc, key = _char_ngram_keys(texts[first : first + _BATCH], ngram_range)
        docs.append(doc + first)
        keys.append(key)
    doc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    chosen = _frequent(doc, key, min_df, max_features)
    return [_char_term(int(k)) for k in chosen]


def word_vocabulary(
    tokens: list[list[str]], ngram_range: tuple[int, int], min_df: int, max_features: int | None
) -> list[str]:
    """Return the word n-grams (tokens joined by a space) that at least min_df texts hold, the
    max_features most frequent of them."""
    codes, names = pd.factorize(pd.Series(list(chain.from_iterable(tokens)), dtype=object))
    base = len(names) + 1
    if ngram_range[1] > MAX_N or base ** ngram_range[1] >= 2**63:
        raise ValueError("too many distinct tokens for word n-gram keys")
    lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
    doc, key = _ngram_keys(codes.astype(np.int64) + 1, lengths, ngram_range, base)
    chosen = _frequent(doc, key, min_df, max_features)
    out = []
    for k in chosen:
        parts = []
        k = int(k)
        while k:
            k, digit = divmod(k, base)
            parts.append(names[digit - 1])
        out.append(" ".join(reversed(parts)))
    return out


def _frequent(doc: np.ndarray, key: np.ndarray, min_df: int, max_features: int | None):
    """Return the keys held by at least min_df documents, the max_features with the most
    occurrences (ties by key)."""
    if not len(key):
        return key
    order = np.lexsort((doc, key))
    key, doc = key[order], doc[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    terms, total = key[starts], ends - starts
    # Rows where a term meets a new text: their count per term is its document frequency.
    new_text = np.cumsum(np.r_[True, (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])])
    df_of = new_text[ends - 1] - new_text[starts] + 1
    keep = df_of >= min_df
    terms, total = terms[keep], total[keep]
    if max_features is not None and len(terms) > max_features:
        order = np.lexsort((terms, -total))[:max_features]
        terms = np.sort(terms[order])
    return terms


def _char_term(key: int) -> str:
    chars = []
    while key:
        chars.append(chr(key & ((1 << _BITS) - 1)))
        key >>= _BITS
    return "".join(reversed(chars))


def char_counts(vocabulary: dict[str, int], texts: list[str], ngram_range: tuple[int, int]):
    """Return the (texts x vocabulary) counts of the vocabulary's character n-grams."""
    terms = list(vocabulary)
    term_keys = np.fromiter(map(_char_key, terms), np.uint64, len(terms))
    columns = np.fromiter(vocabulary.values(), np.int32, len(terms))
    return _counts(texts, lambda batch: _char_ngram_keys(batch, ngram_range), term_keys, columns)


def word_counts(vocabulary: dict[str, int], tokens: list[list[str]], ngram_range: tuple[int, int]):
    """Return the (texts x vocabulary) counts of the vocabulary's word n-grams in token lists."""
    terms = [term.split(" ") for term in vocabulary]
    number_of = {t: i for i, t in enumerate(dict.fromkeys(chain.from_iterable(terms)), 1)}
    base = len(number_of) + 1
    columns = np.fromiter(vocabulary.values(), np.int32, len(terms))
    if not terms:
        return sparse.csr_matrix((len(tokens), 0), dtype=np.float32)

    def keys_of(batch: list) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.fromiter(map(len, batch), np.int64, len(batch))
        number = np.fromiter(
            map(number_of.get, chain.from_iterable(batch), repeat(0)), np.int64, int(lengths.sum())
        )
        return _ngram_keys(number, lengths, ngram_range, base, drop_zero=True)

    term_keys = np.fromiter(
        (_word_key(term, number_of, base) for term in terms), np.int64, len(terms)
    )
    return _counts(tokens, keys_of, term_keys, columns)


def _counts(texts, keys_of, term_keys: np.ndarray, columns: np.ndarray) -> sparse.csr_matrix:
    terms = pd.Index(term_keys)
    rows, cols = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    for first in range(0, len(texts), _BATCH):
        doc, key = keys_of(texts[first : first + _BATCH])
        at = terms.get_indexer(key)
        hit = at >= 0
        rows.append((doc[hit] + first).astype(np.int32))
        cols.append(columns[at[hit]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)),
        shape=(len(texts), len(columns)),
        dtype=np.float32,
    )
    counts.sum_duplicates()
    return counts


def idf_weights(counts: sparse.csr_matrix) -> np.ndarray:
    """Return smoothed inverse document frequencies, as TfidfTransformer computes them."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray, sublinear: bool) -> sparse.csr_matrix:
    """Return l2-normalised TF-IDF rows of counts (sublinear: 1 + log tf)."""
    weighted = counts.astype(np.float32, copy=True)
    if sublinear:
        np.log(weighted.data, weighted.data)
        weighted.data += 1.0
    weighted.data *= idf[weighted.indices]
    if weighted.shape[0] == 0:
        return weighted
    return normalize(weighted, norm="l2", copy=False)
