"""Importing 建档立卡 household lists: every format, every CRS, idempotence, rejects, audit."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import (
    build_world,
    household_rows,
    remove_world,
    stored_households,
    write_plain_xlsx,
    write_rows,
)

COUNTY = "449811"


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture
def clean(engine: sa.Engine, world):
    """Each test starts with no households in the world."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": COUNTY + "%"}
        )
    return world


def load(engine, path, **options):
    return import_file(engine, "households", path, ImportOptions(actor="test", **options))


def metres(x0, y0, x1, y1) -> float:
    return math.hypot((x1 - x0) * 111_320 * math.cos(math.radians(y0)), (y1 - y0) * 110_570)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".fgb", ".shp", ".csv", ".xlsx", ".xls"])
def test_each_format_loads_every_field(engine, clean, tmp_path: Path, suffix: str) -> None:
    rows = household_rows(clean, 3)
    path = write_rows(rows, tmp_path / f"households{suffix}")
    summary = load(engine, path)
    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (3, 3, 0, 0)
    stored = stored_households(engine, clean)
    first = stored.iloc[0]
    assert first.household_no == clean.household_no(1)
    assert (first.head_name, first.id_number, first.phone) == (
        "李一明",
        clean.id_number(1),
        "13800000001",
    )
    assert (first.members, first.labour_members, first.category) == (4, 2, "general")
    assert (first.main_cause, first.secondary_cause, first.housing_status) == (
        "illness",
        "skills",
        "safe",
    )
    assert first.status == "poor" and pd.isna(first.exit_year)
    assert not first.scattered  # village A is a key village
    assert metres(first.x, first.y, 113.404, 23.8055) < 0.01
    assert summary.extra["household_income"][0] == 3


def test_zipped_shapefile(engine, clean, tmp_path: Path) -> None:
    shp = write_rows(household_rows(clean, 2), tmp_path / "hh.shp")
    archive = tmp_path / "hh.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("hh.*"):
            if part != archive:
                zf.write(part, f"folder/{part.name}")
    assert load(engine, archive).inserted == 2
    assert shp.exists()


def test_gbk_shapefile_without_cpg_and_prj(engine, clean, tmp_path: Path) -> None:
    """The common office shapefile: GBK text, no .cpg, no .prj (undeclared → WGS84)."""
    import geopandas as gpd
    import shapely

    rows = household_rows(clean, 2)
    frame = pd.DataFrame(rows).rename(columns={"户编号": "HH_NO", "户主姓名": "NAME"})
    points = shapely.points(frame.pop("经度"), frame.pop("纬度"))
    # DBF names are short: map them with a mapping, as an office would
    frame = frame[
        [
            "HH_NO",
            "NAME",
            "身份证号",
            "家庭人口数",
            "劳动力人数",
            "贫困户属性",
            "主要致贫原因",
            "住房状况",
            "所在村",
        ]
    ]
    gdf = gpd.GeoDataFrame(frame, geometry=points)
    gdf.to_file(tmp_path / "gbk.shp", engine="pyogrio", encoding="GBK")
    (tmp_path / "gbk.cpg").unlink(missing_ok=True)
    (tmp_path / "gbk.prj").unlink(missing_ok=True)
    summary = load(
        engine, tmp_path / "gbk.shp", mapping={"HH_NO": "household_no", "NAME": "head_name"}
    )
    assert summary.inserted == 2
    assert any("cpg is missing" in n and "GB18030" in n for n in summary.notes)
    assert stored_households(engine, clean).head_name.tolist() == ["李一明", "李二明"]


def test_shapefile_missing_parts_named(engine, clean, tmp_path: Path) -> None:
    write_rows(household_rows(clean, 1), tmp_path / "hh.shp")
    (tmp_path / "hh.shx").unlink()
    with pytest.raises(ImportError_, match=r"hh\.shx \(the index\) is missing"):
        load(engine, tmp_path / "hh.shp")
    write_rows(household_rows(clean, 1), tmp_path / "hh2.shp")
    (tmp_path / "hh2.dbf").unlink()
    with pytest.raises(ImportError_, match=r"hh2\.dbf \(the attribute table\) is missing"):
        load(engine, tmp_path / "hh2.shp")


