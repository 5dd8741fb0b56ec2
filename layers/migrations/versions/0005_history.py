"""The dynamic archive (动态档案, seed 000) and monitoring flags (issue 10).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

- ``household_history``: one row per version of a household (status, category, housing,
  members, cadre, village/hamlet/location and the card's incomes {year: per-capita}), valid
  from its effective date until the next version. "As of" a date is the latest version with
  ``valid_from <= date`` (ties: the higher id).
- Written by statement-level triggers with transition tables, so every writer is covered
  (COPY of the demo loader, imports, API edits) at bulk speed: AFTER INSERT and AFTER UPDATE
  on household, AFTER INSERT/UPDATE/DELETE on household_income. The effective date is the
  transaction's ``SET LOCAL gongjian.effective_date = 'YYYY-MM-DD'`` when set, else today;
  ``gongjian.actor`` names the writer (else the session user).
- A back-dated change (effective date before later versions) is the state as of that date
  with the changed fields replaced, and the changed fields are carried into the later
  versions ("from that date on, the value is …"); incomes are merged year by year.
- The triggers are SECURITY DEFINER: the API's restricted role writes households, not history.
- ``flag``: the flags of ``gongjian flags`` (one row per household or cadre and rule).
- Existing households get a first ('baseline') version dated by their ``created_at``.
Both tables get row-level security by administrative code and the layer-change trigger
(migration 0003). Frozen history: field and kind lists are copied literally.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SRID = 4326
ACTIONS = ("baseline", "insert", "update", "income", "backfill")
KINDS = (
    "exited_low_income", "exited_sanbaozhang", "exited_dangerous_house", "no_help_record",
    "cadre_overloaded", "cadre_idle", "outside_village", "in_river", "shared_point", "moved",
    "duplicate_id_number", "income_jump", "status_flip_flop",
)  # fmt: skip
# Household columns copied into each version (incomes come from household_income).
FIELDS = (
    "village_code", "hamlet_id", "geom", "members", "labour_members", "category",
    "housing_status", "status", "exit_year", "cadre_id",
)  # fmt: skip
SCOPED = {
    "household_history": "village_code",
    "flag": "coalesce(village_code, township_code)",
}
VERSION_COLUMNS = (
    "household_id, valid_from, action, changed, source, " + ", ".join(FIELDS) + ", "
    "incomes, income, income_year"
)


def one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    codes = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({codes})", name=op.f(f"ck_{table}_{column}_valid"))


def col(name: str, type_: sa.types.TypeEngine, nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable, **kw)


def upgrade() -> None:
    create_history()
    create_flag()
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
    for statement in HELPERS + TRIGGER_FUNCTIONS:
        op.execute(statement)
    op.execute(BASELINE)
    for name, table, event, referencing, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.{function}()"
        )


def create_history() -> None:
    t = "household_history"
    op.create_table(
        t,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        col("household_id", sa.BigInteger()),
        col("valid_from", sa.Date()),
        col("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        col("action", sa.Text()),
        col("changed", postgresql.ARRAY(sa.Text())),
        col("source", sa.Text(), True),
        col("village_code", sa.CHAR(12)),
        col("hamlet_id", sa.Integer(), True),
        col("geom", Geometry("POINT", srid=SRID, spatial_index=False)),
        col("members", sa.Integer()),
        col("labour_members", sa.Integer()),
        col("category", sa.Text()),
        col("housing_status", sa.Text()),
        col("status", sa.Text()),
        col("exit_year", sa.Integer(), True),
        col("cadre_id", sa.Integer(), True),
        col("incomes", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb")),
        col("income", sa.Numeric(14, 2), True),
        col("income_year", sa.Integer(), True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f(f"fk_{t}_household_id_household"),
            ondelete="CASCADE",
        ),
        one_of(t, "action", ACTIONS),
        sa.CheckConstraint("cardinality(changed) > 0", name=op.f(f"ck_{t}_changed_not_empty")),
    )
    op.create_index(
        "ix_household_history_household_id_valid_from_id", t, ["household_id", "valid_from", "id"]
    )
    op.create_index(op.f(f"ix_{t}_village_code"), t, ["village_code"])
    op.create_index(op.f(f"idx_{t}_geom"), t, ["geom"], postgresql_using="gist")


def create_flag() -> None:
    t = "flag"
    lonlat = (
        "ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180"
        " AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90"
    )
    op.create_table(
        t,
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        col("kind", sa.Text()),
        col("household_id", sa.BigInteger(), True),
        col("cadre_id", sa.Integer(), True),
        col("village_code", sa.CHAR(12), True),
        col("township_code", sa.CHAR(9)),
        col("as_of", sa.Date()),
        col("description", sa.Text()),
        col("evidence", postgresql.JSONB()),
        col("rule", sa.Text()),
        col("profile", sa.Text()),
        col("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        col("geom", Geometry("POINT", srid=SRID, spatial_index=False)),
        col("synthetic", sa.Boolean(), server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{t}")),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
            name=op.f(f"fk_{t}_household_id_household"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadre.id"], name=op.f(f"fk_{t}_cadre_id_cadre"), ondelete="CASCADE"
        ),
        one_of(t, "kind", KINDS),
        sa.CheckConstraint(
            "household_id IS NOT NULL OR cadre_id IS NOT NULL", name=op.f(f"ck_{t}_has_subject")
        ),
        sa.CheckConstraint("btrim(description) <> ''", name=op.f(f"ck_{t}_description_not_blank")),
        sa.CheckConstraint("ST_IsValid(geom)", name=op.f(f"ck_{t}_geom_valid")),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name=op.f(f"ck_{t}_geom_not_empty")),
        sa.CheckConstraint(lonlat, name=op.f(f"ck_{t}_geom_lonlat")),
    )
    for column in ("kind", "household_id", "cadre_id", "township_code"):
        op.create_index(op.f(f"ix_{t}_{column}"), t, [column])
    op.create_index(op.f(f"idx_{t}_geom"), t, ["geom"], postgresql_using="gist")


def _copy(prefix: str) -> str:
    return ", ".join(f"{prefix}.{f}" for f in FIELDS)


ALL_FIELDS = "ARRAY[" + ", ".join(f"'{f}'" for f in (*FIELDS, "incomes")) + "]::text[]"

HELPERS = [
    # the effective date and the writer of the current transaction
    """
    CREATE FUNCTION gongjian_meta.history_date() RETURNS date LANGUAGE sql STABLE AS $$
        SELECT coalesce(nullif(current_setting('gongjian.effective_date', true), '')::date,
                        current_date)
    $$
    """,
    """
    CREATE FUNCTION gongjian_meta.history_source() RETURNS text LANGUAGE sql STABLE AS $$
        SELECT coalesce(nullif(current_setting('gongjian.actor', true), ''), session_user::text)
    $$
    """,
    """
    CREATE FUNCTION gongjian_meta.income_year(incomes jsonb) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$
        SELECT max(k::integer) FROM jsonb_object_keys(incomes) k
    $$
    """,
    """
    CREATE FUNCTION gongjian_meta.income_of(incomes jsonb) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$
        SELECT (incomes ->> gongjian_meta.income_year(incomes)::text)::numeric
    $$
    """,
]

# The base of a new version: the version as of the day, else (a day before the first version)
# the earliest one.
BASE_VERSION = """
    SELECT * FROM public.household_history b
    WHERE b.household_id = {id}
    ORDER BY (b.valid_from <= {day}) DESC,
             CASE WHEN b.valid_from <= {day} THEN {day} - b.valid_from
                  ELSE b.valid_from - {day} END,
             b.id DESC
    LIMIT 1
