"""The risk lexicon: cue counts with negation, amounts and headcounts, named so reasons can quote them."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import yaml


@dataclass(frozen=True)
class Category:
    """One cue category of the lexicon."""

    name: str
    label: str  # Chinese, quoted in reasons
    direction: str  # "up" raises risk, "down" lowers it
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """The loaded lexicon with its compiled matchers."""

    version: str
    categories: tuple[Category, ...]
    negators: tuple[str, ...]
    window: int
    clause_breaks: str
    resets: tuple[str, ...]
    ordinary_words: tuple[str, ...]
    amount_pattern: re.Pattern
    people_pattern: re.Pattern
    term_pattern: re.Pattern
    negator_pattern: re.Pattern
    category_of: dict[str, str]
    compounds: dict[str, tuple[str, ...]]  # name -> the categories that must all fire
    compound_labels: dict[str, str]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def label(self, name: str) -> str:
        """Return the Chinese label of a category."""
        return next(c.label for c in self.categories if c.name == name)


@functools.cache
def load_lexicon() -> Lexicon:
    """Return the lexicon shipped in features/resources/risk_lexicon.yaml."""
    raw = yaml.safe_load(
        resources.files("features")
        .joinpath("resources/risk_lexicon.yaml")
        .read_text(encoding="utf-8")
    )
    categories = tuple(
        Category(name, spec["label"], spec["direction"], tuple(spec["terms"]))
        for name, spec in raw["categories"].items()
    )
    category_of = {term: c.name for c in categories for term in c.terms}
    # Longest terms first, so that 集体上访 is one crowd cue rather than crowd + petition.
    terms = sorted(category_of, key=len, reverse=True)
    negation = raw["negation"]
    negators = tuple(sorted(negation["negators"], key=len, reverse=True))
    return Lexicon(
        version=str(raw["version"]),
        categories=categories,
        negators=negators,
        window=int(negation["window"]),
        clause_breaks=negation["clause_breaks"],
        resets=tuple(negation["resets"]),
        ordinary_words=tuple(
            sorted(set(negation.get("ordinary_words", ())), key=len, reverse=True)
        ),
        amount_pattern=re.compile(raw["amounts"]["pattern"]),
        people_pattern=re.compile(raw["people"]["pattern"]),
        term_pattern=re.compile("|".join(map(re.escape, terms))),
        negator_pattern=re.compile("|".join(map(re.escape, negators))),
        category_of=category_of,
        compounds={n: tuple(c["all_of"]) for n, c in raw.get("compounds", {}).items()},
        compound_labels={n: c["label"] for n, c in raw.get("compounds", {}).items()},
    )


# Joins the texts that lexicon_features searches as one: no term, number or unit pattern matches it,
# and normalised text holds no control characters.
_SEPARATOR = "\x00"


@dataclass
class Hits:
    """What the lexicon found in one text."""

    counts: dict[str, int]  # category -> cues that fire
    negated: dict[str, int]  # category -> cues that a negator cancelled
    first_term: dict[str, str]  # category -> the first firing term, for reasons
    amount: float  # largest amount in yuan, 0 if none
    people: int  # largest headcount, 0 if none


def _negated(text: str, start: int, lex: Lexicon) -> bool:
    """Return whether a negator cancels the cue at `start` of one text."""
    lo = max(0, start - lex.window)
    # Most cues have no negator anywhere in their window: one regex search, no slicing, says so.
    if lex.negator_pattern.search(text, lo, start) is None:
        return False
    return _negated_window(text[lo:start], lex)


def _negated_window(before: str, lex: Lexicon) -> bool:
    """Return whether a negator in the text before a cue reaches it (same clause, no reset since)."""
    cut = max((before.rfind(ch) for ch in lex.clause_breaks), default=-1)
    before = before[cut + 1 :]
    for reset in lex.resets:
        at = before.rfind(reset)
        if at >= 0:
            before = before[at + len(reset) :]
    for word in lex.ordinary_words:  # 无力, 未成年 ...: a negator's characters, no negation
        before = before.replace(word, "、")
    return any(n in before for n in lex.negators)


def _negator_may_start(text: str, lo: np.ndarray, hi: np.ndarray, lex: Lexicon) -> np.ndarray:
    """Return per window [lo, hi) of the text whether a negator's first character is in it.

    Only such windows can hold a negator: on a night's texts a sixth of the cues' windows do, and
    only those are searched (find_cues, on one text, searches each with _negated).
    """
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    first = np.zeros(len(points), bool)
    for ch in {n[0] for n in lex.negators}:
        first |= points == ord(ch)
    before = np.concatenate([[0], np.cumsum(first)])  # first characters before each position
    return before[hi] > before[lo]


def find_cues(text: str, lex: Lexicon | None = None) -> Hits:
    """Return the lexicon's hits in one normalised text."""
    lex = lex or load_lexicon()
    counts = dict.fromkeys(lex.names, 0)
    negated = dict.fromkeys(lex.names, 0)
    first: dict[str, str] = {}
    for match in lex.term_pattern.finditer(text):
        category = lex.category_of[match.group(0)]
        if _negated(text, match.start(), lex):
            negated[category] += 1
        else:
            counts[category] += 1
            first.setdefault(category, match.group(0))
    amount = 0.0
    for number, unit in lex.amount_pattern.findall(text):
        amount = max(amount, _yuan(number, unit))
    people = max((int(n) for n in lex.people_pattern.findall(text)), default=0)
    return Hits(counts, negated, first, amount, people)


