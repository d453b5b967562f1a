"""Point-in-time history and 同案 merging: nothing from the future, ever."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.context import build_context, context_columns
from features.dedup import merge_cases, pair_precision_recall
from features.history import as_of_stats


def test_as_of_counts_only_strictly_earlier_events_in_the_window():
    t = pd.to_datetime(
        ["2025-01-01", "2025-01-05", "2025-01-20", "2025-01-05", "2025-03-01"]
    ).to_numpy()
    keys = np.array(["a", "a", "a", "b", None], dtype=object)
    stats = as_of_stats(keys, t, {"high": np.array([1, 0, 1, 1, 1.0])}, keys, t, (7, 30))
    assert stats["n_7"].tolist() == [0, 1, 0, 0, 0]
    assert stats["n_30"].tolist() == [0, 1, 2, 0, 0]
    assert stats["high_30"].tolist() == [0, 1, 1, 0, 0]
    assert stats["days_since"][:3].tolist()[1:] == [4.0, 15.0] and np.isnan(stats["days_since"][0])


def test_as_of_stats_equal_a_count_query_by_query_whatever_keys_the_queries_ask():
    """A night asks about a few keys among a year's events: events of other keys count nowhere."""
    rng = np.random.default_rng(4)
    e_keys = rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), 400)
    e_times = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 120, 400), unit="D")
    high = (rng.random(400) < 0.3).astype(float)
    q_keys = np.array(["a", "e", None, "c", "a"], dtype=object)  # "e" has no event
    q_times = pd.to_datetime(["2025-03-01", "2025-03-01", "2025-03-01", "2025-04-20", "2025-01-02"])
    stats = as_of_stats(
        e_keys, e_times.to_numpy(), {"high": high}, q_keys, q_times.to_numpy(), (7, 30)
    )
    for i, (key, t) in enumerate(zip(q_keys, q_times, strict=True)):
        same = np.array([k is not None and k == key for k in e_keys]) & (e_times < t)
        for w in (7, 30):
            window = same & (e_times >= t - pd.Timedelta(days=w))
            assert stats[f"n_{w}"][i] == window.sum()
            assert stats[f"high_{w}"][i] == high[window].sum()
        last = e_times[same].max() if same.any() else None
        expected = np.nan if last is None else (t - last).total_seconds() / 86400
        np.testing.assert_equal(stats["days_since"][i], expected)


@pytest.mark.parametrize("dtype", [object, "str"])
def test_a_place_is_its_community_within_its_street_and_district(dtype):
    """The same community name in another street is another place; a missing district or street
    reads as an empty one; a case without a community or grid has no place."""
    from features.history import _place_codes

    frame = pd.DataFrame(
        {
            "district": ["甲区", "甲区", "甲区", None, "", "乙区", "甲区"],
            "street": ["一街", "一街", "二街", "一街", "一街", "一街", "一街"],
            "community": [
                "和平社区",
                "和平社区",
                "和平社区",
                "和平社区",
                "和平社区",
                "和平社区",
                None,
            ],
            "grid_id": ["G1", "G1", "G2", None, "G1", "G3", "G1"],
        },
        dtype=dtype,
    )
    place = _place_codes(frame, "community")
    same = [[place[i] == place[j] for j in range(7)] for i in range(7)]
    assert same[0][1] and not same[0][2] and not same[0][5]  # another street, another district
    assert same[3][4] and not same[0][3]  # a missing district is an empty one
    assert np.isnan(place[6])
    grid = _place_codes(frame, "grid")
    assert grid[0] == grid[1] == grid[4] and grid[2] != grid[0] and np.isnan(grid[3])


