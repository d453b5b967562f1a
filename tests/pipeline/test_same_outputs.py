"""What the demo publishes and registers stays what it was.

A change that alters anything a user sees (a grade, a reason, a hot spot, the report, an MLflow
metric or parameter) fails here until its snapshot is updated on purpose: run
`pytest tests/pipeline/test_same_outputs.py --snapshot-update` and read the difference in
`__snapshots__/` before committing it. Refactors must pass unchanged. The real-data suite has
the same check (tests/pipeline/test_real_data.py).
"""

from __future__ import annotations

import pytest

from tests.published import outputs, snapshot_of

pytestmark = pytest.mark.xdist_group("flows")  # with the other tests of the demo's data home


def test_the_demo_publishes_and_registers_what_its_snapshot_holds(
    demo_home, demo_day, json_snapshot
):
    found = outputs(demo_home, days=[demo_day], model="fengqiao-risk", label="demo")
    assert snapshot_of(found) == json_snapshot


def test_the_snapshots_are_taken_under_one_openblas_kernel():
    # The snapshots hold backtest numbers; OpenBLAS's kernels differ in the last bits by CPU, and a
    # last bit can flip one of the backtest's choices. tests/conftest.py pins the kernel
    # before NumPy loads; a run that loaded NumPy earlier would compare another machine's numbers.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    kernels = {i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"}
    assert kernels == {"Haswell"}, f"OpenBLAS runs {kernels}; set OPENBLAS_CORETYPE=Haswell"
