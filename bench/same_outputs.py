"""Do two commits publish the same? For refactors: run `fengqiao demo` with each, compare.

    python bench/same_outputs.py BEFORE [AFTER] [--cases 6000] [--real]

--real adds the real-data walkthrough (docs/real-data.md): the messages' category model trained
and scored, the court grader trained and scoring the new narratives and the messy 12345 export.

Each commit is checked out in a temporary worktree and run with this environment's Python (the
same locked dependencies), with the text model's settings search capped by candidates rather than
by seconds, so that training is deterministic. Compared, value for value: the published day's
scores, watchlist CSV, hot-spot feed and report; the manifest without what a rerun changes anyway
(timings, file paths, the checksums of the .xlsx and map.html, which embed times and random ids);
the registered model's MLflow parameters, metrics and tags, without run times; and its signature.
Prints each difference; exit code 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
VOLATILE_MANIFEST = ("timings_seconds", "inputs", "outputs")
VOLATILE_TAGS = ("mlflow.", "promotion.at", "champion.since", "champion.until", "data.sha256")


def run(commit: str, folder: Path, cases: int, real: bool) -> list[Path]:
    """Run `commit`'s demo (and, with real, its real-data walkthrough of docs/real-data.md) with
    homes under folder; return the homes."""
    tree = folder / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True)  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "FENGQIAO_TEXT_CANDIDATES": "3",
        "FENGQIAO_TEXT_BUDGET_SECONDS": "3600",
    }
    command = "import sys; from pipelines.cli import app; sys.argv[0] = 'fengqiao'; app()"

    def fengqiao(home: Path, *args: str) -> None:
        subprocess.run([sys.executable, "-c", command, *args, "--home", str(home)],
                       cwd=tree, env=env, check=True)  # fmt: skip

    fengqiao(folder / "demo", "demo", "-n", str(cases))
    if not real:
        return [folder / "demo"]
    (folder / "shared").symlink_to(ROOT.parent / "shared")  # where tests.real_exports reads
    exports, home = folder / "exports", folder / "real"
    subprocess.run([sys.executable, "-m", "tests.real_exports", str(exports)],
                   cwd=tree, env=env, check=True, capture_output=True)  # fmt: skip
    fengqiao(home, "train", "--cases", str(exports / "留言-样本.csv"), "--target", "dispute_type",
             "--model-name", "留言分类")  # fmt: skip
    fengqiao(home, "score", "--cases", str(exports / "留言-2020.csv"),
             "--model-name", "留言分类@champion")  # fmt: skip
    fengqiao(home, "train", "--cases", str(exports / "诉调对接-已定级.csv"))
    for export in ("诉调对接-新收.csv", "12345-导出.csv"):
        fengqiao(home, "score", "--cases", str(exports / export),
                 "--model-name", "fengqiao-risk@challenger")  # fmt: skip
    return [folder / "demo", home]


def outputs(home: Path) -> dict:
    """Return what each published day and the registry hold, without what a rerun changes (the
    run's own folder, which quarantine.csv names in 源文件, reads as <run>)."""
    run_folder = str(home.parent).encode()

    def read(path: Path) -> bytes:
        return path.read_bytes().replace(run_folder, b"<run>")

    found = {}
    for manifest_path in sorted((home / "outputs").rglob("manifest.json")):
        day = manifest_path.parent
        where = f"{home.name}/{day.relative_to(home / 'outputs')}"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        found |= {
            f"{where}/scores.parquet": pd.read_parquet(day / "scores.parquet"),
            f"{where}/watchlist.csv": read(day / "watchlist.csv"),
            f"{where}/hotspots.geojson": json.loads(
                (day / "hotspots.geojson").read_text(encoding="utf-8")
            ),
            f"{where}/report.md": (day / "report.md").read_text(encoding="utf-8"),
            f"{where}/七何退回清单.csv": read(day / "七何退回清单.csv"),
            f"{where}/quarantine.csv": read(day / "quarantine.csv"),
            f"{where}/manifest.json": {
                k: v for k, v in manifest.items() if k not in VOLATILE_MANIFEST
            },
        }
    store = home / "mlflow"
    found |= {f"{home.name}/{k}": v for k, v in registry(store / "mlflow.db").items()}
    # Artifact folders are named by random run and model ids: compare the signatures as a set.
    found[f"{home.name}/signatures"] = sorted(
        json.dumps(signature(model), sort_keys=True) for model in store.rglob("MLmodel")
    )
    return found


def signature(model: Path) -> dict:
    """Return a logged model's signature, as MLflow wrote it."""
    import yaml

    return yaml.safe_load(model.read_text(encoding="utf-8")).get("signature", {})


def registry(database: Path) -> dict:
    """Return the MLflow store's params, metrics and tags, by run name and key."""
    with sqlite3.connect(database) as db:
        params = {
            (run, k): v
            for run, k, v in db.execute(
                "select r.name, p.key, p.value from params p join runs r using (run_uuid)"
            )
        }
        metrics = {
            (run, k): v
            for run, k, v in db.execute(
                "select r.name, m.key, m.value from metrics m join runs r using (run_uuid)"
            )
            if not k.endswith("seconds")
        }
        tags = {
            (name, k): v
            for name, k, v in db.execute("select name, key, value from model_version_tags")
            if not k.startswith(VOLATILE_TAGS) and k != "run_id"
        }
    return {"mlflow params": params, "mlflow metrics": metrics, "mlflow version tags": tags}


def differences(before: dict, after: dict) -> list[str]:
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--cases", type=int, default=6000)
    parser.add_argument("--real", action="store_true", help="also the real-data walkthrough")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-outputs-") as tmp:
        runs = {}
        try:
            for side in ("before", "after"):
                commit = getattr(args, side)
                homes = run(commit, Path(tmp) / side, args.cases, args.real)
                runs[side] = {k: v for home in homes for k, v in outputs(home).items()}
        finally:
            for side in ("before", "after"):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(Path(tmp) / side / "tree")], capture_output=True)  # fmt: skip
    found = differences(runs["before"], runs["after"])
    what = f"demo ({args.cases:,} cases)" + (" and the real-data walkthrough" if args.real else "")
    print(f"{what}: {args.before} against {args.after}, {len(runs['after'])} things compared")
    for line in found or ["the same: scores, watchlist, feed, report, manifest, MLflow"]:
        print(f"  {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
