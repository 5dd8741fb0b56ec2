"""/analysis/relocation: relocation candidates with their reasons, whole-hamlet and scattered
groups, and ranked resettlement sites, in the caller's scope (results of
``gongjian relocation``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.auth import current_caller
from api.deps import get_engine
from geo.relocation import CRITERIA, RELOCATION_KINDS, SYNTHETIC_NOTE
from geo.sensitivity import public_frame
from layers import relocation
from layers.access import Caller, scoped_connection
from layers.features import MAX_OFFSET

router = APIRouter(tags=["analysis"])


@dataclass
class RelocationParams:
    """Which part of the relocation results to return."""

    township: str | None = Query(None, pattern=r"^\d{9}$", description="township code")
    village: str | None = Query(None, pattern=r"^\d{12}$", description="village code")
    relocation: str | None = Query(
        None, pattern="^(whole|scattered)$", description="whole (整体搬迁) or scattered (插花搬迁)"
    )
    limit: int = Query(100, ge=0, le=10_000, description="candidate households per page")
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="candidate households to skip")


@router.get(
    "/analysis/relocation",
    summary="Relocation candidates with reasons, their groups and ranked resettlement sites",
    description=(
        "Households in places lacking basic living conditions (不具备生产生活条件, seeds 001, "
        "002 §12): per township the counts, the candidate households with the criteria they "
        "meet and the values, whole-hamlet (整体搬迁) and scattered (插花搬迁) groups, and the "
        "ranked resettlement sites with capacity and travel time. Refreshed by "
        "`gongjian relocation`. Limited to the caller's scope; household heads' names are "
        "masked for viewers; sites are the township's (a village scope sees none)."
    ),
)
def relocation_summary(
    params: RelocationParams = Depends(),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    scope = caller.scope.code
    filters = {"township": params.township, "village": params.village,
               "relocation": params.relocation}  # fmt: skip
    with scoped_connection(engine, caller.scope) as conn:
        towns = relocation.township_summary(conn, scope)
        matched = relocation.count_candidates(conn, scope, **filters)
        households = relocation.candidates(
            conn, scope, **filters, limit=params.limit, offset=params.offset, with_names=True
        )
        groups = relocation.groups(conn, scope, township=params.township)
        sites = relocation.sites(conn, scope, township=params.township)
    if params.township:
        towns = towns[towns.township_code == params.township]
    if not caller.sees_personal_data:
        households = public_frame(households, "relocation_household")
    synthetic = bool(towns.synthetic.any()) if len(towns) else False
    return {
        "note": SYNTHETIC_NOTE if synthetic else None,
        "criteria": CRITERIA,
        "relocation_kinds": RELOCATION_KINDS,
        "townships": _records(towns),
        "candidates": {
            "numberMatched": matched,
            "numberReturned": len(households),
            "offset": params.offset,
            "households": _records(households),
        },
        "groups": _records(groups),
        "sites": _records(sites),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN/NA as null, timestamps as ISO text, numpy scalars as Python."""
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))
