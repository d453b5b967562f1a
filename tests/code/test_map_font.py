"""The map's embedded CJK font: it holds the page's characters, and a page with the same
characters reuses the subset an earlier page made."""

import base64
import io
import re
from pathlib import Path

import pytest
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


def test_a_page_with_the_same_characters_reuses_the_cached_subset(tmp_path, monkeypatch):
    cache = tmp_path / "fonts"
    first = mapview._embed_cjk_font(_page("东辽县热点"), cache)
    assert len(list(cache.glob("*.otf"))) == 1

    def cut(characters):
        raise AssertionError("the font was cut again")

    monkeypatch.setattr(mapview, "_cut_font", cut)
    again = mapview._embed_cjk_font(_page("热点东辽县"), cache)  # the same characters, reordered
    assert _font_data(again) == _font_data(first)
    with pytest.raises(AssertionError, match="cut again"):
        mapview._embed_cjk_font(_page("西安区"), cache)


def test_the_cache_keeps_only_the_most_recently_used_subsets(tmp_path, monkeypatch):
    monkeypatch.setattr(mapview, "FONT_CACHE_FILES", 2)
    monkeypatch.setattr(mapview, "_cut_font", lambda characters: characters.encode("utf-8"))
    cache = tmp_path / "fonts"
    for text in ("东", "西", "南"):
        mapview._font_subset(text, cache)
    kept = {p.read_bytes().decode("utf-8") for p in cache.glob("*.otf")}
    assert kept == {"西", "南"} and not list(cache.glob("*.part"))


def test_the_same_characters_give_the_same_font_bytes_whenever_it_is_cut():
    """The subset keeps the font's own date: a page made again tomorrow is the same page."""
    from importlib import resources

    source = resources.files("mplfonts").joinpath("fonts", "NotoSansCJKsc-Regular.otf")
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
