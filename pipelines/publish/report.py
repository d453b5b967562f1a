"""The 稳定专报 (stability report) in Markdown: daily, weekly or monthly, as the seeds' centres push them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.domain import GRADES, HIGH, TICKET_NAMES
from models.drift import MAJOR, DriftReport
from pipelines.contracts import ModelInfo

PERIOD_DAYS = {"日报": 1, "周报": 7, "月报": 30}
REVIEW_BELOW = 0.5  # a classifier's cases below this probability are listed for review
TOP_CASES = 10
TOP_HOTSPOTS = 5


@dataclass
class ReportInputs:
    """Everything a report says; the publishing step gathers it."""

    run_date: pd.Timestamp
    current: pd.DataFrame  # scored cases of the period (grade, dispute_type, district, ...)
    previous: pd.DataFrame  # scored cases of the comparison window before it
    ticketed: pd.DataFrame  # current cases with tickets and dispatcher reasons
    cells: pd.DataFrame  # hotspot cells
    quarantine: pd.DataFrame
    rows_in: int
    model: ModelInfo
    drift: DriftReport | None = None
    period: str = "日报"
    missing_days: tuple[str, ...] = ()  # days of the period with no scored results
    place_of_cell: dict = field(
        default_factory=dict
    )  # cell -> the community most of its cases come from


def _share_table(
    current: pd.Series,
    previous: pd.Series,
    days_now: int,
    days_prev: int,
    label: str,
    order: tuple[str, ...] = (),
) -> str:
    """Return a table of the period's cases per value: its total, its daily mean and the daily
    mean of the days before, and the change between the two daily means. Without days before
    (the first day scored), the table has no comparison columns. Rows come in `order` (the
    grades, 高 first), else by the period's count."""
    now = current.fillna("未知").value_counts()
    before = previous.fillna("未知").value_counts() / max(days_prev, 1)
    keys = sorted(
        set(now.index) | set(before.index),
        key=lambda k: (order.index(k) if k in order else len(order), -now.get(k, 0), k),
    )
    header = [label, "本期合计", "本期日均"] + (
        [f"前{days_prev}天日均", "日均变化"] if days_prev else []
    )
    lines = [f"| {' | '.join(header)} |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for k in keys:
        n, b = int(now.get(k, 0)), float(before.get(k, 0.0))
        daily = n / max(days_now, 1)
        cells = [str(k), str(n), f"{daily:.1f}"]
        if days_prev:
            change = f"{(daily - b) / b:+.0%}" if b > 0 else "新增" if n else "—"
            cells += [f"{b:.1f}", change]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def _class_table(ticketed: pd.DataFrame) -> str:
    """Return a classifier's day: cases per predicted class, mean probability, cases to review."""
    lines = ["| 预测类别 | 案件数 | 平均概率 | 概率低于50% |", "|---|---:|---:|---:|"]
    grouped = ticketed.groupby("predicted_class")["probability"]
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean": grouped.mean(),
            "low": grouped.apply(lambda p: (p < REVIEW_BELOW).sum()),
        }
    ).sort_values(["n"], ascending=False)
    for name, row in table.iterrows():
        lines.append(f"| {name} | {int(row['n'])} | {row['mean']:.2f} | {int(row['low'])} |")
    return "\n".join(lines)


def _hotspot_lines(inp: ReportInputs) -> list[str]:
    """Return the hotspot section: the hot cells or units, or why there are none."""
    cells = inp.cells
    if not len(cells):
        return [
            f"本期 {len(inp.current)} 件案件均无经纬度，也没有可识别的区县、街道、社区或网格"
            "（或地址），无法定位，热点图（hotspots.geojson、map.html）为空。"
            "在导出中加入区县/街道/社区/网格或发生地址列，即可按行政区划统计热点。"
        ]
    lines = []
    if (cells["layer"] == "unit").any():
        units = cells[cells["layer"] == "unit"]
        lines.append(
            f"部分或全部案件无经纬度，按行政区划（{len(units)} 个单元）统计：每个单元以其区县中心"
            "或本单元有坐标案件的中心点上图，相邻关系取最近的单元。"
        )
        lines.append("")
    hot = cells[cells["hot_class"].str.startswith("热点")]
    if not len(hot):
        lines.append("本期无统计显著的热点区域。")
        return lines
    hot = hot.sort_values(["confidence", "gi_z"], ascending=[False, False]).head(TOP_HOTSPOTS)
    lines += [
        "| 位置 | 热点分类 | 趋势 | 近期案件 | 高/中风险 | 主要类型 |",
        "|---|---|---|---:|---:|---|",
    ]
    for row in hot.itertuples(index=False):
        place = inp.place_of_cell.get(row.cell, row.label)
        top = "、".join(list(row.types)[:2]) or "—"
        lines.append(
            f"| {place} | {row.hot_class} | {row.trend} | {row.n_cases} | {row.n_高}/{row.n_中} | {top} |"
        )
    return lines


