"""Hotspot statistics and the GeoJSON feed."""

from __future__ import annotations

import json

import esda
import h3
import libpysal
import numpy as np
import pandas as pd
import pytest
from esda.getisord import _g_local_star_crand

from models.hotspots import (
    EMERGING_CATEGORIES,
    MAP_PERMUTATIONS,
    H3Cells,
    PolygonCells,
    _draws,
    classify,
    emerging_category,
    fdr_cutoff,
    gi_star,
    h3_neighbours,
    hotspot_cells,
    space_time_gi_star,
    study_cells,
)
from pipelines.publish.feed import feed_document
from tests.support import write_square_grid


def test_gi_star_matches_esda_computed_directly_on_a_lattice():
    w = libpysal.weights.lat2W(6, 6)
    values = np.random.default_rng(3).poisson(4, 36).astype(float)
    values[:4] += 12  # a cluster in one corner
    names = [str(i) for i in range(36)]
    neighbours = {str(i): [str(j) for j in w.neighbors[i]] for i in range(36)}
    z, p = gi_star(values, names, neighbours, permutations=0)
    direct = esda.G_Local(values, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(z, direct.Zs, rtol=1e-10)
    np.testing.assert_allclose(p, 2 * direct.p_norm, rtol=1e-10)


def test_permutation_p_values_are_two_sided_and_agree_with_esda_where_esda_is_right():
    w = libpysal.weights.lat2W(6, 6)
    values = np.random.default_rng(3).poisson(4, 36).astype(float)
    values[:4] += 12
    names = [str(i) for i in range(36)]
    neighbours = {str(i): [str(j) for j in w.neighbors[i]] for i in range(36)}
    z, p = gi_star(values, names, neighbours, permutations=9999, seed=7)
    direct = esda.G_Local(values, w, transform="B", star=True, permutations=9999, seed=7)
    assert (p <= 1).all() and (p >= 2 / 10_000).all()
    assert p[z.argmax()] < 0.05  # the corner cluster
    # For continuous counts without ties, two-sided = twice esda's folded p-value. The draws are
    # not esda's: the two estimates differ by their Monte Carlo errors alone (4 sd).
    upper = z > 1
    folded = direct.p_sim[upper]
    sd = 2 * np.sqrt(2 * folded * (1 - folded) / 10_000)
    assert upper.sum() >= 4
    assert (np.abs(p[upper] - np.minimum(2 * folded, 1)) <= 4 * sd + 2 / 10_000).all()
    # p is reproducible night to night (seeded)
    assert np.array_equal(p, gi_star(values, names, neighbours, permutations=9999, seed=7)[1])


def test_cold_spots_are_tested_with_the_same_weights_as_hot_spots():
    """esda's crand zeroes the self-weights of the weights it is given: a second run on them drew
    Gi instead of Gi* for the lower tail and hid cold spots. Both tails come from one set of draws,
    and they are esda's own permuted Gi* (its crand kernel, self-weight in) on those draws."""
    w = libpysal.weights.lat2W(8, 8)
    values = np.random.default_rng(5).poisson(8, 64).astype(float)
    values[[0, 1, 2, 8, 9, 10, 16, 17, 18]] = [0, 1, 0, 0, 1, 0, 1, 0, 0]  # a quiet corner
    names = [str(i) for i in range(64)]
    neighbours = {str(i): [str(j) for j in w.neighbors[i]] for i in range(64)}
    z, p = gi_star(values, names, neighbours, permutations=999, seed=7)

    own = libpysal.weights.W({i: [i, *w.neighbors[i]] for i in range(64)}, id_order=range(64))
    observed = esda.G_Local(values, own, transform="B", star=None, permutations=0).Gs
    draws = _draws(max(w.cardinalities.values()), 64, 999, 7)
    esda_p = np.empty(64)
    for i in range(64):
        weights_i = np.ones(w.cardinalities[i] + 1)  # the self-weight first
        permuted = _g_local_star_crand(i, values, draws, weights_i, values.sum())
        at_least = (permuted >= observed[i] - 1e-9).sum()
        at_most = (permuted <= observed[i] + 1e-9).sum()
        esda_p[i] = min(2 * (min(at_least, at_most) + 1) / 1000, 1.0)
    np.testing.assert_allclose(p, esda_p, rtol=1e-12)
    assert p[z.argmin()] < 0.05  # the quiet corner is a cold spot


@pytest.mark.parametrize("k, n", [(6, 9), (11, 12), (3, 40)])  # few cells (keys), many (redraws)
def test_permutation_draws_are_distinct_ids_in_random_order(k, n):
    """Each draw holds distinct ids among the n - 1 other cells, and every first j of a draw is a
    uniform sample: each id as often at each position (a cell with j neighbours uses the first j)."""
    draws = _draws(k, n, 20_000, 3)
    assert draws.shape == (20_000, k) and draws.min() == 0 and draws.max() == n - 2
    assert all(len(set(row)) == k for row in draws)
    frequency = np.stack([np.bincount(draws[:, j], minlength=n - 1) for j in range(k)]) / 20_000
    share = 1 / (n - 1)
    sd = np.sqrt(share * (1 - share) / 20_000)
    np.testing.assert_allclose(frequency, share, atol=4.5 * sd)
    assert np.array_equal(draws, _draws(k, n, 20_000, 3)) and not np.array_equal(
        draws, _draws(k, n, 20_000, 4)
    )


def test_a_permuted_sum_equal_to_the_observed_is_a_tie_whatever_the_rounding():
    """Risk weights (1, 0.5, 0.1) add up differently in another order: 0.1 + 0.2 is not 0.2 + 0.1
    in floating point. Gi*'s p-value does not change when every value is scaled, so the weights
    in tenths must give the p-values of the same weights counted in whole numbers."""
    names, neighbours = _lattice(12)
    tenths = np.random.default_rng(11).choice(
        [0, 1, 2, 5, 10], size=144, p=[0.5, 0.2, 0.1, 0.1, 0.1]
    )
    as_weights = gi_star(tenths / 10, names, neighbours, permutations=999, seed=7)[1]
    whole = gi_star(tenths.astype(float), names, neighbours, permutations=999, seed=7)[1]
    assert np.array_equal(as_weights, whole)
    assert (whole < 1).any() and (whole > 0.5).any()


def test_quiet_cells_among_quiet_cells_are_not_cold_spots_under_permutation():
    # Mostly zeros, one busy block: esda's folded p-value calls the zeros 'significant' (ties count
    # as not extreme); the two-sided p-value does not.
    w = libpysal.weights.lat2W(10, 10)
    values = np.zeros(100)
    block = [0, 1, 2, 10, 11, 12, 20, 21, 22]
    values[block] = [9, 7, 8, 6, 9, 8, 7, 9, 6]
    names = [str(i) for i in range(100)]
    neighbours = {str(i): [str(j) for j in w.neighbors[i]] for i in range(100)}
    # As many draws as the map makes (MAP_PERMUTATIONS): with 999 the least pseudo p is 0.002, and
    # the block's nine p-values pass the 90% FDR cut-off over 100 cells or not by the draws' luck.
    z, p = gi_star(values, names, neighbours, permutations=MAP_PERMUTATIONS)
    labels, _ = classify(z, p)
    far = [i for i in range(100) if i // 10 > 4 and i % 10 > 4]
    assert all(labels[i] == "不显著" for i in far)
    assert p[far].min() > 0.5
    assert labels[11].startswith("热点")  # the middle of the busy block


def _lattice(n):
    w = libpysal.weights.lat2W(n, n)
    return [str(i) for i in range(n * n)], {
        str(i): [str(j) for j in w.neighbors[i]] for i in range(n * n)
    }


def test_space_time_gi_star_uses_the_week_before_as_neighbours():
    cells, neighbours = _lattice(3)
    cube = np.random.default_rng(1).poisson(2, (9, 4)).astype(float)
    z, p = space_time_gi_star(cube, cells, neighbours, time_step=1, permutations=0)
    # The same statistic from an explicit space-time weights object: node t * 9 + i.
    links = {}
    for t in range(4):
        for i in range(9):
            own = [t * 9 + int(j) for j in neighbours[str(i)]]
            if t > 0:
                own += [(t - 1) * 9 + j for j in [i, *map(int, neighbours[str(i)])]]
            links[t * 9 + i] = own
    w = libpysal.weights.W(links, id_order=list(range(36)), silence_warnings=True)
    direct = esda.G_Local(cube.T.reshape(-1), w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(z, direct.Zs.reshape(4, 9).T, rtol=1e-10)
    assert p.shape == cube.shape


# Hand-built cubes: one cell's ten weekly bins, oldest first. H a significant hot bin (z = 3), C a
# significant cold one (z = -3), '.' neither (z = 0.5); trends are given as z series.
_H, _C, _N = 3.0, -3.0, 0.5


def _bins(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    z = np.array([{"H": _H, "C": _C, ".": _N}[c] for c in pattern])
    return z, np.array([c != "." for c in pattern])


_RISING = np.linspace(2.0, 6.0, 10)
_FLAT = np.array([3.0, 3.2, 2.9, 3.1, 3.0, 2.8, 3.1, 3.0, 3.2, 2.9])


@pytest.mark.parametrize(
    ("z", "significant", "expected"),
    [
        (*_bins(".........H"), "新增热点"),
        (*_bins("......HHHH"), "连续热点"),
        (_RISING, np.ones(10, bool), "加剧热点"),
        (_FLAT, np.ones(10, bool), "持续热点"),
        (_RISING[::-1], np.ones(10, bool), "减弱热点"),
        (*_bins("H..H...H.H"), "零星热点"),
        (*_bins("C....H...H"), "振荡热点"),
        (*_bins("HHHHHHHHH."), "历史热点"),
        (*_bins(".........C"), "新增冷点"),
        (*_bins("......CCCC"), "连续冷点"),
        (-_RISING, np.ones(10, bool), "加剧冷点"),
        (-_FLAT, np.ones(10, bool), "持续冷点"),
        (-_RISING[::-1], np.ones(10, bool), "减弱冷点"),
        (*_bins("C..C...C.C"), "零星冷点"),
        (*_bins("H....C...C"), "振荡冷点"),
        (*_bins("CCCCCCCCC."), "历史冷点"),
        (*_bins(".........."), "无明显模式"),
    ],
)
def test_each_emerging_hot_spot_category_is_found_on_its_cube(z, significant, expected):
    assert emerging_category(z, significant) == expected


def test_the_seventeen_categories_are_arcgis_pros():
    assert len(EMERGING_CATEGORIES) == 17 and len(set(EMERGING_CATEGORIES)) == 17


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("H...H.....", "无明显模式"),  # hot before, not in the final bin, under 90%
        ("HH....HH.H", "零星热点"),  # a final run of one after earlier hot bins
        ("H.....HHHH", "零星热点"),  # hot before the final run: not consecutive
        ("C........H", "振荡热点"),  # a cold history makes a new hot bin oscillating
        ("HHHHHHHHHH", "持续热点"),
    ],
)
def test_category_boundaries(pattern, expected):
    assert emerging_category(*_bins(pattern)) == expected


def test_a_cluster_that_appears_in_the_last_weeks_is_new_or_consecutive_on_a_counted_cube():
    cells, neighbours = _lattice(9)
    rng = np.random.default_rng(4)
    cube = rng.poisson(1.0, (81, 10)).astype(float)
    centre = 40
    block = [centre, *map(int, neighbours[str(centre)])]
    cube[block, -1] += 12  # a cluster appears in the final week
    persistent = [0, 1, 9, 10]
    cube[persistent, :] += 8  # a corner busy every week
    z, p = space_time_gi_star(cube, cells, neighbours)
    significant = p <= fdr_cutoff(p.reshape(-1), 0.05)
    assert emerging_category(z[centre], significant[centre]) == "新增热点"
    assert emerging_category(z[0], significant[0]) in {"持续热点", "加剧热点", "减弱热点"}
    quiet = emerging_category(z[80], significant[80])
    assert quiet == "无明显模式"


def test_fdr_cutoff_is_benjamini_hochberg():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    assert fdr_cutoff(p, 0.05) == 0.008  # 0.039 > 3/10 * 0.05
    assert fdr_cutoff(np.array([0.5, 0.9]), 0.05) == -1.0


def test_classes_use_fdr_not_raw_p_values():
    z = np.array([3.0, 2.0, -3.0, 0.1])
    p = np.array([0.0001, 0.04, 0.0002, 0.9])
    labels, level = classify(z, p)
    assert labels[0] == "热点-99%" and labels[2] == "冷点-99%" and labels[3] == "不显著"
    # 0.04 passes 0.05 raw, but not Benjamini-Hochberg at 0.05 (3/4 * 0.05 = 0.0375); it does at 0.10.
    assert labels[1] == "热点-90%"
    assert level.tolist() == [99, 90, 99, 0]


def _cluster_cases(n_hot=60, n_background=200, seed=5, spread=0.002):
    rng = np.random.default_rng(seed)
    lon = np.concatenate(
        [125.14 + rng.normal(0, spread, n_hot), 125.0 + rng.uniform(0, 0.4, n_background)]
    )
    lat = np.concatenate(
        [42.90 + rng.normal(0, spread * 0.7, n_hot), 42.7 + rng.uniform(0, 0.3, n_background)]
    )
    n = n_hot + n_background
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "reported_at": pd.Timestamp("2025-12-31")
            - pd.to_timedelta(rng.integers(0, 25, n), unit="D"),
            "grade": np.where(np.arange(n) < n_hot, "高", "低"),
            "score": np.where(np.arange(n) < n_hot, 80.0, 10.0),
            "dispute_type": "邻里纠纷",
            "ticket": "",
            "grp_size": 1,
        }
    )


