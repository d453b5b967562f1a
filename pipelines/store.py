"""The history store: every case fengqiao has seen, masked, as Parquet partitioned by month.

Layout: STORE/cases/month=YYYY-MM/<batch>.parquet. A nightly run reads only the months its history
windows need and appends its own day as one batch file per month; re-running the same day rewrites
the same files, so the store never double counts. When batches hold the same case (an import, then
the night that re-scored it), the one written last wins, whatever the batches are called: every
row records when it was written. No personal data is stored: descriptions are masked and parties
are keyed hashes. A name can become known after its case was stored (a party first listed by a
later export, mentioned earlier only in a text); a store opened with the site secret masks the
names its book knows in every description it reads, which is how reports, retraining and notebooks
open it.
"""

from __future__ import annotations

import functools
import operator
import os
import uuid
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.pii import NameBook, NameIndex

STORED_COLUMNS = [
    "case_id",
    "reported_at",
    "description",
    "channel",
    "dispute_type",
    "district",
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
    "group_id",
    "history_grade",
    "predicted_grade",
    "score",
    "batch",
    "written_at",
]
_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("reported_at", pa.timestamp("ns")),
        ("description", pa.string()),
        ("channel", pa.string()),
        ("dispute_type", pa.string()),
        ("district", pa.string()),
        ("street", pa.string()),
        ("community", pa.string()),
        ("grid_id", pa.string()),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("status", pa.string()),
        ("risk_grade", pa.string()),
        ("escalated", pa.bool_()),
        ("party_keys", pa.list_(pa.string())),
        ("n_parties", pa.int64()),
        ("completeness", pa.float64()),
        ("group_id", pa.string()),
        ("history_grade", pa.string()),
        ("predicted_grade", pa.string()),
        ("score", pa.float64()),
        ("batch", pa.string()),
        ("written_at", pa.timestamp("ns")),
    ]
)


