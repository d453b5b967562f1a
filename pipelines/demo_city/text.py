"""How the demo city's reports are written: per-type facts, risk cues, and each channel's style.

The phrasing follows how centres' records read: grid workers' terse notes, 12345 transcripts
("来电人反映……诉求……"), 110 summaries ("报警人称……"), walk-ins, app reports, petitions and
court referrals. Every choice is driven by pre-drawn uniforms so that a seed fixes the text.
"""

from __future__ import annotations

import random
import re
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
# Threats to life, weapons, self-harm, crowds and petitions past the local level dominate, as in the
# centres' 风险量化评价 and 三级预警; the party's recent history amplifies them (generate.py).
CUE_WEIGHTS = {
    "threat": 3.6, "weapon": 3.6, "selfharm": 2.6, "crowd": 2.0, "petition": 1.4,
    "alcohol": 0.5, "dv": 1.3, "conflict": 0.8, "emotion": 0.3,
}
# A threat made with a weapon in hand is more than the two apart: the seeds' 民转刑 precursor, which
# a centre's 三级预警 puts at the top whatever the party's history.
ARMED_THREAT = 2.5
CUE_VOLATILITY = 0.4  # how much more often a volatile party's reports carry each cue
SEVERE_CUES = ("threat", "weapon", "selfharm", "crowd")
HISTORY_AMPLIFIES = 0.4  # per log1p(reports in the last 90 days), on a dispute with a severe cue
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

