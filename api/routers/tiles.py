"""Vector tiles ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and TileJSON ``/tiles/{layer}.json``.

Tiles are cut in PostGIS for the caller's scope and cached under an ETag that includes the
layer's change counters: a write to the data changes the ETag, so a browser revalidating
with If-None-Match gets the new tile and everyone else a 304 or a cache hit.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate, autocommit, bearer, current_caller
from api.deps import get_engine, layer_filters, synthetic_note
from layers import features, tiles
from layers.access import Caller, scoped_connection

router = APIRouter(tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "private, max-age=0, must-revalidate"  # always revalidate: data changes


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="A Mapbox vector tile of a layer in your scope (WebMercatorQuad)",
    description="Takes the same filters as the layer's items, e.g. `?status=poor`.",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 304: {"description": "not modified"}},
)
async def tile(
    layer: str,
    z: int,
    x: int,
    y: int,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> Response:
    # The hot path of the map: one worker-thread hop and one pooled connection for the token
    # and the change counters; a cache hit then needs nothing more. The token is checked
    # first: without one, nothing about layers or coordinates is answered (401 before 400).
    coll = features.collection(layer) if layer in features.REGISTRY else None
    watched = coll.watched_tables if coll is not None else ()
    caller, versions = _from_memory(request, credentials, watched)
    if caller is None:
        caller, versions = await run_in_threadpool(
            _caller_and_versions, request, credentials, watched
        )
    if coll is None:
        coll = features.collection(layer)  # unknown layer: 404
    tiles.check_tile(z, x, y)
    filters = layer_filters(request, coll)
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Authorization"}
    etag = tiles.tile_etag(coll, caller, z, x, y, filters, versions) if versions else None
    cache: tiles.TileCache = request.app.state.tile_cache
    if etag is not None:
        headers["ETag"] = etag
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        cached = cache.get(etag)
        if cached is not None:
            return Response(cached, media_type=MVT, headers=headers)
    body = await run_in_threadpool(_render, request, coll, caller, z, x, y, filters)
    if etag is not None:
        cache.put(etag, body)
    return Response(body, media_type=MVT, headers=headers)


def _from_memory(request: Request, credentials, watched: tuple[str, ...]):
    """Caller and counters from the change watcher and the token cache, when both know."""
    state = request.app.state
    known = state.changes.versions((*watched, "api_user"))
    if known is None:
        return None, None
    caller = state.tokens.get(credentials, known[-1])
    return (caller, known[:-1]) if caller is not None else (None, None)


def _caller_and_versions(request: Request, credentials, watched: tuple[str, ...]):
    with autocommit(request) as conn:
        caller = authenticate(request, conn, credentials)
        versions = tiles.layer_versions(conn, (*watched, "api_user"))
    if versions is None:
        return caller, None
    request.app.state.tokens.put(credentials, versions[-1], caller)
    return caller, versions[:-1]


def _render(request: Request, coll, caller: Caller, z: int, x: int, y: int, filters) -> bytes:
    # one read-only statement, scope filter inside it: no transaction needed around it
    with autocommit(request) as conn:
        return tiles.render_tile(conn, coll, caller, z, x, y, filters)


@router.get("/tiles/{layer}.json", summary="TileJSON of a layer (for MapLibre and QGIS)")
def tilejson(
    layer: str,
    request: Request,
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    coll = features.collection(layer)
    with scoped_connection(engine, caller.scope) as conn:
        extent = features.extent(conn, coll, caller)
    bounds = extent.get("spatial", {}).get("bbox", [None])[0]
    base = str(request.base_url).rstrip("/")
    return tiles.tilejson(
        coll, f"{base}/tiles/{coll.id}/{{z}}/{{x}}/{{y}}.mvt", bounds, synthetic_note(request)
    )
