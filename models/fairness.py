"""Fairness across districts and channels: does the grader serve every place and intake channel alike?

For each group: how many cases, the mean risk score, the share graded 高, the recall of staff-graded
高 cases (the dangerous cases the model catches) and the false-alarm rate (cases the staff did not
grade 高 that the model calls 高). A group whose recall or false-alarm rate differs from the
overall one by more than the tolerance, on enough cases to tell, is called out in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RECALL_TOLERANCE = 0.15  # absolute difference in 高 recall worth a look
FALSE_ALARM_TOLERANCE = 0.05  # absolute difference in 高 false-alarm rate worth a look
MIN_HIGH_CASES = 20  # fewer staff-graded 高 cases than this and recall is too noisy to judge
GROUP_LABELS = {
    "district": "区县",
    "channel": "来源渠道",
    "dispute_type": "纠纷类型",
    "street": "街道",
}


@dataclass
class FairnessReport:
    """Per-group rates and the gaps worth a look."""

    table: pd.DataFrame
    findings: list[str]


def fairness_report(
    predictions: pd.DataFrame, group: str, high_index: int = 2, score: str = "score"
) -> FairnessReport:
    """Return per-group rates for one grouping column of backtest predictions.

    predictions: y (staff grade index), predicted (model grade index), the group column and a
    score column (or p_高, from which a 0-100 risk score is made).
    """
    frame = predictions.copy()
    if score not in frame:
        frame[score] = 100 * (frame["p_高"] + 0.5 * frame["p_中"])
    frame["staff_high"] = frame["y"] == high_index
    frame["model_high"] = frame["predicted"] == high_index

    def rates(part: pd.DataFrame) -> pd.Series:
        staff_high = part["staff_high"]
        return pd.Series(
            {
                "cases": len(part),
                "staff_high": int(staff_high.sum()),
                "mean_score": part[score].mean(),
                "graded_high_share": part["model_high"].mean(),
                "high_recall": part.loc[staff_high, "model_high"].mean()
                if staff_high.any()
                else np.nan,
                "false_alarm_rate": part.loc[~staff_high, "model_high"].mean()
                if (~staff_high).any()
                else np.nan,
            }
        )

    table = frame.groupby(group).apply(rates, include_groups=False)
    overall = rates(frame)
    table.loc["（全部）"] = overall
    label = GROUP_LABELS.get(group, group)
    findings = []
    for name, row in table.drop(index="（全部）").iterrows():
        if (
            row["staff_high"] >= MIN_HIGH_CASES
            and abs(row["high_recall"] - overall["high_recall"]) > RECALL_TOLERANCE
        ):
            direction = "低于" if row["high_recall"] < overall["high_recall"] else "高于"
            findings.append(
                f"{label}“{name}”的高风险召回率为{row['high_recall']:.0%}，{direction}总体的"
                f"{overall['high_recall']:.0%}，差距超过{RECALL_TOLERANCE:.0%}的容差，请核查。"
            )
        if (
            abs(row["false_alarm_rate"] - overall["false_alarm_rate"]) > FALSE_ALARM_TOLERANCE
            and row["cases"] >= 100
        ):
            direction = "高于" if row["false_alarm_rate"] > overall["false_alarm_rate"] else "低于"
            findings.append(
                f"{label}“{name}”的误报率为{row['false_alarm_rate']:.1%}，{direction}总体的"
                f"{overall['false_alarm_rate']:.1%}，差距超过{FALSE_ALARM_TOLERANCE:.0%}的容差，请核查。"
            )
    if not findings:
        findings.append(
            f"各{label}之间的高风险召回率与误报率差距均在容差以内"
            f"（召回±{RECALL_TOLERANCE:.0%}，误报±{FALSE_ALARM_TOLERANCE:.0%}；"
            f"高风险案件少于{MIN_HIGH_CASES}件的组不作召回判断）。"
        )
    return FairnessReport(table=table, findings=findings)
