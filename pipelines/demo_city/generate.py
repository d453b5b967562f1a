"""Generate the demo city: a year of a 辽源-sized city's dispute reports, as a centre would export them.

The generative story, in order:
1. People live in communities; each carries a latent volatility that makes them report more often
   and use more threatening language. Households and long-running neighbour feuds recur.
2. Disputes arrive by type, day and place: weekday and holiday patterns, wage arrears before 春节,
   three persistent hot zones and one zone that emerges in the last six weeks.
3. Each dispute has a latent risk from its type, text cues, amount, the parties' history, the
   place and noise. Riskier disputes are re-reported on more channels (同案).
4. Each report's staff grade is drawn from an ordered-logit model of that latent risk. Its class
   probabilities are the oracle: the best any model could do. They go to a separate file that no
   feature reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import opencc
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from features.calendar import holiday_table
from features.domain import GRADES
from features.progress import progress_bar
from pipelines.demo_city import text as T
from pipelines.demo_city.geography import City, build_city

EXPORT_COLUMNS = {
    "case_id": "案件编号",
    "reported_at": "受理时间",
    "channel": "来源渠道",
    "dispute_type": "纠纷类型",
    "district": "区县",
    "street": "街道(乡镇)",
    "community": "社区(村)",
    "grid_id": "网格",
    "address": "发生地址",
    "lon": "经度",
    "lat": "纬度",
    "parties": "当事人",
    "party_phone": "联系电话",
    "party_id_number": "身份证号",
    "status": "办理状态",
    "risk_grade": "风险等级",
    "escalated": "是否升级",
    "description": "案情描述",
}

_CHANNEL_EFFECT = {
    "网格员": 0.0,
    "12345": 0.0,
    "110": 0.25,
    "群众来访": 0.1,
    "我要报事": -0.15,
    "信访": 0.35,
    "诉调对接": -0.2,
}
# Hour-of-day profiles: grid workers patrol in office hours, 110 peaks in the evening.
_HOURS = np.arange(24)
_HOUR_PROFILE = {
    "网格员": np.exp(-0.5 * ((_HOURS - 11) / 2.6) ** 2)
    + 0.6 * np.exp(-0.5 * ((_HOURS - 15.5) / 1.5) ** 2),
    "12345": np.exp(-0.5 * ((_HOURS - 14) / 4.0) ** 2) + 0.02,
    "110": np.exp(-0.5 * ((_HOURS - 20.5) / 3.5) ** 2)
    + 0.25 * np.exp(-0.5 * ((_HOURS - 1) / 2) ** 2)
    + 0.05,
    "群众来访": np.where((_HOURS >= 8) & (_HOURS <= 17), 1.0, 0.0),
    "我要报事": np.exp(-0.5 * ((_HOURS - 19) / 4.5) ** 2) + 0.05,
    "信访": np.where((_HOURS >= 8) & (_HOURS <= 17), 1.0, 0.0),
    "诉调对接": np.where((_HOURS >= 9) & (_HOURS <= 16), 1.0, 0.0),
}
_SURNAMES = list(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文"
)
_GIVEN_M = list("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帅建国志海林峰东亮成")
_GIVEN_F = list("芳娜敏静丽艳娟霞秀英玲桂兰红梅琳燕萍雪慧颖倩婷洁晶丹凤琴云莉")
_MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
]
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


@dataclass(frozen=True)
class DemoConfig:
    """What demo city to generate; a seed fixes everything."""

    n_cases: int = 45_000
    start: dt.date = dt.date(2025, 1, 1)
    end: dt.date = dt.date(2025, 12, 31)
    seed: int = 20251231
    grade_shares: tuple[float, float, float] = (0.75, 0.20, 0.05)  # 低, 中, 高
    reports_per_dispute: float = 1.3
    traditional_rate: float = 0.03
    fullwidth_rate: float = 0.05
    whitespace_rate: float = 0.10
    typo_rate: float = 0.03
    defect_rate: float = 0.002
    escalation_rate: float = 0.03
    emerging_weeks: int = 6


@dataclass
class DemoCity:
    """A generated demo city: the centre's export, and the truth that only evaluation may read."""

    export: pd.DataFrame  # Chinese headers, as a centre's system writes it
    truth: pd.DataFrame  # case_id, dispute_id, oracle probabilities, latent risk
    city: City
    zones: dict[str, list[str]] = field(default_factory=dict)


def generate_demo_city(config: DemoConfig | None = None) -> DemoCity:
    """Return a demo city generated from config (defaults: a year of 辽源, about 45,000 cases)."""
    config = config or DemoConfig()
    rng = np.random.default_rng(config.seed)
    city = build_city(rng)
    calendar = holiday_table(config.start, config.end)
    zones = _choose_zones(rng, city)
    n_disputes = max(1, round(config.n_cases / config.reports_per_dispute))
    people = _people(rng, city, max(200, int(n_disputes * 0.9)))
    disputes = _disputes(rng, config, city, calendar, zones, people, n_disputes)
    reports = _reports(rng, config, disputes)
    reports = _grade(rng, config, reports, disputes)
    reports = _escalation(rng, config, reports)
    # Intake often records only the person reporting; the other party is recorded in some reports
    # only, and a report names in full only a party its intake recorded.
    reports["lists_other"] = rng.random(len(reports)) < 0.75
    texts = _describe(rng, config, reports, disputes, people, city)
    export, truth = _export(rng, config, reports, disputes, people, city, texts)
    return DemoCity(export=export, truth=truth, city=city, zones=zones)


