"""Places without coordinates: administrative units read from the record or its address.

Most real exports (12345, 信访, court referrals) carry no 经度/纬度. They usually carry a 区县,
街道, 社区 or 网格, or a free-text address from which cpca (MIT) reads the province, city and
county. Hotspots are then counted per administrative unit; a unit is drawn at its county's
centre from cpca's adcode table, or at the centroid of the unit's cases that do have coordinates.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# Finest last; a unit is named by its path down to its level, so that two communities of the
# same name in different streets stay apart.
LEVELS = ("district", "street", "community", "grid_id")
LEVEL_NAMES = {"district": "区县", "street": "街道", "community": "社区", "grid_id": "网格"}
UNIT_SEPARATOR = "/"


def read_addresses(addresses: Sequence[str | None]) -> pd.DataFrame:
    """Return per address the county-level unit cpca reads from it: district, city, province and
    adcode (None where it finds none). Each distinct address is read once."""
    values = pd.Series(list(addresses), dtype=object)
    distinct = values.dropna().astype(str).str.strip()
    distinct = distinct[distinct != ""].unique()
    out = pd.DataFrame(
        {"district": None, "city": None, "province": None, "adcode": None}, index=values.index
    )
    if not len(distinct):
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cpca imports pkg_resources
        import cpca

        found = cpca.transform(list(distinct))
    found.index = distinct
    found = found.rename(columns={"区": "district", "市": "city", "省": "province"})
    found = found.where(found.notna(), None)
    rows = values.astype("string").str.strip()
    for column in out.columns:
        out[column] = rows.map(found[column].to_dict()).astype(object)
    return out.where(out.notna(), None)


@functools.cache
def adcode_table() -> pd.DataFrame:
    """Return cpca's table of administrative units: adcode (six digits), name, longitude, latitude."""
    spec = importlib.util.find_spec("cpca")
    if spec is None or spec.origin is None:
        raise RuntimeError("the cpca package is not installed")
    table = pd.read_csv(
        Path(spec.origin).parent / "resources" / "adcodes.csv", dtype={"adcode": str}
    )
    # cpca's codes have 12 digits; the county level is the first six.
    return table.assign(adcode=table["adcode"].str[:6])


def county_centres(
    names: Sequence[str], adcodes: dict[str, str] | None = None
) -> dict[str, tuple[float, float]]:
    """Return (lon, lat) of county-level units by name, from cpca's adcode table.

    A name's adcode, where an address gave one, settles which county it is. A name that several
    counties share (朝阳区) is taken as the one nearest the export's unambiguous counties; a name
    cpca does not know, or an ambiguous one with nothing to settle it, gets no centre.
    """
    table = adcode_table()
    counties = table[table["adcode"].str[4:6] != "00"]
    by_code = counties.drop_duplicates("adcode").set_index("adcode")
    adcodes = adcodes or {}
    out: dict[str, tuple[float, float]] = {}
    ambiguous: dict[str, pd.DataFrame] = {}
    for name in dict.fromkeys(n for n in names if n):
        code = adcodes.get(name)
        if code is not None and str(code)[:6] in by_code.index:
            row = by_code.loc[str(code)[:6]]
            out[name] = (float(row["longitude"]), float(row["latitude"]))
            continue
        candidates = counties[counties["name"] == name]
        if len(candidates) == 1:
            out[name] = (
                float(candidates["longitude"].iloc[0]),
                float(candidates["latitude"].iloc[0]),
            )
        elif len(candidates) > 1:
            ambiguous[name] = candidates
    if ambiguous and out:
        centre = np.median(np.array(list(out.values())), axis=0)
        for name, candidates in ambiguous.items():
            distance = np.hypot(
                candidates["longitude"].to_numpy() - centre[0],
                candidates["latitude"].to_numpy() - centre[1],
            )
            nearest = candidates.iloc[int(np.argmin(distance))]
            out[name] = (float(nearest["longitude"]), float(nearest["latitude"]))
    return out


def unit_level(cases: pd.DataFrame, min_share: float = 0.5) -> str | None:
    """Return the finest administrative level that at least min_share of the cases name
    (with every level above it), or None when not even the district is named that often."""
    chosen = None
    named = pd.Series(True, index=cases.index)
    for level in LEVELS:
        if level not in cases:
            break
        named = named & cases[level].notna() & (cases[level].astype("string").str.strip() != "")
        if len(cases) == 0 or named.mean() < min_share:
            break
        chosen = level
    return chosen


def unit_keys(cases: pd.DataFrame, level: str) -> np.ndarray:
    """Return each case's unit at a level: its place names from district down to the level,
    joined by "/"; None where one of them is missing."""
    depth = LEVELS.index(level) + 1
    parts = [cases[c].astype("string").str.strip() for c in LEVELS[:depth]]
    key = parts[0]
    for part in parts[1:]:
        key = key + UNIT_SEPARATOR + part
    missing = pd.concat([p.isna() | (p == "") for p in parts], axis=1).any(axis=1)
    return key.where(~missing, None).astype(object).to_numpy()


def unit_label(key: str) -> str:
    """Return a unit's name as people write it: 龙山区向阳街道新兴社区."""
    return key.replace(UNIT_SEPARATOR, "")
