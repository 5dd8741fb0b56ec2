"""Engine and connection URL: the external server (DATABASE_URL) or the embedded cluster."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.cluster import EmbeddedCluster
from layers.settings import DatabaseSettings


def embedded_cluster(settings: DatabaseSettings) -> EmbeddedCluster:
    return EmbeddedCluster(settings.home / "db", settings.pg_bin)


def database_url(settings: DatabaseSettings, *, start: bool = True) -> str:
    """The URL to use; starts the embedded cluster when needed and ``start`` is true."""
    if settings.database_url:
        return _with_psycopg_driver(settings.database_url)
    cluster = embedded_cluster(settings)
    return cluster.up() if start else cluster.url()


def _with_psycopg_driver(url: str) -> str:
    """Accept plain ``postgresql://`` URLs too; we always talk psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL for the life of the process."""
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


@dataclass(frozen=True)
class ServerVersions:
    """What ``gongjian db status`` and ``/health`` report."""

    postgresql: str
    postgis: str | None
    geos: str | None
    proj: str | None
    pgrouting: str | None


def server_versions(engine: Engine) -> ServerVersions:
    with engine.connect() as conn:
        pg = conn.execute(sa.text("SHOW server_version")).scalar_one()
        ext = dict(conn.execute(sa.text("SELECT extname, extversion FROM pg_extension")).all())
        geos = proj = None
        if "postgis" in ext:
            geos = conn.execute(sa.text("SELECT postgis_geos_version()")).scalar_one()
            proj = conn.execute(sa.text("SELECT postgis_proj_version()")).scalar_one()
            geos, proj = geos.split("-")[0], proj.split()[0]
        return ServerVersions(
            postgresql=pg.split()[0],
            postgis=ext.get("postgis"),
            geos=geos,
            proj=proj,
            pgrouting=ext.get("pgrouting"),
        )
