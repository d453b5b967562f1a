"""The dispatcher's watchlist and the history store."""

from __future__ import annotations

import csv

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from pipelines.publish.watchlist import (
    COLUMNS,
    assign_tickets,
    protect_cell,
    watchlist_frame,
    write_watchlist,
)
from pipelines.store import HistoryStore


def _scored(rows):
    base = {
        "reported_at": pd.Timestamp("2025-12-31 10:00"),
        "channel": "12345",
        "district": "龙山区",
        "street": "向阳街道",
        "community": "幸福社区",
        "grid_id": "g1",
        "status": "待受理",
        "description": "案情",
        "reasons": "描述含威胁性言语(扬言)",
        "group_id": "x",
        "grp_size": 1,
        "missing_elements": "",
        "hist_party_n_365": 0,
        "dispute_type": "消费纠纷",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize("value", ["=1+1", "+86", "-SUM(A1)", "@cmd", "\tx", "\rx"])
def test_formula_starts_are_neutralised(value):
    assert protect_cell(value) == "'" + value
    assert protect_cell("正常文本") == "正常文本" and protect_cell(3.5) == 3.5


def test_tickets_follow_the_three_colour_rules():
    scored = _scored(
        [
            {"case_id": "h", "grade": "高", "score": 80.0},
            {"case_id": "m", "grade": "中", "score": 40.0},
            {"case_id": "family", "grade": "低", "score": 10.0, "dispute_type": "婚恋家庭"},
            {
                "case_id": "feud",
                "grade": "低",
                "score": 9.0,
                "dispute_type": "邻里纠纷",
                "hist_party_n_365": 2,
            },
            {"case_id": "failed", "grade": "低", "score": 8.0, "status": "未化解"},
            {"case_id": "quiet", "grade": "低", "score": 5.0},
        ]
    )
    tickets = assign_tickets(scored).set_index("case_id")
    assert tickets.loc["h", ["ticket", "deadline"]].tolist() == ["红色督办单", "30分钟内响应联系"]
    assert tickets.loc["m", ["ticket", "deadline"]].tolist() == ["黄色交办单", "24小时内办理"]
    assert (tickets.loc[["family", "feud", "failed"], "ticket"] == "蓝色预警单").all()
    assert "婚恋家庭" in tickets.loc["family", "dispatch_reasons"]
    assert tickets.loc["quiet", "ticket"] == ""


@pytest.mark.parametrize("background", [False, True], ids=["inline", "worker-process"])
def test_watchlist_reads_back_from_excel_and_csv(tmp_path, monkeypatch, background):
    import pipelines.publish.watchlist

    if background:  # as a province-sized watchlist is written: in batches, in a worker
        monkeypatch.setattr(pipelines.publish.watchlist, "PROCESSES_MIN_ROWS", 1)
        monkeypatch.setattr(pipelines.publish.watchlist, "BATCH_ROWS", 2)
    scored = _scored(
        [
            {"case_id": "b", "grade": "中", "score": 40.0, "description": '=HYPERLINK("x")'},
            {"case_id": "a", "grade": "高", "score": 70.0},
            {"case_id": "c", "grade": "高", "score": 90.0},
        ]
    )
    table = watchlist_frame(assign_tickets(scored), "7")
    csv_path, xlsx_path = write_watchlist(
        table, tmp_path / "watchlist.csv", tmp_path / "watchlist.xlsx"
    )
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(csv_path.open(encoding="utf-8-sig")))
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == ["c", "a", "b"]  # riskiest first
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows[1:] for cell in r)
    sheet = openpyxl.load_workbook(xlsx_path).active
    assert sheet.freeze_panes == "A2"
    # Ticket colours: one conditional format a colour over the whole table, keyed on 预警单.
    ticket_col = COLUMNS.index("预警单") + 1
    ticket = get_column_letter(ticket_col)
    rules = {
        rule.formula[0]: (str(cf.sqref), rule.dxf.fill.bgColor.rgb)
        for cf in sheet.conditional_formatting
        for rule in cf.rules
    }
    table_range = f"A2:{get_column_letter(len(COLUMNS))}{sheet.max_row}"
    assert rules[f'${ticket}2="红色督办单"'][0] == table_range
    assert rules[f'${ticket}2="红色督办单"'][1].endswith("FFC7CE")
    assert rules[f'${ticket}2="黄色交办单"'][1].endswith("FFEB9C")
    tickets = {
        sheet.cell(r, 1).value: sheet.cell(r, ticket_col).value for r in range(2, sheet.max_row + 1)
    }
    assert tickets == {"c": "红色督办单", "a": "红色督办单", "b": "黄色交办单"}
    summary_col = COLUMNS.index("案情摘要") + 1
    formula_cell = next(
        sheet.cell(r, summary_col)
        for r in range(2, sheet.max_row + 1)
        if sheet.cell(r, 1).value == "b"
    )
    assert formula_cell.data_type == "s"  # stored as text, never evaluated
    score_col = COLUMNS.index("风险分") + 1
    assert [sheet.cell(r, score_col).value for r in range(2, 5)] == [90.0, 70.0, 40.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchlist.csv", "watchlist.xlsx"]


def _store_rows(ids, day):
    return pd.DataFrame(
        {
            "case_id": ids,
            "reported_at": pd.Timestamp(day),
            "description": "x",
            "risk_grade": "低",
            "party_keys": [["k"]] * len(ids),
            "lon": 125.0,
            "lat": 42.9,
        }
    )


def test_store_appends_are_idempotent_per_batch_and_read_by_window(tmp_path):
    store = HistoryStore(tmp_path)
    store.append(_store_rows(["a", "b"], "2025-11-30"), "day-2025-11-30")
    store.append(_store_rows(["c"], "2025-12-01"), "day-2025-12-01")
    store.append(_store_rows(["c"], "2025-12-01"), "day-2025-12-01")  # a re-run of the same day
    everything = store.read()
    assert everything["case_id"].tolist() == ["a", "b", "c"]
    december = store.read(start=pd.Timestamp("2025-12-01"), end=pd.Timestamp("2026-01-01"))
    assert december["case_id"].tolist() == ["c"]
    assert store.read(exclude_case_ids={"a"})["case_id"].tolist() == ["b", "c"]
    assert everything["party_keys"].tolist() == [["k"], ["k"], ["k"]]
    assert (everything["history_grade"] == "低").all()


def test_the_store_reads_cases_in_report_order_whatever_order_they_were_written(tmp_path):
    """A late report (stored with a later night) and ids out of order within a time: read back by
    report time, then case id, with and without repeated cases."""
    store = HistoryStore(tmp_path)
    store.append(_store_rows(["b", "a"], "2025-12-02"), "day-2025-12-02")
    store.append(_store_rows(["z"], "2025-12-01"), "day-2025-12-03")  # reported a day late
    assert store.read()["case_id"].tolist() == ["z", "a", "b"]
    store.append(_store_rows(["b"], "2025-12-02"), "import-0000")  # b again, written last
    assert store.read()["case_id"].tolist() == ["z", "a", "b"]
    assert store.read(texts_from=pd.Timestamp("2025-12-02"))["case_id"].tolist() == ["z", "a", "b"]


def test_a_name_listed_after_its_case_was_stored_is_masked_wherever_text_is_read(tmp_path):
    """A neighbour first mentioned in a text (not a listed party), then named as a party by a
    later export: the stored text still holds the name, and what publishes or trains reads it
    masked. The nightly's own features read the store as it is."""
    from features.pii import NAME_TOKEN, NameBook
    from pipelines.catalog import store_dir
    from pipelines.config import Settings
    from pipelines.review import load_history

    settings = Settings(home=tmp_path)
    secret = settings.secret()
    rows = _store_rows(["a", "b"], "2025-11-30").assign(
        description=["邻居周建国深夜施工噪音扰民", "楼上漏水"]
    )
    HistoryStore(store_dir(settings)).append(rows, "day-2025-11-30")
    HistoryStore(store_dir(settings)).keep_names(NameBook.of_names(secret, ["周建国"]))

    masked = HistoryStore(store_dir(settings), secret).read()
    assert masked["description"].tolist() == [f"邻居{NAME_TOKEN}深夜施工噪音扰民", "楼上漏水"]
    assert "周建国" not in load_history(tmp_path, pd.Timestamp("2025-12-01"))["description"].sum()
    assert "周建国" in HistoryStore(store_dir(settings)).read()["description"].iloc[0]
    other = HistoryStore(store_dir(settings), "another-site-secret-xxxxxxxxxxxxxxx").read()
    assert "周建国" in other["description"].iloc[0]  # another key finds none of this book's names


def test_cases_stored_out_of_time_order_are_read_in_time_order_whole(tmp_path):
    """Files read in name order need not be in time order (a province's cities imported one
    after another): every column of a case comes back with it, in (time, case id) order."""
    store = HistoryStore(tmp_path)

    def rows(ids, days, city):
        frame = pd.concat([_store_rows([i], d) for i, d in zip(ids, days, strict=True)])
        return frame.assign(
            description=[f"{city}{i}" for i in ids], party_keys=[[f"k{i}"] for i in ids]
        )

    store.append(rows(["b2", "b9"], ["2025-12-02", "2025-12-09"], "乙"), "import-a")
    store.append(
        rows(["a1", "a5", "a7"], ["2025-12-01", "2025-12-05", "2025-12-07"], "甲"), "import-b"
    )
    for texts_from in (None, pd.Timestamp("2025-12-06")):
        read = store.read(texts_from=texts_from, keys_of={"kb2"} if texts_from else None)
        assert read["case_id"].tolist() == ["a1", "b2", "a5", "a7", "b9"]
        assert read["reported_at"].is_monotonic_increasing
        texts = read.set_index("case_id")["description"]
        assert texts["a7"] == "甲a7" and texts["b9"] == "乙b9"
        keys = read.set_index("case_id")["party_keys"].map(list).to_dict()
        assert keys["a7"] == ["ka7"] and keys["b2"] == ["kb2"]
        if texts_from is not None:  # earlier cases: no text, and only tonight's parties' keys
            assert texts[["a1", "b2", "a5"]].isna().all() and keys["a1"] == []
        else:
            assert texts["a1"] == "甲a1" and keys["a5"] == ["ka5"]


def test_the_store_keeps_the_version_written_last_whatever_the_batches_are_called(tmp_path):
    """Imports and nightly re-scores interleaved: batch names sort neither by time nor by kind."""
    store = HistoryStore(tmp_path)

    def graded(ids, grade):
        return _store_rows(ids, "2025-12-01").assign(risk_grade=grade)

    store.append(graded(["a", "b"], "低"), "import-ffff")  # an old import
    store.append(graded(["a"], "中"), "day-2025-12-01")  # the night that re-scored a
    store.append(graded(["b"], "中"), "import-0000")  # a newer import, a lower name
    store.append(graded(["a", "c"], "高"), "day-2025-11-30")  # a later re-run, an earlier name
    store.append(graded(["c"], "低"), "import-aaaa")
    latest_day = pd.Timestamp("2025-12-01")
    latest = store.read().set_index("case_id")["risk_grade"].to_dict()
    assert latest == {"a": "高", "b": "中", "c": "低"}
    # Re-running a batch replaces its file and makes its rows the newest again.
    store.append(graded(["b"], "高"), "import-ffff")
    assert store.read().set_index("case_id").loc["b", "risk_grade"] == "高"
    # Reading a few columns (as a night's context does) keeps the same versions, without the
    # batches and write times that chose them.
    few = store.read(columns=["case_id", "reported_at", "risk_grade"], texts_from=latest_day)
    assert few.columns.tolist() == ["case_id", "reported_at", "risk_grade"]
    assert few.set_index("case_id")["risk_grade"].to_dict() == {"a": "高", "b": "高", "c": "低"}
    assert few.equals(store.read()[few.columns.tolist()])


def test_a_watchlist_longer_than_an_excel_sheet_continues_on_more_sheets(tmp_path, monkeypatch):
    import pipelines.publish.watchlist

    monkeypatch.setattr(pipelines.publish.watchlist, "_SHEET_ROWS", 2)
    monkeypatch.setattr(pipelines.publish.watchlist, "BATCH_ROWS", 3)  # CSV batches across sheets
    scored = _scored(
        [{"case_id": c, "grade": "高", "score": 90.0 - i} for i, c in enumerate("abcde")]
    )
    csv_path, xlsx_path = write_watchlist(
        watchlist_frame(assign_tickets(scored), "7"),
        tmp_path / "watchlist.csv",
        tmp_path / "watchlist.xlsx",
    )
    rows = list(csv.reader(csv_path.open(encoding="utf-8-sig")))
    assert [r[0] for r in rows] == ["案件编号", *"abcde"]  # one header, every batch once
    book = openpyxl.load_workbook(xlsx_path)
    assert book.sheetnames == ["预警清单", "预警清单(2)", "预警清单(3)"]
    ids = [row[0] for sheet in book for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == list("abcde")
    assert all(sheet.cell(1, 1).value == "案件编号" for sheet in book)


def test_follow_up_cues_match_a_full_lexicon_scan_of_every_text(city):
    from features.lexicon import find_cues
    from pipelines.publish.watchlist import follow_up_reasons

    texts = city.export["案情描述"].fillna("").head(3000).tolist()
    texts += ["男方多次家暴，调解未果", "双方未发生家暴", ""]
    cases = pd.DataFrame({"description": texts, "dispute_type": "其他", "status": "已受理"})
    said = follow_up_reasons(cases)
    counts = [find_cues(t).counts for t in texts]
    assert [("涉及家庭暴力，需跟进" in w) for w in said] == [
        c["domestic_violence"] > 0 for c in counts
    ]
    assert [("调解未果，需跟进" in w) for w in said] == [c["failed_mediation"] > 0 for c in counts]
    assert said[-3] == ["涉及家庭暴力，需跟进", "调解未果，需跟进"] and said[-1] == []


def test_failed_negotiation_is_not_called_failed_mediation_and_pending_is_not_unresolved():
    from models.reasons import phrase
    from pipelines.publish.watchlist import follow_up_reasons

    cases = pd.DataFrame(
        {
            "description": ["双方协商未果", "经社区调解未果", "邻里争吵", "邻里争吵"],
            "dispute_type": "其他",
            "status": ["办理中", "办理中", "未化解", "待受理"],
        }
    )
    assert follow_up_reasons(cases) == [[], ["调解未果，需跟进"], ["办结未化解，需跟进"], []]

    def said(name, value):
        return phrase(name, value, lambda _: None, {})

    assert said("hist_party_pending_90", 42) == "当事人近90天有42起未办结纠纷"
    assert said("hist_party_unresolved_90", 2) == "当事人近90天有2起未化解纠纷"
    assert said("hist_party_days_since", 0.4) == "当事人当天曾报事"
