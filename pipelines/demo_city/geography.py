"""The demo city's places: 辽源市's four real county-level units, and synthetic places inside them.

The county-level units and their centres are real (cpca's adcode table). The townships, communities,
villages and grid cells are invented, but their numbers follow 辽源's: 47 township-level and 563
village-level centres, and 1,916 grid heads.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CITY_ADCODE = "220400"
CITY_NAME = "辽源市"

# adcode -> (name, urban, townships, communities, radius of township centres in km)
COUNTIES = {
    "220402": ("龙山区", True, 10, 80, 4.0),
    "220403": ("西安区", True, 8, 60, 3.5),
    "220421": ("东丰县", False, 15, 220, 22.0),
    "220422": ("东辽县", False, 14, 203, 20.0),
}
N_GRIDS = 1916

# Word pools for invented place names; a modifier keeps names unique ("东兴华社区", "小永丰村").
_STREET_WORDS = "向阳 南康 西宁 北寿 东吉 福镇 山湾 仙城 灯塔 太安 东山 富国 先锋 安家 民主 新兴 建安 永和 胜利 友谊 光明 红旗 工农 兴隆 育才 振兴".split()
_TOWN_WORDS = "大阳 横道 拉拉 那丹 猴石 黄河 南屯 沙河 杨木 小四 三合 二龙 仁合 宴平 泉太 渭津 凌云 金州 甲山 足民 安石 云顶 白泉 平岗 安恕 寿山 辽河 双庙 椅山 宝山".split()
_COMMUNITY_WORDS = "幸福 和谐 康宁 兴华 盛世 阳光 翠园 锦绣 华府 新城 景苑 丽都 祥和 民安 福源 金城 铁北 站前 北山 南岭 东苑 西园 滨河 春晖 明珠 馨苑 学府 惠民".split()
_VILLAGE_WORDS = "永丰 太平 双河 四合 六合 靠山 东升 前进 红星 保安 良种 五一 长胜 新立 三家 富强 向阳 兴隆 平安 和平 民主 团结 光荣 腰岭 石门 柳树 榆树 杏木 梨树 沙岗 泉眼 青山 安乐 德胜 福安 万隆 庆丰 长岭 西岭 东岭".split()
_MODIFIERS = ["", "东", "西", "南", "北", "新", "大", "小", "前", "后", "上", "下"]


def _cpca_adcodes() -> pd.DataFrame:
    # Read cpca's table directly: importing cpca builds its address matcher, which is not needed here.
    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the cpca package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"
    table = pd.read_csv(path, dtype={"adcode": str})
    return table.assign(adcode=table["adcode"].str[:6])


@dataclass(frozen=True)
class City:
    """The demo city's places, each level a frame with names and WGS-84 centres."""

    counties: pd.DataFrame
    townships: pd.DataFrame
    communities: pd.DataFrame
    grids: pd.DataFrame


def county_centres() -> pd.DataFrame:
    """Return the four county-level units with their real adcodes and centres."""
    table = _cpca_adcodes()
    rows = table[table["adcode"].isin(list(COUNTIES))].drop_duplicates("adcode")
    frame = pd.DataFrame(
        {
            "adcode": rows["adcode"].to_numpy(),
            "district": rows["name"].to_numpy(),
            "lon": rows["longitude"].astype(float).to_numpy(),
            "lat": rows["latitude"].astype(float).to_numpy(),
        }
    )
    frame["urban"] = frame["adcode"].map(lambda code: COUNTIES[code][1])
    return frame.sort_values("adcode", ignore_index=True)


def _offset(lon: np.ndarray, lat: np.ndarray, dx_km: np.ndarray, dy_km: np.ndarray):
    return lon + dx_km / (111.32 * np.cos(np.radians(lat))), lat + dy_km / 110.57


