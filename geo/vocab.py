"""Value sets of the data model: stable English code (stored) → Chinese label (shown).

Pure Python, no database imports. The order of each dict is the display order.
Seeds are the policy texts in shared/seeds/ (000: 2009 规划到户 opinion, 001: Lianzhou 2013
plan, 002: 粤发〔2016〕13号, 003: 分散贫困人口工作方案, 004: 乡镇帮扶工作组意见).

Migrations copy these code lists literally (they are frozen history and must not import this
module); a change here needs a new migration that changes the CHECK constraint too.
"""

from __future__ import annotations

from collections.abc import Mapping

# 建档立卡 household category, the national categories (seeds 000/003; 低保/五保 in 001, 002).
CATEGORY: dict[str, str] = {
    "general": "一般贫困户",
    "dibao": "低保户",
    "tekun": "特困供养户",
}

# 致贫原因, the national list of causes of poverty (card fields, seeds 000/003/004).
CAUSE: dict[str, str] = {
    "illness": "因病",
    "disability": "因残",
    "education": "因学",
    "disaster": "因灾",
    "land": "缺土地",
    "water": "缺水",
    "skills": "缺技术",
    "labour": "缺劳力",
    "capital": "缺资金",
    "transport": "交通条件落后",
    "motivation": "自身发展动力不足",
    "other": "其他",
}

# Household poverty status; 返贫 named in seed 003 ("防止因病致贫、因贫返贫").
STATUS: dict[str, str] = {
    "poor": "未脱贫",
    "exited": "已脱贫",
    "returned": "返贫",
}

# Housing safety, for 危房改造 (seed 003 measure 7) and 搬迁安置 (seeds 001/002).
HOUSING_STATUS: dict[str, str] = {
    "safe": "安全住房",
    "dangerous_c": "C级危房",
    "dangerous_d": "D级危房",
    "renovated": "已改造",
    "relocated": "已搬迁",
}

# Administrative road class (seed 002 §11: 国省道、县乡公路和农村公路).
ROAD_CLASS: dict[str, str] = {
    "national": "国道",
    "provincial": "省道",
    "county": "县道",
    "township": "乡道",
    "village": "村道",
}

# Road surface; 硬化 is what seed 002 §11 targets (自然村道路路面硬化).
SURFACE: dict[str, str] = {
    "hardened": "硬化",
    "gravel": "砂石",
    "earth": "土路",
}

# The county–township–village three-level health network (seed 002 §9).
CLINIC_LEVEL: dict[str, str] = {
    "county_hospital": "县医院",
    "township_health_centre": "乡镇卫生院",
    "village_clinic": "村卫生站",
}

# Household member health (card "基本情况", seeds 003/004).
HEALTH: dict[str, str] = {
    "healthy": "健康",
    "chronic": "慢性病",
    "serious": "大病",
    "disabled": "残疾",
}

# Labour capability of a member (有/丧失劳动能力, seeds 001/003/004).
LABOUR_CAPACITY: dict[str, str] = {
    "ordinary": "普通劳动力",
    "skilled": "技能劳动力",
    "weak": "弱劳动力或半劳动力",
    "lost": "丧失劳动力",
    "none": "无劳动力",
}

# Schooling of a member (教育资助到户, seed 003 measure 5).
SCHOOLING: dict[str, str] = {
    "none": "文盲或半文盲",
    "preschool": "学前",
    "primary": "小学",
    "junior": "初中",
    "senior": "高中",
    "vocational": "中职",
    "college": "大专及以上",
    "in_school": "在校生",
}

# Relation of a member to the household head (card, seeds 000/003).
RELATION: dict[str, str] = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "sibling": "兄弟姐妹",
    "other": "其他",
}

# The "九到户" help measures, in the order of seed 003 (also listed in seed 004 §四).
MEASURE: dict[str, str] = {
    "policy": "政策宣传",
    "industry": "产业帮扶",
    "employment": "就业服务",
    "social_security": "社会保障",
    "education": "教育资助",
    "medical": "医保救助",
    "housing": "危房改造",
    "finance": "金融扶持",
    "asset_income": "资产收益",
}

# Geological-hazard and flood zones (seed 002 §11: 山洪和地质灾害防治).
HAZARD_KIND: dict[str, str] = {
    "landslide": "滑坡崩塌",
    "debris_flow": "泥石流",
    "flood": "洪涝",
}

