"""Coverage analysis results (issue 7): per household, hamlet, village, township; isochrones.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Result tables refreshed by ``gongjian coverage``; rows go with their household, hamlet,
village or township (ON DELETE CASCADE). Like the data tables of migration 0003 they get the
layer-change trigger (tile cache invalidation) and row-level security by administrative code.
Frozen history: the criteria and facility kinds are copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4326
CRITERIA = (
    "road", "hamlet_road", "clinic", "village_clinic", "health_centre", "school", "water",
    "cadre",
)  # fmt: skip
FACILITY_KINDS = ("clinic", "village_clinic", "health_centre", "school")
# table -> its administrative code column (row-level security, as in migration 0003)
SCOPED = {
    "coverage_household": "village_code",
    "coverage_hamlet": "village_code",
    "coverage_village": "village_code",
    "coverage_township": "township_code",
    "isochrone": "township_code",
}
TABLES = ("coverage_run", *SCOPED)


def ck(table: str, rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{rule}"))


def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete="CASCADE")


def geom(kind: str) -> sa.Column:
    return sa.Column("geom", Geometry(kind, srid=SRID, spatial_index=False), nullable=False)


def geom_checks(table: str) -> tuple[sa.CheckConstraint, ...]:
    lonlat = (
        "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180"
        " AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"
    )
    return (
        ck(table, "geom_valid", "ST_IsValid(geom)"),
        ck(table, "geom_not_empty", "NOT ST_IsEmpty(geom)"),
        ck(table, "geom_lonlat", lonlat),
    )


def non_negative(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_non_negative", f"{column} >= 0")


def col(name: str, type_: sa.types.TypeEngine, nullable: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def flag(name: str) -> sa.Column:
    return col(name, sa.Boolean())


def count(name: str) -> sa.Column:
    return col(name, sa.Integer())


def result_columns() -> list[sa.Column]:
    """What every result row carries: profile fingerprint, time, synthetic flag."""
    return [
        col("profile", sa.Text()),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("synthetic", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    ]


def index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def gist(table: str) -> None:
    op.create_index(op.f(f"idx_{table}_geom"), table, ["geom"], postgresql_using="gist")


def upgrade() -> None:
    create_run()
    create_household()
    create_hamlet()
    create_village()
    create_township()
    create_isochrone()
    for table, code in SCOPED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        test = f"gongjian_meta.in_scope({code})"
        op.execute(f"CREATE POLICY scope_{table} ON {table} USING ({test}) WITH CHECK ({test})")
    for table in SCOPED:
        op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER trg_{table}_layer_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
        )


def create_run() -> None:
    t = "coverage_run"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        col("scope", sa.Text()),
        col("profile_name", sa.Text()),
        col("profile", sa.Text()),
        col("profile_values", postgresql.JSONB()),
        count("households"),
        count("uncovered"),
        col("network", postgresql.JSONB()),
        col("timings", postgresql.JSONB()),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        pk(t, "id"),
        ck(t, "scope_not_blank", "btrim(scope) <> ''"),
        non_negative(t, "households"),
        non_negative(t, "uncovered"),
    )
    index(t, "profile")


def create_household() -> None:
    t = "coverage_household"
    minutes = []
    for kind in FACILITY_KINDS:
        minutes += [col(f"{kind}_min", sa.Float(), True), col(f"{kind}_id", sa.Integer(), True)]
    values = ("road_m", "hardened_road_m", *(f"{k}_min" for k in FACILITY_KINDS))
    op.create_table(
        t,
        col("household_id", sa.BigInteger()),
        col("township_code", sa.CHAR(9)),
        col("village_code", sa.CHAR(12)),
        col("hamlet_id", sa.Integer(), True),
        col("cadre_id", sa.Integer(), True),
        col("road_m", sa.Float(), True),
        col("hardened_road_m", sa.Float(), True),
        *minutes,
        sa.Column(
            "unreachable", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False
        ),
        flag("piped_water"),
        col("water_source", sa.Text(), True),
        *(flag(f"flag_{c}") for c in CRITERIA),
        col("flags", postgresql.ARRAY(sa.Text())),
        col("reasons", postgresql.JSONB()),
        flag("uncovered"),
        col("reason_text", sa.Text(), True),
        *result_columns(),
        geom("POINT"),
        pk(t, "household_id"),
        fk(t, "household_id", "household.id"),
        fk(t, "village_code", "village.code"),
        ck(
            t,
            "values_non_negative",
            " AND ".join(f"({c} IS NULL OR {c} >= 0)" for c in values),
        ),
        ck(t, "water_source_valid", "water_source IN ('hamlet', 'supply_area')"),
        ck(t, "uncovered_matches_flags", "uncovered = (cardinality(flags) > 0)"),
        *geom_checks(t),
    )
    index(t, "township_code")
    index(t, "village_code")
    gist(t)


def create_hamlet() -> None:
    t = "coverage_hamlet"
    op.create_table(
        t,
        col("hamlet_id", sa.Integer()),
        col("township_code", sa.CHAR(9)),
        col("village_code", sa.CHAR(12)),
        col("name", sa.Text()),
        col("population", sa.Integer(), True),
        count("households"),
        count("uncovered"),
        col("road_hardened", sa.Boolean(), True),
        col("hardened_road_m", sa.Float(), True),
        flag("hardened_connected"),
        flag("needs_hardening"),
        col("hardening_reason", sa.Text(), True),
        col("piped_water", sa.Boolean(), True),
        *result_columns(),
        geom("POINT"),
        pk(t, "hamlet_id"),
        fk(t, "hamlet_id", "hamlet.id"),
        fk(t, "village_code", "village.code"),
        non_negative(t, "households"),
        non_negative(t, "uncovered"),
        ck(
            t,
            "hardening_reason_valid",
            "hardening_reason IN ('recorded', 'computed', 'recorded+computed')",
        ),
        ck(t, "reason_when_needed", "needs_hardening = (hardening_reason IS NOT NULL)"),
        *geom_checks(t),
    )
    index(t, "township_code")
    index(t, "village_code")
    gist(t)


def flag_counts() -> list[sa.Column]:
    return [count("households"), count("uncovered"), *(count(f"flag_{c}") for c in CRITERIA)]


def create_village() -> None:
    t = "coverage_village"
    op.create_table(
        t,
        col("village_code", sa.CHAR(12)),
        col("township_code", sa.CHAR(9)),
        col("name", sa.Text()),
        flag("is_poor_village"),
        *flag_counts(),
        count("hamlets"),
        count("hamlets_needing_road"),
        flag("has_standard_clinic"),
        flag("clinic_record_mismatch"),
        flag("lacks_standard_clinic"),
        col("piped_share", sa.Float(), True),
        col("piped_household_share", sa.Float(), True),
        flag("low_piped_share"),
        count("cadres"),
        col("households_per_cadre", sa.Float(), True),
        col("max_cadre_load", sa.Integer(), True),
        count("cadres_over_limit"),
        *result_columns(),
        geom("MULTIPOLYGON"),
        pk(t, "village_code"),
        fk(t, "village_code", "village.code"),
        non_negative(t, "households"),
        ck(t, "uncovered_range", "uncovered BETWEEN 0 AND households"),
        ck(t, "piped_share_range", "piped_share BETWEEN 0 AND 1"),
        ck(t, "piped_household_share_range", "piped_household_share BETWEEN 0 AND 1"),
        *geom_checks(t),
    )
    index(t, "township_code")
    gist(t)


def create_township() -> None:
    t = "coverage_township"
    op.create_table(
        t,
        col("township_code", sa.CHAR(9)),
        col("name", sa.Text(), True),
        *flag_counts(),
        count("villages"),
        count("poor_villages"),
        count("poor_villages_without_standard_clinic"),
        count("hamlets_needing_road"),
        count("cadres"),
        count("cadres_over_limit"),
        col("piped_household_share", sa.Float(), True),
        *result_columns(),
        geom("MULTIPOLYGON"),
        pk(t, "township_code"),
        fk(t, "township_code", "township.code"),
        non_negative(t, "households"),
        ck(t, "uncovered_range", "uncovered BETWEEN 0 AND households"),
        *geom_checks(t),
    )
    gist(t)


def create_isochrone() -> None:
    t = "isochrone"
    kinds = ", ".join(f"'{k}'" for k in FACILITY_KINDS)
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        col("township_code", sa.CHAR(9)),
        col("kind", sa.Text()),
        col("facility_id", sa.Integer()),
        col("minutes", sa.Float()),
        *result_columns(),
        geom("MULTIPOLYGON"),
        pk(t, "id"),
        fk(t, "township_code", "township.code"),
        sa.UniqueConstraint(
            "township_code",
            "kind",
            "facility_id",
            "minutes",
            name=op.f("uq_isochrone_township_code_kind_facility_id_minutes"),
        ),
        ck(t, "kind_valid", f"kind IN ({kinds})"),
        ck(t, "minutes_positive", "minutes > 0"),
        *geom_checks(t),
    )
    index(t, "township_code")
    gist(t)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)  # drops its policy, trigger and indexes too
    names = ", ".join(f"'{t}'" for t in SCOPED)
    op.execute(f"DELETE FROM gongjian_meta.layer_change WHERE table_name IN ({names})")
