"""Real exports, end to end: real complaints and court narratives as a centre would hand them over.

No coordinates, the centre's own categories, a careless GB18030 export with broken rows and
planted phone and ID numbers. Each run is a `fengqiao` command as a user types it; each checks
every output file, that every row is accounted for, that nothing crashed, and that nothing
planted leaks. The data lies in ../shared/data/real (see tests/real_exports.py): without it these
tests skip with the reason, except under CI, where its absence fails them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.publish.watchlist import CLASS_COLUMNS, COLUMNS
from tests.privacy import leaks
from tests.published import outputs, snapshot_of
from tests.real_exports import (
    COMPLAINT_CLASSES,
    complaints_dev,
    complaints_dev_frame,
    complaints_frame,
    complaints_sample,
    require_real_data,
    write_exports,
)

pytestmark = pytest.mark.xdist_group("real-flows")

OUTPUTS = {
    "watchlist.csv",
    "watchlist.xlsx",
    "scores.parquet",
    "hotspots.geojson",
    "map.html",
    "report.md",
    "七何退回清单.csv",
    "quarantine.csv",
    "manifest.json",
}
# Small data trains in seconds a fold; the settings search tries three settings.
FAST = {"FENGQIAO_TEXT_CANDIDATES": "3"}


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=FAST)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


# Session scope: xdist may run other modules' tests between these, and a module fixture would then
# be built again, with a new, empty data home.
@pytest.fixture(scope="session")
def real(prefect_server, tmp_path_factory):
    """Write the real exports; return (data home, exports, what was planted, raw user ids)."""
    require_real_data()
    exports, planted = write_exports(tmp_path_factory.mktemp("real-exports"))
    # Every raw party identifier of the complaints (留言用户) must stay inside the pipeline too.
    users = set(complaints_sample()["留言用户"].astype(str))
    return tmp_path_factory.mktemp("real-home"), exports, planted, users


def _strict_json(path) -> dict:
    """Read JSON as a browser's JSON.parse does: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _published(folder) -> dict:
    assert {p.name for p in folder.iterdir()} == OUTPUTS
    manifest = _strict_json(folder / "manifest.json")
    rows = manifest["rows"]
    assert rows["in"] == rows["scored"] + rows["quarantined"]
    assert sum(i["rows_in"] for i in manifest["inputs"]) == rows["in"]
    feed = _strict_json(folder / "hotspots.geojson")
    assert feed["type"] == "FeatureCollection" and isinstance(feed["features"], list)
    return manifest


@pytest.fixture(scope="session")
def category_model(real) -> str:
    """Train a dispute-type model on the messy export's own categories; return what train
    printed. The tests that score with it ask for it, whatever order they run in."""
    home, exports, _, _ = real
    return _run(
        "train", "--cases", str(exports["messy"]), "--target", "dispute_type",
        "--home", str(home),
    )  # fmt: skip


def test_a_dispute_type_model_trains_on_a_messy_export_of_the_centres_own_categories(
    category_model,
):
    out = category_model
    assert "fengqiao-dispute_type v1" in out
    # The backtest ran on folds of equal numbers of cases (the messages span eight years), and
    # the promotion decision against the baselines was said either way.
    assert "fold3" in out and "overall" in out
    assert "promoted to champion" in out or "does not beat the baseline" in out


@pytest.fixture(scope="session")
def category_day(real, category_model):
    """Score the other 2,310 complaints with the dispute-type model; return the published day."""
    home, exports, _, _ = real
    _run(
        "score", "--cases", str(exports["dev"]),
        "--model-name", "fengqiao-dispute_type@challenger", "--home", str(home),
    )  # fmt: skip
    return next((home / "outputs" / "fengqiao-dispute_type").iterdir())


def test_it_scores_another_real_export_with_the_complaints_own_seven_classes(real, category_day):
    home, _, _, users = real
    day = category_day
    manifest = _published(day)
    assert manifest["rows"]["in"] == 2310 and manifest["model"]["task"] == "classes"
    scores = pd.read_parquet(day / "scores.parquet")
    assert (
        set(scores["predicted_class"]) <= COMPLAINT_CLASSES
        and len(set(scores["predicted_class"])) == 7
    )
    assert (scores["probability"] >= scores["runner_up_probability"]).all()
    assert "grade" not in scores and "p_high" not in scores
    watchlist = pd.read_csv(day / "watchlist.csv", encoding="utf-8-sig", dtype=str)
    assert list(watchlist.columns) == CLASS_COLUMNS
    assert len(watchlist) == 2310 and "预警单" not in watchlist  # no tickets it cannot know
    # The complaints' own categories, as the export wrote them, are how well it did.
    truth = complaints_dev_frame(complaints_dev()).set_index("案件编号")["纠纷类型"]
    predicted = watchlist.set_index("案件编号")["预测类别"]
    accuracy = (predicted == truth.loc[predicted.index]).mean()
    assert accuracy > 0.7, accuracy
    report = (day / "report.md").read_text(encoding="utf-8")
    assert "分类模型" in report and "无法定位" in report  # no coordinates: said, not crashed
    assert "红色督办单" not in report
    assert not leaks(home / "outputs", users)


