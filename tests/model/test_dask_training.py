"""LightGBM on Dask: a small distributed training run completes and grades like a local one."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from models.grader import GraderConfig, RiskGrader

pytestmark = pytest.mark.xdist_group("model")


def test_a_small_lightgbm_dask_training_run_completes(cases_with_context):
    from dask.distributed import Client, LocalCluster

    train = cases_with_context[cases_with_context["reported_at"] < "2025-12-01"]
    test = cases_with_context[cases_with_context["reported_at"] >= "2025-12-01"].head(300)
    config = GraderConfig(
        text_candidates=2, dask_rounds=40, cross_fit_max_rows=1000, stack="boosters"
    )
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        grader = RiskGrader(config).fit(train, dask_client=client)
    out = grader.predict(test)
    proba = out[["p_低", "p_中", "p_高"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert grader.boosters_.boosters_["high"].current_iteration() == 40
    clone = pickle.loads(pickle.dumps(grader))  # the client is not part of the model
    assert clone.predict(test).equals(out)


@pytest.mark.parametrize(
    ("errors", "calls", "raised"),
    [
        (["Socket recv error, Connection reset by peer (code: 104)"], 2, None),
        (["Socket recv error"] * 3, 3, "Socket"),
        (["Check failed: num_data > 0"], 1, "Check failed"),
    ],
)
def test_dask_training_tries_again_only_after_a_socket_error(monkeypatch, errors, calls, raised):
    import lightgbm as lgb
    from scipy import sparse

    from models import distributed

    made = []

    class Flaky:
        def __init__(self, **params):
            made.append(params)

        def fit(self, *args, **kwargs):
            if len(made) <= len(errors):
                raise lgb.basic.LightGBMError(errors[len(made) - 1])
            self.booster_ = "trained"

    class FakeClient:
        def scheduler_info(self):
            return {"workers": {"a": {}, "b": {}}}

        def persist(self, collections):
            return collections

    monkeypatch.setattr("dask.distributed.wait", lambda futures: None)

    monkeypatch.setattr(lgb, "DaskLGBMClassifier", Flaky)
    X, y = sparse.random(40, 3, density=0.5, format="csr"), np.arange(40) % 2
    train = functools.partial(
        distributed.train_on_dask, FakeClient(), X, y, {}, 5, ["a", "b", "c"], []
    )
    if raised is None:
        assert train() == "trained"
    else:
        with pytest.raises(lgb.basic.LightGBMError, match=raised):
            train()
    assert len(made) == calls
