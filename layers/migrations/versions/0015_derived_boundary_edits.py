"""The API may redraw derived (示意) boundaries when an editor moves a household.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

A county set up from the official codes has polygons derived from its households' points
(``boundary_derived``). When the API moves a household, :func:`layers.edits.update_household`
re-derives them, so the API's role may update exactly the two columns the derivation writes,
of townships and villages, and nothing else of them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "gongjian_api"
TABLES = ("township", "village")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"GRANT UPDATE (geom, boundary_derived) ON {table} TO {API_ROLE}")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"REVOKE UPDATE (geom, boundary_derived) ON {table} FROM {API_ROLE}")