def build_report(inp: ReportInputs) -> str:
    """Return the report as Markdown. It holds no personal data: case texts are already masked."""
    period = _Period.of(inp)
    lines = [
        *_overview_lines(inp, period),
        *_breakdown_lines(inp, period),
        "",
        "## 五、重点热点区域",
        "",
        *_hotspot_lines(inp),
        *_top_case_lines(inp),
        *_quality_lines(inp),
        *_model_lines(inp.model),
        *_drift_lines(inp.drift),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Period:
    """The report's period, and the daily means it compares."""

    days: int
    start: pd.Timestamp
    days_now: int
    prev_days: int
    daily_now: float
    change: str

    @classmethod
    def of(cls, inp: ReportInputs) -> _Period:
        # Daily means over the days that have cases: a period with unscored days, or a store that
        # begins inside the comparison window, is not compared as if those days had none.
        days = PERIOD_DAYS[inp.period]
        prev = inp.previous
        days_now = days - len(inp.missing_days)
        prev_days = int(prev["reported_at"].dt.normalize().nunique()) if len(prev) else 0
        daily_prev = len(prev) / prev_days if prev_days else 0
        daily_now = len(inp.current) / max(days_now, 1)
        change = (
            f"，较前{prev_days}天日均{daily_prev:.1f}件{(daily_now - daily_prev) / daily_prev:+.0%}"
            if daily_prev
            else ""
        )
        start = inp.run_date - pd.Timedelta(days=days - 1)
        return cls(days, start, days_now, prev_days, daily_now, change)


def _is_risk(inp: ReportInputs) -> bool:
    return inp.model.risk


def _overview_lines(inp: ReportInputs, period: _Period) -> list[str]:
    cur = inp.current
    gaps = (
        [
            f"注意：统计期 {period.days} 天中有 {len(inp.missing_days)} 天没有研判结果"
            f"（{'、'.join(inp.missing_days)}），日均按已研判的 {period.days_now} 天计算。",
            "",
        ]
        if inp.missing_days
        else []
    )
    lines = [
        f"# 矛盾纠纷稳定专报（{inp.period}）",
        "",
        f"统计期：{period.start:%Y-%m-%d} 至 {inp.run_date:%Y-%m-%d}",
        "",
        "## 一、总体情况",
        "",
        *gaps,
    ]
    daily = f"日均 {period.daily_now:.1f} 件{period.change}"
    if _is_risk(inp):
        counts = cur["grade"].value_counts()
        tickets = inp.ticketed["ticket"].value_counts()
        return [
            *lines,
            f"本期受理并研判矛盾纠纷 {len(cur)} 件（{daily}）。"
            f"其中{'、'.join(f'{g}风险 {int(counts.get(g, 0))} 件' for g in reversed(GRADES))}；"
            f"发出{'、'.join(f'{t} {int(tickets.get(t, 0))} 张' for t in TICKET_NAMES)}。",
            "",
            "## 二、分风险等级",
            "",
            _compared(inp, period, "grade", "风险等级", order=tuple(reversed(GRADES))),
        ]
    target = inp.model.target
    return [
        *lines,
        f"本期受理矛盾纠纷 {len(cur)} 件（{daily}），由分类模型"
        f"（{target}）分为 {cur['grade'].nunique()} 类，供分类派单。该模型不评定风险等级，"
        "不发三色预警单。",
        "",
        "## 二、分类结果",
        "",
        _class_table(inp.ticketed),
    ]


def _compared(
    inp: ReportInputs, period: _Period, column: str, title: str, order: tuple[str, ...] = ()
) -> str:
    prev = inp.previous
    return _share_table(
        inp.current[column],
        prev[column] if len(prev) else pd.Series(dtype=object),
        period.days_now,
        period.prev_days,
        title,
        order,
    )


def _breakdown_lines(inp: ReportInputs, period: _Period) -> list[str]:
    return [
        "",
        "## 三、分纠纷类型",
        "",
        _compared(inp, period, "dispute_type", "纠纷类型"),
        "",
        "## 四、分区县",
        "",
        _compared(inp, period, "district", "区县"),
    ]


def _top_case_lines(inp: ReportInputs) -> list[str]:
    risk = _is_risk(inp)
    if risk:
        lines = ["", "## 六、重点案件（已脱敏）", ""]
        top_cases = (
            inp.ticketed[inp.ticketed["grade"] == HIGH]
            .sort_values(["score", "case_id"], ascending=[False, True])
            .head(TOP_CASES)
        )
        empty = "本期无高风险案件。"
    else:
        lines = ["", "## 六、待人工复核的分类（置信度最低，已脱敏）", ""]
        top_cases = (
            inp.ticketed[inp.ticketed["probability"] < REVIEW_BELOW]
            .sort_values(["probability", "case_id"])
            .head(TOP_CASES)
        )
        empty = f"本期所有分类的概率均不低于 {REVIEW_BELOW:.0%}。"
    if not len(top_cases):
        return [*lines, empty]
    lines += [
        "| 案件编号 | 类型 | 位置 | 风险分 | 主要原因 | 案情摘要 |"
        if risk
        else "| 案件编号 | 预测类别 | 概率 | 次选类别 | 主要原因 | 案情摘要 |",
        "|---|---|---|---:|---|---|" if risk else "|---|---|---:|---|---|---|",
    ]
    for row in top_cases.itertuples(index=False):
        summary = _cell(row.description)[:50]
        why = _cell(row.dispatch_reasons)
        if risk:
            where = _cell(row.district) + _cell(row.community)
            lines.append(
                f"| {row.case_id} | {_cell(row.dispute_type, '未知')} | {where} | "
                f"{row.score:.1f} | {why} | {summary}… |"
            )
        else:
            lines.append(
                f"| {row.case_id} | {row.predicted_class} | {row.probability:.2f} | "
                f"{row.runner_up} | {why} | {summary}… |"
            )
    return lines


def _cell(value, missing: str = "") -> str:
    """Return a value as a table cell: `missing` where there is none (None, NaN, pd.NA)."""
    return missing if value is None or pd.isna(value) else str(value).replace("|", "/")


def _quality_lines(inp: ReportInputs) -> list[str]:
    cur = inp.current
    incomplete = cur[cur["completeness"] < 1] if "completeness" in cur else cur.iloc[:0]
    missing = (
        incomplete["missing_elements"].str.split("、").explode().value_counts()
        if len(incomplete)
        else pd.Series(dtype=int)
    )
    lines = [
        "",
        "## 七、数据质量",
        "",
        f"- 输入 {inp.rows_in} 行：研判 {len(cur)} 行，隔离 {len(inp.quarantine)} 行（见 quarantine.csv）。",
        f"- 七何要素不全 {len(incomplete)} 件，逐件列入 七何退回清单.csv（报送单位、缺少要素、需补充内容），"
        "退回报送单位补充；缺项最多的是："
        + ("、".join(f"{k}({v}件)" for k, v in missing.head(3).items()) if len(missing) else "无")
        + "。",
    ]
    if len(inp.quarantine):
        reasons = (
            inp.quarantine["原因"]
            .str.split("；")
            .explode()
            .str.replace(r"“.*?”", "“…”", regex=True)
            .value_counts()
        )
        lines += [f"- 隔离原因：{'；'.join(f'{k}（{v}行）' for k, v in reasons.head(5).items())}"]
    return lines


def _model_lines(model: ModelInfo) -> list[str]:
    lines = [
        "",
        "## 八、研判模型",
        "",
        f"- 模型：{model.name} 版本 {model.version}（训练数据截至 {model.data_cutoff}）",
    ]
    backtest = model.backtest or {}
    if backtest:
        lines.append(
            "- 回测（按时间滚动，样本外）："
            + "；".join(
                f"{name} macro-F1 {m['macro_f1']:.3f}、log-loss {m['log_loss']:.3f}"
                for name, m in backtest.items()
            )
        )
    return lines


def _drift_lines(drift: DriftReport | None) -> list[str]:
    if drift is None:
        return []
    flagged = drift.flagged
    rows, total = drift.rows, drift.sampled_from
    counted = f"共 {rows} 件" if total <= rows else f"从 {total} 件中随机抽取 {rows} 件"
    lines = [
        "",
        "## 九、数据漂移",
        "",
        f"比较窗口：{drift.window}，{counted}；"
        f"参照：模型校准时段。PSI 抽样噪声约 {drift.noise_floor:.3f}。",
        "",
    ]
    if not drift.enough_rows:
        lines.append("样本不足，未作漂移判断（PSI 仅供参考）。")
    elif drift.drift:
        lines.append(f"**提示：输入或风险分布较训练时明显变化（PSI > {MAJOR}），请复核研判结果。**")
    else:
        lines.append(
            "轻度变化：" + "、".join(flagged) if flagged else "与训练参照相比未见明显漂移。"
        )
    return [*lines, "", "| 指标 | PSI |", "|---|---:|"] + [
        f"| {k} | {'无数据' if v is None else f'{v:.3f}'} |" for k, v in drift.psi.items()
    ]
