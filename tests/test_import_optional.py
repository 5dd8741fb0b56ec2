"""Optional facts are optional: a list lacking a fact loads with it unknown (and a warning),
never a guess; an undated income column is dated by --income-year."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import build_world, household_rows, remove_world, stored_households, write_rows

COUNTY = "449821"


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


def load(engine, path, **options):
    return import_file(engine, "households", path, ImportOptions(actor="test", **options))


def without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def test_list_without_housing_loads_it_as_unknown_with_a_warning(engine, clean, tmp_path):
    rows = without(household_rows(clean, 3), "住房状况")
    summary = load(engine, write_rows(rows, tmp_path / "no_housing.csv"))
    assert summary.inserted == 3
    stored = stored_households(engine, clean)
    assert stored["housing_status"].isna().all()
    warning = [n for n in summary.notes if "住房状况" in n]
    assert warning == ["warning: no 住房状况 column: unknown for the 3 new households"]


def test_stored_fact_is_kept_when_a_later_list_lacks_it(engine, clean, tmp_path):
    load(engine, write_rows(household_rows(clean, 2), tmp_path / "full.csv"))
    partial = without(household_rows(clean, 2), "住房状况")
    summary = load(engine, write_rows(partial, tmp_path / "b.csv"))
    assert summary.unchanged == 2
    assert not [n for n in summary.notes if "住房状况" in n]  # nothing new is unknown
    assert (stored_households(engine, clean)["housing_status"] == "safe").all()


def test_neither_members_nor_labour_loads_instead_of_crashing(engine, clean, tmp_path):
    rows = without(household_rows(clean, 2), "家庭人口数", "劳动力人数")
    summary = load(engine, write_rows(rows, tmp_path / "no_people.xlsx"))
    assert summary.inserted == 2
    stored = stored_households(engine, clean)
    assert stored["members"].isna().all() and stored["labour_members"].isna().all()
    assert any("家庭人口数" in n and "2 new households" in n for n in summary.notes)


def test_blank_optional_cells_are_counted(engine, clean, tmp_path):
    rows = household_rows(clean, 3)
    rows[1]["贫困户属性"] = None
    summary = load(engine, write_rows(rows, tmp_path / "blank.csv"))
    assert "warning: 贫困户属性: blank in 1 rows, loaded as unknown" in summary.notes
    assert stored_households(engine, clean)["category"].isna().sum() == 1


def test_undated_income_needs_a_year(engine, clean, tmp_path):
    rows = [
        {**without([r], "2016年人均纯收入")[0], "人均纯收入": r["2016年人均纯收入"]}
        for r in household_rows(clean, 2)
    ]
    path = write_rows(rows, tmp_path / "undated.csv")
    with pytest.raises(ImportError_, match="--income-year YEAR"):
        load(engine, path)
    assert stored_households(engine, clean).empty
    load(engine, path, income_year=2017)
    with engine.connect() as conn:
        years = conn.execute(
            sa.text(
                "SELECT i.year, i.per_capita_income FROM household_income i "
                "JOIN household h ON h.id = i.household_id WHERE h.household_no = :no"
            ),
            {"no": clean.household_no(1)},
        ).all()
    assert [(y, float(a)) for y, a in years] == [(2017, 3001.0)]


def test_wall_map_draws_unknown_category_as_such(engine, clean, tmp_path):
    from maps.wallmap import symbology as sym

    rows = without(household_rows(clean, 2), "贫困户属性")
    load(engine, write_rows(rows, tmp_path / "no_category.csv"))
    assert stored_households(engine, clean)["category"].isna().all()
    assert sym.CATEGORY_LABELS[sym.UNKNOWN_CATEGORY].startswith("类别不详")
