"""Progress bars for long steps, drawn on a terminal only (CI logs and notebooks stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_bar(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield items, showing a rich progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(
        items, description=description, total=total, transient=True, console=Console(stderr=True)
    )
