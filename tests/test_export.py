"""``gongjian export``: every format, masking with --public in every format, spreadsheet safety,
and export → import round trips that preserve every field and geometry."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from geo.columns import map_headers
from layers.exports import FORMATS, export
from layers.imports import ImportOptions, import_file
from tests.importing import build_world, household_rows, remove_world, write_rows

COUNTY = "449814"
FIELDS = [
    "household_no",
    "village_code",
    "head_name",
    "id_number",
    "phone",
    "members",
    "labour_members",
    "category",
    "main_cause",
    "secondary_cause",
    "housing_status",
    "status",
    "exit_year",
    "scattered",
    "hamlet_id",
    "cadre_id",
    "registered_year",
    "synthetic",
]


@pytest.fixture(scope="module")
def world(engine: sa.Engine, tmp_path_factory):
    world = build_world(engine, COUNTY)
    rows = household_rows(
        world, 3, 自然村="石背", 帮扶责任人="黄帮扶", 识别年度=2016, 模拟数据="是"
    )
    rows[0] |= {
        "户主姓名": '=HYPERLINK("http://x")',
        "脱贫状态": "已脱贫",
        "脱贫年度": 2017,
        "2017年人均纯收入": 8200.5,
    }
    rows[1] |= {"联系电话": "+86 138 0000 0002", "户主姓名": "欧阳小明"}
    rows[2] |= {"联系电话": None, "身份证号": None, "次要致贫原因": None}
    path = write_rows(rows, tmp_path_factory.mktemp("seed") / "seed.csv")
    import_file(engine, "households", path, ImportOptions(actor="test"))
    yield world
    remove_world(engine, world)


def snapshot(engine: sa.Engine, world) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(
            sa.text(
                f"SELECT {', '.join(FIELDS)}, ST_X(geom) AS x, ST_Y(geom) AS y, "
                "(SELECT jsonb_object_agg(year, per_capita_income) FROM household_income i "
                "WHERE i.household_id = h.id) AS incomes "
                "FROM household h WHERE village_code LIKE :c ORDER BY household_no"
            ),
            conn,
            params={"c": world.county + "%"},
        )
    return frame


def table_of(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "xlsx":
        values = list(load_workbook(path).worksheets[0].values)
        return pd.DataFrame(values[1:], columns=values[0])
    return gpd.read_file(path)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_preserves_every_field_and_geometry(engine, world, tmp_path, fmt) -> None:
    before = snapshot(engine, world)
    path = tmp_path / f"households{FORMATS[fmt]}"
    assert export(engine, "households", path, fmt, township=world.township) == 3
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": world.county + "%"}
        )
    summary = import_file(engine, "households", path, ImportOptions(actor="test"))
    assert summary.inserted == 3, summary.describe()
    after = snapshot(engine, world)
    # XLSX keeps 15 significant digits (Excel's own limit): 1e-12° there, exact elsewhere
    pd.testing.assert_frame_equal(before, after, check_exact=fmt != "xlsx", atol=1e-11)
    assert after.hamlet_id.notna().all() and after.cadre_id.notna().all()
    again = import_file(engine, "households", path, ImportOptions(actor="test"))
    assert (again.inserted, again.updated) == (0, 0)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_public_export_masks_names_ids_phones_and_drops_incomes(
    engine, world, tmp_path, fmt
) -> None:
    path = tmp_path / f"public{FORMATS[fmt]}"
    export(engine, "households", path, fmt, public=True, township=world.township)
    frame = table_of(path, fmt)
    frame = frame.rename(columns=map_headers(list(frame.columns), "households").fields)
    names = frame.set_index("household_no")["head_name"]
    assert names[world.household_no(2)] == "欧**明"
    assert names[world.household_no(3)] == "李*明"
    masked_id = frame["id_number"][frame["id_number"].astype(str).str.len() == 18].iloc[0]
    assert masked_id[:6] == COUNTY and masked_id[6:14] == "********"
    phones = [p.lstrip("'") for p in frame["phone"] if isinstance(p, str) and p]  # CSV/XLSX: '+86
    assert "+86 138 **** 0002" in phones
    assert not any(world.id_number(1) in str(v) for v in frame.astype(str).to_numpy().ravel())
    assert not [
        c for c in frame.columns if "income" in str(c) or "收入" in str(c) or c.startswith("inc_")
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_neutralised(engine, world, tmp_path, fmt) -> None:
    path = tmp_path / f"h{FORMATS[fmt]}"
    export(engine, "households", path, fmt, township=world.township)
    frame = table_of(path, fmt)
    names = frame["户主姓名" if fmt == "xlsx" else "head_name"].tolist()
    assert '\'=HYPERLINK("http://x")' in names
    if fmt == "xlsx":
        cells = [c for row in load_workbook(path).worksheets[0].iter_rows() for c in row]
        assert all(c.data_type != "f" for c in cells)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_whole_numbers_stay_whole(engine, world, tmp_path, fmt) -> None:
    """cadre_id and exit_year (blank for households still poor) are not written as 485.0."""
    path = tmp_path / f"households.{fmt}"
    export(engine, "households", path, fmt, township=world.township)
    if fmt == "csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        cadre, exits = table["cadre_id"], table["exit_year"]
    else:  # the cells as stored (a DataFrame would turn them into floats itself)
        header, *rows = load_workbook(path).worksheets[0].values
        cadre = [row[header.index("cadre_id")] for row in rows]
        exits = [row[header.index("脱贫年度")] for row in rows]
    assert len(cadre) == 3 and all(str(c).isdigit() for c in cadre)
    years = [e for e in exits if e not in ("", None)]
    assert years and [str(y) for y in years] == ["2017"]
    if fmt == "xlsx":
        assert all(isinstance(y, int) for y in years)


def test_xlsx_is_made_for_people(engine, world, tmp_path) -> None:
    path = tmp_path / "h.xlsx"
    export(engine, "households", path, "xlsx", township=world.township)
    book = load_workbook(path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["户编号", "所在村", "自然村"] or "户编号" in header
    assert {"户主姓名", "身份证号", "经度", "纬度", "贫困户属性", "2016年人均纯收入"} <= set(header)
    assert sheet.freeze_panes == "A2"
    id_col = header.index("身份证号") + 1
    id_cell = sheet.cell(row=2, column=id_col)
    assert isinstance(id_cell.value, str) and id_cell.number_format == "@"
    name_col = sheet.column_dimensions[
        sheet.cell(row=1, column=header.index("户主姓名") + 1).column_letter
    ]
    assert 10 <= name_col.width <= 50
    category = sheet.cell(row=2, column=header.index("贫困户属性") + 1).value
    assert category == "一般贫困户"
    assert "模拟数据" in str(list(book["说明"].values))


@pytest.mark.parametrize(
    "layer", ["counties", "townships", "villages", "hamlets", "cadres", "help-records"]
)
def test_other_layers_export(engine, world, tmp_path, layer) -> None:
    path = tmp_path / f"{layer}.gpkg"
    count = export(engine, layer, path, "gpkg", township=world.township)
    assert count >= (0 if layer == "help-records" else 1)
    assert path.exists()


def test_masking_functions_cover_the_rules() -> None:
    from geo.masking import mask_id_number, mask_name, mask_phone

    assert mask_name("张三明") == "张*明"
    assert mask_id_number("44188219900101123X") == "441882********123X"
    assert mask_phone("13812345678") == "138****5678"
