"""Work on more than one core: forks for inputs too small for worker processes."""

from __future__ import annotations

import os
import time

import pytest

import features.parallel
from features.parallel import in_forks


def test_forked_calls_return_in_order_from_another_process():
    here, there = in_forks([os.getpid, os.getpid], jobs=2)
    assert here == os.getpid() and there != here
    assert in_forks([os.getpid, os.getpid], jobs=1) == [os.getpid()] * 2


def test_a_forked_call_that_fails_or_dies_fails_the_caller():
    with pytest.raises(ZeroDivisionError) as failed:
        in_forks([lambda: 1, lambda: 1 / 0], jobs=2)
    assert "<lambda> failed in its process" in failed.value.__notes__[0]
    with pytest.raises(RuntimeError, match="exit code 3"):
        in_forks([lambda: 1, lambda: os._exit(3)], jobs=2)
    with pytest.raises(RuntimeError, match="could not be sent"):
        in_forks([lambda: 1, lambda: lambda: 0], jobs=2)  # a lambda does not pickle


def test_a_forked_call_that_hangs_fails_the_caller_in_time(monkeypatch):
    monkeypatch.setattr(features.parallel, "FORK_TIMEOUT_S", 0.5)
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"no result in its process in 0\.5 s"):
        features.parallel.in_forks([lambda: 1, lambda: time.sleep(60)], jobs=2)
    assert time.perf_counter() - started < 30  # the child was not waited for


def test_a_fork_ends_quietly_whatever_the_parents_sigterm_handler(capfd):
    """Prefect's flow runs raise on SIGTERM; a fork that kept the handler printed a
    TerminationSignal traceback when it was ended after giving its result."""
    import signal

    def loud(signum, frame):
        raise RuntimeError("the parent's SIGTERM handler ran")

    before = signal.signal(signal.SIGTERM, loud)
    try:
        here, there = in_forks(
            [lambda: signal.getsignal(signal.SIGTERM), lambda: signal.getsignal(signal.SIGTERM)],
            jobs=2,
        )
        assert here is loud and there == signal.SIG_DFL
        with features.parallel.in_background(lambda: 1, "fork") as wait:
            assert wait() == 1
        assert "SIGTERM handler ran" not in capfd.readouterr().err
    finally:
        signal.signal(signal.SIGTERM, before)


def test_one_plan_for_every_step():
    """Serial when small or on one core, forks in between for steps that can fork, worker
    processes from PROCESSES_MIN_ROWS (or a step's own lower count)."""
    from features.parallel import FORK_MIN_ROWS, PROCESSES_MIN_ROWS, Plan, plan

    assert plan(10, 2, forks=True) == Plan("serial", 1)
    assert plan(PROCESSES_MIN_ROWS, 1, forks=True) == Plan("serial", 1)
    assert plan(2 * FORK_MIN_ROWS, 2, forks=True) == Plan("fork", 2)
    assert plan(2 * FORK_MIN_ROWS, 2) == Plan("serial", 1)  # a step that cannot fork
    assert plan(3 * FORK_MIN_ROWS, 8, forks=True) == Plan("fork", 3)  # each fork its share
    assert plan(PROCESSES_MIN_ROWS, 2, forks=True) == Plan("processes", 2)
    assert plan(20_000, 2, processes_from=20_000) == Plan("processes", 2)


def test_releasing_memory_stops_the_idle_worker_processes():
    from joblib import Parallel, delayed

    from pipelines.steps import release_memory

    workers = set(Parallel(n_jobs=2, backend="loky")(delayed(os.getpid)() for _ in range(8)))
    assert workers and os.getpid() not in workers
    release_memory()
    release_memory()  # with no pool left, it starts none

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
