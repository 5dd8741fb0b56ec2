"""Every validation rule, each with a file that breaks it: the message names file, row and
field, and nothing is written; --skip-invalid loads the rest and writes a rejects file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import (
    build_world,
    household_rows,
    remove_world,
    stored_households,
    write_rows,
)

COUNTY = "449812"


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


def refused(
    engine, world, tmp_path: Path, rows: list[dict], suffix: str = ".csv", **options
) -> str:
    """Import rows that break a rule: returns the message; checks nothing was written."""
    path = write_rows(rows, tmp_path / f"bad{suffix}")
    with pytest.raises(ImportError_) as excinfo:
        import_file(engine, "households", path, ImportOptions(actor="test", **options))
    assert stored_households(engine, world).empty
    return str(excinfo.value)


def broken(world, row: int, **change) -> list[dict]:
    """Three valid rows with row ``row`` (1-based data row) changed."""
    rows = household_rows(world, 3)
    rows[row - 1] |= change
    return rows


CASES = {
    "bad check digit": ({"身份证号": "44981219700102101X"}, "身份证号", "bad check character"),
    "Excel 15 digits": ({"身份证号": "449812197001021000"}, "身份证号", "rounded by Excel"),
    "scientific": ({"身份证号": "4.49812197001021E+17"}, "身份证号", "scientific notation"),
    "phone": ({"联系电话": "12345"}, "联系电话", "is not a phone number"),
    "value set": ({"贫困户属性": "富裕户"}, "贫困户属性", "unknown value '富裕户'"),
    "members zero": ({"家庭人口数": 0}, "家庭人口数", "0 is outside 1–50"),
    "labour above members": ({"劳动力人数": 6}, "劳动力人数", "6 labourers but only 4 members"),
    "negative labour": ({"劳动力人数": -1}, "劳动力人数", "-1 is outside 0–50"),
    "negative income": ({"2016年人均纯收入": -5}, "2016年人均纯收入", "-5 is below 0"),
    "exit year without exit": ({"脱贫年度": 2017}, "脱贫年度", "has not exited"),
    "exited without year": ({"脱贫状态": "已脱贫"}, "脱贫年度", "needs its exit year"),
    "same causes": ({"次要致贫原因": "因病"}, "次要致贫原因", "same as the main cause"),
    "swapped": ({"经度": 23.806, "纬度": 113.404}, "经度", "look swapped"),
    "outside Guangdong": ({"经度": 121.47, "纬度": 31.23}, "经度", "outside Guangdong"),
    "missing name": ({"户主姓名": None}, "户主姓名", "missing"),
    "unknown village": ({"所在村": "449812100299"}, "所在村", "no village with code 449812100299"),
    "a village name among codes": ({"所在村": "无名村"}, "所在村", "codes or names throughout"),
    "point outside its village": ({"经度": 113.43}, "经度", "m outside its village"),
    "unknown hamlet": ({"自然村": "没有村"}, "自然村", "no hamlet '没有村'"),
    "unknown cadre": ({"帮扶责任人": "无此人"}, "帮扶责任人", "no cadre '无此人'"),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_is_enforced_with_file_row_and_field(engine, clean, tmp_path, case) -> None:
    change, field, text = CASES[case]
    message = refused(engine, clean, tmp_path, broken(clean, 2, **change))
    assert f"bad.csv: row 3, field '{field}'" in message, message
    assert text in message, message
    assert "nothing was loaded" in message


def test_point_outside_names_distance_and_the_village_it_is_in(engine, clean, tmp_path) -> None:
    message = refused(engine, clean, tmp_path, broken(clean, 1, 经度=113.43))
    assert (
        f"outside its village {clean.village_a} 上坪村; it lies in {clean.village_b} 下坪村"
        in message
    )
    assert "1007 m outside" in message or " m outside" in message


def test_duplicate_household_numbers_in_file(engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 3)
    rows[2]["户编号"] = rows[0]["户编号"]
    message = refused(engine, clean, tmp_path, rows)
    assert f"row 4, field '户编号': {rows[0]['户编号']} repeats row 2" in message


def test_same_id_number_on_two_households(engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 3)
    rows[1]["身份证号"] = rows[0]["身份证号"]
    assert "row 3, field '身份证号'" in refused(engine, clean, tmp_path, rows)


def test_same_id_number_as_a_stored_household(engine, clean, tmp_path) -> None:
    import_file(
        engine,
        "households",
        write_rows(household_rows(clean, 1), tmp_path / "a.csv"),
        ImportOptions(actor="test"),
    )
    other = household_rows(clean, 2)[1:]
    other[0]["身份证号"] = clean.id_number(1)
    path = write_rows(other, tmp_path / "b.csv")
    with pytest.raises(ImportError_, match=f"already belongs to household {clean.household_no(1)}"):
        import_file(engine, "households", path, ImportOptions(actor="test"))


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_excel_number_cells_for_id_numbers_are_refused(engine, clean, tmp_path, suffix) -> None:
    rows = household_rows(clean, 2)
    rows[1]["身份证号"] = 449812197001021000  # what Excel keeps of an 18-digit number
    path = write_rows(rows, tmp_path / f"excel{suffix}")
    with pytest.raises(ImportError_, match=r"row 3, field '身份证号'.*stored as a number"):
        import_file(engine, "households", path, ImportOptions(actor="test"))


def test_missing_required_column(engine, clean, tmp_path) -> None:
    rows = [{k: v for k, v in r.items() if k != "户主姓名"} for r in household_rows(clean, 2)]
    message = refused(engine, clean, tmp_path, rows)
    assert "row 1, field 'head_name': column missing" in message


def test_invalid_polygon_geometry(engine, clean, tmp_path) -> None:
    from tests.importing import geojson

    bow_tie = [[113.41, 23.81], [113.42, 23.82], [113.42, 23.81], [113.41, 23.82], [113.41, 23.81]]
    path = geojson(
        tmp_path / "villages.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": clean.township + "203", "name": "蝴蝶村"},
                "geometry": {"type": "Polygon", "coordinates": [bow_tie]},
            }
        ],
    )
    with pytest.raises(ImportError_, match=r"row 2, field 'geometry': invalid: Self-intersection"):
        import_file(engine, "villages", path, ImportOptions(actor="test"))


def test_empty_geometry(engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 2)
    rows[1]["经度"] = None
    assert "row 3, field '经度': missing longitude or latitude" in refused(
        engine, clean, tmp_path, rows
    )


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_skip_invalid_loads_the_rest_and_writes_rejects(engine, clean, tmp_path, suffix) -> None:
    rows = household_rows(clean, 4)
    rows[1]["身份证号"] = "44981219700102101X"
    rows[3]["经度"] = 113.43  # outside its village: a database-side rejection
    path = write_rows(rows, tmp_path / f"名册{suffix}")
    summary = import_file(
        engine, "households", path, ImportOptions(actor="test", skip_invalid=True)
    )
    assert (summary.read, summary.inserted, summary.rejected) == (4, 2, 2)
    assert summary.rejects_path == tmp_path / "名册.rejects.xlsx"  # .xls in, .xlsx out
    sheet = load_workbook(summary.rejects_path).active
    values = list(sheet.values)
    assert values[0][-1] == "error" and values[0][0] == "户编号"
    assert [v[0] for v in values[1:]] == [rows[1]["户编号"], rows[3]["户编号"]]
    assert "bad check character" in values[1][-1] and "outside its village" in values[2][-1]
    assert stored_households(engine, clean).household_no.tolist() == [
        rows[0]["户编号"],
        rows[2]["户编号"],
    ]


@pytest.mark.parametrize("suffix", [".csv", ".gpkg", ".geojson"])
def test_rejects_file_has_the_input_format(engine, clean, tmp_path, suffix) -> None:
    rows = household_rows(clean, 2)
    rows[0]["劳动力人数"] = 9
    path = write_rows(rows, tmp_path / f"in{suffix}")
    summary = import_file(
        engine, "households", path, ImportOptions(actor="test", skip_invalid=True)
    )
    assert summary.rejected == 1 and summary.rejects_path.suffix == suffix
    if suffix == ".csv":
        rejects = pd.read_csv(summary.rejects_path, dtype=str)
    else:
        import geopandas as gpd

        rejects = gpd.read_file(summary.rejects_path)
        assert rejects.geometry.iloc[0] is not None
    assert rejects["户编号"].tolist() == [rows[0]["户编号"]]
    assert "9 labourers" in rejects["error"].iloc[0]


def test_zip_bomb_and_size_limit(engine, clean, tmp_path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.csv", "0" * 50_000_000)
    with pytest.raises(ImportError_, match="zip bomb"):
        import_file(engine, "households", bomb, ImportOptions(actor="test"))
    small = write_rows(household_rows(clean, 2), tmp_path / "small.csv")
    with pytest.raises(ImportError_, match="more than the import limit"):
        import_file(engine, "households", small, ImportOptions(actor="test", max_bytes=100))


def test_unknown_format_and_a_broken_old_excel(engine, clean, tmp_path) -> None:
    (tmp_path / "list.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportError_, match=r"list\.xls: cannot be read as an Excel 97–2003"):
        import_file(engine, "households", tmp_path / "list.xls", ImportOptions(actor="test"))
    (tmp_path / "list.docx").write_bytes(b"x")
    with pytest.raises(ImportError_, match="unknown file type"):
        import_file(engine, "households", tmp_path / "list.docx", ImportOptions(actor="test"))
