"""Render map.html in headless Chromium (Debian's package) and check the screenshot shows the map.

    python bench/map_screenshot.py [path/to/map.html]

Without a path, a small demo is run into a temporary folder and its map.html is used. The
screenshot goes to bench/results/map.png; the check is that the page drew hexagons, not a blank or
an error page: many distinct colours, and the hot-spot reds among them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, write_results


def demo_map() -> Path:
    from typer.testing import CliRunner

    from pipelines.cli import app

    home = Path(tempfile.mkdtemp(prefix="fengqiao-map-"))
    result = CliRunner().invoke(app, ["demo", "--cases", "8000", "--home", str(home)])
    if result.exit_code != 0:
        raise SystemExit(f"the demo failed:\n{result.output}")
    return next((home / "outputs").glob("*/map.html"))


def main() -> int:
    from tests.browser import render

    page = Path(sys.argv[1]) if len(sys.argv) > 1 else demo_map()
    RESULTS.mkdir(exist_ok=True)
    shot = RESULTS / "map.png"
    shown = render(page, screenshot=shot)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    reds = int(((pixels[:, 0] > 170) & (pixels[:, 1] < 120) & (pixels[:, 2] < 120)).sum())
    ok = colours > 50 and reds > 100 and not shown.script_errors and not shown.requests
    print(
        f"screenshot {shot}: {colours} distinct colours, {reds} red (hot-spot) pixels, "
        f"{len(shown.script_errors)} script error(s), {len(shown.requests)} network request(s)"
    )
    for line in [*shown.script_errors, *shown.requests]:
        print("  " + line)
    print(f"{'PASS' if ok else 'FAIL'}  the page drew the map offline")
    write_results(
        "map_screenshot",
        {
            "page": str(page),
            "colours": colours,
            "red_pixels": reds,
            "script_errors": shown.script_errors,
            "requests": shown.requests,
            "pass": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
