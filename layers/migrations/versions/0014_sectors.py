"""Work-group sectors (分组包片): the proposed or accepted division of a township's households.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

``sector``: one row per member of a township's work group, written by ``gongjian sectors``
(status ``proposed``; ``accepted`` once ``--accept`` has paired the households with their
member): households, hamlets, whether the hamlets are contiguous, the member's round trip
from the seat in minutes, the household and hamlet ids, and the outline of the member's
households for the maps. Row-level security by township and the layer-change trigger, as
for the other result tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = "sector"


def ck(rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{T}_{rule}"))


def upgrade() -> None:
    lonlat = (
        "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180"
        " AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"
    )
    op.create_table(
        T,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("township_code", sa.CHAR(9), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("hamlets", sa.Integer(), nullable=False),
        sa.Column("contiguous", sa.Boolean(), nullable=False),
        sa.Column("travel_min", sa.Float(), nullable=False),
        sa.Column("household_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("hamlet_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{T}")),
        sa.ForeignKeyConstraint(
            ["township_code"],
            ["township.code"],
            name=op.f(f"fk_{T}_township_code_township"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadre.id"], name=op.f(f"fk_{T}_cadre_id_cadre"), ondelete="CASCADE"
        ),
        ck("status_valid", "status IN ('proposed', 'accepted')"),
        ck("households_non_negative", "households >= 0"),
        ck("hamlets_non_negative", "hamlets >= 0"),
        ck("travel_min_non_negative", "travel_min >= 0"),
        ck("geom_valid", "ST_IsValid(geom)"),
        ck("geom_not_empty", "NOT ST_IsEmpty(geom)"),
        ck("geom_lonlat", lonlat),
        sa.UniqueConstraint(
            "township_code", "cadre_id", name=op.f(f"uq_{T}_township_code_cadre_id")
        ),
    )
    op.create_index(op.f(f"ix_{T}_township_code"), T, ["township_code"])
    op.create_index(op.f(f"idx_{T}_geom"), T, ["geom"], postgresql_using="gist")
    op.execute(f"ALTER TABLE {T} ENABLE ROW LEVEL SECURITY")
    test = "gongjian_meta.in_scope(township_code)"
    op.execute(f"CREATE POLICY scope_{T} ON {T} USING ({test}) WITH CHECK ({test})")
    op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{T}')")
    op.execute(
        f"CREATE TRIGGER trg_{T}_layer_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {T} "
        "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
    )


def downgrade() -> None:
    op.drop_table(T)  # drops its policy, trigger and indexes too
    op.execute(f"DELETE FROM gongjian_meta.layer_change WHERE table_name = '{T}'")
