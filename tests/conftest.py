"""Shared fixtures: one throw-away PostGIS cluster per test session.

Database tests never skip: if PostgreSQL/PostGIS is missing the fixture errors with the
install command, so CI goes red instead of quietly green.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers.cluster import EmbeddedCluster

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cluster() -> Iterator[EmbeddedCluster]:
    """A private cluster in a temporary folder, destroyed at the end of the session."""
    home = Path(tempfile.mkdtemp(prefix="gongjian-test-"))
    cluster = EmbeddedCluster(home)
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def database_url(cluster: EmbeddedCluster) -> str:
    """URL of the session's database, migrated to head."""
    from layers.migrate import upgrade

    url = cluster.url()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


@pytest.fixture(scope="session")
def demo_world(engine: sa.Engine, cluster: EmbeddedCluster) -> dict[str, int]:
    """The Lianzhou demo world loaded into the session database (about 15 s, once).

    Returns rows loaded per table. Tests that use it must not change the demo's rows
    (work inside the ``connection`` fixture's rolled-back transaction instead).
    """
    from geo.paths import GUANGDONG_COUNTIES
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries

    import_boundaries(engine, GUANGDONG_COUNTIES, actor="test")
    _, counts = ensure_demo(engine, cluster.home, force=True)
    return counts
