"""Optional household facts: members, labour, category, cause and housing may be unknown.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04

Many lists lack a 住房状况 or 劳动力人数 column. Only what identifies and places a household
(number, head, village, point) is required; a fact the list does not state is stored as
NULL (unknown) and shown as unknown, never guessed. The archive's copies of these fields
follow. The CHECK constraints hold as they are (a NULL passes them). Frozen history: the
column lists are copied literally.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPTIONAL = {
    "household": ("members", "labour_members", "category", "main_cause", "housing_status"),
    "household_history": ("members", "labour_members", "category", "housing_status"),
}


def upgrade() -> None:
    for table, columns in OPTIONAL.items():
        for column in columns:
            op.alter_column(table, column, nullable=True)


def downgrade() -> None:
    # only possible while every fact is known: a NULL makes SET NOT NULL fail (as it should)
    for table, columns in OPTIONAL.items():
        for column in columns:
            op.alter_column(table, column, nullable=False)
