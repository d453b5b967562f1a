"""The dispatcher's watchlist: 三色三单 tickets, in CSV (UTF-8 with BOM) and .xlsx, riskiest first.

Ticket rules (from the seeds' 三色三单 and 限时办理):
  高 -> 红色督办单, 30分钟内响应联系
  中 -> 黄色交办单, 24小时内办理
  低 -> 蓝色预警单, 纳入日常走访，7日内回访, when follow-up is due:
        - 婚恋家庭 disputes (divorce, domestic violence): followed up whether or not mediation
          succeeded (西固's rule for 离婚、家庭暴力、邻里积怨);
        - the text reports domestic violence;
        - 邻里纠纷 whose parties have reported before within a year (a long-running feud);
        - mediation failed (调解未果; a failed negotiation between the parties, 协商未果, is not
          mediation), or the case was closed unresolved (status 未化解).
  Other 低 cases get no ticket: they stay in scores.parquet but not on the watchlist.

Every text cell is protected against formula injection. In the CSV a cell that starts with =, +, -,
@, tab or carriage return gets a leading apostrophe, so Excel and WPS show it as text; in the .xlsx
every text cell is stored with the string type, which a spreadsheet never evaluates.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd

from features.completeness import TO_ADD
from features.domain import BLUE_TICKET, GRADE_RANK, TICKET_NAMES, TICKETS
from features.parallel import PROCESSES_MIN_ROWS

SUMMARY_CHARS = 80
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    "案件编号",
    "受理时间",
    "来源渠道",
    "纠纷类型",
    "区县",
    "街道",
    "社区",
    "网格",
    "风险等级",
    "风险分",
    "预警单",
    "响应时限",
    "主要原因",
    "同案编号",
    "同案数",
    "七何缺项",
    "案情摘要",
    "模型版本",
]
BATCH_ROWS = 50_000  # rows a batch when a large watchlist is written out
_SHEET_ROWS = 1_048_575  # Excel's rows a sheet, less the header
_FILLS = dict(zip(TICKET_NAMES, ("FFC7CE", "FFEB9C", "BDD7EE"), strict=True))  # red, yellow, blue
_WIDTHS = {
    "案件编号": 18,
    "受理时间": 20,
    "主要原因": 60,
    "案情摘要": 70,
    "七何缺项": 18,
    "同案编号": 18,
}


# What the follow-up rules read; a scored case carries some 85 columns, and a tuple of each case's
# 85 values took most of the 30 s that ticketing a province's million cases took.
_FOLLOW_UP_INPUTS = ("dispute_type", "domain_type", "description", "status", "hist_party_n_365")


def _follow_up_inputs(scored: pd.DataFrame) -> pd.DataFrame:
    return scored[[c for c in _FOLLOW_UP_INPUTS if c in scored]]


def follow_up_reasons(scored: pd.DataFrame) -> list[list[str]]:
    """Return, per case, why a 低 case still needs a blue ticket (empty: it does not)."""
    from features.lexicon import find_cues, load_lexicon

    # A text none of whose words could count as either cue skips the full lexicon scan.
    followed = ("domestic_violence", "failed_mediation")
    terms = [t for c in load_lexicon().categories if c.name in followed for t in c.terms]
    mentions = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    out = []
    for row in _follow_up_inputs(scored).itertuples(index=False):
        why = []
        # The rules read fengqiao's own type of the case: a centre's types map onto it at ingest.
        kind = row.domain_type if hasattr(row, "domain_type") else row.dispute_type
        if kind == "婚恋家庭":
            why.append("婚恋家庭纠纷，无论调解与否均需跟进")
        text = row.description or ""
        counts = find_cues(text).counts if mentions.search(text) else {}
        if counts.get("domestic_violence", 0) and "婚恋家庭纠纷，无论调解与否均需跟进" not in why:
            why.append("涉及家庭暴力，需跟进")
        if kind == "邻里纠纷" and (getattr(row, "hist_party_n_365", 0) or 0) >= 1:
            why.append("邻里积怨，当事人一年内曾报事")
        if counts.get("failed_mediation", 0):
            why.append("调解未果，需跟进")
        elif row.status == "未化解":
            why.append("办结未化解，需跟进")
        out.append(why)
    return out


def assign_tickets(scored: pd.DataFrame) -> pd.DataFrame:
    """Return scored cases with ticket, deadline and the reasons a dispatcher reads."""
    low = ~scored["grade"].isin(list(TICKETS)).to_numpy()  # only these can need a blue ticket
    follow: list[list[str]] = [[] for _ in range(len(scored))]
    # Rows picked from the four columns, not from all of them.
    inputs = _follow_up_inputs(scored)[low]
    for i, why in zip(np.flatnonzero(low), follow_up_reasons(inputs), strict=True):
        follow[i] = why
    ticket, deadline, reasons = [], [], []
    for grade, model_reasons, extra in zip(
        scored["grade"], scored["reasons"].fillna(""), follow, strict=True
    ):
        if grade in TICKETS:
            t, d = TICKETS[grade]
            r = model_reasons
        elif extra:
            t, d = BLUE_TICKET
            r = "；".join([*extra, model_reasons] if model_reasons else extra)
        else:
            t, d, r = "", "", model_reasons
        ticket.append(t)
        deadline.append(d)
        reasons.append(r)
    return scored.assign(ticket=ticket, deadline=deadline, dispatch_reasons=reasons)


def summaries(texts: pd.Series, chars: int = SUMMARY_CHARS) -> list[str]:
    """Return each (masked) text cut to `chars` characters, with … where it was cut."""
    return [t if len(t) <= chars else t[:chars] + "…" for t in texts.fillna("")]


def protect_cell(value: object) -> object:
    """Return a text cell that a spreadsheet cannot run as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def watchlist_frame(ticketed: pd.DataFrame, model_version: str) -> pd.DataFrame:
    """Return the watchlist table: ticketed cases, Chinese headers, riskiest first."""
    # Sort on the keys alone and take each shown column in that order: a province's ticketed
    # cases carry some 85 columns, and the watchlist shows 17 of them.
    keys = ["grade", "score", "reported_at", "case_id"]
    ticketed_at = np.flatnonzero((ticketed["ticket"] != "").to_numpy())
    ranked = ticketed[keys].iloc[ticketed_at].reset_index(drop=True)
    ranked = ranked.assign(_rank=ranked["grade"].map(GRADE_RANK)).sort_values(
        ["_rank", "score", "reported_at", "case_id"], ascending=[False, False, True, True]
    )
    order = ticketed_at[ranked.index.to_numpy()]

    def column(name: str) -> pd.Series:
        return ticketed[name].iloc[order]

    summary = summaries(column("description"))
    table = pd.DataFrame(
        {
            "案件编号": column("case_id").to_numpy(),
            "受理时间": pd.to_datetime(column("reported_at"))
            .dt.strftime("%Y-%m-%d %H:%M")
            .to_numpy(),
            "来源渠道": column("channel").to_numpy(),
            "纠纷类型": column("dispute_type").to_numpy(),
            "区县": column("district").to_numpy(),
            "街道": column("street").to_numpy(),
            "社区": column("community").to_numpy(),
            "网格": column("grid_id").to_numpy(),
            "风险等级": column("grade").to_numpy(),
            "风险分": column("score").round(1).to_numpy(),
            "预警单": column("ticket").to_numpy(),
            "响应时限": column("deadline").to_numpy(),
            "主要原因": column("dispatch_reasons").to_numpy(),
            "同案编号": column("group_id").to_numpy(),
            "同案数": column("grp_size").astype(int).to_numpy(),
            "七何缺项": column("missing_elements").fillna("").to_numpy(),
            "案情摘要": summary,
            "模型版本": model_version,
        }
    )
    return table.fillna("")


