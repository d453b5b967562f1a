"""Training the boosters on a Dask cluster with lightgbm.dask.

The feature matrix is cut into row blocks that the workers train on together (LightGBM's own
distributed data-parallel mode). LightGBM's Dask estimators do not support early stopping, so a
Dask-trained booster runs a fixed number of rounds (GraderConfig.dask_rounds); everything else
(calibration, thresholds, reasons) is the same as a local run.
"""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np


def train_on_dask(
    client,
    X,
    y: np.ndarray,
    params: dict,
    rounds: int,
    feature_names: list[str],
    categorical: list[int],
) -> lgb.Booster:
    """Return a booster trained on the Dask cluster behind `client` (X: scipy CSR, y: labels)."""
    import dask.array as da
    from dask.distributed import wait

    workers = max(1, len(client.scheduler_info()["workers"]))
    rows = math.ceil(X.shape[0] / (2 * workers))
    X_dask = da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)
    y_dask = da.from_array(np.asarray(y), chunks=rows)
    # LightGBM assigns the workers their parts when training starts; parts still being computed
    # or moved by work stealing then can leave a worker out of the ring mid-training (a broken
    # pipe on a busy machine). Parts held in memory first do not move.
    X_dask, y_dask = client.persist([X_dask, y_dask])
    wait([X_dask, y_dask])
    estimator_params = {
        k: v for k, v in params.items() if k not in ("metric", "num_threads", "verbose")
    }
    attempt = 1
    while True:
        model = lgb.DaskLGBMClassifier(
            client=client, n_estimators=rounds, verbose=-1, **estimator_params
        )
        try:
            model.fit(X_dask, y_dask, feature_name=feature_names, categorical_feature=categorical)
            return model.booster_
        except lgb.basic.LightGBMError as error:
            # The workers find free ports and then connect to each other; on a busy machine a
            # port can be taken or a connection reset in between. That is worth another try;
            # any other error is not.
            if "Socket" not in str(error) or attempt == _SOCKET_ATTEMPTS:
                raise
            attempt += 1


_SOCKET_ATTEMPTS = 3
