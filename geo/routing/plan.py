"""A plan of inspectors' field days from households, roads and a start: the pure computation.

:func:`plan_routes` builds the road network (``geo.network``), the door-to-door travel matrix
between the households and the starts (``geo.routing.matrix``), solves the routing problem
(``geo.routing.vrp``), explains every household left out (``geo.routing.explain``) and
returns a :class:`RoutePlan`: plain GeoDataFrames in EPSG:4326 that the writers (GPX, KML,
GeoJSON), the route sheet and the database all take as they are.

``RoutePlan.stops`` has one row per household (planned or not), ``RoutePlan.days`` one row
per inspector-day (its path along the roads as geometry), ``RoutePlan.depots`` the starts and
ends. Times are minutes since midnight; ``geo.routing.policy.clock`` prints them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.access import Walker, nearest_line
from geo.network import build_network, metric_crs
from geo.policy import Profile
from geo.routing.explain import explain_unassigned
from geo.routing.matrix import StopMatrix, stop_matrix
from geo.routing.policy import clock, parse_clock
from geo.routing.vrp import Problem, Vehicle, solve_vrp
from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported

STOP_COLUMNS = (
    "household_id", "household_no", "status", "inspector", "inspector_name", "day", "date",
    "seq", "arrival_min", "begin_min", "departure_min", "wait_min", "leg_min", "leg_m",
    "service_min", "must_visit", "window_start_min", "window_end_min", "priority", "reason",
    "reason_text",
)  # fmt: skip
DAY_COLUMNS = (
    "inspector", "inspector_name", "day", "date", "start_min", "finish_min", "stops",
    "travel_min", "service_min", "wait_min", "distance_m", "start_name", "end_name",
    "start_lon", "start_lat", "end_lon", "end_lat",
)  # fmt: skip


class PlanError(ValueError):
    """Input that cannot be planned; the message names the household or option."""


@dataclass(frozen=True)
class Inspector:
    """An inspector and where their days start and end (lon/lat; None: the office)."""

    name: str
    start: tuple[float, float] | None = None
    end: tuple[float, float] | None = None


@dataclass(frozen=True)
class PlanOptions:
    """K inspectors × D days of ``hours`` from ``day_start`` (minutes since midnight)."""

    inspectors: tuple[Inspector, ...]
    days: int = 1
    day_start_min: float = 510.0
    hours: float = 8.0
    service_min: float = 30.0
    seed: int = 0
    start_date: dt.date | None = None
    iterations: int | None = None

    def __post_init__(self) -> None:
        if not self.inspectors:
            raise PlanError("at least one inspector is needed")
        if self.days < 1:
            raise PlanError(f"days must be at least 1, got {self.days}")
        if not 0 < self.hours <= 24:
            raise PlanError(f"hours must be between 0 and 24, got {self.hours}")
        if self.service_min < 0:
            raise PlanError(f"service minutes must not be negative, got {self.service_min}")
        if self.day_start_min + self.hours * 60 > 24 * 60 + 1e-9:
            raise PlanError(
                f"a day from {clock(self.day_start_min)} for {self.hours:g} h ends after midnight"
            )

    @classmethod
    def simple(cls, count: int, **kwargs) -> PlanOptions:
        """``count`` inspectors named 督查员1…, all starting at the office."""
        return cls(tuple(Inspector(f"督查员{k + 1}") for k in range(count)), **kwargs)


@dataclass
class RoutePlan:
    """The plan: stops (one row per household), days (one per inspector-day), depots."""

    stops: gpd.GeoDataFrame
    days: gpd.GeoDataFrame
    depots: gpd.GeoDataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def planned(self) -> gpd.GeoDataFrame:
        frame = self.stops[self.stops.status == "planned"]
        return frame.sort_values(["inspector", "day", "seq"])

    @property
    def unassigned(self) -> gpd.GeoDataFrame:
        return self.stops[self.stops.status == "unassigned"]

    def day_stops(self, inspector: int, day: int) -> gpd.GeoDataFrame:
        p = self.planned
        return p[(p.inspector == inspector) & (p.day == day)]

    def summary(self) -> dict[str, Any]:
        days = self.days
        return {
            "households": len(self.stops),
            "planned": int((self.stops.status == "planned").sum()),
            "unassigned": int((self.stops.status == "unassigned").sum()),
            "inspector_days": len(days),
            "travel_min": round(float(days.travel_min.sum()), 1),
            "service_min": round(float(days.service_min.sum()), 1),
            "distance_km": round(float(days.distance_m.sum()) / 1000, 2),
        }


def plan_routes(
    households: gpd.GeoDataFrame,
    office: tuple[float, float],
    roads: gpd.GeoDataFrame,
    profile: Profile,
    options: PlanOptions,
    *,
    dem_path: str | Path | None = None,
) -> RoutePlan:
    """Plan the inspectors' days over ``households`` (see the module docstring).

    ``households``: ``household_id``, ``household_no`` and a point geometry (any CRS);
    optional ``must_visit``, ``window_start``/``window_end`` (HH:MM or minutes),
    ``priority`` (0–100) and ``service_min`` per household. ``office``: lon/lat of the
    township office, where inspectors without a start of their own begin and end.
    """
    built = build_problem(households, office, roads, profile, options, dem_path=dem_path)
    homes, depots, matrix, problem, names = (
        built.homes, built.depots, built.matrix, built.problem, built.names
    )  # fmt: skip
    network, walker = matrix.network, built.walker
    clock_ = _Clock()
    clock_.laps.update(built.laps)
    result = solve_vrp(problem, seed=options.seed, iterations=options.iterations)
    clock_.lap("solve")
    road_m, _ = nearest_line(
        shapely.points(matrix.xy[: len(homes)]), network.edges.geometry.to_numpy()
    )
    reasons = explain_unassigned(
        problem,
        result.routes,
        result.unassigned,
        road_distance_m=road_m,
        max_walk_m=walker.max_walk_m,
        off_network=~matrix.on_network[: len(homes)],
        vehicle_names=names,
    )
    stops, days = _frames(homes, depots, matrix, problem, result.routes, reasons, options, names)
    clock_.lap("paths")
    meta = {
        "seed": options.seed,
        "inspectors": [i.name for i in options.inspectors],
        "days": options.days,
        "hours": options.hours,
        "day_start": clock(options.day_start_min),
        "service_min": options.service_min,
        "start_date": options.start_date.isoformat() if options.start_date else None,
        "profile": profile.fingerprint,
        "solver": {k: v for k, v in result.stats.items() if not isinstance(v, float)}
        | {k: round(v, 3) for k, v in result.stats.items() if isinstance(v, float)},
        "network": dict(network.diagnostics, components=network.n_components),
        "timings": clock_.laps,
    }
    plan = RoutePlan(stops, days, depots, meta)
    plan.meta["summary"] = plan.summary()
    return plan


@dataclass
class BuiltProblem:
    """The routing problem of a plan and what it was built from (see :func:`build_problem`)."""

    homes: gpd.GeoDataFrame
    depots: gpd.GeoDataFrame
    matrix: StopMatrix
    problem: Problem
    names: list[str]
    walker: Walker
    laps: dict[str, float]


def build_problem(
    households: gpd.GeoDataFrame,
    office: tuple[float, float],
    roads: gpd.GeoDataFrame,
    profile: Profile,
    options: PlanOptions,
    *,
    dem_path: str | Path | None = None,
) -> BuiltProblem:
    """The road network, the travel matrix (households first, then the starts) and the
    routing problem of :func:`plan_routes`, before solving (the benchmark uses it too)."""
    clock_ = _Clock()
    homes = _check_households(households)
    crs = metric_crs(roads if len(roads) else homes)
    network = build_network(roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, dem_path, crs)
    clock_.lap("network")
    depots = _depots(options, office)
    home_xy = shapely.get_coordinates(homes.geometry.to_crs(crs).to_numpy())
    depot_xy = shapely.get_coordinates(
        gpd.GeoSeries(depots.geometry, crs=4326).to_crs(crs).to_numpy()
    )
    matrix = stop_matrix(network, walker, np.vstack([home_xy, depot_xy]))
    clock_.lap("matrix")
    problem, names = _problem(homes, depots, matrix, options)
    return BuiltProblem(homes, depots, matrix, problem, names, walker, clock_.laps)


# --- inputs -------------------------------------------------------------------------------


def _check_households(households: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    missing = {"household_id", "household_no"} - set(households.columns)
    if missing:
        raise PlanError(f"households lack column(s) {sorted(missing)}")
    if households.crs is None:
        raise PlanError("households have no CRS")
    if len(households) == 0:
        raise PlanError("no households to visit")
    duplicated = households.household_id.duplicated()
    if duplicated.any():
        raise PlanError(f"household {households.household_no[duplicated].iloc[0]} is listed twice")
    geoms = households.geometry.to_numpy()
    bad = shapely.is_empty(geoms) | (shapely.get_type_id(geoms) != 0)
    if bad.any():
        raise PlanError(f"household {households.household_no[bad].iloc[0]}: no point location")
    return households.reset_index(drop=True)


def _depots(options: PlanOptions, office: tuple[float, float]) -> gpd.GeoDataFrame:
    """Distinct start/end places: the office first, then inspectors' own places."""
    places: dict[tuple[float, float], str] = {tuple(map(float, office)): "乡镇办公地"}
    for inspector in options.inspectors:
        for where, what in ((inspector.start, "出发地"), (inspector.end, "返回地")):
            if where is not None and tuple(map(float, where)) not in places:
                places[tuple(map(float, where))] = f"{inspector.name}{what}"
    return gpd.GeoDataFrame(
        {"name": list(places.values())},
        geometry=[shapely.Point(p) for p in places],
        crs=4326,
    )


