"""Files the map keeps between nights (county outlines), safe to delete."""

from __future__ import annotations

import os
from pathlib import Path


def keep(path: Path, data: bytes) -> None:
    """Write data to path whole or not at all, also with two nights writing it at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
