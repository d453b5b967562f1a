"""The demo city generator: deterministic, realistic where it matters, honest about its labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pii import valid_id_number
from pipelines.demo_city import DemoConfig, generate_demo_city
from pipelines.demo_city.generate import EXPORT_COLUMNS


def test_a_seed_fixes_everything():
    a = generate_demo_city(DemoConfig(n_cases=800, seed=3))
    b = generate_demo_city(DemoConfig(n_cases=800, seed=3))
    c = generate_demo_city(DemoConfig(n_cases=800, seed=4))
    pd.testing.assert_frame_equal(a.export, b.export)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.export["案情描述"].equals(c.export["案情描述"])


def test_the_export_has_chinese_headers_and_about_the_asked_size(city):
    assert list(city.export.columns) == list(EXPORT_COLUMNS.values())
    assert 0.9 * 4000 <= len(city.export) <= 1.05 * 4000


def test_grade_prevalence_and_the_oracle_are_consistent(city):
    shares = city.export["风险等级"].value_counts(normalize=True)
    assert abs(shares["高"] - 0.05) < 0.015 and abs(shares["中"] - 0.20) < 0.03
    oracle = city.truth[["p_low", "p_medium", "p_high"]].to_numpy()
    np.testing.assert_allclose(oracle.sum(axis=1), 1.0)
    # Grades are drawn from the oracle: its mean probability matches the observed share.
    assert abs(oracle[:, 2].mean() - shares["高"]) < 0.015


def test_labels_follow_text_cues_history_and_channels(city):
    frame = city.export.drop_duplicates("案件编号").merge(
        city.truth, left_on="案件编号", right_on="case_id"
    )
    threat = frame["案情描述"].str.contains("扬言要报复|同归于尽|威胁要")
    assert frame.loc[threat, "p_high"].mean() > 2 * frame.loc[~threat, "p_high"].mean()
    multi = frame.groupby("dispute_id")["channel"].transform("nunique") > 1
    assert frame.loc[multi, "p_high"].mean() > frame.loc[~multi, "p_high"].mean()


def test_a_threat_with_a_weapon_is_near_the_top_whatever_the_history(city):
    """The seeds' 三级预警 puts an explicit threat made with a weapon in hand at the top: in the
    demo, such a dispute is likelier 高 than not even for a party never reported before, and far
    likelier than a threat or a weapon alone."""
    from scipy.special import expit, logit

    from pipelines.demo_city import text as T

    truth = city.truth[city.truth["p_high"].between(0.01, 0.99)]
    cut_high = float((truth["latent_risk"] - logit(truth["p_high"])).median())

    def p_high(latent: float) -> float:
        return float(expit(latent - cut_high))

    neighbours = T.TYPES["邻里纠纷"].base_risk
    armed = neighbours + T.CUE_WEIGHTS["threat"] + T.CUE_WEIGHTS["weapon"] + T.ARMED_THREAT
    alone = neighbours + max(T.CUE_WEIGHTS["threat"], T.CUE_WEIGHTS["weapon"])
    assert p_high(armed) > 0.5
    assert p_high(armed) > 5 * p_high(alone)


def test_an_armed_threat_is_written_only_where_the_risk_has_one():
    """A report whose risk holds a weapon but no threat never says a threat made with a weapon in
    hand ("持刀威胁"), so that what the text says and the risk behind it agree; a report with both
    cues sometimes says them in one clause."""
    import random

    from pipelines.demo_city import text as T

    def spec(cues: list[str]) -> T.ReportSpec:
        return T.ReportSpec(
            channel="网格员", dispute_type="邻里纠纷", actor="当事人甲", respondent="当事人乙",
            cause="琐事", demand="要求调解", cues=cues, negated=[], mitigated=False,
            failed=False, amount=0.0, people=2, place="某社区", phone="", id_number="",
        )  # fmt: skip

    armed = [p.format(a="") for p in T.ARMED_PHRASES]
    weapon_only = [
        "，".join(T._cue_clauses(spec(["weapon", "emotion"]), False, random.Random(i)))
        for i in range(500)
    ]
    both = [
        "，".join(T._cue_clauses(spec(["threat", "weapon"]), False, random.Random(i)))
        for i in range(500)
    ]
    assert not any(p in text for text in weapon_only for p in armed)
    together = np.mean([any(p in text for p in armed) for text in both])
    assert 0.2 < together < 0.6
    assert not any(p.format(a="") in armed for p in T.CUE_PHRASES["weapon"])


def test_escalation_follows_risk(city):
    frame = city.export
    known = frame[frame["是否升级"].notna()]
    rate = known.groupby("风险等级")["是否升级"].apply(lambda s: (s == "是").mean())
    assert rate["高"] > rate["中"] > rate["低"]
    assert frame["是否升级"].isna().any()  # the last 30 days' outcomes are not known yet


def test_places_are_real_counties_and_every_case_has_coordinates(city):
    frame = city.export
    assert set(frame["区县"]) == {"龙山区", "西安区", "东丰县", "东辽县"}
    assert frame["经度"].between(124.5, 126.0).all() and frame["纬度"].between(42.2, 43.4).all()
    assert (
        len(city.city.townships) == 47
        and len(city.city.communities) == 563
        and len(city.city.grids) == 1916
    )


def test_channels_write_in_their_own_styles_in_many_structures(city):
    """A channel's records carry its own words (a 110 summary speaks of 报警 and 民警), far more
    often than other channels' records do, yet no one opening writes most of them."""
    import opencc

    truth = city.truth.set_index("case_id")
    frame = city.export.drop_duplicates("案件编号").set_index("案件编号")
    to_simplified = opencc.OpenCC("t2s")
    text = frame["案情描述"].str.strip().map(to_simplified.convert)
    channel = truth.loc[frame.index, "channel"]
    markers = {
        "12345": "来电|热线|工单|12345|我是|市民",
        "110": "报警|警情|民警|接警",
        "我要报事": "报事|随手拍|求助|急！|受不了|很久了|好几个月|人管|有关部门处理|尽快处理|我要",
        "信访": "信访|来信",
        "诉调对接": "原告|案由|委派|诉调|法院|诉前|纠纷类型",
        "群众来访": "来访|窗口|到中心|到综治中心",
    }
    for name, pattern in markers.items():
        own = text[channel == name].str.contains(pattern).mean()
        others = text[channel != name].str.contains(pattern).mean()
        assert own > 0.95 and others < 0.5 * own, (name, own, others)
    for name, texts in text.groupby(channel):
        assert texts.str[:4].value_counts(normalize=True).iloc[0] < 0.5, name
    # Several export systems name the channels their own way.
    assert frame["来源渠道"].nunique() > 7


