"""Domain errors mapped to HTTP in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from layers.cluster import ClusterError


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClusterError)
    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"code": "database_unavailable", "description": str(exc).splitlines()[0]},
        )
