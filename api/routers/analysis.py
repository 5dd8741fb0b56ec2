"""/analysis/coverage: the coverage summary per township and village, and the uncovered
households with their reasons, in the caller's scope (results of ``gongjian coverage``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.auth import current_caller
from api.deps import get_engine
from geo.coverage import CRITERIA, SYNTHETIC_NOTE
from geo.sensitivity import public_frame
from layers import coverage
from layers.access import Caller, scoped_connection
from layers.features import MAX_OFFSET

router = APIRouter(tags=["analysis"])
CRITERION_PATTERN = "^(" + "|".join(CRITERIA) + ")$"


@dataclass
class CoverageParams:
    """Which part of the coverage results to return."""

    township: str | None = Query(None, pattern=r"^\d{9}$", description="township code")
    village: str | None = Query(None, pattern=r"^\d{12}$", description="village code")
    criterion: str | None = Query(
        None,
        pattern=CRITERION_PATTERN,
        description="only households failing this criterion: " + ", ".join(CRITERIA),
    )
    limit: int = Query(100, ge=0, le=10_000, description="uncovered households per page")
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="uncovered households to skip")


@router.get(
    "/analysis/coverage",
    summary="Coverage per township and village, and the uncovered households with reasons",
    description=(
        "Who is left without a hardened road, piped water, a clinic within reach or a cadre "
        "(seeds 002 §9 §11, 003, 004). Refreshed by `gongjian coverage`. Minutes are null "
        "when unreachable (the reason is in `unreachable`). Everything is limited to the "
        "caller's scope; household heads' names are masked for viewers."
    ),
)
def coverage_summary(
    params: CoverageParams = Depends(),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    scope = caller.scope.code
    with scoped_connection(engine, caller.scope) as conn:
        towns = coverage.township_summary(conn, scope)
        villages = coverage.village_summary(conn, scope, params.township)
        matched = coverage.count_uncovered(
            conn,
            scope,
            township=params.township,
            village=params.village,
            criterion=params.criterion,
        )
        households = coverage.uncovered_households(
            conn,
            scope,
            township=params.township,
            village=params.village,
            criterion=params.criterion,
            limit=params.limit,
            offset=params.offset,
            with_names=True,
        )
    if params.township:
        towns = towns[towns.township_code == params.township]
    if not caller.sees_personal_data:
        households = public_frame(households, "coverage_household")
    synthetic = bool(towns.synthetic.any()) if len(towns) else False
    return {
        "note": SYNTHETIC_NOTE if synthetic else None,
        "criteria": CRITERIA,
        "townships": _records(towns),
        "villages": _records(villages),
        "uncovered": {
            "numberMatched": matched,
            "numberReturned": len(households),
            "offset": params.offset,
            "households": _records(households),
        },
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN/NA as null, timestamps as ISO text, numpy scalars as Python."""
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))
