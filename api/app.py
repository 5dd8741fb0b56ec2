"""The FastAPI application factory.

>>> from layers.settings import DatabaseSettings               # doctest: +SKIP
>>> app = create_app(engine_for(database_url(DatabaseSettings())))  # doctest: +SKIP
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.errors import install_error_handlers
from api.routers import health
from api.settings import ApiSettings


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """Build the app around an engine whose database is already migrated."""
    settings = settings or ApiSettings()
    app = FastAPI(title=settings.title, version="0.1.0")
    app.state.engine = engine
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    return app
