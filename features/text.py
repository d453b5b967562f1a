"""Text normalisation: one canonical form for Chinese case text, whatever system wrote it."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import opencc

# Whitespace between two CJK characters carries no meaning in Chinese; elsewhere it separates words.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
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
    """Return normalise_text applied to each text."""
    return [normalise_text(t) for t in texts]


# NFKC maps full-width punctuation to ASCII; between Chinese characters the ASCII forms are
# translated back so that "，" and "," read the same downstream.
_ASCII_TO_CJK_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
_ASCII_PUNCT_IN_CJK = re.compile(rf"(?<=[{_CJK}])\s*([,;:!?()])|([,;:!?()])\s*(?=[{_CJK}])")


def _to_chinese_punctuation(text: str) -> str:
    return _ASCII_PUNCT_IN_CJK.sub(lambda m: _ASCII_TO_CJK_PUNCT[m.group(1) or m.group(2)], text)
