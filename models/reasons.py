"""Reasons: the model's own feature contributions, said in plain Chinese.

A case's reasons come from its feature contributions to the raw score of the booster behind its
grade (models.contributions: credits along the case's decision paths; TreeSHAP on request). The
largest positive ones that can be said in words become the reasons, e.g. "描述含威胁性言语(扬言)",
"同一当事人近30天第3次报事", "多渠道重复反映(3个渠道)". When the grader is its text model alone,
a case's reasons are its words that raise the score behind its grade most.

A quoted word must be something a dispatcher can act on: a content word of the case (a noun,
verb or adjective in jieba's dictionary, or a term of the risk lexicon or the domain dictionary)
that raises the score in the model. Function words (表示, 互相, 对方), place names, masking tokens
and a court's boilerplate (被告人, 公诉机关) are never quoted.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from features.domain import HIGH_INDEX
from features.lexicon import cue_terms, describe_amount, load_lexicon
from features.segment import domain_dictionary
from features.text import normalise_text
from models.contributions import PathContributions

_WINDOW = re.compile(r"_(\d+)$")
_READABLE_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}( [\u4e00-\u9fff]{2,})?$")
# Masking tokens and the words around them say nothing a dispatcher can act on.
_UNQUOTABLE = re.compile(r"当事人|身份证|电话|号码|姓名|来电人|报警人|来访人|信访人")
# Words with a content tag in jieba's dictionary that still say nothing about a case: reporting
# verbs, parties in general, the bureaucracy, a court's boilerplate.
GENERIC_WORDS = frozenset(
    """表示 反映 称 声称 说 讲 认为 觉得 发现 知道 希望 要求 进行 发生 出现 存在 导致 造成 相关
    有关 情况 问题 事情 事件 时候 现在 目前 当时 之前 之后 以后 以前 已经 一直 应该 可能 需要
    没有 不能 不会 可以 自己 我们 他们 你们 大家 对方 双方 互相 相互 人员 工作 部门 领导 政府
    有关部门 相关部门 结果 东西 所有 一些 这个 那个 这样 那样 怎么 什么 为什么 如何 估计 其中
    方面 部分 等等 然后 因为 所以 但是 而且 并且 如果 虽然 只是 就是 还有 以及 通过 根据 按照
    关于 对于 由于 经过 目的 本人 其他 多次 反复 办理 处理 解决 协调 联系 了解 告知 答复 回复
    群众 居民 村民 市民 网友 业主 相关单位 单位 公司 社区 街道 小区 地方 本案 被告人 被告 被害人
    原告 公诉机关 检察院 人民检察院 法院 人民法院 指控 审理 查明 经审理查明 认定 构成 依法 判处
    犯罪 罪名 案件 行为 事实 证据 证实 供述 到案 归案 如实 现场 某某 该案 上述 其中 期间 左右
    报警 民警 派出所 公安机关 当地 此事 此案 一事 特此 恳请 请求 感谢 谢谢 您好 你好 尊敬""".split()
)
# jieba's tags for words that are not content: pronouns, adverbs, conjunctions, prepositions,
# particles, numerals, measure words, times, directions, places, person and organisation names.
_NOT_CONTENT_TAGS = frozenset(
    "r rr rz d c p u uj ul uz ug uv ud y e o m mq q t tg f s nr nrt nrfg ns nt x zg b k h".split()
)
_PLACE_ENDINGS = (
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
    "村",
    "街道",
    "社区",
    "小区",
    "路",
    "街",
    "巷",
)
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
        if category in lex.compounds:
            return f"描述含{lex.compound_labels[category]}" if value > 0 else None
        if value <= 0 or category not in lex.names:
            return None
        term = term_of(category)
        return f"描述含{lex.label(category)}({term})" if term else f"描述含{lex.label(category)}"
    if name.startswith("clause_model:"):  # a cue's clause: its cue says it, as lex_<category>
        return None
    if name.startswith("text_model:"):  # the words the text model read, as it weighed them
        word = term_of(name)
        return word_phrase(word) if word else None
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
    """Return whether a word (or space-joined word pair) is readable: Chinese words of two
    characters or more, none of them masking tokens or the words around them."""
    return bool(_READABLE_WORD.match(word)) and not _UNQUOTABLE.search(word)


def content_word(word: str, places: frozenset[str] = frozenset()) -> bool:
    """Return whether a word says something about a case: readable, not generic, not a place,
    and a lexicon or domain term or tagged as content in jieba's dictionary (unknown words,
    which jieba's HMM makes up, count as content)."""
    if not quotable_word(word) or word in GENERIC_WORDS or word in places:
        return False
    if word in load_lexicon().category_of or word in _domain_words():
        return True
    if word.endswith(_PLACE_ENDINGS):
        return False
    tag = _jieba_tags().get(word)
    return tag is None or tag not in _NOT_CONTENT_TAGS


