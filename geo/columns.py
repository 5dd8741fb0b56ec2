"""Column headers and cell values of the files offices actually keep, mapped to our fields.

建档立卡 lists come from many hands: Chinese or English headers, stray spaces, full-width
characters (``户　编　号``, ``家庭人口数（人）``), required-field stars, and values such as
``因病致贫`` for the code ``illness``. This module maps them onto the data model's column names
(briefs/datamodel.md) and value codes (:mod:`geo.vocab`). Pure Python and pandas, no database.

>>> normalise_header(" 户　编号（必填）* ")
'户编号'
>>> map_headers(["户编号", "户主姓名", "经度", "纬度", "2016年人均纯收入"], "households").fields
{'户编号': 'household_no', '户主姓名': 'head_name', '经度': 'longitude', '纬度': 'latitude', \
'2016年人均纯收入': 'income_2016'}
>>> code_for_value("cause", "因病致贫")
'illness'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from geo import vocab

# --- headers -----------------------------------------------------------------------------

# Where a place is, shared by the point layers.
_LONLAT = {
    "longitude": ("经度", "东经", "gps经度", "lon", "lng", "long", "longitude", "x", "x坐标"),
    "latitude": ("纬度", "北纬", "gps纬度", "lat", "latitude", "y", "y坐标"),
    "wkt": ("wkt", "geometry", "geom", "几何", "空间信息", "the_geom"),
}
_TOWNSHIP_REF = {
    "township": (
        "乡镇",
        "镇",
        "乡",
        "所在镇",
        "所在乡镇",
        "乡镇名称",
        "镇名",
        "所属乡镇",
        "乡(镇)",
        "乡镇代码",
        "镇代码",
        "乡镇编码",
        "township",
        "township_code",
        "township_name",
    ),
}
_VILLAGE_REF = {
    "village": (
        "所在村",
        "行政村",
        "村",
        "村名",
        "村名称",
        "村委会",
        "所属村",
        "村代码",
        "行政村代码",
        "村编码",
        "village",
        "village_code",
        "village_name",
    ),
}
_SYNTHETIC = {"synthetic": ("synthetic", "模拟数据", "合成数据", "synthetic_data")}

FIELD_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "boundaries": {
        "code": ("code", "县代码", "区县代码", "县级代码", "行政区划代码", "代码", "adcode"),
        "name": ("name", "县名", "县区名称", "名称", "县(市、区)"),
        "city": ("city", "地级市", "市", "所属市", "市名"),
        "city_code": ("city_code", "市代码", "地级市代码"),
        "pairing_city": ("pairing_city", "对口帮扶市", "对口帮扶城市", "帮扶市"),
        **_SYNTHETIC,
    },
    "townships": {
        "code": ("code", "乡镇代码", "镇代码", "乡镇编码", "代码", "行政区划代码", "township_code"),
        "county_code": ("county_code", "县代码", "区县代码", "所属县代码"),
        "name": ("name", "乡镇名称", "乡镇", "镇名", "名称", "township_name"),
        "seat_longitude": ("seat_longitude", "驻地经度", "政府驻地经度"),
        "seat_latitude": ("seat_latitude", "驻地纬度", "政府驻地纬度"),
        **_SYNTHETIC,
    },
    "villages": {
        "code": ("code", "村代码", "行政村代码", "村编码", "代码", "行政区划代码", "village_code"),
        "name": ("name", "村名", "村名称", "行政村", "名称", "village_name"),
        "township_code": ("township_code", "乡镇代码", "镇代码", "所属乡镇代码"),
        "is_poor_village": ("is_poor_village", "是否贫困村", "贫困村", "相对贫困村"),
        "key_level": ("key_level", "贫困村级别", "重点村", "省定贫困村", "重点帮扶村"),
        "helping_unit": ("helping_unit", "帮扶单位", "对口帮扶单位", "驻村帮扶单位"),
        "first_secretary": ("first_secretary", "第一书记", "驻村第一书记"),
        "has_standard_clinic": ("has_standard_clinic", "标准化卫生站", "有标准化卫生站"),
        "piped_water": ("piped_water", "通自来水", "自来水", "是否通自来水"),
        "population": ("population", "人口", "户籍人口", "总人口", "人口数"),
        **_SYNTHETIC,
    },
    "hamlets": {
        "name": ("name", "自然村", "自然村名称", "村民小组", "名称", "hamlet", "hamlet_name"),
        **_VILLAGE_REF,
        **_TOWNSHIP_REF,
        "population": ("population", "人口", "人口数", "户籍人口"),
        "road_hardened": ("road_hardened", "道路硬化", "通硬化路", "是否通硬化路"),
        "piped_water": ("piped_water", "通自来水", "自来水", "是否通自来水"),
        **_LONLAT,
        **_SYNTHETIC,
    },
    "households": {
        "household_no": (
            "household_no",
            "户编号",
            "户号",
            "户编码",
            "贫困户编号",
            "家庭编号",
            "建档立卡户编号",
            "户码",
        ),
        "head_name": ("head_name", "户主姓名", "户主", "户主名", "姓名"),
        "id_number": (
            "id_number",
            "身份证号",
            "身份证号码",
            "户主身份证号",
            "户主身份证号码",
            "证件号码",
            "公民身份号码",
        ),
        "phone": ("phone", "联系电话", "电话", "手机", "手机号", "手机号码", "联系方式"),
        "members": (
            "members",
            "家庭人口数",
            "家庭人口",
            "人口数",
            "户人口数",
            "家庭成员数",
            "人数",
        ),
        "labour_members": ("labour_members", "劳动力人数", "劳动力", "劳动力数", "有劳动能力人数"),
        "category": ("category", "贫困户属性", "贫困户类型", "户属性", "贫困类型", "类别"),
        "main_cause": ("main_cause", "主要致贫原因", "致贫原因"),
        "secondary_cause": ("secondary_cause", "次要致贫原因", "其他致贫原因"),
        "housing_status": (
            "housing_status",
            "住房状况",
            "住房情况",
            "住房安全",
            "住房",
            "危房情况",
        ),
        "status": ("status", "脱贫状态", "贫困状态", "脱贫情况", "状态"),
        "exit_year": ("exit_year", "脱贫年度", "脱贫年份", "脱贫时间"),
        "registered_year": ("registered_year", "建档立卡年度", "识别年度", "纳入年度", "建档年度"),
        "cadre": ("cadre", "帮扶责任人", "帮扶人", "帮扶干部", "责任人", "cadre_name"),
        "cadre_id": ("cadre_id",),
        "hamlet": ("hamlet", "自然村", "所在自然村", "村民小组", "hamlet_name"),
        "hamlet_id": ("hamlet_id",),
        "scattered": ("scattered", "分散贫困户", "是否分散"),
        "income": ("income", "人均纯收入", "人均可支配收入", "家庭人均纯收入", "per_capita_income"),
        "income_year": ("income_year", "收入年度", "收入年份"),
        "effective_date": ("effective_date", "生效日期", "变更日期", "生效时间", "变更时间"),
        "listed_road_km": ("listed_road_km", "与村主干路距离", "距村主干路距离", "与主干路距离"),
        "listed_road_surface": ("listed_road_surface", "入户路类型", "入户路面类型"),
        "listed_safe_water": ("listed_safe_water", "是否有安全饮水", "安全饮水", "是否饮水安全"),
        **_VILLAGE_REF,
        **_TOWNSHIP_REF,
        **_LONLAT,
        **_SYNTHETIC,
    },
    "cadres": {
        "name": ("name", "姓名", "帮扶责任人", "干部姓名"),
        "unit": ("unit", "单位", "工作单位", "帮扶单位", "所在单位"),
        "unit_level": ("unit_level", "单位级别", "单位层级", "单位性质"),
        "phone": ("phone", "联系电话", "电话", "手机", "手机号", "手机号码"),
        **_TOWNSHIP_REF,
        **_SYNTHETIC,
    },
    "help-records": {
        "household_no": ("household_no", "户编号", "户号", "户编码", "贫困户编号"),
        "date": ("date", "帮扶日期", "日期", "帮扶时间", "时间"),
        "cadre": ("cadre", "帮扶责任人", "帮扶人", "帮扶干部", "责任人", "cadre_name"),
        "measure": ("measure", "帮扶措施", "措施", "帮扶类型"),
        "note": ("note", "帮扶内容", "内容", "备注", "说明"),
        "amount": ("amount", "金额", "帮扶金额", "资金", "金额(元)"),
        "signed_household": ("signed_household", "户主签字", "户主签名", "贫困户签字"),
        "signed_village": ("signed_village", "村签字", "村委签字", "村干部签字"),
        "signed_cadre": ("signed_cadre", "责任人签字", "干部签字", "帮扶人签字"),
    },
    "roads": {
        "name": ("name", "道路名称", "路名", "名称"),
        "road_class": ("road_class", "道路等级", "行政等级", "等级"),
        "surface": ("surface", "路面", "路面类型", "路面状况", "路面材料"),
        "wkt": _LONLAT["wkt"],
        **_SYNTHETIC,
    },
    "clinics": {
        "name": ("name", "名称", "机构名称", "卫生站名称"),
        "level": ("level", "级别", "机构级别", "医疗机构级别", "类型"),
        "standard": ("standard", "标准化", "是否标准化", "标准化卫生站"),
        **_TOWNSHIP_REF,
        **_VILLAGE_REF,
        **_LONLAT,
        **_SYNTHETIC,
    },
    "water": {
        "name": ("name", "名称", "水源名称"),
        "kind": ("kind", "类型", "水源类型", "设施类型"),
        **_LONLAT,
        **_SYNTHETIC,
    },
    "schools": {
        "name": ("name", "名称", "学校名称"),
        "level": ("level", "学段", "级别", "类型", "学校类型"),
        **_LONLAT,
        **_SYNTHETIC,
    },
    "hazards": {
        "kind": ("kind", "灾害类型", "类型", "隐患类型"),
        "level": ("level", "风险等级", "等级", "危险等级"),
        "wkt": _LONLAT["wkt"],
        **_SYNTHETIC,
    },
}

# Year-stamped income columns: 2016年人均纯收入, 人均可支配收入2016, income_2016 …
_INCOME = re.compile(
    r"^(?:income_?(\d{4})|inc_?(\d{4})|(\d{4})年?(?:家庭)?人均(?:纯|可支配)收入|"
    r"(?:家庭)?人均(?:纯|可支配)收入\(?(\d{4})年?\)?)$"
)
_COLLECTIVE = re.compile(
    r"^(?:collective_income_?(\d{4})|cinc_?(\d{4})|(\d{4})年?村?集体(?:经济)?收入)$"
)
_UNIT_SUFFIX = re.compile(r"\((?:元|人|个|户|年|必填|选填|可选|万元|元/人)\)$")


def normalise_header(header: object) -> str:
    """A header reduced to what identifies it: NFKC, no spaces, stars or units, lower case.

    >>> normalise_header("家庭人口数（人）")
    '家庭人口数'
    >>> normalise_header("Household_No ")
    'household_no'
    """
    text = unicodedata.normalize("NFKC", str(header))
    text = re.sub(r"[\s*:：]", "", text).lower()
    return _UNIT_SUFFIX.sub("", text)


@dataclass
class HeaderMap:
    """Which file column feeds which field; unknown columns are ignored (and reported)."""

    fields: dict[str, str] = field(default_factory=dict)  # file header -> field
    unknown: list[str] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # field -> headers

    def column_of(self, name: str) -> str | None:
        """The file header mapped to field ``name``, if any."""
        return next((h for h, f in self.fields.items() if f == name), None)

    @property
    def income_years(self) -> dict[int, str]:
        """Year → field name of year-stamped per-capita incomes."""
        return {int(f[7:]): f for f in self.fields.values() if re.fullmatch(r"income_\d{4}", f)}


def map_headers(
    headers: Iterable[object], kind: str, overrides: Mapping[str, str] | None = None
) -> HeaderMap:
    """Map file headers onto the fields of ``kind``; ``overrides`` (header → field) win.

    Two headers for one field are reported in ``duplicates`` (the first one is used).

    >>> m = map_headers(["户　编　号", "ＰＨＯＮＥ", "备注"], "households")
    >>> m.fields, m.unknown
    ({'户　编　号': 'household_no', 'ＰＨＯＮＥ': 'phone'}, ['备注'])
    """
    lookup = _alias_lookup(kind)
    forced = {normalise_header(h): f for h, f in (overrides or {}).items()}
    result = HeaderMap()
    for header in headers:
        key = normalise_header(header)
        name = forced.get(key) or lookup.get(key) or _year_field(key, kind)
        if name is None:
            result.unknown.append(str(header))
        elif name in result.fields.values():
            result.duplicates.setdefault(name, [result.column_of(name)]).append(str(header))
        else:
            result.fields[str(header)] = name
    return result


def known_fields(kind: str) -> tuple[str, ...]:
    """The fields a file of ``kind`` may have (besides year-stamped incomes)."""
    return tuple(FIELD_ALIASES[kind])


def _year_field(key: str, kind: str) -> str | None:
    if kind not in ("households", "villages"):
        return None
    match = _INCOME.match(key)
    if match:
        return f"income_{next(g for g in match.groups() if g)}"
    match = _COLLECTIVE.match(key) if kind == "villages" else None
    return f"collective_income_{next(g for g in match.groups() if g)}" if match else None


@cache
def _alias_lookup(kind: str) -> dict[str, str]:
    if kind not in FIELD_ALIASES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(FIELD_ALIASES)}")
    lookup: dict[str, str] = {}
    for name, aliases in FIELD_ALIASES[kind].items():
        for alias in (name, *aliases):
            lookup.setdefault(normalise_header(alias), name)
        for alias in (name, *aliases):  # DBF names are 10 bytes: labour_mem, 主要致贫原 (GBK)
            cut = 10 if alias.isascii() else 5
            lookup.setdefault(normalise_header(alias)[:cut], name)
    return lookup


# --- values ------------------------------------------------------------------------------

# Neutralised formula cells (see geo.masking.neutralise_formula) get their quote back off.
_QUOTED_FORMULA = re.compile(r"^'(?=[=+\-@\t\r])")


def clean_text(value: object) -> str | None:
    """A cell as text: NFKC, trimmed, None when blank; numbers as written (3.0 → '3').

    >>> clean_text("  张　三 "), clean_text(""), clean_text(float("nan")), clean_text(3.0)
    ('张 三', None, None, '3')
    >>> clean_text("'=1+1")
    '=1+1'
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = _QUOTED_FORMULA.sub("", text)
    return text or None


