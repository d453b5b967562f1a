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
# # 热点评审 · Hotspot review
#
# The day's map, the Getis-Ord Gi* classes (FDR-controlled), the emerging-trend classes
# (Mann-Kendall), and how well the feed's top cells predicted the following week's 高 cases (PAI)
# against two naive baselines.

# %% tags=["parameters"]
home = "../data"
run = None
figures = None

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import IFrame

from models.hotspots import pai_evaluation
from models.plots import use_cjk_font
from pipelines.review import load_history, load_run

use_cjk_font()
figures = Path(figures) if figures else None
if figures:
    figures.mkdir(parents=True, exist_ok=True)
day = load_run(Path(home), Path(run) if run else None)
cells = pd.DataFrame(
    [f["properties"] for f in day.feed["features"] if f["properties"]["layer"] == "cell"]
)
print(f"{day.folder.name}: {len(cells)} cells, {day.feed['fengqiao']}")

# %% [markdown]
# ## 地图 · The map

# %%
IFrame(str(day.folder / "map.html"), width=900, height=600)

# %% [markdown]
# ## 热点与冷点 · Gi* classes and emerging trends

# %%
display(cells["hot_class"].value_counts().to_frame("网格数"))
display(cells["trend"].value_counts().to_frame("网格数"))
hot = cells[cells["hot_class"].str.startswith("热点")].sort_values("gi_z", ascending=False)
display(
    hot[["cell", "hot_class", "trend", "n_cases", "n_高", "n_中", "top_type", "gi_z", "gi_p"]].head(
        15
    )
)
ax = (
    cells.groupby("trend")["n_cases"].sum().plot.bar(figsize=(7, 3), title="各趋势类别的近期案件数")
)
if figures:
    ax.figure.savefig(figures / "03_trends.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## 预测准确指数 · PAI against baselines
#
# On weekly days before the run date (so that the following week is known), each method flags its
# top 5% of cells; the target is the next 7 days' 高 cases. PEI* is the share of what the best
# choice of as many cells would have caught.

# %%
end = pd.Timestamp(day.folder.name)
history = load_history(Path(home), end, days=200)
days = [end - pd.Timedelta(days=7 * k) for k in range(8, 1, -1)]
pai = pai_evaluation(history, days, shares=(0.05,), horizons=(7,))
display(pai.groupby("method")[["hit_rate", "pai", "pei_star"]].mean().round(3))
