"""The other KINDs: townships, villages, hamlets, cadres, help records, roads, clinics, water,
schools, hazards and the DEM — each loads, re-imports unchanged, and checks its parents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import build_world, geojson, household_rows, remove_world, write_rows

COUNTY = "449813"


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    with engine.begin() as conn:
        for table in ("road", "water", "school"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE name LIKE '试验%'"))
        conn.execute(
            sa.text("DELETE FROM hazard_zone WHERE ST_XMin(geom) BETWEEN 113.40 AND 113.44")
        )
        conn.execute(sa.text("DELETE FROM raster WHERE name LIKE 'test-dem%'"))
    remove_world(engine, world)


def twice(engine, kind: str, path: Path, **options):
    """Import twice: the second run must change nothing."""
    first = import_file(engine, kind, path, ImportOptions(actor="test", **options))
    second = import_file(engine, kind, path, ImportOptions(actor="test", **options))
    assert (second.inserted, second.updated) == (0, 0), second.describe()
    return first


def square(x: float, y: float, size: float = 0.004) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(properties: dict, geometry: dict) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def test_townships_and_villages_with_incomes(engine, world, tmp_path) -> None:
    town = world.county + "101"
    path = geojson(
        tmp_path / "townships.geojson",
        [feature({"乡镇代码": town, "乡镇名称": "试验二镇"}, square(113.45, 23.80, 0.03))],
    )
    assert twice(engine, "townships", path).inserted == 1
    villages = geojson(
        tmp_path / "villages.geojson",
        [
            feature(
                {
                    "村代码": town + "201",
                    "村名": "试验三村",
                    "是否贫困村": "是",
                    "帮扶单位": "省直某厅",
                    "通自来水": "否",
                    "2016年人均纯收入": 5200,
                    "2016年村集体收入": 28000,
                },
                square(113.451, 23.801, 0.01),
            )
        ],
    )
    assert twice(engine, "villages", villages).extra["village_income"][0] == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT v.is_poor_village, v.helping_unit, v.piped_water, "
                "i.per_capita_income, i.collective_income "
                "FROM village v JOIN village_income i ON i.village_code = v.code WHERE v.code = :c"
            ),
            {"c": town + "201"},
        ).one()
    assert row == (True, "省直某厅", False, 5200, 28000)


def test_child_codes_need_their_parent(engine, world, tmp_path) -> None:
    path = geojson(
        tmp_path / "orphans.geojson",
        [feature({"code": "449899100", "name": "孤镇"}, square(113.45, 23.80))],
    )
    with pytest.raises(ImportError_, match="no county with code 449899"):
        import_file(engine, "townships", path, ImportOptions(actor="test"))


def test_hamlets_by_village_name(engine, world, tmp_path) -> None:
    rows = [
        {
            "自然村名称": "试验坑",
            "所在村": "上坪村",
            "人口": 230,
            "通硬化路": "是",
            "经度": 113.41,
            "纬度": 23.81,
        }
    ]
    assert twice(engine, "hamlets", write_rows(rows, tmp_path / "hamlets.csv")).inserted == 1
    rows[0]["经度"] = 113.43  # not in 上坪村
    with pytest.raises(ImportError_, match="outside its village"):
        import_file(
            engine, "hamlets", write_rows(rows, tmp_path / "bad.csv"), ImportOptions(actor="t")
        )


def test_cadres_then_help_records(engine, world, tmp_path) -> None:
    cadres = [
        {
            "姓名": "陈试验",
            "工作单位": "试验县农业局",
            "单位级别": "县直",
            "联系电话": "13900001111",
            "乡镇": world.township,
        }
    ]
    assert twice(engine, "cadres", write_rows(cadres, tmp_path / "cadres.csv")).inserted == 1
    cadres[0]["联系电话"] = "13900002222"
    assert (
        import_file(
            engine, "cadres", write_rows(cadres, tmp_path / "c2.csv"), ImportOptions(actor="t")
        ).updated
        == 1
    )
    import_file(
        engine,
        "households",
        write_rows(household_rows(world, 1), tmp_path / "h.csv"),
        ImportOptions(actor="test"),
    )
    records = [
        {
            "户编号": world.household_no(1),
            "帮扶日期": "2016年9月1日",
            "帮扶措施": "小额信贷",
            "帮扶责任人": "陈试验",
            "金额": "50,000",
            "户主签字": "是",
            "帮扶内容": "=cmd|' /C calc'!A0",
        }
    ]
    assert (
        twice(engine, "help-records", write_rows(records, tmp_path / "records.csv")).inserted == 1
    )
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT r.measure, r.amount, r.signed_household, c.name, r.date::text, r.note "
                "FROM help_record r "
                "JOIN cadre c ON c.id = r.cadre_id JOIN household h ON h.id = r.household_id "
                "WHERE h.household_no = :no"
            ),
            {"no": world.household_no(1)},
        ).one()
    assert row[:5] == ("finance", 50000, True, "陈试验", "2016-09-01")
    records[0]["户编号"] = "nope"
    with pytest.raises(ImportError_, match="no household nope"):
        import_file(
            engine,
            "help-records",
            write_rows(records, tmp_path / "r2.csv"),
            ImportOptions(actor="t"),
        )


def test_roads_from_lines(engine, world, tmp_path) -> None:
    line = {
        "type": "LineString",
        "coordinates": [[113.401, 23.801], [113.41, 23.805], [113.43, 23.81]],
    }
    path = geojson(
        tmp_path / "roads.geojson",
        [feature({"道路名称": "试验路", "道路等级": "X", "路面": "水泥"}, line)],
    )
    assert twice(engine, "roads", path).inserted == 1
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT road_class, surface FROM road WHERE name = '试验路'")
        ).one() == ("county", "hardened")


def test_clinics_find_their_township_and_village(engine, world, tmp_path) -> None:
    rows = [
        {"名称": "试验村卫生站", "级别": "卫生站", "标准化": "是", "经度": 113.41, "纬度": 23.81}
    ]
    assert twice(engine, "clinics", write_rows(rows, tmp_path / "clinics.xlsx")).inserted == 1
    with engine.connect() as conn:
        assert conn.execute(
            sa.text(
                "SELECT township_code, village_code, level FROM clinic WHERE name = '试验村卫生站'"
            )
        ).one() == (world.township, world.village_a, "village_clinic")


def test_water_schools_and_hazards(engine, world, tmp_path) -> None:
    water = geojson(
        tmp_path / "water.geojson",
        [
            feature(
                {"名称": "试验水厂", "类型": "自来水厂"},
                {"type": "Point", "coordinates": [113.41, 23.81]},
            ),
            feature({"名称": "试验供水区", "类型": "供水范围"}, square(113.40, 23.80, 0.01)),
        ],
    )
    assert twice(engine, "water", water).inserted == 2
    schools = [{"学校名称": "试验小学", "学段": "完小", "经度": 113.412, "纬度": 23.812}]
    assert twice(engine, "schools", write_rows(schools, tmp_path / "s.csv")).inserted == 1
    hazards = geojson(
        tmp_path / "hazards.geojson",
        [feature({"灾害类型": "滑坡", "风险等级": "高风险"}, square(113.402, 23.802))],
    )
    assert twice(engine, "hazards", hazards).inserted == 1


def test_dem_is_registered(engine, world, tmp_path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "test-dem.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(113.40, 23.82, 0.001, 0.001),
    ) as dst:
        dst.write(np.full((1, 20, 20), 300, dtype="float32"))
    assert twice(engine, "dem", path).inserted == 1
    with engine.connect() as conn:
        epsg, resolution = conn.execute(
            sa.text("SELECT epsg, resolution_m FROM raster WHERE name = 'test-dem'")
        ).one()
    assert epsg == 4326 and 100 < resolution < 120


def test_projected_file_is_converted(engine, world, tmp_path) -> None:
    """A file in UTM 49N (EPSG:32649) is converted; --crs that contradicts it is refused."""
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        pd.DataFrame({"学校名称": ["试验中学"], "学段": ["初中"]}),
        geometry=[shapely.Point(113.415, 23.815)],
        crs=4326,
    ).to_crs(32649)
    path = tmp_path / "utm.gpkg"
    frame.to_file(path)
    assert import_file(engine, "schools", path, ImportOptions(actor="t")).inserted == 1
    with engine.connect() as conn:
        x, y = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM school WHERE name = '试验中学'")
        ).one()
    assert abs(x - 113.415) < 1e-7 and abs(y - 23.815) < 1e-7
    with pytest.raises(ImportError_, match=r"declares .* but --crs says gcj02"):
        import_file(engine, "schools", path, ImportOptions(actor="t", crs="gcj02"))