def clean_series(series: pd.Series) -> pd.Series:
    """:func:`clean_text` over a Series (vectorised with pyarrow for text columns).

    >>> clean_series(pd.Series(["  户 ", "", None, "'=1"])).tolist()
    ['户', None, None, '=1']
    """
    cleaned = clean_strings(series)
    if cleaned is not None:
        return pd.Series(cleaned.to_numpy(zero_copy_only=False), index=series.index, dtype=object)
    return map_distinct(series, clean_text)


def clean_strings(series: pd.Series):
    """A pyarrow array of cleaned text when every value is text or missing, else None."""
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    array = pc.utf8_trim_whitespace(pc.utf8_normalize(array, "NFKC"))
    array = pc.replace_substring_regex(array, r"^'([=+\-@\t\r])", r"\1")
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def map_distinct(series: pd.Series, func) -> pd.Series:
    """``series.map(func)`` evaluating ``func`` once per distinct value (lists repeat a lot)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = np.empty(len(uniques) + 1, dtype=object)  # the trailing None is for NA (code -1)
    values[:-1] = [func(u) for u in uniques]
    return pd.Series(values[codes], index=series.index, dtype=object)


# Words that offices write for our codes, beyond the code and the Chinese label themselves.
VALUE_SYNONYMS: dict[str, dict[str, str]] = {
    "category": {
        "一般户": "general",
        "一般": "general",
        "低保": "dibao",
        "低保贫困户": "dibao",
        "五保户": "tekun",
        "五保": "tekun",
        "特困户": "tekun",
        "特困": "tekun",
        "特困供养": "tekun",
        "分散供养特困人员": "tekun",
        "集中供养特困人员": "tekun",
    },
    "cause": {
        "缺少土地": "land",
        "缺劳动力": "labour",
        "缺少劳动力": "labour",
        "缺少技术": "skills",
        "缺少资金": "capital",
        "交通落后": "transport",
        "内生动力不足": "motivation",
        "其它": "other",
    },
    "status": {
        "脱贫": "exited",
        "已退出": "exited",
        "稳定脱贫": "exited",
        "贫困": "poor",
        "未退出": "poor",
        "在档": "poor",
        "返贫户": "returned",
    },
    "housing_status": {
        "安全": "safe",
        "住房安全": "safe",
        "c级": "dangerous_c",
        "d级": "dangerous_d",
        "危房已改造": "renovated",
        "易地搬迁": "relocated",
        "搬迁": "relocated",
    },
    "road_class": {
        "g": "national",
        "s": "provincial",
        "x": "county",
        "y": "township",
        "c": "village",
        "z": "village",
        "村级道路": "village",
        "乡村道": "village",
    },
    "surface": {
        "水泥": "hardened",
        "水泥路": "hardened",
        "沥青": "hardened",
        "沥青路": "hardened",
        "硬底化": "hardened",
        "硬化路": "hardened",
        "水泥硬化路": "hardened",
        "柏油路": "hardened",
        "泥土路": "earth",
        "碎石": "gravel",
        "砂石路": "gravel",
        "泥土": "earth",
        "泥路": "earth",
        "土": "earth",
    },
    "clinic_level": {
        "县人民医院": "county_hospital",
        "县级医院": "county_hospital",
        "卫生院": "township_health_centre",
        "镇卫生院": "township_health_centre",
        "卫生站": "village_clinic",
        "村卫生室": "village_clinic",
        "卫生室": "village_clinic",
    },
    "water_kind": {
        "自来水厂": "waterworks",
        "水源地": "intake",
        "取水口": "intake",
        "供水区": "supply_area",
    },
    "school_level": {
        "完小": "primary",
        "中心小学": "primary",
        "初级中学": "junior",
        "高级中学": "senior",
    },
    "hazard_kind": {
        "滑坡": "landslide",
        "崩塌": "landslide",
        "洪水": "flood",
        "内涝": "flood",
        "山洪": "flood",
    },
    "hazard_level": {"低风险": "low", "中风险": "medium", "高风险": "high", "极高": "high"},
    "unit_level": {
        "省": "province",
        "市": "city",
        "县": "county",
        "镇": "township",
        "乡": "township",
    },
    "measure": {
        "产业扶贫": "industry",
        "就业帮扶": "employment",
        "就业扶贫": "employment",
        "兜底保障": "social_security",
        "社会保障兜底": "social_security",
        "教育扶贫": "education",
        "医疗救助": "medical",
        "健康扶贫": "medical",
        "小额信贷": "finance",
        "扶贫小额信贷": "finance",
        "资产收益扶贫": "asset_income",
    },
    "key_level": {"省定": "provincial", "省级": "provincial", "是": "provincial"},
}

TRUE_WORDS = frozenset({"是", "有", "y", "yes", "true", "t", "1", "√", "✓", "已签", "已签字"})
FALSE_WORDS = frozenset({"否", "无", "没有", "n", "no", "false", "f", "0", "×", "✗", "未签"})


def _value_key(text: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", text)).lower()


@cache
def _value_lookup(vocab_name: str) -> dict[str, str]:
    values = vocab.VOCABS[vocab_name]
    lookup = {_value_key(k): v for k, v in VALUE_SYNONYMS.get(vocab_name, {}).items()}
    for code, label in values.items():
        lookup[_value_key(code)] = code
        lookup[_value_key(label)] = code
    return lookup


def code_for_value(vocab_name: str, value: object) -> str | None:
    """The code of a value-set entry written as code, Chinese label or a common synonym.

    None when blank; ValueError naming the choices when unknown. ``…致贫`` is the cause.

    >>> code_for_value("category", "低保户"), code_for_value("status", " 已脱贫 ")
    ('dibao', 'exited')
    >>> code_for_value("road_class", "X")
    'county'
    """
    text = clean_text(value)
    if text is None:
        return None
    lookup = _value_lookup(vocab_name)
    key = _value_key(text)
    code = lookup.get(key) or lookup.get(key.removesuffix("致贫"))
    if code is None:
        choices = "、".join(vocab.VOCABS[vocab_name].values())
        raise ValueError(f"unknown value {text!r}; expected one of {choices}")
    return code


def bool_for_value(value: object) -> bool | None:
    """是/否, 有/无, Y/N, true/false, 1/0, √/× as booleans; None when blank.

    >>> bool_for_value("是"), bool_for_value("N"), bool_for_value(None)
    (True, False, None)
    """
    if isinstance(value, bool):
        return value
    text = clean_text(value)
    if text is None:
        return None
    key = text.lower()
    if key in TRUE_WORDS:
        return True
    if key in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not yes/no (是/否)")
