"""The nightly job: idempotent re-runs, recovery from a killed run, Dask scale-out, schedules."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.support import FENGQIAO, cli_process_env, day_export, fork_from

pytestmark = pytest.mark.xdist_group("flows")
# The .xlsx is a zip that records when it was written; its cells are compared instead.
SAME_BYTES = ["watchlist.csv", "hotspots.geojson", "report.md", "quarantine.csv"]


def _cells(path: Path) -> list[tuple]:
    import openpyxl

    return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))


def _score(demo_home: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        app,
        [
            "score",
            "--cases",
            str(day_export(demo_home)),
            "--home",
            str(demo_home),
            "--out",
            str(out),
            *extra,
        ],
    )


def test_re_running_a_day_gives_byte_identical_outputs(demo_home, demo_day, tmp_path):
    result = _score(demo_home, tmp_path)
    assert result.exit_code == 0, result.output
    again = tmp_path / demo_day.name
    for name in SAME_BYTES:
        assert (again / name).read_bytes() == (demo_day / name).read_bytes(), name
    assert _cells(again / "watchlist.xlsx") == _cells(demo_day / "watchlist.xlsx")


def test_a_run_killed_while_publishing_leaves_no_partial_day_and_the_rerun_completes(
    demo_home, demo_day, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()
    command = [
        str(FENGQIAO),
        "score",
        "--cases",
        str(day_export(demo_home)),
        "--home",
        str(demo_home),
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command,
        env=cli_process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    staging = []
    while time.time() < deadline and process.poll() is None and not staging:
        staging = list(out.glob(f".{demo_day.name}.partial-*"))
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert staging, "the run ended before it started publishing; cannot test a kill mid-publish"
    assert not (out / demo_day.name).exists()  # nothing half-written under the day's name

    result = _score(demo_home, out)
    assert result.exit_code == 0, result.output
    assert not list(out.glob(".*"))  # the leftover staging folder was cleaned up
    for name in SAME_BYTES:
        assert (out / demo_day.name / name).read_bytes() == (demo_day / name).read_bytes(), name


@pytest.fixture
def dask_cluster(tmp_path):
    """Start a Dask cluster as a user does: `dask scheduler` and two `dask worker` processes on
    localhost, one thread each; yield the scheduler's address, then stop them."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": cli_process_env()}
    processes = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(scheduler_file),
            ],
            **quiet,
        )
    ]
    try:
        deadline = time.time() + 60
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        processes += [
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--local-directory",
                    str(tmp_path / f"worker-{i}"),
                ],
                **quiet,
            )
            for i in range(2)
        ]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_scoring_on_a_two_worker_dask_cluster_matches_local(
    demo_home, demo_day, tmp_path, dask_cluster
):
    """Scored through --dask-address on a cluster started from the command line, in 4
    partitions: the same scores, grades and reasons as scoring whole in one process."""
    result = _score(
        demo_home,
        tmp_path,
        "--executor",
        "dask",
        "--dask-address",
        dask_cluster,
        "--partitions",
        "4",
    )
    assert result.exit_code == 0, result.output
    local = pd.read_parquet(demo_day / "scores.parquet")
    dask = pd.read_parquet(tmp_path / demo_day.name / "scores.parquet")
    pd.testing.assert_frame_equal(local, dask)


def test_the_nightly_flow_finds_the_days_export_in_the_inbox(
    demo_home, demo_day, tmp_path, monkeypatch
):
    """Run in this process, in Prefect's task threads, with the day's context and features
    computed in forks (the small demo city's day, a few cases, is too small for them otherwise): the same
    watchlist as the demo's own run."""
    from pipelines.flows import nightly_flow

    forked = fork_from(monkeypatch, 1)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(day_export(demo_home), inbox / f"综治中心-{demo_day.name}.csv")
    result = nightly_flow(
        str(inbox),
        "综治中心-{date}.csv",
        date=demo_day.name,
        out=str(tmp_path / "out"),
        home=str(demo_home),
    )
    assert Path(result["output"]).name == demo_day.name
    assert (tmp_path / "out" / demo_day.name / "watchlist.csv").read_bytes() == (
        demo_day / "watchlist.csv"
    ).read_bytes()
    assert forked == [2, 2]  # the context, then the features


