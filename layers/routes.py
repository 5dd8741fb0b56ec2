"""Inspectors' field routes in the database: candidates with their risk facts, the roads,
storing and reading plans, and recording visit results back.

:func:`make_plan` is what ``gongjian route plan`` and ``POST /routes`` call: it reads the
area's households (:func:`candidates`), samples them (``geo.routing.sampling``) or takes a
list, reads the roads around the area, plans (``geo.routing.plan``) and stores the plan in
``route_plan``/``route_day``/``route_stop`` (migration 0006), all inside the caller's
transaction. :func:`load_plan` reads a plan back as a ``RoutePlan`` for the writers and the
route sheet — household heads' names come back masked, always. :func:`record_results`
writes visit results (API or a filled-in sheet) as ``visit`` rows, audited, idempotently.

Scope: every read takes the caller's scope code and returns nothing outside it; a plan is
inside a scope when its area (township or village code) starts with the scope code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from geo.flags import monitoring_policy
from geo.policy import Profile, load_profile
from geo.routing import sampling
from geo.routing.plan import Inspector, PlanOptions, RoutePlan, plan_routes
from geo.routing.policy import RoutesPolicy, clock, parse_clock, routes_policy
from geo.routing.sheets import CHECKS, failing_checks
from geo.sensitivity import shown
from layers import audit, features
from layers.models import Base

METRES_PER_DEGREE = 100_000.0  # conservative, as in layers.coverage


class RouteError(LookupError):
    """Nothing to plan or no such plan (in the caller's scope); the message says which."""


class PlanRejected(ValueError):
    """A plan that cannot be made as asked (nothing to sample, a list outside the area)."""


class ResultError(ValueError):
    """Visit results that cannot be recorded; the message names the household."""


@dataclass(frozen=True)
class Area:
    """The township (or village) planned, its office and whether its data are synthetic."""

    code: str
    township_code: str
    name: str
    township_name: str
    office: tuple[float, float]
    synthetic: bool
    dem_path: str | None


@dataclass
class PlanRequest:
    """What to plan: an area, which households, who and how long (defaults: the profile)."""

    area_code: str
    strategy: str = "random"  # random | stratified | risk | list
    sample: int | None = None
    households: pd.DataFrame | None = None  # read_household_list(): household_no, …
    inspectors: list[Inspector] | int | None = None
    days: int | None = None
    hours: float | None = None
    service_min: float | None = None
    day_start: str | None = None
    seed: int = 0
    as_of: dt.date = field(default_factory=dt.date.today)
    start_date: dt.date | None = None
    skip_visited: bool | None = None
    title: str | None = None
    iterations: int | None = None


@dataclass
class PlanMade:
    plan_id: int
    plan: RoutePlan
    candidates: int
    missing: list[str]  # household numbers of a list that are not in the area


# --- the area and its households ----------------------------------------------------------


def area(conn: sa.Connection, code: str) -> Area:
    """The township or village ``code`` with its township's office (seat); RouteError if none."""
    township = code[:9]
    row = conn.execute(
        sa.text(
            "SELECT t.code, t.name, t.synthetic, ST_X(coalesce(t.seat, ST_PointOnSurface(t.geom)))"
            " AS lon, ST_Y(coalesce(t.seat, ST_PointOnSurface(t.geom))) AS lat,"
            " (SELECT v.name FROM village v WHERE v.code = :code) AS village,"
            " (SELECT r.path FROM raster r WHERE r.kind = 'dem' AND r.bounds && t.geom"
            "  ORDER BY r.id LIMIT 1) AS dem"
            " FROM township t WHERE t.code = :township"
        ),
        {"code": code, "township": township},
    ).first()
    if row is None or (len(code) == 12 and row.village is None) or len(code) not in (9, 12):
        raise RouteError(f"no township or village with code {code!r}")
    dem = row.dem if row.dem and Path(row.dem).exists() else None
    name = row.name if len(code) == 9 else f"{row.name}{row.village}"
    return Area(code, row.code, name, row.name, (row.lon, row.lat), row.synthetic, dem)


CANDIDATES_SQL = """
SELECT h.id AS household_id, h.household_no, h.village_code, v.name AS village_name,
       h.hamlet_id, hm.name AS hamlet_name, h.head_name, h.status, h.category,
       h.housing_status, h.labour_members, h.members, h.cadre_id, c.name AS cadre_name,
       c.phone AS cadre_phone, h.synthetic,
       inc.per_capita_income AS income, inc.year AS income_year,
       (SELECT max(r.date) FROM help_record r
        WHERE r.household_id = h.id AND r.date <= :as_of) AS last_help,
       (SELECT max(x.date) FROM visit x
        WHERE x.household_id = h.id AND x.date <= :as_of) AS last_visit,
       (SELECT count(*) FROM household_member m
        WHERE m.household_id = h.id AND :year - m.birth_year BETWEEN :age_min AND :age_max
          AND m.schooling IS DISTINCT FROM 'in_school') AS school_age_out,
       (EXISTS (SELECT 1 FROM household_member m
                WHERE m.household_id = h.id AND m.health = 'serious')
        AND NOT EXISTS (SELECT 1 FROM help_record r WHERE r.household_id = h.id
                        AND r.measure = 'medical' AND r.date <= :as_of)) AS serious_no_medical,
       CASE WHEN ST_Covers(v.geom, h.geom) THEN 0.0
            ELSE ST_Distance(v.geom::geography, h.geom::geography) END AS outside_village_m,
       h.geom
FROM household h
JOIN village v ON v.code = h.village_code
LEFT JOIN hamlet hm ON hm.id = h.hamlet_id
LEFT JOIN cadre c ON c.id = h.cadre_id
LEFT JOIN LATERAL (
    SELECT i.year, i.per_capita_income FROM household_income i
    WHERE i.household_id = h.id AND i.year <= :year ORDER BY i.year DESC LIMIT 1
) inc ON true
WHERE starts_with(h.village_code, :area) {numbers}
ORDER BY h.id
"""


def candidates(
    conn: sa.Connection,
    area_code: str,
    as_of: dt.date,
    profile: Profile,
    numbers: list[str] | None = None,
    *,
    with_flags: bool = False,
) -> gpd.GeoDataFrame:
    """Households of the area with the facts of the risk criteria and the risk criteria
    themselves (``geo.routing.sampling.risk_criteria``); head names masked.

    ``with_flags`` adds the monitoring flags of ``layers.flags`` as of the same day (the
    dynamic archive's view of the households then): a flag of the same rule also sets our
    criterion, and the record flags (point in a river, shared or moved point, duplicate ID
    number, income jump, status flip-flop) set ``monitoring_flag``."""
    policy = monitoring_policy(profile)
    params = {
        "area": area_code,
        "as_of": as_of,
        "year": as_of.year,
        "age_min": policy.school_age_min,
        "age_max": policy.school_age_max,
    }
    where = ""
    if numbers is not None:
        where = "AND h.household_no = ANY(:numbers)"
        params["numbers"] = list(numbers)
    frame = gpd.read_postgis(
        sa.text(CANDIDATES_SQL.format(numbers=where)), conn, geom_col="geom", params=params
    )
    frame["head_name"] = [shown("route_stop", "head_name", v) for v in frame.head_name]
    frame = frame.rename_geometry("geometry")
    frame = sampling.risk_criteria(frame, as_of, policy)
    flags = _monitoring_flags(conn, area_code, as_of, policy) if with_flags else {}
    return sampling.merge_flags(frame, flags)


def _monitoring_flags(conn, area_code: str, as_of: dt.date, policy) -> dict[int, list[str]]:
    """household id → kinds of the monitoring flags raised on it as of ``as_of``."""
    from layers.flags import FlagQuery, flag_rows

    kinds = tuple(k for k in sampling.FLAG_CRITERIA)
    rows = flag_rows(conn, FlagQuery(area_code, as_of, kinds), policy)
    rows = rows[rows.household_id.notna()]
    return rows.groupby(rows.household_id.astype(int)).kind.agg(sorted).to_dict()


def roads(conn: sa.Connection, township: str, margin_m: float) -> gpd.GeoDataFrame:
    """Roads within ``margin_m`` of the township's bounding box."""
    return gpd.read_postgis(
        sa.text(
            "SELECT r.id, r.road_class, r.surface, r.geom FROM road r, "
            "(SELECT ST_Expand(geom::box2d::geometry, :margin) AS box FROM township "
            " WHERE code = :code) t WHERE r.geom && t.box ORDER BY r.id"
        ),
        conn,
        geom_col="geom",
        params={"code": township, "margin": margin_m / METRES_PER_DEGREE},
    )


def map_layers(conn: sa.Connection, bounds: tuple[float, float, float, float]) -> dict:
    """Roads, rivers and village boundaries within ``bounds`` (lon/lat), for route maps."""
    box = dict(zip(("x0", "y0", "x1", "y1"), bounds, strict=True))
    envelope = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"

    def read(sql: str) -> gpd.GeoDataFrame:
        frame = gpd.read_postgis(sa.text(sql), conn, geom_col="geom", params=box)
        return frame.rename_geometry("geometry")

    return {
        "roads": read(
            f"SELECT road_class, surface, geom FROM road WHERE geom && {envelope} ORDER BY id"
        ),
        "rivers": read(f"SELECT geom FROM river WHERE geom && {envelope} ORDER BY id"),
        "villages": read(
            "SELECT code, name, ST_Boundary(geom) AS geom FROM village "
            f"WHERE geom && {envelope} ORDER BY code"
        ),
    }


# --- planning -------------------------------------------------------------------------------


def make_plan(
    conn: sa.Connection,
    request: PlanRequest,
    *,
    actor: str,
    profile: Profile | None = None,
) -> PlanMade:
    """Choose the households, plan the days and store the plan (in ``conn``'s transaction)."""
    profile = profile or load_profile()
    policy = routes_policy(profile)
    place = area(conn, request.area_code)
    chosen, pool, missing = _choose(conn, request, place, profile, policy)
    options = _options(request, policy)
    road_frame = roads(conn, place.township_code, policy.margin_m)
    plan = plan_routes(
        _stops_input(chosen, request),
        place.office,
        road_frame,
        profile,
        options,
        dem_path=place.dem_path,
    )
    title = request.title or f"{place.name}督查走访路线"
    plan.meta.update(
        title=title,
        synthetic=bool(place.synthetic or chosen.synthetic.any()),
        township=place.township_code,
        township_name=place.township_name,
        area=place.code,
        area_name=place.name,
        strategy=request.strategy,
        sample=request.sample,
        as_of=request.as_of.isoformat(),
        candidates=pool,
        missing=missing,
    )
    plan_id = save_plan(conn, plan, request, place, actor=actor, profile=profile)
    plan.meta["id"] = plan_id
    return PlanMade(plan_id, plan, pool, missing)


def _choose(conn, request: PlanRequest, place: Area, profile: Profile, policy: RoutesPolicy):
    """(chosen households, size of the pool sampled from, listed numbers not found)."""
    if request.strategy == "list":
        if request.households is None or request.households.empty:
            raise PlanRejected("a plan from a list needs the list of household numbers")
        numbers = request.households.household_no.astype(str).tolist()
        found = candidates(conn, place.code, request.as_of, profile, numbers)
        missing = sorted(set(numbers) - set(found.household_no))
        if len(found) == 0:
            raise PlanRejected(f"none of the {len(numbers)} listed households is in {place.name}")
        extra = request.households.drop_duplicates("household_no")
        found = found.merge(extra, on="household_no", how="left")
        return found.sort_values("household_id").reset_index(drop=True), len(found), missing
    risk = request.strategy == "risk"
    pool = candidates(conn, place.code, request.as_of, profile, with_flags=risk)
    skip = (
        policy.skip_visited_this_quarter if request.skip_visited is None else request.skip_visited
    )
    if skip:
        pool = pool[pool.not_visited_quarter]
    if pool.empty:
        raise PlanRejected(f"no households to sample in {place.name} (all visited this quarter?)")
    n = request.sample if request.sample is not None else policy.sample
    chosen = sampling.sample(
        pool, request.strategy, n, seed=request.seed, weights=dict(policy.risk_weights)
    )
    return chosen, len(pool), []


def _options(request: PlanRequest, policy: RoutesPolicy) -> PlanOptions:
    inspectors = request.inspectors if request.inspectors is not None else policy.inspectors
    if isinstance(inspectors, int):
        inspectors = [Inspector(f"督查员{k + 1}") for k in range(inspectors)]
    return PlanOptions(
        tuple(inspectors),
        days=request.days or policy.days,
        day_start_min=parse_clock(request.day_start or policy.day_start),
        hours=request.hours or policy.hours,
        service_min=policy.service_min if request.service_min is None else request.service_min,
        seed=request.seed,
        start_date=request.start_date,
        iterations=request.iterations,
    )


STOP_INPUT = (
    "household_id", "household_no", "village_code", "village_name", "hamlet_name",
    "head_name", "cadre_name", "cadre_phone", "status_card", "risk_score", "risk_reasons",
    "must_visit", "window_start", "window_end", "priority", "synthetic", "geometry",
)  # fmt: skip


def _stops_input(chosen: gpd.GeoDataFrame, request: PlanRequest) -> gpd.GeoDataFrame:
    frame = chosen.rename(columns={"status": "status_card"})
    for column in STOP_INPUT:
        if column not in frame.columns:
            frame[column] = None
    return gpd.GeoDataFrame(frame[list(STOP_INPUT)], geometry="geometry", crs=chosen.crs)


# --- storing -------------------------------------------------------------------------------


def save_plan(
    conn: sa.Connection,
    plan: RoutePlan,
    request: PlanRequest,
    place: Area,
    *,
    actor: str,
    profile: Profile,
) -> int:
    """Insert the plan, its days and its stops; returns the plan id."""
    summary = plan.summary()
    params = {
        "strategy": request.strategy,
        "sample": request.sample,
        "inspectors": plan.meta["inspectors"],
        "days": plan.meta["days"],
        "hours": plan.meta["hours"],
        "day_start": plan.meta["day_start"],
        "service_min": plan.meta["service_min"],
        "seed": request.seed,
        "as_of": request.as_of.isoformat(),
        "start_date": plan.meta["start_date"],
        "candidates": plan.meta.get("candidates"),
        "missing": plan.meta.get("missing"),
    }
    solver = {k: plan.meta[k] for k in ("solver", "network", "timings") if k in plan.meta}
    plan_id = conn.execute(
        sa.text(
            "INSERT INTO route_plan (township_code, area_code, title, strategy, sample_size, "
            "seed, as_of, start_date, inspectors, days, hours, day_start_min, service_min, "
            "households, planned, unassigned, travel_min, distance_m, params, solver, profile, "
            "created_by, synthetic) VALUES (:township, :area, :title, :strategy, :sample, "
            ":seed, :as_of, :start_date, :inspectors, :days, :hours, :day_start, :service, "
            ":households, :planned, :unassigned, :travel, :distance, CAST(:params AS jsonb), "
            "CAST(:solver AS jsonb), :profile, :actor, :synthetic) RETURNING id"
        ),
        {
            "township": place.township_code,
            "area": place.code,
            "title": plan.meta["title"],
            "strategy": request.strategy,
            "sample": request.sample if request.strategy != "list" else None,
            "seed": request.seed,
            "as_of": request.as_of,
            "start_date": request.start_date,
            "inspectors": len(plan.meta["inspectors"]),
            "days": plan.meta["days"],
            "hours": plan.meta["hours"],
            "day_start": parse_clock(plan.meta["day_start"]),
            "service": plan.meta["service_min"],
            "households": summary["households"],
            "planned": summary["planned"],
            "unassigned": summary["unassigned"],
            "travel": summary["travel_min"],
            "distance": summary["distance_km"] * 1000,
            "params": _json(params),
            "solver": _json(solver),
            "profile": profile.fingerprint,
            "actor": actor,
            "synthetic": plan.meta["synthetic"],
        },
    ).scalar_one()
    day_ids = _save_days(conn, plan, plan_id, place)
    _save_stops(conn, plan, plan_id, day_ids)
    return plan_id


def _save_days(conn, plan: RoutePlan, plan_id: int, place: Area) -> dict[tuple[int, int], int]:
    ids = {}
    for row in plan.days.itertuples():
        ids[(int(row.inspector), int(row.day))] = conn.execute(
            sa.text(
                "INSERT INTO route_day (plan_id, township_code, inspector, inspector_name, day, "
                "date, start_min, finish_min, stops, travel_min, service_min, wait_min, "
                "distance_m, start_name, end_name, geom, start_geom, end_geom, synthetic) "
                "VALUES (:plan, :township, :inspector, :name, :day, :date, :start, :finish, "
                ":stops, :travel, :service, :wait, :distance, :start_name, :end_name, "
                "ST_GeomFromText(:geom, 4326), ST_SetSRID(ST_MakePoint(:x0, :y0), 4326), "
                "ST_SetSRID(ST_MakePoint(:x1, :y1), 4326), :synthetic) RETURNING id"
            ),
            {
                "plan": plan_id,
                "township": place.township_code,
                "inspector": int(row.inspector),
                "name": row.inspector_name,
                "day": int(row.day),
                "date": row.date,
                "start": row.start_min,
                "finish": row.finish_min,
                "stops": int(row.stops),
                "travel": row.travel_min,
                "service": row.service_min,
                "wait": row.wait_min,
                "distance": row.distance_m,
                "start_name": row.start_name,
                "end_name": row.end_name,
                "geom": row.geometry.wkt if row.geometry is not None else None,
                "x0": row.start_lon,
                "y0": row.start_lat,
                "x1": row.end_lon,
                "y1": row.end_lat,
                "synthetic": bool(plan.meta.get("synthetic")),
            },
        ).scalar_one()
    return ids


def _save_stops(conn, plan: RoutePlan, plan_id: int, day_ids: dict) -> None:
    rows = []
    for s in plan.stops.itertuples():
        planned = s.status == "planned"
        rows.append(
            {
                "plan": plan_id,
                "day": day_ids[(int(s.inspector), int(s.day))] if planned else None,
                "household": int(s.household_id),
                "village": s.village_code,
                "status": s.status,
                "seq": int(s.seq) if planned else None,
                **{
                    k: _float(getattr(s, k))
                    for k in (
                        "arrival_min",
                        "begin_min",
                        "departure_min",
                        "wait_min",
                        "leg_min",
                        "leg_m",
                        "window_start_min",
                        "window_end_min",
                    )
                },
                "service": float(s.service_min),
                "must": bool(s.must_visit),
                "priority": float(s.priority or 0),
                "reason": s.reason,
                "reason_text": s.reason_text,
                "score": _float(getattr(s, "risk_score", None)),
                "reasons": _list(getattr(s, "risk_reasons", None)),
                "x": s.geometry.x,
                "y": s.geometry.y,
                "synthetic": bool(plan.meta.get("synthetic")),
            }
        )
    if not rows:
        return
    conn.execute(
        sa.text(
            "INSERT INTO route_stop (plan_id, day_id, household_id, village_code, status, seq, "
            "arrival_min, begin_min, departure_min, wait_min, leg_min, leg_m, service_min, "
            "must_visit, window_start_min, window_end_min, priority, reason, reason_text, "
            "risk_score, risk_reasons, geom, synthetic) VALUES (:plan, :day, :household, "
            ":village, :status, :seq, :arrival_min, :begin_min, :departure_min, :wait_min, "
            ":leg_min, :leg_m, :service, :must, :window_start_min, :window_end_min, :priority, "
            ":reason, :reason_text, :score, :reasons, ST_SetSRID(ST_MakePoint(:x, :y), 4326), "
            ":synthetic)"
        ),
        rows,
    )


def _float(value) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return float(value)


def _list(value) -> list[str] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return [str(v) for v in value]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- reading plans back --------------------------------------------------------------------


def _plan_row(conn: sa.Connection, plan_id: int, scope: str | None):
    return conn.execute(
        sa.text(
            "SELECT p.*, t.name AS township_name, coalesce(v.name, '') AS village_name "
            "FROM route_plan p JOIN township t ON t.code = p.township_code "
            "LEFT JOIN village v ON v.code = p.area_code "
            "WHERE p.id = :id AND starts_with(p.area_code, :scope)"
        ),
        {"id": plan_id, "scope": scope or ""},
    ).first()


def load_plan(conn: sa.Connection, plan_id: int, scope: str | None) -> RoutePlan:
    """The plan ``plan_id`` as a RoutePlan (names masked); RouteError if not in ``scope``."""
    row = _plan_row(conn, plan_id, scope)
    if row is None:
        raise RouteError(f"no route plan {plan_id}")
    days = gpd.read_postgis(
        sa.text(
            "SELECT id AS day_id, inspector, inspector_name, day, date, start_min, finish_min, "
            "stops, travel_min, service_min, wait_min, distance_m, start_name, end_name, "
            "ST_X(start_geom) AS start_lon, ST_Y(start_geom) AS start_lat, "
            "ST_X(end_geom) AS end_lon, ST_Y(end_geom) AS end_lat, geom "
            "FROM route_day WHERE plan_id = :id ORDER BY inspector, day"
        ),
        conn,
        geom_col="geom",
        params={"id": plan_id},
    ).rename_geometry("geometry")
    stops = gpd.read_postgis(
        sa.text(
            "SELECT s.household_id, h.household_no, s.status, d.inspector, d.inspector_name, "
            "d.day, d.date, s.seq, s.arrival_min, s.begin_min, s.departure_min, s.wait_min, "
            "s.leg_min, s.leg_m, s.service_min, s.must_visit, s.window_start_min, "
            "s.window_end_min, s.priority, s.reason, s.reason_text, s.village_code, "
            "v.name AS village_name, hm.name AS hamlet_name, h.head_name, c.name AS cadre_name, "
            "c.phone AS cadre_phone, s.risk_score, s.risk_reasons, s.result, s.visit_date, "
            + ", ".join(f"s.check_{c}" for c in CHECKS)
            + ", s.geom FROM route_stop s JOIN household h ON h.id = s.household_id "
            "JOIN village v ON v.code = s.village_code "
            "LEFT JOIN hamlet hm ON hm.id = h.hamlet_id LEFT JOIN cadre c ON c.id = h.cadre_id "
            "LEFT JOIN route_day d ON d.id = s.day_id "
            "WHERE s.plan_id = :id ORDER BY d.inspector NULLS LAST, d.day, s.seq, h.household_no"
        ),
        conn,
        geom_col="geom",
        params={"id": plan_id},
    ).rename_geometry("geometry")
    stops["head_name"] = [shown("route_stop", "head_name", v) for v in stops.head_name]
    for column in ("inspector", "day", "seq"):
        stops[column] = pd.array(stops[column], dtype="Int64")
    depots = _depots(days)
    meta = {
        "id": row.id,
        "title": row.title,
        "synthetic": row.synthetic,
        "township": row.township_code,
        "township_name": row.township_name,
        "area": row.area_code,
        "area_name": row.township_name + row.village_name,
        "strategy": row.strategy,
        "sample": row.sample_size,
        "seed": row.seed,
        "as_of": row.as_of.isoformat(),
        "start_date": row.start_date.isoformat() if row.start_date else None,
        "inspectors": sorted(set(days.inspector_name), key=list(days.inspector_name).index),
        "days": row.days,
        "hours": row.hours,
        "day_start": clock(row.day_start_min),
        "service_min": row.service_min,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "params": row.params,
    }
    plan = RoutePlan(stops, days, depots, meta)
    plan.meta["summary"] = plan.summary()
    return plan


def _depots(days: pd.DataFrame) -> gpd.GeoDataFrame:
    places: dict[tuple[float, float], str] = {}
    for d in days.itertuples():
        places.setdefault((d.start_lon, d.start_lat), d.start_name)
        places.setdefault((d.end_lon, d.end_lat), d.end_name)
    return gpd.GeoDataFrame(
        {"name": list(places.values())}, geometry=[shapely.Point(p) for p in places], crs=4326
    )


def list_plans(conn: sa.Connection, scope: str | None, limit: int = 100) -> pd.DataFrame:
    """The latest plans in ``scope``: id, title, area, strategy, counts, who and when."""
    return pd.read_sql(
        sa.text(
            "SELECT id, title, area_code, strategy, sample_size, seed, inspectors, days, "
            "households, planned, unassigned, round(travel_min::numeric, 1) AS travel_min, "
            "round((distance_m / 1000)::numeric, 2) AS distance_km, "
            "(SELECT count(*) FROM route_stop s WHERE s.plan_id = p.id AND s.result IS NOT NULL)"
            " AS visited, created_by, created_at, synthetic FROM route_plan p "
            "WHERE starts_with(area_code, :scope) ORDER BY id DESC LIMIT :limit"
        ),
        conn,
        params={"scope": scope or "", "limit": limit},
    )


# --- visit results ------------------------------------------------------------------------


@dataclass
class ResultSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    households: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.inserted} visit(s) recorded, {self.updated} corrected, "
            f"{self.unchanged} unchanged"
        )