def test_chinese_headers_with_spaces_full_width_and_title_row(
    engine, clean, tmp_path: Path
) -> None:
    rows = household_rows(clean, 2)
    messy = [
        {
            " 户　编　号 ": r["户编号"],
            "户主姓名（必填）": r["户主姓名"],
            "身份证号码": r["身份证号"],
            "家庭人口数（人）": "４",
            "劳动力人数": "２",
            "贫困户属性": " 低保户 ",
            "主要致贫原因": "因残致贫",
            "住房状况": "C级危房",
            "脱贫状态": "已脱贫",
            "脱贫年度": "２０１７",
            "所在村": r["所在村"],
            "经度": f"{r['经度']}",
            "纬度": f"{r['纬度']}",
        }
        for r in rows
    ]
    path = tmp_path / "名册.xlsx"
    write_plain_xlsx(pd.DataFrame(messy), path, title="试验镇建档立卡贫困户名册")
    assert load(engine, path).inserted == 2
    first = stored_households(engine, clean).iloc[0]
    assert (first.members, first.labour_members, first.category) == (4, 2, "dibao")
    assert (first.main_cause, first.housing_status, first.status, first.exit_year) == (
        "disability",
        "dangerous_c",
        "exited",
        2017,
    )


@pytest.mark.parametrize("crs, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_phone_app_coordinates_land_within_a_metre(engine, clean, tmp_path, crs, convert) -> None:
    truth = (113.4123456, 23.8087654)
    x, y = convert(*truth)
    rows = household_rows(clean, 1, 经度=x, 纬度=y)
    summary = load(engine, write_rows(rows, tmp_path / "app.csv"), crs=crs)
    assert summary.inserted == 1
    stored = stored_households(engine, clean).iloc[0]
    assert metres(stored.x, stored.y, *truth) < 1.0


def test_undeclared_gcj02_points_are_refused_with_the_reason(engine, clean, tmp_path) -> None:
    """Points near village A's east edge, written as GCJ-02: as WGS84 they fall into B."""
    truths = [(113.4150 + 0.0008 * i, 23.8100 + 0.0005 * i) for i in range(6)]
    rows = household_rows(clean, 6)
    for row, (x, y) in zip(rows, truths, strict=True):
        row["经度"], row["纬度"] = wgs84_to_gcj02(x, y)
    path = write_rows(rows, tmp_path / "amap.csv")
    with pytest.raises(ImportError_) as excinfo:
        load(engine, path)
    message = str(excinfo.value)
    assert "fit their villages far better as GCJ02" in message and "--crs gcj02" in message
    assert load(engine, path, crs="gcj02").inserted == 6


def test_reimport_changes_nothing_and_audit_says_who(engine, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 3), tmp_path / "hh.gpkg")
    first = load(engine, path)
    second = load(engine, path)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (3, 0, 0, 3)
    assert second.extra["household_income"][:2] == (0, 0)
    changed = household_rows(clean, 3)
    changed[1]["家庭人口数"] = 5
    third = load(engine, write_rows(changed, tmp_path / "hh2.gpkg"))
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 2)
    with engine.connect() as conn:
        audit = conn.execute(
            sa.text(
                "SELECT row_id, actor, before->>'members', after->>'members', after->>'version' "
                "FROM audit_log WHERE table_name = 'household' AND row_id IS NOT NULL "
                "AND after->>'household_no' = :no ORDER BY id DESC LIMIT 1"
            ),
            {"no": clean.household_no(2)},
        ).one()
        summary = conn.execute(
            sa.text(
                "SELECT after FROM audit_log WHERE table_name = 'household' AND row_id IS NULL "
                "AND after->>'file' = 'hh.gpkg' ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()
    assert audit[1:] == ("test", "4", "5", "2")
    assert summary["inserted"] == 3 and clean.household_no(1) in summary["inserted_keys"]
    assert len(summary["sha256"]) == 64


def test_dry_run_writes_nothing(engine, clean, tmp_path) -> None:
    summary = load(engine, write_rows(household_rows(clean, 2), tmp_path / "hh.csv"), dry_run=True)
    assert summary.inserted == 2 and "would load" in summary.describe()
    assert stored_households(engine, clean).empty


def test_village_by_name_and_by_location(engine, clean, tmp_path) -> None:
    by_name = household_rows(clean, 2, 所在村="上坪村", 乡镇=f"试验镇{COUNTY[-2:]}")
    assert load(engine, write_rows(by_name, tmp_path / "names.csv")).inserted == 2
    located = [{k: v for k, v in r.items() if k != "所在村"} for r in household_rows(clean, 4)]
    located[3]["经度"] = 113.43  # in village B
    located[3]["户编号"] = clean.village_b + "0001"
    summary = load(engine, write_rows(located, tmp_path / "located.csv"))
    assert (summary.inserted, summary.unchanged) == (2, 2)
    stored = stored_households(engine, clean).set_index("household_no")
    assert stored.loc[clean.village_b + "0001", "village_code"] == clean.village_b
    assert stored.loc[clean.village_b + "0001", "scattered"]  # B is no key village


def test_hamlet_and_cadre_by_name(engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 1, 自然村="石背", 帮扶责任人="黄帮扶")
    assert load(engine, write_rows(rows, tmp_path / "hc.csv")).inserted == 1
    stored = stored_households(engine, clean).iloc[0]
    assert stored.hamlet_id > 0 and stored.cadre_id > 0


def test_existing_error_refuses_known_households(engine, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 2), tmp_path / "hh.csv")
    load(engine, path)
    with pytest.raises(ImportError_, match="already in the database"):
        load(engine, path, existing="error")


def test_big_file_loads_in_bulk_mode(engine, clean, tmp_path, monkeypatch) -> None:
    """Above the threshold indexes are rebuilt after the load; they must all be back."""
    from layers.imports import write

    monkeypatch.setattr(write, "wants_bulk", lambda rows, existing: rows >= 10)
    rows = household_rows(clean, 30)
    for i, row in enumerate(rows):
        row["经度"], row["纬度"] = 113.401 + 0.0005 * i, 23.805
    with engine.connect() as conn:
        before = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_indexes WHERE tablename IN ('household', "
                "'household_income', 'household_history')"
            )
        ).scalar()
    assert load(engine, write_rows(rows, tmp_path / "big.gpkg")).inserted == 30
    with engine.connect() as conn:
        after = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_indexes WHERE tablename IN ('household', "
                "'household_income', 'household_history')"
            )
        ).scalar()
        fks = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'household'::regclass "
                "AND contype = 'f'"
            )
        ).scalar()
        versions = conn.execute(
            sa.text(
                "SELECT count(*) FROM household_history v JOIN household h "
                "ON h.id = v.household_id WHERE h.village_code LIKE :c"
            ),
            {"c": COUNTY + "%"},
        ).scalar()
    assert after == before and fks == 3
    assert versions == 30  # the bulk path: one archive version each, incomes included


