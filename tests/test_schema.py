"""The schema: migrations run both ways, match the models, and refuse bad data by name.

Each test runs in the ``connection`` fixture's transaction (rolled back afterwards); every
rejected insert runs in its own savepoint so one test can try several.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from geo import vocab
from layers.migrate import current_revision, downgrade, head_revision, upgrade
from layers.models import VOCAB_COLUMNS, Base
from tests import builders as b

BOW_TIE = b.ewkt("MULTIPOLYGON(((112.3 24.7,112.4 24.8,112.4 24.7,112.3 24.8,112.3 24.7)))")


# --- helpers ---


@pytest.fixture
def place(connection: sa.Connection) -> b.Place:
    return b.insert_place(connection)


def rejected(conn: sa.Connection, table: str, row: dict[str, Any]) -> str:
    """Insert ``row`` in a savepoint, expecting the database to refuse; returns the error."""
    with pytest.raises(DBAPIError) as excinfo, conn.begin_nested():
        b.insert(conn, table, row)
    return str(excinfo.value.orig)


def assert_violates(conn: sa.Connection, table: str, row: dict[str, Any], name: str) -> None:
    message = rejected(conn, table, row)
    assert f'"{name}"' in message, message


@contextmanager
def scratch_database(database_url: str) -> Iterator[str]:
    """A new empty database on the session's cluster, dropped afterwards."""
    name = f"gj_scratch_{uuid4().hex[:10]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Relations in public that are ours (not owned by an extension, not Alembic's bookkeeping).
OWN_RELATIONS = """
    SELECT c.relname, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index x ON x.indexrelid = c.oid
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'i', 'S', 'v', 'm')
      AND c.relname NOT LIKE 'alembic_version%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.objid = coalesce(x.indrelid, c.oid) AND d.deptype = 'e')
"""


def own_relations(url: str) -> dict[str, str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text(OWN_RELATIONS)).all())
    finally:
        engine.dispose()


def own_tables(url: str) -> set[str]:
    return {name for name, kind in own_relations(url).items() if kind == "r"}


