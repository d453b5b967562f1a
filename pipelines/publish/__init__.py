"""Publishing day D: watchlist, scores, feed, map, report, quarantine and manifest, all or nothing.

Files are written into a hidden sibling folder and renamed into place at the end, so DIR/D appears
complete or not at all; a run killed half-way leaves only a hidden .D.partial-* folder, which the
next run removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.drift import DriftReport
from models.hotspots import H3Cells, hotspot_cells, name_cells
from pipelines.catalog import DayFiles, published_dir
from pipelines.contracts import ModelInfo, PublishOptions
from pipelines.publish.feed import feed_document, write_feed
from pipelines.publish.mapview import build_map, write_map
from pipelines.publish.report import ReportInputs, build_report
from pipelines.publish.watchlist import (
    assign_tickets,
    class_watchlist_frame,
    return_list,
    start_workbook,
    watchlist_frame,
    with_runner_up,
    write_table_csv,
)

SCORES_COLUMNS = [
    "case_id",
    "reported_at",
    "grade",
    "score",
    "p_high",
    "p_medium",
    "p_low",
    "reasons",
    "group_id",
    "group_size",
    "ticket",
    "completeness",
    "missing_elements",
    "model_name",
    "model_version",
]

CLASS_SCORES_COLUMNS = [
    "case_id",
    "reported_at",
    "predicted_class",
    "probability",
    "runner_up",
    "runner_up_probability",
    "reasons",
    "group_id",
    "group_size",
    "completeness",
    "missing_elements",
    "model_name",
    "model_version",
]


class OutputError(Exception):
    """The output folder cannot be written; the message says where and why."""


@contextlib.contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces `final` when the block succeeds, and vanishes if it fails."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _recover(final)
        staging = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as error:
        raise OutputError(
            f"cannot write the output folder {final.parent}: {error.strerror or error}"
        ) from None
    old = None
    try:
        yield staging
        if os.path.lexists(final):
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not os.path.lexists(final):
            os.rename(old, final)  # failed between the renames: the previous day stays
        raise
    if old is not None:
        _remove(old)


def _recover(final: Path) -> None:
    """Clean up after a publish of `final` that was killed: its partial folders go; if it was
    killed between the two renames (the day moved aside, the new one not yet in place), the
    previous day is put back; any other day moved aside goes."""
    for stale in final.parent.glob(f".{final.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    moved = sorted(
        final.parent.glob(f".{final.name}.old-*"), key=lambda p: p.lstat().st_mtime, reverse=True
    )
    if moved and not os.path.lexists(final):
        os.rename(moved.pop(0), final)
    for stale in moved:
        _remove(stale)


def _remove(moved: Path) -> None:
    """Remove a day moved aside; a link put in the day's place goes, never its target."""
    if moved.is_symlink():
        moved.unlink()
    else:
        shutil.rmtree(moved, ignore_errors=True)


@dataclass
class DayOutputs:
    """What day D's scoring produced, ready to publish."""

    run_date: pd.Timestamp
    scored: pd.DataFrame  # today's cases with context, grade, score, p_*, reasons
    quarantine: pd.DataFrame
    recent: pd.DataFrame  # scored history for hotspot windows and comparisons (grade, score, ...)
    ingest: list[dict]
    model: ModelInfo
    drift: DriftReport | None = None
    timings: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def publish_day(day: DayOutputs, out_dir: Path, options: PublishOptions | None = None) -> Path:
    """Write every output for day D into out_dir/D atomically; return the folder."""
    options = options or PublishOptions()
    system = options.cells()
    final = published_dir(out_dir, day.run_date)
    risk = day.model.risk
    scored, ticketed, history = _ticketed(day, risk)
    # Each case's cell, found once for the hot spots and for the names of their cells.
    case_cells = system.cells_of(history) if len(history) else np.array([], dtype=object)
    cells = hotspot_cells(
        history,
        day.run_date,
        system,
        options.window_days,
        options.trend_weeks,
        weighted=risk,
        case_cells=case_cells,
    )
    cells = name_cells(cells, history, system, case_cells)
    meta = {
        "run_date": f"{day.run_date:%Y-%m-%d}",
        "cells": f"h3 resolution {options.resolution}"
        if isinstance(system, H3Cells)
        else "boundary polygons",
        "h3_resolution": options.resolution,
        "window_days": options.window_days,
        "trend_weeks": options.trend_weeks,
        "model_version": day.model.version,
    }
    with atomic_folder(final) as folder:
        files = DayFiles.of(folder)
        workbook, outputs = _write_tables(files, day, ticketed, risk)
        document = feed_document(cells, ticketed, meta, options.coordinates, places=history)
        outputs.append(write_feed(document, files.feed))
        map_html = build_map(document, options.tiles, cache=options.map_cache)
        outputs.append(write_map(map_html, files.map))
        returned = return_list(ticketed)
        outputs.append(write_table_csv(returned, files.return_list))
        day.quarantine.to_csv(files.quarantine, index=False, encoding="utf-8-sig")
        outputs.append(files.quarantine)
        files.report.write_text(_report(day, scored, ticketed, cells), encoding="utf-8")
        outputs.append(files.report)
        outputs.insert(1, workbook.result())
        manifest = _manifest(day, scored, ticketed, cells, len(returned), outputs)
        files.manifest.write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
            encoding="utf-8",
        )
    return final


