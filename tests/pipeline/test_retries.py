"""Tasks retry what can pass on its own, and fail at once on what cannot."""

import errno

import pytest
from prefect.states import Failed

from pipelines import flows
from pipelines.catalog import ChampionMissing, TrackingStoreError
from pipelines.ingest import InputError


@pytest.mark.parametrize(
    "error, retried",
    [
        (OSError(errno.EIO, "input/output error"), True),
        (TimeoutError("network share"), True),
        (TrackingStoreError("the MLflow store x is locked by another process"), True),
        (TrackingStoreError("cannot use the MLflow store x: not a database"), False),
        (FileNotFoundError("no such file"), False),
        (PermissionError("denied"), False),
        (InputError("cases.csv, row 3, column 受理时间: not a date"), False),
        (ChampionMissing("no champion"), False),
        (KeyError("quality_flags"), False),
    ],
)
def test_io_tasks_retry_only_transient_errors(error, retried):
    assert flows._transient(None, None, Failed(data=error)) is retried


def test_a_late_export_is_waited_for():
    assert flows._late_or_transient(None, None, Failed(data=FileNotFoundError("not yet")))
    assert not flows._late_or_transient(None, None, Failed(data=ValueError("bad pattern")))


def test_every_retrying_task_has_a_condition():
    tasks = [t for t in vars(flows).values() if hasattr(t, "retries") and hasattr(t, "fn")]
    retrying = [t for t in tasks if t.retries]
    assert len(retrying) >= 5
    assert all(t.retry_condition_fn is not None for t in retrying), [t.name for t in retrying]
