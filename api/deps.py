"""FastAPI dependencies shared by the routers: the engine, settings, parameter groups."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Query, Request
from sqlalchemy.engine import Engine

from api.settings import ApiSettings
from layers import features

# Query parameters of /items that are not filters of a layer.
ITEMS_PARAMETERS = frozenset({"bbox", "limit", "offset", "properties", "datetime", "f"})


def get_engine(request: Request) -> Engine:
    """The engine of this request (the API's restricted role): a read replica for reads when
    GONGJIAN_READ_URLS names some, else the primary (api/read_routing.py decides)."""
    from api.read_routing import engine_of

    return engine_of(request)


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


NOTE_SECONDS = 10.0  # how long the dataset registry's answer is reused


def synthetic_note(request: Request) -> str:
    """``示例数据（合成）`` while synthetic data is loaded (the dataset registry says), else "".

    Asked of the registry at most every few seconds: every page and items response shows it.
    """
    from layers.datasets import synthetic_note as registry_note

    state = request.app.state
    cached = getattr(state, "synthetic_note_cache", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > NOTE_SECONDS:
        cached = (now, registry_note(state.login_engine))
        state.synthetic_note_cache = cached
    return cached[1]


def layer_filters(request: Request, collection: features.Collection) -> dict[str, list]:
    """Every query parameter that is not a standard one must be a filter of the layer."""
    raw = {k: v for k, v in request.query_params.items() if k not in ITEMS_PARAMETERS}
    repeated = [k for k in raw if len(request.query_params.getlist(k)) > 1]
    if repeated:
        raise features.QueryError(
            f"give {repeated[0]} once, with comma-separated values (e.g. status=poor,returned)"
        )
    return features.parse_filters(collection, raw)


@dataclass
class ItemsParams:
    """The standard parameters of an OGC API – Features items request."""

    bbox: str | None = Query(
        None,
        description="minx,miny,maxx,maxy in WGS84 degrees (CRS84)",
        examples=["112.30,24.70,112.45,24.85"],
    )
    limit: int = Query(
        features.DEFAULT_LIMIT,
        description=f"page size, 1 to {features.MAX_LIMIT}",
    )
    offset: int = Query(0, description="features to skip (see the next/prev links)")
    properties: str | None = Query(
        None, description="comma-separated property names to return (default: all)"
    )
    datetime: str | None = Query(
        None,
        description="RFC 3339 instant or interval (a/b, ../b, a/..) on the layer's time column",
    )

    def query(self, request: Request, coll: features.Collection) -> features.ItemsQuery:
        return features.ItemsQuery(
            bbox=features.parse_bbox(self.bbox) if self.bbox is not None else None,
            limit=self.limit,
            offset=self.offset,
            filters=layer_filters(request, coll),
            properties=(
                features.parse_properties(coll, self.properties)
                if self.properties is not None
                else None
            ),
            datetime=features.parse_datetime(self.datetime) if self.datetime is not None else None,
        )
