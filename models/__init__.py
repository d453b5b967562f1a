"""fengqiao models: training, evaluation, grading, explanation and registration."""

import os

# LightGBM's OpenMP threads wait for each other by spinning (libgomp's default is 300,000 spins
# before sleeping). When another process holds one of the cores (the backtest's baselines, loky
# feature workers, a Dask worker) the spinning thread starves the working one. Set before lightgbm
# loads; an explicit GOMP_SPINCOUNT in the environment wins. bench/openmp.py measures it.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