def test_a_planted_cluster_is_found_as_a_hot_spot():
    cases = _cluster_cases()
    cells = hotspot_cells(
        cases, pd.Timestamp("2025-12-31"), H3Cells(8), window_days=28, trend_weeks=4
    )
    hot_cell = h3.latlng_to_cell(42.90, 125.14, 8)
    assert cells.set_index("cell").loc[hot_cell, "hot_class"].startswith("热点")
    # the published forecast ranks the densest place first, and every cell once
    assert cells.set_index("cell").loc[hot_cell, "forecast_rank"] == 1
    assert sorted(cells["forecast_rank"]) == list(range(1, len(cells) + 1))
    assert (cells["n_cases"].sum()) == len(cases)


def test_the_feed_is_valid_rfc7946_geojson():
    cases = _cluster_cases()
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    doc = feed_document(cells, cases, {"run_date": "2025-12-31"})
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    for feature in doc["features"]:
        geometry = feature["geometry"]
        if geometry["type"] == "Polygon":
            ring = np.array(geometry["coordinates"][0])
            assert (ring[0] == ring[-1]).all() and len(ring) >= 4
            area = np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1])
            assert area > 0  # exterior rings counter-clockwise (RFC 7946 section 3.1.6)
        else:
            lon, lat = geometry["coordinates"]
            assert 73 < lon < 136 and 3 < lat < 54
            assert round(lon, 3) == lon and set(feature["properties"]) >= {
                "case_id",
                "grade",
                "score",
            }
    points = [f for f in doc["features"] if f["properties"]["layer"] == "case"]
    assert len(points) == 60  # the 高 cases; 低 cases are not on the point layer