def test_spatial_counts_equal_a_count_case_by_case(ingested):
    """Each case's ring of H3 cells holds the events of the 30 days before it; cases without a
    location get no count, and events without one count nowhere."""
    import h3

    from features.geo import h3_cells
    from features.history import spatial_intensity

    cases = ingested.cases.head(800).reset_index(drop=True)
    cases.loc[::9, "lon"] = np.nan
    got = spatial_intensity(cases, cases.iloc[:0], resolution=8, windows=(30,))
    cells = h3_cells(cases["lon"], cases["lat"], 8)
    t = cases["reported_at"]
    expected = []
    for i in range(len(cases)):
        if cells[i] is None:
            expected.append(np.nan)
            continue
        ring = set(h3.grid_disk(cells[i], 1))
        earlier = (t < t[i]) & (t >= t[i] - pd.Timedelta(days=30))
        expected.append(float(sum(c in ring for c in cells[earlier.to_numpy()])))
    np.testing.assert_array_equal(got["geo_n_30"].to_numpy(), np.array(expected))
    assert np.nansum(expected) > 100  # the rings are not all empty


def test_spatial_history_drops_only_stored_cases_that_no_window_reaches(ingested):
    """Stored cases before the longest window of the first case are left out; those at its edge,
    which times in whole seconds put inside, still count, as when all are featurised together."""
    from features.history import spatial_intensity

    template = ingested.cases.dropna(subset=["lon", "lat"]).iloc[[0]]
    first = pd.Timestamp("2025-06-01 08:00:00.700")
    edge = first.floor("s") - pd.Timedelta(days=90)
    offsets = ["-1s", "-400ms", "0s", "300ms", "10D", "89D"]
    stored_times = [edge + pd.Timedelta(o) for o in offsets]
    times = [*stored_times, first, first + pd.Timedelta(days=1)]
    cases = pd.concat([template] * len(times), ignore_index=True).assign(
        reported_at=times, risk_grade="高"
    )
    stored, today = cases.iloc[: len(stored_times)], cases.iloc[len(stored_times) :]

    nightly = spatial_intensity(today.reset_index(drop=True), stored, windows=(30, 90))
    together = spatial_intensity(cases, windows=(30, 90)).iloc[len(stored_times) :]
    pd.testing.assert_frame_equal(nightly, together.reset_index(drop=True))
    # the first: the edge's two (0 s, 300 ms), 10 D and 89 D; a day later: 10 D, 89 D and the first
    assert nightly["geo_n_90"].tolist() == [4.0, 3.0]


def test_h3_rings_are_grid_disks_including_a_pentagons():
    import h3
    import h3.api.basic_int as h3_numbers

    from features.geo import h3_rings

    pentagon = h3.str_to_int(h3.get_pentagons(8)[0])
    hexagon = h3.str_to_int(h3.latlng_to_cell(43.17, 124.35, 8))
    rows, cells = h3_rings(np.array([hexagon, 0, pentagon, hexagon], dtype=np.int64))
    for row, cell in [(0, hexagon), (2, pentagon), (3, hexagon)]:
        assert sorted(cells[rows == row]) == sorted(h3_numbers.grid_disk(cell, 1))
    assert (rows == 1).sum() == 0 and (rows == 2).sum() == 6


def test_a_cases_features_never_change_when_later_cases_are_appended(ingested):
    cases = ingested.cases.sort_values("reported_at", ignore_index=True)
    cut = cases["reported_at"].quantile(0.7)
    early = cases[cases["reported_at"] < cut].reset_index(drop=True)
    alone = build_context(early).set_index("case_id")
    with_future = build_context(cases).set_index("case_id").loc[alone.index]
    columns = [*context_columns(alone), "group_id"]
    pd.testing.assert_frame_equal(alone[columns], with_future[columns], check_dtype=False)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_scoring_with_stored_history_gives_the_training_features(ingested, n_jobs, monkeypatch):
    """The nightly path (history from the store + new days) equals the training path (all at once).

    Three weeks of new cases, so that many of them join groups that began in the stored history
    (merging reads only the reachable part of it), in one process and in two.
    """
    import features.parallel

    monkeypatch.setattr(features.parallel, "PROCESSES_MIN_ROWS", 100)
    cases = ingested.cases
    cut = cases["reported_at"].max().normalize() - pd.Timedelta(days=20)
    today = cases[cases["reported_at"] >= cut].reset_index(drop=True)
    past = build_context(cases[cases["reported_at"] < cut].reset_index(drop=True))
    stored = past.drop(columns=context_columns(past)).assign(history_grade=past["risk_grade"])
    nightly = build_context(today, stored, n_jobs=n_jobs).set_index("case_id")
    trained = build_context(cases).set_index("case_id").loc[nightly.index]
    joined_history = nightly["group_id"].isin(set(past["group_id"]))
    assert joined_history.sum() >= 3, joined_history.sum()
    assert (nightly.loc[joined_history, "grp_size"] >= 2).all()
    columns = [*context_columns(nightly), "group_id"]
    pd.testing.assert_frame_equal(nightly[columns], trained[columns], check_dtype=False)