"""

_CHANGED = ",\n".join(
    f"CASE WHEN NOT ST_OrderingEquals(n.{f}, o.{f}) THEN '{f}' END"
    if f == "geom"
    else f"CASE WHEN n.{f} IS DISTINCT FROM o.{f} THEN '{f}' END"
    for f in FIELDS
)
_PICK = ",\n".join(
    f"CASE WHEN b.id IS NULL OR '{f}' = ANY(c.changed) THEN c.{f} ELSE b.{f} END" for f in FIELDS
)
_CARRY = ",\n".join(
    f"{f} = CASE WHEN '{f}' = ANY(c.changed) THEN c.{f} ELSE h.{f} END" for f in FIELDS
)

# The card's incomes of the households in ``{ids}`` (a set), with the latest year's value.
INCOMES_OF = """
    SELECT i.household_id,
           jsonb_object_agg(i.year::text, i.per_capita_income ORDER BY i.year) AS incomes,
           max(i.year) AS income_year,
           (array_agg(i.per_capita_income ORDER BY i.year DESC))[1] AS income
    FROM public.household_income i WHERE i.household_id IN ({ids})
    GROUP BY i.household_id
"""

# Set-based, one statement each: a COPY of 700,000 rows is one trigger call.
TRIGGER_FUNCTIONS = [
    f"""
    CREATE FUNCTION gongjian_meta.household_history_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        day date := gongjian_meta.history_date();
        writer text := gongjian_meta.history_source();
    BEGIN
        WITH inc AS ({INCOMES_OF.format(ids="SELECT id FROM new_rows")})
        INSERT INTO public.household_history ({VERSION_COLUMNS})
        SELECT n.id, day, 'insert', {ALL_FIELDS}, writer, {_copy("n")},
               coalesce(inc.incomes, '{{}}'), inc.income, inc.income_year
        FROM new_rows n LEFT JOIN inc ON inc.household_id = n.id;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION gongjian_meta.household_history_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        day date := gongjian_meta.history_date();
        writer text := gongjian_meta.history_source();
    BEGIN
        WITH changes AS (
            SELECT n.*, array_remove(ARRAY[{_CHANGED}]::text[], NULL) AS changed
            FROM new_rows n JOIN old_rows o ON o.id = n.id
        ), real AS (
            SELECT * FROM changes WHERE cardinality(changed) > 0
        ), inc AS ({INCOMES_OF.format(ids="SELECT id FROM real")}),
        added AS (
            INSERT INTO public.household_history ({VERSION_COLUMNS})
            SELECT c.id, day, 'update', c.changed, writer, {_PICK},
                   CASE WHEN b.id IS NULL THEN coalesce(inc.incomes, '{{}}') ELSE b.incomes END,
                   CASE WHEN b.id IS NULL THEN inc.income ELSE b.income END,
                   CASE WHEN b.id IS NULL THEN inc.income_year ELSE b.income_year END
            FROM real c
            LEFT JOIN LATERAL ({BASE_VERSION.format(id="c.id", day="day")}) b ON true
            LEFT JOIN inc ON inc.household_id = c.id
            RETURNING 1
        )
        UPDATE public.household_history h SET {_CARRY}
        FROM real c
        WHERE h.household_id = c.id AND h.valid_from > day;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION gongjian_meta.household_income_history() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        day date := gongjian_meta.history_date();
        writer text := gongjian_meta.history_source();
        ids bigint[];
    BEGIN
        IF TG_OP = 'INSERT' THEN
            SELECT array_agg(DISTINCT household_id) INTO ids FROM new_rows;
        ELSIF TG_OP = 'UPDATE' THEN
            SELECT array_agg(DISTINCT household_id) INTO ids
            FROM (SELECT household_id FROM new_rows UNION SELECT household_id FROM old_rows) r;
        ELSE
            SELECT array_agg(DISTINCT household_id) INTO ids FROM old_rows;
        END IF;
        IF ids IS NULL THEN
            RETURN NULL;
        END IF;
        WITH touched AS (
            SELECT t.id FROM unnest(ids) AS t(id) JOIN public.household hh ON hh.id = t.id
        ), now AS ({INCOMES_OF.format(ids="SELECT id FROM touched")}),
        latest AS (
            SELECT DISTINCT ON (v.household_id) v.household_id AS id, v.incomes
            FROM public.household_history v JOIN touched t ON t.id = v.household_id
            ORDER BY v.household_id, v.valid_from DESC, v.id DESC
        ), diffs AS (
            SELECT l.id, coalesce(n.incomes, '{{}}') AS now, n.income, n.income_year,
                   l.incomes AS before
            FROM latest l LEFT JOIN now n ON n.household_id = l.id
            WHERE coalesce(n.incomes, '{{}}') IS DISTINCT FROM l.incomes
        ), changes AS (
            SELECT d.*,
                   (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{{}}')
                    FROM jsonb_each(d.now) e
                    WHERE d.before -> e.key IS DISTINCT FROM e.value) AS set_years,
                   (SELECT coalesce(array_agg(k), '{{}}') FROM jsonb_object_keys(d.before) k
                    WHERE NOT d.now ? k) AS removed
            FROM diffs d
        ), added AS (
            INSERT INTO public.household_history ({VERSION_COLUMNS})
            SELECT d.id, day, 'income', ARRAY['incomes']::text[], writer, {_copy("b")},
                   m.incomes,
                   CASE WHEN m.incomes = d.now THEN d.income
                        ELSE gongjian_meta.income_of(m.incomes) END,
                   CASE WHEN m.incomes = d.now THEN d.income_year
                        ELSE gongjian_meta.income_year(m.incomes) END
            FROM changes d
            JOIN LATERAL ({BASE_VERSION.format(id="d.id", day="day")}) b ON true
            CROSS JOIN LATERAL (SELECT (b.incomes || d.set_years) - d.removed AS incomes) m
            RETURNING 1
        )
        UPDATE public.household_history h
        SET incomes = (h.incomes || d.set_years) - d.removed,
            income = gongjian_meta.income_of((h.incomes || d.set_years) - d.removed),
            income_year = gongjian_meta.income_year((h.incomes || d.set_years) - d.removed)
        FROM changes d
        WHERE h.household_id = d.id AND h.valid_from > day;
        RETURN NULL;
    END $$
    """,
]

BASELINE = f"""
    WITH inc AS ({INCOMES_OF.format(ids="SELECT id FROM household")})
    INSERT INTO household_history ({VERSION_COLUMNS})
    SELECT h.id, h.created_at::date, 'baseline', {ALL_FIELDS}, 'migration 0005', {_copy("h")},
           coalesce(inc.incomes, '{{}}'), inc.income, inc.income_year
    FROM household h LEFT JOIN inc ON inc.household_id = h.id
"""

# (trigger, table, event, REFERENCING ..., function); one event each (transition tables).
TRIGGERS = (
    ("trg_household_history_insert", "household", "INSERT", "NEW TABLE AS new_rows",
     "household_history_insert"),
    ("trg_household_history_update", "household", "UPDATE",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows", "household_history_update"),
    ("trg_household_income_history_insert", "household_income", "INSERT",
     "NEW TABLE AS new_rows", "household_income_history"),
    ("trg_household_income_history_update", "household_income", "UPDATE",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows", "household_income_history"),
    ("trg_household_income_history_delete", "household_income", "DELETE",
     "OLD TABLE AS old_rows", "household_income_history"),
)  # fmt: skip

FUNCTIONS = (
    "household_history_insert()", "household_history_update()", "household_income_history()",
    "income_of(jsonb)", "income_year(jsonb)", "history_source()",
    "history_date()",
)  # fmt: skip


def downgrade() -> None:
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION gongjian_meta.{function}")
    op.drop_table("flag")
    op.drop_table("household_history")
    names = ", ".join(f"'{t}'" for t in SCOPED)
    op.execute(f"DELETE FROM gongjian_meta.layer_change WHERE table_name IN ({names})")
