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
# # 数据概况 · Data profile
#
# What came in and how clean it was: intake by channel, type, place and time; the quarantine and
# 七何 completeness; how many reports were merged as the same dispute (同案). Run it on any
# published day: `home` is fengqiao's data folder, `run` one day's output folder.

# %% tags=["parameters"]
home = "../data"
run = None  # e.g. "../data/outputs/2025-12-31"; default: the latest published day
figures = None  # a folder to save the figures in; default: do not save

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from models.plots import text_card, use_cjk_font
from pipelines.review import load_history, load_run

use_cjk_font()
figures = Path(figures) if figures else None
if figures:
    figures.mkdir(parents=True, exist_ok=True)
    text_card("数据概况").savefig(figures / "01_title.png")

day = load_run(Path(home), Path(run) if run else None)
history = load_history(Path(home), pd.Timestamp(day.folder.name), days=365)
print(f"{day.folder.name}: {day.manifest['rows']}")

# %% [markdown]
# ## 受理量 · Intake over the last year, by channel

# %%
weekly = pd.crosstab(history["reported_at"].dt.to_period("W").dt.start_time, history["channel"])
ax = weekly.plot(figsize=(10, 4), title="每周受理量（按来源渠道）")
ax.set_xlabel("周")
ax.set_ylabel("件数")
if figures:
    ax.figure.savefig(figures / "01_intake_by_channel.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## 类型与地点 · Types and places

# %%
by_type = history["dispute_type"].fillna("未填").value_counts()
by_district = pd.crosstab(history["district"], history["grade"])
display(by_type.to_frame("件数"))
display(by_district)

# %% [markdown]
# ## 时段 · When reports come in

# %%
hours = history["reported_at"].dt.hour.value_counts().sort_index()
ax = hours.plot.bar(figsize=(10, 3), title="受理时段分布")
ax.set_xlabel("小时")
plt.show()

# %% [markdown]
# ## 数据质量 · Quarantine and 七何 completeness

# %%
rows = day.manifest["rows"]
print(
    f"输入 {rows['in']} 行，研判 {rows['scored']} 行，隔离 {rows['quarantined']} 行，七何不全 {rows['incomplete_7he']} 件"
)
display(day.quarantine.head(20))
if len(day.scored):
    missing = (
        day.scored["missing_elements"]
        .replace("", pd.NA)
        .dropna()
        .str.split("、")
        .explode()
        .value_counts()
    )
    display(missing.to_frame("缺项件数"))
completeness = history["completeness"].describe()
display(completeness.to_frame("七何完整度（近一年）"))

# %% [markdown]
# ## 同案合并 · Reports merged as one dispute

# %%
if len(day.scored):
    sizes = day.scored["grp_size"].value_counts().sort_index()
    channels = day.scored["grp_channels"].value_counts().sort_index()
    display(pd.DataFrame({"同案数（截至该报告）": sizes, "渠道数": channels}).fillna(0).astype(int))
groups = history.groupby("group_id").size()
print(
    f"近一年 {len(history)} 件报告归为 {len(groups)} 件纠纷；{(groups > 1).sum()} 件纠纷被重复反映。"
)