@functools.cache
def _jieba_tags() -> dict[str, str]:
    """Return jieba's dictionary word -> part-of-speech tag (loaded once, about 3 s)."""
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab


@functools.cache
def _domain_words() -> frozenset[str]:
    return frozenset(w for w, _, tag in domain_dictionary() if tag != "ns")


@dataclass
class QuotableWords:
    """The content words a fitted text model can quote, and how much each raises each score."""

    words: pd.Index
    weights: np.ndarray  # (words x scores)


def quotable_words(tokens: list[list[str]], text_model, places: frozenset[str]) -> QuotableWords:
    """Return the training texts' content words (in at least two texts) that raise some score."""
    counts = pd.Series([w for ws in tokens for w in set(ws)], dtype=object).value_counts()
    seen = [w for w in counts[counts >= 2].index if content_word(w, places)]
    weights = text_model.word_weights(seen)
    raising = (weights > 0).any(axis=1) if len(seen) else np.zeros(0, bool)
    return QuotableWords(pd.Index(np.asarray(seen, dtype=object)[raising]), weights[raising])


def text_reasons(
    tokens: list[list[str]], score_of: np.ndarray, quotable: QuotableWords, k: int = 3
) -> list[list[str]]:
    """Return up to k reasons per case: its quotable words that raise score score_of[i] most,
    a lexicon term said as its cue category ("描述含威胁性言语(扬言)"), another as 描述含“X”."""
    return [[word_phrase(w) for w in words] for words in top_words(tokens, score_of, quotable, k)]


def word_phrase(word: str) -> str:
    """Return how a reason quotes a word of the case."""
    lex = load_lexicon()
    category = lex.category_of.get(word)
    return f"描述含{lex.label(category)}({word})" if category else f"描述含“{word}”"


def top_words(
    tokens: list[list[str]], score_of: np.ndarray, quotable: QuotableWords, k: int = 3
) -> list[list[str]]:
    """Return per case up to k of its quotable words, those raising score score_of[i] most."""
    lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
    flat = list(itertools.chain.from_iterable(tokens))
    at = quotable.words.get_indexer(flat) if len(flat) else np.zeros(0, np.int64)
    case = np.repeat(np.arange(len(tokens)), lengths)
    known = at >= 0
    case, at = case[known], at[known]
    weight = quotable.weights[at, np.asarray(score_of)[case]] if len(at) else np.zeros(0)
    up = weight > 0
    case, at, weight = case[up], at[up], weight[up]
    order = np.lexsort((-weight, case))
    case, at = case[order], at[order]
    bounds = np.searchsorted(case, np.arange(len(tokens) + 1))
    out = []
    for i in range(len(tokens)):
        words: list[str] = []
        for j in at[bounds[i] : bounds[i + 1]]:
            word = quotable.words[j]
            if word not in words:
                words.append(word)
            if len(words) == k:
                break
        out.append(words)
    return out


