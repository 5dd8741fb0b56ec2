"""A small committed place hierarchy for import/export tests, and files made from rows.

Each test module builds its own world under its own made-up county code (4498xx, city 4498,
no real Guangdong city), so modules sharing the session database never collide; the world is
deleted again at the end of the module.

Layout (WGS84, north of Guangzhou, away from the Lianzhou demo)::

    village …201 (name 上坪村)   village …202 (name 下坪村)      township …100 (name 试验镇)
    x 113.40–113.42             x 113.42–113.44                 y 23.80–23.82 for both
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa

from geo import idnumber
from tests.builders import insert

WEST, EAST, SOUTH, NORTH = 113.40, 113.44, 23.80, 23.82
MIDDLE = 113.42


@dataclass(frozen=True)
class World:
    county: str

    @property
    def township(self) -> str:
        return self.county + "100"

    @property
    def village_a(self) -> str:
        return self.township + "201"

    @property
    def village_b(self) -> str:
        return self.township + "202"

    def household_no(self, n: int) -> str:
        return f"{self.village_a}{n:04d}"

    def id_number(self, n: int) -> str:
        return idnumber.make(
            self.county, date(1960 + n // 900, 1 + n % 12, 1 + n % 28), 100 + n % 900
        )


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def build_world(engine: sa.Engine, county: str) -> World:
    """County → township → two villages (A west, B east), a hamlet in A and a cadre."""
    world = World(county)
    remove_world(engine, world)
    with engine.begin() as conn:
        insert(
            conn,
            "county",
            {
                "code": county,
                "name": f"试验县{county[-2:]}",
                "city": "试验市",
                "city_code": county[:4],
                "geom": box(113.3, 23.7, 113.6, 23.9),
                "synthetic": True,
            },
        )
        insert(
            conn,
            "township",
            {
                "code": world.township,
                "county_code": county,
                "name": f"试验镇{county[-2:]}",
                "seat": "SRID=4326;POINT(113.41 23.81)",
                "geom": box(WEST, SOUTH, EAST, NORTH),
                "synthetic": True,
            },
        )
        for code, name, x0, x1, key in (
            (world.village_a, "上坪村", WEST, MIDDLE, "provincial"),
            (world.village_b, "下坪村", MIDDLE, EAST, None),
        ):
            insert(
                conn,
                "village",
                {
                    "code": code,
                    "township_code": world.township,
                    "name": name,
                    "geom": box(x0, SOUTH, x1, NORTH),
                    "is_poor_village": key is not None,
                    "key_level": key,
                    "synthetic": True,
                },
            )
        insert(
            conn,
            "hamlet",
            {
                "village_code": world.village_a,
                "name": "石背",
                "synthetic": True,
                "geom": "SRID=4326;POINT(113.405 23.805)",
            },
        )
        insert(
            conn,
            "cadre",
            {
                "name": "黄帮扶",
                "unit": "试验县扶贫办",
                "unit_level": "county",
                "phone": "0763-6601234",
                "township_code": world.township,
                "synthetic": True,
            },
        )
    return world


def remove_world(engine: sa.Engine, world: World) -> None:
    """Delete everything under the county (children first)."""
    like = world.county + "%"
    statements = [
        "DELETE FROM household WHERE village_code LIKE :like",
        "DELETE FROM clinic WHERE township_code LIKE :like OR name LIKE '试验%'",
        "DELETE FROM cadre WHERE township_code LIKE :like",
        "DELETE FROM hamlet WHERE village_code LIKE :like",
        "DELETE FROM village_income WHERE village_code LIKE :like",
        "DELETE FROM village WHERE code LIKE :like",
        "DELETE FROM work_group WHERE township_code LIKE :like",
        "DELETE FROM township WHERE code LIKE :like",
        "DELETE FROM county WHERE code LIKE :like",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), {"like": like})


def household_rows(world: World, n: int = 3, **overrides) -> list[dict]:
    """Valid household rows in village A (Chinese headers), spread west to east."""
    rows = []
    for i in range(1, n + 1):
        row = {
            "户编号": world.household_no(i),
            "户主姓名": f"李{'一二三四五六七八九十'[(i - 1) % 10]}明",
            "身份证号": world.id_number(i),
            "联系电话": f"1380000{i:04d}",
            "家庭人口数": 4,
            "劳动力人数": 2,
            "贫困户属性": "一般贫困户",
            "主要致贫原因": "因病致贫",
            "次要致贫原因": "缺技术",
            "住房状况": "安全住房",
            "脱贫状态": "未脱贫",
            "脱贫年度": None,
            "所在村": world.village_a,
            "经度": 113.403 + 0.001 * i,
            "纬度": 23.805 + 0.0005 * i,
            "2016年人均纯收入": 3000 + i,
        }
        rows.append(row | overrides)
    return rows


def write_rows(rows: list[dict], path: Path, *, crs: str | None = "EPSG:4326") -> Path:
    """Rows with 经度/纬度 into any format: CSV/XLSX keep the columns, others get points."""
    frame = pd.DataFrame(rows)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        write_plain_xlsx(frame, path)
    elif suffix == ".xls":
        write_plain_xls(frame, path)
    else:
        points = shapely.points(frame.pop("经度").astype(float), frame.pop("纬度").astype(float))
        if suffix == ".shp":  # DBF field names are 10 bytes: use the short English names
            frame = frame.rename(columns=_short_names(list(frame.columns)))
        gdf = gpd.GeoDataFrame(frame, geometry=points, crs=crs)
        gdf.to_file(path, engine="pyogrio")
    return path


def _short_names(columns: list[str]) -> dict[str, str]:
    from geo.columns import map_headers

    fields = map_headers(columns, "households").fields
    return {c: fields.get(c, c).replace("income_", "inc_")[:10] for c in columns}


def write_plain_xlsx(frame: pd.DataFrame, path: Path, title: str | None = None) -> None:
    """An office-style workbook: optional title row above the header, cells as given."""
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    if title:
        ws.append([title])
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([None if pd.isna(v) else v for v in row])
    book.save(path)


def write_plain_xls(frame: pd.DataFrame, path: Path, title: str | None = None) -> None:
    """The same as an Excel 97–2003 workbook (xlwt: numbers stay numbers, text stays text)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Sheet1")
    rows = ([[title]] if title else []) + [list(frame.columns)]
    rows += [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                ws.write(r, c, value.item() if hasattr(value, "item") else value)
    book.save(str(path))


def stored_households(engine: sa.Engine, world: World) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text(
                "SELECT household_no, village_code, head_name, id_number, phone, members, "
                "labour_members, category, main_cause, secondary_cause, housing_status, status, "
                "exit_year, scattered, hamlet_id, cadre_id, ST_X(geom) AS x, ST_Y(geom) AS y "
                "FROM household WHERE village_code LIKE :like ORDER BY household_no"
            ),
            conn,
            params={"like": world.county + "%"},
        )


def geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def big_household_file(world: World, n: int, path: Path) -> Path:
    """``n`` valid households spread over village A, as a GeoPackage (vectorised)."""
    import numpy as np

    rng = np.random.default_rng(7)
    seq = np.arange(n)
    ids = idnumber.make_many(
        np.full(n, int(world.county)),
        1950 + seq // 5000 % 50,
        1 + seq // 400 % 12,
        1 + seq % 28,
        seq % 400 * 2 + 1,
    )
    frame = pd.DataFrame(
        {
            "household_no": [f"{world.village_a}{i:06d}" for i in seq],
            "village_code": world.village_a,
            "head_name": "李大明",
            "id_number": ids,
            "members": rng.integers(2, 7, n),
            "labour_members": 1,
            "category": "general",
            "main_cause": "illness",
            "housing_status": "safe",
            "income_2016": rng.integers(2000, 4000, n).astype(float),
        }
    )
    points = shapely.points(113.401 + rng.random(n) * 0.018, 23.801 + rng.random(n) * 0.018)
    gpd.GeoDataFrame(frame, geometry=points, crs=4326).to_file(path, engine="pyogrio")
    return path