def _yuan(number: str, unit: str | None) -> float:
    return float(number) * {"万": 10000, "千": 1000}.get(unit, 1)


def lexicon_features(texts: Iterable[str]) -> pd.DataFrame:
    """Return per text: lex_<category> counts, lex_neg_<category> counts, lex_<compound> (1 when
    all its categories fire), amount and headcount.

    The texts are searched as one string, joined by a character that none of the shipped patterns
    can match, and each match is given to its text; negators are looked for within the cue's own
    text. The result equals find_cues applied text by text (tests/code/test_lexicon_and_segment.py).
    """
    lex = load_lexicon()
    texts = [t or "" for t in texts]
    alone = {i: t for i, t in enumerate(texts) if _SEPARATOR in t}
    searched = ["" if i in alone else t for i, t in enumerate(texts)]
    joined = _SEPARATOR.join(searched)
    starts = np.cumsum([0, *(len(t) + 1 for t in searched[:-1])])

    def start_of(matches: list[re.Match]) -> np.ndarray:
        return np.fromiter((m.start() for m in matches), np.int64, len(matches))

    def text_of(at: np.ndarray) -> np.ndarray:
        return np.searchsorted(starts, at, side="right") - 1

    column = {name: i for i, name in enumerate(lex.names)}
    cues = list(lex.term_pattern.finditer(joined))
    cue_start = start_of(cues)
    cue_text = text_of(cue_start)
    category = np.fromiter((column[lex.category_of[m.group(0)]] for m in cues), np.int64, len(cues))
    window_start = np.maximum(starts[cue_text], cue_start - lex.window)
    negated = np.zeros(len(cues), bool)
    for i in np.flatnonzero(_negator_may_start(joined, window_start, cue_start, lex)):
        negated[i] = _negated_window(joined[window_start[i] : cue_start[i]], lex)
    fired = np.zeros((len(texts), len(column)))
    cancelled = np.zeros((len(texts), len(column)))
    np.add.at(fired, (cue_text[~negated], category[~negated]), 1)
    np.add.at(cancelled, (cue_text[negated], category[negated]), 1)

    amounts = list(lex.amount_pattern.finditer(joined))
    amount = np.zeros(len(texts))
    np.maximum.at(
        amount,
        text_of(start_of(amounts)),
        [_yuan(number, unit) for number, unit in (m.groups() for m in amounts)],
    )
    people_found = list(lex.people_pattern.finditer(joined))
    people = np.zeros(len(texts))
    np.maximum.at(
        people, text_of(start_of(people_found)), [float(m.group(1)) for m in people_found]
    )

    for i, text in alone.items():
        hits = find_cues(text, lex)
        fired[i] = [hits.counts[name] for name in lex.names]
        cancelled[i] = [hits.negated[name] for name in lex.names]
        amount[i], people[i] = hits.amount, hits.people
    columns: dict[str, np.ndarray] = {}
    for name, i in column.items():
        columns[f"lex_{name}"] = fired[:, i]
    for name, i in column.items():
        columns[f"lex_neg_{name}"] = cancelled[:, i]
    for name, parts in lex.compounds.items():
        columns[f"lex_{name}"] = np.min([fired[:, column[c]] > 0 for c in parts], axis=0) * 1.0
    columns["lex_amount_log10"] = np.where(amount > 0, np.log10(np.maximum(amount, 1)), np.nan)
    columns["lex_people"] = people
    return pd.DataFrame(columns)


def without_cue_clauses(texts: Iterable[str]) -> list[str]:
    """Return the texts with every clause that holds a risk cue taken out (see split_cue_clauses)."""
    return split_cue_clauses(texts)[0]


