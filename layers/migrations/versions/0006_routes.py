"""Inspectors' field routes (issue 9): plans, inspector-days and stops with visit results.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

- ``route_plan``: one plan over a township (or one of its villages, ``area_code``): how its
  households were chosen, the options, the totals, who made it.
- ``route_day``: one inspector-day: times, totals, start/end points and the path along the
  roads (MultiLineString, NULL for a day without stops).
- ``route_stop``: one household of a plan: its order and times in a day, or why it could not
  be fitted (``reason``); after the visit, the result, the 两不愁三保障 ticks and the
  ``visit`` row it was recorded as.
Row-level security by administrative code (as in migrations 0003/0004) and the layer-change
trigger on all three. The API role may create plans and record results: INSERT on the three
tables, UPDATE on route_stop, and UPDATE on visit (a corrected results sheet updates the
visit it recorded). Frozen history: value lists are copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4326
API_ROLE = "gongjian_api"
STRATEGIES = ("random", "stratified", "risk", "list")
STATUSES = ("planned", "unassigned")
REASONS = ("off_network", "no_road_link", "too_far", "window", "no_room")
RESULTS = ("confirmed", "issues", "absent")
CHECKS = ("food", "clothing", "education", "medical", "housing")
SCOPED = {
    "route_plan": "area_code",
    "route_day": "(SELECT p.area_code FROM route_plan p WHERE p.id = plan_id)",
    "route_stop": "village_code",
}
API_WRITES = {
    "route_plan": "SELECT, INSERT",
    "route_day": "SELECT, INSERT",
    "route_stop": "SELECT, INSERT, UPDATE",
    "visit": "UPDATE",
}
SEQUENCES = ("route_plan_id_seq", "route_day_id_seq", "route_stop_id_seq")


def ck(table: str, rule: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=op.f(f"ck_{table}_{rule}"))


def one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return ck(table, f"{column}_valid", f"{column} IN ({codes})")


def fk(table: str, column: str, target: str, ondelete: str = "CASCADE"):
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete=ondelete)


def col(name: str, type_: sa.types.TypeEngine, nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable, **kw)


def geom_checks(table: str, column: str = "geom") -> tuple[sa.CheckConstraint, ...]:
    lonlat = (
        f"ST_XMin({column}) >= -180 AND ST_XMax({column}) <= 180"
        f" AND ST_YMin({column}) >= -90 AND ST_YMax({column}) <= 90"
    )
    return (
        ck(table, f"{column}_valid", f"ST_IsValid({column})"),
        ck(table, f"{column}_not_empty", f"NOT ST_IsEmpty({column})"),
        ck(table, f"{column}_lonlat", lonlat),
    )


def non_negative(table: str, column: str) -> sa.CheckConstraint:
    return ck(table, f"{column}_non_negative", f"{column} >= 0")


def index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def synthetic() -> sa.Column:
    return col("synthetic", sa.Boolean(), server_default=sa.text("false"))


def upgrade() -> None:
    create_plan()
    create_day()
    create_stop()
    for table, code in SCOPED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        test = f"gongjian_meta.in_scope({code})"
        op.execute(f"CREATE POLICY scope_{table} ON {table} USING ({test}) WITH CHECK ({test})")
        op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER trg_{table}_layer_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
        )
    grants = [f"GRANT {what} ON {table} TO {API_ROLE}" for table, what in API_WRITES.items()]
    grants += [f"GRANT USAGE ON SEQUENCE {seq} TO {API_ROLE}" for seq in SEQUENCES]
    op.execute(_if_role_exists(";\n".join(grants)))


def create_plan() -> None:
    t = "route_plan"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        col("township_code", sa.CHAR(9)),
        col("area_code", sa.Text()),
        col("title", sa.Text()),
        col("strategy", sa.Text()),
        col("sample_size", sa.Integer(), True),
        col("seed", sa.Integer()),
        col("as_of", sa.Date()),
        col("start_date", sa.Date(), True),
        col("inspectors", sa.Integer()),
        col("days", sa.Integer()),
        col("hours", sa.Float()),
        col("day_start_min", sa.Float()),
        col("service_min", sa.Float()),
        col("households", sa.Integer()),
        col("planned", sa.Integer()),
        col("unassigned", sa.Integer()),
        col("travel_min", sa.Float()),
        col("distance_m", sa.Float()),
        col("params", postgresql.JSONB()),
        col("solver", postgresql.JSONB()),
        col("profile", sa.Text()),
        col("created_by", sa.Text()),
        col("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        synthetic(),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        fk(t, "township_code", "township.code"),
        ck(t, "area_code_format", r"area_code ~ '^(\d{9}|\d{12})$'"),
        ck(t, "area_in_township", "left(area_code, 9) = township_code"),
        one_of(t, "strategy", STRATEGIES),
        ck(t, "title_not_blank", "btrim(title) <> ''"),
        ck(t, "created_by_not_blank", "btrim(created_by) <> ''"),
        ck(t, "inspectors_positive", "inspectors >= 1"),
        ck(t, "days_positive", "days >= 1"),
        ck(t, "hours_range", "hours > 0 AND hours <= 24"),
        non_negative(t, "service_min"),
        ck(t, "counts_add_up", "planned + unassigned = households"),
    )
    index(t, "township_code")
    index(t, "area_code")


def create_day() -> None:
    t = "route_day"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        col("plan_id", sa.Integer()),
        col("township_code", sa.CHAR(9)),
        col("inspector", sa.Integer()),
        col("inspector_name", sa.Text()),
        col("day", sa.Integer()),
        col("date", sa.Date(), True),
        col("start_min", sa.Float()),
        col("finish_min", sa.Float()),
        col("stops", sa.Integer()),
        col("travel_min", sa.Float()),
        col("service_min", sa.Float()),
        col("wait_min", sa.Float()),
        col("distance_m", sa.Float()),
        col("start_name", sa.Text()),
        col("end_name", sa.Text()),
        col("geom", Geometry("MULTILINESTRING", srid=SRID, spatial_index=False), True),
        col("start_geom", Geometry("POINT", srid=SRID, spatial_index=False)),
        col("end_geom", Geometry("POINT", srid=SRID, spatial_index=False)),
        synthetic(),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        fk(t, "plan_id", "route_plan.id"),
        sa.UniqueConstraint(
            "plan_id", "inspector", "day", name=op.f(f"uq_{t}_plan_id_inspector_day")
        ),
        ck(t, "inspector_positive", "inspector >= 1"),
        ck(t, "day_positive", "day >= 1"),
        ck(t, "inspector_name_not_blank", "btrim(inspector_name) <> ''"),
        non_negative(t, "stops"),
        non_negative(t, "travel_min"),
        non_negative(t, "distance_m"),
        ck(t, "finish_after_start", "finish_min >= start_min"),
        *geom_checks(t),
        *geom_checks(t, "start_geom"),
        *geom_checks(t, "end_geom"),
    )
    index(t, "plan_id")
    index(t, "township_code")
    op.create_index(op.f(f"idx_{t}_geom"), t, ["geom"], postgresql_using="gist")


def create_stop() -> None:
    t = "route_stop"
    op.create_table(
        t,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        col("plan_id", sa.Integer()),
        col("day_id", sa.Integer(), True),
        col("household_id", sa.BigInteger()),
        col("village_code", sa.CHAR(12)),
        col("status", sa.Text()),
        col("seq", sa.Integer(), True),
        col("arrival_min", sa.Float(), True),
        col("begin_min", sa.Float(), True),
        col("departure_min", sa.Float(), True),
        col("wait_min", sa.Float(), True),
        col("leg_min", sa.Float(), True),
        col("leg_m", sa.Float(), True),
        col("service_min", sa.Float()),
        col("must_visit", sa.Boolean(), server_default=sa.text("false")),
        col("window_start_min", sa.Float(), True),
        col("window_end_min", sa.Float(), True),
        col("priority", sa.Float(), server_default=sa.text("0")),
        col("reason", sa.Text(), True),
        col("reason_text", sa.Text(), True),
        col("risk_score", sa.Float(), True),
        col("risk_reasons", postgresql.ARRAY(sa.Text()), True),
        col("result", sa.Text(), True),
        col("visit_id", sa.BigInteger(), True),
        col("visit_date", sa.Date(), True),
        *(col(f"check_{c}", sa.Boolean(), True) for c in CHECKS),
        col("geom", Geometry("POINT", srid=SRID, spatial_index=False)),
        synthetic(),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        fk(t, "plan_id", "route_plan.id"),
        fk(t, "day_id", "route_day.id"),
        fk(t, "household_id", "household.id"),
        fk(t, "visit_id", "visit.id", ondelete="SET NULL"),
        sa.UniqueConstraint("plan_id", "household_id", name=op.f(f"uq_{t}_plan_id_household_id")),
        one_of(t, "status", STATUSES),
        one_of(t, "reason", REASONS),
        one_of(t, "result", RESULTS),
        ck(
            t,
            "planned_has_day",
            "(status = 'planned') = (day_id IS NOT NULL AND seq IS NOT NULL)",
        ),
        ck(t, "reason_when_left", "(status = 'unassigned') = (reason IS NOT NULL)"),
        ck(t, "seq_positive", "seq >= 1"),
        non_negative(t, "service_min"),
        ck(t, "priority_range", "priority BETWEEN 0 AND 100"),
        *geom_checks(t),
    )
    for column in ("plan_id", "day_id", "household_id", "village_code", "visit_id"):
        index(t, column)
    op.create_index(op.f(f"idx_{t}_geom"), t, ["geom"], postgresql_using="gist")


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
    op.execute(_if_role_exists(f"REVOKE UPDATE ON visit FROM {API_ROLE}"))
    op.drop_table("route_stop")
    op.drop_table("route_day")
    op.drop_table("route_plan")
    names = ", ".join(f"'{t}'" for t in SCOPED)
    op.execute(f"DELETE FROM gongjian_meta.layer_change WHERE table_name IN ({names})")
