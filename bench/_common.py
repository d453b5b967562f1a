"""Shared helpers for the benchmarks: machine description, timing, peak memory, results files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(tempfile.gettempdir()) / "fengqiao-bench"  # generated inputs, reused across runs


def machine() -> dict:
    """Return a description of this machine, to print beside every table."""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        cpu = platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
    }


def peak_rss_mib() -> float:
    """Return this process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Sample the memory of this process and all its children (worker processes, servers) every
    `interval` seconds; `peak_mib` is the largest sum seen, `peak_at` how many seconds after
    entering it was seen and `peak_parts` which processes held it (MiB by process name, largest
    first). Use as a context manager.

    Summed as proportional set sizes (PSS): a page shared by a process and its forks counts once,
    split between them. `peak_rss_sum_mib` is the largest sum of resident sizes, which counts a
    fork's shared pages again for every fork (what these benches reported before 2026-12-03).
    include_self=False counts only the children: for a command run in a process of its own, the
    bench's own memory is not the command's (nightly.py counted it before 2026-12-05).
    """

    def __init__(self, interval: float = 0.2, include_self: bool = True):
        self.interval = interval
        self.include_self = include_self
        self.peak_mib = 0.0
        self.peak_rss_sum_mib = 0.0
        self.peak_at = 0.0
        self.peak_parts: dict[str, int] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        started = time.perf_counter()
        while not self._stop.is_set():
            parts: dict[str, float] = {}
            rss = 0.0
            processes = me.children(recursive=True)
            for proc in [me, *processes] if self.include_self else processes:
                with contextlib.suppress(psutil.Error):
                    label = "bench" if proc is me else _process_label(proc)
                    info = proc.memory_full_info()
                    parts[label] = parts.get(label, 0) + getattr(info, "pss", info.rss) / 2**20
                    rss += info.rss / 2**20
            self.peak_rss_sum_mib = max(self.peak_rss_sum_mib, rss)
            total = sum(parts.values())
            if total > self.peak_mib:
                self.peak_mib, self.peak_at = total, time.perf_counter() - started
                self.peak_parts = {
                    k: round(v) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
                }
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _process_label(proc: psutil.Process) -> str:
    """Name a process by what it runs: the fengqiao command, a worker pool, Prefect's server."""
    command = " ".join(proc.cmdline())
    for needle, label in (
        ("prefect", "prefect server"),
        ("uvicorn", "prefect server"),
        ("loky", "loky workers"),
        ("multiprocessing", "spawned workers"),
        ("dask", "dask workers"),
        ("fengqiao", "fengqiao"),
    ):
        if needle in command:
            return label
    return proc.name()


@contextmanager
def timer(timings: dict, name: str):
    started = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - started, 2)


def stamp() -> dict:
    """Return when and at which commit a measurement was taken."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"commit": commit or "unknown", "measured_on": time.strftime("%Y-%m-%d")}


def read_results(name: str) -> dict:
    """Return bench/results/<name>.json as last written ({} if there is none)."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_results(name: str, payload: dict) -> Path:
    """Write bench/results/<name>.json with the machine description; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"machine": machine(), **payload}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def ingest_demo(city):
    """Return a demo city's export ingested as a centre's would be: a UTF-8 CSV with BOM, read
    back through fengqiao's ingest with a bench secret, run date 2025-12-31."""
    import datetime as dt

    from pipelines.ingest import ColumnMapping, ingest_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.csv"
        city.export.to_csv(path, index=False, encoding="utf-8-sig")
        return ingest_file(path, ColumnMapping(), "bench-secret-xxxxxxxx", dt.date(2025, 12, 31))


def report_checks(checks: list[tuple[str, bool]]) -> list[dict]:
    """Print PASS/FAIL per check; return them as JSON records."""
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return [{"check": text, "pass": bool(ok)} for text, ok in checks]


def run_isolated(script: Path, *args: str) -> dict:
    """Run a benchmark step in a fresh Python process (so its peak memory is its own); return its JSON."""
    out = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
