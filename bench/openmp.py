"""LightGBM's OpenMP spin-waiting beside another busy process: libgomp's default against fengqiao's.

    python bench/openmp.py [--rows 400000] [--rounds 80]

The same 2-thread booster (rows x 60 dense features, 80 rounds) trains alone and beside one busy
process (as when the backtest's baselines run beside the grader, or loky feature workers are up),
each setting in a fresh process because libgomp reads GOMP_SPINCOUNT once, when it loads.
"default" leaves libgomp's own spin count (300,000); fengqiao's models package sets 1,000 unless
the environment says otherwise. Reported: median seconds of 3 runs alone and 2 runs beside the busy
process, and the ratio against the default's in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, stamp, write_results

SETTINGS = {"default": {}, "fengqiao (GOMP_SPINCOUNT=1000)": {"GOMP_SPINCOUNT": "1000"}}


def measure(rows: int, rounds: int) -> dict:
    """Train the booster alone and beside a busy process in this process; return the seconds."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 60))
    y = (X[:, 0] + rng.normal(size=rows) > 0).astype(int)
    data = lgb.Dataset(X, y, free_raw_data=False).construct()
    params = {"objective": "binary", "num_threads": 2, "verbose": -1, "num_leaves": 31}

    def train() -> float:
        started = time.perf_counter()
        lgb.train(params, data, rounds)
        return time.perf_counter() - started

    alone = [train() for _ in range(3)]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        beside = [train() for _ in range(2)]
    finally:
        busy.kill()
        busy.wait()
    return {"alone_s": round(float(np.median(alone)), 2), "beside_busy_s": round(max(beside), 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.rows, args.rounds)))
        return 0
    print(f"machine: {machine()}")
    results = {}
    for name, extra in SETTINGS.items():
        env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | extra
        # Not through the models package, so that "default" really is libgomp's default.
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                f"--rows={args.rows}",
                f"--rounds={args.rounds}",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    default = results["default"]
    print("\n| GOMP_SPINCOUNT | alone s | beside a busy process s |\n|---|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['alone_s']} ({r['alone_s'] / default['alone_s']:.2f}x) "
            f"| {r['beside_busy_s']} ({r['beside_busy_s'] / default['beside_busy_s']:.2f}x) |"
        )
    write_results(
        "openmp", {"rows": args.rows, "rounds": args.rounds, "results": results, **stamp()}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
