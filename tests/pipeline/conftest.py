"""Fixtures for flow tests: a Prefect test server, and one small demo run shared by the tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

DEMO_CASES = 3000


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def _demo_run(prefect_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    result = CliRunner().invoke(app, ["demo", "--cases", str(DEMO_CASES), "--home", str(home)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    _make_sure_of_a_champion(home)
    return home, result.output


def _make_sure_of_a_champion(home) -> None:
    """Later tests score with the champion. On a city this small the first model can end level
    with the keyword checklist and stay challenger (the demo then scores with it and says so);
    promotion has tests of its own (tests/model/test_promotion.py)."""
    import mlflow

    from models.promotion import CHALLENGER, CHAMPION

    client = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    aliases = client.get_registered_model("fengqiao-risk").aliases
    if CHAMPION not in aliases:
        client.set_registered_model_alias("fengqiao-risk", CHAMPION, aliases[CHALLENGER])


@pytest.fixture(scope="session")
def demo_home(_demo_run):
    """Run `fengqiao demo` once on a small city; return its data folder."""
    return _demo_run[0]


@pytest.fixture(scope="session")
def demo_cli_output(_demo_run) -> str:
    """Return what `fengqiao demo` printed."""
    return _demo_run[1]


@pytest.fixture(scope="session")
def demo_day(demo_home):
    """Return the published folder of the demo's scored day."""
    folders = sorted((demo_home / "outputs").iterdir())
    assert len(folders) == 1
    return folders[0]
