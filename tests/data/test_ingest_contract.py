"""The input contract: any centre's export in, every row accounted for, clear errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest import ColumnMapping, InputError, MappingError, ingest_file, load_mapping
from tests.conftest import SECRET, TEDDYCUP

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"
HEADER = "案件编号,受理时间,来源渠道,纠纷类型,案情描述,当事人,联系电话\n"


def _ingest(path, mapping=None, run_date=dt.date(2025, 12, 31)):
    result = ingest_file(path, mapping or ColumnMapping(), SECRET, run_date)
    assert result.rows_in == result.rows_ok + result.rows_quarantined
    return result


def _csv(tmp_path, body, name="cases.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes((HEADER + body).encode(encoding))
    return path


@pytest.fixture(scope="module")
def teddycup():
    if not TEDDYCUP.exists():
        pytest.fail(
            f"the real sample is missing at {TEDDYCUP}; CI must run with ../shared beside the repo"
        )
    return _ingest(
        TEDDYCUP, load_mapping(FIXTURES / "teddycup_mapping.yaml"), run_date=dt.date(2020, 12, 31)
    )


def test_real_complaints_ingest_through_a_mapping(teddycup):
    # The sample really holds one message twice (rows 100 and 312): the repeat is quarantined.
    assert teddycup.rows_in == 495 and teddycup.rows_ok == 494 and teddycup.rows_quarantined == 1
    assert (
        teddycup.quarantine["行号"].tolist() == [312]
        and "第100行" in teddycup.quarantine["原因"].iloc[0]
    )
    cases = teddycup.cases
    assert cases["reported_at"].min() >= pd.Timestamp("2010-01-01")
    assert not cases["description"].str.contains("[\t\n]").any()
    assert set(cases["channel"]) == {"我要报事"}
    assert cases["label:一级分类"].value_counts().sum() == 494
    assert all(len(k) >= 1 for k in cases["party_keys"])


def test_the_same_rows_as_gb18030_and_utf8_bom_csv_ingest_identically(tmp_path, teddycup):
    sheet = pd.read_excel(TEDDYCUP, dtype=str)
    mapping = load_mapping(FIXTURES / "teddycup_mapping.yaml").model_copy(update={"sheet": None})
    frames = []
    for encoding, name in (("gb18030", "gbk.csv"), ("utf-8-sig", "bom.csv")):
        path = tmp_path / name
        sheet.to_csv(path, index=False, encoding=encoding)
        result = _ingest(path, mapping, dt.date(2020, 12, 31))
        frames.append(result.cases.drop(columns=["source_file"]))
        assert result.encoding.replace("_", "").lower() in ("gb18030", "utf8sig")
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], teddycup.cases.drop(columns=["source_file"]))


def test_an_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        _ingest(path)


def test_a_header_only_file_has_no_rows_and_loses_none(tmp_path):
    result = _ingest(_csv(tmp_path, ""))
    assert result.rows_in == 0 and result.cases.empty and result.quarantine.empty


def test_a_missing_required_column_names_it_and_shows_the_fix(tmp_path):
    path = tmp_path / "no_date.csv"
    path.write_text("案件编号,时间,案情描述\nA1,2025-01-01,邻里纠纷\n", encoding="utf-8")
    with pytest.raises(MappingError) as error:
        _ingest(path)
    message = str(error.value)
    assert "reported_at" in message and "受理时间" in message and "时间" in message
    assert "reported_at: <" in message and str(path) in message


def test_a_mapping_naming_a_column_the_file_lacks_is_a_clear_error(tmp_path):
    with pytest.raises(MappingError, match="工单时间"):
        _ingest(
            _csv(tmp_path, "A1,2025-01-01 10:00,12345,邻里纠纷,漏水,,\n"),
            ColumnMapping(columns={"reported_at": "工单时间"}),
        )


def test_bad_rows_go_to_quarantine_with_actionable_reasons(tmp_path):
    body = (
        "A1,2025-03-05 14:20,12345,邻里纠纷,楼上漏水,王秀英,13812345678\n"
        "A1,2025-03-05 14:20,12345,邻里纠纷,楼上漏水,王秀英,13812345678\n"  # exported twice
        "A1,2025-03-06 09:00,110,邻里纠纷,另一件事,李四,\n"  # same id, different case
        "A2,2025-13-45 25:61,12345,邻里纠纷,日期错误,,\n"
        "A3,2025-03-05,12345,邻里纠纷,,,\n"  # empty description
        "A4,2031-01-01 08:00,12345,邻里纠纷,未来日期,,\n"
        ",2025-03-05 10:00,12345,邻里纠纷,没有编号,,\n"
    )
    result = _ingest(_csv(tmp_path, body))
    assert result.rows_in == 7 and result.rows_ok == 1 and result.rows_quarantined == 6
    reasons = dict(zip(result.quarantine["行号"], result.quarantine["原因"], strict=True))
    assert "重复导出" in reasons[3]
    assert "内容不同" in reasons[4]
    assert "2025-13-45" in reasons[5] and "无法识别" in reasons[5]
    assert "案情描述为空" in reasons[6]
    assert "晚于运行日期" in reasons[7]
    assert "案件编号为空" in reasons[8]
    assert not result.quarantine["案情摘要"].str.contains("王秀英|13812345678").any()


def test_embedded_newlines_and_quotes_survive(tmp_path):
    body = 'A1,2025-03-05 14:20,12345,邻里纠纷,"第一行\n第二行，他说""不解决就上访""",王五,\n'
    result = _ingest(_csv(tmp_path, body))
    assert result.rows_ok == 1
    assert result.cases["description"].iloc[0] == '第一行第二行，他说"不解决就上访"'