def _ticketed(day: DayOutputs, risk: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return the night's scored cases, the same with tickets, and the cases the map counts."""
    scored = day.scored.assign(
        group_size=day.scored["grp_size"].astype(int),
        model_name=day.model.name,
        model_version=day.model.version,
    )
    if risk:
        scored = scored.assign(p_high=scored["p_高"], p_medium=scored["p_中"], p_low=scored["p_低"])
        ticketed = assign_tickets(scored)
        history = pd.concat(
            [day.recent, ticketed[day.recent.columns.intersection(ticketed.columns)]],
            ignore_index=True,
        )
        return scored, ticketed, history
    scored = with_runner_up(scored, list(day.model.classes))
    ticketed = scored.assign(ticket="", deadline="", dispatch_reasons=scored["reasons"])
    # Another model's night is mapped by how many cases there are and of which class: the
    # stored past has no such predictions, so only today's cases are counted, unweighted.
    history = scored.assign(
        grade=None, dispute_type=scored["dispute_type"].fillna(scored["predicted_class"])
    )
    return scored, ticketed, history


def _write_tables(files: DayFiles, day: DayOutputs, ticketed: pd.DataFrame, risk: bool):
    """Start the workbook (large: in a worker), write the watchlist CSV and scores.parquet;
    return the workbook's future and the files written."""
    if risk:
        watchlist = watchlist_frame(ticketed, day.model.version)
        published = ticketed[SCORES_COLUMNS].assign(reasons=ticketed["dispatch_reasons"])
    else:
        watchlist = class_watchlist_frame(ticketed, day.model.version)
        probabilities = [f"p_{c}" for c in day.model.classes]
        published = ticketed[[*CLASS_SCORES_COLUMNS, *probabilities]]
    workbook = start_workbook(watchlist, files.watchlist_xlsx)
    outputs = [write_table_csv(watchlist, files.watchlist_csv)]
    published.to_parquet(files.scores, index=False)
    outputs.append(files.scores)
    return workbook, outputs


def _report(day: DayOutputs, scored, ticketed, cells) -> str:
    today = day.run_date.normalize()
    previous = day.recent[
        (day.recent["reported_at"] < today)
        & (day.recent["reported_at"] >= today - pd.Timedelta(days=7))
    ]
    return build_report(
        ReportInputs(
            run_date=day.run_date,
            current=scored,
            previous=previous,
            ticketed=ticketed,
            cells=cells,
            quarantine=day.quarantine,
            rows_in=sum(i["rows_in"] for i in day.ingest),
            model=day.model,
            drift=day.drift,
            place_of_cell=dict(zip(cells["cell"], cells["label"], strict=True)),
        )
    )


def _manifest(day: DayOutputs, scored, ticketed, cells, returned: int, outputs) -> dict:
    """Return the manifest; every row that came in is scored or quarantined, or this raises."""
    rows_in = sum(i["rows_in"] for i in day.ingest)
    if rows_in != len(scored) + len(day.quarantine):
        raise AssertionError("rows in != scored + quarantined: a row was lost")
    tickets = ticketed["ticket"].replace("", "无").value_counts()
    return {
        "run_date": f"{day.run_date:%Y-%m-%d}",
        "inputs": day.ingest,
        "rows": {
            "in": rows_in,
            "scored": len(scored),
            "quarantined": len(day.quarantine),
            "merged": int((scored["grp_size"] > 1).sum()),
            "incomplete_7he": returned,
            "tickets": {k: int(v) for k, v in tickets.items()},
        },
        "model": day.model.as_dict(),
        "drift": day.drift.as_dict() if day.drift else {},
        "hotspots": {
            "cells": len(cells),
            "hot": int(cells["hot_class"].str.startswith("热点").sum()) if len(cells) else 0,
        },
        "settings": day.settings,
        "timings_seconds": {k: round(v, 2) for k, v in day.timings.items()},
        "outputs": {p.name: _sha256(p) for p in outputs},
    }
