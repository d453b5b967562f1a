"""Map a centre's column headers onto fengqiao's canonical fields.

The common Chinese headers are recognised without a mapping. A YAML mapping names the rest:

    sheet: Sheet1              # .xlsx only; default: the first sheet
    encoding: gb18030          # CSV only; default: detected
    coordinates: gcj02         # the export's coordinate system; default wgs84
    columns:                   # canonical field: header (or a list of headers to join)
      case_id: 留言编号
      reported_at: 留言时间
      description: [留言主题, 留言详情]
    constants:                 # a value for every row, where the export has no such column
      channel: 我要报事
    labels:                    # extra label columns to carry, for `fengqiao train --target`
      一级分类: 一级分类
    completeness_when: text    # 七何's 何时: the text says when (default), or report_time
    taxonomy:                  # the centre's own dispute types (default: fengqiao's 13)
      types: [城乡建设, 劳动和社会保障, 教育文体, 婚姻家庭]
      domain:                  # which of them count as which of fengqiao's types in its rules
        婚姻家庭: 婚恋家庭
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

REQUIRED = ["case_id", "reported_at", "description"]

# Canonical field -> (Chinese name used in messages, headers recognised without a mapping).
FIELDS: dict[str, tuple[str, list[str]]] = {
    "case_id": (
        "案件编号",
        ["案件编号", "事件编号", "工单号", "工单编号", "案件号", "编号", "事件ID", "案件ID"],
    ),
    "reported_at": (
        "受理时间",
        [
            "受理时间",
            "登记时间",
            "上报时间",
            "来电时间",
            "报警时间",
            "报事时间",
            "接收时间",
            "创建时间",
        ],
    ),
    "description": (
        "案情描述",
        [
            "案情描述",
            "事件描述",
            "诉求内容",
            "案情",
            "简要案情",
            "事件内容",
            "问题描述",
            "情况描述",
            "内容",
        ],
    ),
    "channel": ("来源渠道", ["来源渠道", "来源", "渠道", "事件来源", "信息来源", "受理渠道"]),
    "dispute_type": ("纠纷类型", ["纠纷类型", "事件类型", "矛盾类型", "矛盾纠纷类型", "案件类型"]),
    "district": ("区县", ["区县", "县区", "区(县)", "所属区县", "区县名称"]),
    "street": ("街道", ["街道(乡镇)", "乡镇(街道)", "街道", "乡镇", "乡镇街道", "所属街道"]),
    "community": ("社区", ["社区(村)", "村(社区)", "社区", "村", "村社区", "所属社区"]),
    "grid_id": ("网格", ["网格", "网格编号", "网格号", "所属网格", "网格名称"]),
    "address": ("发生地址", ["发生地址", "地址", "事发地址", "详细地址", "发生地点", "事发地点"]),
    "lon": ("经度", ["经度", "LNG", "LON", "LONGITUDE"]),
    "lat": ("纬度", ["纬度", "LAT", "LATITUDE"]),
    "parties": ("当事人", ["当事人", "当事人姓名", "涉事人员", "当事人信息"]),
    "party_phone": ("联系电话", ["联系电话", "电话", "手机号", "手机", "联系方式"]),
    "party_id_number": ("身份证号", ["身份证号", "身份证号码", "证件号码", "身份证"]),
    "status": ("办理状态", ["办理状态", "状态", "处理状态", "办结状态"]),
    "risk_grade": ("风险等级", ["风险等级", "风险级别", "预警等级"]),
    "escalated": ("是否升级", ["是否升级", "民转刑", "是否民转刑", "是否激化"]),
}


class MappingError(Exception):
    """The export's columns do not give a required field; the message shows how to fix it."""