def test_a_one_megabyte_description_is_scored_truncated_and_flagged(tmp_path):
    result = _ingest(_csv(tmp_path, f"A1,2025-03-05 14:20,12345,邻里纠纷,{'纠纷' * 500_000},,\n"))
    assert result.rows_ok == 1
    assert len(result.cases["description"].iloc[0]) == 5000
    assert "已截断" in result.cases["quality_flags"].iloc[0]


def test_mixed_traditional_text_is_normalised_and_synonyms_are_mapped(tmp_path):
    body = (
        "A1,2025-03-05 14:20,網格員上報,鄰里糾紛,鄰居噪音擾民，揚言報復,,\n"
        "A2,2025-03-05 15:20,微信群,婚姻家庭,噪音,,\n"
    )
    result = _ingest(_csv(tmp_path, body))
    cases = result.cases.set_index("case_id")
    assert cases.loc["A1", "description"] == "邻居噪音扰民，扬言报复"
    assert cases.loc["A1", "channel"] == "网格员" and cases.loc["A1", "dispute_type"] == "邻里纠纷"
    assert cases.loc["A2", "channel"] == "其他渠道" and "微信群" in cases.loc["A2", "quality_flags"]
    assert cases.loc["A2", "dispute_type"] == "婚恋家庭"


def test_mixed_encodings_in_one_file_are_read_line_by_line(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        HEADER.encode("utf-8")
        + "A1,2025-03-05 14:20,12345,邻里纠纷,漏水,,\n".encode()
        + "A2,2025-03-05 15:20,12345,邻里纠纷,噪音扰民,,\n".encode("gb18030")
    )
    result = _ingest(path)
    assert result.rows_ok == 2
    assert result.cases.set_index("case_id").loc["A2", "description"] == "噪音扰民"


def test_dates_in_many_formats_in_one_column(tmp_path):
    body = (
        "A1,2020/1/6 12:09:38,12345,,一,,\nA2,2024年3月5日14时20分,12345,,二,,\n"
        "A3,45356.5,12345,,三,,\nA4,2024-03-05,12345,,四,,\n"
    )
    result = _ingest(_csv(tmp_path, body))
    assert result.cases.set_index("case_id")["reported_at"].dt.strftime(
        "%Y-%m-%d %H:%M"
    ).to_dict() == {
        "A1": "2020-01-06 12:09",
        "A2": "2024-03-05 14:20",
        "A3": "2024-03-05 12:00",
        "A4": "2024-03-05 00:00",
    }


