"""The domain's vocabulary: channels, dispute types, grades and statuses, with the synonyms exports use.

From the seeds: reports come in "多口进、一口出" through grid workers' terminals, the 12345 hotline,
110 non-police calls, walk-ins, the 我要报事 app, petitions and court referrals (诉调对接).
"""

from __future__ import annotations

CHANNELS = ["网格员", "12345", "110", "群众来访", "我要报事", "信访", "诉调对接"]
CHANNEL_OTHER = "其他渠道"

# Written forms seen in exports -> canonical channel. Matching is on the cleaned, upper-cased value.
CHANNEL_SYNONYMS = {
    "网格员": "网格员",
    "网格员上报": "网格员",
    "网格上报": "网格员",
    "网格": "网格员",
    "手持终端": "网格员",
    "网格员手持终端": "网格员",
    "网格巡查": "网格员",
    "12345": "12345",
    "12345热线": "12345",
    "市长热线": "12345",
    "政务热线": "12345",
    "热线": "12345",
    "110": "110",
    "110非警务警情": "110",
    "110推送": "110",
    "非警务警情": "110",
    "110警情": "110",
    "群众来访": "群众来访",
    "来访": "群众来访",
    "窗口来访": "群众来访",
    "走访": "群众来访",
    "现场来访": "群众来访",
    "我要报事": "我要报事",
    "APP报事": "我要报事",
    "APP": "我要报事",
    "小程序": "我要报事",
    "小程序报事": "我要报事",
    "随手拍": "我要报事",
    "网上报事": "我要报事",
    "信访": "信访",
    "信访件": "信访",
    "来信": "信访",
    "网上信访": "信访",
    "诉调对接": "诉调对接",
    "法院委派调解": "诉调对接",
    "诉前调解": "诉调对接",
    "法院委派": "诉调对接",
}

DISPUTE_TYPES = [
    "婚恋家庭",
    "邻里纠纷",
    "物业纠纷",
    "劳资纠纷",
    "土地纠纷",
    "民间借贷",
    "医疗纠纷",
    "消费纠纷",
    "交通事故",
    "征地拆迁",
    "教育",
    "城市管理",
    "其他",
]
DISPUTE_TYPE_SYNONYMS = {
    "婚姻家庭": "婚恋家庭",
    "婚姻家庭纠纷": "婚恋家庭",
    "婚恋家庭纠纷": "婚恋家庭",
    "家庭纠纷": "婚恋家庭",
    "邻里": "邻里纠纷",
    "邻里矛盾": "邻里纠纷",
    "物业": "物业纠纷",
    "物业管理纠纷": "物业纠纷",
    "劳资": "劳资纠纷",
    "劳动争议": "劳资纠纷",
    "欠薪": "劳资纠纷",
    "劳动纠纷": "劳资纠纷",
    "土地": "土地纠纷",
    "土地承包纠纷": "土地纠纷",
    "山林土地纠纷": "土地纠纷",
    "借贷纠纷": "民间借贷",
    "民间借贷纠纷": "民间借贷",
    "债务纠纷": "民间借贷",
    "医患纠纷": "医疗纠纷",
    "医疗": "医疗纠纷",
    "消费": "消费纠纷",
    "消费者权益": "消费纠纷",
    "交通": "交通事故",
    "道路交通事故": "交通事故",
    "交通事故纠纷": "交通事故",
    "征地": "征地拆迁",
    "拆迁": "征地拆迁",
    "征地拆迁纠纷": "征地拆迁",
    "教育纠纷": "教育",
    "入学": "教育",
    "城管": "城市管理",
    "城市管理纠纷": "城市管理",
    "其它": "其他",
    "其他纠纷": "其他",
}

LOW, MEDIUM, HIGH = "低", "中", "高"
GRADES = [LOW, MEDIUM, HIGH]  # the risk grades, ordered lowest first; nothing else spells them out
LOW_INDEX, MEDIUM_INDEX, HIGH_INDEX = (GRADES.index(g) for g in (LOW, MEDIUM, HIGH))
GRADE_RANK = {grade: rank for rank, grade in enumerate(GRADES, start=1)}  # 低 1 .. 高 3

# 三色三单: the ticket each grade gets, and its time limit (限时办理). A 低 case gets the blue
# ticket only when follow-up is due (publish.watchlist decides when).
RED_TICKET = ("红色督办单", "30分钟内响应联系")
YELLOW_TICKET = ("黄色交办单", "24小时内办理")
BLUE_TICKET = ("蓝色预警单", "纳入日常走访，7日内回访")
TICKETS = {HIGH: RED_TICKET, MEDIUM: YELLOW_TICKET}
TICKET_NAMES = [ticket for ticket, _ in (RED_TICKET, YELLOW_TICKET, BLUE_TICKET)]
GRADE_SYNONYMS = {
    "高": "高",
    "高风险": "高",
    "红": "高",
    "红色": "高",
    "一级": "高",
    "重大": "高",
    "中": "中",
    "中风险": "中",
    "黄": "中",
    "黄色": "中",
    "二级": "中",
    "较大": "中",
    "低": "低",
    "低风险": "低",
    "蓝": "低",
    "蓝色": "低",
    "三级": "低",
    "一般": "低",
}

STATUSES = ["待受理", "办理中", "已化解", "未化解", "已办结"]
# Closed without resolution, and not yet closed: "未化解" is only the first.
UNRESOLVED_STATUSES = {"未化解"}
PENDING_STATUSES = {"待受理", "办理中"}

YES_NO = {
    "是": True,
    "否": False,
    "Y": True,
    "N": False,
    "YES": True,
    "NO": False,
    "TRUE": True,
    "FALSE": False,
    "1": True,
    "0": False,
    "有": True,
    "无": False,
}


def canonical(value: object, synonyms: dict[str, str], canon: list[str]) -> str | None:
    """Return the canonical form of a written value, or None when it is empty or unknown."""
    if value is None:
        return None
    text = str(value).strip().upper().replace(" ", "")
    if not text or text in {"NAN", "NONE", "NULL"}:
        return None
    if text in canon:
        return text
    return synonyms.get(text)
