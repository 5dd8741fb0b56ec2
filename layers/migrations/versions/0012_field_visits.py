"""Visits recorded on inspectors' phones (the /field app): who, where, when, and a photo.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Additive. ``visit`` gains the facts a phone records and the sync needs:
- ``client_id``: the id the phone gave the visit (UUID); unique, so a replayed sync stores
  the visit once;
- ``plan_id``: the route plan it was recorded for (kept NULL when the plan is deleted);
- ``started_at``/``recorded_at`` (server time: the phone's clock corrected by the skew seen
  at sync, ``clock_skew_s``), ``received_at``;
- the position's ``accuracy_m`` and ``distance_m`` from the household's registered point;
- ``household_version``: the household's version when the plan was downloaded (a sync
  against a changed household is reported as a conflict, not stored over it);
- ``checks``: the 两不愁三保障 answers; ``flags``: why the visit may not have been on site
  (far from the household, recorded in seconds, no position) — seed 003 "数字脱贫";
- ``photo_sha256``: the photo, stored once by its SHA-256 in ``visit_photo``; ``source``.
The API role may insert photos (reads are scoped in SQL through the visit's household).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "gongjian_api"
FLAGS = ("far", "quick", "no_position")
SOURCES = ("field", "odk")


def upgrade() -> None:
    op.create_table(
        "visit_photo",
        sa.Column("sha256", sa.CHAR(64), primary_key=True),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column(
            "uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_visit_photo_sha256_hex")),
        sa.CheckConstraint(
            "media_type IN ('image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_visit_photo_media_type_valid"),
        ),
        sa.CheckConstraint("size_bytes = octet_length(data)", name=op.f("ck_visit_photo_size")),
    )
    columns = [
        sa.Column("client_id", postgresql.UUID(as_uuid=True)),
        sa.Column("plan_id", sa.BigInteger()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("recorded_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("clock_skew_s", sa.Float()),
        sa.Column("accuracy_m", sa.Float()),
        sa.Column("distance_m", sa.Float()),
        sa.Column("household_version", sa.Integer()),
        sa.Column("checks", postgresql.JSONB()),
        sa.Column("flags", postgresql.ARRAY(sa.Text())),
        sa.Column("photo_sha256", sa.CHAR(64)),
        sa.Column("source", sa.Text()),
    ]
    for column in columns:
        op.add_column("visit", column)
    op.create_unique_constraint(op.f("uq_visit_client_id"), "visit", ["client_id"])
    op.create_foreign_key(
        op.f("fk_visit_plan_id_route_plan"), "visit", "route_plan", ["plan_id"], ["id"],
        ondelete="SET NULL",
    )  # fmt: skip
    op.create_foreign_key(
        op.f("fk_visit_photo_sha256_visit_photo"), "visit", "visit_photo", ["photo_sha256"],
        ["sha256"],
    )  # fmt: skip
    op.create_index(op.f("ix_visit_plan_id"), "visit", ["plan_id"])
    flags = ", ".join(f"'{f}'" for f in FLAGS)
    sources = ", ".join(f"'{s}'" for s in SOURCES)
    op.create_check_constraint(
        op.f("ck_visit_flags_valid"), "visit", f"flags <@ ARRAY[{flags}]::text[]"
    )
    op.create_check_constraint(op.f("ck_visit_source_valid"), "visit", f"source IN ({sources})")
    op.create_check_constraint(op.f("ck_visit_accuracy_non_negative"), "visit", "accuracy_m >= 0")
    op.execute(
        _if_role_exists(
            f"GRANT SELECT, INSERT ON visit_photo TO {API_ROLE}; "
            f"GRANT SELECT, INSERT, UPDATE ON visit TO {API_ROLE}"
        )
    )


def _if_role_exists(body: str) -> str:
    return f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                {body};
            END IF;
        END $$
    """


def downgrade() -> None:
    for name in ("ck_visit_flags_valid", "ck_visit_source_valid", "ck_visit_accuracy_non_negative",
                 "uq_visit_client_id", "fk_visit_plan_id_route_plan",
                 "fk_visit_photo_sha256_visit_photo"):  # fmt: skip
        op.drop_constraint(op.f(name), "visit")
    op.drop_index(op.f("ix_visit_plan_id"), "visit")
    for column in ("client_id", "plan_id", "started_at", "recorded_at", "received_at",
                   "clock_skew_s", "accuracy_m", "distance_m", "household_version", "checks",
                   "flags", "photo_sha256", "source"):  # fmt: skip
        op.drop_column("visit", column)
    op.drop_table("visit_photo")
