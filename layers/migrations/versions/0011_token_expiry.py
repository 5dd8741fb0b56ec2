"""API tokens can expire; the work groups' roster gets change counters.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

- ``api_user.expires_at``: after this instant the token answers 401 like a revoked one
  (``gongjian user add --expires``). Empty: the token works until it is revoked, as before.
- ``work_group`` and ``work_group_member`` get the layer-change counter of migration 0003,
  so everything the wall map reads has one and a rendered wall map can be cached until the
  data under it changes. Frozen history: the table list is copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ROSTER = ("work_group", "work_group_member")


def upgrade() -> None:
    op.add_column("api_user", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    for table in ROSTER:
        op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER trg_{table}_layer_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
        )


def downgrade() -> None:
    for table in ROSTER:
        op.execute(f"DROP TRIGGER trg_{table}_layer_change ON {table}")
    op.execute(
        "DELETE FROM gongjian_meta.layer_change "
        "WHERE table_name IN ('work_group', 'work_group_member')"
    )
    op.drop_column("api_user", "expires_at")
