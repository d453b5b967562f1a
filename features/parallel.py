"""Running work on more than one core: worker processes for large inputs, forks for smaller ones.

plan() is the one policy every step asks: large inputs go in chunks to loky worker processes
(map_chunks), which take seconds to start and pay off from some 50,000 rows; smaller ones can
still use a second core through forks of this process (in_forks), which start in milliseconds
with everything already loaded; the rest runs here. in_background runs one call in a child
process, forked or spawned; in_forks and the backtest's baselines use it.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# The fewest rows worth a fork's work: a fork and its result's trip back take some 20-50 ms, a
# case's features about 60 us.
FORK_MIN_ROWS = 1000
# A forked worker that has not answered by then is taken to hang (50,000 rows take seconds).
FORK_TIMEOUT_S = 900
# The fewest rows worth worker processes: each imports the libraries and receives its inputs.
PROCESSES_MIN_ROWS = 50_000


@dataclass(frozen=True)
class Plan:
    """How a step runs: "serial" (here), "fork" (forks of this process) or "processes"."""

    how: str
    jobs: int


def plan(rows: int, n_jobs: int, forks: bool = False, processes_from: int | None = None) -> Plan:
    """Return how to run a step over `rows` rows with the n_jobs setting.

    Worker processes from `processes_from` rows (PROCESSES_MIN_ROWS unless a step's rows cost
    more); below that, forks of FORK_MIN_ROWS rows or more each if the step can run in forks
    (`forks`) and this process may fork; else this process alone.
    """
    jobs = processes(n_jobs)
    if jobs > 1 and rows >= (PROCESSES_MIN_ROWS if processes_from is None else processes_from):
        return Plan("processes", jobs)
    parts = min(jobs, rows // FORK_MIN_ROWS)
    if forks and parts > 1 and _may_fork():
        return Plan("fork", parts)
    return Plan("serial", 1)


def processes(n_jobs: int) -> int:
    """Return how many processes an n_jobs setting means: -1 all cores, otherwise at least one."""
    return (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)


def chunk_rows(n_rows: int, jobs: int, max_rows: int) -> int:
    """Return rows per chunk for n_rows over jobs: at least one chunk a job, none over max_rows."""
    return math.ceil(n_rows / max(jobs, math.ceil(n_rows / max_rows)))


def map_chunks(function, size: int, jobs: int, *sliced, fixed: tuple = ()) -> list:
    """Return function(*chunks, *fixed) for each run of `size` rows of the `sliced` inputs (lists,
    arrays, frames or series of one length, frames and series cut by position), computed over
    `jobs` loky processes, in input order."""
    from joblib import Parallel, delayed

    def rows(items, start: int):
        return (
            items.iloc[start : start + size]
            if hasattr(items, "iloc")
            else items[start : start + size]
        )

    return Parallel(n_jobs=jobs, backend="loky")(
        delayed(function)(*(rows(items, start) for items in sliced), *fixed)
        for start in range(0, len(sliced[0]), size)
    )


def in_forks(calls: Sequence[Callable[[], object]], jobs: int) -> list:
    """Return [call() for call in calls]: the first call in this process and each other one in a
    forked child at the same time, when jobs > 1 and this process may fork; else all here.

    For inputs too small to start worker interpreters for: a fork starts in milliseconds with
    everything this process has loaded, where a loky worker took 5.9 s to import the libraries
    and receive a fitted featuriser. What runs in a child must not use OpenMP (LightGBM's thread
    pool does not survive a fork) and must not start processes of its own; the children are
    daemonic, so it cannot. Errors come back as in_background raises them; a child that gives no
    result within FORK_TIMEOUT_S is taken to hang.
    """
    if jobs <= 1 or len(calls) <= 1 or not _may_fork():
        return [call() for call in calls]
    with contextlib.ExitStack() as stack:
        waits = [
            stack.enter_context(in_background(call, "fork", FORK_TIMEOUT_S)) for call in calls[1:]
        ]
        return [calls[0](), *(wait() for wait in waits)]


@contextlib.contextmanager
def in_background(call: Callable[[], object], start: str, timeout: float | None = None):
    """Start call() in a daemonic child process, forked or spawned (a fresh interpreter, which
    needs call to pickle); yield a function that waits for its result.

    The child is killed when the block is left, so an error in the block does not wait for it.
    An error in the child is raised again by the waiting function, with the child's traceback as
    a note; a child that dies, or gives no result within `timeout` seconds, is a RuntimeError.
    """
    context = multiprocessing.get_context(start)
    sys.stdout.flush()  # a fork would otherwise write what is buffered now again
    sys.stderr.flush()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_send_result, args=(call, send), daemon=True)
    child.start()
    send.close()
    name = getattr(getattr(call, "func", call), "__name__", "a call")

    def result():
        if not receive.poll(timeout):
            raise RuntimeError(f"{name} gave no result in its process in {timeout} s")
        try:
            succeeded, value, trace = receive.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"{name} died in its process (exit code {child.exitcode})") from None
        if not succeeded:
            value.add_note(f"{name} failed in its process:\n{trace}")
            raise value
        return value

    try:
        yield result
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _may_fork() -> bool:
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _send_result(call: Callable[[], object], send) -> None:
    # A fork inherits the parent's signal handlers: Prefect's turned the parent's terminate()
    # after the result into a TerminationSignal traceback in the night's log.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        outcome = (True, call(), "")
    except BaseException as error:  # the parent raises it again, with this traceback
        outcome = (False, error, "".join(traceback.format_exception(error)))
    try:
        send.send(outcome)
    except Exception as error:  # e.g. an exception that does not pickle
        send.send((False, RuntimeError(f"the result could not be sent: {error!r}"), ""))
    send.close()
