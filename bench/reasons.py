"""Reasons by path contributions against TreeSHAP: time and agreement on held-out cases.

    python bench/reasons.py [--cases 45000] [--test-days 30]

The grader is trained on the demo city before the last test days and explains every case of
those days twice: with path contributions (what scoring uses) and with LightGBM's TreeSHAP
(pred_contrib). Reported: seconds per 1,000 cases for the contributions alone and for the whole
explanation (contributions, ranking, wording), each method and their ratio (same run); how often
the first reason is the same, the overlap of the reason sets (Jaccard), and the share of 高/中
cases that get at least one reason. Checks: contributions at least 5x faster; 高/中 cases with a
reason no fewer than under TreeSHAP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import ingest_demo, machine, report_checks, write_results
from features.context import build_context
from models.grader import GraderConfig, RiskGrader
from models.thresholds import apply_thresholds
from pipelines.demo_city import DemoConfig, generate_demo_city


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    parser.add_argument("--test-days", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    cases = build_context(ingest_demo(generate_demo_city(DemoConfig(n_cases=args.cases))).cases)
    cut = cases["reported_at"].max().normalize() - pd.Timedelta(days=args.test_days)
    grader = RiskGrader(GraderConfig()).fit(cases[cases["reported_at"] < cut])
    test = cases[cases["reported_at"] >= cut].reset_index(drop=True)
    proba, features, X = grader._score_chunk(test)
    grade, _ = apply_thresholds(proba, grader.thresholds_, test["reported_at"])
    boosters = grader.boosters_.boosters_ if grader.use_boosters_ else {}

    said, seconds, contributions = {}, {}, {}
    for method in ("path", "treeshap"):
        started = time.perf_counter()
        for booster in boosters:
            grader.contributions(booster, X, method)
        contributions[method] = time.perf_counter() - started
        started = time.perf_counter()
        said[method] = grader.explain(test, X, grade, features, method=method)
        seconds[method] = time.perf_counter() - started
    path, shap = said["path"], said["treeshap"]
    flagged = np.flatnonzero(grade >= 1)
    result = {
        "test_cases": len(test),
        "contributions_s_per_1000": {
            m: round(1000 * s / len(test), 3) for m, s in contributions.items()
        },
        "contributions_speedup": round(contributions["treeshap"] / contributions["path"], 1),
        "explain_s_per_1000": {m: round(1000 * s / len(test), 3) for m, s in seconds.items()},
        "explain_speedup": round(seconds["treeshap"] / seconds["path"], 1),
        "same_first_reason": round(
            float(np.mean([a[:1] == b[:1] for a, b in zip(path, shap, strict=True)])), 3
        ),
        "reason_set_jaccard": round(
            float(
                np.mean(
                    [
                        len(set(a) & set(b)) / max(len(set(a) | set(b)), 1)
                        for a, b in zip(path, shap, strict=True)
                    ]
                )
            ),
            3,
        ),
        "flagged_with_a_reason": {
            m: round(float(np.mean([len(said[m][i]) > 0 for i in flagged])), 3) for m in said
        },
    }
    print(
        f"\n{len(test):,} held-out cases (last {args.test_days} days)\n\n"
        "| | path (scoring) | TreeSHAP |\n|---|---:|---:|\n"
        f"| contributions (both boosters), s per 1,000 cases | "
        f"{result['contributions_s_per_1000']['path']} | "
        f"{result['contributions_s_per_1000']['treeshap']} |\n"
        f"| whole explanation, s per 1,000 cases | {result['explain_s_per_1000']['path']} | "
        f"{result['explain_s_per_1000']['treeshap']} |\n"
        f"| 高/中 cases with a reason | {result['flagged_with_a_reason']['path']:.1%} | "
        f"{result['flagged_with_a_reason']['treeshap']:.1%} |\n\n"
        f"speed-up: contributions {result['contributions_speedup']}x, whole explanation "
        f"{result['explain_speedup']}x; same first reason {result['same_first_reason']:.1%}; "
        f"reason sets Jaccard {result['reason_set_jaccard']}"
    )
    checks = [
        (
            f"path contributions {result['contributions_speedup']}x faster >= 5x",
            result["contributions_speedup"] >= 5,
        ),
        (
            "高/中 cases with a reason: path >= TreeSHAP",
            result["flagged_with_a_reason"]["path"] >= result["flagged_with_a_reason"]["treeshap"],
        ),
    ]
    write_results("reasons", {**result, "checks": report_checks(checks)})
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
