"""Which engine a request's database work uses: a replica for reads, else the primary.

The one place that decides it (the engines, health and lag live in :mod:`layers.replicas`):
:func:`engine_of` is what :func:`api.deps.get_engine` and :func:`api.auth.autocommit` return,
and :class:`ReadRouting` (ASGI middleware) records each caller's writes and tells operators
where a read went (``X-Gongjian-Read: replica|primary``, ``X-Gongjian-Replica: host:port``).

Reads are GET and HEAD requests; every other method writes and runs on the primary, with its
audit rows. Paths whose caches are keyed by the primary's change counters (vector tiles,
wall maps) and ``/health`` stay on the primary: a tile drawn from a replica a moment behind
would be kept under the new counter.

Read your own writes: a caller is its bearer token (its SHA-256). After a write the primary's
WAL position is kept in this process's memory for that caller and also sent back as the
cookie ``gongjian_lsn``, so that clients keeping cookies (browsers, ``requests.Session``)
read their writes on any worker process of ``gongjian serve --workers N``.
"""

from __future__ import annotations

import anyio
import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.engine import Engine

from api.settings import ApiSettings
from layers.access import hash_token, restricted_engine
from layers.db import _with_psycopg_driver
from layers.replicas import CONNECT_TIMEOUT_S, ReadRouter

READ_METHODS = frozenset({"GET", "HEAD"})
PRIMARY_ONLY = ("/tiles/", "/maps/", "/health")
LSN_COOKIE = "gongjian_lsn"
LSN_COOKIE_MAX_AGE_S = 600


def build_read_router(login_engine: Engine, settings: ApiSettings) -> ReadRouter | None:
    """A router over ``settings.read_urls`` (None without read URLs); nothing connects yet."""
    if not settings.read_urls:
        return None
    options = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    engines = {}
    for url in settings.read_urls:
        base = sa.create_engine(_with_psycopg_driver(url), **options)
        name = f"{base.url.host}:{base.url.port or 5432}"
        engines[name] = restricted_engine(base, settings.db_role, **options)
    return ReadRouter(login_engine, engines, max_lag_s=settings.max_replica_lag_s)


def caller_key(request: Request) -> str | None:
    """Who reads and writes: the hash of the bearer token (None without one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_token(token.strip())


def engine_of(request: Request) -> Engine:
    """The engine of this request, chosen once: a usable replica for reads, else the primary."""
    chosen = getattr(request.state, "db_engine", None)
    if chosen is not None:
        return chosen
    engine = request.app.state.engine
    router: ReadRouter | None = getattr(request.app.state, "read_router", None)
    where = None
    if router is not None:
        where = "primary"
        if request.method in READ_METHODS and not request.url.path.startswith(PRIMARY_ONLY):
            replica = router.replica_for_read(caller_key(request), _cookie_lsn(request))
            if replica is not None:
                engine, where = replica.engine, replica.name
    request.state.db_engine = engine
    request.state.db_read = where
    return engine


def _cookie_lsn(request: Request) -> int | None:
    value = request.cookies.get(LSN_COOKIE, "")
    return int(value) if value.isdigit() and len(value) < 21 else None


class ReadRouting:
    """ASGI middleware: after a write, remember the caller's WAL position; label reads."""

    def __init__(self, app, router: ReadRouter) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        writes = scope["method"] not in READ_METHODS
        request = Request(scope)

        async def send_labelled(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if writes:
                    key = caller_key(request)
                    lsn = (
                        await anyio.to_thread.run_sync(self.router.note_write, key) if key else None
                    )
                    if lsn is not None:
                        cookie = (
                            f"{LSN_COOKIE}={lsn}; Path=/; Max-Age={LSN_COOKIE_MAX_AGE_S}; "
                            "HttpOnly; SameSite=Strict"
                        )
                        headers.append((b"set-cookie", cookie.encode()))
                elif state.get("db_read"):
                    where = state["db_read"]
                    headers.append(
                        (b"x-gongjian-read", b"primary" if where == "primary" else b"replica")
                    )
                    if where != "primary":
                        headers.append((b"x-gongjian-replica", where.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_labelled)
