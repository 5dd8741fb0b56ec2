"""What-if scenarios (issue 19): proposed roads, hardened segments and new facilities.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

- ``scenario``: a named set of proposed changes for one township.
- ``scenario_change``: one change — a new road (line, with class and surface), a road to
  harden (``road_id``), or a new clinic, water point or school (point).

The real layers are never touched: coverage under a scenario is computed from them with the
changes laid over a copy. Like migration 0008, reads are open to the API role (queries filter
by the caller's scope in SQL) and writes are scoped by the township; the change table gets the
layer-change trigger (tile cache invalidation). Frozen history: value lists copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED = {
    "scenario": "township_code",
    "scenario_change": "(SELECT s.township_code FROM scenario s WHERE s.id = scenario_id)",
}


def ck(table: str, rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{rule}"))


def created() -> list[sa.Column]:
    return [
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "scenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("township_code", sa.CHAR(9), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario")),
        sa.ForeignKeyConstraint(
            ["township_code"],
            ["township.code"],
            name=op.f("fk_scenario_township_code_township"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("name", name=op.f("uq_scenario_name")),
        ck("scenario", "name_not_blank", "btrim(name) <> ''"),
    )
    op.create_index(op.f("ix_scenario_township_code"), "scenario", ["township_code"])
    t = "scenario_change"
    lonlat = (
        "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180"
        " AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"
    )
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("road_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("road_class", sa.Text(), nullable=True),
        sa.Column("surface", sa.Text(), nullable=True),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=True),
        *created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_change")),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenario.id"],
            name=op.f("fk_scenario_change_scenario_id_scenario"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["road_id"],
            ["road.id"],
            name=op.f("fk_scenario_change_road_id_road"),
            ondelete="CASCADE",
        ),
        ck(t, "kind_valid", "kind IN ('road', 'harden', 'clinic', 'water', 'school')"),
        ck(t, "road_id_iff_harden", "(kind = 'harden') = (road_id IS NOT NULL)"),
        ck(t, "geom_unless_harden", "(kind = 'harden') = (geom IS NULL)"),
        ck(
            t,
            "road_is_line",
            "kind <> 'road' OR (GeometryType(geom) = 'LINESTRING' "
            "AND road_class IS NOT NULL AND surface IS NOT NULL)",
        ),
        ck(
            t,
            "facility_is_point",
            "kind NOT IN ('clinic', 'water', 'school') OR GeometryType(geom) = 'POINT'",
        ),
        ck(
            t,
            "road_class_valid",
            "road_class IN ('national', 'provincial', 'county', 'township', 'village')",
        ),
        ck(t, "surface_valid", "surface IN ('hardened', 'gravel', 'earth')"),
        ck(t, "geom_valid", "ST_IsValid(geom)"),
        ck(t, "geom_not_empty", "NOT ST_IsEmpty(geom)"),
        ck(t, "geom_lonlat", lonlat),
    )
    op.create_index(op.f("ix_scenario_change_scenario_id"), t, ["scenario_id"])
    op.create_index(op.f("idx_scenario_change_geom"), t, ["geom"], postgresql_using="gist")
    for table, code in SCOPED.items():
        test = f"gongjian_meta.in_scope({code})"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY read_{table} ON {table} FOR SELECT USING (true)")
        op.execute(f"CREATE POLICY insert_{table} ON {table} FOR INSERT WITH CHECK ({test})")
        op.execute(
            f"CREATE POLICY update_{table} ON {table} FOR UPDATE USING ({test}) WITH CHECK ({test})"
        )
        op.execute(f"CREATE POLICY delete_{table} ON {table} FOR DELETE USING ({test})")
    op.execute("INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('scenario_change')")
    op.execute(
        "CREATE TRIGGER trg_scenario_change_layer_change "
        "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scenario_change "
        "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
    )


def downgrade() -> None:
    op.drop_table("scenario_change")  # drops its policies, trigger and indexes too
    op.drop_table("scenario")
    op.execute("DELETE FROM gongjian_meta.layer_change WHERE table_name = 'scenario_change'")
