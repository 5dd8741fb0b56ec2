"""OGC API – Features: landing page, conformance, collections, items, one item.

Every data route depends on the caller's token; every query is filtered by the caller's
scope in SQL (layers.features), and an item outside the scope is 404 like a missing one.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.auth import current_caller
from api.deps import ItemsParams, get_engine, synthetic_note
from layers import features
from layers.access import Caller, scoped_connection

router = APIRouter(tags=["features"])
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/",
    summary="Landing page: the web map (HTML) or the OGC API links (JSON)",
    response_model=None,
)
def landing(
    request: Request, f: str | None = Query(None, pattern="^(json|html)$")
) -> HTMLResponse | dict:
    wants_html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        from api.routers.webmap import webmap_page

        return webmap_page(request, township=None)
    base = _base(request)
    return {
        "title": request.app.state.settings.title,
        "description": "攻坚图: poverty-alleviation layers of the township"
        + (f" ({note})" if (note := synthetic_note(request)) else ""),
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/?f=json"},
            {"rel": "alternate", "type": "text/html", "href": f"{base}/?f=html"},
            {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
             "href": f"{base}/openapi.json"},
            {"rel": "service-doc", "type": "text/html", "href": f"{base}/docs"},
            {"rel": "conformance", "type": "application/json", "href": f"{base}/conformance"},
            {"rel": "data", "type": "application/json", "href": f"{base}/collections"},
        ],
    }  # fmt: skip


@router.get("/conformance", summary="Conformance classes")
def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


def _describe(request: Request, coll: features.Collection) -> dict:
    base = _base(request)
    return {
        "id": coll.id,
        "title": coll.title,
        "description": coll.description or coll.title,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "geometryType": coll.geometry_type,
        "properties": list(coll.properties),
        "sensitiveProperties": list(coll.sensitive),
        "filters": {name: f.description for name, f in coll.filters.items()},
        "datetimeProperty": coll.datetime,
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/collections/{coll.id}"},
            {"rel": "items", "type": GEOJSON, "href": f"{base}/collections/{coll.id}/items"},
            {"rel": "tiles", "type": "application/json", "title": "TileJSON",
             "href": f"{base}/tiles/{coll.id}.json"},
        ],
    }  # fmt: skip


@router.get("/collections", summary="Every layer")
def collections(request: Request, caller: Caller = Depends(current_caller)) -> dict:
    base = _base(request)
    return {
        "collections": [_describe(request, c) for c in features.REGISTRY.values()],
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
    }


@router.get("/collections/{collection_id}", summary="One layer, with its extent in your scope")
def collection(
    collection_id: str,
    request: Request,
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    coll = features.collection(collection_id)
    with scoped_connection(engine, caller.scope) as conn:
        extent = features.extent(conn, coll, caller)
    return {**_describe(request, coll), "extent": extent}


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a layer in your scope (GeoJSON)",
    description=(
        "Besides the standard parameters, each layer takes its own filters as query "
        "parameters (see `filters` in /collections/{collection_id}), e.g. "
        "`?township=441882100&status=poor,returned&cause=illness`."
    ),
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    collection_id: str,
    request: Request,
    params: ItemsParams = Depends(),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> Response:
    coll = features.collection(collection_id)
    query = params.query(request, coll)
    with scoped_connection(engine, caller.scope) as conn:
        page = features.fetch_items(conn, coll, caller, query)
    body = features.feature_collection_json(
        page.features,
        {
            "numberMatched": page.number_matched,
            "numberReturned": page.number_returned,
            "links": _page_links(request, query, page),
            **({"attribution": note} if (note := synthetic_note(request)) else {}),
        },
    )
    return Response(body, media_type=GEOJSON)


def _page_links(request: Request, query: features.ItemsQuery, page: features.ItemsPage) -> list:
    def at(offset: int) -> str:
        return str(request.url.include_query_params(offset=offset, limit=query.limit))

    links = [{"rel": "self", "type": GEOJSON, "href": str(request.url)}]
    if query.offset + page.number_returned < page.number_matched:
        links.append({"rel": "next", "type": GEOJSON, "href": at(query.offset + query.limit)})
    if query.offset > 0:
        links.append(
            {"rel": "prev", "type": GEOJSON, "href": at(max(query.offset - query.limit, 0))}
        )
    return links


def item_etag(collection_id: str, item_id: str, version: int) -> str:
    return f'"{collection_id}-{item_id}-v{version}"'


@router.get(
    "/collections/{collection_id}/items/{item_id}",
    summary="One feature (404 if it does not exist or is outside your scope)",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "not found"}},
)
def item(
    collection_id: str,
    item_id: str,
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> Response:
    coll = features.collection(collection_id)
    with scoped_connection(engine, caller.scope) as conn:
        found = features.fetch_item(conn, coll, caller, item_id)
    if found is None:
        return JSONResponse(
            {"code": "not_found", "description": f"no {coll.id} {item_id}"}, status_code=404
        )
    headers = {}
    if found.version is not None:
        headers["ETag"] = item_etag(coll.id, item_id, found.version)
    return Response(found.feature, media_type=GEOJSON, headers=headers)