def test_bulk_load_gives_new_households_one_version_with_their_incomes(
    engine, clean, tmp_path, monkeypatch
) -> None:
    """In bulk mode incomes go in before their households: one archive version each, with the
    incomes; a changed income on re-import still updates the card and adds an income version."""
    from layers.imports import write

    monkeypatch.setattr(write, "wants_bulk", lambda rows, existing: rows >= 10)
    rows = household_rows(clean, 30)
    for i, row in enumerate(rows):
        row["经度"], row["纬度"] = 113.401 + 0.0005 * i, 23.805
    summary = load(engine, write_rows(rows, tmp_path / "big.gpkg"))
    assert summary.inserted == 30 and summary.extra["household_income"][:2] == (30, 0)
    versions = """SELECT h.household_no, v.action, v.incomes FROM household_history v
        JOIN household h ON h.id = v.household_id WHERE h.village_code LIKE :c
        ORDER BY h.household_no, v.id"""
    with engine.connect() as conn:
        first = conn.execute(sa.text(versions), {"c": COUNTY + "%"}).all()
        incomes = conn.execute(
            sa.text(
                "SELECT count(*) FROM household_income i JOIN household h ON h.id = "
                "i.household_id WHERE h.village_code LIKE :c"
            ),
            {"c": COUNTY + "%"},
        ).scalar()
    assert incomes == 30 and len(first) == 30
    assert {(action, tuple(inc)) for _, action, inc in first} == {("insert", ("2016",))}
    rows[0]["2016年人均纯收入"] = 9999
    again = load(engine, write_rows(rows, tmp_path / "again.gpkg"))
    assert (again.inserted, again.updated) == (0, 0)
    assert again.extra["household_income"][:2] == (0, 1)
    with engine.connect() as conn:
        second = conn.execute(sa.text(versions), {"c": COUNTY + "%"}).all()
    changed = [v for v in second if v not in first]
    assert [(action, inc) for _, action, inc in changed] == [("income", {"2016": 9999})]