def test_gcj02_option_shifts_the_feed_and_says_so():
    cases = _cluster_cases()
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    wgs = feed_document(cells, cases, {}, "wgs84")
    gcj = feed_document(cells, cases, {}, "gcj02")
    assert (
        gcj["fengqiao"]["coordinate_system"] == "GCJ-02"
        and wgs["fengqiao"]["coordinate_system"] == "WGS-84"
    )
    a, b = (
        wgs["features"][0]["geometry"]["coordinates"][0][0],
        gcj["features"][0]["geometry"]["coordinates"][0][0],
    )
    assert 0.003 < b[0] - a[0] < 0.01  # GCJ-02 lies a few hundred metres east here


def test_study_area_includes_empty_neighbours():
    cell = h3.latlng_to_cell(42.9, 125.1, 8)
    area = study_cells(pd.Series([cell]))
    assert len(area) == 7 and set(h3_neighbours(area)[cell]) == set(area) - {cell}


def _square_communities(tmp_path):
    """Write a 6x6 grid of square 'communities' around the planted cluster as a boundary file."""
    # Offset so that the planted cluster at (125.14, 42.90) lies inside one community.
    return write_square_grid(
        tmp_path / "communities.geojson",
        (124.965, 42.725),
        (0.07, 0.05),
        (6, 6),
        "社区",
        "社区{i}{j}",
    )


