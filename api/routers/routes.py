"""Inspectors' field routes over HTTP: plan, fetch in every format, record visit results.

- ``POST /routes`` — plan a township (or one village) in your scope: sample or list the
  households, K inspectors × D days; the plan is stored and summarised (201, Location).
- ``GET /routes`` — the plans in your scope; ``GET /routes/{id}`` — one plan as JSON.
- ``GET /routes/{id}.{geojson,gpx,kml,pdf,html,xlsx}`` — for GIS, phones, paper, the browser
  and the results sheet to fill in (``?inspector=&day=`` for one inspector-day).
- ``POST /routes/{id}/results`` — visit results as JSON; ``POST /routes/{id}/results/sheet``
  — the filled-in sheet itself (XLSX or CSV as the request body).

Scope: a plan belongs to the area it covers; a caller sees and plans only areas inside
their scope (a township user cannot plan or fetch another township's routes — 404 as for a
plan that does not exist). Planning and recording results need the inspector or admin role.
Household heads' names are masked in every answer and file.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_caller, require_roles
from api.deps import get_engine
from api.errors import message
from geo import vocab
from geo.network import NetworkError
from geo.routing import export
from geo.routing.plan import Inspector, PlanError
from geo.routing.policy import clock
from geo.routing.sampling import SamplingError
from geo.routing.sheets import CHECKS, SheetError, read_results, results_template
from geo.synthetic import SYNTHETIC_NOTE
from layers import routes
from layers.access import VISIT_ROLES, Caller, scoped_connection
from layers.edits import EditRejected, NotInScope
from layers.features import QueryError
from maps.route_map import render_route_html
from maps.route_sheet import render_route_sheets

router = APIRouter(tags=["routes"])
planner = require_roles(*VISIT_ROLES)
MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpx": "application/gpx+xml",
    "kml": "application/vnd.google-earth.kml+xml",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SHEET_TYPES = {"text/csv": "results.csv", MEDIA_TYPES["xlsx"]: "results.xlsx"}
VisitResult = Literal[tuple(vocab.VISIT_RESULT)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Point(Strict):
    lon: float = Field(ge=73, le=136)
    lat: float = Field(ge=3, le=54)


class InspectorIn(Strict):
    name: str = Field(min_length=1, max_length=40)
    start: Point | None = Field(None, description="own start and end (default: the office)")


class ListedHousehold(Strict):
    household_no: str = Field(pattern=r"^[0-9A-Za-z-]{4,40}$")
    must_visit: bool = False
    window_start: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$", examples=["09:00"])
    window_end: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$", examples=["11:30"])
    priority: float = Field(0, ge=0, le=100)


class PlanIn(Strict):
    """A plan request. Give ``households`` to visit a list, else ``sample`` + ``strategy``."""

    area: str = Field(pattern=r"^(\d{9}|\d{12})$", description="township or village code")
    strategy: Literal["random", "stratified", "risk"] = "random"
    sample: int | None = Field(None, ge=1, le=500)
    households: list[ListedHousehold] | None = Field(None, min_length=1, max_length=500)
    inspectors: int | list[InspectorIn] | None = Field(
        None, description="a number (督查员1…) or named inspectors, optionally with a start"
    )
    days: int | None = Field(None, ge=1, le=14)
    hours: float | None = Field(None, gt=0, le=16)
    service_min: float | None = Field(None, ge=0, le=240)
    day_start: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$", examples=["08:30"])
    seed: int = Field(0, ge=0, le=2**31 - 1)
    as_of: dt.date | None = Field(None, description="risk facts as of (default today)")
    start_date: dt.date | None = None
    include_visited: bool = False


class ResultIn(Strict):
    household_no: str = Field(pattern=r"^[0-9A-Za-z-]{4,40}$")
    result: VisitResult
    visit_date: dt.date | None = None
    checks: dict[Literal[tuple(CHECKS)], bool] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="两不愁三保障: food, clothing, education, medical, housing",
    )
    findings: str | None = Field(None, max_length=4000)


@contextmanager
def _domain_errors():
    """Planning errors as the API's answers: unknown or out of scope 404, bad requests 400."""
    try:
        yield
    except routes.RouteError as exc:
        raise NotInScope(message(exc)) from None
    except (routes.PlanRejected, SamplingError, PlanError, NetworkError) as exc:
        raise QueryError(str(exc)) from None
    except (routes.ResultError, SheetError) as exc:
        raise EditRejected(str(exc)) from None


