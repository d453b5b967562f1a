"""Open a page in headless Chromium (Debian's package) and report what a reader's browser did.

Requests are read from Chromium's network log: those the page made carry its origin as initiator
('null' for a file:// page); the browser's own background requests carry 'not an origin' and are
not the page's doing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--virtual-time-budget=5000",
    "--enable-logging=stderr",
]


@dataclass(frozen=True)
class Rendered:
    dom: str  # the document after its scripts ran
    script_errors: list[str]  # uncaught exceptions the console reported
    requests: list[str]  # URLs the page asked for over the network


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise RuntimeError("no chromium: `make browser` installs Debian's package")
    return browser


def render(page: Path, screenshot: Path | None = None) -> Rendered:
    """Load page in headless Chromium; return its DOM, script errors and network requests."""
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "netlog.json"
        run = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--log-net-log={netlog}",
                *([f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]),
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )
        log = json.loads(netlog.read_text(encoding="utf-8"))
    kinds = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    requests = sorted(
        {
            event["params"]["url"]
            for event in log["events"]
            if kinds.get(event["type"]) == "URL_REQUEST_START_JOB"
            and event.get("params", {}).get("initiator") != "not an origin"
            and re.match(r"(https?|wss?)://", event["params"].get("url", ""))
        }
    )
    errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    return Rendered(dom=run.stdout, script_errors=errors, requests=requests)
