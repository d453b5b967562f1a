"""Faults a centre will meet, and personal data: clear messages, no partial output, no leaks."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import DEMO_SECRET
from pipelines.ingest.readers import read_table
from tests.privacy import leaks, personal_data
from tests.support import FENGQIAO, cli_process_env, day_export

pytestmark = pytest.mark.xdist_group("flows")

DAY = "2025-12-31"


def _cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def _prefect_logs_and_artifacts() -> str:
    from prefect.client.orchestration import get_client

    async def read() -> str:
        texts = []
        async with get_client() as client:
            offset = 0
            while batch := await client.read_logs(limit=200, offset=offset):
                texts += [log.message for log in batch]
                offset += len(batch)
            offset = 0
            while batch := await client.read_artifacts(limit=200, offset=offset):
                texts += [f"{a.key} {a.description} {a.data}" for a in batch]
                offset += len(batch)
        return "\n".join(texts)

    return asyncio.run(read())


def test_no_personal_data_or_secret_in_outputs_store_models_or_logs(demo_home, demo_cli_output):
    exports = [read_table(p).frame for p in sorted((demo_home / "demo").glob("*.csv"))]
    secrets = personal_data(pd.concat(exports, ignore_index=True))
    assert len(secrets) > 1000  # names, phones and ID numbers of the demo's parties
    needles = secrets | {DEMO_SECRET}

    # Everything fengqiao wrote: outputs, the scored days, the history store and MLflow (the
    # tracking database and every artifact). `demo/` holds the centre's raw exports: the input.
    assert not leaks(demo_home, needles, skip=("demo/",))
    logs = _prefect_logs_and_artifacts()
    assert "fengqiao" in logs or len(logs) > 0
    assert not [n for n in needles if n in logs]
    assert not [n for n in needles if n in demo_cli_output]


def test_the_site_secret_is_never_shown_in_settings_or_their_repr():
    from pipelines.config import Settings

    settings = Settings(mode="production", site_secret="a-real-site-secret-0123456789")
    assert settings.secret() == "a-real-site-secret-0123456789"
    assert "a-real-site-secret" not in repr(settings) + str(settings.model_dump())


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "needs a site secret"), (DEMO_SECRET, "refuses the demo secret")],
)
def test_production_refuses_to_start_without_a_real_secret(demo_home, tmp_path, secret, message):
    env = {"FENGQIAO_MODE": "production", "FENGQIAO_SITE_SECRET": secret}
    out = tmp_path / "out"
    result = _cli(
        "score", "--cases", str(day_export(demo_home)), "--home", str(demo_home), "--out",
        str(out), env=env,
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output and "FENGQIAO_SITE_SECRET" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_missing_mlflow_store_is_a_clear_error_and_creates_nothing(demo_home, tmp_path):
    home = tmp_path / "empty-home"
    result = _cli("score", "--cases", str(day_export(demo_home)), "--home", str(home))
    assert result.exit_code == 2
    assert "does not exist" in result.output and "fengqiao train" in result.output
    assert not home.exists()


def test_a_locked_mlflow_store_is_a_clear_error_and_publishes_nothing(demo_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    out = tmp_path / "out"
    lock = sqlite3.connect(home / "mlflow" / "mlflow.db", isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        result = _cli(
            "score", "--cases", str(day_export(home)), "--home", str(home), "--out", str(out)
        )
    finally:
        lock.close()
    assert result.exit_code == 2
    assert "is locked by another process" in result.output and "run again" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_no_champion_alias_is_a_clear_error(demo_home, tmp_path):
    result = _cli(
        "score", "--cases", str(day_export(demo_home)), "--home", str(demo_home),
        "--model-name", "no-such-model", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "'champion' alias" in result.output and "fengqiao train" in result.output
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_written_is_a_clear_error(demo_home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _cli(
        "publish", "--date", DAY, "--home", str(demo_home), "--out", str(blocker / "outputs")
    )
    assert result.exit_code == 2
    assert "cannot write the output folder" in result.output
    assert "Traceback" not in result.output and blocker.read_text() == "not a folder"


def test_a_date_that_is_not_a_date_cannot_reach_the_file_system(demo_home, tmp_path):
    result = _cli(
        "publish", "--date", "../../etc", "--home", str(demo_home), "--out", str(tmp_path)
    )
    assert result.exit_code == 2 and "is not a date" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_in_the_days_place_is_replaced_and_its_target_untouched(demo_home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / DAY).symlink_to(outside, target_is_directory=True)

    result = _cli("publish", "--date", DAY, "--home", str(demo_home), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert not (out / DAY).is_symlink() and (out / DAY / "watchlist.csv").exists()
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in out.iterdir()) == [DAY]


def test_a_problem_found_inside_a_flow_ends_with_its_message_not_a_traceback(demo_home, tmp_path):
    # A real process: Prefect logs a failed flow's traceback to the terminal unless told not to.
    result = subprocess.run(
        [FENGQIAO, "publish", "--date", "2025-01-01", "--home", demo_home, "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_process_env(),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "has not been scored" in output and "fengqiao score" in output
    assert "Traceback" not in output and list(tmp_path.iterdir()) == []
