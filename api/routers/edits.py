"""Writes: household fields (If-Match), help records, inspection visits — all audited.

Request bodies list the fields a caller may set and refuse any other (no ids, scopes,
versions, actors or timestamps from the client: mass assignment is a 400).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require_roles
from api.deps import get_engine
from api.routers.features import GEOJSON, item_etag
from geo import vocab
from layers import edits, features
from layers.access import EDIT_ROLES, VISIT_ROLES, Caller, scoped_connection

router = APIRouter(tags=["edits"])
editor = require_roles(*EDIT_ROLES)
inspector = require_roles(*VISIT_ROLES)
MAX_ID = 2**63 - 1

Category = Literal[tuple(vocab.CATEGORY)]  # type: ignore[valid-type]
Cause = Literal[tuple(vocab.CAUSE)]  # type: ignore[valid-type]
HousingStatus = Literal[tuple(vocab.HOUSING_STATUS)]  # type: ignore[valid-type]
Status = Literal[tuple(vocab.STATUS)]  # type: ignore[valid-type]
Measure = Literal[tuple(vocab.MEASURE)]  # type: ignore[valid-type]
VisitResult = Literal[tuple(vocab.VISIT_RESULT)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)

    def pair(self) -> tuple[float, float]:
        return (self.lon, self.lat)


class HouseholdPatch(Strict):
    """Card fields an editor may change; send only those that change."""

    head_name: str | None = Field(None, min_length=1, max_length=60)
    id_number: str | None = Field(None, pattern=r"^\d{17}[\dX]$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    members: int | None = Field(None, ge=1, le=50)
    labour_members: int | None = Field(None, ge=0, le=50)
    category: Category | None = None
    main_cause: Cause | None = None
    secondary_cause: Cause | None = None
    housing_status: HousingStatus | None = None
    status: Status | None = None
    exit_year: int | None = Field(None, ge=2000, le=2100)
    cadre_id: int | None = Field(None, ge=1, le=2**31 - 1)
    registered_year: int | None = Field(None, ge=2000, le=2100)
    location: Location | None = None
    effective_date: dt.date | None = Field(
        None,
        description="The day the change took effect (生效日期), if earlier than today: "
        "not in the future, not before the household was registered.",
    )


class HelpRecordIn(Strict):
    """A 帮扶记录 entry (九到户 measure, seed 003) for a household in your scope."""

    household_id: int = Field(ge=1, le=MAX_ID)
    date: dt.date
    measure: Measure
    cadre_id: int | None = Field(None, ge=1, le=2**31 - 1)
    note: str | None = Field(None, max_length=2000)
    amount: Decimal | None = Field(None, ge=0, le=10_000_000, max_digits=14, decimal_places=2)
    signed_household: bool = False
    signed_village: bool = False
    signed_cadre: bool = False


class VisitIn(Strict):
    """An inspection visit; the inspector is you (taken from your token)."""

    household_id: int = Field(ge=1, le=MAX_ID)
    date: dt.date
    result: VisitResult
    findings: str | None = Field(None, max_length=4000)
    location: Location | None = None


def parse_if_match(if_match: str | None, item_id: str) -> edits.IfMatch | None:
    """The household versions an If-Match header admits (None: no header).

    RFC 9110 §13.1.1: ``*`` matches any current representation; otherwise a list of entity
    tags compared strongly, so weak tags (``W/"…"``) and tags of other resources never match.
    """
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return edits.IfMatch(any_version=True)
    prefix = f"household-{item_id}-v"
    versions, weak = set(), 0
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    for tag in tags:
        if tag.startswith("W/"):
            weak += 1
            continue
        name = tag.strip('"') if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        number = name.removeprefix(prefix)
        if name.startswith(prefix) and number.isdigit():
            versions.add(int(number))
    return edits.IfMatch(versions=frozenset(versions), weak=bool(tags) and weak == len(tags))


@router.patch(
    "/collections/household/items/{item_id}",
    summary="Change a household's card fields (send If-Match with the ETag you read)",
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {}}},
        404: {"description": "not found in your scope"},
        412: {
            "description": "the household changed since you read it, or If-Match named no "
            "current version (weak ETags never match; `*` matches any)"
        },
        428: {"description": "If-Match missing"},
    },
)
def patch_household(
    item_id: str,
    patch: HouseholdPatch,
    if_match: str | None = Header(None),
    caller: Caller = Depends(editor),
    engine=Depends(get_engine),
) -> Response:
    coll = features.collection("household")
    household_id = features.parse_id(coll, item_id)
    if household_id is None:
        raise edits.NotInScope(f"household {item_id} not found")
    changes = patch.model_dump(exclude_unset=True)
    effective_date = changes.pop("effective_date", None)
    if "location" in changes:
        changes["location"] = patch.location.pair() if patch.location else None
    with scoped_connection(engine, caller.scope) as conn:
        saved = edits.update_household(
            conn,
            caller,
            household_id,
            parse_if_match(if_match, item_id),
            changes,
            effective_date=effective_date,
        )
        found = features.fetch_item(conn, coll, caller, item_id)
    return Response(
        found.feature,
        media_type=GEOJSON,
        headers={"ETag": item_etag(coll.id, item_id, saved.version)},
    )


def _created(request: Request, collection_id: str, saved: edits.Saved, engine, caller) -> Response:
    coll = features.collection(collection_id)
    with scoped_connection(engine, caller.scope) as conn:
        found = features.fetch_item(conn, coll, caller, str(saved.id))
    location = str(request.url_for("item", collection_id=collection_id, item_id=str(saved.id)))
    return Response(
        found.feature, status_code=201, media_type=GEOJSON, headers={"Location": location}
    )


@router.post(
    "/collections/help_record/items",
    summary="Add a help record to a household in your scope",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {GEOJSON: {}}}, 404: {"description": "household not found"}},
)
def add_help_record(
    record: HelpRecordIn,
    request: Request,
    caller: Caller = Depends(editor),
    engine=Depends(get_engine),
) -> Response:
    with scoped_connection(engine, caller.scope) as conn:
        saved = edits.add_help_record(conn, caller, record.model_dump())
    return _created(request, "help_record", saved, engine, caller)


@router.post(
    "/collections/visit/items",
    summary="Record an inspection visit to a household in your scope",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {GEOJSON: {}}}, 404: {"description": "household not found"}},
)
def add_visit(
    visit: VisitIn,
    request: Request,
    caller: Caller = Depends(inspector),
    engine=Depends(get_engine),
) -> Response:
    values = visit.model_dump()
    values["location"] = visit.location.pair() if visit.location else None
    with scoped_connection(engine, caller.scope) as conn:
        saved = edits.add_visit(conn, caller, values)
    return _created(request, "visit", saved, engine, caller)