def _check_area(caller: Caller, code: str) -> None:
    if not caller.scope.covers(code):
        raise NotInScope(f"no township or village {code}")


@router.post(
    "/routes",
    summary="Plan inspectors' field days in your scope (K inspectors × D days)",
    status_code=201,
    responses={404: {"description": "no such area in your scope"}},
)
def plan_routes(
    body: PlanIn,
    request: Request,
    caller: Caller = Depends(planner),
    engine=Depends(get_engine),
) -> JSONResponse:
    _check_area(caller, body.area)
    if body.households is not None and body.sample is not None:
        raise QueryError("give sample or households, not both")
    listed = None
    if body.households is not None:
        import pandas as pd

        listed = pd.DataFrame([h.model_dump() for h in body.households])
    inspectors = body.inspectors
    if isinstance(inspectors, list):
        inspectors = [
            Inspector(i.name, (i.start.lon, i.start.lat) if i.start else None) for i in inspectors
        ]
    req = routes.PlanRequest(
        area_code=body.area,
        strategy="list" if listed is not None else body.strategy,
        sample=body.sample,
        households=listed,
        inspectors=inspectors,
        days=body.days,
        hours=body.hours,
        service_min=body.service_min,
        day_start=body.day_start,
        seed=body.seed,
        as_of=body.as_of or dt.date.today(),
        start_date=body.start_date,
        skip_visited=False if body.include_visited else None,
    )
    with _domain_errors(), scoped_connection(engine, caller.scope) as conn:
        made = routes.make_plan(conn, req, actor=caller.actor)
    location = str(request.url_for("route_plan", plan_id=made.plan_id))
    return JSONResponse(
        _plan_json(made.plan, request, made.plan_id) | {"missing": made.missing},
        status_code=201,
        headers={"Location": location},
    )


@router.get("/routes", summary="The route plans in your scope, latest first")
def list_routes(caller: Caller = Depends(current_caller), engine=Depends(get_engine)) -> dict:
    with scoped_connection(engine, caller.scope) as conn:
        frame = routes.list_plans(conn, caller.scope.code)
    frame["created_at"] = frame.created_at.map(lambda t: t.isoformat())
    return {"plans": frame.to_dict(orient="records")}


