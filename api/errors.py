"""Domain errors mapped to HTTP in one place.

Every error answers JSON ``{"code": ..., "description": ...}`` (import errors add
``errors``: one {file, row, field, message} per problem). Malformed requests are 400
with a message naming the parameter (FastAPI's own validation errors included), unknown
layers and items out of the caller's scope 404 — the same answer as for ids that do not exist.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from layers.access import AccessError
from layers.cluster import ClusterError
from layers.edits import EditConflict, EditRejected, NotInScope, PreconditionRequired
from layers.features import QueryError, UnknownCollection
from layers.field import FieldError, PhotoTooLarge
from layers.field import NotFound as FieldNotFound
from layers.imports import ImportError_, OutOfScope, UploadTooLarge


def problem(status: int, code: str, description: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"code": code, "description": description}, headers=headers
    )


# exception class -> (HTTP status, code)
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    QueryError: (400, "invalid_parameter"),
    AccessError: (400, "invalid_user"),
    EditRejected: (400, "invalid_edit"),
    UnknownCollection: (404, "not_found"),
    NotInScope: (404, "not_found"),
    EditConflict: (412, "version_conflict"),
    PreconditionRequired: (428, "if_match_required"),
    # POST /imports: a refused file (errors name file, row and field), rows outside the
    # caller's scope, an upload over the limit; the messages are those the CLI prints
    ImportError_: (422, "import_refused"),
    OutOfScope: (403, "out_of_scope"),
    UploadTooLarge: (413, "too_large"),
    # /field: the phone shows these messages as they are (Chinese)
    FieldError: (422, "field_refused"),
    FieldNotFound: (404, "not_found"),
    PhotoTooLarge: (413, "too_large"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClusterError)
    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return problem(503, "database_unavailable", str(exc).splitlines()[0])

    @app.exception_handler(DataError)
    async def bad_value(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (out of range, malformed): the request's fault, never
        # a 500; the message names the kind of problem, not the statement or its values.
        kind = type(getattr(exc, "orig", exc)).__name__
        return problem(400, "invalid_value", f"a parameter value was refused ({kind})")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed"}
        return problem(
            exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail), exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(400, "invalid_request", _describe_validation(exc))

    for error, (status, code) in DOMAIN_ERRORS.items():
        app.add_exception_handler(error, _handler(status, code))


def message(exc: Exception) -> str:
    """The exception's own message, quotes kept (``str`` of a KeyError would add some).

    >>> message(KeyError("no layer 'x'"))
    "no layer 'x'"
    """
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def _handler(status: int, code: str):
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        response = problem(status, code, message(exc))
        problems = getattr(exc, "problems", None)
        if problems is not None:  # import errors: each with file, row, field and message
            body = {"code": code, "description": message(exc), "errors": problems}
            response = JSONResponse(status_code=status, content=body)
        return response

    return handle


def _describe_validation(exc: RequestValidationError) -> str:
    """``body.phone: String should match pattern …; query.limit: …`` — where and what."""
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        if error.get("type") == "extra_forbidden":
            parts.append(f"{where}: this field cannot be set (extra fields are refused)")
        else:
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