def test_the_centres_own_polygons_can_be_the_cells(tmp_path):
    system = PolygonCells.from_geojson(_square_communities(tmp_path), "社区")
    cases = _cluster_cases()
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), system, trend_weeks=4).set_index(
        "cell"
    )
    assert len(cells) == 36  # quiet communities are in the study area as zeros
    hot = system.assign(np.array([125.14]), np.array([42.90]))[0]
    assert cells.loc[hot, "risk_weight"] == cells["risk_weight"].max()
    assert cells.loc[hot, "gi_z"] == cells["gi_z"].max()
    # 36 communities are too few for a 4-community cluster to pass the FDR cut-off under
    # permutation; the most significant community is still one of the cluster's block.
    assert cells["gi_p"].idxmin() in {"社区22", "社区23", "社区32", "社区33"}
    doc = feed_document(cells.reset_index(), cases, {}, "wgs84")
    polygon = next(f for f in doc["features"] if f["properties"]["layer"] == "cell")
    ring = np.array(polygon["geometry"]["coordinates"][0])
    assert polygon["geometry"]["type"] == "Polygon" and (ring[0] == ring[-1]).all()
    assert np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1]) > 0


def test_a_boundary_file_without_the_id_property_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no property '名称'"):
        PolygonCells.from_geojson(_square_communities(tmp_path), "名称")


