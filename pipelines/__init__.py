"""fengqiao pipelines.

A centre's machine has no internet, and nothing about it may leave: before Prefect or MLflow is
imported (both only ever are from this package), their usage telemetry is turned off. MLflow's
tracking and registry calls otherwise look up config.mlflow-telemetry.io, and Prefect's client
reports a first import from an interactive terminal; Prefect's local server sends its own.
`DO_NOT_TRACK` is the shared convention both libraries read; an operator's own setting wins.
"""

import os

for _name, _value in {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}.items():
    os.environ.setdefault(_name, _value)
