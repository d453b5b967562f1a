"""Drift: how far today's inputs and scores are from what the model was calibrated on.

The population stability index (PSI) compares today's distribution with the reference the grader
keeps from its calibration slice, over the reference's deciles. Conventional reading: below 0.1
stable, 0.1-0.25 moderate shift, above 0.25 a shift worth a look before trusting the grades.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

MODERATE, MAJOR = 0.10, 0.25
# What the check compares besides the risk score: these features and these categories' shares.
DRIFT_FEATURES = (
    "lex_threat",
    "lex_violence",
    "grp_channels",
    "hist_party_n_30",
    "hist_grid_n_30",
    "geo_n_30",
    "text_length",
)
DRIFT_CATEGORIES = ("channel", "dispute_type")
UNKNOWN = "未知"
MIN_ROWS = 100  # below this, PSI over 10 bins is mostly sampling noise ((bins - 1) / n on average)
_EPS = 1e-4


@dataclass(frozen=True)
class DriftReport:
    """PSI per input and its reading, for a window of scored cases against the reference."""

    psi: dict[str, float | None] = field(default_factory=dict)  # None: nothing to compare
    flagged: dict[str, str] = field(default_factory=dict)  # name -> "moderate" or "major"
    drift: bool = False  # a major shift somewhere
    rows: int = 0  # cases compared
    window: str = ""
    noise_floor: float = 0.0  # the PSI sampling alone gives, on average
    enough_rows: bool = True  # below MIN_ROWS nothing is flagged
    sampled_from: int = 0  # cases the compared ones were drawn from

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> DriftReport | None:
        """Return the report as staged (meta.json), or None where none was made."""
        if not values:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def category_shares(cases: pd.DataFrame, column: str) -> dict[str, float]:
    """Return each value's share of the cases (missing values as 未知)."""
    if column not in cases:
        return {UNKNOWN: 1.0}
    return cases[column].astype("string").fillna(UNKNOWN).value_counts(normalize=True).to_dict()


def reference(cases: pd.DataFrame, features: dict[str, np.ndarray], score: np.ndarray) -> dict:
    """Return the reference a grader keeps from its validation cases: their scores, the
    DRIFT_FEATURES among `features`, and the DRIFT_CATEGORIES' shares."""
    return {
        "score": score.astype(np.float32),
        "features": {n: features[n].astype(np.float32) for n in DRIFT_FEATURES if n in features},
        **{column: category_shares(cases, column) for column in DRIFT_CATEGORIES},
    }


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Return the PSI of current against reference, over the reference's quantile bins."""
    reference = np.asarray(reference, float)
    current = np.asarray(current, float)
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        # A constant reference: compare the share equal to it.
        ref_share = np.array([1.0, _EPS])
        cur_equal = np.mean(current == reference[0])
        cur_share = np.array([max(cur_equal, _EPS), max(1 - cur_equal, _EPS)])
        return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
    ref_counts = np.histogram(np.clip(reference, edges[0], edges[-1]), edges)[0]
    cur_counts = np.histogram(np.clip(current, edges[0], edges[-1]), edges)[0]
    ref_share = np.maximum(ref_counts / ref_counts.sum(), _EPS)
    cur_share = np.maximum(cur_counts / cur_counts.sum(), _EPS)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def categorical_psi(reference: dict[str, float], current: dict[str, float]) -> float:
    """Return the PSI between two category-share dictionaries."""
    keys = sorted(set(reference) | set(current))
    ref = np.maximum(np.array([reference.get(k, 0.0) for k in keys]), _EPS)
    cur = np.maximum(np.array([current.get(k, 0.0) for k in keys]), _EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def level(value: float) -> str:
    """Return the reading of a PSI value: stable, moderate or major."""
    if not np.isfinite(value):
        return "unknown"
    return "major" if value > MAJOR else "moderate" if value > MODERATE else "stable"


def drift_report(
    reference: dict,
    scores: np.ndarray,
    features: dict[str, np.ndarray],
    categories: dict[str, dict[str, float]],
    window: str = "",
) -> DriftReport:
    """Return PSI and its reading for the score, the key features and the channel/type mix.

    With fewer than MIN_ROWS cases nothing is flagged: the PSI values are still reported, with the
    noise floor expected from sampling alone.
    """
    n = len(scores)
    out = {"score": psi(np.asarray(reference["score"]), scores)}
    for name, values in features.items():
        if name in reference["features"]:
            out[name] = psi(np.asarray(reference["features"][name]), values)
    for name, shares in categories.items():
        if name in reference:
            out[name] = categorical_psi(reference[name], shares)
    enough = n >= MIN_ROWS
    flagged = {k: level(v) for k, v in out.items() if enough and level(v) in ("moderate", "major")}
    return DriftReport(
        # An input no case has (coordinates, in many exports) has no PSI: None, as JSON's null.
        psi={k: round(v, 4) if np.isfinite(v) else None for k, v in out.items()},
        flagged=flagged,
        drift=any(v == "major" for v in flagged.values()),
        rows=n,
        window=window,
        noise_floor=round(9 / max(n, 1), 4),
        enough_rows=enough,
        sampled_from=n,
    )
