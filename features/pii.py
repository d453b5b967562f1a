"""Personal data: find and mask phone and ID numbers and party names, and link parties by keyed hash.

Masking runs on normalised text (full-width digits already ASCII), is idempotent, and replaces
each kind of datum with a fixed token so that features see "there was a phone number" and nothing
more.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import re
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np
import pandas as pd
import pyarrow as pa
import rjieba

PHONE_TOKEN = "[电话]"
ID_TOKEN = "[身份证号]"
NUMBER_TOKEN = "[号码]"
NAME_TOKEN = "[姓名]"
ROLE_TOKENS = [f"当事人{c}" for c in "甲乙丙丁戊己庚辛壬癸"]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# A run of digits with the separators people type inside numbers ("138-1234-5678", "0437 3212345",
# "(0437)3212345") and that exports' stray whitespace puts there ("0 437-7814213"). Each run is
# classified by its digits alone, so that no separator can hide a number from the mask.
_NUMBER_RUN = re.compile(
    r"(?<![0-9A-Za-z])(?:\+\s?)?[(（]?\d(?:[(（)）\s\-－—]{0,2}\d){6,}[Xx]?(?![0-9A-Za-z])"
)
_NAME_SPLIT = re.compile(r"[、,，;；/|\s]+")


def valid_id_number(number: str) -> bool:
    """Return whether an 18-character ID number's check digit is right."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _classify_number(run: str) -> str | None:
    """Return the token for a digit run that is personal data, or None to leave it as it is."""
    digits = re.sub(r"[^0-9Xx]", "", run)
    if len(digits) == 18 and valid_id_number(digits):
        return ID_TOKEN
    if len(digits) >= 15:
        return NUMBER_TOKEN  # old 15-digit IDs, bank cards, IDs with a wrong check digit
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return PHONE_TOKEN
    if re.fullmatch(r"0\d{9,11}", digits):
        return PHONE_TOKEN  # area code and a 7- or 8-digit landline
    return None


def mask_contacts(text: str) -> str:
    """Return text with ID numbers, phone numbers and other long digit runs replaced by tokens."""
    return _NUMBER_RUN.sub(lambda m: _classify_number(m.group(0)) or m.group(0), text)


def split_parties(parties: str | None) -> list[str]:
    """Return the party names listed in a 当事人 cell, in order, without blanks or repeats."""
    if not parties:
        return []
    seen: dict[str, None] = {}
    for name in _NAME_SPLIT.split(str(parties)):
        name = name.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def mask_names(text: str, names: Sequence[str]) -> str:
    """Return text with each listed party name replaced by its role token (当事人甲, 当事人乙 ...).

    Longer names go first so that "王秀英" is not half-replaced by a party called "王秀".
    Single characters are left alone: they are surnames or words, not names.
    """
    roles = {name: ROLE_TOKENS[i % len(ROLE_TOKENS)] for i, name in enumerate(names)}
    for name in sorted(roles, key=len, reverse=True):
        if len(name) >= 2:
            text = text.replace(name, roles[name])
    return text


class NameIndex:
    """Every party name listed anywhere in an export, to mask names a row's own 当事人 cell omits.

    A re-report often names the other party only in its text; the name is still personal data.
    Lookups start only at characters that begin some known name, which keeps a million texts fast.
    """

    def __init__(self, names: Iterable[str]):
        self.names = {n for n in names if 2 <= len(n) <= 4}
        self.first = {n[0] for n in self.names}

    def mask(self, text: str) -> str:
        """Return text with every known name replaced by the name token (longest match first)."""
        if not self.names:
            return text
        out, i, n = [], 0, len(text)
        while i < n:
            if text[i] in self.first:
                for k in (4, 3, 2):
                    if text[i : i + k] in self.names:
                        out.append(NAME_TOKEN)
                        i += k
                        break
                else:
                    out.append(text[i])
                    i += 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


