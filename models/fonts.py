"""The CJK font fengqiao draws and publishes with: Noto Sans CJK SC, shipped in the mplfonts wheel."""

from __future__ import annotations

import functools
from importlib import util
from pathlib import Path

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"


@functools.cache
def cjk_font_path() -> Path:
    """Return the font file's path, found without importing mplfonts (which imports matplotlib:
    more than half a second of a night that only embeds the font in its map)."""
    spec = util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the mplfonts package, which holds the CJK font, is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / CJK_FONT_FILE