def _choose_zones(rng: np.random.Generator, city: City) -> dict[str, list[str]]:
    comm = city.communities
    urban = comm[comm["urban"]].sort_values("population", ascending=False)
    rural = comm[~comm["urban"]].sort_values("population", ascending=False)
    # Hot zones are among the larger places, as they are in real cities.
    hot_urban = rng.choice(urban["community_id"].to_numpy()[:30], size=2, replace=False)
    hot_rural = rng.choice(rural["community_id"].to_numpy()[:40], size=1)
    remaining = urban[~urban["community_id"].isin(hot_urban)]["community_id"].to_numpy()[:40]
    emerging = rng.choice(remaining, size=1)
    return {
        "persistent": [*map(str, hot_urban), *map(str, hot_rural)],
        "emerging": [str(emerging[0])],
    }


def _id_numbers(rng: np.random.Generator, adcodes: np.ndarray) -> np.ndarray:
    n = len(adcodes)
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, n), unit="D")
    seq = rng.integers(0, 1000, n)
    body = np.char.add(
        np.char.add(adcodes.astype(str), np.asarray(birth.strftime("%Y%m%d"), dtype=str)),
        np.char.zfill(seq.astype(str), 3),
    )
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - ord("0")
    check = _ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
    return np.char.add(body, check)


def _people(rng: np.random.Generator, city: City, n: int) -> pd.DataFrame:
    comm = city.communities
    home = rng.choice(len(comm), size=n, p=comm["population"].to_numpy() / comm["population"].sum())
    female = rng.random(n) < 0.5
    given_len = rng.choice([1, 2], size=n, p=[0.35, 0.65])
    g1 = np.where(female, rng.choice(_GIVEN_F, n), rng.choice(_GIVEN_M, n))
    g2 = np.where(female, rng.choice(_GIVEN_F, n), rng.choice(_GIVEN_M, n))
    surname = rng.choice(_SURNAMES, n)
    name = np.char.add(surname, np.where(given_len == 2, np.char.add(g1, g2), g1))
    phone = np.char.add(
        rng.choice(_MOBILE_PREFIXES, n), np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)
    )
    volatility = rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "community": home,
            "surname": surname,
            "name": name,
            "phone": phone,
            "id_number": _id_numbers(rng, comm["adcode"].to_numpy()[home]),
            "volatility": volatility,
            "activity": np.exp(0.9 * volatility),
        }
    )
    # Pair people within a community into households, and give each a standing neighbour adversary:
    # the same pairs then recur, as family disputes and long-running feuds (邻里积怨) do.
    order = np.lexsort((rng.random(n), home))
    partner = np.arange(n)
    same = home[order][1:] == home[order][:-1]
    for k in range(0, n - 1, 2):
        if same[k]:
            a, b = order[k], order[k + 1]
            partner[a], partner[b] = b, a
    shift = np.roll(order, -3)
    adversary = np.empty(n, dtype=int)
    adversary[order] = np.where(home[shift] == home[order], shift, partner[order])
    frame["partner"] = partner
    frame["adversary"] = adversary
    frame["building"] = rng.integers(1, 30, n)
    frame["unit"] = rng.integers(1, 7, n)
    frame["room"] = rng.integers(1, 19, n) * 100 + rng.integers(1, 5, n)
    return frame


def _day_weights(calendar: pd.DataFrame, dispute_type: str) -> np.ndarray:
    weekday = calendar["date"].dt.weekday.to_numpy()
    w = np.where(
        calendar["is_workday"], np.array([1.12, 1.08, 1.05, 1.05, 1.0, 1.0, 1.0])[weekday], 0.8
    )
    holiday = calendar["holiday"].notna().to_numpy()
    spring = (calendar["holiday"] == "Spring Festival").fillna(False).to_numpy()
    w = np.where(holiday, 0.65, w) * np.where(spring, 0.7, 1.0)
    to_spring = calendar["days_to_spring_festival"].fillna(999).to_numpy()
    since = calendar["days_since_holiday"].fillna(999).to_numpy()
    if dispute_type == "劳资纠纷":
        # Wage arrears peak in the weeks before 春节, when workers want to go home paid.
        w = w * (1 + 3.0 * np.exp(-to_spring / 18.0) * (to_spring <= 60))
    if dispute_type == "婚恋家庭":
        w = w * (1 + 0.3 * ((since <= 30) & spring.any()))
    return w / w.sum()


