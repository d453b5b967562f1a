"""Charts for model review (confusion matrix, reliability diagram), labelled in Chinese.

Chinese glyphs need a CJK font. The Noto Sans CJK SC font shipped in the mplfonts wheel is
registered with matplotlib on first use, so no system font and no download is needed.
"""

from __future__ import annotations

import functools

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager

from models.fonts import cjk_font_path


@functools.cache
def use_cjk_font() -> str:
    """Register the shipped Noto Sans CJK SC with matplotlib, make it the default, return its name."""
    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [name, *matplotlib.rcParams["font.sans-serif"]]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return name


def confusion_figure(
    confusion: list[list[int]], classes: list[str], title: str = "混淆矩阵"
) -> plt.Figure:
    """Return a confusion-matrix heatmap: rows are staff grades, columns the model's."""
    use_cjk_font()
    matrix = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("模型判定")
    ax.set_ylabel("人工定级")
    ax.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    fig.tight_layout()
    return fig


def reliability_figure(
    y: np.ndarray,
    proba: np.ndarray,
    classes: list[str],
    n_bins: int = 10,
    title: str = "概率校准曲线",
) -> plt.Figure:
    """Return a reliability diagram: per class, observed frequency against mean predicted probability."""
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="完美校准")
    for k, name in enumerate(classes):
        p, hit = proba[:, k], (y == k)
        edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
        bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
        used = [b for b in range(n_bins) if (bins == b).any()]
        ax.plot(
            [p[bins == b].mean() for b in used],
            [hit[bins == b].mean() for b in used],
            marker="o",
            label=f"{name}",
        )
    ax.set_xlabel("预测概率")
    ax.set_ylabel("实际频率")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def text_card(text: str, font: str | None = None) -> plt.Figure:
    """Return a small figure showing one line of text, in the CJK font (or in the named font).

    Rendered in a font without Chinese glyphs, the same text comes out as empty boxes; comparing
    the two renders tells whether a chart's Chinese labels really show.
    """
    use_cjk_font()
    fig = plt.figure(figsize=(4, 1), dpi=100)
    fig.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        fontsize=24,
        **({"fontfamily": font} if font else {}),
    )
    return fig


def ink_difference(a, b) -> float:
    """Return the share of pixels that differ between two same-sized images (file paths or arrays)."""
    from PIL import Image

    def pixels(x):
        return (
            np.asarray(Image.open(x).convert("L"))
            if isinstance(x, str | bytes) or hasattr(x, "read_bytes")
            else np.asarray(x)
        )

    first, second = pixels(a), pixels(b)
    if first.shape != second.shape:
        raise ValueError(f"images differ in size: {first.shape} and {second.shape}")
    return float((np.abs(first.astype(int) - second.astype(int)) > 32).mean())