def _unit_cases(with_coordinates: bool = False, seed: int = 2):
    """Cases that name only their 区县/街道/社区: one community is much busier and riskier."""
    rng = np.random.default_rng(seed)
    rows = []
    streets = {"龙山区": ["向阳街道", "东吉街道"], "西安区": ["仙城街道"], "东丰县": ["东丰镇"]}
    units = [(d, s, f"{s[:2]}{k}社区") for d, ss in streets.items() for s in ss for k in range(3)]
    for i, (district, street, community) in enumerate(units):
        n = 40 if i == 0 else 6
        for j in range(n):
            rows.append(
                {
                    "case_id": f"u{i}-{j}",
                    "district": district,
                    "street": street,
                    "community": community,
                    "grid_id": None,
                    "lon": np.nan,
                    "lat": np.nan,
                    "reported_at": pd.Timestamp("2025-12-31")
                    - pd.Timedelta(days=int(rng.integers(0, 25))),
                    "grade": "高" if i == 0 and j % 2 == 0 else "低",
                    "score": 50.0,
                    "dispute_type": "邻里纠纷",
                }
            )
    frame = pd.DataFrame(rows)
    if with_coordinates:  # a mixed export: half the cases of each community are located
        centre = {d: (125.1 + 0.1 * k, 42.9) for k, d in enumerate(streets)}
        located = np.arange(len(frame)) % 2 == 0
        frame.loc[located, "lon"] = [centre[d][0] + 0.001 for d in frame.loc[located, "district"]]
        frame.loc[located, "lat"] = [centre[d][1] for d in frame.loc[located, "district"]]
    return frame


