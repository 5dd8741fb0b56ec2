"""Row-level security on the analysis tables guards writes only, as on the base tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Migrations 0004–0007 gave the analysis tables (coverage, history and flags, routes,
relocation) one policy for every command, so reads also needed ``gongjian.scope``. Tiles are
rendered outside :func:`layers.access.scoped_connection` (one read-only statement; the scope
filter is in the SQL, see migration 0003) and came back empty for these layers; and a read
policy would turn tile queries into full scans, because PostGIS' ``&&`` is not LEAKPROOF.
Like the base tables in 0003: reads are open to the API role (every query filters by the
caller's scope in SQL), inserts, updates and deletes stay scoped. Frozen history: the table
list is copied literally.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPED = {
    "coverage_household": "village_code",
    "coverage_hamlet": "village_code",
    "coverage_village": "village_code",
    "coverage_township": "township_code",
    "isochrone": "township_code",
    "household_history": "village_code",
    "flag": "coalesce(village_code, township_code)",
    "route_plan": "area_code",
    "route_day": "(SELECT p.area_code FROM route_plan p WHERE p.id = plan_id)",
    "route_stop": "village_code",
    "relocation_household": "village_code",
    "relocation_hamlet": "village_code",
    "relocation_group": "village_code",
    "relocation_site": "township_code",
}


def upgrade() -> None:
    for table, code in SCOPED.items():
        test = f"gongjian_meta.in_scope({code})"
        op.execute(f"DROP POLICY scope_{table} ON {table}")
        op.execute(f"CREATE POLICY read_{table} ON {table} FOR SELECT USING (true)")
        op.execute(f"CREATE POLICY insert_{table} ON {table} FOR INSERT WITH CHECK ({test})")
        op.execute(
            f"CREATE POLICY update_{table} ON {table} FOR UPDATE USING ({test}) WITH CHECK ({test})"
        )
        op.execute(f"CREATE POLICY delete_{table} ON {table} FOR DELETE USING ({test})")


def downgrade() -> None:
    for table, code in SCOPED.items():
        test = f"gongjian_meta.in_scope({code})"
        for policy in ("read", "insert", "update", "delete"):
            op.execute(f"DROP POLICY {policy}_{table} ON {table}")
        op.execute(f"CREATE POLICY scope_{table} ON {table} USING ({test}) WITH CHECK ({test})")
