"""Champion and challenger: registered names, and the promotion decision and its numbers.

Aliases: `challenger` is the newest candidate, `champion` what nightly scoring loads. The MLflow
side (registering, moving aliases, recording decisions) is pipelines.catalog's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models.backtest import BacktestResult
from models.metrics import grade_metrics

CHAMPION, CHALLENGER = "champion", "challenger"
RISK_MODEL = "fengqiao-risk"


def registered_name(target: str) -> str:
    """Return the registered model name for a target column."""
    return RISK_MODEL if target == "risk_grade" else f"fengqiao-{target.replace(':', '-')}"


@dataclass(frozen=True)
class PromotionDecision:
    """A recorded champion/challenger decision and the numbers it rests on."""

    promoted: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger: dict
    champion: dict | None
    evaluation: str  # how the two were compared

    def tags(self) -> dict[str, str]:
        out = {
            "promotion.decision": "promoted" if self.promoted else "refused",
            "promotion.reason": self.reason,
            "promotion.evaluation": self.evaluation,
            "promotion.compared_with": self.champion_version or "",
            "promotion.at": dt.datetime.now().isoformat(timespec="seconds"),
        }
        for side, metrics in (("challenger", self.challenger), ("champion", self.champion or {})):
            for k, v in metrics.items():
                out[f"promotion.{side}.{k}"] = f"{v:.6f}"
        return out


def decide(challenger: dict, champion: dict) -> tuple[bool, str]:
    """Return whether the challenger beats the champion: higher macro-F1 and no worse log-loss."""
    better_f1 = challenger["macro_f1"] > champion["macro_f1"]
    no_worse_ll = challenger["log_loss"] <= champion["log_loss"]
    if better_f1 and no_worse_ll:
        return True, "challenger has higher macro-F1 and no worse log-loss on the same backtest"
    why = []
    if not better_f1:
        why.append(
            f"macro-F1 {challenger['macro_f1']:.4f} is not above the champion's {champion['macro_f1']:.4f}"
        )
    if not no_worse_ll:
        why.append(
            f"log-loss {challenger['log_loss']:.4f} is worse than the champion's {champion['log_loss']:.4f}"
        )
    return False, "; ".join(why)


def decide_first(backtest: BacktestResult | None) -> tuple[bool, str]:
    """Return whether a first model (no champion yet) becomes champion, and why.

    It must beat every baseline's macro-F1 on its own backtest. Without a backtest it becomes
    champion only because training was told to skip one (--no-backtest), and the reason says so.
    """
    if backtest is None:
        return True, (
            "no champion yet and no backtest was run (--no-backtest): promoted without evidence "
            "that it beats the baselines; backtest it once there is enough labelled history"
        )
    if backtest.predictions.empty:
        return False, "the backtest has no test cases, so nothing shows that this model works"
    overall = backtest.table[backtest.table["fold"] == "overall"].set_index("model")["macro_f1"]
    ours = float(overall.get("lightgbm", float("nan")))
    behind = {
        m: float(v) for m, v in overall.items() if m not in ("lightgbm", "oracle") and not ours > v
    }
    if behind:
        listed = ", ".join(f"{m} {v:.4f}" for m, v in behind.items())
        return False, (
            f"first model not promoted: its backtest macro-F1 {ours:.4f} does not beat the "
            f"baseline(s) {listed}; it stays challenger (to use it anyway: fengqiao score "
            "--model-name NAME@challenger; better, add labelled history and train again)"
        )
    return True, f"no champion yet: the first model beats every baseline (macro-F1 {ours:.4f})"


def summary_metrics(
    result: BacktestResult, model: str = "lightgbm", folds: list[str] | None = None
) -> dict:
    """Return macro-F1 and log-loss of one model pooled over the named folds (default: all)."""
    part = result.predictions[result.predictions["model"] == model]
    if folds is not None:
        part = part[part["fold"].isin(folds)]
    proba = part[[f"p_{c}" for c in result.classes]].to_numpy()
    m = grade_metrics(part["y"].to_numpy(), proba, part["predicted"].to_numpy(), result.classes)
    return {"macro_f1": m["macro_f1"], "log_loss": m["log_loss"], "n": float(m["n"])}
