"""Valid rows for the schema's tables, as plain dicts: override a field to make one invalid.

Codes use the made-up county 449801 (city code 4498, not a real Guangdong city) so test rows
never collide with the real county boundaries other tests import into the same database.
Geometries are EWKT strings, which GeoAlchemy2 binds through ST_GeomFromEWKT.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from layers.models import Base
from tests.coverage_builders import coverage_rows
from tests.monitoring_builders import monitoring_rows
from tests.relocation_builders import relocation_rows
from tests.routes_builders import route_rows

COUNTY = "449801"
TOWNSHIP = "449801100"
VILLAGE = "449801100201"
OTHER_VILLAGE = "449801100202"

X, Y = 112.38, 24.78  # near Lianzhou, so rows stay inside Guangdong

_serial = itertools.count(1)


def ewkt(wkt: str, srid: int = 4326) -> str:
    return f"SRID={srid};{wkt}"


def square(size: float, x: float = X, y: float = Y) -> str:
    """A MultiPolygon square centred on (x, y), as EWKT."""
    h = size / 2
    ring = f"{x - h} {y - h},{x + h} {y - h},{x + h} {y + h},{x - h} {y + h},{x - h} {y - h}"
    return ewkt(f"MULTIPOLYGON((({ring})))")


def point(dx: float = 0.0, dy: float = 0.0) -> str:
    return ewkt(f"POINT({X + dx} {Y + dy})")


def county(**overrides: Any) -> dict[str, Any]:
    row = {
        "code": COUNTY,
        "name": "测试县",
        "city": "测试市",
        "city_code": COUNTY[:4],
        "pairing_city": "广州市",
        "geom": square(0.4),
        "synthetic": True,
    }
    return row | overrides


def township(**overrides: Any) -> dict[str, Any]:
    row = {
        "code": TOWNSHIP,
        "county_code": COUNTY,
        "name": "测试镇",
        "seat": point(),
        "geom": square(0.2),
        "synthetic": True,
    }
    return row | overrides


def village(**overrides: Any) -> dict[str, Any]:
    row = {
        "code": VILLAGE,
        "township_code": TOWNSHIP,
        "name": "测试村",
        "geom": square(0.05),
        "is_poor_village": True,
        "key_level": "provincial",
        "helping_unit": "测试单位",
        "population": 1200,
        "synthetic": True,
    }
    return row | overrides


def hamlet(**overrides: Any) -> dict[str, Any]:
    row = {
        "village_code": VILLAGE,
        "name": f"测试自然村{next(_serial)}",
        "geom": point(0.001, 0.001),
        "population": 230,
        "road_hardened": True,
        "piped_water": False,
        "synthetic": True,
    }
    return row | overrides


def cadre(**overrides: Any) -> dict[str, Any]:
    row = {
        "name": "张干部",
        "unit": "测试县扶贫办",
        "unit_level": "county",
        "phone": "0763-6600000",
        "township_code": TOWNSHIP,
        "synthetic": True,
    }
    return row | overrides


def household(**overrides: Any) -> dict[str, Any]:
    """A poor household; each call gets its own household_no and id_number."""
    n = next(_serial)
    row = {
        "household_no": f"T{COUNTY}{n:07d}",
        "village_code": VILLAGE,
        "hamlet_id": None,
        "geom": point(0.002, 0.001),
        "head_name": "李户主",
        "id_number": f"4498011970{n:07d}X",
        "phone": "13800000000",
        "members": 4,
        "labour_members": 2,
        "category": "general",
        "main_cause": "illness",
        "secondary_cause": "skills",
        "housing_status": "safe",
        "status": "poor",
        "exit_year": None,
        "cadre_id": None,
        "scattered": False,
        "registered_year": 2016,
        "synthetic": True,
    }
    return row | overrides


def household_member(household_id: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "household_id": household_id,
        "name": "李成员",
        "id_number": None,
        "relation": "child",
        "sex": "F",
        "birth_year": 2005,
        "health": "healthy",
        "labour_capacity": "none",
        "schooling": "in_school",
    }
    return row | overrides


@dataclass(frozen=True)
class Place:
    """Ids of one inserted county → township → village → hamlet, cadre, work group, household."""

    hamlet_id: int
    cadre_id: int
    work_group_id: int
    household_id: int


def insert(conn: sa.Connection, table: str, row: dict[str, Any]) -> Any:
    """Insert ``row`` into ``table``; returns the first primary-key value."""
    t = Base.metadata.tables[table]
    key = next(iter(t.primary_key.columns))
    return conn.execute(sa.insert(t).values(**row).returning(key)).scalar_one()


def insert_place(conn: sa.Connection) -> Place:
    insert(conn, "county", county())
    insert(conn, "township", township())
    insert(conn, "village", village())
    hamlet_id = insert(conn, "hamlet", hamlet())
    cadre_id = insert(conn, "cadre", cadre())
    group_id = insert(conn, "work_group", {"township_code": TOWNSHIP, "name": "测试镇帮扶工作组"})
    household_id = insert(conn, "household", household(hamlet_id=hamlet_id, cadre_id=cadre_id))
    return Place(hamlet_id, cadre_id, group_id, household_id)


def valid_row(table: str, place: Place, **overrides: Any) -> dict[str, Any]:
    """A valid row for any table, given an inserted ``place`` for the foreign keys."""
    rows = {
        "county": lambda: county(code="449802", name="测试二县"),
        "township": lambda: township(code="449801101", name="测试二镇"),
        "village": lambda: village(code=OTHER_VILLAGE, name="测试二村"),
        "village_income": lambda: {
            "village_code": VILLAGE,
            "year": 2016,
            "per_capita_income": 7200,
            "collective_income": 30000,
        },
        "hamlet": hamlet,
        "cadre": cadre,
        "work_group": lambda: {"township_code": "449801101", "name": "测试二镇帮扶工作组"},
        "work_group_member": lambda: {
            "work_group_id": place.work_group_id,
            "cadre_id": place.cadre_id,
            "role": "leader",
            "duty": "全面负责",
        },
        "household": lambda: household(hamlet_id=place.hamlet_id, cadre_id=place.cadre_id),
        "household_income": lambda: {
            "household_id": place.household_id,
            "year": 2016,
            "per_capita_income": 3500,
        },
        "household_member": lambda: household_member(place.household_id),
        "help_record": lambda: {
            "household_id": place.household_id,
            "date": date(2016, 9, 1),
            "cadre_id": place.cadre_id,
            "measure": "finance",
            "note": "小额信贷",
            "amount": 50000,
            "signed_household": True,
            "signed_village": True,
            "signed_cadre": True,
        },
        "visit": lambda: {
            "household_id": place.household_id,
            "date": date(2016, 10, 1),
            "inspector": "王督查",
            "result": "confirmed",
            "findings": None,
            "geom": point(0.002, 0.001),
        },
        "visit_photo": lambda: {
            "sha256": "ab" * 32,
            "media_type": "image/jpeg",
            "size_bytes": 3,
            "data": b"\xff\xd8\xff",
            "uploaded_by": "api:王督查",
        },
        "river": lambda: {"name": "测试河", "order": 2, "geom": _line(), "synthetic": True},
        "road": lambda: {
            "name": "X001",
            "road_class": "county",
            "surface": "hardened",
            "geom": _line(),
            "synthetic": True,
        },
        "clinic": lambda: {
            "name": "测试村卫生站",
            "level": "village_clinic",
            "standard": True,
            "township_code": TOWNSHIP,
            "village_code": VILLAGE,
            "geom": point(0.003),
            "synthetic": True,
        },
        "water": lambda: {"name": "测试水厂", "kind": "waterworks", "geom": point(0.004)},
        "school": lambda: {"name": "测试小学", "level": "primary", "geom": point(0.005)},
        "hazard_zone": lambda: {"kind": "landslide", "level": "high", "geom": square(0.01)},
        "karst_zone": lambda: {"name": "测试石灰岩区", "geom": square(0.02)},
        "raster": lambda: {
            "name": f"dem-{next(_serial)}",
            "kind": "dem",
            "path": "dem/test.tif",
            "epsg": 4326,
            "bounds": ewkt("POLYGON((112 24,113 24,113 25,112 25,112 24))"),
            "resolution_m": 30.0,
            "sha256": "0" * 64,
        },
        "audit_log": lambda: {
            "table_name": "household",
            "row_id": str(place.household_id),
            "action": "update",
            "actor": "test",
            "before": {"status": "poor"},
            "after": {"status": "exited"},
        },
        "api_user": lambda: {
            "name": f"user{next(_serial)}",
            "role": "viewer",
            "scope": TOWNSHIP,
            "token_hash": f"hash{next(_serial)}",
        },
        "dataset": lambda: {"name": f"test-dataset-{next(_serial)}", "fingerprint": "abc"},
        "sector": lambda: {
            "township_code": TOWNSHIP,
            "cadre_id": place.cadre_id,
            "status": "proposed",
            "households": 1,
            "hamlets": 1,
            "contiguous": True,
            "travel_min": 12.5,
            "household_ids": [place.household_id],
            "hamlet_ids": [place.hamlet_id],
            "geom": square(0.01),
        },
        **coverage_rows(place),
        **monitoring_rows(place),
        **route_rows(place),
        **relocation_rows(place),
        "scenario": lambda: {
            "name": f"测试方案{next(_serial)}",
            "township_code": TOWNSHIP,
            "created_by": "test",
        },
        "scenario_change": lambda: {
            "scenario_id": sa.select(
                sa.func.max(Base.metadata.tables["scenario"].c.id)
            ).scalar_subquery(),
            "kind": "road",
            "name": "规划村道",
            "road_class": "village",
            "surface": "hardened",
            "geom": _line(),
            "created_by": "test",
        },
    }
    return rows[table]() | overrides


def _line() -> str:
    return ewkt(f"LINESTRING({X} {Y},{X + 0.01} {Y + 0.005},{X + 0.02} {Y + 0.004})")