def test_text_carries_real_world_mess(city):
    text = city.export["案情描述"].fillna("")
    traditional = text.str.contains("來電人|報警人|糾紛|與|為")
    assert 0.01 < traditional.mean() < 0.08
    assert text.str.contains("[０-９]").mean() > 0.01
    assert text.str.contains("[\t\n]").mean() > 0.03
    assert text.str.contains("未发生肢体冲突|无过激言行|未扬言报复|未发生聚集").mean() > 0.02


def test_fake_personal_data_looks_real(city):
    frame = city.export
    phones = frame["联系电话"].dropna().astype(str)
    assert phones.str.fullmatch(r"1[3-9]\d{9}").all()
    ids = frame["身份证号"].dropna().astype(str)
    assert ids.map(valid_id_number).all() and ids.str[:4].eq("2204").all()
    assert frame["案情描述"].str.contains(r"1[3-9]\d{9}").mean() > 0.05


def test_re_reports_are_recorded_as_true_groups(city):
    sizes = city.truth.groupby("dispute_id").size()
    in_groups = sizes[sizes > 1].sum() / sizes.sum()
    assert 0.15 < in_groups < 0.5


def test_hot_zones_and_the_emerging_zone_are_there():
    big = generate_demo_city(DemoConfig(n_cases=12000, seed=2))
    truth = big.truth.merge(
        big.export[["案件编号", "受理时间"]], left_on="case_id", right_on="案件编号"
    )
    when = pd.to_datetime(truth["受理时间"], errors="coerce", format="mixed")
    per_community = truth.groupby("community_id").size()
    hot = per_community.reindex(big.zones["persistent"]).fillna(0)
    assert (hot > per_community.quantile(0.9)).all()
    emerging = truth["community_id"] == big.zones["emerging"][0]
    last_weeks = when >= pd.Timestamp("2025-11-19")
    before = emerging[~last_weeks].sum() / (~last_weeks).sum()
    after = emerging[last_weeks].sum() / last_weeks.sum()
    assert after > 2 * before


def test_wage_arrears_peak_before_spring_festival(city):
    truth = city.truth.merge(
        city.export[["案件编号", "受理时间"]], left_on="case_id", right_on="案件编号"
    )
    when = pd.to_datetime(truth["受理时间"], errors="coerce", format="mixed")
    wage = truth["dispute_type"] == "劳资纠纷"
    before_festival = (when >= "2025-01-01") & (when < "2025-01-28")
    per_day_before = (wage & before_festival).sum() / 27
    per_day_summer = (wage & (when >= "2025-06-01") & (when < "2025-09-01")).sum() / 92
    assert per_day_before > 1.5 * per_day_summer


def test_the_scored_day_holds_every_case_of_that_day_in_every_date_format(
    city, tmp_path, monkeypatch
):
    """The exports are split by the dates as ingest reads them: ISO, 2025/12/31 10:03 and
    2025年12月31日10时3分 alike. Only rows whose date no one can read stay with the history."""
    import pipelines.demo_city as demo
    from pipelines.ingest.dates import parse_datetimes

    export = city.export.copy()
    when = parse_datetimes(export["受理时间"])
    last = when.max().normalize()
    rows = export.index[when >= last]
    assert len(rows) >= 3
    # the last day's cases in each of the generator's three formats
    t = when[rows]
    chinese = (
        t.dt.year.astype(str) + "年" + t.dt.month.astype(str) + "月" + t.dt.day.astype(str)
        + "日" + t.dt.hour.astype(str) + "时" + t.dt.minute.astype(str) + "分"
    )  # fmt: skip
    slash = (
        t.dt.year.astype(str) + "/" + t.dt.month.astype(str) + "/" + t.dt.day.astype(str)
        + " " + t.dt.strftime("%H:%M")
    )  # fmt: skip
    export.loc[rows[0::3], "受理时间"] = chinese[rows[0::3]]
    export.loc[rows[1::3], "受理时间"] = slash[rows[1::3]]
    monkeypatch.setattr(demo, "generate_demo_city", lambda config: type(city)(
        **{**city.__dict__, "export": export}
    ))  # fmt: skip

    written = demo.write_demo_exports(tmp_path)
    history = pd.read_csv(written["history"], dtype=str, keep_default_na=False)
    day = pd.read_csv(written["day"], dtype=str, keep_default_na=False, encoding="gb18030")
    assert written["run_date"] == f"{last:%Y-%m-%d}"
    assert len(day) == len(rows) and day["受理时间"].str.contains("年").any()
    assert (parse_datetimes(day["受理时间"]).dt.normalize() == last).all()
    assert not (parse_datetimes(history["受理时间"]) >= last).any()
