"""Townships and villages without polygons, and boundaries derived from points.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``gongjian county init`` creates a county's townships and villages from the official codes
(统计用区划代码 2023), which carry no polygons, so their ``geom`` may be NULL. Boundaries
derived from the households' and hamlets' points are stored in ``geom`` with
``boundary_derived`` true (示意界线: approximate, drawn dashed); real polygons imported later
replace them. A village also keeps its official name (e.g. 大塘村委会, while ``name`` is the
大塘村 offices write) and whether it is a 村委会 (rural village) or 居委会 (urban community).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMITTEES = ("村委会", "居委会", "其他")


def upgrade() -> None:
    for table in ("township", "village"):
        op.alter_column(table, "geom", nullable=True)
        op.add_column(
            table,
            sa.Column("boundary_derived", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_derived_has_geom "
            "CHECK (NOT boundary_derived OR geom IS NOT NULL)"
        )
    op.add_column("village", sa.Column("official_name", sa.Text(), nullable=True))
    op.add_column("village", sa.Column("committee", sa.Text(), nullable=True))
    allowed = ", ".join(f"'{c}'" for c in COMMITTEES)
    op.execute(
        "ALTER TABLE village ADD CONSTRAINT ck_village_committee_valid "
        f"CHECK (committee IN ({allowed}))"
    )


def downgrade() -> None:
    # townships and villages without a polygon cannot go back: refused by NOT NULL below
    op.execute("ALTER TABLE village DROP CONSTRAINT ck_village_committee_valid")
    op.drop_column("village", "committee")
    op.drop_column("village", "official_name")
    for table in ("township", "village"):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_derived_has_geom")
        op.drop_column(table, "boundary_derived")
        op.alter_column(table, "geom", nullable=False)