class NameBook:
    """Every party name any export has listed, kept as keyed hashes, to mask those names in the
    texts of other exports and later nights.

    A party named in last month's export and only mentioned in tonight's text is still personal
    data. The book never holds a name: only HMAC-SHA256 of it under the site secret (64 bits) and
    its first character, which is a surname and says nothing by itself. Finding names in texts
    hashes the 2-4-character runs of Chinese that start with one of those characters (each
    distinct run once) and looks the hashes up.
    """

    def __init__(self, secret: str, initials: Iterable[str] = (), keys: Iterable[int] = ()):
        self.secret = secret
        self.initials = np.asarray(list(initials), dtype=object)
        self.keys = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, np.uint64)

    @classmethod
    def of_names(cls, secret: str, names: Iterable[str]) -> NameBook:
        names = sorted({n for n in names if 2 <= len(n) <= 4})
        return cls(secret, [n[0] for n in names], [_name_key(secret, n) for n in names])

    def __len__(self) -> int:
        return len(self.keys)

    def union(self, other: NameBook) -> NameBook:
        """Return the book holding the names of both (one row per name)."""
        keys = np.concatenate([self.keys, other.keys])
        initials = np.concatenate([self.initials, other.initials])
        keys, first = np.unique(keys, return_index=True)
        return NameBook(self.secret, initials[first], keys)

    def found_in(self, texts: Iterable[str]) -> set[str]:
        """Return the names of the book that occur in the texts."""
        if not len(self.keys):
            return set()
        runs = _runs_from(set(self.initials)).findall("\n".join(t for t in texts if t))
        candidates = sorted({run[:k] for run in set(runs) for k in (2, 3, 4) if k <= len(run)})
        if not candidates:
            return set()
        keys = np.fromiter((_name_key(self.secret, c) for c in candidates), np.uint64)
        hit = np.isin(keys, self.keys)
        return {c for c, h in zip(candidates, hit, strict=True) if h}

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {"initial": pa.array(self.initials.tolist(), pa.string()), "key": pa.array(self.keys)}
        )

    @classmethod
    def from_arrow(cls, secret: str, table: pa.Table) -> NameBook:
        return cls(secret, table["initial"].to_pylist(), table["key"].to_numpy())


def _name_key(secret: str, name: str) -> int:
    return int(keyed_hash(secret, "姓名:" + name), 16)


def _runs_from(initials: set[str]) -> re.Pattern:
    """Return a pattern finding, at every position where one of the initials stands, the run of
    up to 4 Chinese characters that begins there (overlapping runs included)."""
    chars = "".join(sorted(initials))
    return re.compile(f"(?=([{re.escape(chars)}][\u3400-\u4dbf\u4e00-\u9fff]{{1,3}}))")


# Words after a surname that make a title, not a name (陈书记, 王师傅).
_TITLES = (
    "书记", "主任", "局长", "老师", "师傅", "经理", "校长", "院长", "医生", "警官", "所长",
    "县长", "市长", "镇长", "村长", "部长", "处长", "科长", "队长", "先生", "女士", "老板",
    "阿姨", "大爷", "大妈", "总", "哥", "姐", "叔", "婶", "氏", "家",
)  # fmt: skip
# Last characters of places and things that jieba also tags as names (那丹镇, 黄茅园, 麻将馆).
_PLACES = tuple("镇村县区市乡湖府街路站局庄屯湾山河桥园楼馆所院厅庭委班校树落岭塘冲沟坪场店厂寺")
# jieba's dictionary tags everyday words as names too (谢谢, 扬言, 康复, 高峰): a word of the
# dictionary this frequent is taken for the word (common names such as 张建国 are rarer).
_COMMON_WORD_FREQ = 50
# Those words, as read from jieba's dictionary by jieba_common_words() and shipped: reading them
# from the 5 MB dictionary took half a second of every night (a test keeps the two the same).
COMMON_WORDS_FILE = "resources/common_name_words.txt"


@functools.cache
def _surnames() -> frozenset[str]:
    text = resources.files("features").joinpath("resources/surnames.txt").read_text("utf-8")
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return frozenset(word for line in lines for word in line.split())


@functools.cache
def _common_words() -> frozenset[str]:
    """Return the words jieba's dictionary tags nr (person name) that are everyday words, as
    shipped in COMMON_WORDS_FILE."""
    text = resources.files("features").joinpath(COMMON_WORDS_FILE).read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def jieba_common_words() -> list[str]:
    """Return, sorted, the words of jieba's dictionary tagged nr at least _COMMON_WORD_FREQ times."""
    text = resources.files("jieba").joinpath("dict.txt").read_text("utf-8")
    # Lines are "word freq tag"; one search for the nr lines, not a split of all 350,000 lines.
    tagged = re.findall(r"^(\S+) (\d+) nr$", text, re.MULTILINE)
    return sorted(word for word, freq in tagged if int(freq) >= _COMMON_WORD_FREQ)