def test_cases_without_coordinates_are_counted_by_the_units_they_name():
    cases = _unit_cases()
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    # The three county-level units have real centres (cpca); finer units without located cases
    # have no point, so the unit level falls back to what can be drawn... at community level
    # none can: the feed says nothing rather than inventing places.
    assert cells.empty or set(cells["layer"]) == {"unit"}
    districts = cases.drop(columns=["street", "community"])
    cells = hotspot_cells(districts, pd.Timestamp("2025-12-31"), trend_weeks=4)
    assert set(cells["layer"]) == {"unit"} and set(cells["cell"]) == {"龙山区", "西安区", "东丰县"}
    assert cells.set_index("cell").loc["龙山区", "n_cases"] == 40 + 5 * 6
    assert cells["n_cases"].sum() == len(cases)
    geometry = cells.set_index("cell").loc["东丰县", "geometry"]
    assert geometry["type"] == "Point" and 125 < geometry["coordinates"][0] < 126


def test_a_mixed_export_uses_cells_for_located_cases_and_units_for_the_rest():
    cases = _unit_cases(with_coordinates=True)
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    assert set(cells["layer"]) == {"cell", "unit"}
    by_layer = cells.groupby("layer")["n_cases"].sum()
    assert by_layer["cell"] + by_layer["unit"] == len(cases)
    units = cells[cells["layer"] == "unit"]
    # Each community is drawn at the centre of its own located cases.
    assert units["cell"].str.count("/").eq(2).all() and len(units) == 12
    assert units["label"].str.endswith("社区").all()


def test_nothing_to_locate_is_an_empty_feed_and_a_map_that_says_so():
    from pipelines.publish.mapview import NOTHING_TO_MAP, build_map

    cases = _unit_cases().drop(columns=["district", "street", "community"])
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    assert cells.empty and "hot_class" in cells
    doc = feed_document(cells, cases.assign(ticket="", grp_size=1), {}, "wgs84")
    assert doc == {**doc, "type": "FeatureCollection", "features": []}
    html = build_map(doc)
    assert NOTHING_TO_MAP in html and "<script>" in html


def test_a_unit_read_from_an_address_gets_its_countys_centre():
    from features.places import county_centres, read_addresses

    read = read_addresses(["吉林省辽源市东丰县东丰镇某村五组", None, "不知道在哪", "朝阳区"])
    assert read["district"].tolist()[:3] == ["东丰县", None, None]
    assert read["adcode"].iloc[0].startswith("220421")
    # 朝阳区 is in Beijing and in Changchun: the export's other counties settle which.
    centres = county_centres(["东丰县", "朝阳区", "龙山区"])
    assert 124 < centres["朝阳区"][0] < 126  # Changchun's, near the Liaoyuan counties


def test_the_feed_leaves_out_empty_cells_that_say_nothing():
    cases = _cluster_cases()
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), trend_weeks=4)
    doc = feed_document(cells, cases, {})
    shown = [f["properties"] for f in doc["features"] if f["properties"]["layer"] == "cell"]
    assert len(shown) < len(cells)  # the study area's quiet ring is left out
    assert all(
        p["n_cases"] > 0 or p["hot_class"] != "不显著" or p["trend"] != "无明显模式" for p in shown
    )
    # every case in the window is still in a shown cell
    assert sum(p["n_cases"] for p in shown) == cells["n_cases"].sum() == len(cases)


def test_the_boosted_forecast_learns_where_high_cases_recur_and_reads_nothing_after_its_day():
    from models.hotspots import boosted_forecast, h3_neighbours, study_cells

    rng = np.random.default_rng(3)
    day = pd.Timestamp("2025-12-31")
    n = 3000
    lon = 125.0 + rng.uniform(0, 0.3, n)
    lat = 42.7 + rng.uniform(0, 0.2, n)
    # one place has a 高 case most weeks; elsewhere 高 is rare and scattered
    steady = np.arange(n) < 150
    lon[steady], lat[steady] = 125.14, 42.80
    cases = pd.DataFrame(
        {
            "reported_at": day - pd.to_timedelta(rng.integers(0, 26 * 7, n), unit="D"),
            "grade": np.where(steady, "高", np.where(rng.random(n) < 0.03, "高", "低")),
            "cell": H3Cells(8).assign(lon, lat),
        }
    )
    study = study_cells(cases["cell"])
    neighbours = h3_neighbours(study)
    expected = boosted_forecast(cases, day, study, neighbours, horizon_days=7)
    top = study[int(np.argmax(expected))]
    assert top == h3.latlng_to_cell(42.80, 125.14, 8)
    assert (expected >= 0).all() and expected.shape == (len(study),)
    later = cases.assign(reported_at=day + pd.Timedelta(days=3), grade="高").iloc[:500]
    with_future = pd.concat([cases, later], ignore_index=True)
    assert np.array_equal(boosted_forecast(with_future, day, study, neighbours), expected)