def record_results(
    conn: sa.Connection,
    plan_id: int,
    results: pd.DataFrame,
    *,
    actor: str,
    scope: str | None,
) -> ResultSummary:
    """Record visit results of plan ``plan_id`` (rows of ``geo.routing.sheets.read_results``).

    Each row becomes (or corrects) one ``visit`` row — inspector: the route's inspector;
    findings: the crossed 两不愁三保障 items and the notes — and the stop keeps the result,
    the ticks and the visit. Re-recording the same values changes nothing. All rows are
    checked before anything is written; every write is audited.
    """
    if _plan_row(conn, plan_id, scope) is None:
        raise RouteError(f"no route plan {plan_id}")
    if "plan_id" in results.columns:
        other = results.plan_id.dropna()
        other = other[(other != 0) & (other != plan_id)]
        if len(other):
            raise ResultError(f"the sheet is for plan {int(other.iloc[0])}, not plan {plan_id}")
    stops = _stops_for_results(conn, plan_id)
    rows = []
    for r in results.to_dict(orient="records"):
        stop = stops.get(str(r["household_no"]))
        if stop is None:
            raise ResultError(f"household {r['household_no']} is not in plan {plan_id}")
        date = r.get("visit_date") or stop["date"]
        if date is None or (isinstance(date, float) and np.isnan(date)):
            raise ResultError(
                f"household {r['household_no']}: the visit date (走访日期) is missing"
            )
        rows.append((r, stop, pd.Timestamp(date).date()))
    summary = ResultSummary()
    for r, stop, date in rows:
        _record_one(conn, r, stop, date, actor, summary)
    return summary