CLASS_COLUMNS = [
    "案件编号",
    "受理时间",
    "来源渠道",
    "纠纷类型",
    "区县",
    "街道",
    "社区",
    "网格",
    "预测类别",
    "概率",
    "次选类别",
    "次选概率",
    "主要原因",
    "同案编号",
    "同案数",
    "七何缺项",
    "案情摘要",
    "模型版本",
]


def with_runner_up(scored: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """Return a classifier's scored cases with predicted_class, probability, runner_up and
    runner_up_probability, from its p_<class> columns."""
    proba = scored[[f"p_{c}" for c in classes]].to_numpy(float)
    order = np.argsort(-proba, axis=1, kind="stable")
    rows = np.arange(len(proba))
    names = np.asarray(classes, dtype=object)
    second = order[:, 1] if proba.shape[1] > 1 else order[:, 0]
    return scored.assign(
        predicted_class=scored["grade"],
        probability=proba[rows, order[:, 0]] if len(proba) else [],
        runner_up=names[second] if len(proba) else [],
        runner_up_probability=proba[rows, second] if len(proba) else [],
    )


def class_watchlist_frame(scored: pd.DataFrame, model_version: str) -> pd.DataFrame:
    """Return a classifier's watchlist (分类派单): every case with its predicted class, the
    probability, the runner-up and the reasons; by class, then most certain first. No 高/中/低
    ticket: such a model cannot know one."""
    order = scored.sort_values(
        ["predicted_class", "probability", "reported_at", "case_id"],
        ascending=[True, False, True, True],
    ).index
    ranked = scored.loc[order]
    summary = summaries(ranked["description"])
    table = pd.DataFrame(
        {
            "案件编号": ranked["case_id"].to_numpy(),
            "受理时间": pd.to_datetime(ranked["reported_at"])
            .dt.strftime("%Y-%m-%d %H:%M")
            .to_numpy(),
            "来源渠道": ranked["channel"].to_numpy(),
            "纠纷类型": ranked["dispute_type"].to_numpy(),
            "区县": ranked["district"].to_numpy(),
            "街道": ranked["street"].to_numpy(),
            "社区": ranked["community"].to_numpy(),
            "网格": ranked["grid_id"].to_numpy(),
            "预测类别": ranked["predicted_class"].to_numpy(),
            "概率": ranked["probability"].round(3).to_numpy(),
            "次选类别": ranked["runner_up"].to_numpy(),
            "次选概率": ranked["runner_up_probability"].round(3).to_numpy(),
            "主要原因": ranked["reasons"].fillna("").to_numpy(),
            "同案编号": ranked["group_id"].to_numpy(),
            "同案数": ranked["grp_size"].astype(int).to_numpy(),
            "七何缺项": ranked["missing_elements"].fillna("").to_numpy(),
            "案情摘要": summary,
            "模型版本": model_version,
        }
    )
    return table.fillna("")


def write_watchlist(table: pd.DataFrame, csv: Path, xlsx: Path) -> list[Path]:
    """Write the watchlist as CSV (UTF-8 with BOM) and .xlsx (ticket colours); return the paths."""
    workbook = start_workbook(table, xlsx)
    return [write_table_csv(table, csv), workbook.result()]


def write_table_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write a table for people as CSV: UTF-8 with BOM, CRLF, no cell that can run as a formula,
    BATCH_ROWS rows at a time."""
    path = Path(path)
    text = set(table.select_dtypes(exclude="number").columns)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        for first in range(0, max(len(table), 1), BATCH_ROWS):
            part = table.iloc[first : first + BATCH_ROWS]
            protected = pd.DataFrame(
                {c: part[c].map(protect_cell) if c in text else part[c] for c in part.columns}
            )
            protected.to_csv(handle, header=first == 0, index=False, lineterminator="\r\n")
    return path


def start_workbook(table: pd.DataFrame, path: Path) -> Future:
    """Start writing the .xlsx; return a future of its path.

    A large watchlist (PROCESSES_MIN_ROWS and up) is written by a worker process while the
    caller publishes the rest, so the two cores share the work; a small one is written at once.
    The worker reads the table from a Parquet file beside the workbook, a batch of rows at a time,
    rather than receiving it pickled: at a province's scale a copy of the table as Python objects
    costs gigabytes.
    """
    if len(table) < PROCESSES_MIN_ROWS:
        done: Future = Future()
        done.set_result(_write_xlsx(table, path))
        return done
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    handoff = path.with_name(f".{path.name}.parquet")
    _as_arrow(table).to_parquet(handoff, index=False)
    # Its own spawned process: joblib's shared worker pool must stay joblib's.
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    future = executor.submit(_write_xlsx_from, handoff, path, BATCH_ROWS)
    future.add_done_callback(lambda _: executor.shutdown(wait=False))
    return future


def _as_arrow(table: pd.DataFrame) -> pd.DataFrame:
    """Return the table with every non-numeric column as text, so that it stores as Parquet."""
    text = table.select_dtypes(exclude="number").columns
    return table.astype({c: "string" for c in text})


def _write_xlsx_from(handoff: Path, path: Path, batch_rows: int) -> Path:
    """Write the workbook from a handed-off Parquet table, batch by batch; remove the handoff."""
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(handoff)
        batches = (
            zip(*(column.to_pylist() for column in batch.columns), strict=True)
            for batch in source.iter_batches(batch_rows)
        )
        return _write_rows(
            source.schema_arrow.names,
            source.metadata.num_rows,
            itertools.chain.from_iterable(batches),
            path,
        )
    finally:
        handoff.unlink(missing_ok=True)


def _write_xlsx(table: pd.DataFrame, path: Path) -> Path:
    """Write a table held in memory as the workbook."""
    columns = [
        [v.item() if isinstance(v, np.generic) else v for v in table[c].tolist()]
        for c in table.columns
    ]
    rows = zip(*columns, strict=True) if columns else iter(())
    return _write_rows(list(table.columns), len(table), rows, path)


def _write_rows(names: list[str], n_rows: int, rows: Iterator[tuple], path: Path) -> Path:
    """Write the rows as a streamed workbook: ticket colours, bold frozen header, autofilter.

    Each ticket colour is one conditional format on its sheet (the row takes the colour of its
    预警单 cell), so it stays right after sorting and filtering and costs nothing per cell. Every
    text is written as a string, never as a formula, URL or number. Excel holds at most 1,048,576
    rows a sheet; a longer watchlist continues on sheets 预警清单(2), (3) ... so no row is dropped.
    """
    import xlsxwriter
    from xlsxwriter.utility import xl_col_to_name

    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    header = book.add_format({"bold": True, "align": "center", "valign": "vcenter"})
    # A classifier's watchlist has no tickets, so no ticket colours.
    fills = (
        {k: book.add_format({"bg_color": f"#{v}"}) for k, v in _FILLS.items()}
        if "预警单" in names
        else {}
    )
    ticket = xl_col_to_name(names.index("预警单")) if fills else None
    last_column = len(names) - 1
    for number, first in enumerate(range(0, max(n_rows, 1), _SHEET_ROWS), start=1):
        size = min(_SHEET_ROWS, n_rows - first)
        sheet = book.add_worksheet("预警清单" if number == 1 else f"预警清单({number})")
        for i, name in enumerate(names):
            sheet.set_column(i, i, _WIDTHS.get(name, max(8, len(name) * 2 + 2)))
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, names, header)
        for r, values in enumerate(itertools.islice(rows, size), start=1):
            sheet.write_row(r, 0, values)
        sheet.autofilter(0, 0, size, last_column)
        for name, fill in fills.items():
            sheet.conditional_format(
                1,
                0,
                max(size, 1),
                last_column,
                {"type": "formula", "criteria": f'=${ticket}2="{name}"', "format": fill},
            )
    book.close()
    return path


_RETURN_INPUTS = (
    "case_id",
    "reported_at",
    "completeness",
    "missing_elements",
    "description",
    "ticket",
    "channel",
    "grid_id",
    "community",
    "source_file",
)


def return_list(cases: pd.DataFrame, summary_chars: int = 60) -> pd.DataFrame:
    """Return the 七何 return list: one row per incomplete case, with who reported it (the
    channel, the grid or community, the export it came in), its ticket, what is missing and what
    to add.

    Cases handed over with a ticket come first, red before yellow before blue, then those missing
    most: a hand-over must have its 七何 complete, and in real exports nine records in ten lack
    an element (of 494 real complaints 90%; 何因 63%, 何种方式/后果 67%): the desk needs an order.
    """
    # Only the columns the list reads: filtered and sorted whole, a million-case day's frame was
    # copied twice (0.85 GB of its publishing peak).
    cases = cases[[c for c in _RETURN_INPUTS if c in cases]]
    incomplete = cases[cases["completeness"] < 1]
    tickets = pd.Series(_or_none(incomplete, "ticket"), index=incomplete.index, dtype=object)
    priority = tickets.map({name: rank for rank, name in enumerate(TICKET_NAMES)})
    incomplete = incomplete.assign(
        _priority=priority.fillna(len(TICKET_NAMES)).to_numpy(),
        _ticket=tickets.fillna("").to_numpy(),
    ).sort_values(["_priority", "completeness", "reported_at", "case_id"], kind="stable")
    unit = [
        "，".join(str(v) for v in (channel, grid, community, source) if isinstance(v, str) and v)
        for channel, grid, community, source in zip(
            _or_none(incomplete, "channel"),
            _or_none(incomplete, "grid_id"),
            _or_none(incomplete, "community"),
            [
                str(s).rsplit("/", 1)[-1] if isinstance(s, str) else None
                for s in _or_none(incomplete, "source_file")
            ],
            strict=True,
        )
    ]
    missing = incomplete["missing_elements"].fillna("")
    return pd.DataFrame(
        {
            "案件编号": incomplete["case_id"].to_numpy(),
            "受理时间": pd.to_datetime(incomplete["reported_at"])
            .dt.strftime("%Y-%m-%d %H:%M")
            .to_numpy(),
            "报送单位": unit,
            "预警单": incomplete["_ticket"].to_numpy(),
            "缺少要素": missing.to_numpy(),
            "需补充": ["；".join(TO_ADD[e] for e in m.split("、") if e in TO_ADD) for m in missing],
            "案情摘要": summaries(incomplete["description"], summary_chars),
        }
    )


def _or_none(frame: pd.DataFrame, column: str) -> list:
    return frame[column].tolist() if column in frame else [None] * len(frame)
