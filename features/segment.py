"""Chinese word segmentation with jieba's semantics and fengqiao's domain dictionary.

Two engines give the same tokens: jieba itself, and rjieba (the Rust jieba-rs, several times
faster). Both load jieba's dictionary plus the shipped domain dictionary with identical explicit
frequencies, and both run without the HMM new-word guesser: its handling of runs of digits and
Latin letters differs between the two, while the dictionary path is the same algorithm. bench/
features.py measures the agreement and the speed.

The segmenter is a scikit-learn transformer: fit learns the place names in the training data (so
that 春晖社区 stays one token), and the fitted object goes to scoring unchanged. Tokenizers are
created lazily and left out of the pickle: jieba's holds a lock and neither engine pickles.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from importlib import resources

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

ENGINES = ("rjieba", "jieba")
PLACE_FREQ = 20000
_PARALLEL_MIN_TEXTS = 20000
# The fewest rows worth a fork's work: a fork and its result's trip back take some 20-50 ms, a
# case's features about 60 us.
FORK_MIN_ROWS = 1000
# A forked worker that has not answered by then is taken to hang (50,000 rows take seconds).
FORK_TIMEOUT_S = 900


@functools.cache
def domain_dictionary() -> tuple[tuple[str, int, str], ...]:
    """Return the shipped domain dictionary as (word, frequency, tag) entries."""
    text = (
        resources.files("features").joinpath("resources/userdict.txt").read_text(encoding="utf-8")
    )
    entries = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, freq, tag = line.split()
            entries.append((word, int(freq), tag))
    return tuple(entries)


@functools.cache
def stop_words() -> frozenset[str]:
    """Return the shipped stop words."""
    text = (
        resources.files("features").joinpath("resources/stopwords.txt").read_text(encoding="utf-8")
    )
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


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
    try:
        outcome = (True, call(), "")
    except BaseException as error:  # the parent raises it again, with this traceback
        outcome = (False, error, "".join(traceback.format_exception(error)))
    try:
        send.send(outcome)
    except Exception as error:  # e.g. an exception that does not pickle
        send.send((False, RuntimeError(f"the result could not be sent: {error!r}"), ""))
    send.close()


def make_tokenizer(engine: str, words: Sequence[tuple[str, int, str]]):
    """Return a cut function for the engine with the given extra dictionary entries loaded."""
    if engine == "rjieba":
        import rjieba

        tokenizer = rjieba.Jieba()
        for word, freq, tag in words:
            tokenizer.add_word(word, freq, tag)
        return lambda text: tokenizer.cut(text, False)
    if engine == "jieba":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for word, freq, tag in words:
            tokenizer.add_word(word, freq, tag)
        return lambda text: tokenizer.lcut(text, HMM=False)
    raise ValueError(f"unknown segmentation engine {engine!r}; choose from {ENGINES}")


class Segmenter(TransformerMixin, BaseEstimator):
    """Segment texts into space-joined tokens, stop words removed.

    Parameters
    ----------
    engine : "rjieba" (default, fast) or "jieba"
    remove_stop_words : drop the shipped stop words and whitespace tokens
    n_jobs : processes for large inputs (-1: all cores); small inputs always run in-process
    """

    def __init__(self, engine: str = "rjieba", remove_stop_words: bool = True, n_jobs: int = 1):
        self.engine = engine
        self.remove_stop_words = remove_stop_words
        self.n_jobs = n_jobs

    def fit(self, X: Iterable[str] | None = None, y=None, places: Iterable[str] = ()) -> Segmenter:
        """Learn the dictionary: the shipped entries plus the place names seen in training data."""
        if self.engine not in ENGINES:
            raise ValueError(f"unknown segmentation engine {self.engine!r}; choose from {ENGINES}")
        shipped = domain_dictionary()
        known = {w for w, _, _ in shipped}
        extra = sorted(
            {p for p in places if isinstance(p, str) and 2 <= len(p) <= 12 and p not in known}
        )
        self.words_ = tuple(shipped) + tuple((p, PLACE_FREQ, "ns") for p in extra)
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        """Return each text as its tokens joined by single spaces."""
        texts = list(X)
        jobs = processes(self.n_jobs)
        if jobs > 1 and len(texts) >= _PARALLEL_MIN_TEXTS:
            return self._transform_parallel(texts, jobs)
        return self._segment(texts)

    def _segment(self, texts: Sequence[str]) -> list[str]:
        cut = self._cut()
        stops = stop_words() if self.remove_stop_words else frozenset()
        return [" ".join(t for t in cut(text) if t.strip() and t not in stops) for text in texts]

    def _transform_parallel(self, texts: list[str], jobs: int) -> list[str]:
        size = math.ceil(len(texts) / (jobs * 4))
        parts = map_chunks(_segment_chunk, size, jobs, texts, fixed=(self,))
        return [t for part in parts for t in part]

    def _cut(self):
        if getattr(self, "_cut_fn", None) is None:
            self._cut_fn = make_tokenizer(self.engine, self.words_)
        return self._cut_fn

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_cut_fn", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _segment_chunk(texts: list[str], segmenter: Segmenter) -> list[str]:
    return segmenter._segment(texts)


def token_agreement(texts: Sequence[str], a: Segmenter, b: Segmenter) -> float:
    """Return the share of texts that two fitted segmenters cut into exactly the same tokens."""
    same = np.fromiter(
        (x == y for x, y in zip(a.transform(texts), b.transform(texts), strict=True)), bool
    )
    return float(same.mean()) if len(same) else 1.0