def test_party_history_and_merge_are_the_same_whether_keys_are_hashes_or_other_strings(ingested):
    """Keyed hashes are compared as numbers; any other key as a string."""
    from features.history import entity_history

    cases = ingested.cases.head(1500)
    renamed = cases.assign(party_keys=[[f"party {k}" for k in ks] for ks in cases["party_keys"]])
    assert cases["party_keys"].map(len).sum() > 1000
    pd.testing.assert_frame_equal(entity_history(cases), entity_history(renamed))
    pd.testing.assert_frame_equal(merge_cases(cases), merge_cases(renamed))


def test_history_without_groups_is_refused(ingested):
    cases = ingested.cases
    with pytest.raises(ValueError, match="group_id"):
        merge_cases(cases.iloc[-10:], cases.iloc[:-10])


def test_merge_finds_the_true_re_reports(city, ingested):
    groups = merge_cases(ingested.cases).merge(city.truth[["case_id", "dispute_id"]], on="case_id")
    precision, recall = pair_precision_recall(groups["group_id"], groups["dispute_id"])
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_group_counts_grow_with_each_report_and_count_distinct_channels():
    base = {
        "description": "当事人甲因楼上漏水与邻居争执，要求赔偿损失2000元",
        "dispute_type": "邻里纠纷",
        "district": "龙山区",
        "street": "向阳街道",
        "community": "幸福社区",
        "grid_id": "g1",
        "party_keys": ["p1"],
    }
    cases = pd.DataFrame(
        [
            {
                **base,
                "case_id": "a",
                "reported_at": pd.Timestamp("2025-05-01 09:00"),
                "channel": "12345",
            },
            {
                **base,
                "case_id": "b",
                "reported_at": pd.Timestamp("2025-05-01 15:00"),
                "channel": "110",
            },
            {
                **base,
                "case_id": "c",
                "reported_at": pd.Timestamp("2025-05-02 10:00"),
                "channel": "12345",
            },
            {
                **base,
                "case_id": "d",
                "reported_at": pd.Timestamp("2025-07-01 10:00"),
                "channel": "12345",
            },
        ]
    )
    out = merge_cases(cases).set_index("case_id")
    assert out.loc[["a", "b", "c"], "group_id"].tolist() == ["a", "a", "a"]
    assert out.loc[["a", "b", "c"], "group_size"].tolist() == [1, 2, 3]
    assert out.loc[["a", "b", "c"], "group_channels"].tolist() == [1, 2, 2]
    assert out.loc["d", "group_id"] == "d"  # two months later: outside the window, a new dispute


def test_merge_against_stored_history_keeps_its_groups():
    base = {
        "description": "当事人甲讨要工资3万元，扬言聚集",
        "dispute_type": "劳资纠纷",
        "district": "龙山区",
        "street": "向阳街道",
        "community": "幸福社区",
        "grid_id": "g1",
        "party_keys": ["p9"],
        "channel": "12345",
    }
    history = pd.DataFrame(
        [
            # the group's first report is outside the window before today, but still counts
            {**base, "case_id": "h0", "reported_at": pd.Timestamp("2025-04-15"), "group_id": "h0"},
            {**base, "case_id": "h1", "reported_at": pd.Timestamp("2025-04-24"), "group_id": "h0"},
            {**base, "case_id": "x", "reported_at": pd.Timestamp("2025-01-02"), "group_id": "x"},
        ]
    )
    today = pd.DataFrame(
        [{**base, "case_id": "t1", "reported_at": pd.Timestamp("2025-05-03"), "channel": "110"}]
    )
    out = merge_cases(today, history)
    assert out["group_id"].tolist() == ["h0"]
    assert out["group_size"].tolist() == [3] and out["group_channels"].tolist() == [2]