def _stops_for_results(conn, plan_id: int) -> dict[str, dict[str, Any]]:
    found = conn.execute(
        sa.text(
            "SELECT s.id, s.household_id, h.household_no, s.visit_id, s.result, s.visit_date, "
            + ", ".join(f"s.check_{c}" for c in CHECKS)
            + ", coalesce(d.inspector_name, '督查组') AS inspector, d.date "
            "FROM route_stop s JOIN household h ON h.id = s.household_id "
            "LEFT JOIN route_day d ON d.id = s.day_id WHERE s.plan_id = :id"
        ),
        {"id": plan_id},
    ).mappings()
    return {row["household_no"]: dict(row) for row in found}


def _record_one(conn, r: dict, stop: dict, date: dt.date, actor: str, summary) -> None:
    checks = {f"check_{c}": _bool(r.get(f"check_{c}")) for c in CHECKS}
    findings = _findings(r)
    visit = {"household_id": stop["household_id"], "date": date, "inspector": stop["inspector"],
             "result": r["result"], "findings": findings}  # fmt: skip
    before = None
    if stop["visit_id"] is not None:
        before = audit.snapshot(conn, "visit", stop["visit_id"], lock=True)
        same_visit = before is not None and (
            before["date"] == date.isoformat()
            and before["result"] == r["result"]
            and before["findings"] == findings
        )
        same_stop = all(stop[k] == v for k, v in checks.items())
        if same_visit and same_stop:
            summary.unchanged += 1
            return
    if stop["visit_id"] is None or before is None:
        visit_id = conn.execute(
            sa.text(
                "INSERT INTO visit (household_id, date, inspector, result, findings) "
                "VALUES (:household_id, :date, :inspector, :result, :findings) RETURNING id"
            ),
            visit,
        ).scalar_one()
        audit.record(conn, "visit", visit_id, "insert", actor, None,
                     audit.snapshot(conn, "visit", visit_id))  # fmt: skip
        summary.inserted += 1
    else:
        visit_id = stop["visit_id"]
        conn.execute(
            sa.text(
                "UPDATE visit SET date = :date, result = :result, findings = :findings "
                "WHERE id = :id"
            ),
            {**visit, "id": visit_id},
        )
        audit.record(conn, "visit", visit_id, "update", actor, before,
                     audit.snapshot(conn, "visit", visit_id))  # fmt: skip
        summary.updated += 1
    conn.execute(
        sa.text(
            "UPDATE route_stop SET result = :result, visit_id = :visit, visit_date = :date, "
            + ", ".join(f"check_{c} = :check_{c}" for c in CHECKS)
            + " WHERE id = :id"
        ),
        {"result": r["result"], "visit": visit_id, "date": date, "id": stop["id"], **checks},
    )
    summary.households.append(str(r["household_no"]))


