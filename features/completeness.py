"""七何: whether a risk record says who, when, where, what, why, how (severe) and what is demanded.

From the seeds: a risk hand-over "必须确保七何要素齐全"; incomplete records go back to whoever sent
them. Each element is satisfied by a structured field or by the text. The checks are deliberately
generous (a record that names a place in its text has a 何地): the point is to catch records that
plainly lack an element, not to grade prose.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.errors import UsageError

ELEMENTS = ["何人", "何时", "何地", "何事", "何因", "何种方式/后果", "何诉求"]

_WHO = re.compile(
    r"当事人[甲乙丙丁戊己庚辛壬癸]|来电人|报警人|来访人|信访人|[\u4e00-\u9fff]某|居民|村民|工人|业主|患者|家长|学生|公司|医院|学校|物业|村委会"
)
_WHERE = re.compile(
    r"社区|村|街道|镇|乡|号楼|单元|小区|[路街巷]\d|组|门口|家中|医院|学校|公司|工地|市场|路段|路口"
)
_WHAT = re.compile(
    r"纠纷|矛盾|争执|冲突|争吵|拖欠|欠薪|投诉|反映|事故|损坏|漏水|噪音|占用|殴打|纠份"
)
_WHY = re.compile(r"因|由于|原因|起因|导致|为了")
_HOW = re.compile(
    r"推搡|厮打|打伤|殴打|受伤|伤痕|冲突|争吵|损失|损坏|聚集|围堵|扬言|威胁|持刀|轻生|跳楼|"
    r"协商未果|调解|劝导|情绪|[\d.]+万?余?元|多次|反复|长期"
)
_DEMAND = re.compile(r"诉求|要求|请求|希望|恳请|申请|讨要|索赔|赔偿")
# When it happened, as a report says it: a date, a time of day, a relative day.
_WHEN = re.compile(
    r"\d{2,4}\s*年|\d{1,2}\s*月|\d{1,2}\s*[日号](?![楼院房室栋门幢单组])|\d{1,2}\s*[时点]|\d{1,2}:\d{2}|[上下中]午|晚上|夜间|凌晨|傍晚|深夜|清晨|早上|"
    r"今天|昨天|前天|今日|昨日|当日|当天|当晚|近日|日前|近期|上周|本周|上月|本月|去年|今年|春节|"
    r"周[一二三四五六日天末]|星期|多年|长期|[一二三四五六七八九十两]+[年月天日]"
)
WHEN_RULES = ("text", "report_time")
# What the return list asks the reporting unit to add, per missing element.
TO_ADD = {
    "何人": "补充当事人（姓名或身份，如居民、村民、单位名称）",
    "何时": "补充事件发生的日期或时间",
    "何地": "补充发生地点（社区、村、小区、路段或门牌）",
    "何事": "补充纠纷事项的具体经过",
    "何因": "补充纠纷起因",
    "何种方式/后果": "补充冲突方式及后果（是否动手、有无受伤、损失金额）",
    "何诉求": "补充当事人的具体诉求",
}
_MIN_WHAT_CHARS = 8


def seven_elements(cases: pd.DataFrame, when: str = "text") -> pd.DataFrame:
    """Return, per case, a flag per 七何 element, the completeness score (0-1) and what is missing.

    Reads description (masked), reported_at, parties/n_parties, place fields and dispute_type.
    when: the centre's rule for 何时. "text": the report says when it happened (a date, a time
    of day, 昨天, 凌晨 ...); the time it was received is not when it happened. "report_time":
    a receipt time with a time of day (not a bare date) is enough.
    """
    if when not in WHEN_RULES:
        raise UsageError(f"unknown 何时 rule {when!r}; use one of {WHEN_RULES}")
    text = cases["description"].fillna("").astype(str)
    n = len(cases)

    def column(name: str) -> pd.Series:
        return cases[name] if name in cases else pd.Series([None] * n, index=cases.index)

    def has_value(name: str) -> np.ndarray:
        values = column(name)
        return (
            (values.notna() & (values.astype("string").str.strip() != ""))
            .fillna(False)
            .to_numpy(bool)
        )

    def says(pattern: re.Pattern) -> np.ndarray:
        return np.fromiter((bool(pattern.search(t)) for t in text), bool, n)

    parties = pd.to_numeric(column("n_parties"), errors="coerce").fillna(0).to_numpy() > 0
    located = has_value("address") | has_value("community") | has_value("grid_id")
    located |= pd.to_numeric(column("lon"), errors="coerce").notna().to_numpy()
    flags = pd.DataFrame(
        {
            "何人": parties | says(_WHO),
            "何时": _when(column("reported_at"), text, says, when),
            "何地": located | says(_WHERE),
            "何事": (text.str.len().to_numpy() >= _MIN_WHAT_CHARS)
            & (has_value("dispute_type") | says(_WHAT)),
            "何因": says(_WHY),
            "何种方式/后果": says(_HOW),
            "何诉求": says(_DEMAND),
        },
        index=cases.index,
    )
    values = flags.to_numpy()
    missing = ["、".join(np.array(ELEMENTS)[~row]) for row in values]
    return flags.assign(completeness=values.mean(axis=1).round(3), missing_elements=missing)


def _when(reported_at: pd.Series, text: pd.Series, says, rule: str) -> np.ndarray:
    named = says(_WHEN)
    if rule == "text":
        return named
    times = pd.to_datetime(reported_at, errors="coerce")
    timed = (times.notna() & (times != times.dt.normalize())).to_numpy(bool)
    return named | timed