@router.get(
    "/routes/{plan_id}.{fmt}",
    summary="A plan as GeoJSON, GPX 1.1, KML, route sheet PDF, HTML map or results sheet",
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()}}, 404: {}},
)
def route_file(
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    fmt: Literal["geojson", "gpx", "kml", "pdf", "html", "xlsx"] = Path(...),
    inspector: int | None = Query(None, ge=1, description="only this inspector (1…K)"),
    day: int | None = Query(None, ge=1, description="only this day (1…D)"),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> Response:
    with _domain_errors(), scoped_connection(engine, caller.scope) as conn:
        plan = routes.load_plan(conn, plan_id, caller.scope.code)
        layers = routes.layers_for(conn, plan) if fmt in ("pdf", "html") else {}
    if fmt == "geojson":
        body: str | bytes = export.to_geojson(plan, inspector, day)
    elif fmt == "gpx":
        body = export.to_gpx(plan, inspector, day)
    elif fmt == "kml":
        body = export.to_kml(plan, inspector, day)
    elif fmt == "pdf":
        body = render_route_sheets(plan, layers, inspector=inspector, day=day)
    elif fmt == "html":
        body = render_route_html(plan, layers)
    else:
        _, stops = export.select(plan, inspector, day)
        body = results_template(stops, f"{plan.meta['title']} · 走访结果", plan_id)
    part = "".join(f"-{k}{v}" for k, v in (("i", inspector), ("d", day)) if v)
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'inline; filename="route-{plan_id}{part}.{fmt}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/routes/{plan_id}", name="route_plan", summary="A plan: days, stops, reasons")
def route_plan(
    request: Request,
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    with _domain_errors(), scoped_connection(engine, caller.scope) as conn:
        plan = routes.load_plan(conn, plan_id, caller.scope.code)
    return _plan_json(plan, request, plan_id)


@router.post(
    "/routes/{plan_id}/results",
    summary="Record visit results of a plan (idempotent; a changed result corrects the visit)",
)
def record_results(
    results: list[ResultIn],
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(planner),
    engine=Depends(get_engine),
) -> dict:
    import pandas as pd

    rows = []
    for r in results:
        row = {"household_no": r.household_no, "result": r.result, "visit_date": r.visit_date,
               "findings": r.findings}  # fmt: skip
        row |= {f"check_{c}": r.checks.get(c) for c in CHECKS}
        rows.append(row)
    return _record(engine, caller, plan_id, pd.DataFrame(rows))


@router.post(
    "/routes/{plan_id}/results/sheet",
    summary="Record the filled-in results sheet (XLSX or CSV as the request body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in SHEET_TYPES},
        }
    },
)
async def record_sheet(
    request: Request,
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(planner),
    engine=Depends(get_engine),
) -> dict:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in SHEET_TYPES:
        raise EditRejected(f"send the sheet as {' or '.join(SHEET_TYPES)}, not {kind or '—'}")
    data = await request.body()
    with _domain_errors():
        frame = read_results(data, SHEET_TYPES[kind])
    return _record(engine, caller, plan_id, frame)


def _record(engine, caller: Caller, plan_id: int, frame) -> dict:
    with _domain_errors(), scoped_connection(engine, caller.scope) as conn:
        summary = routes.record_results(
            conn, plan_id, frame, actor=caller.actor, scope=caller.scope.code
        )
    return {
        "plan": plan_id,
        "inserted": summary.inserted,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "households": summary.households,
    }


def _plan_json(plan, request: Request, plan_id: int) -> dict:
    base = str(request.url_for("route_plan", plan_id=plan_id))
    days = []
    for d in plan.days.itertuples():
        stops = plan.day_stops(d.inspector, d.day)
        days.append(
            {
                "inspector": int(d.inspector),
                "inspector_name": d.inspector_name,
                "day": int(d.day),
                "date": d.date.isoformat() if d.date else None,
                "start": clock(d.start_min),
                "finish": clock(d.finish_min),
                "travel_min": round(float(d.travel_min), 1),
                "distance_km": round(float(d.distance_m) / 1000, 2),
                "stops": [_stop_json(s) for s in stops.itertuples()],
            }
        )
    return {
        "id": plan_id,
        "title": plan.meta.get("title"),
        "note": SYNTHETIC_NOTE if plan.meta.get("synthetic") else None,
        "area": plan.meta.get("area"),
        "strategy": plan.meta.get("strategy"),
        "seed": plan.meta.get("seed"),
        "summary": plan.summary(),
        "days": days,
        "unassigned": [
            {"household_no": s.household_no, "reason": s.reason, "reason_text": s.reason_text}
            for s in plan.unassigned.itertuples()
        ],
        "links": {fmt: f"{base}.{fmt}" for fmt in MEDIA_TYPES},
    }


def _stop_json(s) -> dict:
    from geo.sensitivity import shown

    result = getattr(s, "result", None)
    return {
        "seq": int(s.seq),
        "household_no": s.household_no,
        "head_name": shown("route_stop", "head_name", getattr(s, "head_name", None)),
        "village": getattr(s, "village_name", None),
        "arrival": clock(s.arrival_min),
        "begin": clock(s.begin_min),
        "leg_min": round(float(s.leg_min), 1),
        "leg_km": round(float(s.leg_m) / 1000, 2),
        "result": result if isinstance(result, str) else None,
    }