def _disputes(rng, config, city, calendar, zones, people, n) -> pd.DataFrame:
    types = np.array(list(T.TYPES))
    dtype_idx, day_idx = _types_and_days(rng, calendar, types, n)
    days = calendar["date"].to_numpy()[day_idx]
    community, place_effect = _communities(
        rng, config, city.communities, zones, types, dtype_idx, day_idx
    )
    primary, respondent = _parties(rng, people, community, dtype_idx, types)
    grid = _grid_in_community(rng, city, community)
    profile = [T.TYPES[t] for t in types[dtype_idx]]
    v = people["volatility"].to_numpy()[primary]
    facts = _facts(rng, profile, dtype_idx, v, n)
    first_channel = _draw_channels(rng, types[dtype_idx])
    t = days + _draw_times_of_day(rng, first_channel)
    prior_90, prior_365 = _party_history(primary, respondent, t)
    latent = _latent(rng, profile, facts, prior_90, prior_365, place_effect, v, n)
    frame = pd.DataFrame(
        {
            "dispute_id": np.arange(n),
            "dispute_type": types[dtype_idx],
            "first_channel": first_channel,
            "start": t,
            "community": community,
            "grid": grid,
            "primary": primary,
            "respondent": respondent,
            **{k: facts[k] for k in ("mitigated", "failed", "amount", "people")},
            "latent": latent,
        }
    )
    for j, c in enumerate(T.CUE_CATEGORIES):
        frame[f"cue_{c}"] = facts["cues"][:, j]
        frame[f"neg_{c}"] = facts["negated"][:, j]
    return frame.sort_values("start", ignore_index=True).assign(
        dispute_id=lambda f: np.arange(len(f))
    )


def _types_and_days(rng, calendar, types, n) -> tuple[np.ndarray, np.ndarray]:
    """Return each dispute's type and day (index into the calendar), by the types' shares and
    their seasons."""
    shares = np.array([p.share for p in T.TYPES.values()])
    dtype_idx = rng.choice(len(types), size=n, p=shares / shares.sum())
    day_idx = np.empty(n, dtype=int)
    for k, name in enumerate(types):
        sel = np.flatnonzero(dtype_idx == k)
        day_idx[sel] = rng.choice(len(calendar), size=len(sel), p=_day_weights(calendar, name))
    return dtype_idx, day_idx


def _communities(rng, config, comm, zones, types, dtype_idx, day_idx):
    """Return each dispute's community and its place effect on risk.

    By type (land disputes are rural, property-management disputes urban), with hot zones, and an
    emerging zone that starts as an ordinary place and grows to ten times its rate.
    """
    comm_ids = comm["community_id"].to_numpy()
    hot = np.isin(comm_ids, zones["persistent"])
    emerging_idx = int(np.flatnonzero(comm_ids == zones["emerging"][0])[0])
    base_w = comm["population"].to_numpy() * np.where(hot, 4.0, 1.0)
    base_w[emerging_idx] = 0.0
    n_days = (config.end - config.start).days + 1
    ramp_start = n_days - 7 * config.emerging_weeks
    ramp = np.clip((day_idx - ramp_start) / (7 * config.emerging_weeks), 0, 1)
    community = np.empty(len(dtype_idx), dtype=int)
    for kind in ("urban", "rural", "any"):
        sel = np.flatnonzero(
            np.isin(dtype_idx, [i for i, t in enumerate(types) if T.TYPES[t].where == kind])
        )
        allowed = {
            "urban": comm["urban"].to_numpy(),
            "rural": ~comm["urban"].to_numpy(),
            "any": np.ones(len(comm), bool),
        }[kind]
        w = np.where(allowed, base_w, 0.0)
        community[sel] = rng.choice(len(comm), size=len(sel), p=w / w.sum())
        if allowed[emerging_idx]:
            e_w = comm["population"].to_numpy()[emerging_idx] * (1 + 9.0 * ramp[sel] ** 1.5)
            to_emerging = rng.random(len(sel)) < e_w / (w.sum() + e_w)
            community[sel[to_emerging]] = emerging_idx
    place_effect = np.where(hot[community], 0.6, 0.0) + np.where(
        community == emerging_idx, 0.9 * ramp, 0.0
    )
    return community, place_effect


def _facts(rng, profile, dtype_idx, v, n) -> dict:
    """Return each dispute's text cues (and negated ones), mediation, amount and people involved.

    The more volatile the complainant, the likelier threats and the like.
    """
    rates = np.array([[p.cue_rates[c] for c in T.CUE_CATEGORIES] for p in T.TYPES.values()])[
        dtype_idx
    ]
    cue_p = 1 - (1 - rates) ** np.exp(T.CUE_VOLATILITY * v)[:, None]
    cues = rng.random(cue_p.shape) < cue_p
    negatable = np.array([c in T.NEGATED_PHRASES for c in T.CUE_CATEGORIES])
    negated = (~cues) & negatable & (rng.random(cue_p.shape) < 0.06)
    mitigated = rng.random(n) < 0.22
    failed = (~mitigated) & (rng.random(n) < 0.10)
    amount_median = np.array([p.amount_median for p in profile])
    amount = np.where(amount_median > 0, amount_median * np.exp(rng.normal(0, 0.9, n)), 0.0)
    amount = np.where(rng.random(n) < 0.85, amount, 0.0)
    people_involved = np.where(
        cues[:, T.CUE_CATEGORIES.index("crowd")], 10 + rng.poisson(20, n), 1 + rng.poisson(5, n)
    )
    return {
        "cues": cues,
        "negated": negated,
        "mitigated": mitigated,
        "failed": failed,
        "amount": amount,
        "people": people_involved,
    }