def test_personal_data_is_gone_after_ingest(tmp_path):
    body = "A1,2025-03-05 14:20,群众来访,邻里纠纷,来访人王秀英（身份证号220402199705243210，电话138 1234 5678）反映李建国打人,王秀英、李建国,13812345678\n"
    result = _ingest(_csv(tmp_path, body))
    text = result.cases.to_csv()
    for secret in ("王秀英", "李建国", "220402199705243210", "13812345678", "138 1234 5678"):
        assert secret not in text
    assert (
        result.cases["description"]
        .iloc[0]
        .startswith("来访人当事人甲（身份证号[身份证号]，电话[电话]）")
    )


def test_validating_in_chunks_and_processes_gives_the_serial_result(
    city_csv, tmp_path, monkeypatch
):
    """Chunks see repeats and party names from the whole export, and keep row numbers and order."""
    import features.parallel
    import pipelines.ingest.core as core

    raw = pd.read_csv(city_csv, dtype=str).head(600)
    raw.loc[5, "受理时间"] = "2025-13-45"  # a bad date
    raw.loc[310, "案件编号"] = raw.loc[7, "案件编号"]  # a repeated id in another chunk
    raw.loc[420, "案情描述"] = (
        f"{raw.loc[100, '当事人'].split('、')[0]}又来闹事"  # a name from elsewhere
    )
    path = tmp_path / "cases.csv"
    raw.to_csv(path, index=False)
    serial = _ingest(path)
    monkeypatch.setattr(features.parallel, "PROCESSES_MIN_ROWS", 100)
    monkeypatch.setattr(core, "_CHUNK_ROWS", 150)
    chunked = ingest_file(path, ColumnMapping(), SECRET, dt.date(2025, 12, 31), n_jobs=2)
    assert {7, 312} <= set(serial.quarantine["行号"])  # file lines: the header is line 1
    pd.testing.assert_frame_equal(serial.cases, chunked.cases)
    pd.testing.assert_frame_equal(serial.quarantine, chunked.quarantine)
    assert "[姓名]又来闹事" in serial.cases.set_index("source_row").loc[422, "description"]


def test_a_centres_own_dispute_types_are_kept_as_written_and_flagged(tmp_path):
    body = (
        "B1,2025-03-05 14:20,12345,城乡建设,小区门口道路破损多年无人修,张三,\n"
        "B2,2025-03-05 15:20,12345,婚姻家庭,夫妻长期争吵，女方要求离婚,李四,\n"
        "B3,2025-03-05 16:20,12345,婚姻家庭纠纷,夫妻争吵,王五,\n"
    )
    default = _ingest(_csv(tmp_path, body))
    cases = default.cases.set_index("case_id")
    # fengqiao's own types: known synonyms are unified, anything else kept and flagged.
    assert cases.loc["B1", "dispute_type"] == "城乡建设" and pd.isna(cases.loc["B1", "domain_type"])
    assert "不在分类表中，按原值保留" in cases.loc["B1", "quality_flags"]
    assert cases.loc["B3", "dispute_type"] == "婚恋家庭" == cases.loc["B3", "domain_type"]
    assert "其他" not in set(cases["dispute_type"])

    path = tmp_path / "taxonomy.yaml"
    path.write_text(
        "taxonomy:\n  types: [城乡建设, 婚姻家庭]\n  domain:\n    婚姻家庭: 婚恋家庭\n",
        encoding="utf-8",
    )
    own = _ingest(_csv(tmp_path, body), load_mapping(path)).cases.set_index("case_id")
    assert own["dispute_type"].tolist() == ["城乡建设", "婚姻家庭", "婚姻家庭纠纷"]
    assert own.loc["B2", "domain_type"] == "婚恋家庭"  # the follow-up rule reads this
    assert own.loc["B1", "quality_flags"] == "" and "按原值保留" in own.loc["B3", "quality_flags"]


