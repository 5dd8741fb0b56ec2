"""Relocation analysis results (issue 8): candidates, hamlets as places, groups, sites.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

Result tables refreshed by ``gongjian relocation``, per township:

- ``relocation_household``: every assessed household — terrain, hazard and access values,
  the criteria met with their values, hard/score, and ``candidate`` with its relocation
  (whole/scattered), group, assigned site and minutes.
- ``relocation_hamlet``: every 自然村 assessed as a place, with the verdict for its homes.
- ``relocation_group``: relocating groups (hamlet, DBSCAN cluster or single home) with their
  outline (MultiPolygon) for the map.
- ``relocation_site``: ranked resettlement sites per township (suitable land as a
  MultiPolygon, its ``point``), capacity, access and travel time from the candidates.
- ``relocation_run``: profile and timings of each refresh.

Rows go with their household, hamlet, village or township (ON DELETE CASCADE). Like
migration 0004 the scoped tables get row-level security by administrative code and the
layer-change trigger (tile cache invalidation). Frozen history: value lists copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4326
CRITERIA = (
    "hazard", "flood", "slope", "elevation", "relief", "karst_water", "road", "clinic", "water",
)  # fmt: skip
KINDS = ("whole", "scattered")
# table -> its administrative code column (row-level security, as in migration 0004)
SCOPED = {
    "relocation_household": "village_code",
    "relocation_hamlet": "village_code",
    "relocation_group": "village_code",
    "relocation_site": "township_code",
}
TABLES = ("relocation_run", *SCOPED)


def ck(table: str, rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{rule}"))


def one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return ck(table, f"{column}_valid", f"{column} IN ({codes})")


def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete="CASCADE")


def geometry(name: str, kind: str) -> sa.Column:
    return sa.Column(name, Geometry(kind, srid=SRID, spatial_index=False), nullable=False)


def geom_checks(table: str, column: str = "geom") -> tuple[sa.CheckConstraint, ...]:
    lonlat = (
        f"ST_XMin({column}) >= -180 AND ST_XMax({column}) <= 180"
        f" AND ST_YMin({column}) >= -90 AND ST_YMax({column}) <= 90"
    )
    return (
        ck(table, f"{column}_valid", f"ST_IsValid({column})"),
        ck(table, f"{column}_not_empty", f"NOT ST_IsEmpty({column})"),
        ck(table, f"{column}_lonlat", lonlat),
    )


def non_negative(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_non_negative", f"{column} >= 0")


def col(name: str, type_: sa.types.TypeEngine, nullable: bool = False) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable)


def result_columns() -> list[sa.Column]:
    """What every result row carries: profile fingerprint and time (geometry and the
    synthetic flag follow in each table, in model order)."""
    return [
        col("profile", sa.Text()),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def synthetic() -> sa.Column:
    return sa.Column("synthetic", sa.Boolean(), server_default=sa.text("false"), nullable=False)


def index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def gist(table: str, column: str = "geom") -> None:
    op.create_index(op.f(f"idx_{table}_{column}"), table, [column], postgresql_using="gist")


def upgrade() -> None:
    create_run()
    create_household()
    create_hamlet()
    create_group()
    create_site()
    for table, code in SCOPED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        test = f"gongjian_meta.in_scope({code})"
        op.execute(f"CREATE POLICY scope_{table} ON {table} USING ({test}) WITH CHECK ({test})")
        op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER trg_{table}_layer_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
        )


def create_run() -> None:
    t = "relocation_run"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        col("scope", sa.Text()),
        col("profile_name", sa.Text()),
        col("profile", sa.Text()),
        col("profile_values", postgresql.JSONB()),
        col("households", sa.Integer()),
        col("candidates", sa.Integer()),
        col("groups", sa.Integer()),
        col("sites", sa.Integer()),
        col("timings", postgresql.JSONB()),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        pk(t, "id"),
        ck(t, "scope_not_blank", "btrim(scope) <> ''"),
        *(non_negative(t, c) for c in ("households", "candidates", "groups", "sites")),
    )
    index(t, "profile")


def relocation_checks(t: str) -> tuple[sa.CheckConstraint, ...]:
    criteria = ", ".join(f"'{c}'" for c in CRITERIA)
    return (
        ck(t, "criteria_valid", f"criteria <@ ARRAY[{criteria}]::text[]"),
        ck(t, "score_non_negative", "score >= 0"),
        ck(t, "slope_range", "slope_deg BETWEEN 0 AND 90"),
        ck(t, "terrain_note_valid", "terrain_note IN ('no terrain data')"),
        ck(
            t,
            "access_non_negative",
            "(hardened_road_m IS NULL OR hardened_road_m >= 0) "
            "AND (clinic_min IS NULL OR clinic_min >= 0)",
        ),
        one_of(t, "relocation", KINDS),
    )


def terrain_columns() -> list[sa.Column]:
    return [
        col("elevation_m", sa.Float(), True),
        col("slope_deg", sa.Float(), True),
        col("slope_mean_deg", sa.Float(), True),
        col("relief_m", sa.Float(), True),
        col("terrain_note", sa.Text(), True),
        col("hazard_kind", sa.Text(), True),
        col("hazard_level", sa.Text(), True),
    ]


def verdict_columns() -> list[sa.Column]:
    return [
        col("criteria", postgresql.ARRAY(sa.Text())),
        col("reasons", postgresql.JSONB()),
        col("hard", sa.Boolean()),
        col("score", sa.Float()),
    ]


def create_household() -> None:
    t = "relocation_household"
    op.create_table(
        t,
        col("household_id", sa.BigInteger()),
        col("township_code", sa.CHAR(9)),
        col("village_code", sa.CHAR(12)),
        col("hamlet_id", sa.Integer(), True),
        col("members", sa.Integer()),
        *terrain_columns(),
        col("flood_level", sa.Text(), True),
        col("karst", sa.Boolean()),
        col("piped_water", sa.Boolean()),
        col("hardened_road_m", sa.Float(), True),
        col("clinic_min", sa.Float(), True),
        col("health_centre_min", sa.Float(), True),
        col("school_min", sa.Float(), True),
        *verdict_columns(),
        col("eligible", sa.Boolean()),
        col("relocated", sa.Boolean()),
        col("candidate", sa.Boolean()),
        col("relocation", sa.Text(), True),
        col("basis", sa.Text(), True),
        col("group_key", sa.Text(), True),
        col("site_key", sa.Text(), True),
        col("site_minutes", sa.Float(), True),
        col("reason_text", sa.Text(), True),
        *result_columns(),
        geometry("geom", "POINT"),
        synthetic(),
        pk(t, "household_id"),
        fk(t, "household_id", "household.id"),
        fk(t, "village_code", "village.code"),
        *relocation_checks(t),
        one_of(t, "basis", ("criteria", "whole_hamlet")),
        ck(t, "candidate_has_kind", "candidate = (relocation IS NOT NULL)"),
        ck(t, "relocated_not_candidate", "NOT (candidate AND relocated)"),
        ck(t, "site_minutes_range", "site_minutes IS NULL OR site_minutes >= 0"),
        *geom_checks(t),
    )
    for column in ("township_code", "village_code", "group_key"):
        index(t, column)
    gist(t)


def create_hamlet() -> None:
    t = "relocation_hamlet"
    op.create_table(
        t,
        col("hamlet_id", sa.Integer()),
        col("township_code", sa.CHAR(9)),
        col("village_code", sa.CHAR(12)),
        col("name", sa.Text()),
        col("population", sa.Integer(), True),
        col("households", sa.Integer()),
        *terrain_columns(),
        col("hazard_share", sa.Float()),
        col("flood_level", sa.Text(), True),
        col("karst", sa.Boolean()),
        col("piped_water", sa.Boolean()),
        col("road_hardened", sa.Boolean(), True),
        col("hardened_road_m", sa.Float(), True),
        col("clinic_min", sa.Float(), True),
        *verdict_columns(),
        col("candidate", sa.Boolean()),
        col("eligible_households", sa.Integer()),
        col("share", sa.Float(), True),
        col("relocation", sa.Text(), True),
        col("reason_text", sa.Text(), True),
        *result_columns(),
        geometry("geom", "POINT"),
        synthetic(),
        pk(t, "hamlet_id"),
        fk(t, "hamlet_id", "hamlet.id"),
        fk(t, "village_code", "village.code"),
        *relocation_checks(t),
        non_negative(t, "households"),
        ck(t, "eligible_households_range", "eligible_households BETWEEN 0 AND households"),
        ck(t, "share_range", "share BETWEEN 0 AND 1"),
        *geom_checks(t),
    )
    index(t, "township_code")
    index(t, "village_code")
    gist(t)


def create_group() -> None:
    t = "relocation_group"
    op.create_table(
        t,
        col("group_key", sa.Text()),
        col("township_code", sa.CHAR(9)),
        col("village_code", sa.CHAR(12)),
        col("hamlet_id", sa.Integer(), True),
        col("name", sa.Text()),
        col("basis", sa.Text()),
        col("relocation", sa.Text()),
        col("whole_by", sa.Text(), True),
        col("households", sa.Integer()),
        col("eligible", sa.Integer()),
        col("candidates", sa.Integer()),
        col("people", sa.Integer()),
        col("share", sa.Float()),
        col("criteria_counts", postgresql.JSONB()),
        col("reason_text", sa.Text()),
        col("site_key", sa.Text(), True),
        col("site_minutes", sa.Float(), True),
        *result_columns(),
        geometry("geom", "MULTIPOLYGON"),
        synthetic(),
        pk(t, "group_key"),
        fk(t, "village_code", "village.code"),
        fk(t, "hamlet_id", "hamlet.id"),
        one_of(t, "basis", ("hamlet", "cluster", "single")),
        one_of(t, "relocation", KINDS),
        one_of(t, "whole_by", ("place", "share")),
        ck(t, "whole_has_why", "(relocation = 'whole') = (whole_by IS NOT NULL)"),
        ck(t, "candidates_range", "candidates BETWEEN 1 AND households"),
        ck(t, "eligible_range", "eligible BETWEEN 0 AND households"),
        non_negative(t, "people"),
        ck(t, "share_range", "share BETWEEN 0 AND 1"),
        *geom_checks(t),
    )
    index(t, "township_code")
    index(t, "village_code")
    gist(t)


def create_site() -> None:
    t = "relocation_site"
    op.create_table(
        t,
        col("site_key", sa.Text()),
        col("township_code", sa.CHAR(9)),
        col("rank", sa.Integer()),
        col("cells", sa.Integer()),
        col("area_ha", sa.Float()),
        col("capacity_households", sa.Integer()),
        col("slope_mean_deg", sa.Float()),
        col("elevation_m", sa.Float()),
        col("hardened_road_m", sa.Float()),
        col("health_centre_min", sa.Float()),
        col("health_centre_id", sa.Integer(), True),
        col("school_min", sa.Float()),
        col("school_id", sa.Integer(), True),
        col("water_nearby", sa.Boolean()),
        col("from_candidates_mean_min", sa.Float(), True),
        col("from_candidates_max_min", sa.Float(), True),
        col("reachable_candidates", sa.Integer()),
        col("score_min", sa.Float()),
        col("assigned_households", sa.Integer()),
        col("assigned_people", sa.Integer()),
        col("within_capacity", sa.Boolean()),
        col("reason_text", sa.Text()),
        *result_columns(),
        geometry("point", "POINT"),
        geometry("geom", "MULTIPOLYGON"),
        synthetic(),
        pk(t, "site_key"),
        fk(t, "township_code", "township.code"),
        sa.UniqueConstraint(
            "township_code", "rank", name=op.f("uq_relocation_site_township_code_rank")
        ),
        ck(t, "rank_positive", "rank >= 1"),
        ck(t, "area_positive", "area_ha > 0"),
        non_negative(t, "capacity_households"),
        non_negative(t, "assigned_households"),
        non_negative(t, "assigned_people"),
        ck(t, "slope_range", "slope_mean_deg BETWEEN 0 AND 90"),
        ck(
            t,
            "access_non_negative",
            "health_centre_min >= 0 AND school_min >= 0 AND hardened_road_m >= 0",
        ),
        *geom_checks(t),
        *geom_checks(t, "point"),
    )
    index(t, "township_code")
    gist(t, "point")
    gist(t)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)  # drops its policy, trigger and indexes too
    names = ", ".join(f"'{t}'" for t in SCOPED)
    op.execute(f"DELETE FROM gongjian_meta.layer_change WHERE table_name IN ({names})")
