"""Nothing reaches past the machine: the libraries' usage telemetry is off wherever fengqiao runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Every host name a process looks up (socket.getaddrinfo) is recorded by an audit hook installed
# before anything is imported; then the package is imported as a notebook would, and an MLflow run
# is logged, which without the package's defaults looks up config.mlflow-telemetry.io.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    hosts = []
    sys.addaudithook(lambda event, args: hosts.append(str(args[0])) if event == "socket.getaddrinfo" else None)

    import pipelines.catalog  # noqa: F401
    import mlflow
    from mlflow.telemetry.utils import is_telemetry_disabled
    from prefect._internal.analytics import is_telemetry_enabled

    mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
    mlflow.set_experiment("offline")
    with mlflow.start_run():
        mlflow.log_param("grader", "risk")
    print(json.dumps({
        "hosts": sorted(set(hosts)),
        "mlflow_telemetry_off": is_telemetry_disabled(),
        "prefect_telemetry_on": is_telemetry_enabled(),
    }))
    """
)


def test_no_telemetry_lookup_from_a_plain_environment(tmp_path):
    # A bare environment, as on a centre's machine: no CI or pytest variables, which the libraries
    # would otherwise read as a reason to stay quiet.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["mlflow_telemetry_off"] is True
    assert found["prefect_telemetry_on"] is False
    assert [h for h in found["hosts"] if h not in ("localhost", "127.0.0.1", "::1")] == []


def test_an_operators_own_setting_wins(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    read = "import os, pipelines; print(os.environ['DO_NOT_TRACK'], os.environ['MLFLOW_DISABLE_TELEMETRY'])"
    run = subprocess.run(
        [sys.executable, "-c", read],
        env={**env, "MLFLOW_DISABLE_TELEMETRY": "false"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout.split() == ["true", "false"]
