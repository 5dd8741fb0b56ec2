"""What the list says vs what the map shows: 入户路类型, 与村主干路距离 and 安全饮水 as a list
states them, compared with the coverage analysis (flag list_vs_map, tolerances from the
policy profile)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from geo.flags import monitoring_policy
from geo.policy import load_profile
from layers.flags import FlagQuery, flag_rows
from layers.imports import ImportOptions, import_file
from tests.importing import build_world, household_rows, remove_world, write_rows

COUNTY = "449824"
CRITERIA = ("road", "hamlet_road", "clinic", "village_clinic", "health_centre", "school",
            "water", "cadre")  # fmt: skip


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM coverage_household WHERE village_code LIKE :c"),
            {"c": COUNTY + "%"},
        )
    remove_world(engine, world)


def covered(conn, household_no: str, hardened_m: float, road_m: float, piped: bool) -> None:
    """The coverage analysis' row of a household, as `gongjian coverage` writes it."""
    criteria = ", ".join(f"flag_{c}" for c in CRITERIA)
    conn.execute(
        sa.text(
            f"""INSERT INTO coverage_household (household_id, township_code, village_code,
                geom, road_m, hardened_road_m, piped_water, {criteria},
                flags, reasons, uncovered, profile)
            SELECT id, left(village_code, 9), village_code, geom, :road, :hardened, :piped,
                   {", ".join("false" for _ in CRITERIA)}, '{{}}', '{{}}', false, 'default'
            FROM household WHERE household_no = :no"""
        ),
        {"no": household_no, "road": road_m, "hardened": hardened_m, "piped": piped},
    )


def test_list_and_map_disagreements_are_flagged(engine, world, tmp_path) -> None:
    rows = household_rows(world, 4)
    listed = [
        {"入户路类型": "水泥路", "与村主干路距离": "0.2公里", "是否有安全饮水": "是"},  # agrees
        {"入户路类型": "水泥路", "与村主干路距离": 0.2, "是否有安全饮水": "是"},  # road 3 km off
        {"入户路类型": "泥土路", "与村主干路距离": 0.5, "是否有安全饮水": "是"},  # 4 km by map
        {"入户路类型": "泥土路", "与村主干路距离": 0.1, "是否有安全饮水": "否"},  # piped by map
    ]
    rows = [r | extra for r, extra in zip(rows, listed, strict=True)]
    summary = import_file(
        engine, "households", write_rows(rows, tmp_path / "listed.csv"), ImportOptions("test")
    )
    assert summary.inserted == 4
    with engine.begin() as conn:
        covered(conn, world.household_no(1), 150, 150, False)
        covered(conn, world.household_no(2), 3000, 150, False)
        covered(conn, world.household_no(3), 4200, 4500, False)
        covered(conn, world.household_no(4), 80, 80, True)
    policy = monitoring_policy(load_profile())
    with engine.begin() as conn:
        query = FlagQuery(world.township, dt.date.today(), ("list_vs_map",))
        found = flag_rows(conn, query, policy)
        numbers = dict(
            conn.execute(
                sa.text("SELECT id, household_no FROM household WHERE village_code LIKE :c"),
                {"c": COUNTY + "%"},
            ).all()
        )
    said = {numbers[h]: d for h, d in zip(found["household_id"], found["description"], strict=True)}
    assert set(said) == {world.household_no(n) for n in (2, 3, 4)}
    assert "最近的硬化路在3000米外" in said[world.household_no(2)]
    assert "名单称距村主干路0.50公里，地图上距最近道路4.5公里" in said[world.household_no(3)]
    assert "名单称无安全饮水" in said[world.household_no(4)]
    stricter = load_profile(overrides={"monitoring": {"list_road_tolerance_m": 5000.0}})
    with engine.begin() as conn:
        again = flag_rows(conn, query, monitoring_policy(stricter))
    assert len(again) == 2  # the hardened road 3 km off is within a 5 km tolerance
