"""API access: per-table change counters (tile cache), the API's database role, row-level security.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

- ``gongjian_meta.layer_change`` holds one counter per data table, bumped by a statement-level
  trigger on every INSERT/UPDATE/DELETE/TRUNCATE, which also sends ``NOTIFY gongjian_change``
  at commit. Tile ETags include the counters of the tables a layer reads, so a change to the
  data invalidates the cached tiles at once. It lives in its own schema: it is bookkeeping,
  not part of the data model in ``layers/models.py``.
- ``gongjian_api`` is the role the web API switches to (SET ROLE) on every connection: neither
  superuser nor owner of any table, with only the privileges the API needs.
- Row-level security on the tables that carry an administrative code, keyed by the
  transaction-local setting ``gongjian.scope``: a second wall behind the scope filters of
  every API write (INSERT, UPDATE, DELETE outside the scope are refused by the database).
  Reads are not walled this way on purpose: under a SELECT policy PostgreSQL may not use an
  index for operators that are not LEAKPROOF, which PostGIS's ``&&`` is not, so every bbox
  and tile query would scan the whole table (measured: a z16 tile of 18,000 households went
  from an index scan to a 35 ms sequential scan). Reads rely on the scope filter that every
  API query carries (layers.access), which the tests check layer by layer. Table owners
  (migrations, the CLI, imports) are not subject to row-level security.

Creating a role needs CREATEROLE; on a server where the migrating user lacks it and the role
does not exist, the role and its grants are skipped (the API then runs with the login role).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "gongjian_api"

# Tables whose changes invalidate tiles (every table a layer reads), and api_user (whose
# changes invalidate the API processes' token caches).
COUNTED_TABLES = (
    "county", "township", "village", "hamlet", "household", "household_income", "cadre",
    "help_record", "visit", "river", "road", "clinic", "water", "school", "hazard_zone",
    "karst_zone", "raster", "api_user",
)  # fmt: skip

# Table -> SQL giving the row's administrative code (county 6, township 9, village 12 digits).
SCOPED_TABLES = {
    "county": "code",
    "township": "code",
    "village": "code",
    "village_income": "village_code",
    "hamlet": "village_code",
    "household": "village_code",
    # cadres and work groups are the township's roster: a village user sees their township's
    "cadre": "township_code",
    "work_group": "township_code",
    "household_income": "(SELECT h.village_code FROM household h WHERE h.id = household_id)",
    "household_member": "(SELECT h.village_code FROM household h WHERE h.id = household_id)",
    "help_record": "(SELECT h.village_code FROM household h WHERE h.id = household_id)",
    "visit": "(SELECT h.village_code FROM household h WHERE h.id = household_id)",
}

ROSTER_TABLES = ("cadre", "work_group")

# What the API may do beyond reading every table.
API_WRITES = {
    "household": "UPDATE",
    "help_record": "INSERT",
    "visit": "INSERT",
    "audit_log": "INSERT",
}
API_SEQUENCES = ("help_record_id_seq", "visit_id_seq", "audit_log_id_seq")


def upgrade() -> None:
    op.execute("CREATE SCHEMA gongjian_meta")
    op.execute(
        """
        CREATE TABLE gongjian_meta.layer_change (
            table_name text PRIMARY KEY,
            version bigint NOT NULL DEFAULT 1,
            changed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # SECURITY DEFINER: writers need no privilege on the counter table itself.
    op.execute(
        """
        CREATE FUNCTION gongjian_meta.bump_layer_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, gongjian_meta AS $$
        DECLARE
            new_version bigint;
        BEGIN
            INSERT INTO gongjian_meta.layer_change AS c (table_name) VALUES (TG_TABLE_NAME)
            ON CONFLICT (table_name)
            DO UPDATE SET version = c.version + 1, changed_at = now()
            RETURNING version INTO new_version;
            -- delivered at commit to every LISTENing API process (layers.changes)
            PERFORM pg_notify('gongjian_change', TG_TABLE_NAME || ' ' || new_version);
            RETURN NULL;
        END $$
        """
    )
    for table in COUNTED_TABLES:
        op.execute(f"INSERT INTO gongjian_meta.layer_change (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER trg_{table}_layer_change "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gongjian_meta.bump_layer_change()"
        )
    # The scope tests of the row-level policies: an unset or empty scope sees nothing.
    op.execute(
        """
        CREATE FUNCTION gongjian_meta.in_scope(code text) RETURNS boolean
        LANGUAGE sql STABLE AS $$
            SELECT coalesce(
                nullif(current_setting('gongjian.scope', true), '') IS NOT NULL
                AND starts_with(code, current_setting('gongjian.scope', true)),
                false)
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION gongjian_meta.scope_in(code text) RETURNS boolean
        LANGUAGE sql STABLE AS $$
            SELECT coalesce(
                nullif(current_setting('gongjian.scope', true), '') IS NOT NULL
                AND starts_with(current_setting('gongjian.scope', true), code),
                false)
        $$
        """
    )
    for table, code in SCOPED_TABLES.items():
        test = f"gongjian_meta.in_scope({code})"
        if table in ROSTER_TABLES:
            test = f"({test} OR gongjian_meta.scope_in({code}))"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY read_{table} ON {table} FOR SELECT USING (true)")
        op.execute(f"CREATE POLICY insert_{table} ON {table} FOR INSERT WITH CHECK ({test})")
        op.execute(
            f"CREATE POLICY update_{table} ON {table} FOR UPDATE USING ({test}) WITH CHECK ({test})"
        )
        op.execute(f"CREATE POLICY delete_{table} ON {table} FOR DELETE USING ({test})")
    op.execute(_if_role_can_be_had(_grants()))


def _grants() -> str:
    statements = [
        f"GRANT USAGE ON SCHEMA public, gongjian_meta TO {API_ROLE}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {API_ROLE}",
        f"GRANT SELECT ON gongjian_meta.layer_change TO {API_ROLE}",
        *(f"GRANT {what} ON {table} TO {API_ROLE}" for table, what in API_WRITES.items()),
        *(f"GRANT USAGE ON SEQUENCE {seq} TO {API_ROLE}" for seq in API_SEQUENCES),
        # analysis tables and views added by later migrations are readable too
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {API_ROLE}",
    ]
    return ";\n".join(statements)


def _if_role_can_be_had(body: str) -> str:
    """Create the role if missing (when allowed), then run ``body`` if the role exists."""
    return f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                BEGIN
                    CREATE ROLE {API_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
                        NOBYPASSRLS;
                EXCEPTION WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role {API_ROLE}: the API will use its login role';
                END;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                {body};
            END IF;
        END $$
    """


def downgrade() -> None:
    # The role is cluster-wide (other databases may use it): only its privileges here go.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {API_ROLE};
                REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {API_ROLE};
                REVOKE ALL ON SCHEMA public FROM {API_ROLE};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {API_ROLE};
            END IF;
        END $$
        """
    )
    for table in SCOPED_TABLES:
        for policy in ("read", "insert", "update", "delete"):
            op.execute(f"DROP POLICY {policy}_{table} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in COUNTED_TABLES:
        op.execute(f"DROP TRIGGER trg_{table}_layer_change ON {table}")
    op.execute("DROP SCHEMA gongjian_meta CASCADE")
