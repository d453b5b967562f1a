"""Read a centre's export (CSV, .xlsx or Parquet) into raw rows, each with its row number in the file.

Every record in the file comes back: either as a row of the table or as a rejected record with the
reason, so that ingest can account for all of them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
import pandas as pd

from pipelines.ingest.mapping import known_header

# Encodings a Chinese export can come in; anything else is reported rather than guessed.
_CANDIDATES = ["utf_8", "gb18030", "big5", "utf_16"]
_MAX_FIELD = 64 * 1024 * 1024
_HEADER_SCAN_ROWS = 10
_KINDS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
}


class InputError(Exception):
    """A problem with an input file that a person must fix; the message says what and where."""


@dataclass
class RawTable:
    """The rows of one export, as strings or native cell values, before any mapping."""

    frame: pd.DataFrame  # one column per header; index = row number in the file (header row = 1)
    source: str
    encoding: str | None = None
    sheet: str | None = None
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)


def read_table(path: Path, sheet: str | None = None, encoding: str | None = None) -> RawTable:
    """Return the raw rows of a CSV, .xlsx or Parquet export."""
    path, kind = _check_file(path)
    if kind == "xlsx":
        return _read_xlsx(path, sheet)
    if kind == "parquet":
        return _read_parquet(path)
    return _read_csv(path, encoding)


def _check_file(path: Path) -> tuple[Path, str]:
    """Return the path and its kind (csv, xlsx, parquet), or an InputError saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a CSV, .xlsx or Parquet file")
    if path.stat().st_size == 0:
        raise InputError(
            f"{path}: the file is empty (0 bytes); expected a header row and case rows"
        )
    suffix = path.suffix.lower()
    if suffix not in _KINDS:
        raise InputError(f"{path}: unsupported file type {suffix!r}; use .csv, .xlsx or .parquet")
    return path, _KINDS[suffix]


