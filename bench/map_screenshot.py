"""Render map.html in headless Chromium (Debian's package) and check the screenshot shows the map.

    python bench/map_screenshot.py [path/to/map.html]

Without a path, a small demo is run into a temporary folder and its map.html is used. The
screenshot goes to bench/results/map.png; the check is that the page drew hexagons, not a blank or
an error page: many distinct colours, and the hot-spot reds among them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, write_results

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
]


def demo_map() -> Path:
    from typer.testing import CliRunner

    from pipelines.cli import app

    home = Path(tempfile.mkdtemp(prefix="fengqiao-map-"))
    result = CliRunner().invoke(app, ["demo", "--cases", "8000", "--home", str(home)])
    if result.exit_code != 0:
        raise SystemExit(f"the demo failed:\n{result.output}")
    return next((home / "outputs").glob("*/map.html"))


def main() -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(
            "FAIL  no chromium on this machine: run `make bench-system` (Debian's chromium package)"
        )
        return 1
    page = Path(sys.argv[1]) if len(sys.argv) > 1 else demo_map()
    RESULTS.mkdir(exist_ok=True)
    shot = RESULTS / "map.png"
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [
                browser,
                *FLAGS,
                "--enable-logging=stderr",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    reds = int(((pixels[:, 0] > 170) & (pixels[:, 1] < 120) & (pixels[:, 2] < 120)).sum())
    ok = colours > 50 and reds > 100 and not errors
    print(
        f"screenshot {shot}: {colours} distinct colours, {reds} red (hot-spot) pixels, {len(errors)} script error(s)"
    )
    for line in errors:
        print("  " + line)
    print(f"{'PASS' if ok else 'FAIL'}  the page drew the map")
    write_results(
        "map_screenshot",
        {
            "page": str(page),
            "colours": colours,
            "red_pixels": reds,
            "script_errors": errors,
            "pass": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
