"""The printed 攻坚图 of a township over HTTP: ``/maps/townships/{code}/gongjian.{fmt}``.

PDF, PNG and SVG come from ``maps.wallmap`` (the wall-map renderer); HTML is the
self-contained web twin of ``maps.webmap``. Scope: a township the caller may see (their own,
one in their county, or the township of their village); households are limited to the
caller's scope, and viewers get the public sheet (names masked).
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.auth import autocommit, current_caller
from layers.access import Caller
from layers.edits import NotInScope
from layers.tiles import layer_versions
from layers.wallmap_data import (
    SHEET_TABLES,
    TownshipNotFound,
    sheet_cache_key,
    township_households_fingerprint,
)
from maps import webmap
from maps.wallmap.render import WallmapError, render_township_map

router = APIRouter(tags=["maps"])
_RENDER_LOCKS: dict[str, threading.Lock] = {}
_RENDER_LOCKS_GUARD = threading.Lock()
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "svg": "image/svg+xml",
    "html": "text/html; charset=utf-8",
}


@router.get(
    "/maps/townships/{code}/gongjian.{fmt}",
    summary="The township's 攻坚图 wall map (PDF, PNG, SVG) or its offline HTML twin",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}},
        404: {"description": "no such township in your scope"},
    },
)
def township_map(
    request: Request,
    code: str = Path(..., pattern=r"^\d{9}$", description="township code"),
    fmt: Literal["pdf", "png", "svg", "html"] = Path(..., description="file format"),
    paper: Literal["A0", "A1", "A2", "A3", "A4"] = Query("A3", description="paper size"),
    color_by: Literal["status", "cause"] = Query("status", description="household colours"),
    as_of: dt.date | None = Query(
        None, description="status on this date (default: the latest effective date in the data)"
    ),
    page: int = Query(1, ge=1, description="PNG/SVG: the page (1 the map, 2… the 附表)"),
    caller: Caller = Depends(current_caller),
) -> Response:
    scope = caller.scope.code
    if not (code.startswith(scope) or scope.startswith(code)):
        raise NotInScope(f"no township {code}")
    public = not caller.sees_personal_data
    # The renderers open their own read-only transactions; they filter households by the
    # scope themselves, so they get the login engine (row-level security needs a scoped
    # transaction they do not open).
    engine = request.app.state.login_engine
    cache = request.app.state.tile_cache
    versions, households = _sheet_versions(request, code)
    options = {
        "fmt": fmt, "paper": paper, "public": public, "color_by": color_by, "scope": scope,
        "as_of": as_of, "page": page,
        "web_base_url": request.app.state.settings.public_url or str(request.base_url),
    }  # fmt: skip
    key = sheet_cache_key(versions, code=code, households=households, **options)
    body = cache.get(key) if key else None
    if body is None:
        with _rendering(key):  # one render per sheet at a time; the others wait for it
            body = cache.get(key) if key else None
            if body is None:
                body = _render(engine, code, **options)
                if key:
                    cache.put(key, body)
    filename = f"gongjian-{code}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def _render(engine, code: str, *, fmt: str, public: bool, scope: str, as_of, **sheet) -> bytes:
    """The sheet (``sheet``: paper, color_by, page, web_base_url) or its HTML twin."""
    try:
        if fmt == "html":
            return webmap.render_township_html(
                engine, code, public=public, scope=scope, as_of=as_of
            ).encode()
        return render_township_map(
            engine, code, fmt=fmt, public=public, scope=scope, as_of=as_of, **sheet
        )
    except TownshipNotFound:
        raise NotInScope(f"no township {code}") from None
    except WallmapError as exc:
        raise NotInScope(str(exc)) from None


def _sheet_versions(request: Request, code: str) -> tuple[tuple[int, ...] | None, str]:
    """The change counters of what a sheet reads (from the change watcher, else the
    database) and the fingerprint of the township's households."""
    known = request.app.state.changes.versions(SHEET_TABLES)
    with autocommit(request) as conn:
        households = township_households_fingerprint(conn, code)
        return (known or layer_versions(conn, SHEET_TABLES)), households


@contextmanager
def _rendering(key: str | None):
    if key is None:
        yield
        return
    with _RENDER_LOCKS_GUARD:
        lock = _RENDER_LOCKS.setdefault(key, threading.Lock())
    try:
        with lock:
            yield
    finally:
        with _RENDER_LOCKS_GUARD:
            if len(_RENDER_LOCKS) > 256:  # old sheets' locks: forget those nobody holds
                for stale in [k for k, v in _RENDER_LOCKS.items() if not v.locked()]:
                    del _RENDER_LOCKS[stale]
