"""API tokens can expire.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04

``api_user.expires_at``: after this instant the token answers 401 like a revoked one
(``gongjian user add --expires``). Empty: the token works until it is revoked, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_user", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_user", "expires_at")
