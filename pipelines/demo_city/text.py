"""How the demo city's reports are written: per-type facts, risk cues, and each channel's style.

The phrasing follows how centres' records read: grid workers' terse notes, 12345 transcripts
("来电人反映……诉求……"), 110 summaries ("报警人称……"), walk-ins, app reports, petitions and
court referrals. Every choice is driven by pre-drawn uniforms so that a seed fixes the text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.domain import CHANNELS  # noqa: F401  (re-exported for the generator)

# How each channel's name is written in exports from different systems (the synonyms ingest maps back).
CHANNEL_EXPORT_NAMES = {
    "网格员": ["网格员", "网格员上报", "网格上报", "手持终端"],
    "12345": ["12345", "12345热线", "市长热线"],
    "110": ["110", "110非警务警情", "110推送"],
    "群众来访": ["群众来访", "来访", "窗口来访"],
    "我要报事": ["我要报事", "APP报事", "小程序报事"],
    "信访": ["信访", "信访件"],
    "诉调对接": ["诉调对接", "法院委派调解", "诉前调解"],
}

CUE_CATEGORIES = [
    "threat",
    "weapon",
    "selfharm",
    "crowd",
    "petition",
    "alcohol",
    "dv",
    "conflict",
    "emotion",
]


@dataclass(frozen=True)
class TypeProfile:
    """How one dispute type behaves in the demo city."""

    share: float  # share of disputes
    base_risk: float  # latent-risk intercept
    where: str  # "urban", "rural" or "any"
    respondent: str  # "person", "household", "neighbour" or "org"
    amount_median: float  # 0 when the type carries no amount
    cue_rates: dict[str, float]
    channel_mix: dict[str, float]


def _rates(**kw: float) -> dict[str, float]:
    return {c: kw.get(c, 0.0) for c in CUE_CATEGORIES}


_MIX_DEFAULT = {
    "网格员": 0.34,
    "12345": 0.26,
    "110": 0.14,
    "群众来访": 0.08,
    "我要报事": 0.13,
    "信访": 0.03,
    "诉调对接": 0.02,
}

# fmt: off
TYPES: dict[str, TypeProfile] = {
    "婚恋家庭": TypeProfile(0.12, 0.55, "any", "household", 0,
                        _rates(threat=.10, weapon=.04, selfharm=.06, alcohol=.16, dv=.24, conflict=.24, emotion=.35, petition=.01),
                        {**_MIX_DEFAULT, "110": 0.30, "12345": 0.14, "群众来访": 0.12, "诉调对接": 0.04}),
    "邻里纠纷": TypeProfile(0.18, 0.0, "any", "neighbour", 0,
                        _rates(threat=.08, weapon=.03, selfharm=.01, crowd=.01, alcohol=.08, conflict=.25, emotion=.33, petition=.02),
                        {**_MIX_DEFAULT, "网格员": 0.42, "110": 0.18}),
    "物业纠纷": TypeProfile(0.11, -0.55, "urban", "org", 2500,
                        _rates(threat=.03, weapon=.005, selfharm=.005, crowd=.06, petition=.03, alcohol=.02, conflict=.06, emotion=.25),
                        {**_MIX_DEFAULT, "12345": 0.36, "我要报事": 0.2}),
    "劳资纠纷": TypeProfile(0.11, 0.3, "any", "org", 25000,
                        _rates(threat=.07, weapon=.01, selfharm=.04, crowd=.12, petition=.08, alcohol=.02, conflict=.05, emotion=.30),
                        {**_MIX_DEFAULT, "12345": 0.36, "群众来访": 0.12, "信访": 0.05}),
    "土地纠纷": TypeProfile(0.07, 0.35, "rural", "person", 30000,
                        _rates(threat=.08, weapon=.04, selfharm=.02, crowd=.06, petition=.08, alcohol=.05, conflict=.20, emotion=.30),
                        {**_MIX_DEFAULT, "网格员": 0.45, "信访": 0.06}),
    "民间借贷": TypeProfile(0.08, 0.25, "any", "person", 50000,
                        _rates(threat=.10, weapon=.02, selfharm=.03, crowd=.01, petition=.03, alcohol=.04, conflict=.10, emotion=.30),
                        {**_MIX_DEFAULT, "诉调对接": 0.10, "110": 0.16}),
    "医疗纠纷": TypeProfile(0.04, 0.45, "any", "org", 60000,
                        _rates(threat=.08, weapon=.01, selfharm=.02, crowd=.08, petition=.06, alcohol=.01, conflict=.06, emotion=.40),
                        {**_MIX_DEFAULT, "12345": 0.30, "群众来访": 0.12}),
    "消费纠纷": TypeProfile(0.08, -0.85, "any", "org", 3000,
                        _rates(threat=.02, weapon=.003, selfharm=.003, crowd=.01, petition=.01, alcohol=.01, conflict=.03, emotion=.20),
                        {**_MIX_DEFAULT, "12345": 0.40, "我要报事": 0.22}),
    "交通事故": TypeProfile(0.06, -0.2, "any", "person", 12000,
                        _rates(threat=.03, weapon=.005, selfharm=.005, alcohol=.06, conflict=.12, emotion=.25, petition=.01),
                        {**_MIX_DEFAULT, "110": 0.40, "诉调对接": 0.05}),
    "征地拆迁": TypeProfile(0.03, 0.8, "rural", "org", 200000,
                        _rates(threat=.10, weapon=.03, selfharm=.05, crowd=.15, petition=.15, alcohol=.02, conflict=.08, emotion=.35),
                        {**_MIX_DEFAULT, "信访": 0.10, "群众来访": 0.14}),
    "教育": TypeProfile(0.03, 0.1, "any", "org", 0,
                      _rates(threat=.05, selfharm=.04, crowd=.05, petition=.05, conflict=.03, emotion=.30),
                      {**_MIX_DEFAULT, "12345": 0.34, "群众来访": 0.12}),
    "城市管理": TypeProfile(0.06, -0.6, "urban", "org", 0,
                        _rates(threat=.03, weapon=.005, crowd=.02, alcohol=.02, conflict=.08, emotion=.25, petition=.01),
                        {**_MIX_DEFAULT, "12345": 0.34, "我要报事": 0.24}),
    "其他": TypeProfile(0.03, -0.4, "any", "person", 0,
                      _rates(threat=.03, weapon=.005, selfharm=.01, alcohol=.03, conflict=.05, emotion=.25, petition=.01),
                      _MIX_DEFAULT),
}

# Latent-risk weight of each cue, when present and not negated.
CUE_WEIGHTS = {
    "threat": 1.5, "weapon": 1.7, "selfharm": 1.8, "crowd": 1.3, "petition": 0.9,
    "alcohol": 0.5, "dv": 1.1, "conflict": 0.7, "emotion": 0.4,
}
MITIGATION_WEIGHT = -1.0
MEDIATION_FAILED_WEIGHT = 0.5

# 何因: the cause, per type.
CAUSES = {
    "婚恋家庭": ["感情不和闹离婚", "子女抚养权问题", "家庭财产分割", "彩礼返还问题", "赡养老人问题", "夫妻日常琐事"],
    "邻里纠纷": ["楼上漏水", "噪音扰民", "楼道堆放杂物", "宅基地边界", "违建遮挡采光", "饲养犬只扰民", "排水沟堵塞", "车位占用", "院墙归属"],
    "物业纠纷": ["物业费收缴", "电梯长期故障", "小区停车管理", "供暖温度不达标", "公共维修资金使用", "小区环境卫生差"],
    "劳资纠纷": ["拖欠工资", "拖欠农民工工资", "克扣加班费", "未签劳动合同", "工伤赔偿", "辞退补偿"],
    "土地纠纷": ["承包地边界", "土地流转费用", "林地权属", "耕地被占用", "灌溉用水分配"],
    "民间借贷": ["借款到期不还", "担保责任", "高息借款", "合伙投资款返还"],
    "医疗纠纷": ["手术后并发症", "疑似误诊", "医疗费用过高", "患者术后死亡"],
    "消费纠纷": ["预付卡退费", "购买商品质量问题", "装修质量问题", "健身房停业退款"],
    "交通事故": ["车辆剐蹭", "电动车与行人相撞", "事故赔偿", "停车时追尾"],
    "征地拆迁": ["征地补偿标准", "房屋拆迁安置", "补偿款分配", "拆迁过渡费"],
    "教育": ["子女划片入学", "学校收费", "学生在校受伤", "校园欺凌"],
    "城市管理": ["占道经营", "违章建筑", "油烟扰民", "夜间施工噪音"],
    "其他": ["宠物伤人", "网络购物", "房屋租赁", "遗产继承"],
}
# Causes that only make sense in town (flats, parking) or in the countryside (homesteads, ditches).
_URBAN_ONLY = {"楼上漏水", "楼道堆放杂物", "车位占用", "电梯长期故障"}
_RURAL_ONLY = {"宅基地边界", "院墙归属", "排水沟堵塞"}

DEMANDS = {
    "婚恋家庭": ["要求离婚并分割财产", "要求对方支付抚养费", "要求返还彩礼", "要求子女履行赡养义务", "希望社区帮助调解"],
    "邻里纠纷": ["要求对方赔偿损失", "要求对方停止侵害", "要求社区出面协调", "要求恢复原状"],
    "物业纠纷": ["要求物业尽快维修", "要求退还多收费用", "要求更换物业公司", "要求相关部门督促整改"],
    "劳资纠纷": ["要求尽快支付拖欠工资", "要求依法支付补偿金", "要求劳动监察部门介入", "要求企业签订劳动合同"],
    "土地纠纷": ["要求确认土地权属", "要求对方退还占用土地", "要求村委会重新测量", "要求按合同支付流转费"],
    "民间借贷": ["要求对方归还借款", "要求支付利息", "要求担保人承担责任"],
    "医疗纠纷": ["要求医院赔偿", "要求进行医疗事故鉴定", "要求追究相关人员责任"],
    "消费纠纷": ["要求退款", "要求商家赔偿", "要求市场监管部门处理"],
    "交通事故": ["要求对方赔偿医疗费", "要求保险公司理赔", "要求交警认定责任"],
    "征地拆迁": ["要求提高补偿标准", "要求尽快安置", "要求公开补偿明细"],
    "教育": ["要求就近入学", "要求学校退还费用", "要求学校给予说法", "要求严肃处理涉事学生"],
    "城市管理": ["要求依法取缔", "要求拆除违建", "要求停止夜间施工"],
    "其他": ["要求对方赔偿", "希望有关部门处理"],
}

ORGS = {
    "物业纠纷": ["{p}物业公司", "{p}物业服务中心"],
    "劳资纠纷": ["{p}建筑工程公司", "{p}劳务公司", "{p}食品厂", "{p}袜业公司", "{p}商贸公司"],
    "医疗纠纷": ["{p}医院", "{p}卫生院", "{p}诊所"],
    "消费纠纷": ["{p}健身会所", "{p}装饰公司", "{p}超市", "{p}家电商场"],
    "征地拆迁": ["{p}村委会", "{p}项目指挥部", "{p}开发公司"],
    "教育": ["{p}小学", "{p}中学", "{p}幼儿园"],
    "城市管理": ["{p}烧烤店", "{p}建筑工地", "{p}饭店"],
}
ORG_PREFIXES = ["鑫源", "恒达", "宏盛", "金鹿", "东辽", "鹿乡", "华泰", "百信", "天和", "瑞丰", "龙山", "仁和", "福临", "北方", "兴业"]

# Risk cues as they are written; {a} is the actor. Variants are chosen per report, so that re-reports
# of one dispute say the same thing in other words.
CUE_PHRASES = {
    "threat": ["{a}扬言要报复对方", "{a}扬言“不解决就跟他同归于尽”", "{a}威胁要对对方家人下手", "{a}扬言要让对方付出代价", "{a}放话要报复"],
    "weapon": ["{a}手持菜刀", "{a}拿着农药瓶", "{a}扬言要泼汽油", "{a}携带铁棍到场", "{a}持刀威胁"],
    "selfharm": ["{a}扬言要跳楼", "{a}流露出轻生念头", "{a}称要喝农药自杀", "{a}站在楼顶扬言轻生", "{a}表示活不下去了要寻短见"],
    "crowd": ["{n}余人聚集在门口", "组织{n}余人聚集讨要说法", "{n}多名群众围堵大门", "扬言要组织{n}余人集体上访", "{n}余人聚集并拉横幅"],
    "petition": ["{a}曾多次到市里上访", "{a}扬言要去省里上访", "{a}反复信访未果", "{a}已多次越级上访"],
    "alcohol": ["{a}酒后闹事", "{a}醉酒后情绪失控", "{a}饮酒后上门争吵"],
    "dv": ["{a}长期遭受家暴", "{a}被丈夫殴打", "对方有家庭暴力行为", "{a}身上有明显伤痕，称遭到家暴"],
    "conflict": ["双方发生肢体冲突", "双方互相推搡", "{a}被对方打伤", "双方发生厮打"],
    "emotion": ["{a}情绪激动", "{a}言辞激烈", "{a}情绪很不稳定"],
}
NEGATED_PHRASES = {
    "threat": ["未扬言报复", "无过激言行", "无威胁性言语"],
    "weapon": ["未携带器械", "现场未发现凶器"],
    "selfharm": ["情绪稳定，无轻生倾向", "无自伤自残迹象"],
    "crowd": ["无聚集苗头", "未发生聚集"],
    "conflict": ["未发生肢体冲突", "双方未动手"],
    "alcohol": ["双方均未饮酒"],
}
MITIGATION_PHRASES = ["经调解双方达成协议", "经现场调解双方握手言和", "对方当场承诺尽快解决", "经社区民警调解已和解", "双方已签订调解协议"]
FAILED_PHRASES = ["调解未果", "双方各执一词，调解未成功", "对方拒不配合调解", "多次调解均未成功"]
FOLLOW_UPS = ["需持续跟踪", "已上报街道", "已转相关部门处理", "将继续跟进", "已登记"]

HOMOPHONE_TYPOS = {"纠纷": "纠份", "工资": "工姿", "邻居": "邻局", "物业": "务业", "反映": "反应", "协调": "协条", "赔偿": "陪偿", "现场": "现常"}
# fmt: on


@dataclass
class ReportSpec:
    """Everything one report's text says, before the channel's style wraps it."""

    channel: str
    dispute_type: str
    actor: str  # how the complainant is named in the text
    respondent: str
    cause: str
    demand: str
    cues: list[str]
    negated: list[str]
    mitigated: bool
    failed: bool
    amount: float
    people: int
    place: str
    phone: str
    id_number: str
    variant: int  # which paraphrase this report of the dispute is


def _pick(options: list[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def pick_cause(dispute_type: str, urban: bool, u: float) -> str:
    """Return a cause (何因) for the type that fits an urban or a rural place."""
    unfit = _RURAL_ONLY if urban else _URBAN_ONLY
    return _pick([c for c in CAUSES[dispute_type] if c not in unfit], u)


def format_amount(amount: float, u: float) -> str:
    """Return an amount written the ways records write money: 3.5万元, 35000元, 3万余元."""
    if amount >= 10000 and u < 0.45:
        return f"{amount / 10000:.1f}万元".replace(".0万", "万")
    if amount >= 10000 and u < 0.6:
        return f"{int(amount // 10000)}万余元"
    return f"{int(round(amount, -2 if amount >= 1000 else 0))}元"


def _amount_clause(spec: ReportSpec, u: float) -> str:
    if spec.amount <= 0:
        return ""
    money = format_amount(spec.amount, u)
    return {
        "劳资纠纷": f"，涉及{spec.people}名工人工资共计{money}",
        "民间借贷": f"，借款金额{money}",
        "交通事故": f"，损失约{money}",
        "医疗纠纷": f"，已花费医疗费{money}",
        "征地拆迁": f"，补偿款差额约{money}",
        "物业纠纷": f"，涉及费用{money}",
        "消费纠纷": f"，涉及金额{money}",
        "土地纠纷": f"，涉及流转费{money}",
    }.get(spec.dispute_type, f"，涉及金额{money}")


def _facts(spec: ReportSpec, u: np.ndarray) -> str:
    """Return the core facts (who, what, why, how) in one of several paraphrases."""
    a, b, cause = spec.actor, spec.respondent, spec.cause
    frames = [
        f"{a}与{b}因{cause}产生纠纷",
        f"{a}因{cause}问题与{b}发生矛盾",
        f"{a}和{b}之间因{cause}起了争执",
        f"因{cause}，{a}与{b}多次协商未果",
    ]
    text = _pick(frames, (u[0] + 0.37 * spec.variant) % 1.0) + _amount_clause(spec, u[1])
    cue_text = []
    for k, cat in enumerate(spec.cues):
        phrase = _pick(CUE_PHRASES[cat], (u[2 + k] + 0.29 * spec.variant) % 1.0)
        cue_text.append(phrase.format(a=a, n=max(spec.people, 8 + int(u[2 + k] * 40))))
    for k, cat in enumerate(spec.negated):
        cue_text.append(_pick(NEGATED_PHRASES[cat], u[8 + k]))
    if cue_text:
        text += "，" + "，".join(cue_text)
    return text


def render_description(spec: ReportSpec, u: np.ndarray) -> str:
    """Return one report's description in its channel's style (u: 16 uniforms for this report)."""
    facts = _facts(spec, u)
    outcome = ""
    if spec.mitigated:
        outcome = _pick(MITIGATION_PHRASES, u[11])
    elif spec.failed:
        outcome = _pick(FAILED_PHRASES, u[11])
    demand = spec.demand
    phone = f"，联系电话{spec.phone}" if spec.phone else ""
    place = spec.place
    match spec.channel:
        case "网格员":
            # Terse: place, facts, what was done; the demand is often left out.
            tail = outcome or _pick(["已现场劝导", "已上门走访"], u[12])
            text = f"{place}：{facts}。{tail}，{_pick(FOLLOW_UPS, u[13])}。"
            if u[14] < 0.45:
                text += f"当事人诉求：{demand}。"
        case "12345":
            text = f"来电人反映：其在{place}，{facts}。诉求：{demand}{phone}。"
            if outcome:
                text += f"回访情况：{outcome}。"
        case "110":
            when = _pick(["当日上午", "当日下午", "当晚", "今日凌晨", "昨晚"], u[12])
            police = outcome or _pick(
                ["民警到场后进行了劝解", "民警到场了解情况", "民警到场后将双方带回所内"], u[13]
            )
            text = (
                f"报警人称：{when}在{place}，{facts}。{police}。该警情属非警务纠纷，推送综治中心。"
            )
        case "群众来访":
            ident = f"（身份证号：{spec.id_number}）" if spec.id_number else ""
            text = f"来访人{spec.actor}{ident}到中心反映：{facts}。要求：{demand}{phone}。"
            if outcome:
                text += f"{outcome}。"
        case "我要报事":
            text = f"【我要报事】{place}居民反映，{facts}！{demand}，希望尽快处理{phone}。"
        case "信访":
            ident = f"（身份证号{spec.id_number}）" if spec.id_number else ""
            text = f"信访人{spec.actor}{ident}反映：{facts}。信访诉求：{demand}。"
            if outcome:
                text += f"办理情况：{outcome}。"
        case "诉调对接":
            text = (
                f"诉前委派调解：{spec.actor}诉{spec.respondent}{spec.dispute_type}一案，"
                f"{facts}。原告请求：{demand}。" + (f"调解结果：{outcome}。" if outcome else "")
            )
        case _:
            raise ValueError(f"unknown channel {spec.channel!r}")
    return text