def _findings(r: dict) -> str | None:
    parts = []
    crossed = failing_checks(pd.Series(r))
    if crossed:
        parts.append("未保障：" + "、".join(crossed))
    note = r.get("findings")
    if isinstance(note, str) and note.strip():
        parts.append(note.strip())
    return "；".join(parts) or None


def _bool(value) -> bool | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return bool(value)


def visit_xlsform(conn: sa.Connection, plan_id: int, scope: str | None) -> bytes:
    """The plan's visit form as an XLSForm (``geo.routing.odk``), checked with pyxform."""
    from geo.routing import odk

    plan = load_plan(conn, plan_id, scope)
    version = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M")
    data = odk.xlsform(plan_id, plan.meta["title"], plan.stops, version)
    odk.check_xlsform(data)
    return data


def layers_for(conn: sa.Connection, plan: RoutePlan, pad: float = 0.02) -> dict:
    """:func:`map_layers` around a plan's households and starts (``pad`` degrees beyond)."""
    frames = [plan.stops.geometry, plan.depots.geometry]
    xs = [g.x for f in frames for g in f]
    ys = [g.y for f in frames for g in f]
    return map_layers(conn, (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad))


# --- the plans as layers (OGC API collections, tiles, the web map) ------------------------

# The model's defaults (scope, filters, tiles) with titles an inspector reads.
for _table, _title in (
    ("route_day", "督查路线 Route days (inspector × day)"),
    ("route_stop", "督查走访户 Route stops (planned households, results)"),
):
    features.register(
        dataclasses.replace(
            features.collection_from_table(Base.metadata.tables[_table]), title=_title
        )
    )
