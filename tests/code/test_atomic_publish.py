"""Publishing a day is atomic: killed or failing at any point, it leaves the previous day or the
new one in place, and nothing else behind once the next publish starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.publish import atomic_folder

ROOT = Path(__file__).resolve().parents[2]


def _publish(final: Path, text: str) -> None:
    with atomic_folder(final) as staging:
        (staging / "report.md").write_text(text, encoding="utf-8")


def _debris(final: Path) -> list[str]:
    return sorted(p.name for p in final.parent.iterdir() if p.name.startswith("."))


def test_killed_between_the_two_renames_the_next_publish_cleans_up(tmp_path):
    final = tmp_path / "outputs" / "2025-12-31"
    _publish(final, "yesterday's run")
    child = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        import pipelines.publish as publish

        renames = []
        real_rename = os.rename

        def rename(src, dst):
            renames.append(src)
            if len(renames) == 2:  # the day is moved aside, the new one not yet in place
                os.kill(os.getpid(), signal.SIGKILL)
            real_rename(src, dst)

        publish.os.rename = rename
        with publish.atomic_folder(Path({str(final)!r})) as staging:
            (staging / "report.md").write_text("tonight's run", encoding="utf-8")
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    # The crash left the day moved aside and the new one staged: the state to recover from.
    assert not final.exists()
    assert [n.rsplit("-", 1)[0] for n in _debris(final)] == [
        ".2025-12-31.old",
        ".2025-12-31.partial",
    ]

    _publish(final, "the re-run")
    assert (final / "report.md").read_text(encoding="utf-8") == "the re-run"
    assert _debris(final) == []


def test_a_re_run_that_fails_after_a_crash_keeps_the_previous_day(tmp_path):
    final = tmp_path / "outputs" / "2025-12-31"
    _publish(final, "yesterday's run")
    aside = final.parent / ".2025-12-31.old-deadbeef"
    os.rename(final, aside)  # as a kill between the renames leaves it
    with pytest.raises(RuntimeError), atomic_folder(final):
        raise RuntimeError("scoring failed")
    assert (final / "report.md").read_text(encoding="utf-8") == "yesterday's run"
    assert _debris(final) == []


def test_a_failure_between_the_renames_puts_the_previous_day_back(tmp_path, monkeypatch):
    final = tmp_path / "outputs" / "2025-12-31"
    _publish(final, "yesterday's run")
    import pipelines.publish as publish

    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".2025-12-31.partial"):
            raise OSError("disk full")
        real_rename(src, dst)

    monkeypatch.setattr(publish.os, "rename", rename)
    with pytest.raises(OSError, match="disk full"):
        _publish(final, "tonight's run")
    assert (final / "report.md").read_text(encoding="utf-8") == "yesterday's run"
    assert _debris(final) == []