HAZARD_LEVEL: dict[str, str] = {
    "low": "低",
    "medium": "中",
    "high": "高",
}

# Water supply features (seed 002 §11: 村村通自来水, 饮水安全).
WATER_KIND: dict[str, str] = {
    "waterworks": "水厂",
    "reservoir": "水库",
    "intake": "取水点",
    "supply_area": "供水范围",
}

# School levels (compulsory education guarantee, seeds 002/003).
SCHOOL_LEVEL: dict[str, str] = {
    "primary": "小学",
    "teaching_point": "教学点",
    "junior": "初中",
    "senior": "高中",
}

# Key (poor) village level; NULL in the database means not a key village (seeds 001/002).
KEY_LEVEL: dict[str, str] = {
    "provincial": "省定贫困村",
}

# Level of a cadre's unit (省直/市直/县直 helping units, seeds 001/003/004).
UNIT_LEVEL: dict[str, str] = {
    "province": "省直",
    "city": "市直",
    "county": "县直",
    "township": "乡镇",
    "village": "村",
}

# Role in a township work group: 组长、副组长各1名 (seed 004 §一).
WG_ROLE: dict[str, str] = {
    "leader": "组长",
    "deputy": "副组长",
    "member": "成员",
}

# Outcome of an inspector's visit (督查/抽查, seed 001).
VISIT_RESULT: dict[str, str] = {
    "confirmed": "核实无误",
    "issues": "发现问题",
    "absent": "未遇",
}

# Why a visit recorded on a phone may not have been made at the door (seed 003 "数字脱贫").
VISIT_FLAG: dict[str, str] = {
    "far": "离户过远",
    "quick": "录入过快",
    "no_position": "无定位",
}

# Roles of API users (DESIGN.md: `gongjian user add --role`); no seed.
ROLE: dict[str, str] = {
    "viewer": "只读",
    "editor": "编辑",
    "inspector": "督查",
    "admin": "管理员",
}

# Sex of a household member, stored as M/F.
SEX: dict[str, str] = {
    "M": "男",
    "F": "女",
}

# Actions recorded in audit_log.
AUDIT_ACTION: dict[str, str] = {
    "insert": "新增",
    "update": "修改",
    "delete": "删除",
    "import": "导入",
}

# Kinds of raster registered in the raster table (the DEM lives on disk as GeoTIFF).
RASTER_KIND: dict[str, str] = {
    "dem": "数字高程模型",
}

# Every value set by name, for importers and the API's enumerations.
VOCABS: dict[str, dict[str, str]] = {
    "category": CATEGORY,
    "cause": CAUSE,
    "status": STATUS,
    "housing_status": HOUSING_STATUS,
    "road_class": ROAD_CLASS,
    "surface": SURFACE,
    "clinic_level": CLINIC_LEVEL,
    "health": HEALTH,
    "labour_capacity": LABOUR_CAPACITY,
    "schooling": SCHOOLING,
    "relation": RELATION,
    "measure": MEASURE,
    "hazard_kind": HAZARD_KIND,
    "hazard_level": HAZARD_LEVEL,
    "water_kind": WATER_KIND,
    "school_level": SCHOOL_LEVEL,
    "key_level": KEY_LEVEL,
    "unit_level": UNIT_LEVEL,
    "wg_role": WG_ROLE,
    "visit_result": VISIT_RESULT,
    "visit_flag": VISIT_FLAG,
    "role": ROLE,
    "sex": SEX,
    "audit_action": AUDIT_ACTION,
    "raster_kind": RASTER_KIND,
}


def label(vocab: Mapping[str, str], code: str) -> str:
    """The Chinese label of ``code``; ValueError naming the allowed codes if unknown."""
    try:
        return vocab[code]
    except KeyError:
        raise ValueError(f"unknown code {code!r}; expected one of {', '.join(vocab)}") from None


def code_for(vocab: Mapping[str, str], text: str) -> str:
    """The code for ``text``, given either as a code or as its Chinese label.

    Surrounding whitespace is ignored; anything else raises ValueError listing the choices.
    """
    value = text.strip()
    if value in vocab:
        return value
    for code, name in vocab.items():
        if name == value:
            return code
    choices = ", ".join(f"{code} ({name})" for code, name in vocab.items())
    raise ValueError(f"unknown value {text!r}; expected one of {choices}")