def _latent(rng, profile, facts, prior_90, prior_365, place_effect, v, n) -> np.ndarray:
    """Return each dispute's latent risk: the sum of its causes, and noise."""
    cues, amount = facts["cues"], facts["amount"]
    amount_effect = np.where(
        amount > 0, np.clip(0.35 * np.log10(np.maximum(amount, 1) / 1e4), -0.5, 0.8), 0.0
    )
    cue_w = np.array([T.CUE_WEIGHTS[c] for c in T.CUE_CATEGORIES])
    severe = [T.CUE_CATEGORIES.index(c) for c in T.SEVERE_CUES]
    return (
        np.array([p.base_risk for p in profile])
        + cues @ cue_w
        + T.ARMED_THREAT * _armed_threat(cues)
        + np.where(facts["mitigated"], T.MITIGATION_WEIGHT, 0.0)
        + np.where(facts["failed"], T.MEDIATION_FAILED_WEIGHT, 0.0)
        + amount_effect
        + 0.5 * np.log1p(prior_90)
        + T.HISTORY_AMPLIFIES * np.log1p(prior_90) * cues[:, severe].any(axis=1)
        + 0.25 * np.log1p(prior_365)
        + place_effect
        + 0.3 * v
        + rng.normal(0, 0.25, n)
    )


def _parties(rng, people, community, dtype_idx, types):
    n = len(community)
    home = people["community"].to_numpy()
    activity = people["activity"].to_numpy()
    primary = np.empty(n, dtype=int)
    order = np.argsort(home, kind="stable")
    bounds = np.searchsorted(home[order], np.arange(community.max() + 2))
    for c in np.unique(community):
        sel = np.flatnonzero(community == c)
        residents = order[bounds[c] : bounds[c + 1]]
        if len(residents) == 0:
            residents = rng.choice(len(people), size=5, replace=False)
        w = activity[residents]
        primary[sel] = rng.choice(residents, size=len(sel), p=w / w.sum())
    kind = np.array([T.TYPES[t].respondent for t in types])[dtype_idx]
    anyone = rng.integers(0, len(people), n)
    respondent = np.select(
        [kind == "household", kind == "neighbour", kind == "person"],
        [people["partner"].to_numpy()[primary], people["adversary"].to_numpy()[primary], anyone],
        -1,
    )
    # A household dispute with no partner on record falls back to the neighbour adversary, then to anyone.
    respondent = np.where(
        respondent == primary, people["adversary"].to_numpy()[primary], respondent
    )
    respondent = np.where(
        respondent == primary, (primary + 1 + anyone % (len(people) - 1)) % len(people), respondent
    )
    return primary, respondent


