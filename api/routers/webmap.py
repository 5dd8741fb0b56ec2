"""The web map pages (``/`` and ``/townships/{code}``), its hillshade basemap, and ``/me``.

The pages themselves are a shell with no data (a browser cannot send a bearer token when it
navigates): everything on the map is fetched by the page with the token the user logs in
with, so scope and role apply to it exactly as to any API client.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import current_caller
from api.deps import get_engine, synthetic_note
from layers import features
from layers.access import Caller, scope_name, scoped_connection
from maps import webmap

router = APIRouter(tags=["web map"])


def wallmap_formats() -> tuple[str, ...]:
    """Formats of the printed wall map route, when that route is installed."""
    try:
        from api.routers import maps  # noqa: F401
    except ImportError:
        return ()
    return ("pdf", "png", "svg", "html")


def webmap_page(request: Request, township: str | None) -> HTMLResponse:
    settings = request.app.state.settings
    bounds = _hillshade_bounds(request)
    note = synthetic_note(request)
    config = webmap.WebMapConfig(
        title=f"{settings.title} · {note}" if note else settings.title,
        note=note,
        township=township,
        layers=[
            webmap.LayerInfo(c.id, c.title, c.geometry_type, c.tile.min_zoom, c.tile.cluster_below)
            for c in features.REGISTRY.values()
        ],
        hillshade_bounds=bounds,
        online_tiles=[t.model_dump() for t in settings.online_tiles],
        wallmap_formats=wallmap_formats(),
        labels=webmap.labels(),
    )
    return HTMLResponse(webmap.webmap_html(config))


def _dem_path(request: Request) -> str | None:
    with request.app.state.engine.connect() as conn:
        return features.basemap_dem_path(conn)


def _hillshade_bounds(request: Request):
    path = _dem_path(request)
    try:
        return webmap.hillshade_bounds(path) if path else None
    except OSError:
        return None  # the DEM file is gone: the map works without its hillshade


@router.get(
    "/townships/{code}",
    summary="The web map of one township (HTML)",
    response_class=HTMLResponse,
)
def township_page(
    request: Request, code: str = Path(..., pattern=r"^\d{9}$", description="township code")
) -> HTMLResponse:
    return webmap_page(request, township=code)


@router.get(
    webmap.HILLSHADE_URL,
    summary="The offline basemap: hillshade of the DEM (terrain only, no personal data)",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}}, 404: {"description": "no DEM"}},
)
def hillshade(request: Request) -> Response:
    path = _dem_path(request)
    try:
        shade = webmap.hillshade_image(path) if path else None
    except OSError:
        shade = None
    if shade is None:
        return Response(status_code=404)
    return Response(
        shade.image, media_type=shade.media_type, headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/me", summary="Who the token belongs to: name, role and scope", tags=["access"])
def me(caller: Caller = Depends(current_caller), engine=Depends(get_engine)) -> dict:
    with scoped_connection(engine, caller.scope) as conn:
        name = scope_name(conn, caller.scope)
    return {
        "name": caller.name,
        "role": caller.role,
        "scope": caller.scope.code,
        "scope_level": caller.scope.level,
        "scope_name": name,
        "sees_personal_data": caller.sees_personal_data,
    }