class HistoryStore:
    """Read and append the month-partitioned case history."""

    def __init__(self, root: Path, secret: str | None = None):
        """secret: the site secret; with it, reads mask the names the store's book knows."""
        self.root = Path(root) / "cases"
        self.names_path = Path(root) / "names.parquet"
        self.secret = secret

    def name_book(self, secret: str) -> NameBook:
        """Return the keyed hashes of every party name stored exports listed."""
        if not self.names_path.exists():
            return NameBook(secret)
        return NameBook.from_arrow(secret, pq.read_table(self.names_path))

    def keep_names(self, book: NameBook) -> None:
        """Write the book (keyed hashes and surnames, never a name) in place of the stored one."""
        self.names_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.names_path.with_name(f".names.{uuid.uuid4().hex}.tmp")
        pq.write_table(book.to_arrow(), temporary)
        os.replace(temporary, self.names_path)

    def append(self, cases: pd.DataFrame, batch: str) -> int:
        """Write cases as batch `batch` (replacing an earlier write of the same batch); return rows written."""
        frame = cases.copy()
        for column in STORED_COLUMNS:
            if column not in frame:
                frame[column] = None
        frame["batch"] = batch
        frame["written_at"] = pd.Timestamp.now()
        # What later history features count as a case's grade: the staff's if given, else fengqiao's.
        frame["history_grade"] = frame["risk_grade"].where(
            frame["risk_grade"].notna(), frame["predicted_grade"]
        )
        frame["party_keys"] = [list(k) if k is not None else [] for k in frame["party_keys"]]
        frame["escalated"] = frame["escalated"].astype("boolean")
        months = pd.to_datetime(frame["reported_at"]).dt.strftime("%Y-%m")
        for month, part in frame.groupby(months.to_numpy(), sort=True):
            folder = self.root / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pandas(
                part[STORED_COLUMNS].sort_values(["reported_at", "case_id"]),
                schema=_SCHEMA,
                preserve_index=False,
            )
            target = folder / f"{batch}.parquet"
            temporary = folder / f".{batch}.{uuid.uuid4().hex}.tmp"
            pq.write_table(table, temporary)
            os.replace(temporary, target)
        return len(frame)

    def read(
        self,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        exclude_case_ids: set[str] | None = None,
        texts_from: pd.Timestamp | None = None,
        keys_of: Collection[str] | None = None,
        columns: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """Return stored cases reported in [start, end), newest batch winning for repeated case ids.

        texts_from: descriptions only for the cases reported from then on; earlier ones come
        without (missing). A night's merge compares texts over days and its history features
        read none: the year's texts were the largest part of a night's read, in time and memory.
        keys_of: with texts_from, the earlier cases keep only these of their party keys (None: all).
        A night's party history counts only its own parties' past; a Python list per stored case
        was the largest part of the read left (seconds at a million cases).
        columns: only these (None: every stored column). A night's context reads two thirds of
        them; the rest were a fifth of its peak memory against a year's store.
        """
        wanted = _SCHEMA.names if columns is None else [n for n in _SCHEMA.names if n in columns]
        names = [n for n in _SCHEMA.names if n in {*wanted, *_NEWEST}]
        files = self._files(start, end)
        if not files:
            return pd.DataFrame(
                {
                    c: pd.Series(dtype=f)
                    for c, f in zip(_SCHEMA.names, _pandas_dtypes(), strict=True)
                    if c in wanted
                }
            )
        dataset = ds.dataset(files, schema=_SCHEMA, format="parquet")
        # Excluded while the files are read: filtering the frame after took seconds at 1M rows.
        table = _read_table(dataset, names, start, end, texts_from, exclude_case_ids)
        # Arrow's allocator keeps the memory each step frees for its own reuse; handed back after
        # each, the steps' peaks do not pile up (a province's read of 4.9M cases peaked 3.8 GB
        # above its start, now 2.7).
        pool = pa.default_memory_pool()
        pool.release_unused()
        # unique, not count_distinct: the same answer, in a quarter of the time (3 s at 5M rows).
        ids = table["case_id"]
        repeated = ids.null_count > 0 or len(pc.unique(ids)) < table.num_rows
        del ids
        if not repeated:  # put in time order in Arrow: often the files are already
            order = pc.sort_indices(table, sort_keys=_ORDER).to_numpy()
            if not (order == np.arange(len(order))).all():
                # A column at a time, each old one let go as its new one is made: the whole
                # table taken at once held two copies of it (1.4 GB more at 4.9M cases).
                schema, columns = table.schema, table.columns
                del table
                for i in range(len(columns)):
                    columns[i] = columns[i].take(order)
                    pool.release_unused()
                table = pa.Table.from_arrays(columns, schema=schema)
                del columns
            del order
        # One chunk per column, as pandas' own sort left them: string columns in many chunks
        # (a file's row groups each) slow every later operation on them.
        table = table.combine_chunks()
        if "party_keys" in names:
            keys = _party_key_lists(table, texts_from, keys_of)
            frame = table.drop_columns(["party_keys"]).to_pandas()
            frame.insert(table.schema.get_field_index("party_keys"), "party_keys", keys)
        else:
            frame = table.to_pandas()
        if repeated:
            # Rows written before the store recorded times count as the oldest.
            frame = frame.sort_values(
                ["written_at", "batch", "reported_at", "case_id"], na_position="first"
            ).drop_duplicates("case_id", keep="last")
        if len(wanted) < len(names):
            frame = frame[wanted]
        del table
        # A year's read left ~190 MB held through the night's context, its peak.
        pool.release_unused()
        frame = self.masked(frame)
        if repeated:
            return frame.sort_values([key for key, _ in _ORDER], ignore_index=True)
        return frame.reset_index(drop=True)

    def masked(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return frame with the names the store's book knows masked in its descriptions (as it
        is, for a store opened without the secret): for texts staged before a name was known."""
        if self.secret is None or frame.empty:
            return frame
        texts = frame["description"]
        found = NameIndex(self.name_book(self.secret).found_in(texts.dropna()))
        if not found.names:
            return frame
        return frame.assign(description=[t if pd.isna(t) else found.mask(t) for t in texts])

    def _files(self, start, end) -> list[str]:
        if not self.root.exists():
            return []
        lo = pd.Timestamp(start).strftime("%Y-%m") if start is not None else "0000-00"
        hi = pd.Timestamp(end).strftime("%Y-%m") if end is not None else "9999-99"
        out = []
        for folder in sorted(self.root.glob("month=*")):
            month = folder.name.split("=", 1)[1]
            if lo <= month <= hi:
                out += [str(p) for p in sorted(folder.glob("*.parquet"))]
        return out

    def batches(self) -> list[str]:
        """Return the names of the batches in the store."""
        return sorted({p.stem for p in self.root.glob("month=*/*.parquet")})


def _ns(time) -> pa.Scalar:
    return pa.scalar(pd.Timestamp(time), pa.timestamp("ns"))


def _reported(start, end, exclude_case_ids=None) -> ds.Expression | None:
    """Return the filter reported_at in [start, end) (either bound may be None), the case ids
    excluded."""
    bounds = [ds.field("reported_at") >= _ns(start)] if start is not None else []
    if end is not None:
        bounds.append(ds.field("reported_at") < _ns(end))
    if exclude_case_ids:
        ids = pa.array(sorted(exclude_case_ids), pa.string())
        bounds.append(~ds.field("case_id").isin(ids))
    return functools.reduce(operator.and_, bounds) if bounds else None


_ORDER = [("reported_at", "ascending"), ("case_id", "ascending")]  # how read() returns cases
# What read() needs to keep each case's newest version, whatever columns it returns.
_NEWEST = ("case_id", "reported_at", "batch", "written_at")


def _read_table(
    dataset: ds.Dataset, names: list[str], start, end, texts_from, exclude_case_ids
) -> pa.Table:
    """Return the columns `names` of the rows reported in [start, end) but the excluded case ids,
    with descriptions only from texts_from on."""
    if texts_from is None or "description" not in names:
        return dataset.to_table(columns=names, filter=_reported(start, end, exclude_case_ids))
    untexted = [n for n in names if n != "description"]
    earlier = dataset.to_table(
        columns=untexted, filter=_reported(start, _earlier(end, texts_from), exclude_case_ids)
    )
    description = _SCHEMA.field("description")
    earlier = earlier.append_column(description, pa.nulls(len(earlier), description.type))
    later = dataset.to_table(
        columns=names, filter=_reported(_later(start, texts_from), end, exclude_case_ids)
    )
    return pa.concat_tables([earlier.select(names), later])


def _party_key_lists(table: pa.Table, texts_from, keys_of) -> list:
    """Return each row's party keys as a list; with texts_from and keys_of, the rows reported
    before texts_from keep only the keys in keys_of. Straight from Arrow: through pandas' arrays
    the lists cost 4x as long (5 s at 1M rows)."""
    column = table.column("party_keys")
    if texts_from is None or keys_of is None:
        return [k if k is not None else [] for k in column.to_pylist()]
    flat = pc.list_flatten(column)
    rows = pc.list_parent_indices(column).to_numpy()
    later = table.column("reported_at").to_numpy() >= pd.Timestamp(texts_from).to_datetime64()
    wanted = pc.is_in(flat, value_set=pa.array(sorted(keys_of), pa.string()))
    kept = later[rows] | wanted.to_numpy(zero_copy_only=False)
    # The rows with keys left, as lists made by Arrow; a row with none shares one empty tuple (a
    # million empty lists took a second, and a Python loop over the keys three at 5M rows).
    per_row = np.bincount(rows[kept], minlength=table.num_rows)
    offsets = np.concatenate([[0], np.cumsum(per_row[per_row > 0])]).astype(np.int64)
    values = flat.filter(pa.array(kept)).combine_chunks()
    nested = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    lists: list = [()] * table.num_rows
    for row, keys in zip(np.flatnonzero(per_row).tolist(), nested.to_pylist(), strict=True):
        lists[row] = keys
    return lists


def _earlier(a, b) -> pd.Timestamp:
    """Return the earlier of a (None: no bound) and b."""
    return pd.Timestamp(b) if a is None else min(pd.Timestamp(a), pd.Timestamp(b))


def _later(a, b) -> pd.Timestamp:
    """Return the later of a (None: no bound) and b."""
    return pd.Timestamp(b) if a is None else max(pd.Timestamp(a), pd.Timestamp(b))


def _pandas_dtypes() -> list[str]:
    return [
        "string",
        "datetime64[ns]",
        "string",
        "string",
        "string",
        "string",
        "string",
        "string",
        "string",
        "float64",
        "float64",
        "string",
        "string",
        "boolean",
        "object",
        "Int64",
        "float64",
        "string",
        "string",
        "string",
        "float64",
        "string",
        "datetime64[ns]",
    ]
