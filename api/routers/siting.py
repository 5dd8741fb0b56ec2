"""/analysis/siting and /scenarios: where the next clinics, water points and schools go, which
roads to harden, and what a scenario's proposed changes bring — for a township in the caller's
scope (the same answers as ``gongjian siting`` and ``gongjian scenario diff``; no names)."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely.geometry
from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.auth import current_caller
from api.deps import get_engine
from geo.coverage import SYNTHETIC_NOTE
from geo.network import NetworkError
from geo.policy import load_profile
from geo.scenario import ScenarioError
from geo.siting import SitingError
from layers import scenarios, siting
from layers.access import Caller
from layers.edits import NotInScope
from layers.features import QueryError

router = APIRouter(tags=["analysis"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class SitingParams:
    township: str = Query(..., pattern=r"^\d{9}$", description="township code")
    count: int | None = Query(
        None, ge=1, le=50, description="sites to choose (clinic/water/school)"
    )
    budget_km: float | None = Query(None, gt=0, le=1000, description="km to harden (roads)")
    candidates: str = Query("hamlets", pattern="^(hamlets|villages)$",
                            description="every 自然村, or the largest of each 行政村")  # fmt: skip
    format: str = Query("json", pattern="^(json|xlsx)$", description="json or xlsx")


@router.get(
    "/analysis/siting/{kind}",
    summary="Where K new clinics, water points or schools go; which roads to harden",
    description=(
        "Chooses K sites (``count``) for a new clinic, water point or school, or the unhardened "
        "road segments to harden within ``budget_km`` (kind ``roads``), that bring the most "
        "households (poor first, weights in the policy profile) within the policy's travel time "
        "or distance; solved exactly (integer programme, HiGHS) with the optimality gap and "
        "ranked alternatives, and checked by re-assessing coverage with them built. A township "
        "in the caller's scope; counts only, no personal data. ``format=xlsx``: the workbook."
    ),
    responses={404: {"description": "no such township in your scope"}},
)
def siting_plan(
    kind: str = PathParam(..., pattern="^(clinic|water|school|roads)$"),
    params: SitingParams = Depends(),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
):
    if not caller.scope.covers(params.township):
        raise NotInScope(f"no township {params.township}")
    profile = load_profile()
    with _domain_errors():
        if kind == "roads":
            if params.budget_km is None:
                raise QueryError("roads: give budget_km (km of road to harden)")
            report = siting.plan_roads(engine, params.township, params.budget_km, profile)
        else:
            if params.count is None:
                raise QueryError(f"{kind}: give count (how many sites)")
            report = siting.plan_facilities(engine, kind, params.township, params.count, profile,
                                            candidates=params.candidates)  # fmt: skip
    if params.format == "xlsx":
        return _xlsx(lambda path: siting.write_report(report, path),
                     f"siting-{kind}-{params.township}.xlsx")  # fmt: skip
    r = report.result
    return {
        "note": SYNTHETIC_NOTE if report.township.synthetic else None,
        "township": {"code": report.township.code, "name": report.township.name},
        "kind": kind,
        "demand_households": report.demand_households,
        "households_covered": report.households_covered,
        "covered_weight": r.best.covered_weight,
        "bound": r.bound,
        "gap": r.gap,
        "optimal": r.optimal,
        "method": r.method,
        "greedy_weight": r.greedy_weight,
        "cost_km": r.best.cost if kind == "roads" else None,
        "sites": _site_features(report),
        "alternatives": _records(report.alternatives),
        "verified": _verified(report.verified),
    }


@router.get("/scenarios", summary="What-if scenarios in your scope, with their changes counted")
def scenario_list(caller: Caller = Depends(current_caller), engine=Depends(get_engine)) -> dict:
    with engine.connect() as conn:
        frame = scenarios.list_scenarios(conn)
    frame = frame.loc[frame.township_code.map(caller.scope.covers).astype(bool)]
    return {"scenarios": _records(frame.drop(columns=["created_by"]))}


@router.get(
    "/scenarios/{name}/diff",
    summary="Households a scenario newly brings within reach, per kind and village, poor first",
    description=(
        "Coverage of the scenario's township assessed under its proposed roads, hardened "
        "segments and facilities (the real layers and coverage tables are not touched), against "
        "coverage as it is: newly covered households per criterion, per village, and one row per "
        "household (household number, status, village, hamlet; no names). ``format=xlsx``: the "
        "workbook. The changes themselves are the ``scenario_change`` collection."
    ),
    responses={404: {"description": "no such scenario in your scope"}},
)
def scenario_diff(
    name: str,
    format: str = Query("json", pattern="^(json|xlsx)$"),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
):
    with engine.connect() as conn:
        try:
            info = scenarios.info(conn, name)
        except scenarios.ScenarioNotFound as exc:
            raise NotInScope(str(exc)) from None
    if not caller.scope.covers(info.township_code):
        raise NotInScope(f"no scenario named {name!r}")
    with _domain_errors():
        outcome = scenarios.assess_under(engine, name, load_profile())
    with engine.connect() as conn:
        tables = scenarios.diff_tables(conn, outcome)
    if format == "xlsx":

        def write(path: Path) -> None:
            scenarios.write_diff(tables, path, synthetic=info.synthetic, name=name)

        return _xlsx(write, f"scenario-{info.township_code}.xlsx")
    return {
        "note": SYNTHETIC_NOTE if info.synthetic else None,
        "scenario": name,
        "township": {"code": info.township_code, "name": info.township_name},
        "uncovered_before": int(outcome.base.households.uncovered.sum()),
        "uncovered_after": int(outcome.after.households.uncovered.sum()),
        "kinds": _records(tables["kinds"]),
        "villages": _records(tables["villages"]),
        "households": _records(tables["households"]),
    }


@contextmanager
def _domain_errors():
    try:
        yield
    except (SitingError, ScenarioError, NetworkError) as exc:
        raise QueryError(str(exc)) from None


def _site_features(report) -> dict:
    features = []
    for row in json.loads(report.sites.to_json(orient="records", force_ascii=False)):
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": row,
        })  # fmt: skip
    if report.kind == "roads":  # the segments themselves
        geoms = report.posed.candidates.set_index("id").geometry
        for feature in features:
            line = geoms.loc[feature["properties"]["road_id"]]
            feature["geometry"] = shapely.geometry.mapping(line)
    return {"type": "FeatureCollection", "features": features}


def _verified(frame: pd.DataFrame) -> dict[str, int]:
    if frame.empty:
        return {}
    return {k: int(v) for k, v in frame.groupby("criterion").household_id.nunique().items()}


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


def _xlsx(write, filename: str) -> FileResponse:
    with tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False) as handle:
        path = Path(handle.name)
    write(path)
    return FileResponse(path, media_type=XLSX, filename=filename,
                        background=BackgroundTask(path.unlink, missing_ok=True))  # fmt: skip
