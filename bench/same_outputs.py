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
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.published import differences, outputs  # noqa: E402


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
