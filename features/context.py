"""Context features: what was known about a case's dispute, parties and place when it came in.

Training computes them over the whole labelled history; nightly scoring over the history store plus
the day's cases. Both call build_context, so the two can never compute them differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.dedup import HISTORY_INPUTS as MERGE_READS
from features.dedup import MergeParams, merge_cases
from features.history import HISTORY_INPUTS as HISTORY_READS
from features.history import WINDOWS, entity_history, spatial_intensity
from features.parallel import in_forks, plan, processes

CONTEXT_PREFIXES = ("grp_", "hist_", "geo_")
# The columns of stored history that build_context reads: the merge's, and the party, place and
# spatial history's. A night reads no others from the store.
HISTORY_COLUMNS = frozenset({*MERGE_READS, *HISTORY_READS})


@dataclass(frozen=True)
class ContextParams:
    """Windows and resolutions for the context features."""

    windows: tuple[int, ...] = WINDOWS
    h3_resolution: int = 8
    merge: MergeParams = field(default_factory=MergeParams)


def build_context(
    cases: pd.DataFrame,
    history: pd.DataFrame | None = None,
    params: ContextParams | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Return cases with their merged group and point-in-time context features attached.

    `history`: earlier cases (with group_id) that count as the past but are not featurised.
    `n_jobs`: processes; the result does not depend on it. A large input is merged in n_jobs
    processes; a smaller one is merged in this process while a fork computes the party, place
    and spatial history (about as long as the merge on a night's cases).
    """
    params = params or ContextParams()
    cases = cases.reset_index(drop=True)

    def histories():
        return (
            entity_history(cases, history, params.windows),
            spatial_intensity(cases, history, params.h3_resolution),
        )

    # The fork gets about half of the work. A large night's merge uses worker processes itself,
    # from the cores the fork leaves it: on two cores none (three busy processes on two cores made
    # a province's context 20% slower than a serial merge beside the fork).
    how = plan(len(cases), n_jobs, forks=True)
    jobs = how.jobs if how.how == "fork" else 1
    merge_jobs = max(processes(n_jobs) - 1, 1) if jobs > 1 else n_jobs
    groups, (entity, spatial) = in_forks(
        [lambda: merge_cases(cases, history, params.merge, n_jobs=merge_jobs), histories], jobs
    )
    return cases.assign(
        group_id=groups["group_id"].to_numpy(),
        grp_size=groups["group_size"].to_numpy(float),
        grp_channels=groups["group_channels"].to_numpy(float),
        grp_match_score=groups["match_score"].to_numpy(float),
        **{c: entity[c].to_numpy() for c in entity.columns},
        **{c: spatial[c].to_numpy() for c in spatial.columns},
    )


def context_columns(frame: pd.DataFrame) -> list[str]:
    """Return the context feature columns present in a frame."""
    return [c for c in frame.columns if c.startswith(CONTEXT_PREFIXES)]