def test_place_points_group_by_the_place_and_its_parents_only():
    """A township is one point whatever communities it holds, also when the export has no
    district column; a community whose township is blank is still labelled."""
    from pipelines.publish.feed import place_features

    cases = pd.DataFrame(
        {
            "lon": [125.10, 125.12, 125.30, 125.32],
            "lat": [42.90, 42.92, 42.80, 42.82],
            "street": ["福镇街道", "福镇街道", None, "东城街道"],
            "community": ["福园社区", "福安社区", "东北社区", "东南社区"],
        }
    )
    places = [f["properties"] for f in place_features(cases)]
    streets = sorted((p["name"], p["n_cases"]) for p in places if p["level"] == "街道")
    communities = sorted(p["name"] for p in places if p["level"] == "社区")
    assert streets == [("东城街道", 1), ("福镇街道", 2)]
    assert communities == sorted(["东北社区", "东南社区", "福安社区", "福园社区"])


def test_county_outlines_are_simplified_within_tolerance_and_read_back_from_the_cache(tmp_path):
    import json

    from shapely.geometry import MultiPolygon, Polygon, shape

    from pipelines.publish import boundaries

    liaoyuan = (125.0, 42.8, 125.3, 43.0)
    made = boundaries.county_boundaries(liaoyuan, cache=tmp_path)
    names = {f["properties"]["name"] for f in made}
    assert {"龙山区", "西安区", "东辽县"} <= names
    assert len(list(tmp_path.glob("*.json"))) == len(made)
    assert boundaries.county_boundaries(liaoyuan, cache=tmp_path) == made
    assert boundaries.county_boundaries(liaoyuan) == made  # the cache changes nothing

    counties = boundaries._counties()
    for feature in made:
        raw = json.loads(
            boundaries.DATA.joinpath(
                "datasets", counties[feature["properties"]["adcode"]][1]
            ).read_text(encoding="utf-8")
        )
        polygons = [raw["coordinates"]] if raw["type"] == "Polygon" else raw["coordinates"]
        full = MultiPolygon(
            [
                Polygon(boundaries._ring(p[0], True), [boundaries._ring(r, True) for r in p[1:]])
                for p in polygons
            ]
        )
        simple = shape(feature["geometry"])
        # within the tolerance (and the 5-decimal rounding) of the full outline, with far fewer points
        assert full.hausdorff_distance(simple) <= boundaries.OUTLINE_TOLERANCE + 1e-5
        assert len(json.dumps(feature["geometry"])) < 0.5 * len(json.dumps(raw))


def test_the_maps_layers_get_their_features_after_rendering_and_the_page_is_folium_s_own(
    monkeypatch,
):
    """The layers' features join the page after folium renders it (branca compiled each layer's
    script, features and all, as a Jinja template: seconds for a province). The page is the one
    folium's own GeoJson layers give, but for the elements' random ids."""
    import re

    import folium

    from pipelines.publish import mapview

    cases = _unit_cases(with_coordinates=True)
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    doc = feed_document(cells, cases.assign(ticket="", grp_size=1), {}, "wgs84", places=cases)
    late = mapview.build_map(doc)
    monkeypatch.setattr(mapview, "_LateGeoJson", folium.GeoJson)
    monkeypatch.setattr(mapview, "_with_late_features", lambda html, root: html)
    plain = mapview.build_map(doc)

    def ids(html):
        return re.sub(r"_[0-9a-f]{32}", "_ID", html)

    assert '"fengqiao": "geo_json_' not in late  # every stand-in was replaced
    assert late.count("addData(") == plain.count("addData(") >= 3
    assert ids(late) == ids(plain)


