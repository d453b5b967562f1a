"""The leak scan on the full default demo: `fengqiao demo` (45,000 cases) as a user runs it, then
every file it wrote searched for the demo's personal data.

    python bench/privacy.py [--cases 45000]

The CI test (tests/pipeline/test_faults_and_privacy.py) scans a 3,000-case demo; names that recur
across a year of exports only show at full size, so this bench runs the whole default demo once.
Needles: every party name, phone and ID number of the demo's exports (columns and texts) and the
site secret. Searched: outputs, scored days, the history store (with its name book) and MLflow
(database and artifacts), tables read cell by cell and archives member by member; the raw
exports under demo/ are the input and are left out.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from bench._common import machine, report_checks, stamp, write_results

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from pipelines.config import DEMO_SECRET
    from pipelines.ingest.readers import read_table
    from tests.privacy import leaks, personal_data

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "FENGQIAO_HOME": str(home)}
        started = time.perf_counter()
        run = subprocess.run(
            [
                str(ROOT / ".venv/bin/fengqiao"),
                "demo",
                "--cases",
                str(args.cases),
                "--home",
                str(home),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            return 1
        exports = [read_table(p).frame for p in sorted((home / "demo").glob("*.csv"))]
        needles = personal_data(pd.concat(exports, ignore_index=True)) | {DEMO_SECRET}
        files = [
            p
            for p in home.rglob("*")
            if p.is_file() and not p.relative_to(home).as_posix().startswith("demo/")
        ]
        found = leaks(home, needles, skip=("demo/",))
        console = [n for n in needles if n in run.stdout or n in run.stderr]
    print(f"Leak scan of the {args.cases:,}-case demo, machine {machine()}")
    print(f"demo run {seconds:.0f} s; {len(needles):,} needles in {len(files):,} files written")
    for file, needle in found[:50]:
        print(f"  LEAK {file}: {needle[0]}{'*' * (len(needle) - 1)}")  # not printed whole
    checks = report_checks(
        [
            (f"no personal datum in any file written ({len(found)} found)", not found),
            (f"none on the console ({len(console)} found)", not console),
        ]
    )
    write_results(
        "privacy",
        {
            **stamp(),
            "cases": args.cases,
            "seconds": round(seconds, 1),
            "needles": len(needles),
            "files": len(files),
            "leaks": [{"file": f, "needle_length": len(n)} for f, n in found],
            "checks": checks,
        },
    )
    return 0 if not found and not console else 1


if __name__ == "__main__":
    sys.exit(main())