def _draw_channels(rng, types: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
    """Return a channel per row from its type's mix, never the row's `avoid` channel where one is set."""
    channels = np.array(T.CHANNELS)
    avoid = (
        np.full(len(types), "", dtype=object)
        if avoid is None
        else np.where(pd.isna(avoid), "", avoid)
    )
    u = rng.random(len(types))
    out = np.empty(len(types), dtype=object)
    for t, profile in T.TYPES.items():
        base = np.array([profile.channel_mix[c] for c in T.CHANNELS])
        for skip in ["", *T.CHANNELS]:
            sel = (types == t) & (avoid == skip)
            cum = np.cumsum(np.where(channels == skip, 0.0, base))
            out[sel] = channels[np.minimum(np.searchsorted(cum / cum[-1], u[sel]), len(cum) - 1)]
    return out


def _draw_times_of_day(rng, channel: np.ndarray) -> np.ndarray:
    """Return a time of day per row, from its channel's hour profile."""
    hour = np.zeros(len(channel), dtype=np.int64)
    for c, profile in _HOUR_PROFILE.items():
        sel = channel == c
        hour[sel] = rng.choice(24, size=int(sel.sum()), p=profile / profile.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, len(channel))
    return seconds.astype("timedelta64[s]")


def _grid_in_community(rng, city: City, community: np.ndarray) -> np.ndarray:
    grids = city.grids
    comm_index = pd.Index(city.communities["community_id"]).get_indexer(grids["community_id"])
    order = np.argsort(comm_index, kind="stable")
    bounds = np.searchsorted(comm_index[order], np.arange(len(city.communities) + 1))
    lo, hi = bounds[community], bounds[community + 1]
    return order[lo + (rng.random(len(community)) * (hi - lo)).astype(int)]


def _party_history(primary: np.ndarray, respondent: np.ndarray, t: np.ndarray):
    """Return, per dispute, how many earlier disputes its person parties had in 90 and 365 days."""
    n = len(primary)
    person = np.concatenate([primary, respondent])
    times = np.concatenate([t, t]).astype("datetime64[s]").astype(np.int64)
    owner = np.concatenate([np.arange(n), np.arange(n)])
    keep = person >= 0
    person, times, owner = person[keep], times[keep], owner[keep]
    order = np.lexsort((times, person))
    key = person[order].astype(np.int64) * 10**10 + times[order]
    out = []
    for days in (90, 365):
        lo = np.searchsorted(key, key - days * 86400, side="left")
        hi = np.searchsorted(key, key, side="left")
        counts = np.zeros(n)
        np.maximum.at(counts, owner[order], hi - lo)
        out.append(counts)
    return out[0], out[1]


def _reports(rng, config, disputes: pd.DataFrame) -> pd.DataFrame:
    n = len(disputes)
    # Riskier disputes are re-reported more: on average reports_per_dispute reports per dispute.
    w = np.exp(0.35 * (disputes["latent"] - disputes["latent"].mean()))
    lam = (config.reports_per_dispute - 1) * w / w.mean()
    k = 1 + np.minimum(rng.poisson(lam), 4)
    rep = np.repeat(np.arange(n), k)
    seq = np.concatenate([np.arange(c) for c in k])
    types = disputes["dispute_type"].to_numpy()[rep]

    first_channel = disputes["first_channel"].to_numpy()[rep]
    # A re-report usually comes through another channel than the first one.
    avoid = np.where(rng.random(len(rep)) < 0.85, first_channel, None)
    channel = np.where(seq == 0, first_channel, _draw_channels(rng, types, avoid))

    gaps = np.where(seq > 0, rng.exponential(1.8, len(rep)), 0.0)
    delay = np.minimum(pd.Series(gaps).groupby(rep).cumsum().to_numpy(), 10.0)
    start = disputes["start"].to_numpy()[rep]
    day = start.astype("datetime64[D]") + np.floor(delay).astype("timedelta64[D]")
    reported = np.where(seq == 0, start, day + _draw_times_of_day(rng, channel))
    frame = pd.DataFrame(
        {"dispute_id": rep, "seq": seq, "channel": channel, "reported_at": reported}
    )
    frame = frame[frame["reported_at"] < np.datetime64(config.end + dt.timedelta(days=1))]
    frame = frame.sort_values(["reported_at", "dispute_id", "seq"], ignore_index=True)
    # Distinct channels the dispute has come through so far, this report included.
    first_seen = ~frame.duplicated(["dispute_id", "channel"])
    frame["n_channels"] = first_seen.groupby(frame["dispute_id"]).cumsum().astype(int)
    frame["seq"] = frame.groupby("dispute_id").cumcount()
    # A re-report may leave out a cue the first report carried.
    for c in T.CUE_CATEGORIES:
        has = disputes[f"cue_{c}"].to_numpy()[frame["dispute_id"].to_numpy()]
        keep = (frame["seq"].to_numpy() == 0) | (rng.random(len(frame)) < 0.85)
        frame[f"cue_{c}"] = has & keep
    return frame


def _grade(rng, config, reports: pd.DataFrame, disputes: pd.DataFrame) -> pd.DataFrame:
    """Attach each report's latent risk, oracle probabilities and the staff grade drawn from them."""
    d = reports["dispute_id"].to_numpy()
    cue_w = np.array([T.CUE_WEIGHTS[c] for c in T.CUE_CATEGORIES])
    said = reports[[f"cue_{c}" for c in T.CUE_CATEGORIES]].to_numpy()
    full = disputes[[f"cue_{c}" for c in T.CUE_CATEGORIES]].to_numpy()[d]
    latent = (
        disputes["latent"].to_numpy()[d]
        - (full & ~said) @ cue_w  # a cue the report leaves out does not reach the grader
        - T.ARMED_THREAT * (_armed_threat(full) & ~_armed_threat(said))
        + reports["channel"].map(_CHANNEL_EFFECT).to_numpy()
        + 0.45 * (reports["n_channels"].to_numpy() - 1)
        + 0.3 * (reports["seq"].to_numpy() > 0)
    )
    cut_medium, cut_high = _cut_points(latent, config.grade_shares)
    oracle = _ordered_logit(latent, cut_medium, cut_high)
    draw = (rng.random(len(reports))[:, None] > np.cumsum(oracle, axis=1)).sum(axis=1)
    return reports.assign(
        latent=latent,
        p_low=oracle[:, 0],
        p_medium=oracle[:, 1],
        p_high=oracle[:, 2],
        risk_grade=np.array(GRADES)[np.minimum(draw, 2)],
    )


def _armed_threat(cues: np.ndarray) -> np.ndarray:
    """Return which rows (cue flags in T.CUE_CATEGORIES order) threaten with a weapon in hand."""
    at = T.CUE_CATEGORIES.index
    return cues[:, at("threat")] & cues[:, at("weapon")]


def _ordered_logit(latent: np.ndarray, cut_medium: float, cut_high: float) -> np.ndarray:
    p_ge_medium = expit(latent - cut_medium)
    p_high = expit(latent - cut_high)
    return np.column_stack([1 - p_ge_medium, p_ge_medium - p_high, p_high])


def _cut_points(latent: np.ndarray, shares: tuple[float, float, float]) -> tuple[float, float]:
    _, medium, high = shares
    cut_high = brentq(lambda c: expit(latent - c).mean() - high, -30, 30)
    cut_medium = brentq(lambda c: expit(latent - c).mean() - (medium + high), -30, 30)
    return cut_medium, cut_high


def _escalation(rng, config, reports: pd.DataFrame) -> pd.DataFrame:
    """Attach whether the dispute escalated within 30 days; unknown while those 30 days are not over."""
    worst = reports.groupby("dispute_id")["latent"].transform("max").to_numpy()
    first = reports.groupby("dispute_id")["reported_at"].transform("min").to_numpy()
    # One draw per dispute, shared by all its reports.
    disputes = np.unique(reports["dispute_id"].to_numpy())
    u = pd.Series(rng.random(len(disputes)), index=disputes)[reports["dispute_id"]].to_numpy()
    lag = pd.Series(rng.uniform(1, 30, len(disputes)), index=disputes)[
        reports["dispute_id"]
    ].to_numpy()
    # The intercept is set so that the configured share of disputes escalates (民转刑, 越级上访 ...).
    per_dispute = pd.Series(worst).groupby(reports["dispute_id"].to_numpy()).first().to_numpy()
    intercept = brentq(
        lambda a: expit(a + 1.15 * per_dispute).mean() - config.escalation_rate, -30, 30
    )
    escalates = u < expit(intercept + 1.15 * worst)
    happened_at = first + (lag * 86400).astype("timedelta64[s]")
    export_time = np.datetime64(config.end + dt.timedelta(days=1))
    known = np.where(
        escalates, happened_at < export_time, first + np.timedelta64(30, "D") < export_time
    )
    return reports.assign(
        escalated_true=escalates,
        escalated=np.where(known, np.where(escalates, "是", "否"), None),
    )


def _describe(rng, config, reports, disputes, people, city) -> list[str]:
    """Return each report's description, written in its channel's style, with real-world mess."""
    n = len(reports)
    d = disputes.set_index("dispute_id").loc[reports["dispute_id"].to_numpy()].reset_index()
    u = rng.random((n, 16))
    u_name = rng.random((n, 4))
    comm = city.communities
    names = np.asarray(people["name"], dtype=object)
    surnames = np.asarray(people["surname"], dtype=object)
    phones = np.asarray(people["phone"], dtype=object)
    id_numbers = np.asarray(people["id_number"], dtype=object)
    dispute_type = np.asarray(d["dispute_type"], dtype=object)
    orgs = _org_names(dispute_type, d["community"].to_numpy())
    said = reports[[f"cue_{c}" for c in T.CUE_CATEGORIES]].to_numpy()
    negated = d[[f"neg_{c}" for c in T.CUE_CATEGORIES]].to_numpy()
    places = _place_phrases(u[:, 15], d, people, comm)
    urban = comm["urban"].to_numpy()[d["community"].to_numpy()]
    primary, respondent = d["primary"].to_numpy(), d["respondent"].to_numpy()
    listed = reports["lists_other"].to_numpy()
    channel = np.asarray(reports["channel"], dtype=object)
    seq = reports["seq"].to_numpy()
    dispute_id = d["dispute_id"].to_numpy()
    mitigated, failed = d["mitigated"].to_numpy(), d["failed"].to_numpy()
    amount, n_people = d["amount"].to_numpy(), d["people"].to_numpy()
    cats = np.array(T.CUE_CATEGORIES)
    texts = []
    for i in progress_bar(range(n), "writing reports"):
        p, r, ch = primary[i], respondent[i], channel[i]
        spec = T.ReportSpec(
            channel=ch,
            dispute_type=dispute_type[i],
            actor=_display_name(names[p], surnames[p], u_name[i, 0], ch),
            respondent=orgs[i]
            if r < 0
            else _respondent_name(names[r], surnames[r], u_name[i, 1], bool(listed[i])),
            cause=T.pick_cause(
                dispute_type[i], bool(urban[i]), (dispute_id[i] * 0.6180339887) % 1.0
            ),
            demand=T._pick(T.DEMANDS[dispute_type[i]], (u[i, 10] + 0.5 * seq[i]) % 1.0),
            cues=list(cats[said[i]]),
            negated=list(cats[negated[i]]),
            mitigated=bool(mitigated[i]) and seq[i] == 0,
            failed=bool(failed[i]),
            amount=float(amount[i]),
            people=int(n_people[i]),
            place=places[i],
            phone=_phone_in_text(ch, phones[p], u_name[i, 2]),
            id_number=id_numbers[p] if ch in ("群众来访", "信访") and u_name[i, 3] < 0.45 else "",
            related_cause=T.pick_related_cause(dispute_type[i], bool(urban[i]), u[i, 9])
            if u[i, 8] < 0.25
            else "",
        )
        texts.append(T.render_description(spec, u[i]))
    return _add_mess(rng, config, texts)


def _org_names(dispute_type: np.ndarray, community: np.ndarray) -> np.ndarray:
    # The same organisation recurs in a community, as one employer or one property firm does.
    out = np.empty(len(dispute_type), dtype=object)
    for i, (t, c) in enumerate(zip(dispute_type, community, strict=True)):
        forms = T.ORGS.get(t)
        if forms:
            prefix = T.ORG_PREFIXES[(int(c) * 7 + len(t)) % len(T.ORG_PREFIXES)]
            out[i] = forms[int(c) % len(forms)].format(p=prefix)
    return out


def _display_name(name: str, surname: str, u: float, channel: str | None) -> str:
    if u < 0.55:
        return name
    if u < 0.85:
        return _by_surname(surname)
    # Transcripts often name the caller only by role; walk-ins and petitions are always named.
    return {"12345": "来电人", "110": "报警人"}.get(channel or "", _by_surname(surname))


def _respondent_name(name: str, surname: str, u: float, listed: bool) -> str:
    """Return how a report names the other party: a party its intake did not record is never
    named in full."""
    return _display_name(name, surname, u, None) if listed else _by_surname(surname)


def _by_surname(surname: str) -> str:
    return surname + "某"


def _phone_in_text(channel: str, phone: str, u: float) -> str:
    share = {"12345": 0.65, "我要报事": 0.4, "群众来访": 0.5}.get(channel, 0.0)
    if u >= share:
        return ""
    if u < 0.06 * share:
        # A landline in 辽源 (area code 0437) instead of the mobile.
        return f"0437-{phone[-7:]}"
    return phone


def _place_phrases(
    u: np.ndarray, d: pd.DataFrame, people: pd.DataFrame, comm: pd.DataFrame
) -> list[str]:
    c = comm.iloc[d["community"].to_numpy()]
    building = people["building"].to_numpy()[d["primary"].to_numpy()]
    urban = c["urban"].to_numpy()
    where = np.where(
        urban,
        c["community"].to_numpy() + np.char.add(building.astype(str), "号楼"),
        c["community"].to_numpy() + np.char.add((building % 9 + 1).astype(str), "组"),
    )
    # Some reports name the street as well, some only the community.
    with_street = u < 0.4
    return list(np.where(with_street, c["street"].to_numpy() + where, where))


def _add_mess(rng, config, texts: list[str]) -> list[str]:
    """Return texts with the mess real exports have: 繁体, full-width digits, stray whitespace, typos."""
    n = len(texts)
    u = rng.random((n, 5))
    s2t = opencc.OpenCC("s2t")
    fullwidth = str.maketrans("0123456789", "０１２３４５６７８９")
    out = []
    for i, text in enumerate(texts):
        if u[i, 0] < config.typo_rate:
            # One slip of the input method, at a word the text has (which one varies by report).
            present = [right for right in T.HOMOPHONE_TYPOS if right in text]
            if present:
                right = present[int(u[i, 0] / config.typo_rate * len(present))]
                text = text.replace(right, T.HOMOPHONE_TYPOS[right], 1)
        if u[i, 1] < config.fullwidth_rate:
            text = text.translate(fullwidth)
        if u[i, 2] < config.traditional_rate:
            text = s2t.convert(text)
        if u[i, 3] < config.whitespace_rate:
            cut = int(u[i, 4] * len(text))
            text = (
                " " + text[:cut] + ["\t", "\n", "  ", "\r\n"][int(u[i, 4] * 4)] + text[cut:] + " \n"
            )
        out.append(text)
    return out


def _export(rng, config, reports, disputes, people, city, texts):
    """Return the export as a centre's system writes it (Chinese headers), and the truth table."""
    n = len(reports)
    d = disputes.set_index("dispute_id").loc[reports["dispute_id"].to_numpy()].reset_index()
    comm = city.communities.iloc[d["community"].to_numpy()].reset_index(drop=True)
    grid = city.grids.iloc[d["grid"].to_numpy()].reset_index(drop=True)
    p, r = d["primary"].to_numpy(), d["respondent"].to_numpy()
    u = rng.random((n, 8))
    urban = comm["urban"].to_numpy()
    spread = np.where(urban, 0.12, 0.35)  # km around the grid centre
    lon = grid["lon"].to_numpy() + rng.normal(0, 1, n) * spread / (
        111.32 * np.cos(np.radians(grid["lat"].to_numpy()))
    )
    lat = grid["lat"].to_numpy() + rng.normal(0, 1, n) * spread / 110.57
    address = _addresses(comm, people, p, urban)
    orgs = _org_names(d["dispute_type"].to_numpy(), d["community"].to_numpy())
    names = people["name"].to_numpy()
    other = np.where(r >= 0, names[np.maximum(r, 0)], orgs)
    parties = np.where(
        reports["lists_other"].to_numpy(),
        np.char.add(np.char.add(names[p], "、"), other.astype(str)),
        names[p],
    )
    reported = pd.to_datetime(reports["reported_at"])
    day_seq = reported.groupby(reported.dt.date).cumcount() + 1
    case_id = "LY" + reported.dt.strftime("%Y%m%d") + day_seq.astype(str).str.zfill(5)
    status = _intake_status(
        u[:, 0],
        d["mitigated"].to_numpy() & (reports["seq"].to_numpy() == 0),
        d["failed"].to_numpy(),
        reports["channel"].to_numpy(),
    )
    channel_names = np.array(
        [
            T.CHANNEL_EXPORT_NAMES[c][int(h) % len(T.CHANNEL_EXPORT_NAMES[c])]
            for c, h in zip(reports["channel"], d["community"], strict=True)  # one system per place
        ]
    )
    dispute_type = np.where(u[:, 1] < 0.04, None, d["dispute_type"].to_numpy())
    export = pd.DataFrame(
        {
            "case_id": case_id,
            "reported_at": _format_times(reported, u[:, 2]),
            "channel": channel_names,
            "dispute_type": dispute_type,
            "district": comm["district"].to_numpy(),
            "street": comm["street"].to_numpy(),
            "community": comm["community"].to_numpy(),
            "grid_id": grid["grid_id"].to_numpy(),
            "address": np.where(u[:, 3] < 0.93, address, None),
            "lon": lon.round(6),
            "lat": lat.round(6),
            "parties": parties,
            "party_phone": np.where(u[:, 4] < 0.9, people["phone"].to_numpy()[p], None),
            "party_id_number": np.where(u[:, 5] < 0.7, people["id_number"].to_numpy()[p], None),
            "status": status,
            "risk_grade": reports["risk_grade"].to_numpy(),
            "escalated": reports["escalated"].to_numpy(),
            "description": texts,
        }
    )
    truth = _truth(case_id, reports, d, comm)
    export = _add_defects(rng, config, export)
    return export.rename(columns=EXPORT_COLUMNS), truth


def _addresses(comm, people, p, urban) -> np.ndarray:
    """Return each report's address: a flat in town, a village group (组) in the country."""
    building = people["building"].to_numpy()[p]
    return np.where(
        urban,
        [
            f"{a}{b}{c}{bd}号楼{un}单元{rm}室"
            for a, b, c, bd, un, rm in zip(
                comm["district"],
                comm["street"],
                comm["community"],
                building,
                people["unit"].to_numpy()[p],
                people["room"].to_numpy()[p],
                strict=True,
            )
        ],
        [
            f"{a}{b}{c}{bd % 9 + 1}组"
            for a, b, c, bd in zip(
                comm["district"], comm["street"], comm["community"], building, strict=True
            )
        ],
    )


def _truth(case_id, reports, d, comm) -> pd.DataFrame:
    """Return the truth table the oracle and the realism checks read (never an input)."""
    return pd.DataFrame(
        {
            "case_id": case_id,
            "dispute_id": reports["dispute_id"].to_numpy(),
            "channel": reports["channel"].to_numpy(),
            "dispute_type": d["dispute_type"].to_numpy(),
            "community_id": comm["community_id"].to_numpy(),
            "latent_risk": reports["latent"].to_numpy(),
            "p_low": reports["p_low"].to_numpy(),
            "p_medium": reports["p_medium"].to_numpy(),
            "p_high": reports["p_high"].to_numpy(),
            "escalated_true": reports["escalated_true"].to_numpy(),
        }
    )


def _intake_status(u, mitigated, failed, channel) -> np.ndarray:
    # Status as recorded the day the case came in: only on-the-spot outcomes are known by then.
    pending = np.where(
        np.isin(channel, ["网格员", "110"]),
        np.where(u < 0.6, "办理中", "待受理"),
        np.where(u < 0.3, "办理中", "待受理"),
    )
    return np.where(mitigated, "已化解", np.where(failed, "未化解", pending))


def _format_times(reported: pd.Series, u: np.ndarray) -> np.ndarray:
    # Most rows come from one system; a few from others that write dates their own way.
    iso = reported.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    slash = (
        reported.dt.year.astype(str)
        + "/"
        + reported.dt.month.astype(str)
        + "/"
        + reported.dt.day.astype(str)
        + " "
        + reported.dt.strftime("%H:%M")
    ).to_numpy()
    chinese = (
        reported.dt.year.astype(str)
        + "年"
        + reported.dt.month.astype(str)
        + "月"
        + reported.dt.day.astype(str)
        + "日"
        + reported.dt.hour.astype(str)
        + "时"
        + reported.dt.minute.astype(str)
        + "分"
    ).to_numpy()
    return np.where(u < 0.96, iso, np.where(u < 0.985, slash, chinese))


def _add_defects(rng, config, export: pd.DataFrame) -> pd.DataFrame:
    """Return the export with the defects real exports carry: bad dates, empty text, repeated rows."""
    n = len(export)
    k = rng.binomial(n, config.defect_rate)
    if k == 0:
        return export
    rows = rng.choice(n, size=k, replace=False)
    kinds = rng.integers(0, 3, size=k)
    export = export.copy()
    bad_dates = ["2025-13-45 25:61", "未知", "", "2025-02-30"]
    empty = ["", "  ", "\t"]
    for row, kind in zip(rows, kinds, strict=True):
        if kind == 0:
            export.iloc[row, export.columns.get_loc("reported_at")] = bad_dates[
                row % len(bad_dates)
            ]
        elif kind == 1:
            export.iloc[row, export.columns.get_loc("description")] = empty[row % len(empty)]
    # A repeated row: the same case exported twice, placed right after the original.
    repeats = rows[kinds == 2]
    if len(repeats):
        order = np.argsort(np.concatenate([np.arange(n), repeats + 0.5]), kind="stable")
        export = (
            pd.concat([export, export.iloc[repeats]], ignore_index=True)
            .iloc[order]
            .reset_index(drop=True)
        )
    return export
