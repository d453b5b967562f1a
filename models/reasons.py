"""Reasons: the model's own feature contributions, said in plain Chinese.

A case's reasons come from its feature contributions to the raw score of the booster behind its
grade (models.contributions: credits along the case's decision paths; TreeSHAP on request). The
largest positive ones that can be said in words become the reasons, e.g. "描述含威胁性言语(扬言)",
"同一当事人近30天第3次报事", "多渠道重复反映(3个渠道)". Character n-grams are left out: they are
word fragments ("事人甲") that no dispatcher could act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import sparse

from features.lexicon import describe_amount, load_lexicon

_WINDOW = re.compile(r"_(\d+)$")
_READABLE_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}( [\u4e00-\u9fff]{2,})?$")
# Masking tokens and the words around them say nothing a dispatcher can act on.
_UNQUOTABLE = re.compile(r"当事人|身份证|电话|号码|姓名|来电人|报警人|来访人|信访人")
_LEVEL = {"grid": "所在网格", "community": "所在社区"}


def phrase(
    name: str,
    value: float,
    term_of: Callable[[str], str | None],
    categories: dict[str, list[str]],
) -> str | None:
    """Return the Chinese phrase for a feature at a case's value, or None if it cannot be said.

    term_of(key): the case's first firing lexicon term of a cue category, or for a text-model
    score the word that raised it most; None if there is none.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    lex = load_lexicon()
    if name.startswith("lex_neg_") or name.startswith("char:"):
        return None
    if name.startswith("lex_"):
        category = name[4:]
        if category == "amount_log10":
            return f"涉及金额较大({describe_amount(value)})"
        if category == "people":
            return f"涉及人数较多({int(value)}人)" if value >= 2 else None
        if value <= 0 or category not in lex.names:
            return None
        term = term_of(category)
        return f"描述含{lex.label(category)}({term})" if term else f"描述含{lex.label(category)}"
    if name.startswith("word:"):
        word = name[5:]
        if value <= 0 or not quotable_word(word):
            return None
        return f"描述含“{word.replace(' ', '')}”"
    if name.startswith("text_model:"):  # the words the text model read, as it weighed them
        word = term_of(name)
        return f"描述含“{word}”" if word else None
    if name == "grp_channels":
        return f"多渠道重复反映({int(value)}个渠道)" if value >= 2 else None
    if name == "grp_size":
        return f"同一纠纷第{int(value)}次反映" if value >= 2 else None
    if name.startswith("hist_"):
        return _history_phrase(name[5:], value)
    if name.startswith("geo_high_"):
        return f"周边近{name.rsplit('_', 1)[1]}天高风险案件{int(value)}起" if value >= 1 else None
    if name.startswith("geo_n_"):
        return f"周边近{name.rsplit('_', 1)[1]}天纠纷{int(value)}起" if value >= 1 else None
    if name in categories:
        levels = categories[name]
        label = {"channel": "来源渠道", "dispute_type": "纠纷类型", "district": "所在区县"}[name]
        return f"{label}：{levels[int(value)]}" if 0 <= int(value) < len(levels) else None
    if name == "days_to_spring_festival":
        return f"临近春节(距{int(value)}天)" if value <= 45 else None
    if name == "completeness":
        return "七何要素不全" if value < 1 else None
    if name == "text_length":
        return "案情描述详细，情节较复杂" if value >= 80 else None
    return None


def quotable_word(word: str) -> bool:
    """Return whether a word (or space-joined word pair) can be quoted to a dispatcher: Chinese
    words of two characters or more, none of them masking tokens or the words around them."""
    return bool(_READABLE_WORD.match(word)) and not _UNQUOTABLE.search(word)


def _history_phrase(name: str, value: float) -> str | None:
    entity, _, stat = name.partition("_")
    if stat == "days_since":
        if entity == "party" and value <= 30:
            return f"当事人{max(int(value), 0)}天前曾报事"
        return None
    window = _WINDOW.search(stat)
    if not window or value < 1:
        return None
    days, n = window.group(1), int(value)
    kind = stat[: window.start()]
    if entity == "party":
        return {
            "n": f"同一当事人近{days}天第{n + 1}次报事",
            "high": f"当事人近{days}天有{n}起高风险纠纷",
            "medium": f"当事人近{days}天有{n}起中风险纠纷",
            "unresolved": f"当事人近{days}天有{n}起未化解纠纷",
        }.get(kind)
    where = _LEVEL.get(entity)
    if where is None:
        return None
    return {
        "n": f"{where}近{days}天纠纷{n}起",
        "high": f"{where}近{days}天高风险纠纷{n}起",
        "medium": f"{where}近{days}天中风险纠纷{n}起",
        "unresolved": f"{where}近{days}天未化解纠纷{n}起",
    }.get(kind)


def top_reasons(
    contributions: np.ndarray,
    names: list[str],
    values: np.ndarray,
    terms: Callable[[int], Mapping[str, str]],
    categories: dict[str, list[str]],
    k: int = 3,
) -> list[list[str]]:
    """Return up to k phrases per case, from its largest positive contributions that can be said.

    contributions and values are (cases x features) matrices aligned with names, dense or sparse;
    only the positive contributions are ranked (all cases' in one sort), so thousands of text
    columns cost nothing. terms(i): case i's evidence (anything with .get(key) -> str | None, see
    phrase's term_of), asked for only when a lexicon or text reason is said.
    """
    contributions, values = sparse.csr_matrix(contributions), sparse.csr_matrix(values)
    values.sort_indices()
    case = np.repeat(np.arange(contributions.shape[0]), np.diff(contributions.indptr))
    positive = contributions.data > 0
    case, columns, weights = (
        case[positive],
        contributions.indices[positive],
        contributions.data[positive],
    )
    order = np.lexsort((-weights, case))  # by case, then largest first; ties keep column order
    case, columns = case[order], columns[order]
    bounds = np.searchsorted(case, np.arange(contributions.shape[0] + 1))
    out = []
    for i in range(contributions.shape[0]):
        present = slice(values.indptr[i], values.indptr[i + 1])
        value_columns, value_data = values.indices[present], values.data[present]
        phrases: list[str] = []
        for j in columns[bounds[i] : bounds[i + 1]]:
            if len(phrases) == k:
                break
            at = np.searchsorted(value_columns, j)
            value = value_data[at] if at < len(value_columns) and value_columns[at] == j else 0.0
            said = phrase(names[j], float(value), lambda c, i=i: terms(i).get(c), categories)
            if said and said not in phrases:
                phrases.append(said)
        out.append(phrases)
    return out


def reasons_frame(reasons: list[list[str]], index: pd.Index) -> pd.Series:
    """Return reasons joined for a table cell ("；" between phrases)."""
    return pd.Series(["；".join(r) for r in reasons], index=index, dtype=object)