def split_cue_clauses(texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """Return (the texts without their cue clauses, the risk-cue clauses that were taken out).

    The first: the texts with every clause that holds a risk cue taken out, together with the mark
    that ends it; a negated cue and a mitigation go from the negator or the cue to the clause's
    end ("邻里纠纷，对方扬言要杀了他。" -> "邻里纠纷"; "经查未持刀具。后离开" -> "经查。后离开";
    "经调解达成协议" -> "经调解"). The cut keeps the clause's mark, and marks left side by side
    are merged.

    This is what the text model reads. The cues reach the grader only through the lexicon's
    counts, which know negation and which the boosters may only read in the cue's direction; so
    adding a threat to a report as a clause of its own, or a mitigation anywhere, cannot change the
    text model's view of it, and a denied weapon is never read as a weapon.

    The second: per text, the whole clauses of its risk cues that fire (neither negated nor a
    mitigation), joined by "，" ("邻里纠纷，对方扬言要杀了他。" -> "对方扬言要杀了他"). They say
    what the lexicon's counts cannot: who did it, to whom, how. Adding a cue clause to a text only
    adds to them (models.clauses reads them with weights that cannot lower a score).
    """
    lex = load_lexicon()
    clause = _cue_clause_pattern()
    marks = _marks_pattern()
    starts = {n[0] for n in lex.negators}
    lowering = {t for c in lex.categories if c.direction == "down" for t in c.terms}
    out, risky = [], []
    for text in texts:
        text = text or ""
        kept, cut, at = [], [], 0
        for match in clause.finditer(text):
            if match.start() < at:
                continue
            begin = match.start()
            if starts.intersection(text[max(0, begin - lex.window) : begin]) and _negated(
                text, begin, lex
            ):
                begin = _negator_start(text, begin, lex)
            elif match.group(1) not in lowering:
                # A risk cue's whole clause goes: what stands before it ("当事人甲拿着一把",
                # "说要") would tell the text model that a cue follows. A mitigation is cut from
                # the cue on, so that adding one takes nothing else from the text model.
                while begin > at and text[begin - 1] not in lex.clause_breaks:
                    begin -= 1
                cut.append(text[begin : match.end()].rstrip(lex.clause_breaks))
            # The cut keeps a mark, so that no n-gram spans it: "被对方持刀威胁。林某…" must not
            # read "对方林某", whose "方林" is a word no one wrote (and may be a party's name).
            end = match.group(0)[-1]
            kept.append(text[at:begin] + (end if end in lex.clause_breaks else "，"))
            at = match.end()
        text = "".join(kept) + text[at:] if kept else text
        # Where a clause went, its neighbours' marks meet: keep one, and none at the ends, so that
        # a text reads the same with or without a cue clause added anywhere.
        out.append(marks.sub(lambda m: m.group(0)[0], text).strip(lex.clause_breaks + " "))
        risky.append("，".join(cut))
    return out, risky


def _negator_start(text: str, cue: int, lex: Lexicon) -> int:
    """Return where the last negator before a (negated) cue starts, within its window."""
    lo = max(0, cue - lex.window)
    found = [m.start() for m in lex.negator_pattern.finditer(text, lo, cue)]
    return max(found[-1] if found else cue, lo)


@functools.cache
def _marks_pattern() -> re.Pattern:
    return re.compile(f"[{re.escape(load_lexicon().clause_breaks)}]{{2,}}")


@functools.cache
def _cue_clause_pattern() -> re.Pattern:
    lex = load_lexicon()
    breaks = re.escape(lex.clause_breaks)
    return re.compile(f"({lex.term_pattern.pattern})[^{breaks}]*[{breaks}]?")


def strip_cues(text: str, lex: Lexicon | None = None) -> str:
    """Return text with every lexicon term removed: what free-text features see besides the cues."""
    return (lex or load_lexicon()).term_pattern.sub("", text or "")


def cue_terms(texts: Iterable[str]) -> list[dict[str, str]]:
    """Return per text the first firing term of each category, for the reasons' wording."""
    lex = load_lexicon()
    return [find_cues(t or "", lex).first_term for t in texts]


def describe_amount(log10_amount: float) -> str:
    """Return an amount in yuan written as a reason would: 3.2万元, 8600元."""
    amount = 10**log10_amount
    return (
        f"{amount / 10000:.1f}万元".replace(".0万", "万")
        if amount >= 10000
        else f"{math.floor(amount)}元"
    )