def test_the_maps_cells_carry_what_they_show_and_the_feed_is_left_as_it_was():
    """A cell on the map holds what its popup and colour read; the rest (each type's count, the
    forecast, p-values) stays in the feed, which the page leaves unchanged."""
    from pipelines.publish.mapview import build_map

    cases = _unit_cases(with_coordinates=True)
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    doc = feed_document(cells, cases.assign(ticket="", grp_size=1), {}, "wgs84", places=cases)
    before = json.dumps(doc, sort_keys=True)
    page = build_map(doc)
    assert json.dumps(doc, sort_keys=True) == before
    feed_only = {"forecast_rank", "gi_p", "weeks_hot", "risk_weight"}
    in_feed = {
        k for f in doc["features"] if f["properties"]["layer"] == "cell" for k in f["properties"]
    }
    assert feed_only <= in_feed
    assert not [k for k in feed_only if f'"{k}"' in page]
    assert all(f'"{k}"' in page for k in ("label", "hot_class", "trend", "types_text", "gi_z"))


def test_the_riskiest_cases_come_first_in_the_feed_and_on_a_map_that_shows_only_some(monkeypatch):
    """高 before 中, each riskiest first (by their characters 中 sorts before 高: a province's map
    cut at its first 5,000 dots showed 9,368 中 cases' first 5,000 and none of its 2,743 高)."""
    from pipelines.publish import mapview

    cases = _unit_cases(with_coordinates=True)
    rng = np.random.default_rng(0)
    cases = cases.assign(
        grade=rng.choice(["中", "高", "低"], len(cases), p=[0.6, 0.2, 0.2]),
        score=rng.uniform(0, 100, len(cases)).round(1),
    )
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    doc = feed_document(cells, cases.assign(ticket="", grp_size=1), {}, "wgs84")
    points = [f["properties"] for f in doc["features"] if f["properties"]["layer"] == "case"]
    ranks = [(["高", "中"].index(p["grade"]), -p["score"]) for p in points]
    assert ranks == sorted(ranks) and {p["grade"] for p in points} == {"高", "中"}

    high = sum(p["grade"] == "高" for p in points)
    monkeypatch.setattr(mapview, "MAX_POINTS", high)
    page = mapview.build_map(doc)
    layers = [
        json.dumps(f"{grade}风险案件") for grade in ("高", "中")
    ]  # as the layer control has them
    assert layers[0] in page and layers[1] not in page
    assert mapview.POINTS_SHOWN.format(high, len(points)) in page
    monkeypatch.setattr(mapview, "MAX_POINTS", len(points))
    assert "图上案件点为风险最高的" not in mapview.build_map(doc)


def test_a_features_own_text_is_never_read_as_jinja():
    """A case id that reads as Jinja syntax reaches the map as written (through folium's own
    GeoJson layers, `{% if` in a feature broke the page); nothing a centre writes breaks it."""
    from pipelines.publish.mapview import build_map

    cases = _unit_cases(with_coordinates=True)
    cases = cases.assign(case_id="{% if x %}" + cases["case_id"], grade="高")
    cells = hotspot_cells(cases, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    doc = feed_document(cells, cases.assign(ticket="", grp_size=1), {}, "wgs84")
    assert any("{% if x %}" in json.dumps(f["properties"]) for f in doc["features"])
    assert "{% if x %}" in build_map(doc)
    # A dispute type and a place name are also layer names and labels, compiled with the page:
    # there a brace that opens a Jinja tag is shown full-width.
    odd = cases.assign(dispute_type="{{ 类型 }}", community="{#社区")
    cells = hotspot_cells(odd, pd.Timestamp("2025-12-31"), H3Cells(8), trend_weeks=4)
    html = build_map(
        feed_document(cells, odd.assign(ticket="", grp_size=1), {}, "wgs84", places=odd)
    )
    shown = [
        json.dumps(text)[1:-1] for text in ("类型：｛{ 类型 }}", "｛#社区")
    ]  # as the page's JSON
    assert all(text in html for text in shown)
