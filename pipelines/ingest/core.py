"""Ingest one export: read, map, parse, validate, normalise, pseudonymise; every row accounted for.

A row that cannot be scored (no id, no readable date, no description, a repeated id) goes to the
quarantine with a reason in Chinese that the person fixing the export can act on. A row that can
be scored but has a fixable problem (an unknown channel, coordinates outside China, a huge text)
is scored and carries a quality flag. rows_in == rows_ok + rows_quarantined always holds.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.completeness import seven_elements
from features.domain import (
    CHANNEL_OTHER,
    CHANNEL_SYNONYMS,
    CHANNELS,
    DISPUTE_TYPE_SYNONYMS,
    DISPUTE_TYPES,
    GRADE_SYNONYMS,
    GRADES,
    STATUSES,
    YES_NO,
    canonical,
)
from features.geo import gcj02_to_wgs84, in_china
from features.parallel import chunk_rows, map_chunks, plan
from features.pii import NameBook, NameIndex, mask_text, party_keys, split_parties
from features.places import read_addresses
from features.text import normalise_text, normalise_texts
from pipelines.ingest.dates import parse_datetimes
from pipelines.ingest.mapping import FIELDS, ColumnMapping, Taxonomy, resolve_columns
from pipelines.ingest.readers import RawTable, read_table

MAX_DESCRIPTION_CHARS = 5000
EARLIEST = pd.Timestamp("2000-01-01")
QUARANTINE_COLUMNS = ["源文件", "行号", "案件编号", "问题字段", "原因", "案情摘要"]
SUMMARY_CHARS = 60
_CHUNK_ROWS = 100000

# The canonical case frame that everything downstream reads. Personal data is gone by here.
CASE_COLUMNS = [
    "case_id",
    "reported_at",
    "description",
    "channel",
    "dispute_type",
    "domain_type",
    "district",
    "adcode",
    "street",
    "community",
    "grid_id",
    "lon",
    "lat",
    "status",
    "risk_grade",
    "escalated",
    "party_keys",
    "n_parties",
    "completeness",
    "missing_elements",
    "quality_flags",
    "source_file",
    "source_row",
]


@dataclass
class IngestResult:
    """What ingest made of one export."""

    cases: pd.DataFrame
    quarantine: pd.DataFrame
    source: str
    sha256: str
    encoding: str | None
    sheet: str | None
    rows_in: int
    labels: list[str] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)  # each export's summary, when combined
    names: NameBook | None = None  # the party names the export lists, as keyed hashes

    @property
    def rows_ok(self) -> int:
        return len(self.cases)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def summary(self) -> dict:
        """Return the counts and provenance the manifest records."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "rows_in": self.rows_in,
            "rows_ok": self.rows_ok,
            "rows_quarantined": self.rows_quarantined,
            "rows_incomplete": int((self.cases.get("completeness", pd.Series()) < 1).sum()),
            "rows_flagged": int(
                (self.cases.get("quality_flags", pd.Series()).fillna("") != "").sum()
            ),
        }

    def inputs(self) -> list[dict]:
        """Return each export's summary: the manifest accounts for every file."""
        return self.parts or [self.summary()]


