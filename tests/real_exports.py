"""Centre-style exports built from the real text in ../shared/data/real (see its README).

Nothing here is shipped: tests and benches read the real data where it lies and write exports the
way a centre's system would hand them over (Chinese headers, no coordinates, the centre's own
categories). Where the source has no ids or times, they are added here, seeded, and said so.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
COMPLAINTS_SAMPLE = REAL / "teddycup2020C_sample" / "附件2.xlsx"
COMPLAINTS_DEV = REAL / "teddycup2020C_dev" / "messages.csv"
COURT = REAL / "cail2018_dev" / "cases.jsonl"
COMPLAINT_CLASSES = {
    "城乡建设",
    "劳动和社会保障",
    "教育文体",
    "卫生计生",
    "交通运输",
    "商贸旅游",
    "环境保护",
}

# Planted in the messy export; none of them may appear in any output.
PLANTED_PHONES = ["13912345678", "0731-84512345", "18673109988"]
PLANTED_IDS = ["430104199003071234", "43010419850612002X"]
PLANTED_NAMES = ["欧阳建华", "龙小梅"]

_EVENT_DATE = re.compile(r"((?:19|20)\d\d)\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?")


def require_real_data() -> None:
    """Skip the calling test when ../shared/data/real is absent; under CI its absence fails."""
    if COMPLAINTS_SAMPLE.exists() and COMPLAINTS_DEV.exists() and COURT.exists():
        return
    message = f"the real development data is not at {REAL} (see the project README)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + "; under CI it must be there")
    pytest.skip(message)


def complaints_sample() -> pd.DataFrame:
    """Return the 495 sample complaints as published (附件2.xlsx)."""
    return pd.read_excel(COMPLAINTS_SAMPLE, dtype={"留言编号": str})


def complaints_dev() -> pd.DataFrame:
    """Return the 2,310 further complaints (一级分类, 留言), as published."""
    return pd.read_csv(COMPLAINTS_DEV)


def court_cases() -> pd.DataFrame:
    """Return the 903 court narratives (fact, charges, term, grade; grade empty where ungraded)."""
    with open(COURT, encoding="utf-8") as handle:
        return pd.DataFrame([json.loads(line) for line in handle])


def complaints_frame(sample: pd.DataFrame) -> pd.DataFrame:
    """Return the sample complaints as a centre's export: Chinese headers, no coordinates, the
    board's own category in 纠纷类型 (its seven 一级分类, outside fengqiao's default taxonomy)."""
    return pd.DataFrame(
        {
            "案件编号": "TC" + sample["留言编号"].astype(str),
            "受理时间": sample["留言时间"].astype(str),
            "来源渠道": "我要报事",
            "案情描述": sample["留言主题"].astype(str) + "。" + sample["留言详情"].astype(str),
            "当事人": sample["留言用户"].astype(str),
            "纠纷类型": sample["一级分类"],
        }
    )


def complaints_dev_frame(dev: pd.DataFrame, start: str = "2020-02-01", seed: int = 0):
    """Return the further complaints as an export. They have no ids or times: ids are numbered and
    times are drawn, seeded, over the 90 days from `start` (after the sample's last message)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 90 * 86400, len(dev)))
    times = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            "案件编号": [f"TD{i:05d}" for i in range(len(dev))],
            "受理时间": times.strftime("%Y-%m-%d %H:%M:%S"),
            "来源渠道": "12345",
            "案情描述": dev["留言"].astype(str),
            "纠纷类型": dev["一级分类"],
        }
    )


