"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine


def get_engine(request: Request) -> Engine:
    """The engine the app factory attached to the app state."""
    return request.app.state.engine
