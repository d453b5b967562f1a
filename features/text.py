"""Text normalisation: one canonical form for Chinese case text, whatever system wrote it."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import opencc

# Whitespace between two CJK characters carries no meaning in Chinese; elsewhere it separates words.
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
)
_CJK = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_CJK_PUNCT = "，。、；：！？“”‘’（）【】《》"
# Whitespace before or after Chinese punctuation: a match needs whitespace, so the many marks with
# none around them cost nothing (matching every mark and substituting it by itself cost 50 us a text).
_SPACE_NEXT_TO_CJK_PUNCT = re.compile(rf"\s+(?=[{_CJK_PUNCT}])|(?<=[{_CJK_PUNCT}])\s+")
_RUNS_OF_SPACE = re.compile(r"\s+")
_ANY_SPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")


# Full-width forms and the ideographic space, mapped to their NFKC forms before NFKC runs: NFKC of
# the result is the same, and its quick check then passes for most Chinese text (full-width "，"
# and "：" otherwise send every text down the slow path).
_WIDE_FORMS = {c: unicodedata.normalize("NFKC", chr(c)) for c in (0x3000, *range(0xFF01, 0xFF5F))}
# The same as a table of code points, for the Basic Multilingual Plane (itself elsewhere).
_WIDE_TABLE = np.arange(0x10000, dtype=np.uint32)
_WIDE_TABLE[list(_WIDE_FORMS)] = [ord(v) for v in _WIDE_FORMS.values()]


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise_text(text: str | None) -> str:
    """Return text in NFKC, Simplified Chinese, with whitespace cleaned up (idempotent).

    NFKC turns full-width digits and letters into ASCII; punctuation is then put back into its
    full-width Chinese form, which is what the lexicon and the segmenter's dictionary use.
    """
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", str(text).translate(_WIDE_FORMS))
    text = _CONTROL.sub("", text)
    text = _t2s().convert(text)
    text = _to_chinese_punctuation(text)
    if _ANY_SPACE.search(text) is None:  # as most case texts: the rest would leave it as it is
        return text
    text = _SPACE_BETWEEN_CJK.sub("", text)
    text = _SPACE_NEXT_TO_CJK_PUNCT.sub("", text)
    return _RUNS_OF_SPACE.sub(" ", text).strip()


def normalise_texts(texts: Iterable[str | None]) -> list[str]:
    """Return normalise_text applied to each text, computed for all texts at once.

    The texts are joined by NUL (which no step changes, NFKC never composes across and no OpenCC
    entry holds) and each step runs once over the whole string: the full-width forms are mapped
    on code points, NFKC and OpenCC see one string, and the ASCII marks next to Chinese are put
    back by a mask of their neighbours. That last rule is the regex's only for text without
    whitespace, so a text that has whitespace (or a control character, or NUL, or is None) after
    those steps is normalised on its own by normalise_text. A night's 16,826 texts took 0.26 s
    one by one and take 0.06 s together (tests/code/test_text_and_pii.py checks they agree).
    """
    # a column (or array) as a list first: iterating an Arrow-backed one is 3x slower
    texts = texts.tolist() if hasattr(texts, "tolist") else texts
    texts = ["" if t is None else str(t) for t in texts]
    if len(texts) < _TOGETHER_MIN_TEXTS:
        return [normalise_text(t) for t in texts]
    joined = "\0".join("" if "\0" in t else t for t in texts)
    points = _code_points(joined)
    points = np.where(points > 0xFFFF, points, _WIDE_TABLE[np.minimum(points, 0xFFFF)])
    joined = unicodedata.normalize("NFKC", points.tobytes().decode("utf-32-le"))
    joined = _t2s().convert(joined)
    points = _code_points(joined)
    ends = np.flatnonzero(points == 0)  # the separators, one fewer than the texts
    awkward = np.flatnonzero(_awkward_table()[np.minimum(points, 0xFFFF)])
    awkward = set(np.searchsorted(ends, awkward).tolist())
    awkward.update(i for i, t in enumerate(texts) if "\0" in t)
    marks = np.flatnonzero(_IS_ASCII_MARK[np.minimum(points, 0x7F)])
    if len(marks):
        before = _is_cjk(points[np.maximum(marks - 1, 0)]) & (marks > 0)
        after = _is_cjk(points[np.minimum(marks + 1, len(points) - 1)]) & (marks < len(points) - 1)
        chinese = marks[before | after]
        points[chinese] = _CJK_MARK_OF[points[chinese]]
        joined = points.tobytes().decode("utf-32-le")
    out = joined.split("\0")
    for i in awkward:
        out[i] = normalise_text(texts[i])
    return out


# Below this many texts the arrays cost more than they save (one text: 59 us together, 12 alone).
_TOGETHER_MIN_TEXTS = 8


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), np.uint32).copy()


@functools.cache
def _awkward_table() -> np.ndarray:
    """Return, per BMP code point, whether it is whitespace or a control character that
    normalise_text removes (NUL, the separator, excepted); no code point above is either."""
    awkward = re.compile(rf"\s|{_CONTROL.pattern}")
    return np.array([c > 0 and awkward.match(chr(c)) is not None for c in range(0x10000)])


def _is_cjk(points: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce([(points >= lo) & (points <= hi) for lo, hi in _CJK_RANGES])


# NFKC maps full-width punctuation to ASCII; between Chinese characters the ASCII forms are
# translated back so that "，" and "," read the same downstream.
_ASCII_TO_CJK_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
_IS_ASCII_MARK = np.zeros(0x80, bool)
_IS_ASCII_MARK[[ord(c) for c in _ASCII_TO_CJK_PUNCT]] = True
_CJK_MARK_OF = np.arange(0x80, dtype=np.uint32)
_CJK_MARK_OF[[ord(c) for c in _ASCII_TO_CJK_PUNCT]] = [ord(c) for c in _ASCII_TO_CJK_PUNCT.values()]
_ASCII_PUNCT_IN_CJK = re.compile(rf"(?<=[{_CJK}])\s*([,;:!?()])|([,;:!?()])\s*(?=[{_CJK}])")


def _to_chinese_punctuation(text: str) -> str:
    return _ASCII_PUNCT_IN_CJK.sub(lambda m: _ASCII_TO_CJK_PUNCT[m.group(1) or m.group(2)], text)
