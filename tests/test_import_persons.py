"""Person-level lists (the national system's export, a township's 花名册): one row per
person, grouped by 户编号 into households and members; title row, two-row header, merged
cells, a hidden column and a 合计 row as offices have them; bad lists refused whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from geo import idnumber
from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import build_world, remove_world, stored_households

COUNTY = "449823"
PERSON_COLUMNS = ["序号", "户编号", "姓名", "证件号码", "与户主关系", "性别", "健康状况",
                  "劳动技能", "文化程度", "民族"]  # fmt: skip
HOUSEHOLD_COLUMNS = ["贫困户属性", "主要致贫原因", "脱贫属性", "识别年度", "行政村", "经度",
                     "纬度"]  # fmt: skip


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture
def clean(engine: sa.Engine, world):
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": COUNTY + "%"}
        )
    return world


def person(n: int, born: dt.date, male: bool) -> str:
    return idnumber.make(COUNTY, born, 100 + 2 * n + (1 if male else 0))


def people(world) -> list[dict]:
    """Two households: 3 people (head, spouse, son) and 2 (head, mother)."""
    first, second = world.household_no(1), world.household_no(2)
    return [
        dict(no=first, name="李大明", id=person(1, dt.date(1970, 3, 5), True), rel="户主",
             sex="男", health="健康", labour="普通劳动力", school="初中"),
        dict(no=first, name="王小红", id=person(2, dt.date(1972, 6, 1), False), rel="配偶",
             sex="女", health="长期慢性病", labour="弱劳动力或半劳动力", school="小学"),
        dict(no=first, name="李小明", id=person(3, dt.date(2008, 9, 9), True), rel="之子",
             sex="男", health="健康", labour="无劳动力", school="小学"),
        dict(no=second, name="张老三", id=person(4, dt.date(1950, 1, 1), True), rel="户主",
             sex="男", health="患有大病", labour="丧失劳动力", school="文盲或半文盲"),
        dict(no=second, name="陈阿婆", id=person(5, dt.date(1930, 2, 2), False), rel="之母",
             sex="女", health="残疾", labour="无劳动力", school="文盲或半文盲"),
    ]  # fmt: skip


def workbook(world, path: Path, rows: list[dict], total: tuple[str, str] = ("2户", "5人")):
    """The 花名册 as offices lay it out: title row merged across, a two-row header (person
    columns merged down two rows, household columns under a merged 家庭信息), household facts
    merged down each household's rows, a hidden 备注 column, a 合计 row and a signature."""
    book = Workbook()
    ws = book.active
    width = len(PERSON_COLUMNS) + len(HOUSEHOLD_COLUMNS) + 1
    ws.cell(1, 1, "试验村建档立卡贫困人口花名册（示例）")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    for c, header in enumerate(PERSON_COLUMNS, start=1):
        ws.cell(2, c, header)
        ws.merge_cells(start_row=2, start_column=c, end_row=3, end_column=c)
    first_fact = len(PERSON_COLUMNS) + 1
    ws.cell(2, first_fact, "家庭信息")
    ws.merge_cells(start_row=2, start_column=first_fact, end_row=2, end_column=width - 1)
    for c, header in enumerate(HOUSEHOLD_COLUMNS, start=first_fact):
        ws.cell(3, c, header)
    ws.cell(2, width, "备注")
    ws.column_dimensions[ws.cell(2, width).column_letter].hidden = True
    facts = {
        world.household_no(1): ["一般贫困户", "因病致贫", "未脱贫", 2016, world.village_a,
                                113.404, 23.806],
        world.household_no(2): ["低保户", "因残致贫", "未脱贫", 2016, world.village_a,
                                113.408, 23.807],
    }  # fmt: skip
    r = 4
    for i, p in enumerate(rows, start=1):
        values = [i, p["no"], p["name"], p["id"], p["rel"], p["sex"], p["health"], p["labour"],
                  p["school"], "汉族", *facts[p["no"]], "内部备注"]  # fmt: skip
        for c, value in enumerate(values, start=1):
            ws.cell(r, c, value)
        r += 1
    # the first household's facts in cells merged down its three rows
    for c in range(first_fact, width):
        ws.merge_cells(start_row=4, start_column=c, end_row=6, end_column=c)
    ws.cell(r, 1, "合计")
    ws.cell(r, 2, total[0])
    ws.cell(r, 3, total[1])
    ws.cell(r + 2, 1, "填表人：黄帮扶    审核人：")
    book.save(path)
    return path