def test_a_nights_exports_from_several_sources_each_with_its_mapping_are_one_night(
    demo_home, demo_day, tmp_path
):
    """多口进、一口出: the day's reports arrive as a 12345 export and a 信访 export with headers of
    its own (and a mapping beside it); scored together they are the same night as one file."""
    import json

    from pipelines.flows import nightly_flow
    from pipelines.ingest.readers import read_table

    day = read_table(day_export(demo_home)).frame
    inbox = tmp_path / "inbox"
    (inbox / "12345").mkdir(parents=True)
    (inbox / "信访").mkdir()
    half = len(day) // 2
    day.iloc[:half].to_csv(inbox / "12345" / f"{demo_day.name}.csv", index=False)
    day.iloc[half:].rename(columns={"案情描述": "来信内容", "受理时间": "收信日期"}).to_csv(
        inbox / "信访" / f"{demo_day.name}.csv", index=False, encoding="gb18030"
    )
    (inbox / "信访" / "mapping.yaml").write_text(
        "columns:\n  description: 来信内容\n  reported_at: 收信日期\n", encoding="utf-8"
    )
    result = nightly_flow(
        str(inbox), "*/{date}.csv", date=demo_day.name, out=str(tmp_path / "out"),
        home=str(demo_home),
    )  # fmt: skip
    folder = Path(result["output"])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [Path(i["source"]).parent.name for i in manifest["inputs"]] == ["12345", "信访"]
    assert (
        manifest["rows"]["in"]
        == len(day)
        == manifest["rows"]["scored"] + manifest["rows"]["quarantined"]
    )
    together = pd.read_parquet(folder / "scores.parquet").set_index("case_id")
    alone = pd.read_parquet(demo_day / "scores.parquet").set_index("case_id")
    assert together["grade"].sort_index().equals(alone["grade"].sort_index())


def test_deployments_run_nightly_at_two_and_retrain_monthly_in_shanghai_time(tmp_path):
    from pipelines.flows import deployments

    nightly, monthly = deployments(str(tmp_path), "{date}.csv", None, None, str(tmp_path))
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert monthly.schedules[0].schedule.cron == "0 3 1 * *"
    assert {d.schedules[0].schedule.timezone for d in (nightly, monthly)} == {"Asia/Shanghai"}
    assert nightly.parameters["inbox"] == str(tmp_path)


def test_the_monthly_retrain_runs_on_the_store_and_promotes_only_a_better_model(
    demo_home, tmp_path, monkeypatch
):
    """On a copy of the demo's data: a weak champion is replaced by the retrain, and a second
    retrain on the same history, no better than the first, is refused."""
    import mlflow

    from models.grader import GraderConfig
    from models.promotion import CHAMPION
    from pipelines import steps
    from pipelines.catalog import connect, store_dir
    from pipelines.config import Settings
    from pipelines.flows import retrain_flow
    from pipelines.store import HistoryStore

    monkeypatch.setenv("FENGQIAO_TEXT_CANDIDATES", "2")
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    settings = Settings(home=home, text_candidates=2)
    connect(settings)
    stored = HistoryStore(store_dir(settings)).read()
    cases = stored[stored["risk_grade"].notna()].drop(columns=["group_id", "written_at"])
    from features.context import build_context
    from pipelines.contracts import TrainRequest
    from pipelines.ingest import IngestResult

    weak = steps.train_and_register(
        build_context(cases.reset_index(drop=True)),
        IngestResult(cases, pd.DataFrame(), "store", "store", None, None, len(cases)),
        settings,
        TrainRequest(
            GraderConfig(stack="boosters", text_budget_seconds=0, num_leaves=2, max_rounds=2,
                         early_stopping_rounds=1, text_max_features=5),
            "fengqiao-risk",
            baselines=False,
        ),
    )  # fmt: skip
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("fengqiao-risk", CHAMPION, weak.version)

    first = retrain_flow(home=str(home), as_of="2025-12-31")
    assert first["promoted"], first["decision"]
    champion = str(client.get_model_version_by_alias("fengqiao-risk", CHAMPION).version)
    assert champion == first["version"] != weak.version
    second = retrain_flow(home=str(home), as_of="2025-12-31")
    assert not second["promoted"] and "not above" in second["decision"]
    assert str(client.get_model_version_by_alias("fengqiao-risk", CHAMPION).version) == champion
    tags = client.get_model_version("fengqiao-risk", second["version"]).tags
    assert tags["promotion.decision"] == "refused"
    # Each retrain records a digest of the store's cases it learnt from: the same history, the same.
    digests = [
        client.get_run(client.get_model_version("fengqiao-risk", r["version"]).run_id).data.tags[
            "data.sha256"
        ]
        for r in (first, second)
    ]
    assert digests[0] == digests[1] and len(digests[0]) == 64 and digests[0] != "0" * 64


