"""The demo world as loaded into PostGIS: what a planner would check first."""

from __future__ import annotations

import sqlalchemy as sa

from layers.demo import DATASET, demo_fingerprint, ensure_demo, loaded_fingerprint

# Seed 001: provincial key villages per township (57 in all).
KEY_VILLAGES = {
    "大路边镇": 5, "星子镇": 6, "西江镇": 2, "龙坪镇": 5, "九陂镇": 6, "连州镇": 5,
    "保安镇": 6, "西岸镇": 6, "东陂镇": 6, "瑶安瑶族乡": 3, "丰阳镇": 6, "三水瑶族乡": 1,
}  # fmt: skip


def scalar(engine: sa.Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def test_every_table_holds_the_generated_rows(engine: sa.Engine, demo_world: dict) -> None:
    for table, count in demo_world.items():
        assert scalar(engine, f"SELECT count(*) FROM {table}") >= count > 0, table
    assert 15_000 <= demo_world["household"] <= 20_000


def test_key_villages_per_township_match_seed_001(engine: sa.Engine, demo_world: dict) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.name, count(*) FILTER (WHERE v.key_level = 'provincial') "
                "FROM township t JOIN village v ON v.township_code = t.code "
                "WHERE t.county_code = '441882' GROUP BY t.name"
            )
        ).all()
    assert dict(rows) == KEY_VILLAGES


def test_every_household_lies_in_its_village(engine: sa.Engine, demo_world: dict) -> None:
    outside = scalar(
        engine,
        "SELECT count(*) FROM household h JOIN village v ON v.code = h.village_code "
        "WHERE NOT ST_Covers(v.geom, h.geom)",
    )
    assert outside == 0


def test_townships_tile_the_county(engine: sa.Engine, demo_world: dict) -> None:
    gap_or_overlap_m2 = scalar(
        engine,
        "SELECT abs(ST_Area(c.geom::geography) - sum(ST_Area(t.geom::geography))) "
        "+ ST_Area(ST_SymDifference(c.geom, ST_Union(t.geom))::geography) "
        "FROM county c JOIN township t ON t.county_code = c.code "
        "WHERE c.code = '441882' GROUP BY c.geom",
    )
    assert gap_or_overlap_m2 < 100  # m² over ~2,660 km²


def test_everything_generated_is_marked_synthetic(engine: sa.Engine, demo_world: dict) -> None:
    for table in ("township", "village", "hamlet", "household", "road", "clinic", "raster"):
        sql = f"SELECT bool_and(synthetic) FROM {table} WHERE synthetic IS NOT NULL"
        assert scalar(engine, sql) is True, table


def test_the_dem_is_registered_with_its_footprint(engine: sa.Engine, demo_world: dict) -> None:
    covers = scalar(
        engine,
        "SELECT ST_Covers(r.bounds, ST_Envelope(c.geom)) FROM raster r, county c "
        "WHERE r.kind = 'dem' AND c.code = '441882'",
    )
    assert covers is True


def test_an_unchanged_demo_is_not_reloaded(engine: sa.Engine, cluster, demo_world: dict) -> None:
    assert loaded_fingerprint(engine, DATASET) == demo_fingerprint(2016)
    loaded, counts = ensure_demo(engine, cluster.home)
    assert (loaded, counts) == (False, {})


def test_the_demo_says_it_is_synthetic_where_a_user_looks(
    engine: sa.Engine, demo_world: dict
) -> None:
    """Landing page, app description, tiles' attribution and dashboard say 示例数据（合成）
    for the demo (a real county's data never does: tests/test_county_init.py)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_support import new_users

    users = new_users(engine)
    users.add("demo-viewer", "viewer", "441882")
    try:
        with TestClient(create_app(engine)) as client:
            headers = users.headers("demo-viewer")
            texts = [
                client.get("/openapi.json").json()["info"]["description"],
                client.get("/?f=json").json()["description"],
                client.get("/?f=html").text,
                client.get("/tiles/village.json", headers=headers).json()["attribution"],
                client.get("/dashboard").text,
            ]
    finally:
        users.drop()
    assert all("示例数据（合成）" in text for text in texts)


def test_demo_villages_carry_official_names_and_committees(
    engine: sa.Engine, demo_world: dict
) -> None:
    from geo import divisions

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT code, official_name, committee FROM village WHERE code LIKE '441882%'")
        ).all()
    official = divisions.county_divisions("441882").villages
    assert {tuple(r) for r in rows} == {(v.code, v.name, v.committee) for v in official}