def test_a_taxonomy_can_only_map_onto_fengqiaos_types(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("taxonomy:\n  domain:\n    婚姻家庭: 家务事\n", encoding="utf-8")
    with pytest.raises(MappingError, match="家务事"):
        load_mapping(path)


def test_an_address_names_the_county_and_counts_as_where(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "案件编号,受理时间,案情描述,发生地址\n"
        "C1,2025-03-05 14:20,楼上漏水多次协商未果,吉林省辽源市龙山区向阳街道新兴社区3号楼\n"
        "C2,2025-03-05 15:20,工地拖欠工资三万元,\n",
        encoding="utf-8",
    )
    cases = _ingest(path).cases.set_index("case_id")
    assert cases.loc["C1", "district"] == "龙山区" and cases.loc["C1", "adcode"].startswith(
        "220402"
    )
    assert pd.isna(cases.loc["C2", "district"])
    assert "何地" not in cases.loc["C1", "missing_elements"]
    assert "address" not in cases  # the address itself (house numbers) is not kept


def test_several_exports_are_one_intake_and_a_repeated_case_number_is_quarantined(tmp_path):
    from pipelines.ingest import combine

    first = _csv(
        tmp_path, "A1,2025-03-05 14:20,12345,邻里纠纷,楼上漏水多次协商未果,王秀英,\n", "a.csv"
    )
    second = _csv(
        tmp_path,
        "A1,2025-03-05 15:00,信访,邻里纠纷,楼上漏水，协商未果，来信反映,王秀英,\n"
        "S2,2025-03-05 16:00,信访,劳资纠纷,工地拖欠工资三万元,赵六,\n",
        "b.csv",
    )
    night = combine([_ingest(first), _ingest(second)])
    assert night.rows_in == 3 == night.rows_ok + night.rows_quarantined
    assert night.cases["case_id"].tolist() == ["A1", "S2"]
    assert night.cases["source_file"].tolist() == [str(first), str(second)]
    reason = night.quarantine["原因"].iloc[0]
    assert str(first) in reason and night.quarantine["源文件"].iloc[0] == str(second)
    assert [p["source"] for p in night.inputs()] == [str(first), str(second)]
    assert [p["rows_quarantined"] for p in night.inputs()] == [0, 1]


def _export(path, rows):
    frame = pd.DataFrame(rows, columns=["案件编号", "受理时间", "案情描述", "当事人"])
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return (path, None)


def test_a_party_listed_in_another_export_or_an_earlier_night_is_masked(tmp_path):
    from pipelines.catalog import store_dir
    from pipelines.config import Settings
    from pipelines.steps import ingest
    from pipelines.store import HistoryStore

    settings = Settings(home=tmp_path / "home")
    first = _export(
        tmp_path / "a.csv", [["A1", "2025-03-01 09:00", "丁波与赵俊因宅基地争吵", "丁波、赵俊"]]
    )
    night_one = ingest([first], settings, None)
    assert "丁波" not in night_one.cases["description"].iloc[0]

    # the next night, 丁波 is only mentioned; a second export of that night lists 邱林浩
    later = _export(
        tmp_path / "b.csv",
        [
            ["B1", "2025-03-02 10:00", "廖志反映丁波又来闹事，邱林浩也在场", "廖志"],
            ["B2", "2025-03-02 11:00", "", "丁波"],  # quarantined: no description
        ],
    )
    other = _export(tmp_path / "c.csv", [["C1", "2025-03-02 12:00", "邱林浩称被打", "邱林浩"]])
    night_two = ingest([later, other], settings, None)
    texts = " ".join(night_two.cases["description"])
    for name in ("丁波", "赵俊", "廖志", "邱林浩"):
        assert name not in texts
    assert night_two.cases.set_index("case_id").loc["B1", "description"].count("[姓名]") == 2
    stored = (store_dir(settings) / "names.parquet").read_bytes().decode("utf-8", "replace")
    assert not any(name in stored for name in ("丁波", "赵俊", "廖志", "邱林浩"))
    assert len(HistoryStore(store_dir(settings)).name_book(settings.secret())) == 4