def test_the_larger_complaints_set_trains_and_grades_the_sample(real):
    home, exports, _, _ = real
    _run(
        "train", "--cases", str(exports["dev"]), "--target", "dispute_type",
        "--model-name", "complaints-large", "--no-backtest", "--home", str(home),
    )  # fmt: skip
    _run(
        "score", "--cases", str(exports["sample"]), "--model-name", "complaints-large@challenger",
        "--home", str(home),
    )  # fmt: skip
    day = next((home / "outputs" / "complaints-large").iterdir())
    _published(day)
    scores = pd.read_parquet(day / "scores.parquet").set_index("case_id")
    truth = complaints_frame(complaints_sample()).drop_duplicates("案件编号").set_index("案件编号")
    accuracy = (scores["predicted_class"] == truth.loc[scores.index, "纠纷类型"]).mean()
    assert accuracy > 0.75, accuracy


@pytest.fixture(scope="session")
def court(real) -> tuple[str, Path]:
    """Train the severity grader on the graded court narratives and score the court's new
    referrals with it, before any other export is scored into the home (the messy export's day
    would otherwise be among the previous days its report compares with); return what train
    printed and the published day. The tests that need them ask, whatever order they run in."""
    home, exports, _, _ = real
    printed = _run("train", "--cases", str(exports["court"]), "--home", str(home))
    _run(
        "score", "--cases", str(exports["court_new"]), "--model-name", "fengqiao-risk@challenger",
        "--home", str(home),
    )  # fmt: skip
    day = next(
        d
        for d in (home / "outputs").glob("????-??-??")
        if exports["court_new"].name in (d / "manifest.json").read_text(encoding="utf-8")
    )
    return printed, day


@pytest.fixture(scope="session")
def court_grader(court) -> str:
    return court[0]


@pytest.fixture(scope="session")
def court_day(court) -> Path:
    return court[1]


def test_court_narratives_train_a_severity_grader_and_score_new_referrals(court_grader, court_day):
    assert "fengqiao-risk v1" in court_grader and "fold1" in court_grader
    day = court_day
    manifest = _published(day)
    assert manifest["model"]["task"] == "risk"
    watchlist = pd.read_csv(day / "watchlist.csv", encoding="utf-8-sig", dtype=str)
    assert list(watchlist.columns) == COLUMNS
    assert set(watchlist["风险等级"]) <= {"高", "中", "低"}
    scores = pd.read_parquet(day / "scores.parquet")
    assert manifest["rows"]["scored"] == len(scores) > 300


def test_the_messy_gb18030_export_publishes_everything_and_leaks_nothing(real, court_grader):
    home, exports, planted, users = real
    out = _run(
        "score", "--cases", str(exports["messy"]), "--model-name", "fengqiao-risk@challenger",
        "--home", str(home),
    )  # fmt: skip
    day = next(
        d
        for d in (home / "outputs").glob("????-??-??")
        if "12345-导出.csv" in (d / "manifest.json").read_text(encoding="utf-8")
    )
    manifest = _published(day)
    assert manifest["inputs"][0]["encoding"] == "gb18030"
    assert (
        manifest["rows"]["in"] == 496 and manifest["rows"]["quarantined"] >= planted["broken_rows"]
    )
    quarantine = pd.read_csv(day / "quarantine.csv", encoding="utf-8-sig", dtype=str)
    reasons = "；".join(quarantine["原因"])
    for expected in ("案情描述为空", "无法识别", "重复", "字段"):
        assert expected in reasons
    assert quarantine["行号"].notna().all()
    feed = json.loads((day / "hotspots.geojson").read_text(encoding="utf-8"))
    assert feed["features"] == []  # nothing locates these messages: a valid, empty feed
    assert "无法上图" in (day / "map.html").read_text(encoding="utf-8")
    needles = {*planted["phones"], *planted["ids"], *planted["names"], *users}
    needles |= {p.replace("-", "") for p in planted["phones"]}
    assert not leaks(home, needles), "planted personal data reached an output"
    assert not [n for n in needles if n in out]


def test_the_real_suite_publishes_and_registers_what_its_snapshot_holds(
    real, court_day, category_day, json_snapshot
):
    """Scores, outputs and MLflow contents of both real models stay what they were (see
    tests/pipeline/test_same_outputs.py for how to update the snapshot on purpose)."""
    home = real[0]
    found = outputs(home, days=[court_day], model="fengqiao-risk", label="court")
    found |= outputs(home, days=[category_day], model="fengqiao-dispute_type", label="complaints")
    assert snapshot_of(found) == json_snapshot