# A name stands next to a word that says a person is meant: a role before it (村民王秀英), a
# preposition that takes a person (与张建国), or a verb of saying or acting after it (李红称).
_BEFORE = frozenset(
    "村民 居民 业主 租户 租客 房东 房主 户主 员工 职工 工人 农民工 老人 男子 女子 妻子 丈夫 "
    "儿子 女儿 父亲 母亲 哥哥 弟弟 姐姐 妹妹 邻居 当事人 申请人 被申请人 报警人 来电人 来访人 "
    "反映人 投诉人 承包人 包工头 老板 同学 学生 患者 家属 司机 村医 网格员 群众 本人 对方 "
    "原告 被告 与 和 跟 同 对 向 被 把 让 叫 名叫 找 接待 为 及 、".split()
)
_AFTER = frozenset(
    "称 说 反映 表示 报称 诉称 要求 认为 声称 扬言 称其 告诉 回答 答复 承认 拒绝 拒不 家 一家 "
    "夫妇 母子 父子 等 等人 与 和 跟 因 向 将 把 被 在 到 来 去 打 骂 欠 持 用 拿 多次 经常 曾 "
    "一直 已 又 再次 也 还 就 不 没 没有 未 至今 因为 存在 发生 闹 投诉 报警 来访 理论 争议 意见 "
    "之间 、".split()
)


@functools.cache
def _cue_terms() -> re.Pattern:
    """Return a pattern of the risk lexicon's terms: a run holding one (施暴) is never a name."""
    from features.lexicon import load_lexicon

    return load_lexicon().term_pattern


def person_names(text: str) -> set[str]:
    """Return the person names in a text that no list gave: runs of words jieba tags as a
    person's name (nr) that are a surname and one or two more characters (or a compound surname
    and up to two), and stand next to a word that says a person is meant (a role, a
    preposition, a verb of saying or acting); never an anonymised name (李某), a surname with a
    title (陈书记), a place (那丹镇) or an everyday word."""
    surnames, common = _surnames(), _common_words()
    tagged = [*rjieba.tag(text), ("", "")]
    found, start = set(), None
    for i, (word, tag) in enumerate(tagged):
        if tag == "nr" and not (len(word) > 1 and word in common):  # 扬言 is tagged nr too
            start = i if start is None else start
            continue
        if start is not None:
            run = [w for w, _ in tagged[start:i]]
            name = "".join(run)
            before = tagged[start - 1][0] if start else ""
            if (
                (
                    (2 <= len(name) <= 3 and name[0] in surnames)
                    or (3 <= len(name) <= 4 and name[:2] in surnames)
                )
                and not name.endswith(_PLACES)
                and not _cue_terms().search(name)
                and "某" not in name
                and not name.endswith(_TITLES)
                and (before in _BEFORE or word in _AFTER)
            ):
                found.add(name)
            start = None
    return found


def mask_text(text: str, names: Sequence[str] = (), known: NameIndex | None = None) -> str:
    """Return text with party names, ID numbers and phone numbers masked (idempotent).

    The row's own parties become role tokens (当事人甲 ...); any other known party name, and
    any other person's name the text holds, becomes the name token.
    """
    text = mask_names(text, names)
    if known is not None:
        text = known.mask(text)
    found = person_names(text)
    if found:
        text = NameIndex(found).mask(text)
    return mask_contacts(text)


def keyed_hash(secret: str, value: str) -> str:
    """Return HMAC-SHA256 of value under the site secret, as 16 hex characters.

    64 bits keep collisions negligible for tens of millions of parties, and without the secret the
    hash cannot be reversed by hashing a list of phone numbers or ID numbers.
    """
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def key_numbers(keys: np.ndarray) -> np.ndarray | None:
    """Return keyed_hash keys as the 64-bit numbers their hex digits write, or None unless every
    key is 16 lowercase hex digits (then equal numbers mean equal keys).

    Hashing and comparing numbers is several times faster than strings: a night's 400,000 party
    keys took 0.1 s to factorize as strings.
    """
    # A comma after each key, rows of 17: the n commas (or more) can only all sit in the last
    # column, the one place that is not a hex digit, if every key is 16 characters.
    try:
        text = np.frombuffer((",".join(keys) + ",").encode("ascii"), np.uint8)
    except (TypeError, UnicodeEncodeError):
        return None
    if len(text) != 17 * len(keys):
        return None
    return _hex_numbers(text.reshape(len(keys), 17)[:, :16].ravel())


