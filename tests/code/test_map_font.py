"""The map's embedded CJK font: it holds the page's characters and no more, the same characters
always give the same bytes, and every glyph it keeps lies within its declared bounds."""

import base64
import io
import re
from pathlib import Path

from fontTools.ttLib import TTFont

from pipelines.publish import mapview


def _page(text: str) -> str:
    return (
        f'<html><head></head><body><p>{text}</p><script>var t = "\\u9ad8";</script></body></html>'
    )


def _font_data(html: str) -> bytes:
    return base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", html).group(1))


def _embedded_font(html: str) -> TTFont:
    return TTFont(io.BytesIO(_font_data(html)))


def test_the_font_holds_the_pages_characters_escaped_or_not():
    html = mapview._embed_cjk_font(_page("东辽县热点"))
    cmap = _embedded_font(html).getBestCmap()
    assert {ord(ch) for ch in "东辽县热点高"} <= set(cmap)
    assert ord("低") not in cmap  # a subset, not the whole font


def test_the_same_characters_give_the_same_font_bytes_whenever_it_is_cut():
    """The subset keeps the font's own date: a page made again tomorrow is the same page."""
    from importlib import resources

    source = resources.files("mplfonts").joinpath("fonts", "NotoSansCJKsc-Regular.otf")
    assert mapview._cut_font("东辽县热点") == mapview._cut_font("东辽县热点")
    subset = TTFont(io.BytesIO(mapview._cut_font("东辽县热点")))
    assert subset["head"].modified == TTFont(str(source), lazy=True)["head"].modified


def test_the_subsets_declared_bounds_hold_every_glyph_it_keeps():
    """The subset keeps the whole font's bounding box (not measured again): no glyph is outside
    it, so no browser clips one."""
    from fontTools.pens.boundsPen import BoundsPen

    subset = TTFont(io.BytesIO(mapview._cut_font("东辽县热点龘㐀『』（）①")))
    glyphs = subset.getGlyphSet()
    head, hhea, hmtx = subset["head"], subset["hhea"], subset["hmtx"]
    for name in subset.getGlyphOrder():
        pen = BoundsPen(glyphs)
        glyphs[name].draw(pen)
        if pen.bounds is None:  # a blank glyph
            continue
        x_min, y_min, x_max, y_max = pen.bounds
        assert head.xMin <= x_min and head.yMin <= y_min, name
        assert x_max <= head.xMax and y_max <= head.yMax, name
        assert hmtx[name][0] <= hhea.advanceWidthMax, name


def test_the_font_is_found_where_mplfonts_ships_it_without_importing_matplotlib():
    import subprocess
    import sys
    from importlib import resources

    from models.fonts import cjk_font_path

    shipped = resources.files("mplfonts").joinpath("fonts", "NotoSansCJKsc-Regular.otf")
    assert cjk_font_path() == Path(str(shipped)) and cjk_font_path().is_file()
    code = (
        "import sys; from models.fonts import cjk_font_path; cjk_font_path(); "
        "print(sorted(m for m in ('matplotlib', 'mplfonts') if m in sys.modules))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"