# Risk cues as they are written; {a} is whoever does it, {n} a headcount. Each family has many
# surface forms, and each report draws its own, so that re-reports of one dispute say the same thing
# in other words and no single phrase stands for a family. Some forms are outside the product's
# lexicon, as real text is.
CUE_PHRASES = {
    "threat": [
        "{a}扬言要报复对方", "{a}扬言“不解决就跟他同归于尽”", "{a}威胁要对对方家人下手",
        "{a}扬言要让对方付出代价", "{a}放话要报复", "{a}扬言要杀了对方", "{a}说要弄死对方",
        "{a}放狠话“让他走着瞧”", "{a}扬言要找人收拾对方", "{a}威胁称要让对方全家不得安宁",
        "{a}声称再不给钱就要出人命", "{a}扬言要去对方家里闹", "{a}扬言“大不了一命换一命”",
        "{a}威胁要烧了对方的房子", "{a}多次打电话威胁对方", "{a}在微信群里发威胁信息",
        "{a}扬言要砸了对方的店", "{a}扬言要让对方好看", "{a}恐吓对方称要打断其腿",
        "{a}扬言要带人去堵对方", "{a}称要跟对方拼命", "{a}发短信恐吓对方",
    ],
    "weapon": [
        "{a}手持菜刀", "{a}拿着农药瓶", "{a}提着一桶汽油", "{a}携带铁棍到场", "{a}腰里别着刀",
        "{a}拿着一把水果刀", "{a}从家里拿出砍刀", "{a}手拿木棒追打对方", "{a}随身带着一把匕首",
        "{a}拎着汽油桶到现场", "{a}在车里藏了一把刀", "{a}拿着剪刀比划", "{a}抄起铁锹要打人",
        "{a}拿着锄头堵在地头", "{a}持棍棒到对方家门口", "{a}手握斧头", "{a}带着一瓶硫酸",
        "{a}拿出打火机要点燃汽油", "{a}手持钢管", "{a}挥舞着菜刀", "{a}携带管制刀具",
        "{a}拿砖头砸对方车辆",
    ],
    "selfharm": [
        "{a}扬言要跳楼", "{a}流露出轻生念头", "{a}称要喝农药自杀", "{a}站在楼顶扬言轻生",
        "{a}表示活不下去了要寻短见", "{a}说不如死了算了", "{a}爬上塔吊不肯下来",
        "{a}称要死在对方门口", "{a}留下遗书后离家", "{a}多次说“不想活了”", "{a}以跳河相威胁",
        "{a}割腕被家人发现", "{a}称要在公司门口自焚", "{a}曾服药自杀被救回",
        "{a}称要吊死在村委会门口", "{a}说活着没意思", "{a}站在桥边要往下跳",
        "{a}扬言要从医院楼上跳下去", "{a}说要带着孩子一起死", "{a}把自己锁在屋里要开煤气",
        "{a}称再不解决就死给你们看", "{a}有自残行为",
    ],
    "crowd": [
        "{n}余人聚集在门口", "组织{n}余人聚集讨要说法", "{n}多名群众围堵大门",
        "扬言要组织{n}余人集体上访", "{n}余人聚集并拉横幅", "{n}多名工人堵在工地门口",
        "{n}余名业主聚集在物业办公室", "{n}多名村民堵路", "约{n}人在政府门口静坐",
        "{n}余人围住项目部讨说法", "{n}多人在售楼处拉横幅维权", "{n}多名家属聚集在医院",
        "召集{n}余名亲属到场", "{n}余人建群商量集体去市里", "{n}多名工友相约去讨薪",
        "现场聚集{n}余人围观起哄", "{n}余名村民围堵施工车辆", "{n}多名家长聚集在校门口",
        "{n}余人在网上相约聚集", "{n}多人扬言要去堵高速路口", "{n}余人冲进办公室",
        "{n}余名业主集体到中心反映",
    ],
    "petition": [
        "{a}曾多次到市里上访", "{a}扬言要去省里上访", "{a}反复信访未果", "{a}已多次越级上访",
        "{a}扬言要进京上访", "{a}称要去北京讨说法", "{a}多次打热线重复反映",
        "{a}说要一直告到省里", "{a}去年到省信访局上访过", "{a}扬言要找媒体曝光",
        "{a}已到区、市两级反映过", "{a}称不解决就去省城", "{a}在网上发帖扬言越级上访",
        "{a}反复到镇里找领导", "{a}曾在市政府门口拦车", "{a}多次写信到市长信箱",
        "{a}表示要到上级部门讨说法", "{a}称已经准备好材料要去北京", "{a}连续几个月每周都来反映",
        "{a}缠访闹访", "{a}扬言去省委门口", "{a}已五次信访",
    ],
    "alcohol": [
        "{a}酒后闹事", "{a}醉酒后情绪失控", "{a}饮酒后上门争吵", "{a}喝了酒到对方家砸门",
        "{a}每天喝得醉醺醺", "{a}酒后打骂家人", "{a}喝多后在楼道大吵大闹", "{a}醉酒后追打对方",
        "{a}长期酗酒", "{a}喝完酒就来闹", "{a}满身酒气到现场", "{a}酒后开车撞坏对方院墙",
        "{a}酒后辱骂对方", "{a}借酒撒疯", "{a}喝醉后堵在对方门口", "{a}酒后扬言要砸东西",
        "{a}中午喝酒后到公司闹事", "{a}常年嗜酒", "{a}喝了半斤白酒后来理论", "{a}酒后在村里骂街",
        "{a}喝大了就动手", "{a}酒后拿东西乱砸",
    ],
    "dv": [
        "{a}长期遭受家暴", "{a}被丈夫殴打", "对方有家庭暴力行为", "{a}身上有明显伤痕，称遭到家暴",
        "{a}被丈夫打得鼻青脸肿", "{a}称丈夫经常动手打人", "{a}被妻子用衣架抽打", "{a}称婚后多次挨打",
        "{a}的丈夫酒后殴打妻子", "{a}被打后回了娘家", "孩子称爸爸经常打妈妈",
        "{a}称对方长期打骂虐待", "{a}胳膊上有多处淤青", "{a}被丈夫锁在家中不让出门",
        "{a}称儿子殴打老人", "{a}遭到儿媳打骂", "{a}被打后报警求助", "{a}称对方掐其脖子",
        "{a}申请人身安全保护令", "{a}称不敢回家", "{a}被前夫骚扰殴打", "{a}被家人虐待",
    ],
    "conflict": [
        "双方发生肢体冲突", "双方互相推搡", "{a}被对方打伤", "双方发生厮打", "双方动了手",
        "{a}被对方推倒在地", "双方扭打在一起", "{a}脸部被抓伤", "{a}被打得头破血流", "双方打了起来",
        "{a}挨了对方两拳", "对方动手打了{a}", "双方撕扯中{a}受伤", "{a}被对方踹了一脚",
        "双方在地头打了一架", "{a}与对方扭打", "{a}被对方用砖头砸伤", "双方家属也参与打斗",
        "{a}手被对方咬伤", "双方互殴", "{a}被打后住院", "冲突中{a}眼镜被打碎",
    ],
    "emotion": [
        "{a}情绪激动", "{a}言辞激烈", "{a}情绪很不稳定", "{a}情绪非常激动", "{a}在现场大喊大叫",
        "{a}说话很冲", "{a}哭闹不止", "{a}当场摔了东西", "{a}拍桌子骂人", "{a}情绪失控",
        "{a}怨气很大", "{a}态度蛮横", "{a}对处理结果极为不满", "{a}火气很大", "{a}骂骂咧咧",
        "{a}在电话里吼叫", "{a}一度情绪崩溃", "{a}不听劝阻", "{a}很激动，反复说自己吃亏",
        "{a}情绪低落", "{a}声音哽咽", "{a}情绪比较激动",
    ],
}
# A threat made with a weapon in hand, said in one clause. Written only for a report that carries
# both the threat and the weapon cue: a weapon form that also threatens ("持刀威胁") would otherwise
# put an armed threat in the text of a report whose risk has only the weapon.
ARMED_PHRASES = [
    "{a}持刀威胁", "{a}持刀威胁对方", "{a}扬言要泼汽油", "{a}拿着菜刀扬言要砍人",
    "{a}拎着汽油桶扬言要烧了对方的家", "{a}手持铁棍威胁对方", "{a}拿刀抵着对方说要杀了他",
    "{a}挥舞砍刀扬言要出人命", "{a}拿着农药瓶威胁要同归于尽", "{a}带着匕首扬言要报复",
]
ARMED_TOGETHER = 0.4  # how often a report with both cues says them in one clause
# How a clause (a cue's or any other) reaches the record: said outright, reported by someone
# else, heard of, or in the past.
CUE_CONTEXTS = (
    ["{c}"] * 8
    + ["据邻居说，{c}", "据其家属反映，{c}", "有群众反映{c}", "听说{c}", "网格员了解到{c}",
       "此前{c}", "前几天{c}", "上个月还发生过{c}的情况", "{c}，已不是第一次", "现场{c}"]
)
# Who else may be the one who threatens or drinks: the record names a relative or the other side.
THIRD_PARTIES = ["其丈夫", "其妻子", "其儿子", "其女儿", "对方", "对方家属", "其兄弟", "工友", "其父亲", "对方亲属"]
NEGATED_PHRASES = {
    "threat": ["未扬言报复", "无过激言行", "无威胁性言语", "没有说过狠话", "否认曾威胁对方"],
    "weapon": ["未携带器械", "现场未发现凶器", "没有携带刀具", "未见持械"],
    "selfharm": ["情绪稳定，无轻生倾向", "无自伤自残迹象", "没有轻生念头", "否认有轻生想法"],
    "crowd": ["无聚集苗头", "未发生聚集", "没有组织人员聚集", "未见聚集"],
    "conflict": ["未发生肢体冲突", "双方未动手", "没有动手", "未发生打斗"],
    "alcohol": ["双方均未饮酒", "未饮酒", "没有喝酒"],
}
# Words every kind of report uses, whatever its risk or type: they must carry no signal.
FILLERS = [
    "{a}表示希望尽快解决", "对方表示愿意配合", "双方互相指责", "双方发生争执", "双方互不相让",
    "对方表示不认可", "{a}表示不服", "对方称已经处理过", "{a}表示已多次沟通", "双方互相推诿",
    "对方表示会考虑", "双方发生口角", "{a}表示理解但要求给个说法", "双方都有一定责任",
    "对方一直不接电话", "{a}表示对方态度不好", "双方互相埋怨", "对方表示没钱",
]
MITIGATION_PHRASES = [
    "经调解双方达成协议", "经现场调解双方握手言和", "对方当场承诺尽快解决", "经社区民警调解已和解",
    "双方已签订调解协议", "矛盾已化解", "经说服教育双方已和解", "对方同意赔偿，双方达成协议",
]
FAILED_PHRASES = [
    "调解未果", "双方各执一词，调解未成功", "对方拒不配合调解", "多次调解均未成功", "调解不成",
    "调解失败",
]
FOLLOW_UPS = ["需持续跟踪", "已上报街道", "已转相关部门处理", "将继续跟进", "已登记", "已录入系统", "待进一步核实"]
# What the cause is called when the record does not say: the same words in every type.
VAGUE_CAUSES = ["琐事", "家庭琐事", "经济纠纷", "钱的问题", "历史遗留问题", "口角", "生活琐事", "债务问题",
                "赔偿问题", "合同问题"]
