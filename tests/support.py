"""Helpers the tests share: the installed CLI as a process, the demo's exports, boundary files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FENGQIAO = Path(sys.executable).with_name("fengqiao")


def cli_process_env() -> dict[str, str]:
    """Return the environment for a `fengqiao` process that talks to the tests' Prefect server."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}


def fork_from(monkeypatch, min_rows: int) -> list[int]:
    """Make the context and the featuriser fork from min_rows rows; return the list that records
    the jobs of each of their in_forks calls."""
    import features.context
    import features.featuriser
    import features.parallel

    calls: list[int] = []

    def in_forks(functions, jobs):
        calls.append(jobs)
        return features.parallel.in_forks(functions, jobs)

    monkeypatch.setattr(features.parallel, "FORK_MIN_ROWS", min_rows)
    for module in (features.context, features.featuriser):
        monkeypatch.setattr(module, "in_forks", in_forks)
    return calls


def day_export(home: Path) -> Path:
    """Return the export of the day that `fengqiao demo` scored under home."""
    return next((home / "demo").glob("day-*.csv"))


def write_square_grid(
    path: Path,
    origin: tuple[float, float],
    cell: tuple[float, float],
    shape: tuple[int, int],
    key: str,
    name: str,
) -> Path:
    """Write a GeoJSON of shape[0] x shape[1] rectangles from origin (lon, lat), each cell (width,
    height) degrees, named by property `key` as name.format(i=column, j=row); return the path."""
    features = []
    for i in range(shape[0]):
        for j in range(shape[1]):
            x0, y0 = origin[0] + i * cell[0], origin[1] + j * cell[1]
            x1, y1 = x0 + cell[0], y0 + cell[1]
            features.append(
                {
                    "type": "Feature",
                    "properties": {key: name.format(i=i, j=j)},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                    },
                }
            )
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path
