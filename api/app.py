"""The FastAPI application factory.

>>> from layers.settings import DatabaseSettings               # doctest: +SKIP
>>> app = create_app(engine_for(database_url(DatabaseSettings())))  # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from api.auth import BadTokenThrottle, TokenCache
from api.errors import install_error_handlers
from api.read_routing import ReadRouting, build_read_router
from api.routers import (
    analysis,
    edits,
    features,
    field,
    health,
    imports,
    maps,
    relocation,
    reports,
    routes,
    siting,
    tiles,
    webmap,
)
from api.security import SecurityHeaders, origins_of
from api.settings import ApiSettings
from layers import sectors as _sectors  # noqa: F401  (registers the sector layer)
from layers.access import restricted_engine
from layers.changes import ChangeWatcher
from layers.datasets import synthetic_note
from layers.features import REGISTRY, register_model_tables
from layers.tiles import SharedTileCache, TileCache

STATIC = Path(__file__).resolve().parent / "static"
LAYER_PARAMETERS = frozenset({"collection_id", "layer"})


def _data_note(engine: Engine) -> str:
    """The app description names synthetic data only when the dataset registry has some."""
    try:
        note = synthetic_note(engine)
    except sa.exc.SQLAlchemyError:  # a database not migrated yet has no registry
        return ""
    return f" {note}." if note else ""


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """Build the app around an engine whose database is already migrated.

    Requests run as the restricted database role of migration 0003 when the login role may
    switch to it (``settings.db_role``), so the API is neither superuser nor table owner and
    row-level security applies behind its own scope filters.
    """
    settings = settings or ApiSettings()
    register_model_tables()  # analysis tables nobody described yet are served from their model
    changes = ChangeWatcher(_conninfo(engine))
    read_router = build_read_router(engine, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        changes.start()
        if read_router is not None:
            read_router.start()
        try:
            yield
        finally:
            changes.stop()
            if read_router is not None:
                read_router.stop()

    app = FastAPI(
        lifespan=lifespan,
        title=settings.title,
        version="0.1.0",
        description="攻坚图 map API: OGC API – Features, vector tiles, edits and the web map. "
        "Data requests need a bearer token (`gongjian user add`)." + _data_note(engine),
    )
    app.state.login_engine = engine
    app.state.engine = restricted_engine(engine, settings.db_role)
    app.state.read_router = read_router  # None: every request on the primary
    app.state.settings = settings
    cache_bytes = settings.tile_cache_mb * 1024 * 1024
    shared = None
    if settings.tile_cache_dir is not None:  # several worker processes share their tiles
        shared = SharedTileCache(settings.tile_cache_dir, cache_bytes)
    app.state.tile_cache = TileCache(max_bytes=cache_bytes, shared=shared)
    app.state.changes = changes
    app.state.tokens = TokenCache()
    app.state.bad_tokens = BadTokenThrottle(allowance=settings.bad_token_allowance)
    install_error_handlers(app)
    if read_router is not None:
        app.add_middleware(ReadRouting, router=read_router)
    app.add_middleware(
        SecurityHeaders, image_origins=origins_of(t.url for t in settings.online_tiles)
    )
    app.include_router(health.router)
    app.include_router(features.router)
    app.include_router(edits.router)
    app.include_router(imports.router)
    app.include_router(tiles.router)
    app.include_router(webmap.router)
    # the analysis and reporting areas' routers (their modules own the queries and scoping)
    app.include_router(analysis.router)
    app.include_router(maps.router)
    app.include_router(relocation.router)
    app.include_router(reports.router)
    app.include_router(routes.router)
    app.include_router(siting.router)
    app.include_router(field.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = lambda: _openapi_with_layers(app)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``gongjian serve --workers N`` (uvicorn's factory):
    database and settings from the environment the serve command prepared."""
    from layers.db import database_url, engine_for
    from layers.settings import DatabaseSettings

    return create_app(engine_for(database_url(DatabaseSettings(), start=False)), ApiSettings())


def _openapi_with_layers(app: FastAPI) -> dict:
    """OpenAPI whose layer path parameters list the registry's layers (docs and clients)."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        layers = sorted(REGISTRY)
        for path in spec["paths"].values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] in LAYER_PARAMETERS:
                        parameter["schema"] = {"type": "string", "enum": layers}
        app.openapi_schema = spec
    return app.openapi_schema


def _conninfo(engine: Engine) -> str:
    """A libpq URI for the change watcher's own (LISTEN) connection."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