# What a party asks for when the record does not spell it out.
GENERIC_DEMANDS = ["要求有关部门处理", "希望尽快解决", "要求给个说法", "要求对方赔偿", "希望相关部门协调解决",
                   "要求依法处理"]
# Disputes overlap: a wage dispute is also a family quarrel, a neighbour dispute is over land.
RELATED = {
    "婚恋家庭": ["民间借贷", "邻里纠纷", "劳资纠纷"], "邻里纠纷": ["土地纠纷", "物业纠纷", "城市管理"],
    "物业纠纷": ["邻里纠纷", "消费纠纷"], "劳资纠纷": ["民间借贷", "婚恋家庭"],
    "土地纠纷": ["邻里纠纷", "征地拆迁"], "民间借贷": ["婚恋家庭", "劳资纠纷"],
    "医疗纠纷": ["交通事故", "消费纠纷"], "消费纠纷": ["物业纠纷", "教育"],
    "交通事故": ["医疗纠纷", "民间借贷"], "征地拆迁": ["土地纠纷", "婚恋家庭"],
    "教育": ["消费纠纷", "婚恋家庭"], "城市管理": ["邻里纠纷", "物业纠纷"],
    "其他": ["邻里纠纷", "消费纠纷", "民间借贷"],
}

HOMOPHONE_TYPOS = {
    "纠纷": "纠份", "工资": "工姿", "邻居": "邻局", "物业": "务业", "反映": "反应", "协调": "协条",
    "赔偿": "陪偿", "现场": "现常", "已经": "以经", "部门": "部们", "处理": "处里", "再次": "在次",
    "事情": "事请", "希望": "希忘", "拖欠": "脱欠", "解决": "解绝",
}
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
    related_cause: str = ""  # a cause of a related dispute type the report also mentions


