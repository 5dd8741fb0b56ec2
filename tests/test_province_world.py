"""The province world: counties built in parallel, loaded one transaction each, analysable.

Runs in its own database on the session's cluster, so the Lianzhou ``demo_world`` that
other tests use is never replaced.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app as cli_app
from geo.demo.county_world import build_county_tables as original_build
from geo.paths import GUANGDONG_COUNTIES
from layers.cluster import EmbeddedCluster
from layers.importers import import_boundaries
from layers.migrate import upgrade
from layers.province_world import DATASET, build_and_load

JIANGHAI, DUANZHOU = "440704", "441202"  # two small county-level units (江海区, 端州区)
BROKEN = "441203"  # 鼎湖区: made to fail in the worker by an injected fault
HOUSEHOLDS = {JIANGHAI: 300, DUANZHOU: 400, BROKEN: 100}
DB_NAME = "gj_province_world"

# Row snapshots compared across runs: ids, codes, geometry and a few attributes.
SNAPSHOTS = {
    "township": "SELECT code, name, ST_AsBinary(geom) FROM township ORDER BY code",
    "village": "SELECT code, township_code, ST_AsBinary(geom) FROM village ORDER BY code",
    "hamlet": "SELECT id, village_code, ST_AsBinary(geom) FROM hamlet ORDER BY id",
    "household": "SELECT id, household_no, id_number, ST_AsBinary(geom) FROM household ORDER BY id",
    "road": "SELECT id, road_class, ST_AsBinary(geom) FROM road ORDER BY id",
    "clinic": "SELECT id, village_code, ST_AsBinary(geom) FROM clinic ORDER BY id",
}


def broken_county_tables(code, seed, work_dir, n_households=None, res_deg=None):
    """Stands in for the generator in forked workers: fails for BROKEN only."""
    if code == BROKEN:
        raise RuntimeError("injected fault")
    return original_build(code, seed, work_dir, n_households)


@pytest.fixture(scope="module")
def province_engine(cluster: EmbeddedCluster, database_url: str) -> Iterator[sa.Engine]:
    url = cluster.create_database(DB_NAME)
    upgrade(url)
    engine = sa.create_engine(url)
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="test")
    try:
        yield engine
    finally:
        engine.dispose()
        cluster.drop_database(DB_NAME)


@pytest.fixture(scope="module")
def loaded(province_engine, tmp_path_factory):
    """JIANGHAI and DUANZHOU loaded with 2 workers; BROKEN fails; 999999 is no county."""
    patch = pytest.MonkeyPatch()
    patch.setattr("geo.demo.county_world.build_county_tables", broken_county_tables)
    try:
        results = build_and_load(
            province_engine,
            [JIANGHAI, DUANZHOU, BROKEN, "999999"],
            seed=2,
            work_dir=tmp_path_factory.mktemp("province"),
            jobs=2,
            households=HOUSEHOLDS,
        )
    finally:
        patch.undo()
    return {r.code: r for r in results}


def snapshot(engine: sa.Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {name: conn.execute(sa.text(sql)).all() for name, sql in SNAPSHOTS.items()}


def test_two_counties_load_and_broken_ones_are_reported(loaded, province_engine) -> None:
    assert loaded[JIANGHAI].error is None and loaded[DUANZHOU].error is None
    assert "injected fault" in loaded[BROKEN].error and loaded[BROKEN].name == "鼎湖区"
    assert "not a county" in loaded["999999"].error
    with province_engine.connect() as conn:
        per_county = dict(
            conn.execute(
                sa.text(
                    "SELECT left(t.county_code, 6), count(h.id) FROM township t "
                    "JOIN household h ON starts_with(h.village_code, t.code) GROUP BY 1"
                )
            ).all()
        )
        assert set(per_county) == {JIANGHAI, DUANZHOU}  # nothing of the broken county
        assert per_county[JIANGHAI] > 100 and per_county[DUANZHOU] > 100
        for table in ("road", "clinic", "school", "river", "hamlet", "raster"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() > 0, table
        assert conn.execute(
            sa.text("SELECT synthetic FROM dataset WHERE name = :n"), {"n": DATASET}
        ).scalar()
        # villages carry official codes of their own township
        bad = conn.execute(
            sa.text("SELECT count(*) FROM village WHERE NOT starts_with(code, township_code)")
        ).scalar()
        assert bad == 0


def test_every_household_inside_its_village(loaded, province_engine) -> None:
    with province_engine.connect() as conn:
        outside = conn.execute(
            sa.text(
                "SELECT count(*) FROM household h JOIN village v ON v.code = h.village_code "
                "WHERE NOT ST_Covers(v.geom, h.geom)"
            )
        ).scalar()
    assert outside == 0


def test_villages_tile_their_townships(loaded, province_engine) -> None:
    with province_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.code, ST_Area(t.geom::geography), sum(ST_Area(v.geom::geography)), "
                "ST_Area(ST_SymDifference(t.geom, ST_Union(v.geom))::geography) "
                "FROM township t JOIN village v ON v.township_code = t.code "
                "GROUP BY t.code, t.geom"
            )
        ).all()
    assert len(rows) >= 7  # every township of both counties has villages
    for code, township_m2, villages_m2, difference_m2 in rows:
        assert abs(villages_m2 - township_m2) < 0.001 * township_m2, code  # no overlaps
        assert difference_m2 < 0.001 * township_m2, code  # no gaps


def test_same_seed_same_tables_whatever_the_jobs(loaded, province_engine, tmp_path) -> None:
    before = snapshot(province_engine)
    results = build_and_load(
        province_engine,
        [DUANZHOU, JIANGHAI],
        seed=2,
        work_dir=tmp_path,
        jobs=1,
        households=HOUSEHOLDS,
    )
    assert all(r.error is None for r in results)
    assert snapshot(province_engine) == before


def test_a_loaded_county_can_be_analysed(loaded, province_engine, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", province_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CI", "1")
    result = CliRunner().invoke(cli_app, ["coverage", "--county", DUANZHOU, "--no-isochrones"])
    assert result.exit_code == 0, result.output
    assert "households assessed" in result.output
    with province_engine.connect() as conn:
        assessed = conn.execute(
            sa.text("SELECT count(*) FROM coverage_township WHERE starts_with(township_code, :c)"),
            {"c": DUANZHOU},
        ).scalar()
    assert assessed > 0


def test_cli_reports_a_county_that_is_not_there(province_engine, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", province_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CI", "1")
    result = CliRunner().invoke(
        cli_app, ["demo", "--scale", "province", "--load", "--counties", "999999", "--jobs", "1"]
    )
    assert result.exit_code == 1
    assert "999999" in result.output and "not loaded" in result.output
