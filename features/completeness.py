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
_MIN_WHAT_CHARS = 8


def seven_elements(cases: pd.DataFrame) -> pd.DataFrame:
    """Return, per case, a flag per 七何 element, the completeness score (0-1) and what is missing.

    Reads description (masked), reported_at, parties/n_parties, place fields and dispute_type.
    """
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
            "何时": pd.to_datetime(column("reported_at"), errors="coerce").notna().to_numpy(),
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
