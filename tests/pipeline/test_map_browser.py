"""map.html as a reader's browser shows it: headless Chromium, offline, no script error."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.hotspots import hotspot_cells
from pipelines.publish.feed import feed_document
from pipelines.publish.mapview import build_map
from tests.browser import render
from tests.code.test_hotspots_feed import _cluster_cases

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def feed():
    cases = _cluster_cases()
    # townships and communities by position: the planted cluster is 福镇街道's 福园社区
    east = cases["lon"] > 125.2
    cases["district"] = "龙山区"
    cases["street"] = np.where(east, "东城街道", "福镇街道")
    cases["community"] = np.where(
        east, np.where(cases["lat"] > 42.85, "东北社区", "东南社区"), "福园社区"
    )
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    return feed_document(cells, cases, {"run_date": "2025-12-31"}, places=cases)


def _zoomed(html: str, zoom: int) -> str:
    """Return the page zoomed to a level once it has settled, as a reader zooming in sees it."""
    name = re.search(r"var (map_[0-9a-f]+) = L\.map", html).group(1)
    zoom_in = f"setTimeout(function(){{{name}.setZoom({zoom},{{animate:false}});}},500);"
    return html.replace("</html>", f"<script>{zoom_in}</script></html>")


def test_township_and_community_names_appear_at_the_zoom_where_they_fit(feed, tmp_path):
    places = [f["properties"] for f in feed["features"] if f["properties"]["layer"] == "place"]
    assert {(p["level"], p["name"]) for p in places} == {
        ("街道", "东城街道"), ("街道", "福镇街道"),
        ("社区", "东北社区"), ("社区", "东南社区"), ("社区", "福园社区"),
    }  # fmt: skip
    html = build_map(feed)
    shown = {}
    for zoom in (10, 12, 14):
        page = tmp_path / f"map-{zoom}.html"
        page.write_text(_zoomed(html, zoom), encoding="utf-8")
        rendered = render(page)
        assert rendered.script_errors == [] and rendered.requests == []
        shown[zoom] = set(re.findall(r'<div class="fq-place fq-[^"]+">([^<]+)</div>', rendered.dom))
    assert shown[10] == set()
    assert shown[12] == {"东城街道", "福镇街道"}
    assert shown[14] == {"东城街道", "福镇街道", "东北社区", "东南社区", "福园社区"}


def _scale_lines(dom: str) -> list[str]:
    return re.findall(r'class="leaflet-control-scale-line"[^>]*>([^<]+)<', dom)


def test_the_map_draws_counties_cells_scale_and_legend_offline_without_errors(feed, tmp_path):
    page = tmp_path / "map.html"
    page.write_text(build_map(feed), encoding="utf-8")
    shown = render(page)
    assert shown.requests == []  # nothing leaves the machine
    assert shown.script_errors == []
    cells = sum(f["properties"]["layer"] == "cell" for f in feed["features"])
    points = sum(f["properties"]["layer"] == "case" for f in feed["features"])
    assert cells > 20 and points > 20
    # every hexagon and every case marker became an SVG path on the map
    assert shown.dom.count('class="leaflet-interactive"') >= cells + points
    # the county outlines (dashed) and names around the cases: 辽源's districts
    assert shown.dom.count('stroke-dasharray="6 4"') >= 4
    names = re.findall(r'<div class="fq-county">([^<]+)</div>', shown.dom)
    assert {"龙山区", "西安区", "东辽县", "东丰县"} <= set(names)
    scale = _scale_lines(shown.dom)
    assert scale and all(re.fullmatch(r"\d+ k?m", line) for line in scale)  # metric only
    for text in (
        "平安地图",
        "热点-99%",
        "不显著",
        "热点网格",
        "高风险案件",
        "类型：邻里纠纷",
        "区县界",
    ):
        assert text in shown.dom


def test_the_checks_see_a_page_that_calls_out_or_breaks(feed, tmp_path):
    # The same checks fail on a page with base tiles from a server and a broken script.
    page = tmp_path / "map.html"
    html = build_map(feed, tiles="https://tile.example.invalid/{z}/{x}/{y}.png")
    page.write_text(html.replace("</body>", "<script>notDefined()</script></body>"), "utf-8")
    shown = render(page)
    assert any(url.startswith("https://tile.example.invalid/") for url in shown.requests)
    assert any("notDefined" in line for line in shown.script_errors)
