"""Person-level lists (one row per person) as households plus members; no database.

The national registration system (全国扶贫开发信息系统) and the townships' 花名册 list people:
户编号 groups the rows, 与户主关系 marks the head (户主), the household's facts repeat on every
row or sit in vertically merged cells. :func:`group_persons` turns such rows into one row per
household (the household importer's fields: head's name and ID number, members counted from
the rows, facts from the head's row) and one row per member, checking on the way:

* one 户主 per household, and a person (ID number) in one household only;
* each person's 性别 and 出生日期 against the ID number (GB 11643: digits 7–14 the birth
  date, digit 17 odd for men, even for women);
* household facts that two rows of one household state differently.

Problems name the row (as the file numbers it) and the column (as the file heads it).

>>> normalise_relation("之子"), normalise_relation("户主"), normalise_relation("儿媳")
('child', 'head', 'other')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from geo import idnumber
from geo.columns import clean_text, code_for_value, normalise_header
from geo.validate import Problem

# Columns of person-level lists → our field names. Household facts are marked below.
PERSON_ALIASES: dict[str, tuple[str, ...]] = {
    "household_no": ("户编号", "户编码", "户号", "家庭编号", "贫困户编号"),
    "person_no": ("人编号", "序号", "成员编号", "人员编号"),
    "name": ("姓名", "成员姓名", "人员姓名"),
    "id_number": ("证件号码", "身份证号", "身份证号码", "公民身份号码", "证件号"),
    "relation": ("与户主关系", "与户主的关系"),
    "sex": ("性别",),
    "birth_date": ("出生日期", "出生年月"),
    "ethnicity": ("民族",),
    "schooling": ("文化程度",),
    "in_school": ("在校生状况", "在校生情况"),
    "health": ("健康状况",),
    "labour": ("劳动技能", "劳动能力"),
    "work": ("务工状况", "务工情况"),
    "category": ("贫困户属性", "贫困户类型"),
    "main_cause": ("主要致贫原因", "致贫原因"),
    "status": ("脱贫属性", "脱贫标志", "脱贫状态", "贫困户状态"),
    "exit_year": ("脱贫年度", "脱贫年份"),
    "registered_year": ("识别年度", "建档立卡年度"),
    "income": ("人均纯收入", "家庭人均纯收入", "人均可支配收入"),
    "income_year": ("收入年度",),
    "phone": ("联系电话", "电话"),
    "farmland": ("耕地面积",),
    "road_distance": ("与村主干路距离",),
    "road_type": ("入户路类型",),
    "dangerous_house": ("是否危房户", "危房户"),
    "safe_water": ("是否有安全饮水", "安全饮水", "是否饮水安全"),
    "township": ("乡镇", "乡(镇)", "镇"),
    "village": ("行政村", "村", "所在村"),
    "hamlet": ("自然村", "村民小组"),
    "cadre": ("帮扶责任人",),
    "longitude": ("经度",),
    "latitude": ("纬度",),
    "effective_date": ("生效日期", "变更日期"),
}
# Facts of the household (the head's row holds them; others repeat them or are merged)
HOUSEHOLD_FACTS = (
    "category", "main_cause", "status", "exit_year", "registered_year", "income",
    "income_year", "phone", "dangerous_house", "township", "village", "hamlet", "cadre",
    "longitude", "latitude", "effective_date", "road_distance", "road_type", "safe_water",
)  # fmt: skip
# Listed but not (yet) stored: reported as ignored
NOT_STORED = ("person_no", "ethnicity", "work", "farmland")
# Our household field → the household importer's header (geo.columns aliases)
HOUSEHOLD_HEADERS = {
    "household_no": "户编号", "head_name": "户主姓名", "id_number": "身份证号",
    "members": "家庭人口数", "labour_members": "劳动力人数", "category": "贫困户属性",
    "main_cause": "主要致贫原因", "status": "脱贫状态", "exit_year": "脱贫年度",
    "registered_year": "识别年度", "income": "人均纯收入", "income_year": "收入年度",
    "phone": "联系电话", "housing_status": "住房状况", "township": "乡镇", "village": "所在村",
    "hamlet": "自然村", "cadre": "帮扶责任人", "longitude": "经度", "latitude": "纬度",
    "effective_date": "生效日期", "road_distance": "与村主干路距离", "road_type": "入户路类型",
    "safe_water": "是否有安全饮水",
}  # fmt: skip
TOTAL_WORDS = ("合计", "总计", "小计")

RELATION_WORDS = {
    "户主": "head", "本人": "head", "配偶": "spouse", "妻子": "spouse", "丈夫": "spouse",
    "子": "child", "女": "child", "儿子": "child", "女儿": "child", "子女": "child",
    "父": "parent", "母": "parent", "父亲": "parent", "母亲": "parent", "父母": "parent",
    "孙子": "grandchild", "孙女": "grandchild", "孙子女": "grandchild", "外孙子": "grandchild",
    "外孙女": "grandchild", "兄": "sibling", "弟": "sibling", "姐": "sibling", "妹": "sibling",
    "兄弟": "sibling", "姐妹": "sibling", "兄弟姐妹": "sibling",
}  # fmt: skip
HEALTH_WORDS = {"健康": "healthy", "长期慢性病": "chronic", "患有大病": "serious",
                "大病": "serious", "残疾": "disabled", "慢性病": "chronic"}  # fmt: skip
LABOUR_WORDS = {"普通劳动力": "ordinary", "技能劳动力": "skilled", "弱劳动力或半劳动力": "weak",
                "弱劳动力": "weak", "半劳动力": "weak", "丧失劳动力": "lost",
                "无劳动力": "none"}  # fmt: skip
ABLE = frozenset({"ordinary", "skilled", "weak"})
SCHOOLING_WORDS = {"文盲或半文盲": "none", "文盲": "none", "半文盲": "none",
                   "学前儿童": "preschool", "学龄前儿童": "preschool", "学前": "preschool",
                   "小学": "primary",
                   "初中": "junior", "高中": "senior", "中专": "vocational", "中职": "vocational",
                   "大专": "college", "本科": "college", "大专及以上": "college"}  # fmt: skip
NOT_IN_SCHOOL = frozenset({"非在校生", "否", "无", "不在校"})


def normalise_relation(value: object) -> str | None:
    """与户主关系 as our code: 户主 → head, 之子/儿子 → child, …; anything else 'other'."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.removeprefix("之")
    return RELATION_WORDS.get(text, "other")