def _pick(options: list[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def pick_cause(dispute_type: str, urban: bool, u: float) -> str:
    """Return a cause (何因) for the type that fits an urban or a rural place."""
    unfit = _RURAL_ONLY if urban else _URBAN_ONLY
    return _pick([c for c in CAUSES[dispute_type] if c not in unfit], u)


def pick_related_cause(dispute_type: str, urban: bool, u: float) -> str:
    """Return a cause of a type related to this one (a land dispute between neighbours …)."""
    other = _pick(RELATED[dispute_type], u)
    return pick_cause(other, urban, (u * 7.31) % 1.0)


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


# fmt: off
# The core facts (who, what, why), in many word orders, registers and omissions.
FACT_FRAMES = [
    "{a}与{b}因{cause}产生纠纷", "{a}因{cause}问题与{b}发生矛盾", "{a}和{b}之间因{cause}起了争执",
    "因{cause}，{a}与{b}多次协商未果", "{a}反映与{b}存在{cause}问题", "就{cause}一事，{a}与{b}意见不一",
    "{cause}的事{a}跟{b}闹得很僵", "{a}称{b}在{cause}问题上处理不公", "{a}与{b}为{cause}的事吵了起来",
    "{cause}问题，{a}与{b}至今未能解决", "{a}同{b}存在{cause}矛盾", "因{cause}引发纠纷，当事人为{a}和{b}",
    "{b}与{a}因{cause}有矛盾", "关于{cause}，{a}与{b}争议较大", "{a}说{cause}的事一直没人管",
    "{a}与{b}因{cause}纠纷已持续一段时间", "{cause}，{a}找{b}理论未果", "因{cause}产生纠纷",
    "{a}与{b}发生纠纷", "{a}跟{b}因为{cause}闹掰了", "为了{cause}，{a}和{b}吵了好几回",
    "{a}投诉{b}，事由{cause}",
]
RELATED_FRAMES = ["，同时牵扯到{c}", "，起因还与{c}有关", "，另有{c}问题未解决", "，又因{c}矛盾加深", "，还涉及{c}"]

# Each channel's sentence structures. [x|y] is a choice, {slot} a part of the report.
CHANNEL_FRAMES = {
    "网格员": [
        "{place}：{facts}。{tail}，{follow}。[当事人诉求：{demand}。|]",
        "[今日|今天上午|今天下午|昨日|近日|本周]巡查[中|时]发现，{place}{facts}。{tail}。",
        "网格员[入户走访|日常巡查|排查]时[了解到|发现]：{facts}[，地点{place}|]。{tail}，{follow}。",
        "[接|收到]群众[反映|报告]，{place}{facts}，网格员[已到场|随即赶到现场]，{tail}。",
        "{facts}（{place}）。[处置|处理]情况：{tail}。[下一步：{follow}。|]",
        "[矛盾|纠纷]排查：{place}，{facts}。{tail}。",
        "[【网格上报】|【矛盾纠纷】|【排查上报】]{place}，{facts}。{follow}。",
        "{place}[的|]{actor}[反映|报告|说]，{facts}。{tail}。",
        "事件：{facts}。地点：{place}。处置：{tail}。",
        "[经|]走访[得知|了解]，{facts}。[当事人|{actor}]要求{demand_bare}。{follow}。",
    ],
    "12345": [
        "[来电人|市民|来电市民|来电群众|一位市民]反映：[其在{place}，|{place}，|]{facts}。[诉求|来电诉求|市民诉求]：{demand}{phone}。{visit}",
        "[市民|群众]来电[称|反映|表示]，{facts}[，地点在{place}|]。{demand}{phone}。",
        "【12345工单】[来电|市民]反映{place}{facts}。诉求：{demand}。{visit}",
        "[您好，|喂，你好，|]我是{place}的[居民|住户|村民]，{facts}，[麻烦|请|希望]{demand_bare}{phone}。",
        "工单内容：{facts}。[发生地点：{place}。|]来电诉求：{demand}。",
        "12345转办：{place}，{facts}，{demand}。",
        "来电称{facts}，[多次来电|此前已反映过|近期反映过]，{demand}{phone}。",
        "[市民|来电人]通过[12345|市长]热线反映：{facts}。{demand}。{visit}",
        "{place}[居民|住户]来电：{facts}。{demand}{phone}。",
        "[来电事由|工单内容|来电内容]：{facts}。诉求：{demand}。",
    ],
    "110": [
        "报警人称：{when}在{place}，{facts}。{police}。该警情属非警务纠纷，推送综治中心。",
        "{when}[，|]{place}发生纠纷[，报警人称|，据报警人称|：]{facts}。{police}。",
        "[接警|接报警]：{place}，{facts}。{police}[，已推送综治中心|，移交属地|]。",
        "110[推送|转来]警情：{facts}[（{place}）|]。{police}。",
        "[报警人|报警群众|事主]{actor}报警称，{when}{facts}。{police}。",
        "[民警|处警民警]到{place}处置，经了解，{facts}。[处置结果|结果]：{police}。",
        "非警务警情：{facts}。[地点|发生地]：{place}。{police}。",
        "{when}接[到|]群众报警，{place}{facts}。{police}。",
        "警情[摘要|简要]：{facts}。{police}，[推送综治中心|建议属地调解]。",
    ],
    "群众来访": [
        "来访人{actor}{ident}到中心反映：{facts}。要求：{demand_bare}{phone}。{outcome}",
        "{actor}{ident}[来访|到窗口]反映，{facts}。{demand}。",
        "[今日|上午|下午]{actor}到综治中心[来访|反映情况]，称{facts}。{demand}{phone}。",
        "窗口接待：{actor}{ident}，[住|家住]{place}，反映{facts}。诉求：{demand}。",
        "来访登记：{facts}。来访人：{actor}{ident}。诉求：{demand}。",
        "{place}[居民|村民]{actor}来访，{facts}，{demand}。",
        "接待{actor}来访[一次|]。[事由|反映事项]：{facts}。{demand}{phone}。",
    ],
    "我要报事": [
        "【我要报事】{place}居民反映，{facts}！{demand}，希望尽快处理{phone}。",
        "[APP|小程序]报事：{facts}[！|。][{demand}。|]",
        "我要[反映|报事]：{place}{facts}[，|。]{demand}[！|。]",
        "[大家好，|你好，|]{place}[这边|]{facts}[，有没有人管管|，希望有关部门处理|，请尽快处理][！|。|！！]",
        "报事内容：{facts}。位置：{place}。{phone}",
        "{place}，{facts}，[实在受不了了|已经很久了|拖了好几个月]，{demand}！",
        "随手拍：{place}{facts}。",
        "[求助|急]！{facts}，{demand}{phone}",
    ],
    "信访": [
        "信访人{actor}{ident}反映：{facts}。信访诉求：{demand}。{done}",
        "{actor}{ident}来信反映，{facts}。[请求|要求]{demand_bare}。",
        "[网上信访|来信|信访件]：{facts}。诉求：{demand}。",
        "信访事项：{facts}。信访人：{actor}{ident}。{done}",
        "{actor}[多次|]来信[反映|称]{facts}，[请求|要求]{demand_bare}。",
        "转办信访件：{place}{actor}反映{facts}。",
    ],
    "诉调对接": [
        "诉前委派调解：{actor}诉{respondent}{type}一案，{facts}。原告请求：{demand}。{result}",
        "[法院委派|诉前调解|委派调解]案件：原告{actor}，被告{respondent}，案由{type}。{facts}。[诉讼请求|原告请求]：{demand}。",
        "{actor}与{respondent}{type}[一案|]，[经法院|法院]委派调解。{facts}。",
        "[案由|纠纷类型]：{type}。[案情|基本案情]：{facts}。{result}",
        "原告{actor}起诉[称|]{facts}，请求{demand_bare}。",
        "诉调对接中心受理：{facts}。[申请人|原告]请求{demand_bare}。",
    ],
}
WHEN = ["当日上午", "当日下午", "当晚", "今日凌晨", "昨晚", "今天中午", "傍晚时分"]
POLICE = ["民警到场后进行了劝解", "民警到场了解情况", "民警到场后将双方带回所内", "民警现场调解",
          "民警到场后双方情绪平稳", "已告知双方通过法律途径解决"]
# fmt: on

_CHOICE = re.compile(r"\[([^\[\]]*)\]")


def _expand(frame: str, rng: random.Random) -> str:
    """Return the frame with each [x|y] choice made."""
    return _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), frame)