class Taxonomy(BaseModel):
    """A centre's own dispute types, and how they map onto fengqiao's for its domain rules.

    types: the centre's list. A value outside it is kept as written and flagged, never turned
    into 其他. Empty: fengqiao's default types, with their usual synonyms unified.
    domain: centre type -> fengqiao type, for the rules that read a type (婚恋家庭 disputes are
    followed up whether or not mediation succeeded; 邻里纠纷 between repeat parties is a feud).
    """

    model_config = ConfigDict(extra="forbid")

    types: list[str] = []
    domain: dict[str, str] = {}

    @field_validator("domain")
    @classmethod
    def _known_domain_types(cls, value: dict) -> dict:
        from features.domain import DISPUTE_TYPES

        unknown = sorted(set(value.values()) - set(DISPUTE_TYPES))
        if unknown:
            raise ValueError(f"unknown fengqiao type(s) {unknown}; map onto one of {DISPUTE_TYPES}")
        return value


class ColumnMapping(BaseModel):
    """How one centre's export maps onto the canonical fields."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str | list[str]] = {}
    constants: dict[str, str] = {}
    labels: dict[str, str] = {}
    sheet: str | None = None
    encoding: str | None = None
    coordinates: Literal["wgs84", "gcj02"] = "wgs84"
    taxonomy: Taxonomy = Taxonomy()
    # 七何's 何时: the report must say when it happened ("text"), or a receipt time of day is
    # enough ("report_time")
    completeness_when: Literal["text", "report_time"] = "text"

    @field_validator("columns", "constants")
    @classmethod
    def _known_fields(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; the fields are {list(FIELDS)}")
        return value


def load_mapping(path: Path | None) -> ColumnMapping:
    """Return the mapping in a YAML file, or the empty mapping (headers recognised as they are)."""
    if path is None:
        return ColumnMapping()
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: mapping file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ColumnMapping.model_validate(raw)
    except yaml.YAMLError as error:
        raise MappingError(f"{path}: not valid YAML ({error})") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise MappingError(f"{path}: {problems}") from None


def _key(header: str) -> str:
    return unicodedata.normalize("NFKC", str(header)).strip().upper().replace(" ", "")


_KNOWN = {_key(h): field for field, (_, headers) in FIELDS.items() for h in headers}


def known_header(header: str) -> bool:
    """Return whether a header is one fengqiao recognises without a mapping."""
    return _key(header) in _KNOWN


def resolve_columns(
    headers: list[str], mapping: ColumnMapping, source: str
) -> dict[str, list[str]]:
    """Return canonical field (or "label:NAME") -> the file's header(s) that hold it.

    Raises MappingError naming the missing field, the columns found and the mapping line to add.
    """
    by_key = {_key(h): h for h in headers}
    resolved: dict[str, list[str]] = {}
    for field, wanted in mapping.columns.items():
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        missing = [w for w in wanted if _key(w) not in by_key]
        if missing:
            raise MappingError(
                f"{source}: the mapping names column(s) {missing} for '{field}', but the file has no such "
                f"column.\n  Columns found: {', '.join(headers)}"
            )
        resolved[field] = [by_key[_key(w)] for w in wanted]
    for field, (_, synonyms) in FIELDS.items():
        if field in resolved or field in mapping.constants:
            continue
        for synonym in synonyms:
            if _key(synonym) in by_key:
                resolved[field] = [by_key[_key(synonym)]]
                break
    missing_required = [f for f in REQUIRED if f not in resolved and f not in mapping.constants]
    if missing_required:
        field = missing_required[0]
        chinese, synonyms = FIELDS[field]
        raise MappingError(
            f"{source}: required field '{field}' ({chinese}) was not found.\n"
            f"  Columns found: {', '.join(headers) or '(none)'}\n"
            f"  Recognised without a mapping: {', '.join(synonyms)}\n"
            f"  To fix it, add this line under `columns:` in the mapping file (--mapping FILE):\n"
            f"    {field}: <the column that holds the {chinese}>"
        )
    for label, header in mapping.labels.items():
        if _key(header) not in by_key:
            raise MappingError(
                f"{source}: the mapping's label '{label}' names column '{header}', which the file does not "
                f"have.\n  Columns found: {', '.join(headers)}"
            )
        resolved[f"label:{label}"] = [by_key[_key(header)]]
    return resolved