def _history_phrase(name: str, value: float) -> str | None:
    entity, _, stat = name.partition("_")
    if stat == "days_since":
        if entity == "party" and value <= 30:
            days = max(int(value), 0)
            return "当事人当天曾报事" if days == 0 else f"当事人{days}天前曾报事"
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
            "pending": f"当事人近{days}天有{n}起未办结纠纷",
        }.get(kind)
    where = _LEVEL.get(entity)
    if where is None:
        return None
    return {
        "n": f"{where}近{days}天纠纷{n}起",
        "high": f"{where}近{days}天高风险纠纷{n}起",
        "medium": f"{where}近{days}天中风险纠纷{n}起",
        "unresolved": f"{where}近{days}天未化解纠纷{n}起",
        "pending": f"{where}近{days}天未办结纠纷{n}起",
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


_CONTRIB_CHUNK = 4096


class Explainer:
    """Reasons for a grader's cases, from the grader's own feature contributions.

    With the boosters: their contributions (risk: a 高 case by the P(高) booster, any other by the
    P(at least 中) booster; other targets: the predicted class's trees), said in words; a text
    score is said by the case's word that raises it most. Without them (the text model and its
    cue weights): the cues that raise the score behind its grade, then the case's words that
    raise it most. fit() prepares each booster's path contributions, so scoring prepares nothing.
    """

    def __init__(
        self,
        featuriser,
        text_names: list[str],
        quotable: QuotableWords,
        ordinal: bool,
        n_classes: int,
        boosters=None,
        cue_weights=None,
        clause_names: Sequence[str] = (),
    ):
        self.featuriser = featuriser
        self.text_names = list(text_names)
        self.clause_names = list(clause_names)
        self.quotable = quotable
        self.ordinal = ordinal
        self.n_classes = n_classes
        self.boosters = boosters
        self.cue_weights = cue_weights

    def fit(self) -> Explainer:
        trees = self.boosters.boosters_ if self.boosters is not None else {}
        self.paths_ = {
            name: PathContributions(booster, booster.best_iteration or None)
            for name, booster in trees.items()
        }
        return self

    @property
    def feature_names(self) -> list[str]:
        # an explainer pickled before the cue-clause model has no clause_names
        return [
            *self.featuriser.feature_names_,
            *self.text_names,
            *getattr(self, "clause_names", []),
        ]

    def _score_of(self, grade: np.ndarray) -> np.ndarray:
        """Return, per case, which text score explains its grade (column of the word weights)."""
        if self.ordinal:  # 高 by P(高), any other grade by P(at least 中)
            return np.where(grade == HIGH_INDEX, 0, 1)
        return grade

    def explain(self, cases, X, grade, features, k: int = 3, method: str = "path"):
        """Return up to k reasons per case. method: "path" (credits along the case's decision
        paths) or "treeshap"."""
        evidence = self._evidence(cases, features)
        if self.boosters is None:
            return self._explain_text(features, self._score_of(grade), evidence, k)
        X = sparse.csr_matrix(X)
        if self.ordinal:
            groups = [
                ("high", np.flatnonzero(grade == HIGH_INDEX)),
                ("at_least_medium", np.flatnonzero(grade != HIGH_INDEX)),
            ]
        else:
            groups = [("multiclass", np.arange(X.shape[0]))]
        out: list[list[str]] = [[] for _ in range(X.shape[0])]
        for booster, rows in groups:
            for start in range(0, len(rows), _CONTRIB_CHUNK):
                chosen = rows[start : start + _CONTRIB_CHUNK]
                for i, phrases in zip(
                    chosen,
                    self._booster_reasons(booster, X, grade, chosen, evidence, k, method),
                    strict=True,
                ):
                    out[i] = phrases
        return out

    def _booster_reasons(self, booster, X, grade, chosen, evidence, k, method):
        chunk = X[chosen]
        per_class = self.contributions(booster, chunk, method)
        if self.ordinal:
            toward = per_class[0]
        else:
            toward = sum(
                sparse.diags((grade[chosen] == c).astype(float)) @ per_class[c]
                for c in range(self.n_classes)
            )
        return top_reasons(
            toward,
            self.feature_names,
            chunk,
            lambda i: evidence(chosen[i]),
            self.featuriser.categories_,
            k,
        )

    def _evidence(self, cases, features) -> Callable[[int], _Evidence]:
        """Return what case i's text shows, looked up only when one of its reasons needs it."""
        descriptions = cases["description"].to_numpy(dtype=object)
        lexicon_terms: dict[int, dict[str, str]] = {}
        text_columns = {n: i for i, n in enumerate(self.text_names)}

        def evidence(i: int) -> _Evidence:
            def get(key: str) -> str | None:
                if key in text_columns:
                    column = np.array([text_columns[key]])
                    words = top_words([features.tokens[i]], column, self.quotable, 1)[0]
                    return words[0] if words else None
                if i not in lexicon_terms:
                    lexicon_terms[i] = cue_terms([normalise_text(descriptions[i])])[0]
                return lexicon_terms[i].get(key)

            return _Evidence(get)

        return evidence

    def _explain_text(self, features, score_of, evidence, k: int) -> list[list[str]]:
        """Reasons of the text model's candidate: the cues that raise the case's score, said as
        the boosters' would be, then its words that raise it most."""
        words = text_reasons(features.tokens, score_of, self.quotable, k)
        if self.cue_weights is None:
            return words
        names = self.featuriser.feature_names_
        cues = top_reasons(
            self.cue_weights.contributions(features.named, len(names)),
            names,
            features.named,
            evidence,
            self.featuriser.categories_,
            k,
        )
        return [(c + [w for w in ws if w not in c])[:k] for c, ws in zip(cues, words, strict=True)]

    def contributions(self, booster: str, X, method: str = "path") -> list[sparse.csr_matrix]:
        """Return a booster's (cases x features) raw-score contributions, one matrix per class."""
        if method == "path":
            return self.paths_[booster](X)
        if method != "treeshap":
            raise ValueError(f"unknown contribution method {method!r}: path or treeshap")
        trees = self.boosters.boosters_[booster]
        contrib = trees.predict(X, num_iteration=trees.best_iteration or None, pred_contrib=True)
        if isinstance(contrib, list):  # sparse input, several classes
            per_class = contrib
        elif sparse.issparse(contrib):
            per_class = [contrib]
        else:  # dense: the classes side by side
            per_class = np.split(contrib, trees.num_model_per_iteration(), axis=1)
        n_features = len(self.feature_names)
        return [sparse.csr_matrix(c)[:, :n_features] for c in per_class]


class _Evidence:
    """What one case's text shows, looked up only when one of its reasons needs it."""

    def __init__(self, get):
        self.get = get