def _cue_clause(
    phrases: list[str], spec: ReportSpec, first_person: bool, rng: random.Random
) -> str:
    actor = spec.actor
    if first_person or rng.random() < 0.2:
        actor = rng.choice(THIRD_PARTIES)
    phrase = rng.choice(phrases).format(a=actor, n=max(spec.people, rng.randint(8, 48)))
    return rng.choice(CUE_CONTEXTS).format(c=phrase)


def _cue_clauses(spec: ReportSpec, first_person: bool, rng: random.Random) -> list[str]:
    """Return one clause per cue, or one armed-threat clause for the threat and the weapon."""
    families = list(spec.cues)
    clauses = []
    if {"threat", "weapon"} <= set(families) and rng.random() < ARMED_TOGETHER:
        families = [f for f in families if f not in ("threat", "weapon")]
        clauses.append(_cue_clause(ARMED_PHRASES, spec, first_person, rng))
    return clauses + [_cue_clause(CUE_PHRASES[f], spec, first_person, rng) for f in families]


def _facts(spec: ReportSpec, first_person: bool, rng: random.Random) -> str:
    """Return the core facts (who, what, why, how), then the cues and fillers in any order."""
    cause = rng.choice(VAGUE_CAUSES) if rng.random() < 0.2 else spec.cause
    a = "我" if first_person else spec.actor
    text = rng.choice(FACT_FRAMES).format(a=a, b=spec.respondent, cause=cause)
    text = text.replace("问题问题", "问题")
    if spec.related_cause:
        text += rng.choice(RELATED_FRAMES).format(c=spec.related_cause)
    text += _amount_clause(spec, rng.random())
    clauses = _cue_clauses(spec, first_person, rng)
    clauses += [rng.choice(NEGATED_PHRASES[family]) for family in spec.negated]
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        # hearsay and past-event framings go with any clause, so that they say nothing of a cue
        clauses.append(rng.choice(CUE_CONTEXTS).format(c=rng.choice(FILLERS).format(a=a)))
    rng.shuffle(clauses)
    return "，".join([text, *clauses])