def _problem(homes, depots, matrix: StopMatrix, options: PlanOptions):
    m = len(homes)
    index = {(round(p.x, 9), round(p.y, 9)): m + i for i, p in enumerate(depots.geometry)}
    office = m

    def where(point):
        return office if point is None else index[(round(point[0], 9), round(point[1], 9))]

    vehicles, names = [], []
    latest = options.day_start_min + options.hours * 60
    for k, inspector in enumerate(options.inspectors):
        start = where(inspector.start)
        end = where(inspector.end) if inspector.end is not None else start
        for d in range(options.days):
            vehicles.append(Vehicle(start, end, options.day_start_min, latest, f"{k}:{d}"))
            names.append(f"{inspector.name}第{d + 1}天")
    service = _column(homes, "service_min", options.service_min).astype(float)
    problem = Problem(
        matrix.minutes,
        np.arange(m),
        service,
        vehicles,
        window_start=_times(homes, "window_start", -np.inf),
        window_end=_times(homes, "window_end", np.inf),
        priority=np.clip(_column(homes, "priority", 0).astype(float), 0, 100),
        must_visit=_column(homes, "must_visit", False).astype(bool),
    )
    return problem, names


def _column(frame: pd.DataFrame, name: str, default) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default)
    return frame[name].where(frame[name].notna(), default).to_numpy()


