"""The printed 攻坚图 of a township over HTTP: ``/maps/townships/{code}/gongjian.{fmt}``.

PDF, PNG and SVG come from ``maps.wallmap`` (the wall-map renderer); HTML is the
self-contained web twin of ``maps.webmap``. Scope: a township the caller may see (their own,
one in their county, or the township of their village); households are limited to the
caller's scope, and viewers get the public sheet (names masked).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.auth import current_caller
from layers.access import Caller
from layers.edits import NotInScope
from layers.wallmap_data import TownshipNotFound
from maps import webmap
from maps.wallmap.render import WallmapError, render_township_map

router = APIRouter(tags=["maps"])
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
    try:
        if fmt == "html":
            body = webmap.render_township_html(
                engine, code, public=public, scope=scope, as_of=as_of
            ).encode()
        else:
            body = render_township_map(
                engine,
                code,
                paper=paper,
                fmt=fmt,
                public=public,
                color_by=color_by,
                scope=scope,
                as_of=as_of,
                page=page,
                web_base_url=request.app.state.settings.public_url or str(request.base_url),
            )
    except TownshipNotFound:
        raise NotInScope(f"no township {code}") from None
    except WallmapError as exc:
        raise NotInScope(str(exc)) from None
    filename = f"gongjian-{code}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