def detect_encoding(data: bytes) -> str:
    """Return the encoding of CSV bytes: a BOM wins, then strict UTF-8, then charset-normalizer."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf_8_sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf_16"
    try:
        data.decode("utf_8")
        return "utf_8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[: 4 * 1024 * 1024], cp_isolation=_CANDIDATES).best()
    # GB18030 is a superset of GBK and GB2312; prefer it for any of the three.
    if best is None or best.encoding in ("gbk", "gb2312", "hz"):
        return "gb18030"
    return best.encoding


def _decode(data: bytes, encoding: str) -> tuple[str, list[int]]:
    """Return the decoded text and the line numbers (1-based) that the encoding could not decode.

    A file stitched from two systems can be UTF-8 in some lines and GB18030 in others, so lines are
    retried one by one before anything is given up.
    """
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        for enc in (encoding, "utf_8", "gb18030"):
            try:
                lines.append(raw.decode(enc))
                break
            except UnicodeDecodeError:
                continue
        else:
            lines.append(raw.decode(encoding, errors="replace"))
            bad.append(number)
    return "\n".join(lines), bad


def _read_csv(path: Path, encoding: str | None) -> RawTable:
    data = path.read_bytes()
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path}: this is not a text file (it contains NUL bytes); export the table as CSV or .xlsx"
        )
    encoding = encoding or detect_encoding(data)
    text, bad_lines = _decode(data, encoding)
    text = text.lstrip("\ufeff")
    csv.field_size_limit(_MAX_FIELD)
    dialect = _sniff_dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header, records, rejected = None, [], []
    record_lines: dict[int, range] = {}  # record number -> the physical lines it spans
    row_number, last_line = 0, 0
    try:
        for fields in reader:
            lines, last_line = range(last_line + 1, reader.line_num + 1), reader.line_num
            if not any(f.strip() for f in fields):
                continue  # blank lines are not records
            row_number += 1
            if header is None:
                header = [f.strip().lstrip("\ufeff") for f in fields]
                continue
            record_lines[row_number] = lines
            if len(fields) != len(header):
                rejected.append(
                    (
                        row_number,
                        f"该行有{len(fields)}个字段，表头有{len(header)}列（可能缺少分隔符或引号未闭合）",
                    )
                )
                continue
            records.append((row_number, fields))
    except csv.Error as error:
        rejected.append((row_number + 1, f"文件在此处截断或格式损坏，无法继续读取（{error}）"))
    if header is None:
        raise InputError(f"{path}: no header row found; the file has no non-blank lines")
    _check_header(path, header)
    bad = set(bad_lines)
    bad_rows = {r for r, lines in record_lines.items() if bad.intersection(lines)}
    rejected += [
        (r, "该行含无法识别的字符编码（非UTF-8/GB18030）") for r, _ in records if r in bad_rows
    ]
    records = [(r, f) for r, f in records if r not in bad_rows]
    frame = pd.DataFrame(
        [f for _, f in records],
        columns=_dedupe(header),
        index=[r for r, _ in records],
        dtype=object,
    )
    frame.index.name = "row"
    return RawTable(frame=frame, source=str(path), encoding=encoding, rejected=rejected)


def _sniff_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text[: 64 * 1024].split("\n", 1)[0]
    if first.count("\t") > first.count(","):
        return csv.excel_tab
    return csv.excel


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged file
        raise InputError(
            f"{path}: cannot open as an Excel workbook ({type(error).__name__}: {error})"
        ) from None
    if sheet is not None and sheet not in book.sheetnames:
        raise InputError(f"{path}: no sheet named {sheet!r}; the sheets are {book.sheetnames}")
    ws = book[sheet] if sheet is not None else book.worksheets[0]
    # A merged cell holds its value in the top-left corner only; every cell it covers means it.
    for merged in list(ws.merged_cells.ranges):
        value = ws.cell(merged.min_row, merged.min_col).value
        ws.unmerge_cells(str(merged))
        for row in ws.iter_rows(
            min_row=merged.min_row,
            max_row=merged.max_row,
            min_col=merged.min_col,
            max_col=merged.max_col,
        ):
            for cell in row:
                cell.value = value
    rows = list(ws.iter_rows(values_only=True))
    header_at = _find_header_row(rows)
    if header_at is None:
        raise InputError(
            f"{path}: sheet {ws.title!r} has no header row in its first {_HEADER_SCAN_ROWS} rows"
        )
    header = [("" if h is None else str(h)).strip() for h in rows[header_at]]
    _check_header(path, header)
    records = [
        (number, list(values))
        for number, values in enumerate(rows[header_at + 1 :], start=header_at + 2)
        if any(v is not None and str(v).strip() for v in values)
    ]
    frame = pd.DataFrame(
        [v for _, v in records],
        columns=_dedupe(header),
        index=[n for n, _ in records],
        dtype=object,
    )
    frame.index.name = "row"
    return RawTable(frame=frame, source=str(path), sheet=ws.title)


def _find_header_row(rows: list[tuple]) -> int | None:
    """Return the index of the header row: the first with a known header, else the first with two cells.

    Exports often open with a merged title row ("辽源市矛盾纠纷登记表"), which is not the header.
    """
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        cells = [str(v).strip() for v in row if v is not None and str(v).strip()]
        if len(set(cells)) >= 2 and any(known_header(c) for c in cells):
            return i
    for i, row in enumerate(rows[:_HEADER_SCAN_ROWS]):
        cells = [str(v).strip() for v in row if v is not None and str(v).strip()]
        if len(set(cells)) >= 2:
            return i
    return None


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(
            f"{path}: cannot read as Parquet ({type(error).__name__}: {error})"
        ) from None
    frame = frame.astype(object).where(frame.notna(), None)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="row")
    frame.columns = _dedupe([str(c).strip() for c in frame.columns])
    return RawTable(frame=frame, source=str(path))


def _check_header(path: Path, header: list[str]) -> None:
    if not any(header):
        raise InputError(f"{path}: the header row is empty")


def _dedupe(header: list[str]) -> list[str]:
    """Return headers made unique ("地址", "地址.2"), as a spreadsheet can repeat a title."""
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h or f"未命名列{i + 1}"
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h]}")
    return out


def read_header(path: Path, sheet: str | None = None, encoding: str | None = None) -> list[str]:
    """Return an export's header row without reading its rows: the fast pre-flight check."""
    path, kind = _check_file(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return [str(c).strip() for c in pq.read_schema(path).names]
        except Exception as error:
            raise InputError(
                f"{path}: cannot read as Parquet ({type(error).__name__}: {error})"
            ) from None
    if kind == "xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as error:
            raise InputError(
                f"{path}: cannot open as an Excel workbook ({type(error).__name__}: {error})"
            ) from None
        if sheet is not None and sheet not in book.sheetnames:
            raise InputError(f"{path}: no sheet named {sheet!r}; the sheets are {book.sheetnames}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [
            r
            for _, r in zip(range(_HEADER_SCAN_ROWS), ws.iter_rows(values_only=True), strict=False)
        ]
        at = _find_header_row(rows)
        if at is None:
            raise InputError(
                f"{path}: sheet {ws.title!r} has no header row in its first {_HEADER_SCAN_ROWS} rows"
            )
        return [("" if h is None else str(h)).strip() for h in rows[at]]
    with open(path, "rb") as handle:
        head = handle.read(256 * 1024)
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path}: this is not a text file (it contains NUL bytes); export the table as CSV or .xlsx"
        )
    text, _ = _decode(head, encoding or detect_encoding(head))
    text = text.lstrip("\ufeff")
    for fields in csv.reader(io.StringIO(text, newline=""), _sniff_dialect(text)):
        if any(f.strip() for f in fields):
            return [f.strip() for f in fields]
    raise InputError(f"{path}: no header row found in its first 256 KB")
