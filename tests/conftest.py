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
