"""Backtest the risk grader on the demo city against both baselines and the oracle; print the table.

    python bench/grader.py [--cases 45000] [--seed 20251231]

Checks the grader's bars per fold: beats the keyword checklist and TF-IDF + LR on macro-F1 and
log-loss, log-loss within 10% of the oracle's, expected calibration error at most 0.03; and over
all folds, its red and yellow tickets catch at least the share of later escalations that each
baseline's riskiest cases catch when it tickets as many.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import ingest_demo, machine, peak_rss_mib, report_checks, write_results
from features.context import build_context
from models.backtest import run_backtest
from models.grader import GraderConfig, RiskGrader
from models.metrics import caught_by_riskiest, observed_outcomes
from pipelines.demo_city import DemoConfig, generate_demo_city


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    parser.add_argument("--seed", type=int, default=20251231)
    args = parser.parse_args()
    started = time.perf_counter()
    city = generate_demo_city(DemoConfig(n_cases=args.cases, seed=args.seed))
    ingested = ingest_demo(city)
    cases = build_context(ingested.cases)
    result = run_backtest(
        cases, GraderConfig(), oracle=city.truth, progress=lambda m: print(m, file=sys.stderr)
    )
    seconds = round(time.perf_counter() - started, 1)
    print(
        f"Demo city: {args.cases:,} cases (seed {args.seed}), {len(cases):,} after ingest; machine {machine()}"
    )
    print(result.markdown())
    checks = []
    for fold in [f.name for f in result.folds]:
        m = {
            model: {k: result.metric(model, k, fold) for k in ("macro_f1", "log_loss", "ece")}
            for model in ("lightgbm", "tfidf_lr", "keyword_checklist", "oracle")
        }
        g = m["lightgbm"]
        checks += [
            (
                f"{fold}: macro-F1 beats both baselines",
                g["macro_f1"] > max(m["tfidf_lr"]["macro_f1"], m["keyword_checklist"]["macro_f1"]),
            ),
            (
                f"{fold}: log-loss beats both baselines",
                g["log_loss"] < min(m["tfidf_lr"]["log_loss"], m["keyword_checklist"]["log_loss"]),
            ),
            (
                f"{fold}: log-loss / oracle = {g['log_loss'] / m['oracle']['log_loss']:.3f} <= 1.10",
                g["log_loss"] <= 1.10 * m["oracle"]["log_loss"],
            ),
            (f"{fold}: ECE = {g['ece']:.3f} <= 0.03", g["ece"] <= 0.03),
        ]
    at_same_workload = equal_workload(result, cases)
    print(at_same_workload.to_markdown(index=False, floatfmt=".3f"))
    for row in at_same_workload.itertuples():
        if row.model in ("tfidf_lr", "keyword_checklist"):
            checks.append(
                (
                    f"escalations caught {row.grader:.3f} >= {row.model}'s {row.caught:.3f}"
                    f" with as many tickets ({row.tickets:,})",
                    row.grader >= row.caught,
                )
            )
    records = report_checks(checks)
    print(f"backtest wall time {seconds}s, peak RSS {peak_rss_mib():.0f} MiB")
    write_results(
        "grader",
        {
            "cases": args.cases,
            "seed": args.seed,
            "seconds": seconds,
            "table": result.table.drop(columns=["confusion"]).to_dict("records"),
            "escalations_at_same_workload": at_same_workload.to_dict("records"),
            "checks": records,
        },
    )
    return 0 if all(ok for _, ok in checks) else 1


def equal_workload(result, cases) -> pd.DataFrame:
    """Return, over every fold's test cases whose outcome counts, the share of escalations each
    model's riskiest cases catch when it tickets as many cases as the grader's red and yellow
    tickets."""
    # The cases the backtest counts outcomes of: the labelled ones (models.backtest.run_backtest).
    labelled = cases[cases["risk_grade"].notna()]
    observed = observed_outcomes(labelled["escalated"], labelled["reported_at"])
    outcomes = labelled.loc[observed, ["case_id", "escalated"]]
    predictions = result.predictions.merge(outcomes, on="case_id")
    proba = predictions[[f"p_{c}" for c in result.classes]].to_numpy()
    predictions = predictions.assign(
        risk=RiskGrader.risk_score(proba), escalated=predictions["escalated"].astype(bool)
    )
    tickets = int((predictions.loc[predictions["model"] == "lightgbm", "predicted"] >= 1).sum())
    grader = result.metric("lightgbm", "escalation_caught")
    rows = [
        {
            "model": model,
            "tickets": tickets,
            "caught": caught_by_riskiest(part["escalated"], part["risk"], tickets),
            "grader": grader,
        }
        for model, part in predictions.groupby("model", sort=False)
    ]
    return pd.DataFrame(rows)


if __name__ == "__main__":
    sys.exit(main())
