"""End-to-end nightly scoring at scale, and the same scoring on a 2-worker Dask cluster.

    python bench/nightly.py [--sizes 100000,1000000] [--dask-sizes 100000]

Setup (not timed): `fengqiao demo` trains and promotes the champion on the default 45,000-case
demo city; an export of N cases (a year of a city N cases big, another seed) is written as the
UTF-8 CSV a centre's system would drop.

Timed: `fengqiao score --cases EXPORT` in its own process, exactly as the nightly deployment runs
it: ingest (read, validate, normalise, mask, quarantine), context (history, merges, spatial
intensity), scoring (features and model), storing the day and publishing the watchlist, feed, map
and report. Stage times come from the run's manifest; peak memory is the sum over the process and
all its children (feature workers, Prefect's local server), sampled every 0.2 s.

Targets at 1,000,000 cases: 10 minutes, 8 GB. Scale-out: the same run with --executor dask (a
2-worker LocalCluster, one thread each) against local, as a ratio.

A size that is not run keeps its last result in bench/results/nightly.json; every result says at
which commit and on which day it was measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    CACHE,
    TreeMemory,
    machine,
    read_results,
    report_checks,
    stamp,
    write_results,
)

FENGQIAO = Path(sys.executable).with_name("fengqiao")


def champion_home() -> Path:
    """Return a data folder whose champion was trained by `fengqiao demo` (made once)."""
    home = CACHE / "nightly-home"
    if not (home / "mlflow" / "mlflow.db").exists():
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([FENGQIAO, "demo", "--home", home], check=True, capture_output=True)
    return home


def export(n: int) -> Path:
    """Return a CSV export of n demo cases (generated once per size)."""
    from pipelines.demo_city import DemoConfig, generate_demo_city

    path = CACHE / f"nightly-export-{n}.csv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        city = generate_demo_city(DemoConfig(n_cases=n, seed=7))
        city.export.to_csv(path, index=False, encoding="utf-8")
    return path


def score(n: int, home: Path, executor: str) -> dict:
    """Run `fengqiao score` on the n-case export; return wall time, stages and peak memory."""
    out = Path(tempfile.mkdtemp(prefix=f"nightly-{n}-", dir=CACHE))
    run_home = out / "home"
    shutil.copytree(home / "mlflow", run_home / "mlflow")  # an empty history store each run
    command = [FENGQIAO, "score", "--cases", export(n), "--home", run_home, "--out", out / "o"]
    with TreeMemory() as memory:
        started = time.perf_counter()
        result = subprocess.run([*command, "--executor", executor], capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"fengqiao score failed on {n} cases:\n{result.stderr[-4000:]}")
    manifest = json.loads(next((out / "o").glob("*/manifest.json")).read_text(encoding="utf-8"))
    shutil.rmtree(out, ignore_errors=True)
    stages = {k: round(v, 1) for k, v in manifest["timings_seconds"].items()}
    return {
        "cases": n,
        "executor": executor,
        "seconds": round(seconds, 1),
        "cases_per_s": round(n / seconds),
        "peak_rss_mib": round(memory.peak_mib),
        "peak_at_s": round(memory.peak_at, 1),
        "peak_by_process_mib": memory.peak_parts,
        "rows": {k: manifest["rows"][k] for k in ("in", "scored", "quarantined")},
        "stages": stages,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dask-sizes", default="100000")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    home = champion_home()
    previous = read_results("nightly")
    kept = {
        executor: {r["cases"]: r for r in previous.get(key, [])}
        for executor, key in (("local", "local"), ("dask", "dask"))
    }
    for executor, sizes in (("local", args.sizes), ("dask", args.dask_sizes)):
        for n in [int(n) for n in sizes.split(",") if n]:
            kept[executor][n] = {**score(n, home, executor), **stamp()}
    rows = [kept["local"][n] for n in sorted(kept["local"])]
    dask = [kept["dask"][n] for n in sorted(kept["dask"])]

    print(
        "\n| cases | executor | wall s | cases/s | peak RSS MiB (tree) | ingest | context | score "
        "| publish (rest) | in = scored + quarantined |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    for r in rows + dask:
        s = r["stages"]
        rest = r["seconds"] - s.get("ingest", 0) - s.get("context", 0) - s.get("score", 0)
        print(
            f"| {r['cases']:,} | {r['executor']} | {r['seconds']} | {r['cases_per_s']:,} | "
            f"{r['peak_rss_mib']:,} | {s.get('ingest')} | {s.get('context')} | {s.get('score')} | "
            f"{rest:.1f} | {r['rows']['in']:,} = {r['rows']['scored']:,} + {r['rows']['quarantined']:,} |"
        )
    for r in rows + dask:
        if "peak_at_s" in r:
            print(
                f"{r['cases']:,} {r['executor']}: memory peaked {r['peak_at_s']} s into the run, "
                f"held by {r['peak_by_process_mib']}"
            )
    ratios = []
    for d in dask:
        local = next((r for r in rows if r["cases"] == d["cases"]), None)
        if local:
            ratios.append(
                {"cases": d["cases"], "dask_over_local": round(d["seconds"] / local["seconds"], 2)}
            )
            print(
                f"\nDask 2 workers / local wall time at {d['cases']:,} cases: {ratios[-1]['dask_over_local']}"
            )
    checks = []
    for r in rows:
        checks.append(
            (
                f"{r['cases']:,}: every row accounted for",
                r["rows"]["in"] == r["rows"]["scored"] + r["rows"]["quarantined"],
            )
        )
        if r["cases"] >= 1_000_000:
            checks += [
                (f"1M nightly {r['seconds']}s <= 600s", r["seconds"] <= 600),
                (f"1M nightly peak {r['peak_rss_mib']} MiB <= 8192 MiB", r["peak_rss_mib"] <= 8192),
            ]
    write_results(
        "nightly",
        {"local": rows, "dask": dask, "dask_ratios": ratios, "checks": report_checks(checks)},
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