def _due_soon(lead_seconds: int = 50) -> tuple[str, pd.Timestamp]:
    """Return the first whole minute (HH:MM, Asia/Shanghai) at least lead_seconds away, and it."""
    now = pd.Timestamp.now(tz="Asia/Shanghai")
    due = (now + pd.Timedelta(seconds=lead_seconds)).ceil("min")
    return f"{due:%H:%M}", due


def _serve(home: Path, inbox: Path, out: Path, at: str, env: dict, log: Path) -> subprocess.Popen:
    command = [str(FENGQIAO), "serve", "--inbox", str(inbox), "--pattern", "day.csv"]
    command += ["--nightly", at, "--port", "0", "--home", str(home), "--out", str(out)]
    return subprocess.Popen(
        command,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(
    condition, process: subprocess.Popen, log: Path, seconds: float, poll: float = 1.0
) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
        time.sleep(poll)
    assert condition(), log.read_text(encoding="utf-8")[-3000:]


@pytest.fixture
def serving_home(demo_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)  # serving writes the night into the store
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(day_export(demo_home), inbox / "day.csv")
    env = {k: v for k, v in cli_process_env().items() if not k.startswith("PREFECT_API")}
    # The scheduler and the runner poll every 5 s instead of 60 s and 10 s: the same path, sooner.
    env |= {
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_RUNNER_POLL_FREQUENCY": "5",
    }
    return home, inbox, env


def test_a_served_schedule_fires_on_the_prefect_server_and_publishes(
    serving_home, tmp_path, monkeypatch
):
    """Production: a Prefect server is already running (PREFECT_API_URL); `fengqiao serve` with
    the nightly set a minute ahead gets a run from the server's scheduler, which publishes
    yesterday's day (Asia/Shanghai). Stopping serve leaves the operator's server running."""
    from pipelines.server import healthy, prefect_server

    home, inbox, env = serving_home
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # start the operator's own server
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
    out, log = tmp_path / "out", tmp_path / "serve.log"
    with prefect_server(tmp_path / "operator") as api_url:
        at, due = _due_soon()
        serving = _serve(home, inbox, out, at, {**env, "PREFECT_API_URL": api_url}, log)
        yesterday = (due.normalize() - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        published = out / yesterday / "watchlist.csv"  # renamed into place once the day is whole
        try:
            _wait_for(published.exists, serving, log, 420)
        finally:
            serving.send_signal(signal.SIGTERM)
            serving.wait(timeout=120)
        assert healthy(api_url)  # not serve's to stop
    text = log.read_text(encoding="utf-8")
    assert f"serving against the Prefect server at {api_url}" in text
    assert (out / yesterday / "hotspots.geojson").exists()
    assert "Traceback" not in text
    assert "Downloading artifacts" not in text  # MLflow's progress bars stay out of the log


def test_serve_without_a_server_starts_one_in_the_data_folder_and_stops_it(serving_home, tmp_path):
    """SIGTERM comes the moment serving begins, before Prefect's runner has its own handler: the
    default one used to kill serve on the spot and leave the local server running."""
    from pipelines.server import healthy

    home, inbox, env = serving_home
    log = tmp_path / "serve.log"
    serving = _serve(home, inbox, tmp_path / "out", "02:00", env, log)
    try:
        _wait_for(
            lambda: "being served" in log.read_text(encoding="utf-8"), serving, log, 300, 0.01
        )
    finally:
        serving.send_signal(signal.SIGTERM)
        serving.wait(timeout=120)
    text = log.read_text(encoding="utf-8")
    api_url = re.search(r"the Prefect server at (http://127\.0\.0\.1:\d+/api)", text).group(1)
    assert (home / "prefect" / "prefect.db").exists()  # its database, in DATA/prefect
    assert serving.returncode == 0, text
    assert "Traceback" not in text and "stopped serving" in text, text
    assert not healthy(api_url)  # the local server stopped with serve


def test_serve_refuses_a_prefect_api_url_that_does_not_answer(demo_home, tmp_path):
    env = {**cli_process_env(), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    result = subprocess.run(
        [str(FENGQIAO), "serve", "--inbox", str(tmp_path), "--home", str(demo_home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "PREFECT_API_URL=http://127.0.0.1:9/api does not answer" in result.stderr
    assert "Traceback" not in result.stderr