def court_frame(court: pd.DataFrame, graded_only: bool = True, seed: int = 0) -> pd.DataFrame:
    """Return court narratives as a court-referral (诉调对接) export graded 高/中/低 by sentence.

    The narratives have no report time; each is taken as referred a few weeks after the latest
    date its text names (seeded; a text that names none gets a time drawn over 2012-2016), so that
    the cases spread over the years as a court's referrals would.
    """
    court = court[court["grade"] != ""] if graded_only else court
    rng = np.random.default_rng(seed)
    times = []
    for fact in court["fact"]:
        events = []
        for found in _EVENT_DATE.finditer(fact):
            try:
                year, month, day = (
                    int(found.group(1)),
                    int(found.group(2)),
                    int(found.group(3) or 1),
                )
                events.append(pd.Timestamp(year=year, month=month, day=day))
            except ValueError:
                continue
        events = [
            e for e in events if pd.Timestamp("2000-01-01") <= e <= pd.Timestamp("2018-12-31")
        ]
        # The latest event the text names: a referral follows the last thing that happened.
        event = (
            max(events)
            if events
            else pd.Timestamp("2012-01-01") + pd.Timedelta(days=int(rng.integers(0, 5 * 365)))
        )
        times.append(event + pd.Timedelta(days=int(rng.integers(7, 60)), hours=9))
    return pd.DataFrame(
        {
            "案件编号": [f"FY{i:04d}" for i in court.index],
            "受理时间": pd.DatetimeIndex(times).strftime("%Y年%m月%d日 %H:%M"),
            "来源渠道": "诉调对接",
            "案情描述": court["fact"].to_numpy(),
            "风险等级": court["grade"].replace("", None).to_numpy(),
        }
    )


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8-sig") -> Path:
    """Write an export as CSV in the given encoding; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=encoding, errors="replace")
    return path


def messy_complaints(path: Path) -> tuple[Path, dict]:
    """Write the sample complaints as a careless GB18030 export; return it and what was planted.

    Planted: phone and ID numbers in texts and in 联系电话 / 身份证号 columns, party names in
    当事人 that the texts also mention; broken rows: an empty description, an unreadable date, a
    repeated case id, and a row with too many fields.
    """
    frame = complaints_frame(complaints_sample()).reset_index(drop=True)
    frame["联系电话"] = None
    frame["身份证号"] = None
    for i, phone in enumerate(PLANTED_PHONES):
        row = 10 + i
        frame.loc[row, "案情描述"] += f"联系电话{phone}，请回电。"
        frame.loc[row, "联系电话"] = phone
    for i, id_number in enumerate(PLANTED_IDS):
        row = 20 + i
        frame.loc[row, "案情描述"] += f"本人身份证号{id_number}。"
        frame.loc[row, "身份证号"] = id_number
    for i, name in enumerate(PLANTED_NAMES):
        row = 30 + i
        frame.loc[row, "当事人"] = name
        frame.loc[row, "案情描述"] = f"{name}反映：" + frame.loc[row, "案情描述"]
    frame.loc[40, "案情描述"] = "  "
    frame.loc[41, "受理时间"] = "去年春天"
    frame.loc[42, "案件编号"] = frame.loc[43, "案件编号"]
    records = [frame.iloc[i : i + 1].to_csv(index=False, header=False) for i in range(len(frame))]
    records.insert(60, "TCX1,2020/1/6 12:00:00,我要报事,多出来的,一列,,,,,\n")
    text = frame.iloc[:0].to_csv(index=False) + "".join(records)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("gb18030", errors="replace"))
    planted = {
        "phones": PLANTED_PHONES,
        "ids": PLANTED_IDS,
        "names": PLANTED_NAMES,
        "broken_rows": 4,  # empty text, unreadable date, repeated id, too many fields
    }
    return path, planted


def write_exports(folder: Path) -> tuple[dict[str, Path], dict]:
    """Write the real sets as a centre's exports (Chinese headers, no coordinates) into a folder;
    return them by name, and what was planted in the messy one."""
    require_real_data()
    court = court_cases()
    messy, planted = messy_complaints(folder / "12345-导出.csv")
    exports = {
        "sample": write_csv(
            complaints_frame(complaints_sample()), folder / "留言-样本.csv", "gb18030"
        ),
        "dev": write_csv(complaints_dev_frame(complaints_dev()), folder / "留言-2020.csv"),
        "court": write_csv(court_frame(court), folder / "诉调对接-已定级.csv"),
        "court_new": write_csv(
            court_frame(court[court["grade"] == ""], graded_only=False),
            folder / "诉调对接-新收.csv",
        ),
        "messy": messy,
    }
    return exports, planted


if __name__ == "__main__":  # python -m tests.real_exports FOLDER
    import sys

    exports, _ = write_exports(Path(sys.argv[1] if len(sys.argv) > 1 else "data/real"))
    for path in exports.values():
        print(path)