def load(engine, path: Path, **options):
    return import_file(engine, "households", path, ImportOptions(actor="test", **options))


def members_of(engine, household_no: str) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT m.name, m.relation, m.sex, m.birth_year, m.health, m.labour_capacity, "
                "m.schooling FROM household_member m JOIN household h ON h.id = m.household_id "
                "WHERE h.household_no = :n ORDER BY m.birth_year"
            ),
            {"n": household_no},
        ).all()


def test_person_list_becomes_households_and_members(engine, clean, tmp_path) -> None:
    path = workbook(clean, tmp_path / "花名册.xlsx", people(clean))
    summary = load(engine, path)
    assert (summary.read, summary.inserted) == (2, 2)
    assert summary.extra["household_member"][:2] == (5, 2)
    stored = stored_households(engine, clean).set_index("household_no")
    first = stored.loc[clean.household_no(1)]
    assert (first.head_name, first.members, first.labour_members) == ("李大明", 3, 2)
    assert first.category == "general" and first.main_cause == "illness"
    assert first.village_code == clean.village_a  # from the merged cell, on every row
    second = stored.loc[clean.household_no(2)]
    assert (second.head_name, second.members, second.labour_members) == ("张老三", 2, 0)
    assert second.category == "dibao" and second.main_cause == "disability"
    assert members_of(engine, clean.household_no(1)) == [
        ("李大明", "head", "M", 1970, "healthy", "ordinary", "junior"),
        ("王小红", "spouse", "F", 1972, "chronic", "weak", "primary"),
        ("李小明", "child", "M", 2008, "healthy", "none", "primary"),
    ]
    assert [m[1] for m in members_of(engine, clean.household_no(2))] == ["parent", "head"]
    notes = " | ".join(summary.notes)
    assert "hidden columns left out: 备注" in notes
    assert "ignored columns: 序号, 民族" in notes
    assert "5 people in 2 households" in notes


def test_reimporting_the_person_list_changes_nothing(engine, clean, tmp_path) -> None:
    path = workbook(clean, tmp_path / "花名册.xlsx", people(clean))
    load(engine, path)
    again = load(engine, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert again.extra["household_member"][:2] == (0, 0)
    changed = people(clean)
    changed[2]["health"] = "患有大病"
    third = load(engine, workbook(clean, tmp_path / "changed.xlsx", changed))
    assert third.extra["household_member"][:2] == (3, 1)  # one household's members rewritten
    assert members_of(engine, clean.household_no(1))[2][4] == "serious"


def refused(engine, world, tmp_path, rows, **kw) -> str:
    path = workbook(world, tmp_path / "bad.xlsx", rows, **kw)
    with pytest.raises(ImportError_) as excinfo:
        load(engine, path)
    assert stored_households(engine, world).empty
    return str(excinfo.value)


def test_two_heads_in_one_household(engine, clean, tmp_path) -> None:
    rows = people(clean)
    rows[1]["rel"] = "户主"
    message = refused(engine, clean, tmp_path, rows)
    assert (
        f"bad.xlsx: row 5, field '与户主关系': a second 户主 in household "
        f"{clean.household_no(1)} (first: row 4)" in message
    )


def test_household_without_head(engine, clean, tmp_path) -> None:
    rows = people(clean)
    rows[3]["rel"] = "之子"
    message = refused(engine, clean, tmp_path, rows)
    assert f"row 7, field '与户主关系': household {clean.household_no(2)} has no 户主" in message


def test_person_in_two_households(engine, clean, tmp_path) -> None:
    rows = people(clean)
    rows[4]["id"] = rows[1]["id"]
    rows[4]["sex"] = "女"
    message = refused(engine, clean, tmp_path, rows)
    assert (
        f"row 8, field '证件号码': the same person as row 5 (household {clean.household_no(1)})"
        in message
    )


def test_sex_contradicting_the_id_number(engine, clean, tmp_path) -> None:
    rows = people(clean)
    rows[2]["sex"] = "女"
    message = refused(engine, clean, tmp_path, rows)
    assert "row 6, field '性别': 女 but the ID number says 男 (its 17th digit)" in message


def test_total_row_that_does_not_add_up(engine, clean, tmp_path) -> None:
    message = refused(engine, clean, tmp_path, people(clean), total=("2户", "6人"))
    assert "row 9, field '姓名': 合计 says 6人 but the list has 5人" in message
