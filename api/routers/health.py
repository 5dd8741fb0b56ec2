"""``/health``: is the database there, and which versions serve us."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from api.deps import get_engine
from layers.db import server_versions
from layers.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database, PostGIS and schema versions")
def health(engine: Engine = Depends(get_engine)) -> dict:
    versions = server_versions(engine)
    return {
        "status": "ok",
        "database": asdict(versions),
        "schema_revision": current_revision(engine.url.render_as_string(hide_password=False)),
    }
