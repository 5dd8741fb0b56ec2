"""geo.persons on plain frames: grouping, the ID-number checks and contradicting facts."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from geo import idnumber
from geo.persons import group_persons, map_person_headers, normalise_relation

HEAD = idnumber.make("441882", dt.date(1970, 3, 5), 101)  # odd 17th digit: a man
WIFE = idnumber.make("441882", dt.date(1972, 6, 1), 102)


def frame(rows: list[dict]) -> tuple[pd.DataFrame, dict[str, str]]:
    raw = pd.DataFrame(rows, dtype=object)
    fields, _ = map_person_headers(list(raw.columns))
    return raw.rename(columns=fields), {f: h for h, f in fields.items()}


def rows(**change) -> list[dict]:
    base = [
        {"户编号": "H1", "姓名": "李大明", "证件号码": HEAD, "与户主关系": "户主", "性别": "男",
         "出生日期": "1970-03-05", "贫困户属性": "一般贫困户"},
        {"户编号": "H1", "姓名": "王小红", "证件号码": WIFE, "与户主关系": "配偶", "性别": "女",
         "出生日期": "1972年6月", "贫困户属性": "一般贫困户"},
    ]  # fmt: skip
    base[1] |= change
    return base


def test_a_household_from_its_people() -> None:
    data, labels = frame(rows())
    grouped = group_persons(data, [4, 5], labels)
    assert grouped.problems == []
    household = grouped.households.iloc[0]
    assert (household.household_no, household.head_name, household.members) == ("H1", "李大明", 2)
    assert list(grouped.members["relation"]) == ["head", "spouse"]
    assert list(grouped.members["birth_year"]) == [1970, 1972]


def test_birth_date_contradicting_the_id_number() -> None:
    data, labels = frame(rows(出生日期="1973-06-01"))
    problems = group_persons(data, [4, 5], labels).problems
    assert [(p.index, p.field) for p in problems] == [(5, "出生日期")]
    assert "1973-06-01 but the ID number says 1972-06-01" in problems[0].message


def test_household_fact_stated_two_ways() -> None:
    data, labels = frame(rows(贫困户属性="低保户"))
    problems = group_persons(data, [4, 5], labels).problems
    assert [(p.index, p.field) for p in problems] == [(5, "贫困户属性")]
    assert "'低保户' but the household's other rows say '一般贫困户'" in problems[0].message


def test_relations_as_the_national_system_writes_them() -> None:
    codes = [normalise_relation(w) for w in ("户主", "配偶", "之女", "之父", "之孙子", "之儿媳")]
    assert codes == ["head", "spouse", "child", "parent", "grandchild", "other"]