def _times(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default)
    out = np.full(len(frame), default)
    for i, (value, number) in enumerate(zip(frame[name], frame.household_no, strict=True)):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            continue
        try:
            out[i] = parse_clock(value)
        except ValueError as exc:
            raise PlanError(f"household {number}: {name}: {exc}") from None
    return out


# --- outputs ------------------------------------------------------------------------------


def _frames(homes, depots, matrix, problem, routes, reasons, options, names):
    m = len(homes)
    to_wgs = pyproj.Transformer.from_crs(matrix.network.crs, 4326, always_xy=True)
    rows = {j: _unplanned_row(homes, j, problem) for j in range(m)}
    for r in reasons:
        rows[r.job].update(reason=r.code, reason_text=f"{r.label}：{r.detail}")
    day_rows, day_geoms = [], []
    for v, route in enumerate(routes):
        veh = problem.vehicles[v]
        k, d = (int(x) for x in veh.label.split(":"))
        inspector = options.inspectors[k]
        date = options.start_date + dt.timedelta(days=d) if options.start_date else None
        schedule = problem.schedule(v, route)
        sequence = [veh.start, *route, veh.end]
        legs = [matrix.leg(a, b) for a, b in itertools.pairwise(sequence)]
        metres = [0.0 if g is None else g.length for g in legs]
        for seq, j in enumerate(route, start=1):
            rows[j].update(
                status="planned",
                inspector=k + 1,
                inspector_name=inspector.name,
                day=d + 1,
                date=date,
                seq=seq,
                arrival_min=schedule.arrive[seq - 1],
                begin_min=schedule.begin[seq - 1],
                departure_min=schedule.begin[seq - 1] + problem.service[j],
                wait_min=schedule.begin[seq - 1] - schedule.arrive[seq - 1],
                leg_min=schedule.legs[seq - 1],
                leg_m=metres[seq - 1],
            )
        service = float(sum(problem.service[j] for j in route))
        finish = schedule.finish if route else veh.earliest
        wait = float(sum(b - a for a, b in zip(schedule.arrive, schedule.begin, strict=True)))
        start_pt, end_pt = depots.geometry.iloc[veh.start - m], depots.geometry.iloc[veh.end - m]
        day_rows.append(
            {
                "inspector": k + 1,
                "inspector_name": inspector.name,
                "day": d + 1,
                "date": date,
                "start_min": veh.earliest,
                "finish_min": finish,
                "stops": len(route),
                "travel_min": schedule.travel if route else 0.0,
                "service_min": service,
                "wait_min": wait,
                "distance_m": float(sum(metres)) if route else 0.0,
                "start_name": depots.name.iloc[veh.start - m],
                "end_name": depots.name.iloc[veh.end - m],
                "start_lon": start_pt.x,
                "start_lat": start_pt.y,
                "end_lon": end_pt.x,
                "end_lat": end_pt.y,
            }
        )
        parts = [shapely.transform(g, lambda xy: np.column_stack(to_wgs.transform(*xy.T)))
                 for g in legs if g is not None and g.length > 0] if route else []  # fmt: skip
        day_geoms.append(shapely.MultiLineString(parts) if parts else None)
    stops = gpd.GeoDataFrame(
        [rows[j] for j in range(m)], geometry=homes.geometry.to_crs(4326).to_numpy(), crs=4326
    )
    stops = stops[[*STOP_COLUMNS, *_extra(homes), "geometry"]]
    for column in ("inspector", "day", "seq"):
        stops[column] = pd.array(stops[column], dtype="Int64")
    days = gpd.GeoDataFrame(day_rows, geometry=day_geoms, crs=4326)
    if days.empty:
        days = gpd.GeoDataFrame(columns=[*DAY_COLUMNS, "geometry"], geometry="geometry", crs=4326)
    return stops, days[[*DAY_COLUMNS, "geometry"]]


def _unplanned_row(homes, j: int, problem: Problem) -> dict[str, Any]:
    row = {c: None for c in STOP_COLUMNS}
    lo, hi = problem.window_start[j], problem.window_end[j]
    row.update(
        household_id=homes.household_id.iloc[j],
        household_no=homes.household_no.iloc[j],
        status="unassigned",
        service_min=float(problem.service[j]),
        must_visit=bool(problem.must_visit[j]),
        window_start_min=float(lo) if np.isfinite(lo) else None,
        window_end_min=float(hi) if np.isfinite(hi) else None,
        priority=float(problem.priority[j]),
    )
    for column in _extra(homes):
        row[column] = homes[column].iloc[j]
    return row


def _extra(homes: pd.DataFrame) -> list[str]:
    """Columns the caller passed along (names, villages, …): kept on the stops as they are."""
    skip = {*STOP_COLUMNS, "window_start", "window_end", homes.geometry.name}
    return [c for c in homes.columns if c not in skip]


class _Clock:
    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now
