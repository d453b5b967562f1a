"""A careless export: junk, truncation, odd columns, odd characters, odd workbooks and dtypes.

Every case either ends in one clear InputError/MappingError naming the file, or ingests with every
row scored or quarantined with a reason.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.ingest import ColumnMapping, InputError, MappingError, ingest_file
from tests.conftest import SECRET

HEADER = "案件编号,受理时间,来源渠道,纠纷类型,案情描述,当事人,联系电话\n"
ROWS = [
    "A1,2025-03-05 14:20,12345,邻里纠纷,楼上漏水多次协商未果,王秀英,13812345678\n",
    "A2,2025-03-06 09:00,110,家庭纠纷,夫妻争吵，报警人称对方扬言离婚,李四、张三,\n",
    "A3,2025-03-07 10:30,网格员上报,劳资纠纷,工地拖欠工资三万元,赵六,\n",
]


def _ingest(path, mapping=None):
    result = ingest_file(path, mapping or ColumnMapping(), SECRET, dt.date(2025, 12, 31))
    assert result.rows_in == result.rows_ok + result.rows_quarantined
    assert len(result.cases) == result.rows_ok and len(result.quarantine) == result.rows_quarantined
    return result


def test_binary_junk_is_a_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises((InputError, MappingError)) as error:
        _ingest(path)
    assert str(path) in str(error.value)


def test_a_zip_or_image_named_xlsx_is_a_clear_error(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(InputError) as error:
        _ingest(path)
    assert str(path) in str(error.value)


def test_a_file_truncated_mid_row_keeps_the_whole_rows_and_quarantines_the_cut_one(tmp_path):
    data = (HEADER + "".join(ROWS)).encode("utf-8")
    cut = data[: len(data) - 25]  # the last row loses its tail, mid-character included
    path = tmp_path / "cut.csv"
    path.write_bytes(cut)
    result = _ingest(path)
    assert result.rows_in == 3
    assert set(result.cases["case_id"]) >= {"A1", "A2"}
    if result.rows_quarantined:
        assert result.quarantine["原因"].str.len().gt(0).all()


def test_a_file_truncated_inside_a_quoted_field_loses_no_row_silently(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text(
        HEADER + ROWS[0] + 'A2,2025-03-06 09:00,110,家庭纠纷,"夫妻争吵，报警人', "utf-8"
    )
    result = _ingest(path)
    assert result.rows_in == 2 and "A1" in set(result.cases["case_id"])


def test_renamed_required_columns_work_through_a_mapping_and_fail_clearly_without(tmp_path):
    path = tmp_path / "renamed.csv"
    renamed = HEADER.replace("受理时间", "登记日期").replace("案情描述", "事件概要")
    path.write_text(renamed + "".join(ROWS), encoding="utf-8")
    with pytest.raises(MappingError) as error:
        _ingest(path)
    assert "登记日期" in str(error.value) and "reported_at" in str(error.value)
    mapping = ColumnMapping(columns={"reported_at": "登记日期", "description": "事件概要"})
    assert _ingest(path, mapping).rows_ok == 3


def test_extra_columns_are_ignored_and_never_published(tmp_path):
    path = tmp_path / "extra.csv"
    rows = [r.rstrip("\n") + ",备用值,内部备注\n" for r in ROWS]
    path.write_text(HEADER.rstrip("\n") + ",备用字段,承办人意见\n" + "".join(rows), "utf-8")
    result = _ingest(path)
    assert result.rows_ok == 3
    assert not {"备用字段", "承办人意见"} & set(result.cases.columns)


@pytest.mark.parametrize("description", ["", "   ", "\t\n ", "\u3000\u3000"])
def test_empty_and_whitespace_only_descriptions_are_quarantined(tmp_path, description):
    path = tmp_path / "blank.csv"
    path.write_text(
        HEADER + ROWS[0] + f'B1,2025-03-05 10:00,12345,邻里纠纷,"{description}",,\n', "utf-8"
    )
    result = _ingest(path)
    assert result.rows_ok == 1 and result.rows_quarantined == 1
    assert "案情描述为空" in result.quarantine["原因"].iloc[0]


@pytest.mark.parametrize(
    "date", ["2025-02-30 10:00", "1899-12-31", "0000-00-00", "2099-01-01 10:00", "昨天下午"]
)
def test_impossible_and_future_dates_are_quarantined_with_the_value(tmp_path, date):
    path = tmp_path / "dates.csv"
    path.write_text(HEADER + f"D1,{date},12345,邻里纠纷,楼上漏水,,\n", "utf-8")
    result = _ingest(path)
    assert result.rows_quarantined == 1
    assert (
        date in result.quarantine["原因"].iloc[0]
        or "晚于运行日期" in (result.quarantine["原因"].iloc[0])
    )


def test_emoji_and_rare_cjk_extension_characters_survive_ingest(tmp_path):
    text = "居民反映😡楼上装修噪音🔨，涉及𠀋𪚥𰻞𰻞面馆门前占道，扬言报复"
    path = tmp_path / "emoji.csv"
    path.write_text(HEADER + f"E1,2025-03-05 14:20,12345,邻里纠纷,{text},,\n", "utf-8")
    result = _ingest(path)
    assert result.rows_ok == 1
    kept = result.cases["description"].iloc[0]
    # Extension B characters are kept; the traditional biáng (Ext. G) becomes the simplified one.
    assert "𠀋𪚥" in kept and "𰻝𰻝" in kept and "😡" in kept and "扬言报复" in kept


def test_emoji_and_rare_characters_in_gb18030_read_the_same(tmp_path):
    text = "楼上漏水😡𠀋，多次协商未果"
    utf8, gb = tmp_path / "u.csv", tmp_path / "g.csv"
    utf8.write_bytes((HEADER + f"E1,2025-03-05 14:20,12345,邻里纠纷,{text},,\n").encode("utf-8"))
    gb.write_bytes((HEADER + f"E1,2025-03-05 14:20,12345,邻里纠纷,{text},,\n").encode("gb18030"))
    assert _ingest(utf8).cases["description"].iloc[0] == _ingest(gb).cases["description"].iloc[0]


def _workbook(path, merged: bool):
    from openpyxl import Workbook

    book = Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["本表由系统导出，请勿修改"])
    cases = book.create_sheet("案件")
    cases.append(["2025年3月矛盾纠纷台账"])  # a title row above the header, as exports have
    cases.append([h for h in HEADER.strip().split(",")])
    for row in ROWS:
        cases.append(row.strip().split(","))
    if merged:
        cases.merge_cells("A1:G1")
        cases.append(["A4", "2025-03-08 11:00", "12345", "邻里纠纷", "占道经营", "", ""])
        cases.append(["A5", "2025-03-08 11:00", "12345", "", "同一时间另一起", "", ""])
        cases.merge_cells("B6:B7")  # one date cell merged across two rows
    book.save(path)


def test_xlsx_with_several_sheets_reads_the_named_sheet_and_says_which_exist(tmp_path):
    path = tmp_path / "export.xlsx"
    _workbook(path, merged=False)
    assert _ingest(path, ColumnMapping(sheet="案件")).rows_ok == 3
    with pytest.raises((InputError, MappingError)) as error:
        _ingest(path, ColumnMapping(sheet="不存在"))
    assert "不存在" in str(error.value) and "案件" in str(error.value)


def test_xlsx_merged_cells_lose_no_row(tmp_path):
    path = tmp_path / "merged.xlsx"
    _workbook(path, merged=True)
    result = _ingest(path, ColumnMapping(sheet="案件"))
    assert result.rows_in == 5
    assert {"A1", "A2", "A3", "A4"} <= set(result.cases["case_id"])
    rest = set(result.quarantine["案件编号"].astype(str)) | set(result.cases["case_id"])
    assert "A5" in rest


def test_parquet_with_wrong_dtypes_is_read_as_values_not_types(tmp_path):
    frame = pd.DataFrame(
        {
            "案件编号": [101, 102, 103],  # integers, not strings
            "受理时间": [45721.6, 45722.4, np.nan],  # Excel serial numbers as floats
            "来源渠道": [12345.0, 110.0, None],  # channel numbers stored as floats
            "纠纷类型": [1, 2, 3],  # type codes, not names
            "案情描述": ["楼上漏水", "夫妻争吵", "拖欠工资"],
        }
    )
    path = tmp_path / "typed.parquet"
    frame.to_parquet(path)
    result = _ingest(path)
    assert result.rows_in == 3
    cases = result.cases.set_index("case_id")
    assert cases.loc["101", "channel"] == "12345" and cases.loc["102", "channel"] == "110"
    assert "不在分类表中" in cases.loc["101", "quality_flags"]  # a type code is flagged, not lost
    assert "103" in set(result.quarantine["案件编号"].astype(str))
