"""Run the Alembic migrations from code: no alembic.ini, the scripts ship inside the package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Tables that extensions own: autogenerate must neither drop nor recreate them.
EXTENSION_SCHEMAS = frozenset({"tiger", "tiger_data", "topology"})
EXTENSION_TABLES = frozenset(
    {
        "spatial_ref_sys",
        "geometry_columns",
        "geography_columns",
        "raster_columns",
        "raster_overviews",
        "topology",
        "layer",
        "us_gaz",
        "us_lex",
        "us_rules",
        "pagc_gaz",
        "pagc_lex",
        "pagc_rules",
    }
)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: leave PostGIS, tiger geocoder and topology objects alone."""
    if type_ == "table":
        schema = getattr(obj, "schema", None)
        if schema in EXTENSION_SCHEMAS or name in EXTENSION_TABLES:
            return False
    return True


def _url_text(url: str | URL) -> str:
    return url.render_as_string(hide_password=False) if isinstance(url, URL) else url


def alembic_config(url: str | URL) -> Config:
    """An Alembic Config for the database at ``url`` using the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    # configparser interpolation: a literal % (e.g. in an encoded password) must be doubled
    cfg.set_main_option("sqlalchemy.url", _url_text(url).replace("%", "%%"))
    return cfg


MIGRATION_LOCK = 7_460_011  # pg_advisory_lock key: one migrating process per database


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate up; a second process doing the same at the same moment (two ``db up``, two
    servers starting) waits for the first and then finds nothing left to do."""
    with _migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    with _migration_lock(url):
        command.downgrade(alembic_config(url), revision)


@contextmanager
def _migration_lock(url: str | URL) -> Iterator[None]:
    engine = create_engine(_url_text(url), poolclass=pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this version of the package."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at; None if it was never migrated."""
    engine = create_engine(_url_text(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