def combine(results: list[IngestResult]) -> IngestResult:
    """Return several exports ingested as one intake (多口进、一口出): their cases and quarantines
    together, each case keeping its source file. A case number that an earlier export already
    used is quarantined at the later one, with both files named: the two systems must agree on
    which report it is."""
    if len(results) == 1:
        return results[0]
    seen: dict[str, str] = {}
    frames, quarantines, parts = [], [], []
    books = [r.names for r in results if r.names is not None]
    for result in results:
        cases = result.cases
        earlier = cases["case_id"].map(seen)
        repeated = earlier.notna().to_numpy()
        moved = cases[repeated]
        quarantine = pd.DataFrame(
            {
                "源文件": result.source,
                "行号": moved["source_row"].to_numpy(),
                "案件编号": moved["case_id"].to_numpy(),
                "问题字段": FIELDS["case_id"][0],
                "原因": [
                    f"案件编号{c}已出现在另一导出文件{earlier[i]}中，请核对是否同一报告"
                    for i, c in moved["case_id"].items()
                ],
                "案情摘要": moved["description"].str[:SUMMARY_CHARS].to_numpy(),
            }
        )
        kept = cases[~repeated]
        seen.update(dict.fromkeys(kept["case_id"], result.source))
        frames.append(kept)
        quarantines += [q for q in (result.quarantine, quarantine) if len(q)]
        part = result.summary()
        part.update(rows_ok=len(kept), rows_quarantined=result.rows_quarantined + len(moved))
        parts.append(part)
    combined = IngestResult(
        cases=pd.concat(frames, ignore_index=True),
        quarantine=pd.concat(quarantines, ignore_index=True)
        if quarantines
        else pd.DataFrame(columns=QUARANTINE_COLUMNS),
        source="; ".join(r.source for r in results),
        sha256=hashlib.sha256("".join(r.sha256 for r in results).encode()).hexdigest(),
        encoding=None,
        sheet=None,
        rows_in=sum(r.rows_in for r in results),
        labels=list(dict.fromkeys(label for r in results for label in r.labels)),
        parts=parts,
        names=functools.reduce(NameBook.union, books) if books else None,
    )
    assert combined.rows_in == combined.rows_ok + combined.rows_quarantined, "a row was lost"
    return combined


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    path: Path,
    mapping: ColumnMapping,
    secret: str,
    run_date: dt.date | None = None,
    n_jobs: int = 1,
) -> IngestResult:
    """Return the validated, masked cases of one export and its quarantined rows.

    Raises InputError or MappingError (with a message naming the file and what to fix) when the
    file as a whole cannot be read. Large exports are validated in `n_jobs` processes; the result
    does not depend on it.
    """
    raw = read_table(Path(path), sheet=mapping.sheet, encoding=mapping.encoding)
    columns = resolve_columns(list(raw.frame.columns), mapping, raw.source)
    assembled = _assemble(raw, columns, mapping)
    cases, quarantine, names = validate_cases(
        assembled, raw.source, secret, run_date, mapping, n_jobs
    )
    rejected = pd.DataFrame(
        {
            "源文件": raw.source,
            "行号": [r for r, _ in raw.rejected],
            "案件编号": "",
            "问题字段": "整行",
            "原因": [why for _, why in raw.rejected],
            "案情摘要": "",
        }
    )
    quarantine = (
        pd.concat([q for q in (quarantine, rejected) if len(q)], ignore_index=True)
        if len(rejected)
        else quarantine
    )
    result = IngestResult(
        cases=cases,
        quarantine=quarantine.sort_values("行号", ignore_index=True)
        if len(quarantine)
        else quarantine,
        source=raw.source,
        sha256=file_sha256(Path(path)),
        encoding=raw.encoding,
        sheet=raw.sheet,
        rows_in=len(raw.frame) + len(raw.rejected),
        labels=list(mapping.labels),
        names=NameBook.of_names(secret, names),
    )
    assert result.rows_in == result.rows_ok + result.rows_quarantined, "a row was lost in ingest"
    return result


def _assemble(raw: RawTable, columns: dict[str, list[str]], mapping: ColumnMapping) -> pd.DataFrame:
    """Return one column per canonical field (plus label columns), values as the file had them."""
    frame = raw.frame
    out = pd.DataFrame(index=frame.index)
    for name in FIELDS:
        if name in columns:
            parts = [frame[c] for c in columns[name]]
            if len(parts) == 1:
                out[name] = parts[0]
            else:  # several columns make one field, e.g. a title and a body
                out[name] = [
                    "。".join(str(v).strip() for v in row if v is not None and str(v).strip())
                    for row in zip(*parts, strict=True)
                ]
        elif name in mapping.constants:
            out[name] = mapping.constants[name]
        else:
            out[name] = None
    for label in mapping.labels:
        out[f"label:{label}"] = frame[columns[f"label:{label}"][0]]
    return out


