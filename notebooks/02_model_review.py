# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 模型评审 · Model review
#
# The champion grader's backtest against the keyword checklist, TF-IDF + LR and (on demo data) the
# oracle; calibration and confusion; what the model looks at, globally and per case; and whether it
# serves every district and channel alike.

# %% tags=["parameters"]
home = "../data"
run = None
figures = None

# %%
from pathlib import Path

import matplotlib.pyplot as plt

from models.fairness import fairness_report
from models.metrics import grade_metrics
from models.plots import confusion_figure, reliability_figure, use_cjk_font
from pipelines.review import load_champion, load_run

use_cjk_font()
figures = Path(figures) if figures else None
if figures:
    figures.mkdir(parents=True, exist_ok=True)
review = load_champion(Path(home))
day = load_run(Path(home), Path(run) if run else None)
print(
    f"champion: {review.name} v{review.version}; trained on data to {review.grader.training_['data_cutoff']}"
)

# %% [markdown]
# ## 回测 · Backtest (rolling origin, out of sample), all models on the same folds

# %%
metrics = ["macro_f1", "high_recall", "high_precision", "auc_ovr", "log_loss", "brier", "ece"]
table = review.table.set_index(["fold", "model"])[[m for m in metrics if m in review.table]]
display(table.round(3))
overall = table.xs("overall", level="fold")
if "oracle" in overall.index:
    print(
        f"gap to the oracle: log-loss x{overall.loc['lightgbm', 'log_loss'] / overall.loc['oracle', 'log_loss']:.3f}, "
        f"macro-F1 {overall.loc['lightgbm', 'macro_f1'] - overall.loc['oracle', 'macro_f1']:+.3f}"
    )

# %% [markdown]
# ## 校准与混淆 · Calibration and confusion

# %%
classes = ["低", "中", "高"]
lgbm = review.predictions[review.predictions["model"] == "lightgbm"]
proba = lgbm[[f"p_{c}" for c in classes]].to_numpy()
fig = reliability_figure(lgbm["y"].to_numpy(), proba, classes, title="回测概率校准曲线")
if figures:
    fig.savefig(figures / "02_calibration.png", dpi=100, bbox_inches="tight")
plt.show()
pooled = grade_metrics(lgbm["y"].to_numpy(), proba, lgbm["predicted"].to_numpy(), classes)
confusion_figure(pooled["confusion"], classes, "回测混淆矩阵（三个折合计）")
plt.show()

# %% [markdown]
# ## 解释 · What the model looks at: globally, and for today's highest-risk cases

# %%
importance = review.grader.importance().head(20)
measure = "增益" if review.grader.use_boosters_ else "线索权重"  # boosters' gain, or cue weights
ax = importance["total"][::-1].plot.barh(figsize=(7, 6), title=f"特征重要性（{measure}，前20）")
plt.show()
top = day.scores.sort_values("score", ascending=False).head(10)[
    ["case_id", "grade", "score", "reasons"]
]
display(top)

# %% [markdown]
# ## 公平性 · Fairness across districts and channels
#
# Score distributions, 高 recall and false-alarm rate per group, from the backtest's out-of-sample
# predictions. Gaps beyond the tolerance (recall ±15 points, false alarms ±5 points) are called out.

# %%
for group in ("district", "channel"):
    report = fairness_report(lgbm, group)
    display(report.table.round(3))
    for finding in report.findings:
        print(finding)

# %%
scored = lgbm.assign(score=100 * (lgbm["p_高"] + 0.5 * lgbm["p_中"]))
ax = scored.boxplot(column="score", by="district", figsize=(8, 4))
ax.set_title("风险分分布（按区县）")
plt.suptitle("")
plt.show()