def render_description(spec: ReportSpec, u: np.ndarray) -> str:
    """Return one report's description in one of its channel's styles (u: this report's uniforms,
    which fix every choice)."""
    if spec.channel not in CHANNEL_FRAMES:
        raise ValueError(f"unknown channel {spec.channel!r}")
    rng = random.Random(int(u[0] * 2**52) ^ int(u[1] * 2**26))
    frame = _expand(rng.choice(CHANNEL_FRAMES[spec.channel]), rng)
    first_person = frame.startswith(("我是", "我要", "[您好", "您好", "喂")) or "我是" in frame[:8]
    outcome = ""
    if spec.mitigated:
        outcome = rng.choice(MITIGATION_PHRASES)
    elif spec.failed:
        outcome = rng.choice(FAILED_PHRASES)
    demand = rng.choice(GENERIC_DEMANDS) if rng.random() < 0.25 else spec.demand
    demand_bare = demand.removeprefix("要求").removeprefix("希望")
    slots = {
        "place": spec.place,
        "facts": _facts(spec, first_person, rng),
        "actor": spec.actor,
        "respondent": spec.respondent,
        "type": spec.dispute_type,
        "demand": demand,
        "demand_bare": demand_bare,
        "phone": f"，联系电话{spec.phone}" if spec.phone else "",
        "ident": f"（身份证号：{spec.id_number}）" if spec.id_number else "",
        "when": rng.choice(WHEN),
        "tail": outcome
        or rng.choice(["已现场劝导", "已上门走访", "已做双方工作", "已告知相关政策"]),
        "follow": rng.choice(FOLLOW_UPS),
        "police": outcome or rng.choice(POLICE),
        "visit": f"回访情况：{outcome}。" if outcome else "",
        "outcome": f"{outcome}。" if outcome else "",
        "done": f"办理情况：{outcome}。" if outcome else "",
        "result": f"调解结果：{outcome}。" if outcome else "",
    }
    return frame.format_map(slots)
