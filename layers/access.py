"""Who may see what: API users with hashed tokens, roles, and the caller's scope as SQL.

A scope is one administrative code — county (6 digits), township (9) or village (12) — and a
row is visible when its own code starts with the scope (village 441882100201 is inside
township 441882100 and county 441882). Rows without a code (roads, rivers, hazard zones) are
visible when they intersect the scope's area. There is no "all" scope: default deny.

Every query of the API is filtered in SQL by :func:`code_in_scope` / :func:`area_in_scope`,
and runs inside :func:`scoped_connection`, which also sets ``gongjian.scope`` for the
row-level security policies of migration 0003 (a second wall behind the filters of writes).

>>> Scope("441882100").level
'township'
>>> Scope("441882100").covers("441882100201")
True
>>> Scope("441882100").covers("441882101201")
False
>>> hash_token("secret") == hash_token("secret")
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo import vocab

API_ROLE = "gongjian_api"  # the database role of migration 0003
LEVELS = {6: "county", 9: "township", 12: "village"}
_CODE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")

# Roles that work with named households see personal fields; viewers get masked values.
PERSONAL_DATA_ROLES = frozenset({"editor", "inspector", "admin"})
EDIT_ROLES = frozenset({"editor", "admin"})  # household fields and help records
VISIT_ROLES = frozenset({"inspector", "admin"})  # inspection visits


class AccessError(ValueError):
    """A user cannot be created as asked (bad role or scope, duplicate name)."""


@dataclass(frozen=True)
class Scope:
    """An administrative code the caller may see (and everything under it)."""

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.match(self.code):
            raise AccessError(f"scope must be a 6, 9 or 12 digit code, got {self.code!r}")

    @property
    def level(self) -> str:
        return LEVELS[len(self.code)]

    def covers(self, code: str | None) -> bool:
        return bool(code) and code.startswith(self.code)


@dataclass(frozen=True)
class Caller:
    """An authenticated API user."""

    name: str
    role: str
    scope: Scope
    expires_at: dt.datetime | None = None  # the token stops working then (None: never)

    def expired(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.expires_at is not None and self.expires_at <= now

    @property
    def sees_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api:{self.name}"


# --- tokens ---------------------------------------------------------------------------


def new_token() -> str:
    """A random bearer token (256 bits): shown once, never stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of the token. Tokens are random 256-bit strings, not passwords, so a fast hash
    cannot be brute-forced and lets the lookup use the unique index on ``token_hash``."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    engine: Engine,
    name: str,
    role: str,
    scope: str,
    *,
    actor: str,
    expires_at: dt.datetime | None = None,
) -> str:
    """Create a user and return their token (the only time it is seen); audited.

    With ``expires_at`` (timezone-aware) the token answers 401 from that instant on.
    """
    if role not in vocab.ROLE:
        raise AccessError(f"role must be one of {', '.join(vocab.ROLE)}, got {role!r}")
    scope_ = Scope(scope)
    if not name or not name.strip():
        raise AccessError("name must not be blank")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise AccessError("the expiry needs a time zone")
        if expires_at <= dt.datetime.now(dt.UTC):
            raise AccessError(f"the expiry {expires_at.isoformat()} is already past")
    token = new_token()
    with engine.begin() as conn:
        if not _admin_area_exists(conn, scope_):
            raise AccessError(f"no {scope_.level} with code {scope} in the database")
        if conn.execute(sa.text("SELECT 1 FROM api_user WHERE name = :n"), {"n": name}).first():
            raise AccessError(f"a user named {name!r} already exists")
        user_id = conn.execute(
            sa.text(
                "INSERT INTO api_user (name, role, scope, token_hash, expires_at) "
                "VALUES (:name, :role, :scope, :hash, :expires) RETURNING id"
            ),
            {"name": name, "role": role, "scope": scope, "hash": hash_token(token),
             "expires": expires_at},
        ).scalar_one()  # fmt: skip
        after = {"name": name, "role": role, "scope": scope, "active": True}
        if expires_at is not None:
            after["expires_at"] = expires_at.isoformat()
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (table_name, row_id, action, actor, after) "
                "VALUES ('api_user', :row, 'insert', :actor, CAST(:after AS jsonb))"
            ),
            {"row": str(user_id), "actor": actor, "after": _json(after)},
        )
    return token


def revoke_user(engine: Engine, name: str, *, actor: str) -> None:
    """Deactivate a user: their token stops working at once; audited."""
    with engine.begin() as conn:
        user_id = conn.execute(
            sa.text("UPDATE api_user SET active = false WHERE name = :n AND active RETURNING id"),
            {"n": name},
        ).scalar()
        if user_id is None:
            raise AccessError(f"no active user named {name!r}")
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (table_name, row_id, action, actor, before, after) "
                "VALUES ('api_user', :row, 'update', :actor, "
                "'{\"active\": true}'::jsonb, '{\"active\": false}'::jsonb)"
            ),
            {"row": str(user_id), "actor": actor},
        )


# --- the demo's login link ----------------------------------------------------------------

