"""Initial schema: PostGIS and pgRouting, and every table of the data model.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Frozen history: the value lists below are copied literally from geo/vocab.py as of this
revision (do not import it). Every constraint is named ck_/fk_/uq_<table>_<rule> so that a
rejected row's error says which rule it broke.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4326

CATEGORY = ("general", "dibao", "tekun")
CAUSE = (
    "illness",
    "disability",
    "education",
    "disaster",
    "land",
    "water",
    "skills",
    "labour",
    "capital",
    "transport",
    "motivation",
    "other",
)
STATUS = ("poor", "exited", "returned")
HOUSING_STATUS = ("safe", "dangerous_c", "dangerous_d", "renovated", "relocated")
ROAD_CLASS = ("national", "provincial", "county", "township", "village")
SURFACE = ("hardened", "gravel", "earth")
CLINIC_LEVEL = ("county_hospital", "township_health_centre", "village_clinic")
HEALTH = ("healthy", "chronic", "serious", "disabled")
LABOUR_CAPACITY = ("ordinary", "skilled", "weak", "lost", "none")
SCHOOLING = (
    "none",
    "preschool",
    "primary",
    "junior",
    "senior",
    "vocational",
    "college",
    "in_school",
)
RELATION = ("head", "spouse", "child", "parent", "grandchild", "sibling", "other")
MEASURE = (
    "policy",
    "industry",
    "employment",
    "social_security",
    "education",
    "medical",
    "housing",
    "finance",
    "asset_income",
)
HAZARD_KIND = ("landslide", "debris_flow", "flood")
HAZARD_LEVEL = ("low", "medium", "high")
WATER_KIND = ("waterworks", "reservoir", "intake", "supply_area")
SCHOOL_LEVEL = ("primary", "teaching_point", "junior", "senior")
KEY_LEVEL = ("provincial",)
UNIT_LEVEL = ("province", "city", "county", "township", "village")
WG_ROLE = ("leader", "deputy", "member")
VISIT_RESULT = ("confirmed", "issues", "absent")
ROLE = ("viewer", "editor", "inspector", "admin")
SEX = ("M", "F")
AUDIT_ACTION = ("insert", "update", "delete", "import")
RASTER_KIND = ("dem",)

# Creation order; downgrade drops in reverse.
TABLES = (
    "county",
    "township",
    "village",
    "village_income",
    "hamlet",
    "cadre",
    "work_group",
    "work_group_member",
    "household",
    "household_income",
    "household_member",
    "help_record",
    "visit",
    "river",
    "road",
    "clinic",
    "water",
    "school",
    "hazard_zone",
    "karst_zone",
    "raster",
    "audit_log",
    "api_user",
)


# --- helpers: each returns constraints named after their table (op.f: use names verbatim) ---


def ck(table: str, rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{rule}"))


def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def uq(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def fk(table: str, column: str, target: str, ondelete: str | None = None):
    """Single-column FK to ``target`` ('table.column'), named fk_<table>_<column>_<target>."""
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete=ondelete)


def geom(name: str, kind: str, nullable: bool = False) -> sa.Column:
    # typed column: PostGIS rejects other geometry types and SRIDs; GiST index made explicitly
    return sa.Column(name, Geometry(kind, srid=SRID, spatial_index=False), nullable=nullable)


def geom_checks(table: str, column: str = "geom") -> tuple[sa.CheckConstraint, ...]:
    # lonlat: PostGIS gives SRID-less input the column's SRID; this stops projected metres
    lonlat = (
        f"ST_XMin({column}) >= -180 AND ST_XMax({column}) <= 180"
        f" AND ST_YMin({column}) >= -90 AND ST_YMax({column}) <= 90"
    )
    return (
        ck(table, f"{column}_valid", f"ST_IsValid({column})"),
        ck(table, f"{column}_not_empty", f"NOT ST_IsEmpty({column})"),
        ck(table, f"{column}_lonlat", lonlat),
    )


def geom_type(table: str, column: str, *types: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{t}'" for t in types)
    return ck(table, f"{column}_type", f"GeometryType({column}) IN ({allowed})")


def code_format(table: str, column: str, digits: int) -> sa.CheckConstraint:
    return ck(table, f"{column}_format", rf"{column} ~ '^\d{{{digits}}}$'")


def id_number_format(table: str) -> sa.CheckConstraint:
    return ck(table, "id_number_format", r"id_number ~ '^\d{17}[\dX]$'")


def not_blank(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_not_blank", f"btrim({column}) <> ''")


def year_range(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_range", f"{column} BETWEEN 2000 AND 2100")


def non_negative(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_non_negative", f"{column} >= 0")


def in_values(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return ck(table, f"{column}_valid", f"{column} IN ({codes})")


def gist(table: str, column: str = "geom") -> None:
    # idx_<table>_<column> is the name GeoAlchemy2 gives spatial indexes
    op.create_index(op.f(f"idx_{table}_{column}"), table, [column], postgresql_using="gist")


def btree(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def text_col(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def flag(name: str, default: str = "false") -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.text(default), nullable=False)


def synthetic() -> sa.Column:
    return flag("synthetic")


def money(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Numeric(14, 2), nullable=nullable)


def now(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


# --- upgrade ---


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    create_hierarchy()
    create_people()
    create_household()
    create_infrastructure()
    create_bookkeeping()


def create_hierarchy() -> None:
    op.create_table(
        "county",
        sa.Column("code", sa.CHAR(6), nullable=False),
        text_col("name"),
        text_col("city"),
        sa.Column("city_code", sa.CHAR(4), nullable=False),
        text_col("pairing_city", nullable=True),
        geom("geom", "MULTIPOLYGON"),
        synthetic(),
        pk("county", "code"),
        code_format("county", "code", 6),
        code_format("county", "city_code", 4),
        ck("county", "code_under_city", "left(code, 4) = city_code"),
        not_blank("county", "name"),
        *geom_checks("county"),
    )
    gist("county")

    op.create_table(
        "township",
        sa.Column("code", sa.CHAR(9), nullable=False),
        sa.Column("county_code", sa.CHAR(6), nullable=False),
        text_col("name"),
        geom("seat", "POINT", nullable=True),
        geom("geom", "MULTIPOLYGON"),
        synthetic(),
        pk("township", "code"),
        fk("township", "county_code", "county.code"),
        code_format("township", "code", 9),
        ck("township", "code_under_county", "left(code, 6) = county_code"),
        not_blank("township", "name"),
        *geom_checks("township"),
        *geom_checks("township", "seat"),
    )
    gist("township")
    gist("township", "seat")
    btree("township", "county_code")

    op.create_table(
        "village",
        sa.Column("code", sa.CHAR(12), nullable=False),
        sa.Column("township_code", sa.CHAR(9), nullable=False),
        text_col("name"),
        geom("geom", "MULTIPOLYGON"),
        flag("is_poor_village"),
        text_col("key_level", nullable=True),
        text_col("helping_unit", nullable=True),
        text_col("first_secretary", nullable=True),
        flag("has_standard_clinic"),
        flag("piped_water"),
        sa.Column("population", sa.Integer(), nullable=True),
        synthetic(),
        pk("village", "code"),
        fk("village", "township_code", "township.code"),
        code_format("village", "code", 12),
        ck("village", "code_under_township", "left(code, 9) = township_code"),
        not_blank("village", "name"),
        in_values("village", "key_level", KEY_LEVEL),
        ck("village", "key_village_is_poor", "key_level IS NULL OR is_poor_village"),
        non_negative("village", "population"),
        *geom_checks("village"),
    )
    gist("village")
    btree("village", "township_code")

    op.create_table(
        "village_income",
        sa.Column("village_code", sa.CHAR(12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        money("per_capita_income"),
        money("collective_income"),
        pk("village_income", "village_code", "year"),
        fk("village_income", "village_code", "village.code", ondelete="CASCADE"),
        year_range("village_income", "year"),
        non_negative("village_income", "per_capita_income"),
        non_negative("village_income", "collective_income"),
    )

    op.create_table(
        "hamlet",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("village_code", sa.CHAR(12), nullable=False),
        text_col("name"),
        geom("geom", "POINT"),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("road_hardened", sa.Boolean(), nullable=True),
        sa.Column("piped_water", sa.Boolean(), nullable=True),
        synthetic(),
        pk("hamlet", "id"),
        fk("hamlet", "village_code", "village.code"),
        uq("hamlet", "village_code", "name"),
        # target of household's (hamlet_id, village_code) FK
        uq("hamlet", "id", "village_code"),
        not_blank("hamlet", "name"),
        non_negative("hamlet", "population"),
        *geom_checks("hamlet"),
    )
    gist("hamlet")
    btree("hamlet", "village_code")


def create_people() -> None:
    op.create_table(
        "cadre",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("unit"),
        text_col("unit_level"),
        text_col("phone", nullable=True),
        sa.Column("township_code", sa.CHAR(9), nullable=False),
        synthetic(),
        pk("cadre", "id"),
        fk("cadre", "township_code", "township.code"),
        not_blank("cadre", "name"),
        in_values("cadre", "unit_level", UNIT_LEVEL),
    )
    btree("cadre", "township_code")

    op.create_table(
        "work_group",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("township_code", sa.CHAR(9), nullable=False),
        text_col("name"),
        pk("work_group", "id"),
        fk("work_group", "township_code", "township.code"),
        uq("work_group", "township_code"),
        not_blank("work_group", "name"),
    )

    op.create_table(
        "work_group_member",
        sa.Column("work_group_id", sa.Integer(), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        text_col("role"),
        text_col("duty", nullable=True),
        pk("work_group_member", "work_group_id", "cadre_id"),
        fk("work_group_member", "work_group_id", "work_group.id", ondelete="CASCADE"),
        fk("work_group_member", "cadre_id", "cadre.id", ondelete="CASCADE"),
        in_values("work_group_member", "role", WG_ROLE),
    )
    btree("work_group_member", "cadre_id")
    # seed 004: 组长、副组长各1名 — at most one leader and one deputy per group
    op.create_index(
        op.f("uq_work_group_member_one_leader_deputy"),
        "work_group_member",
        ["work_group_id", "role"],
        unique=True,
        postgresql_where=sa.text("role IN ('leader', 'deputy')"),
    )


def create_household() -> None:
    t = "household"
    op.create_table(
        t,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        text_col("household_no"),
        sa.Column("village_code", sa.CHAR(12), nullable=False),
        sa.Column("hamlet_id", sa.Integer(), nullable=True),
        geom("geom", "POINT"),
        text_col("head_name"),
        sa.Column("id_number", sa.CHAR(18), nullable=True),
        text_col("phone", nullable=True),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("labour_members", sa.Integer(), nullable=False),
        text_col("category"),
        text_col("main_cause"),
        text_col("secondary_cause", nullable=True),
        text_col("housing_status"),
        sa.Column("status", sa.Text(), server_default=sa.text("'poor'"), nullable=False),
        sa.Column("exit_year", sa.Integer(), nullable=True),
        sa.Column("cadre_id", sa.Integer(), nullable=True),
        sa.Column("scattered", sa.Boolean(), nullable=False),
        sa.Column("registered_year", sa.Integer(), nullable=True),
        now("created_at"),
        now("updated_at"),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        synthetic(),
        pk(t, "id"),
        uq(t, "household_no"),
        uq(t, "id_number"),
        fk(t, "village_code", "village.code"),
        fk(t, "cadre_id", "cadre.id"),
        # a household's hamlet must lie in the household's village
        sa.ForeignKeyConstraint(
            ["hamlet_id", "village_code"],
            ["hamlet.id", "hamlet.village_code"],
            name=op.f("fk_household_hamlet_in_village"),
        ),
        not_blank(t, "household_no"),
        not_blank(t, "head_name"),
        id_number_format(t),
        ck(t, "phone_format", r"phone ~ '^\+?[0-9][0-9 -]{4,19}$'"),
        ck(t, "members_positive", "members >= 1"),
        non_negative(t, "labour_members"),
        ck(t, "labour_not_above_members", "labour_members <= members"),
        in_values(t, "category", CATEGORY),
        in_values(t, "main_cause", CAUSE),
        in_values(t, "secondary_cause", CAUSE),
        ck(t, "secondary_cause_differs", "secondary_cause <> main_cause"),
        in_values(t, "housing_status", HOUSING_STATUS),
        in_values(t, "status", STATUS),
        # poor: no exit year; exited or returned: the year it exited
        ck(t, "exit_year_matches_status", "(status = 'poor') = (exit_year IS NULL)"),
        year_range(t, "exit_year"),
        year_range(t, "registered_year"),
        ck(t, "exit_after_registration", "exit_year >= registered_year"),
        ck(t, "version_positive", "version >= 1"),
        *geom_checks(t),
    )
    gist(t)
    btree(t, "village_code")
    btree(t, "hamlet_id")
    btree(t, "cadre_id")

    op.create_table(
        "household_income",
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        money("per_capita_income", nullable=False),
        pk("household_income", "household_id", "year"),
        fk("household_income", "household_id", "household.id", ondelete="CASCADE"),
        year_range("household_income", "year"),
        non_negative("household_income", "per_capita_income"),
    )

    m = "household_member"
    op.create_table(
        m,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        text_col("name"),
        sa.Column("id_number", sa.CHAR(18), nullable=True),
        text_col("relation"),
        sa.Column("sex", sa.CHAR(1), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        text_col("health", nullable=True),
        text_col("labour_capacity", nullable=True),
        text_col("schooling", nullable=True),
        pk(m, "id"),
        fk(m, "household_id", "household.id", ondelete="CASCADE"),
        not_blank(m, "name"),
        id_number_format(m),
        in_values(m, "relation", RELATION),
        in_values(m, "sex", SEX),
        ck(m, "birth_year_range", "birth_year BETWEEN 1900 AND 2100"),
        in_values(m, "health", HEALTH),
        in_values(m, "labour_capacity", LABOUR_CAPACITY),
        in_values(m, "schooling", SCHOOLING),
    )
    btree(m, "household_id")
    # one 户主 per household
    op.create_index(
        op.f("uq_household_member_one_head"),
        m,
        ["household_id"],
        unique=True,
        postgresql_where=sa.text("relation = 'head'"),
    )

    op.create_table(
        "help_record",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=True),
        text_col("measure"),
        text_col("note", nullable=True),
        money("amount"),
        flag("signed_household"),
        flag("signed_village"),
        flag("signed_cadre"),
        pk("help_record", "id"),
        fk("help_record", "household_id", "household.id", ondelete="CASCADE"),
        fk("help_record", "cadre_id", "cadre.id"),
        in_values("help_record", "measure", MEASURE),
        non_negative("help_record", "amount"),
    )
    btree("help_record", "household_id")
    btree("help_record", "cadre_id")

    op.create_table(
        "visit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        text_col("inspector"),
        text_col("result"),
        text_col("findings", nullable=True),
        geom("geom", "POINT", nullable=True),
        pk("visit", "id"),
        fk("visit", "household_id", "household.id", ondelete="CASCADE"),
        not_blank("visit", "inspector"),
        in_values("visit", "result", VISIT_RESULT),
        *geom_checks("visit"),
    )
    gist("visit")
    btree("visit", "household_id")


def create_infrastructure() -> None:
    op.create_table(
        "river",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name", nullable=True),
        sa.Column("order", sa.Integer(), nullable=True),
        geom("geom", "GEOMETRY"),
        synthetic(),
        pk("river", "id"),
        ck("river", "order_positive", '"order" >= 1'),
        geom_type("river", "geom", "LINESTRING", "MULTILINESTRING"),
        *geom_checks("river"),
    )
    gist("river")

    op.create_table(
        "road",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name", nullable=True),
        text_col("road_class"),
        text_col("surface"),
        geom("geom", "LINESTRING"),
        synthetic(),
        pk("road", "id"),
        in_values("road", "road_class", ROAD_CLASS),
        in_values("road", "surface", SURFACE),
        *geom_checks("road"),
    )
    gist("road")

    op.create_table(
        "clinic",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("level"),
        flag("standard"),
        sa.Column("township_code", sa.CHAR(9), nullable=True),
        sa.Column("village_code", sa.CHAR(12), nullable=True),
        geom("geom", "POINT"),
        synthetic(),
        pk("clinic", "id"),
        fk("clinic", "township_code", "township.code"),
        fk("clinic", "village_code", "village.code"),
        not_blank("clinic", "name"),
        in_values("clinic", "level", CLINIC_LEVEL),
        ck("clinic", "village_in_township", "left(village_code, 9) = township_code"),
        *geom_checks("clinic"),
    )
    gist("clinic")
    btree("clinic", "township_code")
    btree("clinic", "village_code")

    op.create_table(
        "water",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("kind"),
        geom("geom", "GEOMETRY"),
        synthetic(),
        pk("water", "id"),
        not_blank("water", "name"),
        in_values("water", "kind", WATER_KIND),
        geom_type("water", "geom", "POINT", "POLYGON", "MULTIPOLYGON"),
        *geom_checks("water"),
    )
    gist("water")

    op.create_table(
        "school",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("level"),
        geom("geom", "POINT"),
        synthetic(),
        pk("school", "id"),
        not_blank("school", "name"),
        in_values("school", "level", SCHOOL_LEVEL),
        *geom_checks("school"),
    )
    gist("school")

    op.create_table(
        "hazard_zone",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("kind"),
        text_col("level"),
        geom("geom", "MULTIPOLYGON"),
        synthetic(),
        pk("hazard_zone", "id"),
        in_values("hazard_zone", "kind", HAZARD_KIND),
        in_values("hazard_zone", "level", HAZARD_LEVEL),
        *geom_checks("hazard_zone"),
    )
    gist("hazard_zone")

    op.create_table(
        "karst_zone",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name", nullable=True),
        geom("geom", "MULTIPOLYGON"),
        synthetic(),
        pk("karst_zone", "id"),
        *geom_checks("karst_zone"),
    )
    gist("karst_zone")

    op.create_table(
        "raster",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("kind"),
        text_col("path"),
        sa.Column("epsg", sa.Integer(), nullable=False),
        geom("bounds", "POLYGON"),
        sa.Column("resolution_m", sa.Float(), nullable=False),
        text_col("sha256", nullable=True),
        synthetic(),
        pk("raster", "id"),
        uq("raster", "name"),
        not_blank("raster", "name"),
        in_values("raster", "kind", RASTER_KIND),
        not_blank("raster", "path"),
        ck("raster", "epsg_positive", "epsg > 0"),
        ck("raster", "resolution_positive", "resolution_m > 0"),
        ck("raster", "sha256_format", "sha256 ~ '^[0-9a-f]{64}$'"),
        *geom_checks("raster", "bounds"),
    )
    gist("raster", "bounds")


def create_bookkeeping() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        text_col("table_name"),
        text_col("row_id", nullable=True),
        text_col("action"),
        text_col("actor"),
        now("at"),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        pk("audit_log", "id"),
        not_blank("audit_log", "table_name"),
        in_values("audit_log", "action", AUDIT_ACTION),
    )
    btree("audit_log", "table_name", "row_id")
    btree("audit_log", "at")

    op.create_table(
        "api_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        text_col("name"),
        text_col("role"),
        text_col("scope"),
        text_col("token_hash"),
        now("created_at"),
        flag("active", default="true"),
        pk("api_user", "id"),
        uq("api_user", "name"),
        uq("api_user", "token_hash"),
        not_blank("api_user", "name"),
        in_values("api_user", "role", ROLE),
        ck("api_user", "scope_format", r"scope ~ '^(\d{6}|\d{9}|\d{12})$'"),
    )


# --- downgrade ---


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints. The postgis and pgrouting extensions
    # stay installed on purpose: objects outside this schema may depend on them, and
    # DROP EXTENSION postgis would cascade into anything that uses a geometry type.
    for table in reversed(TABLES):
        op.drop_table(table)