def _text(values: pd.Series) -> pd.Series:
    """Return values as stripped strings, None for empty cells."""

    def clean(v: object) -> str | None:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # an id read as 12345.0 from Excel
        s = str(v).strip()
        return s or None

    return pd.Series([clean(v) for v in values], index=values.index, dtype=object)


@functools.lru_cache(maxsize=1 << 16)  # categorical cells repeat: a few hundred values a day
def _norm(value: str | None) -> str | None:
    """Return a categorical cell in the canonical text form (Simplified, half-width), None if empty."""
    return normalise_text(value) if value is not None else None


def _row_schema(run_date: dt.date | None) -> pa.DataFrameSchema:
    """Return the row-level contract; a row failing any check goes to the quarantine."""
    latest = pd.Timestamp(run_date or dt.date.today()) + pd.Timedelta(days=1)
    return pa.DataFrameSchema(
        {
            "case_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
            "reported_at": pa.Column(
                "datetime64[ns]",
                [pa.Check.ge(EARLIEST), pa.Check.lt(latest)],
                nullable=False,
            ),
            "description": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        },
        coerce=False,
    )


def validate_cases(
    assembled: pd.DataFrame,
    source: str,
    secret: str,
    run_date: dt.date | None,
    mapping: ColumnMapping | None = None,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Return (cases, quarantine, the party names listed) from assembled rows: parsed, checked,
    normalised and masked.

    What needs the whole export is done first: repeated case ids, and the party names any row's
    text may mention. The rows are then checked and masked in chunks, in `n_jobs` processes when
    there are many; chunks keep their row numbers and order, so the result does not depend on it.
    """
    raw_ids = _text(assembled["case_id"])
    repeats: dict[int, list[tuple[str, str]]] = {}
    _flag_repeats(assembled, raw_ids, repeats)
    names = pd.Series(
        [split_parties(normalise_text(p)) if p else [] for p in _text(assembled["parties"])],
        index=assembled.index,
        dtype=object,
    )
    known = NameIndex(n for ns in names for n in ns)
    args = (repeats, source, secret, run_date, mapping or ColumnMapping(), known)
    jobs = plan(len(assembled), n_jobs).jobs
    if jobs == 1:
        parts = [_validate_part(assembled, raw_ids, names, *args)]
    else:
        size = chunk_rows(len(assembled), jobs, _CHUNK_ROWS)
        parts = map_chunks(_validate_part, size, jobs, assembled, raw_ids, names, fixed=args)
    cases = pd.concat([c for c, _ in parts], ignore_index=True)
    quarantined = [q for _, q in parts if len(q)]
    quarantine = (
        pd.concat(quarantined, ignore_index=True)
        if quarantined
        else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    return cases, quarantine, known.names


def mask_names_elsewhere(result: IngestResult, book: NameBook) -> IngestResult:
    """Return the intake with the names of the book masked in its texts: party names that
    another export of the night, or an earlier night, listed (each export masks its own)."""
    texts = [*result.cases["description"], *result.quarantine["案情摘要"].fillna("")]
    found = NameIndex(book.found_in(texts))
    if not found.names:
        return result
    cases = result.cases.assign(description=[found.mask(t) for t in result.cases["description"]])
    quarantine = result.quarantine.assign(
        案情摘要=[found.mask(t) if isinstance(t, str) else t for t in result.quarantine["案情摘要"]]
    )
    return replace(result, cases=cases, quarantine=quarantine)


def _validate_part(
    assembled: pd.DataFrame,
    raw_ids: pd.Series,
    names: pd.Series,
    repeats: dict[int, list[tuple[str, str]]],
    source: str,
    secret: str,
    run_date: dt.date | None,
    mapping: ColumnMapping,
    known: NameIndex,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (cases, quarantine) for a run of rows (row numbers kept in the index)."""
    raw_dates = assembled["reported_at"]
    reported_at = parse_datetimes(raw_dates.where(raw_dates.notna(), None))
    raw_texts = list(_text(assembled["description"]))
    descriptions = [
        t if raw is not None else None
        for raw, t in zip(raw_texts, normalise_texts(raw_texts), strict=True)
    ]
    parsed = pd.DataFrame(
        {
            "case_id": raw_ids,
            "reported_at": reported_at,
            "description": pd.Series(descriptions, index=assembled.index, dtype=object).replace(
                "", None
            ),
        }
    )
    reasons: dict[int, list[tuple[str, str]]] = {}
    try:
        _row_schema(run_date).validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        for row, column, check in errors.failure_cases[["index", "column", "check"]].itertuples(
            index=False
        ):
            if row is None or (isinstance(row, float) and np.isnan(row)):
                continue
            reasons.setdefault(int(row), []).append(
                (column, _reason(column, str(check), raw_dates.get(row), run_date))
            )
    for row in assembled.index[assembled.index.isin(list(repeats))]:
        reasons.setdefault(int(row), []).extend(repeats[int(row)])

    bad = assembled.index.isin(list(reasons))
    quarantine = _quarantine_rows(assembled[bad], parsed[bad], names[bad], reasons, source, known)
    good = assembled[~bad]
    cases = _canonical_cases(good, parsed[~bad], names[~bad].tolist(), secret, mapping, known)
    cases["source_file"] = source
    return cases, quarantine


def _reason(column: str, check: str, raw_value: object, run_date: dt.date | None) -> str:
    shown = (
        ""
        if raw_value is None or (isinstance(raw_value, float) and np.isnan(raw_value))
        else str(raw_value).strip()
    )
    if column == "case_id":
        return "案件编号为空"
    if column == "description":
        return "案情描述为空，无法研判"
    if column == "reported_at":
        # pandera names failed checks after the check: greater_than_or_equal_to(...), less_than(...).
        if check.startswith("greater_than_or_equal_to"):
            return f"受理时间“{shown}”早于2000年，疑似录入错误"
        if check.startswith("less_than"):
            return f"受理时间“{shown}”晚于运行日期{run_date or dt.date.today()}，请核对"
        if not shown:
            return "受理时间为空"
        return f"受理时间“{shown[:40]}”无法识别（可用格式如 2024-03-05 14:20、2024/3/5 14:20、2024年3月5日14时20分）"
    return f"{column}: {check}"


def _flag_repeats(
    assembled: pd.DataFrame, ids: pd.Series, reasons: dict[int, list[tuple[str, str]]]
) -> None:
    """Quarantine later rows that repeat an earlier row's case id; the first one is kept."""
    present = ids.notna()
    repeated = ids[present & ids.duplicated(keep="first")]
    if repeated.empty:
        return
    first_row = ids[present].drop_duplicates(keep="first")
    first_row = pd.Series(first_row.index, index=first_row.to_numpy())
    comparable = assembled.drop(
        columns=[c for c in assembled.columns if c.startswith("label:")]
    ).astype("string")
    for row, case_id in repeated.items():
        original = first_row[case_id]
        same = comparable.loc[row].equals(comparable.loc[original])
        why = (
            f"与第{original}行完全相同（重复导出），已保留第{original}行"
            if same
            else f"案件编号{case_id}与第{original}行重复，但内容不同，请核对后重新编号"
        )
        reasons.setdefault(int(row), []).append(("case_id", why))


def _quarantine_rows(
    rows: pd.DataFrame,
    parsed: pd.DataFrame,
    names: pd.Series,
    reasons: dict,
    source: str,
    known: NameIndex,
) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    summaries = [
        mask_text(parsed.at[row, "description"] or "", names[row], known)[:SUMMARY_CHARS]
        for row in rows.index
    ]
    return pd.DataFrame(
        {
            "源文件": source,
            "行号": rows.index.astype(int),
            "案件编号": [parsed.at[r, "case_id"] or "" for r in rows.index],
            "问题字段": [
                "、".join(dict.fromkeys(FIELDS.get(c, (c,))[0] for c, _ in reasons[r]))
                for r in rows.index
            ],
            "原因": ["；".join(dict.fromkeys(why for _, why in reasons[r])) for r in rows.index],
            "案情摘要": summaries,
        }
    )


def dispute_types(
    written: pd.Series, taxonomy: Taxonomy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (dispute type, fengqiao's domain type, outside the taxonomy) per cell.

    With fengqiao's default types, their usual synonyms are unified (婚姻家庭纠纷 -> 婚恋家庭).
    With a centre's own list, a value is kept as written, in Simplified half-width form. Either
    way a value outside the list is kept and flagged, never collapsed into 其他. The domain type,
    which fengqiao's rules read, is the taxonomy's mapping of the value, or the fengqiao type it
    names; None when it names none.
    """
    values = [_norm(v) for v in written]
    named = [canonical(v, DISPUTE_TYPE_SYNONYMS, DISPUTE_TYPES) for v in values]
    if taxonomy.types:
        own = set(taxonomy.types)
        types = values
        outside = [v is not None and v not in own for v in values]
    else:
        types = [n if n is not None else v for v, n in zip(values, named, strict=True)]
        outside = [v is not None and n is None for v, n in zip(values, named, strict=True)]
    domain = [
        taxonomy.domain.get(v, n) if v is not None else None
        for v, n in zip(values, named, strict=True)
    ]
    return (
        np.array(types, dtype=object),
        np.array(domain, dtype=object),
        np.array(outside, dtype=bool),
    )


def _canonical_cases(
    rows: pd.DataFrame,
    parsed: pd.DataFrame,
    names: list[list[str]],
    secret: str,
    mapping: ColumnMapping,
    known: NameIndex,
) -> pd.DataFrame:
    """Return the canonical, masked case frame for rows that passed validation."""
    flags = _Flags(len(rows))
    text = _descriptions(parsed, flags)
    coded = _coded_values(rows, mapping, flags)
    lon, lat = _coordinates(rows, mapping, flags)
    place = _places(rows)
    phones, ids = _text(rows["party_phone"]), _text(rows["party_id_number"])
    keys = [
        party_keys(secret, ns, ph, idn, pl)
        for ns, ph, idn, pl in zip(names, phones, ids, place.pop("scope"), strict=True)
    ]
    address = place.pop("address")
    cases = pd.DataFrame(
        {
            "case_id": parsed["case_id"].to_numpy(dtype=object),
            "reported_at": parsed["reported_at"].to_numpy(),
            "description": [mask_text(t, ns, known) for t, ns in zip(text, names, strict=True)],
            **{k: coded[k] for k in ("channel", "dispute_type", "domain_type")},
            **place,
            "lon": lon,
            "lat": lat,
            **{k: coded[k] for k in ("status", "risk_grade", "escalated")},
            "party_keys": keys,
            "n_parties": [len(ns) for ns in names],
        },
        index=rows.index,
    )
    seven = seven_elements(
        cases.assign(address=address.to_numpy(dtype=object)), mapping.completeness_when
    )
    cases["completeness"] = seven["completeness"].to_numpy()
    cases["missing_elements"] = seven["missing_elements"].to_numpy()
    cases["quality_flags"] = flags.joined()
    cases["source_row"] = rows.index.astype(int)
    for label in [c for c in rows.columns if c.startswith("label:")]:
        cases[label] = _text(rows[label]).to_numpy(dtype=object)
    return cases.reset_index(drop=True)


class _Flags:
    """Each row's data-quality notes, in the order they were found."""

    def __init__(self, n: int):
        self.rows: list[list[str]] = [[] for _ in range(n)]

    def note(self, mask: np.ndarray, message) -> None:
        for i in np.flatnonzero(mask):
            self.rows[i].append(message(i) if callable(message) else message)

    def joined(self) -> list[str]:
        return ["；".join(f) for f in self.rows]


def _descriptions(parsed: pd.DataFrame, flags: _Flags) -> np.ndarray:
    """Return the descriptions, cut at MAX_DESCRIPTION_CHARS (and flagged where cut)."""
    text = parsed["description"].to_numpy(dtype=object)
    long_text = np.array([len(t) > MAX_DESCRIPTION_CHARS for t in text], dtype=bool)
    flags.note(
        long_text,
        lambda i: f"案情描述过长（{len(text[i])}字），已截断至前{MAX_DESCRIPTION_CHARS}字",
    )
    return np.array([t[:MAX_DESCRIPTION_CHARS] for t in text], dtype=object)


def _coded_values(rows: pd.DataFrame, mapping: ColumnMapping, flags: _Flags) -> dict:
    """Return the coded columns in their canonical vocabularies; unknown values are flagged."""
    channel_raw = _text(rows["channel"])
    channel = np.array(
        [canonical(_norm(v), CHANNEL_SYNONYMS, CHANNELS) for v in channel_raw], dtype=object
    )
    unknown = channel_raw.notna().to_numpy() & pd.isna(channel)
    flags.note(unknown, lambda i: f"来源渠道“{channel_raw.iloc[i]}”未识别，记为{CHANNEL_OTHER}")
    dispute_type, domain_type, outside = dispute_types(
        _text(rows["dispute_type"]), mapping.taxonomy
    )
    flags.note(outside, lambda i: f"纠纷类型“{dispute_type[i]}”不在分类表中，按原值保留")
    grade_raw = _text(rows["risk_grade"])
    grade = np.array([canonical(_norm(v), GRADE_SYNONYMS, GRADES) for v in grade_raw], dtype=object)
    flags.note(
        grade_raw.notna().to_numpy() & pd.isna(grade),
        lambda i: (
            f"风险等级“{grade_raw.iloc[i]}”未识别（应为{'/'.join(reversed(GRADES))}），按未定级处理"
        ),
    )
    status_raw = _text(rows["status"])
    return {
        "channel": np.where(unknown, CHANNEL_OTHER, channel),
        "dispute_type": dispute_type,
        "domain_type": domain_type,
        "status": np.array(
            [_norm(v) if _norm(v) in STATUSES else None for v in status_raw], dtype=object
        ),
        "risk_grade": grade,
        "escalated": np.array(
            [
                YES_NO.get(str(v).strip().upper()) if v is not None else None
                for v in _text(rows["escalated"])
            ],
            dtype=object,
        ),
    }


def _coordinates(
    rows: pd.DataFrame, mapping: ColumnMapping, flags: _Flags
) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS-84 longitude and latitude; a half-given or out-of-China pair is dropped."""
    lon = pd.to_numeric(_text(rows["lon"]), errors="coerce").to_numpy(float)
    lat = pd.to_numeric(_text(rows["lat"]), errors="coerce").to_numpy(float)
    given = np.isfinite(lon) | np.isfinite(lat)
    outside = given & ~in_china(lon, lat)
    flags.note(outside, "经纬度缺失一项或超出中国范围，已忽略")
    lon, lat = np.where(outside, np.nan, lon), np.where(outside, np.nan, lat)
    if mapping.coordinates == "gcj02":
        lon, lat = gcj02_to_wgs84(lon, lat)
    return lon, lat


def _places(rows: pd.DataFrame) -> dict:
    """Return the place columns, the free-text address (for the 七何 check only) and each row's
    scope for bare party names."""
    district = _text(rows["district"])
    address = _text(rows["address"])
    # A free-text address names the county (区县) where the export gives none; the address
    # itself (house numbers) is not kept.
    read = read_addresses(address.where(district.isna() & address.notna(), None))
    from_address = district.isna().to_numpy() & read["district"].notna().to_numpy()
    district = district.where(~from_address, read["district"].to_numpy())
    street, community = _text(rows["street"]), _text(rows["community"])
    return {
        "district": district.to_numpy(dtype=object),
        "adcode": read["adcode"].where(from_address, None).to_numpy(dtype=object),
        "street": street.to_numpy(dtype=object),
        "community": community.to_numpy(dtype=object),
        "grid_id": _text(rows["grid_id"]).to_numpy(dtype=object),
        "address": address,
        # A bare name identifies a person only locally: scope it to the finest place given.
        "scope": district.fillna("") + "|" + street.fillna("") + "|" + community.fillna(""),
    }