DEMO_LOGIN_PREFIX = "demo-login-"
DEMO_LOGIN_HOURS = 12  # a killed run's link dies by itself after this


def open_demo_login(engine: Engine, county: str) -> tuple[str, str]:
    """A throw-away admin of the demo county for one ``gongjian demo --serve`` run: (name,
    token). Refused when the database holds any real (non-synthetic) household: a login
    link is for trying the demo, never a way into real data."""
    with engine.connect() as conn:
        real = conn.execute(sa.text("SELECT count(*) FROM household WHERE NOT synthetic"))
        real = real.scalar_one()
    if real:
        raise AccessError(
            f"this database holds {real} real households: no login link; make users with "
            "`gongjian user add NAME --role ROLE --scope CODE`"
        )
    close_demo_logins(engine)  # a run killed before it could close its own
    name = DEMO_LOGIN_PREFIX + secrets.token_hex(4)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=DEMO_LOGIN_HOURS)
    token = add_user(engine, name, "admin", county, actor="demo", expires_at=expires)
    return name, token


def close_demo_logins(engine: Engine) -> int:
    """Revoke every demo login still active (when the run that made it stops); audited."""
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT name FROM api_user WHERE active AND starts_with(name, :p)"),
            {"p": DEMO_LOGIN_PREFIX},
        ).scalars()
        names = list(names)
    for name in names:
        revoke_user(engine, name, actor="demo")
    return len(names)


def _json(value: dict) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _admin_area_exists(conn: sa.Connection, scope: Scope) -> bool:
    sql = sa.text(f"SELECT 1 FROM {scope.level} WHERE code = :code")
    return conn.execute(sql, {"code": scope.code}).first() is not None


def caller_for_token(conn: sa.Connection, token: str) -> Caller | None:
    """The active user holding ``token``, or None (unknown, inactive, expired or malformed)."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        sa.text(
            "SELECT name, role, scope, expires_at FROM api_user WHERE token_hash = :h AND active "
            "AND (expires_at IS NULL OR expires_at > now())"
        ),
        {"h": hash_token(token)},
    ).first()
    if row is None or row.role not in vocab.ROLE or not _CODE.match(row.scope or ""):
        return None
    return Caller(name=row.name, role=row.role, scope=Scope(row.scope), expires_at=row.expires_at)


def scope_name(conn: sa.Connection, scope: Scope) -> str | None:
    """The name of the scope's county, township or village."""
    sql = sa.text(f"SELECT name FROM {scope.level} WHERE code = :code")
    return conn.execute(sql, {"code": scope.code}).scalar()


# --- the scope as SQL -------------------------------------------------------------------


def code_in_scope(code_sql: str, param: str = "scope") -> str:
    """SQL condition: the admin code expression ``code_sql`` lies inside ``:scope``.

    >>> code_in_scope("t.village_code")
    'starts_with(t.village_code, :scope)'
    """
    return f"starts_with({code_sql}, :{param})"


def area_in_scope(geom_sql: str, scope: Scope, param: str = "scope") -> str:
    """SQL condition: the geometry intersects the scope's administrative area.

    >>> area_in_scope("t.geom", Scope("441882100"))
    'ST_Intersects(t.geom, (SELECT a.geom FROM township a WHERE a.code = :scope))'
    """
    return (
        f"ST_Intersects({geom_sql}, (SELECT a.geom FROM {scope.level} a WHERE a.code = :{param}))"
    )


@contextmanager
def scoped_connection(engine: Engine, scope: Scope) -> Iterator[sa.Connection]:
    """A transaction whose row-level security sees only ``scope`` (committed on success)."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('gongjian.scope', :s, true)"), {"s": scope.code})
        yield conn


# --- the API's database role ------------------------------------------------------------


def restricted_engine(engine: Engine, role: str | None = API_ROLE, **options) -> Engine:
    """An engine like ``engine`` whose sessions run as ``role`` (neither superuser nor owner).

    Each new connection switches to ``role`` when it exists and the login role may become
    it; otherwise (a server where the migration could not create it) it stays the login
    role. Nothing connects until the first query, so an app can start while the database
    is down (``/health`` then answers 503). ``options`` go to ``create_engine`` (replicas
    add a pre-ping and a short connect timeout).
    """
    if not role:
        return engine
    # No pre-ping: a round trip per checkout costs more than a tile from the cache; a
    # connection broken by a server restart fails one request and is then replaced.
    restricted = sa.create_engine(
        engine.url,
        pool_size=8,
        max_overflow=8,
        pool_recycle=3600,
        pool_reset_on_return="rollback",
        **options,
    )

    @sa.event.listens_for(restricted, "connect")
    def _set_role(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(SWITCHABLE, {"r": role})
            if cursor.fetchone()[0]:
                cursor.execute(f'SET ROLE "{role}"')
            # JIT compiles for estimated costs that index scans never reach; on our short
            # queries it only adds milliseconds
            cursor.execute("SET jit = off")
        dbapi_connection.commit()

    return restricted


SWITCHABLE = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(r)s) "
    "THEN pg_has_role(current_user, %(r)s, 'MEMBER') ELSE false END"
)