def flat_keys(key_lists: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Return how many keys each list holds (anything but a list, tuple or array holds none) and
    all the keys one after another: keyed hashes as the numbers key_numbers gives (0.1 s less to
    factorize on a night), other keys as they are.

    Lists of strings pass through Arrow, which lays the keys out as one buffer of UTF-8: no Python
    object is touched per key (a night's 99,329 lists took 0.12 s key by key).
    """
    arrow = _key_lists_arrow(key_lists)
    lists = None
    if arrow is None:  # something other than lists of strings and missing values: look at each
        lists = [ks if isinstance(ks, list | tuple | np.ndarray) else None for ks in key_lists]
        try:
            arrow = pa.array(lists, type=pa.large_list(pa.large_string()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # keys that are not all strings
            arrow = None
    if arrow is None:
        lengths = np.fromiter((0 if ks is None else len(ks) for ks in lists), np.int64, len(lists))
        every_key = itertools.chain.from_iterable(ks for ks in lists if ks is not None)
        keys = np.fromiter(every_key, object, int(lengths.sum()))
        numbers = key_numbers(keys)
        return lengths, keys if numbers is None else numbers
    lengths = arrow.value_lengths().fill_null(0).to_numpy().astype(np.int64)
    keys = arrow.flatten()
    offsets = np.frombuffer(keys.buffers()[1], np.int64)[keys.offset : keys.offset + len(keys) + 1]
    numbers = None
    if len(keys) and (np.diff(offsets) == 16).all():
        utf8 = np.frombuffer(keys.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
        numbers = _hex_numbers(utf8)
    return lengths, keys.to_numpy(zero_copy_only=False) if numbers is None else numbers


def _key_lists_arrow(key_lists: Iterable) -> pa.LargeListArray | None:
    """Return the key lists as Arrow lists read straight from the values, when every value is a
    list, tuple or array, or missing (None, NaN): no Python loop over the rows (0.3 s less on a
    year's 971,380 stored cases). None for anything else, which flat_keys looks at row by row:
    Arrow would read a string or a set as a sequence of keys."""
    values = key_lists.to_numpy() if isinstance(key_lists, pd.Series) else key_lists
    if not isinstance(values, np.ndarray) or values.dtype != object or values.ndim != 1:
        return None
    if not set(map(type, values)) <= {list, tuple, np.ndarray, type(None), float}:
        return None
    try:
        return pa.array(values, type=pa.large_list(pa.large_string()), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # keys that are not all strings, a number
        return None


def _hex_numbers(digits: np.ndarray) -> np.ndarray | None:
    """Return the 64-bit numbers written by the keys' 16 hex digits each (ASCII codes, one key
    after another), or None unless every one is a lowercase hex digit."""
    if not _IS_HEX_DIGIT[digits].all():
        return None
    big_endian = np.frombuffer(bytes.fromhex(digits.tobytes().decode("ascii")), ">u8")
    return big_endian.astype(np.uint64).view(np.int64)


_IS_HEX_DIGIT = np.zeros(256, bool)
_IS_HEX_DIGIT[np.frombuffer(b"0123456789abcdef", np.uint8)] = True


def party_keys(
    secret: str, names: Iterable[str], phone: str | None, id_number: str | None, place: str | None
) -> list[str]:
    """Return the keyed hashes that link this case's parties to their other cases.

    An ID number or a phone number identifies a person; a bare name only does so within a place.
    """
    keys = []
    if id_number and valid_id_number(id_number.strip()):
        keys.append(keyed_hash(secret, "id:" + id_number.strip().upper()))
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) >= 7:
        keys.append(keyed_hash(secret, "tel:" + digits[-11:]))
    keys.extend(
        keyed_hash(secret, f"name:{name}@{place or ''}") for name in names if len(name) >= 2
    )
    return list(dict.fromkeys(keys))
