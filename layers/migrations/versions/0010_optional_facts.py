"""Optional household facts, and what a list says about road and water (to check the map).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Many lists lack a 住房状况 or 劳动力人数 column. Only what identifies and places a household
(number, head, village, point) is required; a fact the list does not state is stored as
NULL (unknown) and shown as unknown, never guessed. The archive's copies of these fields
follow. The CHECK constraints hold as they are (a NULL passes them).

A list may state the household's road and water (与村主干路距离 in km, 入户路类型,
是否有安全饮水): kept as ``listed_*`` columns, so the flag ``list_vs_map`` can compare them
with the coverage analysis. Frozen history: column and kind lists are copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPTIONAL = {
    "household": ("members", "labour_members", "category", "main_cause", "housing_status"),
    "household_history": ("members", "labour_members", "category", "housing_status"),
}


LISTED = {
    "listed_road_km": sa.Numeric(8, 2),
    "listed_road_surface": sa.Text(),
    "listed_safe_water": sa.Boolean(),
}
KINDS = (
    "exited_low_income", "exited_sanbaozhang", "exited_dangerous_house", "no_help_record",
    "cadre_overloaded", "cadre_idle", "outside_village", "in_river", "shared_point", "moved",
    "duplicate_id_number", "income_jump", "status_flip_flop",
)  # fmt: skip
NEW_KINDS = ("list_vs_map",)


def _kinds_check(kinds: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_flag_kind_valid"), "flag", type_="check")
    codes = ", ".join(f"'{k}'" for k in kinds)
    op.create_check_constraint(op.f("ck_flag_kind_valid"), "flag", f"kind IN ({codes})")


def upgrade() -> None:
    for table, columns in OPTIONAL.items():
        for column in columns:
            op.alter_column(table, column, nullable=True)
    for column, type_ in LISTED.items():
        op.add_column("household", sa.Column(column, type_, nullable=True))
    op.create_check_constraint(
        op.f("ck_household_listed_road_km_range"), "household", "listed_road_km BETWEEN 0 AND 200"
    )
    op.create_check_constraint(
        op.f("ck_household_listed_road_surface_valid"),
        "household",
        "listed_road_surface IN ('hardened', 'gravel', 'earth')",
    )
    _kinds_check(KINDS + NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM flag WHERE kind IN ('list_vs_map')")
    _kinds_check(KINDS)
    for column in LISTED:
        op.drop_column("household", column)
    # only possible while every fact is known: a NULL makes SET NOT NULL fail (as it should)
    for table, columns in OPTIONAL.items():
        for column in columns:
            op.alter_column(table, column, nullable=False)