def test_forked_context_and_featurisation_equal_the_serial_ones(cases_with_context, monkeypatch):
    """Inputs too small for worker processes use a fork: the context's histories beside the merge,
    and half of the rows' features."""
    from features.featuriser import CaseFeaturiser
    from tests.support import fork_from

    forked = fork_from(monkeypatch, 10)
    cases = cases_with_context.drop(columns=[*context_columns(cases_with_context), "group_id"])
    past, today = cases.iloc[:-300], cases.iloc[-300:].reset_index(drop=True)
    stored = build_context(past)
    forked.clear()
    serial, parallel = (
        build_context(today, stored, n_jobs=1),
        build_context(today, stored, n_jobs=2),
    )
    pd.testing.assert_frame_equal(serial, parallel)
    assert forked == [1, 2]

    featuriser = CaseFeaturiser(n_jobs=1).fit(stored)
    one = featuriser.transform(serial)
    featuriser.n_jobs = 2
    two = featuriser.transform(serial)
    assert forked == [1, 2, 2]
    _assert_same_features(one, two, len(today), featuriser)


def test_parallel_merge_and_featurisation_equal_the_serial_ones(cases_with_context, monkeypatch):
    import features.featuriser
    import features.parallel
    from features.featuriser import CaseFeaturiser

    cases = cases_with_context.drop(columns=[*context_columns(cases_with_context), "group_id"])
    monkeypatch.setattr(features.parallel, "PROCESSES_MIN_ROWS", 100)
    monkeypatch.setattr(features.featuriser, "_CHUNK_ROWS", 700)
    serial, parallel = build_context(cases, n_jobs=1), build_context(cases, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)

    featuriser = CaseFeaturiser(n_jobs=1).fit(serial)
    one = featuriser.transform(serial)
    featuriser.n_jobs = 2
    two = featuriser.transform(serial)
    _assert_same_features(one, two, len(cases), featuriser)


def _assert_same_features(one, two, rows: int, featuriser) -> None:
    assert one.named.shape == two.named.shape == (rows, len(featuriser.feature_names_))
    a, b = one.named, two.named
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data, equal_nan=True)
    assert one.texts == two.texts and one.tokens == two.tokens


def test_text_vectors_made_a_page_at_a_time_give_the_whole_matrixs_products(ingested, monkeypatch):
    """The merge's similarities come from pages of vectors, each range without its unused
    columns: every product is the whole matrix's, to the bit, whatever the page size."""
    import features.dedup

    descriptions = ingested.cases["description"].head(200)
    whole = features.dedup.char_bigrams(features.dedup.merge_text(descriptions))
    monkeypatch.setattr(features.dedup, "_BIGRAM_PAGE", 7)
    pages = features.dedup._Bigrams(descriptions)
    for start, stop in [(0, 5), (3, 30), (20, 21), (28, 120), (119, 200)]:
        part = pages.rows(start, stop)
        assert part.shape[1] == len(np.unique(whole[start:stop].indices))
        expected = (whole[start:stop] @ whole[start:stop].T).toarray()
        assert np.array_equal((part @ part.T).toarray(), expected)
    assert min(pages._pages) == 119 // 7  # the pages below the last range were dropped


