"""The whole chain on a small demo city: demo, train and score verbs, every output's shape."""

from __future__ import annotations

import csv
import json

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.publish.watchlist import COLUMNS
from tests.support import write_square_grid

pytestmark = pytest.mark.xdist_group("flows")

OUTPUTS = [
    "watchlist.csv",
    "watchlist.xlsx",
    "scores.parquet",
    "hotspots.geojson",
    "map.html",
    "report.md",
    "七何退回清单.csv",
    "quarantine.csv",
    "manifest.json",
]


def test_demo_publishes_every_output(demo_day):
    assert sorted(p.name for p in demo_day.iterdir()) == sorted(OUTPUTS)
    assert not list(demo_day.parent.glob(".*"))  # no staging folder left behind


def test_watchlist_is_excel_ready_chinese_and_graded(demo_day):
    raw = (demo_day / "watchlist.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader((demo_day / "watchlist.csv").open(encoding="utf-8-sig")))
    assert list(rows[0]) == COLUMNS
    assert {r["风险等级"] for r in rows} <= {"高", "中", "低"}
    assert {r["预警单"] for r in rows} <= {"红色督办单", "黄色交办单", "蓝色预警单"}
    for r in rows:
        expected = {"高": "红色督办单", "中": "黄色交办单"}.get(r["风险等级"], "蓝色预警单")
        assert r["预警单"] == expected
    rank = [("高", "中", "低").index(r["风险等级"]) for r in rows]
    assert rank == sorted(rank)
    assert all(r["主要原因"] for r in rows if r["风险等级"] == "高")
    sheet = openpyxl.load_workbook(demo_day / "watchlist.xlsx").active
    assert sheet.max_row == len(rows) + 1


def test_scores_parquet_has_the_machine_fields(demo_day):
    scores = pd.read_parquet(demo_day / "scores.parquet")
    for column in (
        "case_id",
        "grade",
        "score",
        "p_high",
        "p_medium",
        "p_low",
        "reasons",
        "group_id",
        "model_name",
        "model_version",
    ):
        assert column in scores
    assert ((scores[["p_high", "p_medium", "p_low"]].sum(axis=1) - 1).abs() < 1e-9).all()
    assert scores["score"].between(0, 100).all()


def test_feed_map_report_and_manifest(demo_day, demo_cli_output):
    feed = json.loads((demo_day / "hotspots.geojson").read_text(encoding="utf-8"))
    assert feed["type"] == "FeatureCollection" and feed["features"]
    layers = {f["properties"]["layer"] for f in feed["features"]}
    assert "cell" in layers
    cell = next(f for f in feed["features"] if f["properties"]["layer"] == "cell")["properties"]
    for key in (
        "n_高",
        "n_中",
        "n_低",
        "types",
        "mean_score",
        "gi_z",
        "gi_p",
        "hot_class",
        "trend",
    ):
        assert key in cell
    page = (demo_day / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in page and "https://cdn" not in page and "<script src=" not in page
    report = (demo_day / "report.md").read_text(encoding="utf-8")
    for heading in (
        "总体情况",
        "分纠纷类型",
        "分区县",
        "重点热点区域",
        "重点案件",
        "数据质量",
        "研判模型",
    ):
        assert heading in report
    manifest = json.loads((demo_day / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    assert rows["in"] == rows["scored"] + rows["quarantined"] and rows["scored"] > 0
    # The demo scores with the champion, or with the challenger when it said it was not promoted.
    alias = "@champion" if "promoted to champion" in demo_cli_output else "@challenger"
    assert manifest["inputs"][0]["sha256"] and manifest["model"]["uri"].endswith(alias)
    assert set(manifest["outputs"]) == set(OUTPUTS) - {"manifest.json"}


def test_train_and_score_verbs_work_on_csv_exports(demo_home, tmp_path):
    runner = CliRunner()
    history, day = demo_home / "demo" / "history.csv", next((demo_home / "demo").glob("day-*.csv"))
    home = tmp_path / "verbs"
    trained = runner.invoke(
        app,
        ["train", "--cases", str(history), "--no-backtest", "--into-store", "--home", str(home)],
    )
    assert trained.exit_code == 0, trained.output
    assert "promoted to champion" in trained.output
    scored = runner.invoke(
        app, ["score", "--cases", str(day), "--home", str(home), "--out", str(tmp_path / "out")]
    )
    assert scored.exit_code == 0, scored.output
    folder = next((tmp_path / "out").iterdir())
    assert (folder / "watchlist.csv").exists() and (folder / "manifest.json").exists()


def test_a_missing_required_column_is_an_error_without_a_traceback(demo_home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("编号,内容\n1,邻里纠纷\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "--cases", str(bad), "--home", str(demo_home)])
    assert result.exit_code == 2
    assert (
        "reported_at" in result.output
        and "受理时间" in result.output
        and "Traceback" not in result.output
    )


@pytest.mark.parametrize("period", ["周报", "月报"])
def test_weekly_and_monthly_reports(demo_home, demo_day, tmp_path, period):
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--date",
            demo_day.name,
            "--period",
            period,
            "--home",
            str(demo_home),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / f"{period}-{demo_day.name}.md").read_text(encoding="utf-8")
    assert f"（{period}）" in text and "分纠纷类型" in text and "重点热点区域" in text


def test_publishing_on_the_centres_own_polygons(demo_home, demo_day, tmp_path):
    boundaries = write_square_grid(
        tmp_path / "areas.geojson",
        (124.70, 42.40),
        (0.1, 0.08),
        (12, 10),
        "名称",
        "片区{i:02d}{j:02d}",
    )
    result = CliRunner().invoke(
        app,
        [
            "publish",
            "--date",
            demo_day.name,
            "--home",
            str(demo_home),
            "--out",
            str(tmp_path / "out"),
            "--boundaries",
            str(boundaries),
            "--boundary-id",
            "名称",
        ],
    )
    assert result.exit_code == 0, result.output
    feed = json.loads(
        (tmp_path / "out" / demo_day.name / "hotspots.geojson").read_text(encoding="utf-8")
    )
    cells = [
        f["properties"]["cell"] for f in feed["features"] if f["properties"]["layer"] == "cell"
    ]
    assert len(cells) == 120 and all(c.startswith("片区") for c in cells)
    assert feed["fengqiao"]["cells"] == "boundary polygons"
