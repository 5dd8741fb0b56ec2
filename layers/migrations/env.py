"""Alembic environment for gongjian, configured from code (no alembic.ini).

Use layers.migrate.alembic_config(url). A caller may instead hand over an open connection in
``config.attributes["connection"]`` (then the caller owns its transaction and commit).
"""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from layers.migrate import include_object
from layers.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kw: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=include_object,
        # spatial columns and indexes rendered with GeoAlchemy2's ops in autogenerate
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        **kw,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (alembic upgrade --sql)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or attributes['connection']")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
