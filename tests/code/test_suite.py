"""The test suite's own machinery: a group's tests run on one worker and share its fixtures."""

import pytest

pytestmark = pytest.mark.xdist_group("suite")


def test_xdist_sends_a_groups_tests_to_one_worker(request):
    """Session fixtures (the demo city, the trained models, the real exports' home) are built once
    per worker, and a group's tests expect to share them. pytest 9.2 silently broke
    `--dist loadgroup` (pytest-xdist#1386): every fixture was built on both workers."""
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist's workers
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@suite"), request.node.nodeid
