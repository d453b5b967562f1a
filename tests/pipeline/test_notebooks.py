"""The analysts' notebooks run against a demo day, draw Chinese labels, and are committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from models.plots import ink_difference, text_card

pytestmark = pytest.mark.xdist_group("flows")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_data_profile", "02_model_review", "03_hotspot_review"]


@pytest.fixture(scope="session")
def executed(demo_home, demo_day, tmp_path_factory):
    """Execute every notebook with papermill against the demo run; return the figures folder."""
    import papermill

    figures = tmp_path_factory.mktemp("figures")
    out = tmp_path_factory.mktemp("executed")
    for name in NAMES:
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(out / f"{name}.ipynb"),
            kernel_name="python3",
            parameters={"home": str(demo_home), "run": str(demo_day), "figures": str(figures)},
            cwd=str(NOTEBOOKS),
            progress_bar=False,
        )
    return figures


@pytest.mark.parametrize("name", NAMES)
def test_every_notebook_runs_and_saves_a_figure(executed, name):
    assert list(executed.glob(f"{name[:2]}_*.png")), f"{name} saved no figure"


def test_chart_labels_are_chinese_glyphs_not_boxes(executed, tmp_path):
    title = executed / "01_title.png"
    text_card("数据概况").savefig(tmp_path / "cjk.png")
    text_card("数据概况", font="DejaVu Sans").savefig(tmp_path / "boxes.png")
    # The notebook's title renders as the CJK font does, and unlike the missing-glyph boxes.
    assert ink_difference(title, tmp_path / "cjk.png") < 0.005
    assert ink_difference(title, tmp_path / "boxes.png") > 0.03


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs_and_paired(name):
    import jupytext

    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert all(
        not c.get("outputs") and not c.get("execution_count")
        for c in notebook.cells
        if c.cell_type == "code"
    )
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert [c.source for c in script.cells] == [c.source for c in notebook.cells]
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)