def _unique_names(
    rng: np.random.Generator, words: list[str], n: int, suffix: str, taken: set[str]
) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        modifier, word = str(rng.choice(_MODIFIERS)), str(rng.choice(words))
        name = modifier + word + suffix
        if name not in taken and not word.startswith(modifier or "-"):
            taken.add(name)
            names.append(name)
    return names


def build_city(rng: np.random.Generator) -> City:
    """Return the demo city's townships, communities and grid cells, placed around real centres."""
    counties = county_centres()
    townships, communities = [], []
    taken: set[str] = set()
    for county in counties.itertuples():
        _, urban, n_town, n_comm, radius = COUNTIES[county.adcode]
        town_names = _unique_names(
            rng, _STREET_WORDS if urban else _TOWN_WORDS, n_town, "街道" if urban else "镇", taken
        )
        # Township centres fall around the county seat, denser near it.
        dist = radius * np.sqrt(rng.uniform(0.02, 1.0, n_town))
        angle = rng.uniform(0, 2 * np.pi, n_town)
        t_lon, t_lat = _offset(county.lon, county.lat, dist * np.cos(angle), dist * np.sin(angle))
        town_ids = [f"{county.adcode}{i + 1:03d}" for i in range(n_town)]
        townships.append(
            pd.DataFrame(
                {
                    "township_id": town_ids,
                    "adcode": county.adcode,
                    "district": county.district,
                    "street": town_names,
                    "lon": t_lon,
                    "lat": t_lat,
                }
            )
        )
        # Communities (urban) or villages (rural) around their township centre.
        owner = rng.integers(0, n_town, n_comm)
        spread = 1.2 if urban else 4.0
        c_lon, c_lat = _offset(
            t_lon[owner], t_lat[owner], rng.normal(0, spread, n_comm), rng.normal(0, spread, n_comm)
        )
        comm_names = _unique_names(
            rng,
            _COMMUNITY_WORDS if urban else _VILLAGE_WORDS,
            n_comm,
            "社区" if urban else "村",
            taken,
        )
        communities.append(
            pd.DataFrame(
                {
                    "community_id": [f"{town_ids[o]}{i + 1:03d}" for i, o in enumerate(owner)],
                    "township_id": [town_ids[o] for o in owner],
                    "adcode": county.adcode,
                    "district": county.district,
                    "street": [town_names[o] for o in owner],
                    "community": comm_names,
                    "urban": urban,
                    "lon": c_lon,
                    "lat": c_lat,
                    # Urban communities hold more people than villages.
                    "population": rng.gamma(4.0, 1500 if urban else 450, n_comm)
                    .round()
                    .astype(int),
                }
            )
        )
    townships_df = pd.concat(townships, ignore_index=True)
    communities_df = pd.concat(communities, ignore_index=True)
    grids_df = _grid_cells(rng, communities_df)
    return City(counties, townships_df, communities_df, grids_df)


def _grid_cells(rng: np.random.Generator, communities: pd.DataFrame) -> pd.DataFrame:
    # Every community gets at least one grid; the rest follow population, as grid heads do.
    n = len(communities)
    share = communities["population"].to_numpy() / communities["population"].sum()
    extra = rng.multinomial(N_GRIDS - n, share)
    counts = 1 + extra
    owner = np.repeat(np.arange(n), counts)
    seq = np.concatenate([np.arange(1, c + 1) for c in counts])
    spread = np.where(communities["urban"].to_numpy()[owner], 0.35, 1.0)
    lon, lat = _offset(
        communities["lon"].to_numpy()[owner],
        communities["lat"].to_numpy()[owner],
        rng.normal(0, 1, len(owner)) * spread,
        rng.normal(0, 1, len(owner)) * spread,
    )
    comm = communities.iloc[owner].reset_index(drop=True)
    return pd.DataFrame(
        {
            "grid_id": [f"{c}-{s:02d}" for c, s in zip(comm["community_id"], seq, strict=True)],
            "grid_name": [f"第{s:02d}网格" for s in seq],
            "community_id": comm["community_id"],
            "lon": lon,
            "lat": lat,
        }
    )