@pytest.mark.parametrize("pairs", [128 * 1024, 400])
def test_matching_many_blocks_at_once_finds_what_each_case_finds_alone(
    ingested, pairs, monkeypatch
):
    """Wanted rows are matched in chunks that span communities; one row per chunk cannot span.

    With stored history, so that chunks also run over rows that are not matched themselves, and
    with a pair budget that cuts chunks short.
    """
    import features.dedup

    monkeypatch.setattr(features.dedup, "_CHUNK_PAIRS", pairs)

    cases = ingested.cases
    cut = cases["reported_at"].max().normalize() - pd.Timedelta(days=13)
    past = merge_cases(cases[cases["reported_at"] < cut])
    stored = cases[cases["reported_at"] < cut].assign(group_id=past["group_id"].to_numpy())
    today = cases[cases["reported_at"] >= cut]
    spanning = merge_cases(today, stored)
    monkeypatch.setattr(features.dedup, "_CHUNK", 1)
    alone = merge_cases(today, stored)
    assert spanning["match_score"].gt(0).mean() > 0.3  # the comparison is not of empty matches
    pd.testing.assert_frame_equal(spanning, alone)


def test_a_nights_context_is_the_same_from_a_history_read_without_the_years_texts(
    ingested, cases_with_context, tmp_path
):
    """A night reads descriptions only from the merge window before its earliest report (a late
    report reaches further back), and only the columns its context reads; its merged groups and
    history features are the same as from the whole history."""
    from features.context import HISTORY_COLUMNS
    from pipelines.steps import history_for
    from pipelines.store import STORED_COLUMNS, HistoryStore

    run_date = pd.Timestamp("2025-12-31")
    past = cases_with_context[cases_with_context["reported_at"] < "2025-12-24"]
    store = HistoryStore(tmp_path)
    store.append(past.assign(predicted_grade=past["risk_grade"]), "history")
    today = ingested.cases[ingested.cases["reported_at"] >= "2025-12-24"].reset_index(drop=True)
    late = past.index[past["reported_at"] >= "2025-12-05"][0]  # reported three weeks ago
    today = pd.concat([today, ingested.cases.loc[[late]]], ignore_index=True)

    whole = history_for(store, run_date, today, all_texts=True)
    night = history_for(store, run_date, today)
    texts_from = today["reported_at"].min() - pd.Timedelta(days=10)
    earlier = night["reported_at"] < texts_from
    assert night["description"].isna().eq(earlier).all()
    assert night["description"].notna().sum() > 0 and len(night) == len(whole)
    # Only the columns the context reads; the same values in them.
    assert night.columns.tolist() == [c for c in STORED_COLUMNS if c in HISTORY_COLUMNS]
    assert set(night.columns) == HISTORY_COLUMNS
    pd.testing.assert_frame_equal(
        night.drop(columns=["description", "party_keys"]),
        whole[night.columns].drop(columns=["description", "party_keys"]),
    )
    # Earlier cases keep tonight's parties' keys only; the merge window keeps every key.
    tonight = {k for ks in today["party_keys"] for k in ks}
    kept = [set(ks) for ks in night["party_keys"]]
    wanted = [set(ks) & tonight for ks in whole["party_keys"]]
    assert [k for k, e in zip(kept, earlier, strict=True) if e] == [
        w for w, e in zip(wanted, earlier, strict=True) if e
    ]
    assert [list(ks) for ks in night.loc[~earlier, "party_keys"]] == [
        list(ks) for ks in whole.loc[~earlier, "party_keys"]
    ]
    assert any(k for k, e in zip(kept, earlier, strict=True) if e)  # some past party is back
    pd.testing.assert_frame_equal(build_context(today, night), build_context(today, whole))


def test_a_merge_reaches_the_window_before_tonight_and_those_groups_earlier_reports():
    """Stored reports within the merge window before tonight's earliest case are candidates, and
    so are the earlier reports of their groups (they count in group sizes and channels); any other
    stored report is out of reach."""
    from features.dedup import MergeParams, reachable_history

    history = pd.DataFrame(
        {
            "reported_at": pd.to_datetime(
                ["2025-01-01", "2025-06-01", "2025-12-20", "2025-12-25", "2025-03-01"]
            ),
            "group_id": pd.array(["a", "b", "b", "c", None], dtype="str"),
        }
    )
    tonight = pd.DataFrame({"reported_at": pd.to_datetime(["2025-12-28"])})
    reached = reachable_history(history, tonight, MergeParams(window_days=10))
    assert reached.index.tolist() == [1, 2, 3]
