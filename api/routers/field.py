"""The inspectors' offline phone app: ``/field/`` (an installable PWA) and its API.

- ``GET /field/`` — the app (Chinese, for a 360×740 phone screen), ``/field/sw.js`` its
  service worker (scope ``/field/``: the app opens with no network), and its manifest.
- ``GET /field/api/plans`` — the route plans in the caller's scope.
- ``GET /field/api/plans/{id}/package`` — the offline package (``layers.field.package``).
- ``PUT /field/api/photos/{sha256}`` — a visit's photo (body: the JPEG), checked against its
  SHA-256; uploading it again is harmless.
- ``POST /field/api/visits`` — one visit; the answer says stored, duplicate, conflict or
  refused (with the message the phone shows). Always 200 for those four: a phone syncing a
  queue reads the status of each visit; 401 means the token no longer works (drafts stay).
- ``GET /field/photos/{sha256}`` — a stored photo, for the web map's visit popup.
- ``GET /field/api/plans/{id}/xlsform`` — the visit form for ODK Collect / KoBoToolbox;
  ``POST /field/api/plans/{id}/odk`` — ODK Central's submissions (CSV, or the ZIP with photos).

Inspector and admin tokens only (the roles that record visits).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from pathlib import Path as FilePath
from typing import Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_roles
from api.deps import get_engine
from geo import vocab
from geo.field import field_policy
from geo.policy import load_profile
from geo.routing.odk import read_export
from geo.routing.sheets import CHECKS, SheetError
from layers import features, field, odk, routes
from layers.access import PERSONAL_DATA_ROLES, VISIT_ROLES, Caller, scoped_connection
from maps import webmap

router = APIRouter(tags=["field app"])
inspector = require_roles(*VISIT_ROLES)
APP = FilePath(__file__).resolve().parent.parent / "static" / "field"
SHA256 = r"^[0-9a-f]{64}$"
BINARY = {"type": "string", "format": "binary"}
photo_viewer = require_roles(*PERSONAL_DATA_ROLES)  # a household's door is personal data
VisitResult = Literal[tuple(vocab.VISIT_RESULT)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Position(Strict):
    lon: float = Field(ge=73, le=136)
    lat: float = Field(ge=3, le=54)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class VisitIn(Strict):
    """One visit as the phone recorded it; times on the phone's clock (with its offset)."""

    client_id: uuid.UUID
    plan_id: int = Field(ge=1, le=2**31 - 1)
    household_id: int = Field(ge=1)
    household_version: int = Field(ge=1)
    result: VisitResult
    checks: dict[Literal[tuple(CHECKS)], bool | None] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="两不愁三保障: food, clothing, education, medical, housing",
    )
    notes: str | None = Field(None, max_length=4000)
    position: Position | None = None
    started_at: dt.datetime
    recorded_at: dt.datetime
    sent_at: dt.datetime
    photo_sha256: str | None = Field(None, pattern=SHA256)
    accept_version: int | None = Field(
        None, ge=1, description="the household version the inspector checked after a conflict"
    )


@router.get("/field", include_in_schema=False)
def field_root() -> RedirectResponse:
    return RedirectResponse("/field/")