SNAPSHOT = {
    "columns": """
        SELECT c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull
                   THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' ||
                   pg_get_expr(ad.adbin, ad.adrelid), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped AND c.relname = ANY(:tables)
    """,
    "constraints": """
        SELECT c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relname = ANY(:tables)
    """,
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename = ANY(:tables)
    """,
}


def snapshot(url: str) -> dict[str, dict[str, str]]:
    """Columns, constraints and indexes of the model tables, as the catalog shows them."""
    tables = list(Base.metadata.tables)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return {
                kind: dict(conn.execute(sa.text(sql), {"tables": tables}).all())
                for kind, sql in SNAPSHOT.items()
            }
    finally:
        engine.dispose()


# --- migrations ---


def test_session_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()
    assert own_tables(database_url) >= set(Base.metadata.tables)


def test_upgrade_downgrade_upgrade_leaves_nothing_behind(database_url: str) -> None:
    with scratch_database(database_url) as url:
        assert current_revision(url) is None
        upgrade(url)
        assert current_revision(url) == head_revision()
        assert own_tables(url) == set(Base.metadata.tables)

        downgrade(url, "base")
        assert current_revision(url) is None
        assert own_relations(url) == {}  # no table, index or sequence left over

        upgrade(url)
        assert own_tables(url) == set(Base.metadata.tables)
        upgrade(url)  # already at head: a no-op
        assert current_revision(url) == head_revision()


def test_models_match_migrations(database_url: str) -> None:
    """create_all() from the models builds exactly what the migrations built."""
    with scratch_database(database_url) as url:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION postgis"))
            Base.metadata.create_all(conn)
        engine.dispose()
        from_models = snapshot(url)
    from_migrations = snapshot(database_url)
    for kind in SNAPSHOT:
        assert from_models[kind] == from_migrations[kind], kind


# --- valid data ---


def test_a_valid_row_goes_into_every_table(connection: sa.Connection, place: b.Place) -> None:
    for table in Base.metadata.sorted_tables:  # parents first: e.g. township before work_group
        b.insert(connection, table.name, b.valid_row(table.name, place))
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_exited_and_returned_households_with_their_exit_year(
    connection: sa.Connection, place: b.Place
) -> None:
    for status in ("exited", "returned"):
        b.insert(connection, "household", b.household(status=status, exit_year=2017))


def test_water_takes_points_and_polygons(connection: sa.Connection, place: b.Place) -> None:
    for geom in (b.point(), b.square(0.01), b.ewkt("POLYGON((112 24,112.1 24,112.1 24.1,112 24))")):
        b.insert(connection, "water", b.valid_row("water", place, geom=geom))


def _consistent(table: str, column: str, code: str) -> dict[str, Any]:
    """Other fields a value needs to make a valid row (e.g. an exit year for 'exited')."""
    if (table, column) == ("household", "status") and code != "poor":
        return {"exit_year": 2017}
    if (table, column) == ("household", "main_cause"):
        return {"secondary_cause": None}
    if (table, column) == ("household", "secondary_cause"):
        return {"main_cause": "other" if code != "other" else "illness"}
    return {}


@pytest.mark.parametrize(("table", "column"), sorted(VOCAB_COLUMNS))
def test_every_vocabulary_code_is_accepted(
    connection: sa.Connection, place: b.Place, table: str, column: str
) -> None:
    for code in VOCAB_COLUMNS[(table, column)]:
        row = b.valid_row(table, place, **{column: code}, **_consistent(table, column, code))
        with connection.begin_nested() as savepoint:
            b.insert(connection, table, row)
            savepoint.rollback()  # e.g. only one leader per work group


def test_vocab_columns_cover_the_data_model() -> None:
    assert VOCAB_COLUMNS[("household", "category")] == vocab.CATEGORY
    assert VOCAB_COLUMNS[("help_record", "measure")] == vocab.MEASURE
    assert len(VOCAB_COLUMNS) >= 21


# --- rejected data, each by its named constraint ---

REJECTIONS = [
    # codes: format
    ("county", b.county(code="44980A"), "ck_county_code_format"),
    ("county", b.county(code="4498", city_code="4498"), "ck_county_code_format"),
    ("county", b.county(code="449802", city_code="44X8"), "ck_county_city_code_format"),
    ("township", b.township(code="44980110X"), "ck_township_code_format"),
    ("village", b.village(code="4498011002O1"), "ck_village_code_format"),
    ("api_user", {"scope": "4498011"}, "ck_api_user_scope_format"),
    # codes: a child code under the wrong parent
    ("county", b.county(code="449802", city_code="4497"), "ck_county_code_under_city"),
    ("township", b.township(code="449701100"), "ck_township_code_under_county"),
    ("village", b.village(code="449801101201"), "ck_village_code_under_township"),
    ("clinic", {"village_code": "449801100201", "township_code": "449801101"},
     "ck_clinic_village_in_township"),
    # foreign keys up the hierarchy
    ("township", b.township(code="449701100", county_code="449701"),
     "fk_township_county_code_county"),
    ("village", b.village(code="449801199201", township_code="449801199"),
     "fk_village_township_code_township"),
    ("household", b.household(village_code="449801100299"), "fk_household_village_code_village"),
    # geometry: valid and non-empty
    ("township", b.township(code="449801101", geom=BOW_TIE), "ck_township_geom_valid"),
    ("county", b.county(code="449802", geom=BOW_TIE), "ck_county_geom_valid"),
    ("household", b.household(geom=b.ewkt("POINT EMPTY")), "ck_household_geom_not_empty"),
    ("village", b.village(code=b.OTHER_VILLAGE, geom=b.ewkt("MULTIPOLYGON EMPTY")),
     "ck_village_geom_not_empty"),
    ("household", b.household(geom=b.ewkt("POINT(12510000 2850000)")),
     "ck_household_geom_lonlat"),
    ("water", {"geom": b.ewkt("LINESTRING(112 24,112.1 24.1)")}, "ck_water_geom_type"),
    ("river", {"geom": b.point()}, "ck_river_geom_type"),
    # value sets
    ("household", b.household(category="foo"), "ck_household_category_valid"),
    ("household", b.household(main_cause="因病"), "ck_household_main_cause_valid"),
    ("household", b.household(housing_status="unsafe"), "ck_household_housing_status_valid"),
    ("household", b.household(status="done", exit_year=2017), "ck_household_status_valid"),
    ("help_record", {"measure": "charity"}, "ck_help_record_measure_valid"),
    ("road", {"road_class": "highway"}, "ck_road_road_class_valid"),
    ("road", {"surface": "asphalt"}, "ck_road_surface_valid"),
    ("clinic", {"level": "hospital"}, "ck_clinic_level_valid"),
    ("village", b.village(code=b.OTHER_VILLAGE, key_level="national"),
     "ck_village_key_level_valid"),
    ("api_user", {"role": "root"}, "ck_api_user_role_valid"),
    ("household_member", {"relation": "cousin"}, "ck_household_member_relation_valid"),
    ("household_member", {"sex": "X"}, "ck_household_member_sex_valid"),
    # household consistency
    ("household", b.household(members=2, labour_members=3),
     "ck_household_labour_not_above_members"),
    ("household", b.household(members=0, labour_members=0), "ck_household_members_positive"),
    ("household", b.household(labour_members=-1), "ck_household_labour_members_non_negative"),
    ("household", b.household(status="exited", exit_year=None),
     "ck_household_exit_year_matches_status"),
    ("household", b.household(status="returned", exit_year=None),
     "ck_household_exit_year_matches_status"),
    ("household", b.household(status="poor", exit_year=2017),
     "ck_household_exit_year_matches_status"),
    ("household", b.household(status="exited", exit_year=2015, registered_year=2016),
     "ck_household_exit_after_registration"),
    ("household", b.household(secondary_cause="illness"), "ck_household_secondary_cause_differs"),
    ("household", b.household(head_name="  "), "ck_household_head_name_not_blank"),
    ("household", b.household(household_no=""), "ck_household_household_no_not_blank"),
    ("household", b.household(phone="call me"), "ck_household_phone_format"),
    # id numbers: 17 digits and a digit or capital X
    ("household", b.household(id_number="44980119700101123x"), "ck_household_id_number_format"),
    ("household", b.household(id_number="4498011970010112"), "ck_household_id_number_format"),
    ("household", b.household(id_number="A49801197001011234"), "ck_household_id_number_format"),
    ("household_member", {"id_number": "4498011970-1011234"},
     "ck_household_member_id_number_format"),
    # other tables
    ("village", b.village(code=b.OTHER_VILLAGE, key_level="provincial", is_poor_village=False),
     "ck_village_key_village_is_poor"),
    ("hamlet", b.hamlet(population=-5), "ck_hamlet_population_non_negative"),
    ("help_record", {"amount": -1}, "ck_help_record_amount_non_negative"),
    ("household_income", {"year": 1980}, "ck_household_income_year_range"),
    ("raster", {"sha256": "not-a-hash"}, "ck_raster_sha256_format"),
    ("audit_log", {"action": "truncate"}, "ck_audit_log_action_valid"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "row", "constraint"), REJECTIONS, ids=[c for _, _, c in REJECTIONS]
)
def test_bad_row_is_rejected_by_name(
    connection: sa.Connection, place: b.Place, table: str, row: dict, constraint: str
) -> None:
    full_row = b.valid_row(table, place) | row  # partial rows complete a valid one
    assert_violates(connection, table, full_row, constraint)


def test_wrong_srid_is_rejected(connection: sa.Connection, place: b.Place) -> None:
    mercator = b.ewkt("POINT(12510000 2850000)", srid=3857)
    message = rejected(connection, "household", b.household(geom=mercator))
    assert "SRID (3857) does not match column SRID (4326)" in message


def test_projected_coordinates_without_srid_are_rejected(
    connection: sa.Connection, place: b.Place
) -> None:
    """PostGIS gives SRID-less input the column's SRID, so metres must fail the degree range."""
    insert = "INSERT INTO school (name, level, geom) VALUES ('x', 'primary', ST_Point(:x, :y))"
    with connection.begin_nested() as savepoint:
        connection.execute(sa.text(insert), {"x": 112.4, "y": 24.8})  # degrees: accepted
        savepoint.rollback()
    with pytest.raises(DBAPIError) as excinfo, connection.begin_nested():
        connection.execute(sa.text(insert), {"x": 12510000, "y": 2850000})
    assert '"ck_school_geom_lonlat"' in str(excinfo.value.orig)


def test_wrong_geometry_type_is_rejected(connection: sa.Connection, place: b.Place) -> None:
    polygon = b.ewkt("POLYGON((112 24,112.1 24,112.1 24.1,112 24))")
    message = rejected(connection, "household", b.household(geom=polygon))
    assert "Geometry type (Polygon) does not match column type (Point)" in message
    message = rejected(connection, "road", b.valid_row("road", place, geom=b.point()))
    assert "does not match column type (LineString)" in message


def test_duplicate_household_number_is_rejected(connection: sa.Connection, place: b.Place) -> None:
    first = b.household()
    b.insert(connection, "household", first)
    again = b.household(household_no=first["household_no"])
    assert_violates(connection, "household", again, "uq_household_household_no")


def test_duplicate_id_number_is_rejected(connection: sa.Connection, place: b.Place) -> None:
    first = b.household()
    b.insert(connection, "household", first)
    again = b.household(id_number=first["id_number"])
    assert_violates(connection, "household", again, "uq_household_id_number")


def test_household_hamlet_must_be_in_its_village(connection: sa.Connection, place: b.Place) -> None:
    b.insert(connection, "village", b.village(code=b.OTHER_VILLAGE, name="测试二村"))
    elsewhere = b.household(village_code=b.OTHER_VILLAGE, hamlet_id=place.hamlet_id)
    assert_violates(connection, "household", elsewhere, "fk_household_hamlet_in_village")


def test_one_head_per_household(connection: sa.Connection, place: b.Place) -> None:
    head = b.household_member(place.household_id, relation="head")
    b.insert(connection, "household_member", head)
    assert_violates(connection, "household_member", head, "uq_household_member_one_head")


def test_one_leader_per_work_group(connection: sa.Connection, place: b.Place) -> None:
    leader = {"work_group_id": place.work_group_id, "cadre_id": place.cadre_id, "role": "leader"}
    b.insert(connection, "work_group_member", leader)
    second = leader | {"cadre_id": b.insert(connection, "cadre", b.cadre(name="刘干部"))}
    assert_violates(
        connection, "work_group_member", second, "uq_work_group_member_one_leader_deputy"
    )


def test_one_work_group_per_township(connection: sa.Connection, place: b.Place) -> None:
    again = {"township_code": b.TOWNSHIP, "name": "第二工作组"}
    assert_violates(connection, "work_group", again, "uq_work_group_township_code")


def test_cadre_with_households_cannot_be_deleted(connection: sa.Connection, place: b.Place) -> None:
    """不脱贫不脱钩: reassign the households before removing their cadre."""
    with pytest.raises(DBAPIError) as excinfo, connection.begin_nested():
        connection.execute(sa.text("DELETE FROM cadre WHERE id = :id"), {"id": place.cadre_id})
    assert '"fk_household_cadre_id_cadre"' in str(excinfo.value.orig)
