"""The 稳定专报's numbers: like-for-like comparisons and missing days, on synthetic periods."""

import h3
import pandas as pd

from models.hotspots import H3Cells, name_cells
from pipelines.contracts import ModelInfo
from pipelines.publish.periodic import scored_days
from pipelines.publish.report import ReportInputs, build_report

END = pd.Timestamp("2025-06-30")


def _cases(start: pd.Timestamp, days: int, per_day: dict[str, int]) -> pd.DataFrame:
    """Return `days` days of cases from `start`, per_day[type] cases of each type on each day."""
    rows = []
    for d in range(days):
        for kind, n in per_day.items():
            for k in range(n):
                rows.append(
                    {
                        "case_id": f"{kind}-{d}-{k}",
                        "reported_at": start + pd.Timedelta(days=d, hours=9),
                        "dispute_type": kind,
                        "district": "龙山区",
                        "community": "新兴社区",
                        "grade": "低",
                        "score": 10.0,
                        "description": "邻里纠纷",
                        "dispatch_reasons": "",
                        "ticket": "",
                    }
                )
    return pd.DataFrame(rows)


def _table(report: str, heading: str) -> dict[str, list[str]]:
    """Return the rows of the table under a heading: first cell -> the other cells."""
    section = report.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def _report(current, previous, period="周报", missing=()) -> str:
    return build_report(
        ReportInputs(
            run_date=END,
            current=current,
            previous=previous,
            ticketed=current,
            cells=pd.DataFrame(),
            quarantine=pd.DataFrame(),
            rows_in=len(current),
            model=ModelInfo(name="m", version="1", data_cutoff="2025-06-01"),
            period=period,
            missing_days=tuple(missing),
        )
    )


def test_a_flat_week_shows_no_change_and_a_doubled_type_shows_plus_100_percent():
    start = END - pd.Timedelta(days=6)
    previous = _cases(start - pd.Timedelta(days=7), 7, {"邻里纠纷": 4, "劳资纠纷": 2})
    current = _cases(start, 7, {"邻里纠纷": 4, "劳资纠纷": 4, "物业纠纷": 1})
    report = _report(current, previous)
    types = _table(report, "## 三、分纠纷类型")
    # columns: total, daily mean, the previous days' daily mean, change of the daily means
    assert types["邻里纠纷"] == ["28", "4.0", "4.0", "+0%"]
    assert types["劳资纠纷"] == ["28", "4.0", "2.0", "+100%"]
    assert types["物业纠纷"] == ["7", "1.0", "0.0", "新增"]
    assert "日均 9.0 件，较前7天日均6.0件+50%" in report
    assert "没有研判结果" not in report


def test_missing_days_are_named_and_left_out_of_the_daily_means():
    start = END - pd.Timedelta(days=6)
    previous = _cases(start - pd.Timedelta(days=7), 7, {"邻里纠纷": 10})
    # only the last two days of the week were scored, at the same rate as the week before
    current = _cases(END - pd.Timedelta(days=1), 2, {"邻里纠纷": 10})
    missing = [f"{start + pd.Timedelta(days=d):%Y-%m-%d}" for d in range(5)]
    report = _report(current, previous, missing=missing)
    assert "统计期 7 天中有 5 天没有研判结果（2025-06-24、2025-06-25" in report
    assert "日均按已研判的 2 天计算" in report
    assert _table(report, "## 三、分纠纷类型")["邻里纠纷"] == ["20", "10.0", "10.0", "+0%"]


def test_a_comparison_window_the_store_only_partly_holds_is_averaged_over_its_days():
    previous = _cases(END - pd.Timedelta(days=3), 3, {"邻里纠纷": 6})  # 3 of 7 days stored
    current = _cases(END, 1, {"邻里纠纷": 3})
    report = _report(current, previous, period="日报")
    assert _table(report, "## 三、分纠纷类型")["邻里纠纷"] == ["3", "3.0", "6.0", "-50%"]
    assert "较前3天日均6.0件-50%" in report


def test_a_first_day_from_an_export_without_types_or_places_reads_cleanly():
    """Nothing scored before: no comparison columns (no 前0天, no 新增); a 高 case without a
    dispute type or a place says 未知 and leaves the place empty, never None or nan."""
    current = _cases(END, 1, {"邻里纠纷": 2}).assign(
        dispute_type=[None, pd.NA], district=pd.NA, community=None, grade="高", score=80.0
    )
    report = _report(current, current.iloc[:0], period="日报")
    assert _table(report, "## 三、分纠纷类型") == {"未知": ["2", "2.0"]}
    assert "前0天" not in report and "新增" not in report
    assert list(_table(report, "## 二、分风险等级")) == ["高"]
    top = _table(report, "## 六、重点案件")
    assert [cells[:2] for cells in top.values()] == [["未知", ""], ["未知", ""]]
    assert "None" not in report and "nan" not in report.lower()


def test_the_grades_table_reads_高_中_低_whatever_the_counts():
    current = _cases(END, 1, {"邻里纠纷": 6}).assign(grade=["低", "低", "低", "中", "中", "高"])
    previous = _cases(END - pd.Timedelta(days=1), 1, {"邻里纠纷": 1})
    assert list(_table(_report(current, previous, "日报"), "## 二、分风险等级")) == [
        "高",
        "中",
        "低",
    ]


def test_scored_days_lists_the_periods_unscored_days(tmp_path):
    for day in ("2025-06-28", "2025-06-30"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "meta.json").write_text("{}")
    folders, missing = scored_days(tmp_path, END, 3)
    assert [f.name for f in folders] == ["2025-06-28", "2025-06-30"]
    assert missing == ["2025-06-29"]


def test_hexagons_named_after_one_community_read_differently():
    centre = h3.latlng_to_cell(30.0, 104.0, 9)
    ring = sorted(h3.grid_ring(centre, 1))[:3]
    rows = []
    for cell, split in zip(
        [centre, *ring],
        [
            {"下锦绣社区": 10},
            {"下锦绣社区": 8},
            {"下锦绣社区": 5},
            {"下锦绣社区": 38, "兴华社区": 31, "南金城社区": 21},
        ],
        strict=True,
    ):
        lat, lon = h3.cell_to_latlng(cell)
        for community, n in split.items():
            rows += [
                {"lat": lat, "lon": lon, "district": "", "street": "", "community": community}
            ] * n
    cases = pd.DataFrame(rows)
    cells = pd.DataFrame({"cell": [centre, *ring], "layer": "cell", "label": ""})
    labels = name_cells(cells, cases, H3Cells(resolution=9))["label"].tolist()
    assert len(set(labels)) == 4, labels
    assert labels[3] == "下锦绣社区 42%、兴华社区 34%"
    assert all(label.startswith("下锦绣社区（") for label in labels[:3]), labels