@router.get("/field/", summary="The inspectors' offline phone app (PWA)")
def field_app() -> FileResponse:
    return FileResponse(APP / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/field/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    return FileResponse(
        APP / "sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get("/field/manifest.webmanifest", include_in_schema=False)
def manifest() -> FileResponse:
    return FileResponse(APP / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/field/api/plans", summary="Route plans in your scope (the phone's list)")
def plans(caller: Caller = Depends(inspector), engine=Depends(get_engine)) -> dict:
    with scoped_connection(engine, caller.scope) as conn:
        return {"plans": field.plans(conn, caller)}


@router.get("/field/api/plans/{plan_id}/package", summary="A plan's offline package")
def package(
    request: Request,
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(inspector),
    engine=Depends(get_engine),
) -> Response:
    with scoped_connection(engine, caller.scope) as conn:
        body = field.package(conn, plan_id, caller)
        dem = features.basemap_dem_path(conn)
    body["hillshade"] = _hillshade(dem, body["households"])
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Cache-Control": "private, no-store", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):  # a fifth of the size on the air
        data, headers["Content-Encoding"] = gzip.compress(data, 6), "gzip"
    return Response(data, media_type="application/json", headers=headers)


def _hillshade(dem: str | None, households: list[dict]) -> dict | None:
    """The terrain under the route as a data URL (WebP) with its bounds, or None."""
    if not dem or not households or not FilePath(dem).exists():
        return None
    pad = field.PACKAGE_PAD_DEG
    lons, lats = [h["lon"] for h in households], [h["lat"] for h in households]
    bounds = (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)
    shade = webmap.hillshade_of_area(dem, bounds)
    if shade is None:
        return None
    encoded = base64.b64encode(shade.image).decode()
    return {"image": f"data:{shade.media_type};base64,{encoded}", "bounds": shade.bounds}


@router.put(
    "/field/api/photos/{sha256}",
    summary="Upload a visit's photo (JPEG/PNG/WebP body), checked against its SHA-256",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": BINARY} for t in field.PHOTO_TYPES},
        }
    },
)
async def upload_photo(
    request: Request,
    sha256: str = Path(..., pattern=SHA256),
    caller: Caller = Depends(inspector),
    engine=Depends(get_engine),
) -> JSONResponse:
    limit = int(request.app.state.settings.field_photo_max_mb * 1_000_000)
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:  # refuse before reading 20 MB into memory
        raise field.PhotoTooLarge(field.too_large(declared, limit))
    data = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    with scoped_connection(engine, caller.scope) as conn:
        new = field.store_photo(
            conn, data, sha256=sha256, media_type=kind, actor=caller.actor, max_bytes=limit
        )
    return JSONResponse({"sha256": sha256, "stored": new}, status_code=201 if new else 200)


@router.post("/field/api/visits", summary="Sync one visit (idempotent by client_id)")
def sync_visit(
    body: VisitIn, request: Request, caller: Caller = Depends(inspector), engine=Depends(get_engine)
) -> dict:
    policy = field_policy(load_profile())
    visit = field.FieldVisit(
        client_id=body.client_id,
        plan_id=body.plan_id,
        household_id=body.household_id,
        household_version=body.household_version,
        result=body.result,
        checks=dict(body.checks),
        notes=body.notes,
        lon=body.position.lon if body.position else None,
        lat=body.position.lat if body.position else None,
        accuracy_m=body.position.accuracy_m if body.position else None,
        started_at=_aware(body.started_at),
        recorded_at=_aware(body.recorded_at),
        sent_at=_aware(body.sent_at),
        photo_sha256=body.photo_sha256,
        accept_version=body.accept_version,
    )
    with scoped_connection(engine, caller.scope) as conn:
        return field.sync_visit(conn, visit, caller, policy).as_dict()


def _aware(value: dt.datetime) -> dt.datetime:
    """Phones send ISO times with an offset; one without is taken as China time."""
    from geo.field import CHINA

    return value if value.tzinfo else value.replace(tzinfo=CHINA)


@router.get(
    "/field/photos/{sha256}",
    summary="A visit's photo (for the web map's visit popup)",
    response_class=Response,
    responses={200: {"content": {t: {} for t in field.PHOTO_TYPES}}, 404: {}},
)
def visit_photo(
    sha256: str = Path(..., pattern=SHA256),
    caller: Caller = Depends(photo_viewer),
    engine=Depends(get_engine),
) -> Response:
    with scoped_connection(engine, caller.scope) as conn:
        data, media_type = field.photo(conn, sha256, caller)
    return Response(
        data,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{sha256}"'},
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_TYPES = ("text/csv", "application/zip")


@router.get(
    "/field/api/plans/{plan_id}/xlsform",
    summary="The plan's visit form as an XLSForm (ODK Collect, KoBoToolbox), checked by pyxform",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, 404: {}},
)
def visit_xlsform(
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(inspector),
    engine=Depends(get_engine),
) -> Response:
    with scoped_connection(engine, caller.scope) as conn:
        try:
            data = routes.visit_xlsform(conn, plan_id, caller.scope.code)
        except routes.RouteError as exc:
            raise field.NotFound(str(exc).strip("'\"")) from None
    name = f"gongjian_plan_{plan_id}.xlsx"
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post(
    "/field/api/plans/{plan_id}/odk",
    summary="Store ODK Central submissions of the plan's form as visits (CSV or ZIP body)",
    openapi_extra={
        "requestBody": {"required": True, "content": {t: {"schema": BINARY} for t in EXPORT_TYPES}}
    },
)
async def import_odk(
    request: Request,
    plan_id: int = Path(..., ge=1, le=2**31 - 1),
    caller: Caller = Depends(inspector),
    engine=Depends(get_engine),
) -> dict:
    data = await request.body()
    try:
        submissions, photos = read_export(data, "submissions")
    except SheetError as exc:
        raise field.FieldError(str(exc)) from None
    limit = int(request.app.state.settings.field_photo_max_mb * 1_000_000)
    with scoped_connection(engine, caller.scope) as conn:
        summary = odk.import_odk(
            conn, plan_id, submissions, photos, caller, field_policy(load_profile()),
            max_photo_bytes=limit,
        )  # fmt: skip
    return {"plan": plan_id, "stored": summary.stored, "duplicate": summary.duplicate,
            "flagged": summary.flagged}  # fmt: skip
