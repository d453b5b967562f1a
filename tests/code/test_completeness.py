"""七何: each element found when a report has it and missed when it lacks it; the return list."""

from __future__ import annotations

import pandas as pd
import pytest

from features.completeness import ELEMENTS, TO_ADD, seven_elements
from pipelines.publish.watchlist import return_list

FULL = "昨天晚上，居民王某在新兴社区3号楼因漏水与楼下争吵，推搡中受伤，要求赔偿。"
# Each element's words taken out of the full report, one at a time.
WITHOUT = {
    "何人": "昨天晚上，在新兴社区3号楼因漏水与楼下争吵，推搡中受伤，要求赔偿。",
    "何时": "居民王某在新兴社区3号楼因漏水与楼下争吵，推搡中受伤，要求赔偿。",
    "何地": "昨天晚上，居民王某因漏水与楼下争吵，推搡中受伤，要求赔偿。",
    "何事": "昨天晚上王某，",
    "何因": "昨天晚上，居民王某在新兴社区3号楼与楼下争吵，推搡中受伤，要求赔偿。",
    "何种方式/后果": "昨天晚上，居民王某在新兴社区3号楼因漏水与楼下有矛盾，要求处理。",
    "何诉求": "昨天晚上，居民王某在新兴社区3号楼因漏水与楼下争吵，推搡中受伤。",
}


def _cases(texts, reported_at="2025-03-05 14:20"):
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(len(texts))],
            "description": texts,
            "reported_at": pd.Timestamp(reported_at),
            "n_parties": 0,
            "dispute_type": None,
        }
    )


def test_a_full_report_has_every_element():
    flags = seven_elements(_cases([FULL]))
    assert flags.loc[0, "completeness"] == 1.0 and flags.loc[0, "missing_elements"] == ""


@pytest.mark.parametrize("element", ELEMENTS)
def test_each_element_is_missed_when_the_report_lacks_it(element):
    flags = seven_elements(_cases([WITHOUT[element]]))
    assert not flags.loc[0, element]
    assert element in flags.loc[0, "missing_elements"].split("、")


def test_when_is_when_it_happened_unless_the_centre_counts_the_receipt_time():
    text = WITHOUT["何时"]
    assert not seven_elements(_cases([text]))["何时"].iloc[0]
    assert seven_elements(_cases([text]), when="report_time")["何时"].iloc[0]
    # A receipt date without a time of day says nothing about when it happened.
    assert not seven_elements(_cases([text], "2025-03-05"), when="report_time")["何时"].iloc[0]
    for said in ("2025年3月4日", "3月4号", "凌晨2点", "今天上午", "14:30", "上周"):
        assert seven_elements(_cases([said + text]))["何时"].iloc[0], said


def test_the_return_list_has_one_row_per_incomplete_case_with_what_to_add():
    cases = _cases([FULL, WITHOUT["何地"], WITHOUT["何诉求"]])
    seven = seven_elements(cases)
    cases = cases.assign(
        completeness=seven["completeness"],
        missing_elements=seven["missing_elements"],
        channel="12345",
        grid_id=["G1", "G2", None],
        source_file="/inbox/12345/2025-03-05.csv",
    )
    returned = return_list(cases)
    assert returned["案件编号"].tolist() == ["c1", "c2"]
    assert returned["缺少要素"].tolist() == ["何地", "何诉求"]
    assert returned["需补充"].tolist() == [TO_ADD["何地"], TO_ADD["何诉求"]]
    assert returned["报送单位"].tolist() == ["12345，G2，2025-03-05.csv", "12345，2025-03-05.csv"]


def test_the_return_list_puts_hand_overs_first_red_before_yellow_then_the_most_missing():
    from features.domain import TICKET_NAMES

    red, yellow, _ = TICKET_NAMES
    two_missing = "昨天晚上，居民王某因漏水与楼下争吵，推搡中受伤。"  # no 何地, no 何诉求
    texts = [WITHOUT["何地"], WITHOUT["何诉求"], two_missing, FULL, WITHOUT["何诉求"]]
    cases = _cases(texts)
    seven = seven_elements(cases)
    assert seven["missing_elements"].tolist()[2] == "何地、何诉求"
    cases = cases.assign(
        completeness=seven["completeness"],
        missing_elements=seven["missing_elements"],
        ticket=["", yellow, "", red, red],
    )
    returned = return_list(cases)
    assert returned["案件编号"].tolist() == ["c4", "c1", "c2", "c0"]  # c3 is complete
    assert returned["预警单"].tolist() == [red, yellow, "", ""]
