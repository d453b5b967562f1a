"""A Prefect server for `fengqiao serve`: the one PREFECT_API_URL names, or a local one started here.

Prefect's temporary (ephemeral) server has no scheduler, so schedules served against it never fire.
`serve` therefore needs a real server: the operator's (PREFECT_API_URL), or `prefect server start`
run by this module on 127.0.0.1 with its database under DATA/prefect/, and stopped when serving
stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.errors import UsageError

STARTUP_SECONDS = 180  # a cold server migrates its database first: slow on a busy 2-core machine


def healthy(api_url: str, timeout: float = 5.0) -> bool:
    """Return whether the Prefect API at api_url answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_server(home: Path, port: int | None = None) -> Iterator[str]:
    """Yield the API URL of a Prefect server that runs schedules.

    With PREFECT_API_URL set, that server (it must answer). Else start `prefect server start` on
    127.0.0.1 (database DATA/prefect/prefect.db, log DATA/logs/prefect-server.log), wait until it
    answers, and stop it on exit.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        if not healthy(configured):
            raise UsageError(
                f"PREFECT_API_URL={configured} does not answer: start that server "
                "(`prefect server start`) or unset PREFECT_API_URL to let serve start one"
            )
        yield configured
        return
    from pipelines.catalog import logs_dir, prefect_dir

    port = port or _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    prefect_dir(home).mkdir(parents=True, exist_ok=True)
    logs_dir(home).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_dir(home)),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": os.environ.get("PREFECT_UI_ENABLED", "true"),
    }
    log = (logs_dir(home) / "prefect-server.log").open("ab")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("prefect")),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not healthy(api_url, timeout=2.0):
            if server.poll() is not None or time.monotonic() > deadline:
                raise UsageError(
                    f"the local Prefect server did not start (see {logs_dir(home) / 'prefect-server.log'})"
                )
            time.sleep(0.5)
        yield api_url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