def test_import_rate(engine, clean, tmp_path) -> None:
    """2,000 households through every check: a floor on speed, measured, not a benchmark."""
    import time

    rows = household_rows(clean, 2000)
    rng = np.random.default_rng(1)
    for i, row in enumerate(rows):
        row["户编号"] = f"{clean.village_a}{i + 1:04d}"
        row["身份证号"] = clean.id_number(i + 1)
        row["经度"], row["纬度"] = 113.401 + rng.random() * 0.018, 23.801 + rng.random() * 0.018
    path = write_rows(rows, tmp_path / "rate.gpkg")
    started = time.perf_counter()
    assert load(engine, path).inserted == 2000
    assert time.perf_counter() - started < 30


def test_bulk_archive_ends_where_the_ordinary_path_does(engine, clean, tmp_path, monkeypatch):
    """The bulk path (incomes first, first versions written set-based instead of by the
    archive triggers) leaves the same archive state per household as the row-by-row path:
    same last version in every field, same incomes (several years, some blank, odd cents),
    the triggers enabled again, and the income table's primary key is back."""
    from layers.imports import write

    rows = household_rows(clean, 30)
    for i, row in enumerate(rows):
        row["经度"], row["纬度"] = 113.401 + 0.0005 * i, 23.805
        row["2017年人均纯收入"] = None if i % 3 == 0 else 4000.5 + i
        row["2018年人均纯收入"] = None if i % 5 == 0 else 5000.255 + i
    path = write_rows(rows, tmp_path / "big.gpkg")
    latest = """SELECT DISTINCT ON (h.household_no) h.household_no, v.valid_from, v.action,
            v.changed, v.village_code, v.hamlet_id, ST_AsText(v.geom), v.members,
            v.labour_members, v.category, v.housing_status, v.status, v.exit_year, v.cadre_id,
            v.incomes::text, v.income::text, v.income_year, v.source
        FROM household_history v JOIN household h ON h.id = v.household_id
        WHERE h.village_code LIKE :c ORDER BY h.household_no, v.valid_from DESC, v.id DESC"""
    incomes = """SELECT h.household_no, i.year, i.per_capita_income FROM household_income i
        JOIN household h ON h.id = i.household_id WHERE h.village_code LIKE :c ORDER BY 1, 2"""

    def archive() -> tuple[list, list]:
        with engine.connect() as conn:
            return (
                conn.execute(sa.text(latest), {"c": COUNTY + "%"}).all(),
                conn.execute(sa.text(incomes), {"c": COUNTY + "%"}).all(),
            )

    monkeypatch.setattr(write, "wants_bulk", lambda rows, existing: False)
    assert load(engine, path).inserted == 30
    ordinary = archive()
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": COUNTY + "%"}
        )
    monkeypatch.setattr(write, "wants_bulk", lambda rows, existing: rows >= 10)
    assert load(engine, path).inserted == 30
    bulk = archive()
    assert len(bulk[0]) == 30 and len(bulk[1]) == 30 + 20 + 24

    # the same state; only how it came about differs (one 'insert' version against the
    # ordinary path's 'insert' then 'income')
    def state(version: tuple) -> tuple:
        return version[:2] + version[4:]

    assert [state(r) for r in bulk[0]] == [state(r) for r in ordinary[0]]
    assert {r[2] for r in bulk[0]} == {"insert"}
    assert bulk[0][1][14].startswith('{"2016": 3002.00, "2017": 4001.50, "2018": 5001.26')
    assert bulk[1] == ordinary[1]
    with engine.connect() as conn:
        disabled = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'trg_household%history%' "
                "AND tgenabled = 'D'"
            )
        ).scalar()
    assert disabled == 0
    with engine.connect() as conn:
        primary = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_constraint "
                "WHERE conrelid = 'household_income'::regclass AND contype = 'p'"
            )
        ).scalar()
    assert primary == 1
