"""同案合并: merge re-reports of one dispute that arrive on several channels and days.

The merge is online and point-in-time, as a centre's intake is: cases are taken in the order they
were reported, and each joins the group of its best-matching earlier case (same community, within
the window) if the match is good enough, else starts a group. A later report never changes an
earlier case's group, so the group features (how many reports, how many channels so far) never
use the future, and a nightly run can merge today's cases against stored history whose groups are
fixed.

A match combines the text (character bigrams of the case text with intake boilerplate removed),
the parties (keyed hashes: overlap of the smaller set), the grid cell, the dispute type, and how
close in time the two reports are.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from sklearn.preprocessing import normalize

from features.parallel import plan
from features.pii import flat_keys

# Phrases every intake record of a kind carries; they say nothing about which dispute it is.
_BOILERPLATE = re.compile(
    r"来电人反映|来电人|报警人称|报警人|来访人|到中心反映|信访人|信访诉求|诉前委派调解|原告请求|调解结果|"
    r"我要报事|居民反映|希望尽快处理|联系电话|民警到场后?|该警情属非警务纠纷|推送综治中心|回访情况|办理情况|"
    r"当事人诉求|诉求|要求|反映|当事人[甲乙丙丁戊己庚辛壬癸]|\[电话\]|\[身份证号\]|\[号码\]|\[姓名\]|身份证号"
)
# Punctuation and whitespace end a run of text as a removed phrase does: no bigram spans them.
_SEPARATORS = "，。：；！？、（）“”【】,.;:!?()[]"
# What the merge reads of each case (and, of stored history, its group_id as well).
_MERGE_INPUTS = (
    "case_id",
    "reported_at",
    "description",
    "channel",
    "dispute_type",
    "community",
    "district",
    "street",
    "grid_id",
    "party_keys",
)
# What the merge reads of stored history.
HISTORY_INPUTS = (*_MERGE_INPUTS, "group_id")
_CHUNK = 128
_CHUNK_PAIRS = _CHUNK * 1024
_BIGRAM_BITS = 20
_BIGRAM_PAGE = 8192


@dataclass(frozen=True)
class MergeParams:
    """How reports are matched; the defaults were tuned on one demo seed and checked on another."""

    window_days: float = 10.0
    text_weight: float = 0.4
    party_weight: float = 0.5
    type_weight: float = 0.15
    grid_weight: float = 0.2
    decay_days: float = 3.0
    threshold: float = 0.65


def merge_text(texts: pd.Series) -> list[str]:
    """Return case texts with intake boilerplate and masked tokens replaced by a space, for
    matching (char_bigrams then treats punctuation as it treats the space). A missing text (a
    stored case older than the window, read without it) is empty."""
    # a list first: iterating an Arrow-backed column makes a Python string at a time, 3x slower
    return [_BOILERPLATE.sub(" ", t) if isinstance(t, str) else "" for t in texts.tolist()]


def merge_cases(
    cases: pd.DataFrame,
    history: pd.DataFrame | None = None,
    params: MergeParams | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Return, per case in `cases`, its merged group as of its report time.

    Columns: group_id (the case_id of the group's first report), group_size and group_channels
    (reports and distinct channels in the group so far, this one included), match_score.
    `history`, when given, holds earlier cases whose group_id is already fixed; `cases` may match
    them. Both frames need case_id, reported_at, description, channel, dispute_type, community,
    district, street, grid_id and party_keys. Large inputs are matched in `n_jobs` processes,
    each taking whole blocks (communities), which never match across one another.
    """
    params = params or MergeParams()
    missing = [c for c in _MERGE_INPUTS if c not in cases]
    if missing:
        raise ValueError(f"cases lack column(s) {missing}, which the merge reads")
    frames = [cases[list(_MERGE_INPUTS)].assign(_new=True)]
    if history is not None and len(history):
        if "group_id" not in history:
            raise ValueError("history cases need their group_id from an earlier merge")
        reachable = reachable_history(history, cases, params)
        frames.insert(0, reachable[list(HISTORY_INPUTS)].assign(_new=False))
    both = pd.concat(frames, ignore_index=True)
    block = _block_keys(both)
    t = both["reported_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    order = np.lexsort((both["case_id"].astype(str).to_numpy(), t, block))
    both = both.iloc[order].reset_index(drop=True)
    block, t = block[order], t[order]

    is_new = both["_new"].to_numpy()
    columns = both[["description", "party_keys", "dispute_type", "grid_id"]]
    parts = _block_partitions(block, plan(len(both), n_jobs).jobs)
    if len(parts) == 1:
        best, score = _match_rows(columns, block, t, is_new, params)
    else:
        from joblib import Parallel, delayed

        found = Parallel(n_jobs=len(parts), backend="loky")(
            delayed(_match_rows)(columns.iloc[rows], block[rows], t[rows], is_new[rows], params)
            for rows in parts
        )
        best, score = np.full(len(both), -1), np.zeros(len(both))
        for rows, (part_best, part_score) in zip(parts, found, strict=True):
            best[rows] = np.where(part_best >= 0, rows[np.maximum(part_best, 0)], -1)
            score[rows] = part_score

    group_id = (
        both["group_id"].to_numpy(dtype=object)
        if "group_id" in both
        else np.full(len(both), None, dtype=object)
    )
    case_ids = both["case_id"].astype(str).to_numpy(dtype=object)
    for i in range(len(both)):
        if not is_new[i]:
            continue
        j = best[i]
        if j >= 0 and score[i] >= params.threshold:
            group_id[i] = group_id[j]
        else:
            group_id[i] = case_ids[i]
    both["group_id"] = group_id
    both["match_score"] = np.where(best >= 0, score, 0.0)
    counts = _running_group_counts(both)
    out = both[is_new].assign(**{k: v[is_new] for k, v in counts.items()})
    out = out.set_index("case_id").loc[cases["case_id"].astype(str)]
    return out[["group_id", "group_size", "group_channels", "match_score"]].reset_index()


def earliest_reachable(cases: pd.DataFrame, params: MergeParams) -> pd.Timestamp:
    """Return the earliest report time a merge of `cases` compares against: a case matches only
    reports within the window before it."""
    return cases["reported_at"].min() - pd.Timedelta(days=params.window_days)


def reachable_history(
    history: pd.DataFrame, cases: pd.DataFrame, params: MergeParams
) -> pd.DataFrame:
    """Return the stored cases a merge of `cases` can reach, out of a possibly long history.

    A case can only match a report within the window before it, so only history from the window
    before the earliest case is a candidate; the earlier reports of those candidates' groups are
    kept too, because they count in the group sizes and channels.
    """
    candidate = (history["reported_at"] >= earliest_reachable(cases, params)).to_numpy()
    # In Arrow: pandas' isin took seconds on a province's five million group ids.
    ids = pa.array(history["group_id"].array, from_pandas=True)
    groups = pc.unique(ids.filter(pa.array(candidate)))
    reached = pc.is_in(ids, value_set=groups).to_numpy(zero_copy_only=False)
    # Only the columns the merge reads are copied: a province's history holds many more.
    return history.loc[candidate | reached, [c for c in HISTORY_INPUTS if c in history]]


def _block_partitions(block: np.ndarray, n_parts: int) -> list[np.ndarray]:
    """Split the (sorted) rows into up to n_parts runs of whole blocks with similar pair counts."""
    n = len(block)
    if n_parts <= 1 or n == 0:
        return [np.arange(n)]
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    cost = np.cumsum(np.diff(np.r_[starts, n]).astype(float) ** 2)
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, n_parts) / n_parts)
    bounds = np.unique(np.r_[0, starts[np.minimum(cuts + 1, len(starts) - 1)], n])
    return [np.arange(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _match_rows(columns: pd.DataFrame, block, t, wanted, params: MergeParams):
    """Return best earlier match (row positions within `columns`) and score for the wanted rows."""
    text = _Bigrams(columns["description"])
    parties = _party_matrix(columns["party_keys"])
    return _best_earlier_match(columns, block, t, wanted, text, parties, params)


class _Bigrams:
    """The rows' text vectors (char_bigrams of merge_text), made _BIGRAM_PAGE rows at a time
    when a chunk first reaches them.

    The chunks move forward through the rows, so a page below the current chunk is dropped: a
    province's night holds a page or two instead of the vectors of all 300,000 rows it reads
    (with their copies, most of the merge's 900 MB).
    """

    def __init__(self, descriptions: pd.Series):
        self._descriptions = descriptions
        self._pages: dict[int, sparse.csr_matrix] = {}

    def rows(self, start: int, stop: int) -> sparse.csr_matrix:
        """Return the vectors of rows start to stop - 1, with only the columns they use."""
        first, last = start // _BIGRAM_PAGE, (stop - 1) // _BIGRAM_PAGE
        for page in [p for p in self._pages if p < first]:
            del self._pages[page]
        parts = []
        for page in range(first, last + 1):
            at = page * _BIGRAM_PAGE
            if page not in self._pages:
                texts = self._descriptions.iloc[at : at + _BIGRAM_PAGE]
                self._pages[page] = char_bigrams(merge_text(texts))
            parts.append(self._pages[page][max(start - at, 0) : stop - at])
        return _used_columns(parts[0] if len(parts) == 1 else sparse.vstack(parts, format="csr"))


def char_bigrams(texts: list[str]) -> sparse.csr_matrix:
    """Return the l2-normalised counts of each text's character bigrams, none spanning
    whitespace or punctuation (_SEPARATORS).

    The texts are encoded as one code-point array; each bigram's two code points are hashed into
    2**_BIGRAM_BITS columns.
    """
    # U+0000 ends each text; it cannot occur inside one (ingest removes control characters).
    joined = "".join(t.replace("\0", "") + "\0" for t in texts)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.r_[0, np.cumsum(points[:-1] == 0)]
    blank = _blank_table()[np.minimum(points, 0xFFFF)]
    valid = ~blank[:-1] & ~blank[1:]
    keys = (points[:-1][valid] << np.uint64(21)) | points[1:][valid]
    columns = (keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _BIGRAM_BITS)
    counts = sparse.csr_matrix(
        (np.ones(len(keys), np.float64), (doc[:-1][valid], columns.astype(np.int64))),
        shape=(len(texts), 2**_BIGRAM_BITS),
    )
    counts.sum_duplicates()
    return normalize(counts)


@functools.cache
def _blank_table() -> np.ndarray:
    """Return, per BMP code point, whether no bigram spans it: NUL (between texts), whitespace
    and the separators. No code point above the BMP is either (a mask, 4x faster than the regex
    substitution that took them out of the text before)."""
    blank = np.array([chr(c).isspace() for c in range(0x10000)])
    blank[[0, *map(ord, _SEPARATORS)]] = True
    return blank


def _used_columns(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Return the matrix without its empty columns (the others keep their order, so that every
    product sums in the same order and gives the same bits).

    A product with the transpose costs time in the number of columns; hashed bigrams leave most
    of their 2**_BIGRAM_BITS columns empty.
    """
    used, position = np.unique(matrix.indices, return_inverse=True)
    return sparse.csr_matrix(
        (matrix.data, position.astype(np.int32), matrix.indptr),
        shape=(matrix.shape[0], max(len(used), 1)),
    )


def _block_keys(frame: pd.DataFrame) -> np.ndarray:
    # Reports of one dispute come from one community; without a community, the street or district.
    parts = [frame[c].astype("string").fillna("") for c in ("district", "street", "community")]
    key = parts[0] + "|" + parts[1] + "|" + parts[2]
    return key.to_numpy(dtype=object)


def _party_matrix(keys: pd.Series) -> sparse.csr_matrix:
    """Return a row per case, a column per distinct party key, counting the case's keys."""
    lengths, flat = flat_keys(keys)
    columns, distinct = pd.factorize(flat)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(lengths), max(len(distinct), 1))
    )


def _best_earlier_match(frame, block, t, wanted, text, parties, params: MergeParams):
    """Return, per wanted row, the best-scoring earlier row in its block and window, and its score.

    Rows are sorted by block, then time. Wanted rows are scored up to _CHUNK at a time against the
    run of rows from the earliest one any of them can reach up to the last of them, at most
    _CHUNK_PAIRS pairs; a chunk may span small blocks. Few large text and party products instead
    of one per block (most communities see a handful of reports a day); of those, only each row's
    eligible pairs (the rows from its reach up to itself) are scored.
    Rows not wanted (stored history, whose groups are fixed) and rows without a match get -1.
    """
    n = len(frame)
    best = np.full(n, -1)
    score = np.zeros(n)
    n_keys = np.asarray(parties.sum(axis=1)).ravel()
    dtype, grid = _codes(frame["dispute_type"]), _codes(frame["grid_id"])
    window = int(params.window_days * 86400)
    block_no = np.cumsum(np.r_[False, block[1:] != block[:-1]])
    reach = _first_in_window(block_no, t, window)
    queries = np.flatnonzero(wanted)
    at = 0
    while at < len(queries):
        # reach never decreases along the rows, so the chunk's first row reaches furthest back
        first_candidate = reach[queries[at]]
        spans = queries[at : at + _CHUNK] + 1 - first_candidate
        taken = max(int((np.arange(1, len(spans) + 1) * spans <= _CHUNK_PAIRS).sum()), 1)
        rows, at = queries[at : at + taken], at + taken
        # A row's eligible candidates are the rows from its reach up to itself: its block, within
        # the window, earlier. Only those pairs are scored, in candidate order.
        n_pairs = rows - reach[rows]
        scored = rows[n_pairs > 0]
        if len(scored) == 0:
            continue
        cand = slice(first_candidate, rows[-1] + 1)
        vectors = text.rows(cand.start, cand.stop)
        similarity = (vectors[rows - first_candidate] @ vectors.T).toarray()
        shared = (parties[rows] @ parties[cand].T).toarray()
        pair_row = np.repeat(np.arange(len(rows)), n_pairs)
        r = rows[pair_row]
        c = reach[r] + np.arange(len(pair_row)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
        overlap = shared[pair_row, c - first_candidate] / np.maximum(
            np.minimum(n_keys[r], n_keys[c]), 1
        )
        gap = t[r] - t[c]
        same_type = (dtype[r] == dtype[c]) & (dtype[r] >= 0)
        same_grid = (grid[r] == grid[c]) & (grid[r] >= 0)
        decay = np.exp(-np.maximum(gap, 0) / (params.decay_days * 86400))
        s = (
            params.text_weight * similarity[pair_row, c - first_candidate]
            + params.party_weight * overlap
            + params.type_weight * same_type
            + params.grid_weight * same_grid
        ) * (0.7 + 0.3 * decay)
        starts = np.flatnonzero(np.r_[True, pair_row[1:] != pair_row[:-1]])
        top = np.maximum.reduceat(s, starts)
        # the first candidate that reaches its row's top, as argmax takes
        first = np.flatnonzero(s == np.repeat(top, np.diff(np.r_[starts, len(s)])))
        first = first[np.r_[True, pair_row[first[1:]] != pair_row[first[:-1]]]]
        best[scored] = c[first]
        score[scored] = np.maximum(top, 0.0)
    return best, score


def _codes(values: pd.Series) -> np.ndarray:
    """Return an integer code per value, -1 where it is missing or empty: such values match none.
    The chunks compare codes, not strings (an object comparison per pair was most of their time)."""
    text = values.astype("string")
    return pd.factorize(text.mask(text == ""))[0]


def _first_in_window(block_no: np.ndarray, t: np.ndarray, window: int) -> np.ndarray:
    """Return, per row (sorted by block, then time), the first row of its block within the window."""
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    span = int(t.max() - t.min()) + window + 1
    key = block_no.astype(np.int64) * span + (t - t.min() + window)
    return np.searchsorted(key, key - window, side="left")


def _running_group_counts(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return reports and distinct channels per group up to each row (rows are in time order)."""
    by_time = np.argsort(frame["reported_at"].to_numpy(), kind="stable")
    ordered = frame.iloc[by_time]
    size = ordered.groupby("group_id").cumcount().to_numpy() + 1
    first_channel = ~ordered.duplicated(["group_id", "channel"]).to_numpy()
    channels = (
        pd.Series(first_channel.astype(int))
        .groupby(ordered["group_id"].to_numpy())
        .cumsum()
        .to_numpy()
    )
    out_size, out_channels = np.empty(len(frame), int), np.empty(len(frame), int)
    out_size[by_time], out_channels[by_time] = size, channels
    return {"group_size": out_size, "group_channels": out_channels}


def pair_precision_recall(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Return precision and recall of same-group pairs: predicted groups against true groups."""

    def pairs(labels: pd.Series) -> int:
        sizes = labels.value_counts().to_numpy()
        return int((sizes * (sizes - 1) // 2).sum())

    predicted, truth = pd.Series(np.asarray(predicted)), pd.Series(np.asarray(truth))
    both = pairs(predicted.astype(str) + "\x00" + truth.astype(str))
    return both / max(pairs(predicted), 1), both / max(pairs(truth), 1)