def map_person_headers(headers: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """File header → field for the known columns, and the headers not recognised."""
    lookup = {normalise_header(a): f for f, aliases in PERSON_ALIASES.items() for a in aliases}
    fields: dict[str, str] = {}
    unknown = []
    for header in headers:
        name = lookup.get(normalise_header(header))
        if name is None or name in fields.values():
            unknown.append(str(header))
        else:
            fields[str(header)] = name
    return fields, unknown


def is_person_list(headers: Sequence[object]) -> bool:
    """A list with a 与户主关系 column is one row per person."""
    return any(normalise_header(h) in ("与户主关系", "与户主的关系") for h in headers)


@dataclass
class Grouped:
    """The households (the household importer's headers) and their members."""

    households: pd.DataFrame
    household_rows: list[int]  # the row each household is reported on (its head's)
    members: pd.DataFrame  # household_no, name, id_number, relation, sex, birth_year, …
    problems: list[Problem] = field(default_factory=list)  # index = file row number
    notes: list[str] = field(default_factory=list)


def group_persons(frame: pd.DataFrame, rows: Sequence[int], labels: Mapping[str, str]) -> Grouped:
    """Group person rows (columns already renamed to fields) into households and members.

    ``rows``: the file's row number of each data row; ``labels``: field → the file's header,
    for messages. Problems carry the file row number in ``index``.
    """
    frame = frame.reset_index(drop=True).copy()
    frame["file_row"] = list(rows)
    problems: list[Problem] = []

    def problem(row: int, name: str, message: str) -> None:
        problems.append(Problem(int(row), labels.get(name, name), message))

    for name in ("household_no", "name", "relation"):
        if name not in frame:
            problems.append(Problem(-1, name, f"column missing (e.g. {PERSON_ALIASES[name][0]})"))
    if problems:
        return Grouped(pd.DataFrame(), [], pd.DataFrame(), problems)
    frame["household_no"] = frame["household_no"].map(clean_text)
    frame["relation_code"] = frame["relation"].map(normalise_relation)
    for row in frame.loc[frame["household_no"].isna(), "file_row"]:
        problem(row, "household_no", "missing")
    for row in frame.loc[frame["relation_code"].isna(), "file_row"]:
        problem(row, "relation", "missing")
    frame = frame[frame["household_no"].notna()]
    _check_id_numbers(frame, problem)
    members = _members(frame, problem)
    households, household_rows = _households(frame, members, problem)
    return Grouped(households, household_rows, members, problems)


def _check_id_numbers(frame: pd.DataFrame, problem) -> None:
    """Valid, consistent with 性别 and 出生日期, and in one household only."""
    if "id_number" not in frame:
        return
    seen: dict[str, tuple[str, int]] = {}
    for row in frame.itertuples(index=False):
        number = clean_text(row.id_number)
        if number is None:
            continue
        invalid = idnumber.explain_invalid(number)
        if invalid:
            problem(row.file_row, "id_number", f"{number!r}: {invalid}")
            continue
        if number in seen:
            where, first = seen[number]
            problem(
                row.file_row, "id_number", f"the same person as row {first} (household {where})"
            )
            continue
        seen[number] = (row.household_no, row.file_row)
        male = int(number[16]) % 2 == 1
        sex = clean_text(getattr(row, "sex", None))
        if sex is not None and sex in ("男", "女") and (sex == "男") != male:
            stated = "男" if male else "女"
            problem(row.file_row, "sex", f"{sex} but the ID number says {stated} (its 17th digit)")
        born = idnumber.birth_date(number)
        stated_birth = _date_text(getattr(row, "birth_date", None))
        if (
            stated_birth is not None
            and born is not None
            and not born.isoformat().startswith(stated_birth)
        ):
            problem(
                row.file_row,
                "birth_date",
                f"{stated_birth} but the ID number says {born.isoformat()} (digits 7–14)",
            )


def _date_text(value: object) -> str | None:
    """出生日期 as 1980-03-05 or 1980-03 (a 出生年月), for comparing with the ID number."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = clean_text(value) or ""
    match = re.fullmatch(r"(\d{4})[-/.年]?(\d{1,2})(?:[-/.月]?(\d{1,2})日?)?", text)
    if not match:
        return None
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}" + (f"-{int(day):02d}" if day else "")


def _members(frame: pd.DataFrame, problem) -> pd.DataFrame:
    def coded(name: str, words: Mapping[str, str]) -> list[str | None]:
        if name not in frame:
            return [None] * len(frame)
        result = []
        for value, row in zip(frame[name], frame["file_row"], strict=True):
            text = clean_text(value)
            code = None if text is None else words.get(text)
            if text is not None and code is None:
                problem(row, name, f"unknown value {text!r}; expected one of {'、'.join(words)}")
            result.append(code)
        return result

    ids = frame["id_number"].map(clean_text) if "id_number" in frame else None
    birth = [
        (idnumber.birth_date(i).year if i and idnumber.is_valid(i) else None)
        for i in (ids if ids is not None else [None] * len(frame))
    ]
    sex = [
        ("M" if int(i[16]) % 2 else "F") if i and idnumber.is_valid(i) else _sex(s)
        for i, s in zip(
            ids if ids is not None else [None] * len(frame),
            frame["sex"] if "sex" in frame else [None] * len(frame),
            strict=True,
        )
    ]
    schooling = coded("schooling", SCHOOLING_WORDS)
    if "in_school" in frame:
        in_school = [
            clean_text(v) is not None and clean_text(v) not in NOT_IN_SCHOOL
            for v in frame["in_school"]
        ]
        schooling = ["in_school" if s else c for s, c in zip(in_school, schooling, strict=True)]
    members = pd.DataFrame(
        {
            "household_no": frame["household_no"].to_numpy(),
            "name": frame["name"].map(clean_text).to_numpy(),
            "id_number": None if ids is None else ids.to_numpy(),
            "relation": frame["relation_code"].to_numpy(),
            "sex": sex,
            "birth_year": pd.array(birth, dtype="Int64"),
            "health": coded("health", HEALTH_WORDS),
            "labour_capacity": coded("labour", LABOUR_WORDS),
            "schooling": schooling,
            "file_row": frame["file_row"].to_numpy(),
        }
    )
    for row in members.loc[members["name"].isna(), "file_row"]:
        problem(row, "name", "missing")
    for row in members.loc[members["sex"].isna(), "file_row"]:
        problem(row, "sex", "missing (and no valid ID number to read it from)")
    return members


def _sex(value: object) -> str | None:
    text = clean_text(value)
    if text is None:
        return None
    try:
        return code_for_value("sex", text)
    except ValueError:
        return None


def _households(frame: pd.DataFrame, members: pd.DataFrame, problem):
    """One row per 户编号 (in file order), from its head's row."""
    rows = []
    household_rows = []
    for number, group in frame.groupby("household_no", sort=False):
        heads = group[group["relation_code"] == "head"]
        if heads.empty:
            problem(group["file_row"].iloc[0], "relation", f"household {number} has no 户主")
            continue
        for extra in heads["file_row"].iloc[1:]:
            first = heads["file_row"].iloc[0]
            problem(extra, "relation", f"a second 户主 in household {number} (first: row {first})")
        head = heads.iloc[0]
        row = {"household_no": number, "head_name": clean_text(head["name"])}
        if "id_number" in group:
            row["id_number"] = clean_text(head["id_number"])
        row["members"] = len(group)
        labour = members.loc[group.index.intersection(members.index), "labour_capacity"]
        if "labour" in frame:
            row["labour_members"] = int(labour.isin(ABLE).sum())
        for fact in HOUSEHOLD_FACTS:
            if fact in group:
                row[fact] = _household_fact(group, fact, head, problem)
        if "dangerous_house" in row:
            row["housing_status"] = _housing(row.pop("dangerous_house"))
        rows.append(row)
        household_rows.append(int(head["file_row"]))
    return pd.DataFrame(rows), household_rows


def _household_fact(group: pd.DataFrame, fact: str, head: pd.Series, problem) -> object:
    """The head's value (else the first stated); rows stating another value are problems."""
    values = [(clean_text(v), r) for v, r in zip(group[fact], group["file_row"], strict=True)]
    stated = [(v, r) for v, r in values if v is not None]
    if not stated:
        return None
    chosen = clean_text(head[fact])
    chosen = chosen if chosen is not None else stated[0][0]
    for value, row in stated:
        if value != chosen:
            problem(row, fact, f"{value!r} but the household's other rows say {chosen!r}")
    original = [v for v, r in zip(group[fact], group["file_row"], strict=True) if clean_text(v)]
    return next((v for v in original if clean_text(v) == chosen), chosen)


def _housing(value: object) -> str | None:
    """是否危房户: 否 → 安全住房; 是 → unknown grade (C/D), left unknown rather than guessed."""
    text = clean_text(value)
    return "安全住房" if text in ("否", "不是", "非危房") else None


def total_row_problems(
    total: Sequence[object], headers: Sequence[str], grouped: Grouped, row: int
) -> list[Problem]:
    """The 合计 row's figures against the list: ``N户`` households, ``N人`` people."""
    problems = []
    households, people = len(grouped.households), len(grouped.members)
    for header, value in zip(headers, total, strict=False):
        text = clean_text(value) or ""
        for count, unit in re.findall(r"(\d+)\s*(户|人)", text):
            actual = households if unit == "户" else people
            if int(count) != actual:
                problems.append(
                    Problem(row, header, f"合计 says {count}{unit} but the list has {actual}{unit}")
                )
    return problems


def household_frame(grouped: Grouped) -> pd.DataFrame:
    """The households under the household importer's headers."""
    return grouped.households.rename(columns=HOUSEHOLD_HEADERS)
