"""What a run publishes and registers, without what a rerun changes anyway: for comparing two
commits (bench/same_outputs.py) and a run with its committed snapshot (tests/pipeline/
test_same_outputs.py).

Compared: each published day's scores, watchlist CSV, hot-spot feed, report, 七何 return list and
quarantine; the manifest without timings and file paths (the .xlsx and map.html embed times and
random ids); a registered model's MLflow parameters, metrics and version tags, without run times;
and its signature.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

VOLATILE_MANIFEST = ("timings_seconds", "inputs", "outputs")
VOLATILE_TAGS = ("mlflow.", "promotion.at", "champion.since", "champion.until", "data.sha256")
# Values longer than this are snapshotted as a digest and a summary, not in full.
SNAPSHOT_CHARS = 10_000


def outputs(
    home: Path, days: list[Path] | None = None, model: str | None = None, label: str | None = None
) -> dict:
    """Return what a data home's published days and MLflow store hold, by name.

    days: the published folders to read (default: every one under home/outputs).
    model: the registered model whose training run, tags and signature to read (default: all).
    label: what the names start with (default: the home's folder name).
    The run's own folder, which quarantine.csv names in 源文件, reads as <run>.
    """
    label = label or home.name
    days = (
        days if days is not None else [p.parent for p in (home / "outputs").rglob("manifest.json")]
    )
    found = {}
    for day in sorted(days):
        found |= published_day(day, f"{label}/{day.relative_to(home / 'outputs')}", home.parent)
    found |= {f"{label}/{k}": v for k, v in registry(home / "mlflow", model).items()}
    return found


def published_day(day: Path, where: str, run_folder: Path) -> dict:
    """Return one published day's files, as compared."""

    def read(path: Path) -> bytes:
        return path.read_bytes().replace(str(run_folder).encode(), b"<run>")

    manifest = json.loads((day / "manifest.json").read_text(encoding="utf-8"))
    return {
        f"{where}/scores.parquet": pd.read_parquet(day / "scores.parquet"),
        f"{where}/watchlist.csv": read(day / "watchlist.csv"),
        f"{where}/hotspots.geojson": json.loads(
            (day / "hotspots.geojson").read_text(encoding="utf-8")
        ),
        f"{where}/report.md": (day / "report.md").read_text(encoding="utf-8"),
        f"{where}/七何退回清单.csv": read(day / "七何退回清单.csv"),
        f"{where}/quarantine.csv": read(day / "quarantine.csv"),
        f"{where}/manifest.json": {k: v for k, v in manifest.items() if k not in VOLATILE_MANIFEST},
    }


def registry(store: Path, model: str | None = None) -> dict:
    """Return the MLflow store's params, metrics and version tags, by run or model name and key,
    and the registered models' signatures; of one registered model's training run if given."""
    with sqlite3.connect(store / "mlflow.db") as db:
        names = {
            run: name
            for run, name in db.execute("select run_uuid, name from runs")
            if model is None or name == f"train-{model}"
        }
        params = {
            (names[run], k): v
            for run, k, v in db.execute("select run_uuid, key, value from params")
            if run in names
        }
        metrics = {
            (names[run], k): v
            for run, k, v in db.execute("select run_uuid, key, value from metrics")
            if run in names and not k.endswith("seconds")
        }
        registered = [
            (name, source)
            for name, source in db.execute("select name, source from model_versions")
            if model is None or name == model
        ]
        tags = {
            (name, k): v
            for name, k, v in db.execute("select name, key, value from model_version_tags")
            if (model is None or name == model)
            and not k.startswith(VOLATILE_TAGS)
            and k != "run_id"
        }
    # Artifact folders are named by random run and model ids: compare the signatures as a set.
    signatures = sorted(
        json.dumps(_signature(store, source.removeprefix("models:/")), sort_keys=True)
        for _, source in registered
    )
    return {
        "mlflow params": params,
        "mlflow metrics": metrics,
        "mlflow version tags": tags,
        "signatures": signatures,
    }


def _signature(store: Path, model_id: str) -> dict:
    """Return a logged model's signature, as MLflow wrote it."""
    path = store / "artifacts" / "models" / model_id / "artifacts" / "MLmodel"
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("signature", {})


def differences(before: dict, after: dict) -> list[str]:
    """Say what differs between two runs' outputs."""
    found = []
    for name in before.keys() - after.keys():
        found.append(f"{name}: only before")
    for name in after.keys() - before.keys():
        found.append(f"{name}: only after")
    for name, old in before.items():
        if name not in after:
            continue
        new = after[name]
        if isinstance(old, pd.DataFrame):
            same = old.columns.equals(new.columns) and old.equals(new)
        else:
            same = old == new
        if not same:
            if name.endswith("hotspots.geojson"):
                found.append(f"{name}: {_feed_difference(old, new)}")
            elif isinstance(old, dict):
                keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
                found.append(f"{name}: {len(keys)} keys differ, e.g. {keys[:5]}")
            else:
                found.append(f"{name} differs")
    return found


def _feed_difference(old: dict, new: dict) -> str:
    """Say which features and properties of two feeds differ."""
    if len(old["features"]) != len(new["features"]):
        return f"{len(old['features'])} against {len(new['features'])} features"
    changed: dict[str, int] = {}
    for a, b in zip(old["features"], new["features"], strict=True):
        for key in a["properties"].keys() | b["properties"].keys():
            if a["properties"].get(key) != b["properties"].get(key):
                changed[key] = changed.get(key, 0) + 1
        if a["geometry"] != b["geometry"]:
            changed["geometry"] = changed.get("geometry", 0) + 1
    return ", ".join(f"{k} in {n} features" for k, n in sorted(changed.items())) or "metadata"


def snapshot_of(found: dict) -> dict:
    """Return outputs as plain JSON values small enough to commit: what is short as it is, what
    is long (a province's scores, a feed of hundreds of cells) as counts and a SHA-256 digest.

    Floats are written to 9 significant digits, so that a snapshot holds across the last bits a
    different CPU may round differently, and still catches every change a user could see.
    """
    return {name: _snapshot_value(value) for name, value in sorted(found.items())}


def _snapshot_value(value):
    if isinstance(value, pd.DataFrame):
        return _table(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8-sig")
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        return _feed(value)
    if isinstance(value, dict) and value and isinstance(next(iter(value)), tuple):
        value = {"/".join(key): v for key, v in sorted(value.items())}
    text = json.dumps(_rounded_tree(value), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) <= SNAPSHOT_CHARS:
        return json.loads(text)
    return {"chars": len(text), "sha256": _digest(text)}


def _table(frame: pd.DataFrame) -> dict:
    text = frame.to_csv(index=False, float_format="%.9g")
    summary: dict = {"rows": len(frame), "columns": list(frame.columns)}
    for column in ("grade", "ticket", "predicted_class"):
        if column in frame:
            counts = frame[column].fillna("").astype(str).value_counts()
            summary[f"{column} counts"] = dict(sorted(counts.items()))
    if len(text) <= SNAPSHOT_CHARS:
        return summary | {"csv": text.splitlines()}
    return summary | {"sha256": _digest(text)}


def _feed(document: dict) -> dict:
    properties = [feature["properties"] for feature in document["features"]]
    text = json.dumps(
        [_rounded_tree(feature) for feature in document["features"]],
        ensure_ascii=False,
        sort_keys=True,
    )
    return {
        "meta": document.get("fengqiao", {}),
        "features": len(properties),
        "layers": dict(sorted(Counter(p.get("layer", "") for p in properties).items())),
        "hot_class counts": dict(
            sorted(Counter(p.get("hot_class", "") for p in properties).items())
        ),
        "sha256": _digest(text),
    }


def _rounded(value):
    return float(f"{value:.9g}") if isinstance(value, float) else value


def _rounded_tree(value):
    if isinstance(value, dict):
        return {k: _rounded_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded_tree(v) for v in value]
    return _rounded(value)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
