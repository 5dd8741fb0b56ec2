"""Vehicle routing for inspectors: K inspectors × D days, hours per day, service minutes,
optional time windows and must-visit households.

A *vehicle* is one inspector-day: it leaves its start no earlier than ``earliest`` and is back
at its end by ``latest`` (minutes since midnight). A *job* is a household: its location in the
travel matrix, service minutes, an optional window in which the visit must begin, a priority
(0–100) and whether it must be visited. Waiting for a window to open is allowed.

The objective is lexicographic, as an inspector would rank plans: first visit every
must-visit household, then as many households (of the highest priority) as fit, then the
least travel time. Internally a job left out costs ``UNASSIGNED_MINUTES × (1 + priority)``
minutes (must-visit: ×1000), far more than any travel.

Solving (:func:`solve_vrp`):

1. **Construction** by VROOM (pyvroom, exploration levels 3 and 5; the search starts from the
   better plan: when not every household fits, the levels choose different ones) — jobs
   that cannot be served by any vehicle on their own are left out first; a job's *skill*
   is its road component, so a vehicle only gets homes reachable from its start and end.
   Or by OR-Tools (cheapest insertion + its greedy descent), or our cheapest insertion alone.
2. **Improvement** by our iterated local search: relocate (paths of 1–3 homes, either way
   round), swap, 2-opt within a day, 2-opt* between days, insertion of left-out homes and
   replacement of a cheaper home by a left-out one; then ruin and recreate (SISR-style
   strings of homes around a random one are removed and re-inserted cheapest-first, with
   blinks) under record-to-record acceptance. Every draw comes from ``random.Random(seed)``
   and the number of rounds is fixed, so the same problem and seed give the same plan.
3. **Polish**: each day without time windows is re-ordered by the TSP core
   (``geo.routing.tsp``), kept only when shorter.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from geo.routing.tsp import solve_tsp

UNASSIGNED_MINUTES = 100_000.0  # cost of leaving a job out, per (1 + priority)
MUST_VISIT_FACTOR = 1000.0
EPS = 1e-7
TICKS_PER_MIN = 6000  # VROOM works in integers: 10 ms ticks
VROOM_UNREACHABLE = 10**9  # stands in for inf in VROOM's matrix (never used: skills)
SELECTIVE_ITERATIONS = 600  # rounds when not every household fits (about 2 s for 40 homes)
CHEAPEST_FIRST_SHARE = 0.2  # of the recreate rounds: global cheapest-first insertion
VROOM_STARTS = (3, 5)  # exploration levels constructed; the search starts from the better


@dataclass(frozen=True)
class Vehicle:
    """One inspector-day: start/end location indices and the working window (minutes)."""

    start: int
    end: int
    earliest: float
    latest: float
    label: str = ""


@dataclass
class Problem:
    """Travel minutes between locations, the jobs (homes) and the vehicles (inspector-days).

    Job arrays are indexed by job; ``job_location`` maps a job to its matrix row.
    """

    minutes: np.ndarray
    job_location: np.ndarray
    service: np.ndarray
    vehicles: list[Vehicle]
    window_start: np.ndarray | None = None  # visit may begin from (minutes); -inf: none
    window_end: np.ndarray | None = None  # visit must begin by; inf: none
    priority: np.ndarray | None = None  # 0..100
    must_visit: np.ndarray | None = None

    def __post_init__(self) -> None:
        m = len(self.job_location)
        self.minutes = np.asarray(self.minutes, dtype=float)
        self.job_location = np.asarray(self.job_location, dtype=np.int64)
        self.service = np.broadcast_to(np.asarray(self.service, dtype=float), (m,)).copy()
        self.window_start = _filled(self.window_start, m, -np.inf)
        self.window_end = _filled(self.window_end, m, np.inf)
        self.priority = _filled(self.priority, m, 0.0)
        self.must_visit = _filled(self.must_visit, m, False).astype(bool)
        if self.minutes.ndim != 2 or self.minutes.shape[0] != self.minutes.shape[1]:
            raise ValueError(f"travel matrix must be square, got {self.minutes.shape}")

    @property
    def n_jobs(self) -> int:
        return len(self.job_location)

    @property
    def has_windows(self) -> np.ndarray:
        return np.isfinite(self.window_start) | np.isfinite(self.window_end)

    def penalty(self) -> np.ndarray:
        factor = np.where(self.must_visit, MUST_VISIT_FACTOR, 1.0)
        return UNASSIGNED_MINUTES * (1.0 + self.priority) * factor

    def schedule(self, vehicle: int, jobs: Sequence[int]) -> Schedule:
        """Arrival, start of visit and departure per job of a route (feasible or not)."""
        v = self.vehicles[vehicle]
        t, here, travel = v.earliest, v.start, 0.0
        arrive, begin, legs = [], [], []
        ok = True
        for j in jobs:
            leg = self.minutes[here, self.job_location[j]]
            travel += leg
            t += leg
            arrive.append(t)
            t = max(t, self.window_start[j])
            ok &= bool(t <= self.window_end[j] + EPS)
            begin.append(t)
            legs.append(leg)
            t += self.service[j]
            here = self.job_location[j]
        back = self.minutes[here, v.end]
        travel += back
        t += back
        ok &= bool(t <= v.latest + EPS) and bool(np.isfinite(t))
        return Schedule(vehicle, list(jobs), arrive, begin, legs, back, t, travel, ok)


@dataclass(frozen=True)
class Schedule:
    vehicle: int
    jobs: list[int]
    arrive: list[float]
    begin: list[float]
    legs: list[float]  # travel minutes to each job
    back: float  # travel minutes from the last job to the end
    finish: float  # back at the end
    travel: float
    feasible: bool


@dataclass
class VrpResult:
    """Routes (job indices per vehicle), jobs left out, total travel, and how it was found."""

    routes: list[list[int]]
    unassigned: list[int]
    travel: float
    objective: float
    stats: dict[str, float] = field(default_factory=dict)


def default_iterations(n_jobs: int) -> int:
    """Ruin-and-recreate rounds for ``n_jobs`` homes when all of them fit (about 1 s for
    100); when some must be left out, :data:`SELECTIVE_ITERATIONS`."""
    return int(min(max(2 * n_jobs, 100), 600))


def solve_vrp(
    problem: Problem,
    *,
    seed: int = 0,
    iterations: int | None = None,
    construction: str = "vroom",
    polish: bool = True,
    time_limit: float | None = None,
) -> VrpResult:
    """Plan the routes of ``problem`` (see the module docstring). Deterministic per seed.

    ``construction``: ``vroom`` (default), ``ortools`` (parallel cheapest insertion and
    OR-Tools' greedy descent) or ``insertion`` (ours alone).
    """
    started = time.perf_counter()
    search = _Search(problem, random.Random(seed))
    servable = search.servable_jobs()
    stats: dict[str, float] = {}
    if construction == "vroom" and not _has_vroom():  # pragma: no cover - a dependency
        construction = "insertion"
    if construction == "vroom":
        routes = _best_start(search, [vroom_routes(problem, servable, exploration=e)
                                      for e in VROOM_STARTS])  # fmt: skip
    elif construction == "ortools":
        routes = ortools_routes(problem, servable)
    elif construction == "insertion":
        routes = [[] for _ in problem.vehicles]
    else:
        raise ValueError(f"construction must be vroom, ortools or insertion, not {construction!r}")
    stats["construction"] = construction  # type: ignore[assignment]
    search.load(routes)
    stats["initial_travel"] = search.travel()
    stats["initial_assigned"] = search.assigned()
    stats["construction_s"] = time.perf_counter() - started
    if iterations is None:
        selective = search.assigned() < len(servable)  # not all fit: which ones is the hard part
        iterations = SELECTIVE_ITERATIONS if selective else default_iterations(problem.n_jobs)
    stats["iterations"] = search.iterate(iterations, started, time_limit)
    if polish:
        search.polish_days()
    routes = [r[:] for r in search.best]
    unassigned = sorted(set(range(problem.n_jobs)) - {j for r in routes for j in r})
    travel = sum(problem.schedule(v, r).travel for v, r in enumerate(routes) if r)
    stats["seconds"] = time.perf_counter() - started
    objective = travel + float(problem.penalty()[unassigned].sum())
    return VrpResult(routes, unassigned, travel, objective, stats)


def _best_start(search: _Search, starts: list[list[list[int]]]) -> list[list[int]]:
    """The construction whose plan, after a first local search, costs least (most households
    visited, then least travel): VROOM's levels pick different households when not all fit,
    and the search keeps the count it starts from."""
    best, best_cost = starts[0], math.inf
    for routes in starts:
        search.load(routes)
        if search.best_cost < best_cost - EPS:
            best, best_cost = [r[:] for r in search.best], search.best_cost
    search.routes = [[] for _ in search.veh]
    search.where = {}
    return best


def _filled(values, m: int, default) -> np.ndarray:
    if values is None:
        return np.full(m, default)
    out = np.asarray(values)
    if out.dtype == object:
        out = np.array([default if v is None else v for v in out])
    return np.broadcast_to(out, (m,)).copy()


def _has_vroom() -> bool:
    try:
        import vroom  # noqa: F401
    except ImportError:  # pragma: no cover - pyvroom is a dependency
        return False
    return True


# --- construction by VROOM ----------------------------------------------------------------


def vroom_routes(
    problem: Problem, jobs: Sequence[int], exploration: int = 3, threads: int = 2
) -> list[list[int]]:
    """VROOM's routes for ``jobs`` (job indices per vehicle).

    Times go to VROOM in ticks of 10 ms, each travel time plus a fixed pseudo-random tie
    breaker under 10 s: between plans of equal cost (common on a symmetric road grid) VROOM
    returns one or the other from run to run, which would break "same seed, same plan";
    with the ties broken the best plan is unique, whichever thread finds it first. Our
    search then works on the true minutes.
    """
    import vroom

    if len(jobs) == 0:
        return [[] for _ in problem.vehicles]
    n = len(problem.minutes)
    rows, cols = np.indices((n, n), dtype=np.uint64)
    mixed = (rows * np.uint64(2654435761) + cols * np.uint64(40503)) * np.uint64(2246822519)
    tie_break = ((mixed >> np.uint64(32)) % np.uint64(1000)).astype(np.int64)  # < 10 s
    ticks = np.where(
        np.isfinite(problem.minutes), np.rint(problem.minutes * TICKS_PER_MIN) + tie_break,
        VROOM_UNREACHABLE,
    ).astype(np.int64)  # fmt: skip
    np.fill_diagonal(ticks, 0)
    ticks = np.clip(ticks, 0, VROOM_UNREACHABLE)
    component = _components(problem.minutes)
    solver = vroom.Input()
    solver.set_durations_matrix("car", ticks.astype("uint32"))
    for index, v in enumerate(problem.vehicles):
        skills = {int(component[v.start])} if component[v.start] == component[v.end] else set()
        solver.add_vehicle(
            vroom.Vehicle(
                id=index,
                start=int(v.start),
                end=int(v.end),
                time_window=vroom.TimeWindow(_sec(v.earliest), _sec(v.latest)),
                skills=skills,
            )
        )
    for j in jobs:
        windows = []
        if problem.has_windows[j]:
            lo = max(problem.window_start[j], 0.0)
            hi = problem.window_end[j] if np.isfinite(problem.window_end[j]) else 7 * 24 * 60
            windows = [vroom.TimeWindow(_sec(lo), _sec(hi))]
        solver.add_job(
            vroom.Job(
                id=int(j),
                location=int(problem.job_location[j]),
                default_service=_sec(problem.service[j]),
                skills={int(component[problem.job_location[j]])},
                priority=100 if problem.must_visit[j] else int(min(problem.priority[j], 99)),
                time_windows=windows,
            )
        )
    solution = solver.solve(exploration_level=exploration, nb_threads=threads)
    routes: list[list[int]] = [[] for _ in problem.vehicles]
    frame = solution.routes
    jobs_only = frame[frame["type"] == "job"]
    for vehicle, group in jobs_only.groupby("vehicle_id", sort=True):
        routes[int(vehicle)] = [int(j) for j in group["id"]]
    return routes


def ortools_routes(problem: Problem, jobs: Sequence[int]) -> list[list[int]]:
    """OR-Tools' routes for ``jobs``: parallel cheapest insertion, then OR-Tools' own local
    search to its local optimum (greedy descent, no time limit: deterministic). Times in
    whole seconds; a job's allowed vehicles are those that can serve it alone; a job left
    out costs as in :meth:`Problem.penalty`."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    jobs = list(jobs)
    routes: list[list[int]] = [[] for _ in problem.vehicles]
    if not jobs:
        return routes
    depots = sorted({v.start for v in problem.vehicles} | {v.end for v in problem.vehicles})
    nodes = [int(problem.job_location[j]) for j in jobs] + depots
    secs = np.where(np.isfinite(problem.minutes), np.rint(problem.minutes * 60), 10**8)
    secs = secs[np.ix_(nodes, nodes)].astype(np.int64).tolist()
    service = [round(float(problem.service[j]) * 60) for j in jobs] + [0] * len(depots)
    first = len(jobs)
    starts = [first + depots.index(v.start) for v in problem.vehicles]
    ends = [first + depots.index(v.end) for v in problem.vehicles]
    manager = pywrapcp.RoutingIndexManager(len(nodes), len(problem.vehicles), starts, ends)
    model = pywrapcp.RoutingModel(manager)

    def travel(i: int, j: int) -> int:
        return secs[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def busy(i: int, j: int) -> int:
        a = manager.IndexToNode(i)
        return secs[a][manager.IndexToNode(j)] + service[a]

    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitCallback(travel))
    horizon = round(max(v.latest for v in problem.vehicles) * 60)
    model.AddDimension(model.RegisterTransitCallback(busy), horizon, horizon, False, "time")
    clock = model.GetDimensionOrDie("time")
    for k, v in enumerate(problem.vehicles):
        window = (round(v.earliest * 60), round(v.latest * 60))
        clock.CumulVar(model.Start(k)).SetRange(*window)
        clock.CumulVar(model.End(k)).SetRange(*window)
    penalty = problem.penalty()
    alone = [
        [k for k in range(len(problem.vehicles)) if problem.schedule(k, [j]).feasible] for j in jobs
    ]
    for node, j in enumerate(jobs):
        index = manager.NodeToIndex(node)
        lo = problem.window_start[j] if np.isfinite(problem.window_start[j]) else 0.0
        hi = problem.window_end[j] if np.isfinite(problem.window_end[j]) else horizon / 60
        clock.CumulVar(index).SetRange(round(lo * 60), round(hi * 60))
        model.VehicleVar(index).SetValues([-1, *alone[node]])  # -1: left out
        model.AddDisjunction([index], round(float(penalty[j]) * 60))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    solution = model.SolveWithParameters(params)
    if solution is None:  # pragma: no cover - every job may be left out, so one exists
        return routes
    for k in range(len(problem.vehicles)):
        index = solution.Value(model.NextVar(model.Start(k)))
        while not model.IsEnd(index):
            routes[k].append(jobs[manager.IndexToNode(index)])
            index = solution.Value(model.NextVar(index))
    return routes


def _sec(minutes: float) -> int:
    """Minutes in VROOM's ticks."""
    return round(float(minutes) * TICKS_PER_MIN)


def _components(minutes: np.ndarray) -> np.ndarray:
    """Label locations that can reach each other (finite minutes both ways) alike."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    finite = np.isfinite(minutes) & np.isfinite(minutes.T)
    _, labels = connected_components(csr_matrix(finite), directed=False)
    return labels


# --- the iterated local search ------------------------------------------------------------


class _Search:
    """The iterated local search. Routes are plain lists and the matrix nested lists (fast
    element access in Python); ``where`` maps each assigned job to (vehicle, position) and
    each route caches its visit start times and *slack* — how much later each visit could
    begin without breaking a window or the end of the day further on — so that whether a
    job fits between two stops is known in constant time."""

    def __init__(self, problem: Problem, rng: random.Random):
        self.p = problem
        self.rng = rng
        self.M = problem.minutes.tolist()
        self.loc = problem.job_location.tolist()
        self.svc = problem.service.tolist()
        self.ws = problem.window_start.tolist()
        self.we = problem.window_end.tolist()
        self.pen = problem.penalty().tolist()
        self.veh = problem.vehicles
        self.n = problem.n_jobs
        self.routes: list[list[int]] = [[] for _ in self.veh]
        self.where: dict[int, tuple[int, int]] = {}
        self.cache: list[tuple[list[float], list[float]] | None] = [None] * len(self.veh)
        self.best: list[list[int]] = []
        self.best_cost = math.inf
        self.near = self._neighbours(12)
        self.alone: list[list[int]] = [[] for _ in range(self.n)]
        self.servable: set[int] = set()
        self.max_removed = 10
        self.threshold = 0.01  # share of the best travel a worse plan may cost more, at first

    # --- set-up ---------------------------------------------------------------------------

    def _neighbours(self, k: int) -> list[list[int]]:
        if self.n <= 1:
            return [[] for _ in range(self.n)]
        loc = self.p.job_location
        d = self.p.minutes[np.ix_(loc, loc)]
        d = d + d.T
        np.fill_diagonal(d, np.inf)
        order = np.argsort(d, axis=1, kind="stable")[:, : min(k, self.n - 1)]
        return [[int(c) for c in row if np.isfinite(d[i, c])] for i, row in enumerate(order)]

    def servable_jobs(self) -> list[int]:
        """Jobs some vehicle can serve on its own (the others are left out for good)."""
        self.alone = [
            [v for v in range(len(self.veh)) if self.feasible(v, [j])] for j in range(self.n)
        ]
        self.alone_set = [set(a) for a in self.alone]
        self.servable = {j for j in range(self.n) if self.alone[j]}
        return sorted(self.servable)

    def load(self, routes: list[list[int]]) -> None:
        for v, route in enumerate(routes):
            self._set_route(v, self._repair(v, route))
        self.local_search(sorted(self.where) + self._unassigned())
        self.best = [r[:] for r in self.routes]
        self.best_cost = self.cost()

    def _repair(self, v: int, route: list[int]) -> list[int]:
        """Drop jobs from the end of a constructed route until it is feasible (VROOM works in
        whole seconds; a route can be a rounding error over the limit in minutes)."""
        route = [j for j in route if j in self.servable and v in self.alone_set[j]]
        while route and not self.feasible(v, route):
            route.pop()
        return route

    def _set_route(self, v: int, route: list[int]) -> None:
        for j in self.routes[v]:
            if self.where.get(j, (None,))[0] == v:
                del self.where[j]
        self.routes[v] = route
        for i, j in enumerate(route):
            self.where[j] = (v, i)
        self.cache[v] = None

    def _set_all(self, routes: list[list[int]]) -> None:
        self.where = {}
        for v, route in enumerate(routes):
            self.routes[v] = route[:]
            for i, j in enumerate(route):
                self.where[j] = (v, i)
            self.cache[v] = None

    # --- evaluation -----------------------------------------------------------------------

    def feasible(self, v: int, route: list[int]) -> bool:
        veh, M, loc, ws, we, svc = self.veh[v], self.M, self.loc, self.ws, self.we, self.svc
        t, here = veh.earliest, veh.start
        for j in route:
            t += M[here][loc[j]]
            if t < ws[j]:
                t = ws[j]
            if t > we[j] + EPS:
                return False
            t += svc[j]
            here = loc[j]
        t += M[here][veh.end]
        return t <= veh.latest + EPS

    def _timing(self, v: int) -> tuple[list[float], list[float], float]:
        """Per stop of route v — the start is stop 0, the end stop len+1 — the departure
        (arrival for the end) and the *room*: how much later one may arrive there without
        breaking a window or the end of the day further on; and the largest room.
        Recomputed lazily after a change."""
        cached = self.cache[v]
        if cached is not None:
            return cached
        veh, M, loc, ws, we, svc = self.veh[v], self.M, self.loc, self.ws, self.we, self.svc
        route = self.routes[v]
        depart, wait, latest = [veh.earliest], [0.0], [math.inf]
        t, here = veh.earliest, veh.start
        for j in route:
            t += M[here][loc[j]]
            w = ws[j] - t if t < ws[j] else 0.0
            t += w
            wait.append(w)
            latest.append(we[j] - t)
            t += svc[j]
            depart.append(t)
            here = loc[j]
        t += M[here][veh.end]
        depart.append(t)
        wait.append(0.0)
        latest.append(veh.latest - t)
        # slack: how much later a visit may *begin*; room: how much later one may arrive
        room = latest[:]
        slack = latest[-1]
        room[-1] = slack
        for i in range(len(latest) - 2, 0, -1):
            slack = min(latest[i], wait[i + 1] + slack)
            room[i] = wait[i] + slack
        room[0] = -math.inf
        cached = (depart, room, max(room[1:]))
        self.cache[v] = cached
        return cached

    def _fits(self, v: int, i: int, j: int, prev: int, nxt: int) -> bool:
        """Does ``j`` fit at position ``i`` of route v, between locations prev and nxt?"""
        depart, room, _ = self._timing(v)
        M, lj = self.M, self.loc[j]
        t = depart[i] + M[prev][lj]
        if t < self.ws[j]:
            t = self.ws[j]
        if t > self.we[j] + EPS:
            return False
        later = t + self.svc[j] + M[lj][nxt] - depart[i] - M[prev][nxt]
        return later <= room[i + 1] + EPS

    def route_travel(self, v: int, route: list[int]) -> float:
        if not route:
            return 0.0
        M, loc, veh = self.M, self.loc, self.veh[v]
        total = M[veh.start][loc[route[0]]] + M[loc[route[-1]]][veh.end]
        for a, b in itertools.pairwise(route):
            total += M[loc[a]][loc[b]]
        return total

    def travel(self) -> float:
        return sum(self.route_travel(v, r) for v, r in enumerate(self.routes))

    def cost(self) -> float:
        left = sum(self.pen[j] for j in range(self.n) if j not in self.where)
        return self.travel() + left

    def assigned(self) -> int:
        return len(self.where)

    def _unassigned(self) -> list[int]:
        """Servable jobs not in any route, highest penalty first."""
        left = [j for j in self.servable if j not in self.where]
        return sorted(left, key=lambda j: (-self.pen[j], j))

    def _ends(self, v: int, route: list[int], i: int) -> tuple[int, int]:
        """Locations before and after position i of ``route`` (vehicle v's depots at ends)."""
        veh = self.veh[v]
        prev = veh.start if i == 0 else self.loc[route[i - 1]]
        nxt = veh.end if i >= len(route) - 1 else self.loc[route[i + 1]]
        return prev, nxt

    # --- insertion --------------------------------------------------------------------------

    def _best_insertion(self, j: int, blink: float = 0.0) -> tuple[float, int, int] | None:
        """(added travel, vehicle, position) of the cheapest feasible place for ``j``; with
        ``blink`` > 0 each place is passed over with that probability."""
        best = None
        for v in self.alone[j]:
            found = self._best_in_route(j, v, blink)
            if found is not None and (best is None or found[0] < best[0] - EPS):
                best = found
        return best

    def _best_in_route(self, j: int, v: int, blink: float) -> tuple[float, int, int] | None:
        M, lj, loc, svc = self.M, self.loc[j], self.loc, self.svc[j]
        route, veh = self.routes[v], self.veh[v]
        # arriving anywhere later by more than the largest room cannot fit
        most = self._timing(v)[2] - svc + EPS
        best = None
        prev = veh.start
        for i in range(len(route) + 1):
            nxt = veh.end if i == len(route) else loc[route[i]]
            added = M[prev][lj] + M[lj][nxt] - M[prev][nxt]
            if (
                added <= most
                and (best is None or added < best[0] - EPS)
                and (blink == 0.0 or self.rng.random() >= blink)
                and self._fits(v, i, j, prev, nxt)
            ):
                best = (added, v, i)
            prev = nxt
        return best

    def _insert_cheapest_first(self, left: list[int], blink: float) -> None:
        """Insert ``left`` globally cheapest-first: the job adding least travel goes in next
        (dearest to leave out first). When not all fit, this packs the most households into
        the days — which households to visit, not only their order."""
        table = {j: {v: self._best_in_route(j, v, blink) for v in self.alone[j]} for j in left}
        pending = set(left)
        while pending:
            tier = max(self.pen[j] for j in pending)
            options = [(found[0], j, found) for j in pending if self.pen[j] == tier
                       for found in table[j].values() if found is not None]  # fmt: skip
            if not options:
                pending -= {j for j in pending if self.pen[j] == tier}
                continue
            _, j, (_, v, i) = min(options, key=lambda o: (o[0], o[1]))
            route = self.routes[v]
            self._set_route(v, [*route[:i], j, *route[i:]])
            pending.discard(j)
            for k in pending:
                if v in table[k]:
                    table[k][v] = self._best_in_route(k, v, blink)

    def _insert(self, j: int, blink: float = 0.0) -> bool:
        found = self._best_insertion(j, blink)
        if found is None:
            return False
        _, v, i = found
        route = self.routes[v]
        self._set_route(v, [*route[:i], j, *route[i:]])
        return True

    def _fill(self, left: list[int]) -> list[int]:
        """Insert left-out jobs, or let one replace a cheaper job; the jobs placed."""
        placed = []
        for u in left:
            if u not in self.where and (self._insert(u) or self._replace(u)):
                placed.append(u)
        return placed

    def _replace(self, u: int) -> bool:
        """Put left-out ``u`` in the place of an assigned neighbour that costs less to drop."""
        M, loc, lu = self.M, self.loc, self.loc[u]
        for c in self.near[u]:
            if c not in self.where or self.pen[c] > self.pen[u]:
                continue
            v, i = self.where[c]
            if v not in self.alone_set[u]:
                continue
            route = self.routes[v]
            prev, nxt = self._ends(v, route, i)
            delta = M[prev][lu] + M[lu][nxt] - M[prev][loc[c]] - M[loc[c]][nxt]
            delta += self.pen[c] - self.pen[u]
            if delta < -EPS:
                candidate = [*route[:i], u, *route[i + 1 :]]
                if self.feasible(v, candidate):
                    self._set_route(v, candidate)
                    return True
        return False

    # --- local search -----------------------------------------------------------------------

    def local_search(self, active: list[int]) -> None:
        queue = list(dict.fromkeys(active))
        queued = set(queue)
        budget = 50 * (self.n + 1)
        while queue and budget > 0:
            budget -= 1
            j = queue.pop()
            queued.discard(j)
            touched = self._improve(j) if j in self.where else None
            if touched:
                for c in touched:
                    if c not in queued:
                        queued.add(c)
                        queue.append(c)
            if not queue:
                placed = self._fill(self._unassigned())
                queue = [c for u in placed for c in (u, *self.near[u][:4]) if c in self.where]
                queued = set(queue)

    def _improve(self, j: int) -> list[int] | None:
        return self._relocate(j) or self._swap(j) or self._two_opt(j) or self._two_opt_star(j)

    def _relocate(self, j: int) -> list[int] | None:
        """Move the path of 1–3 jobs starting at ``j`` next to one of j's neighbours."""
        M, loc, where = self.M, self.loc, self.where
        v, i = where[j]
        route = self.routes[v]
        for length in (1, 2, 3):
            if i + length > len(route):
                break
            path = route[i : i + length]
            prev, _ = self._ends(v, route, i)
            _, nxt = self._ends(v, route, i + length - 1)
            first, last = loc[path[0]], loc[path[-1]]
            gain = M[prev][first] + M[last][nxt] - M[prev][nxt]
            if gain <= EPS:
                continue
            twist = 0.0
            for a, b in itertools.pairwise(path):
                twist += M[loc[b]][loc[a]] - M[loc[a]][loc[b]]
            rest = route[:i] + route[i + length :]
            for c in self.near[j]:
                if c not in where or c in path:
                    continue
                w = where[c][0]
                if any(w not in self.alone_set[p] for p in path):
                    continue
                target = rest if w == v else self.routes[w]
                kk = target.index(c) if w == v else where[c][1]
                for at in (kk, kk + 1):  # before or after c
                    a = self.veh[w].start if at == 0 else loc[target[at - 1]]
                    b = self.veh[w].end if at == len(target) else loc[target[at]]
                    base = M[a][b]
                    fwd = M[a][first] + M[last][b] - base
                    bwd = M[a][last] + M[first][b] - base + twist
                    for added, flip in ((fwd, False), (bwd, True)):
                        if (length == 1 and flip) or added - gain >= -EPS:
                            continue
                        moved = path[::-1] if flip else path
                        new_target = target[:at] + moved + target[at:]
                        if w == v:
                            if self.feasible(v, new_target):
                                self._set_route(v, new_target)
                                return [*path, c]
                        elif self.feasible(w, new_target) and self.feasible(v, rest):
                            self._set_route(v, rest)
                            self._set_route(w, new_target)
                            return [*path, c, *route[max(i - 1, 0) : i]]
        return None

    def _swap(self, j: int) -> list[int] | None:
        M, loc, where = self.M, self.loc, self.where
        v, i = where[j]
        rj = self.routes[v]
        pj, nj = self._ends(v, rj, i)
        lj = loc[j]
        for c in self.near[j]:
            if c not in where:
                continue
            w, k = where[c]
            if (v == w and abs(i - k) <= 1) or v not in self.alone_set[c]:
                continue
            if w not in self.alone_set[j]:
                continue
            rc = self.routes[w]
            pc, nc = self._ends(w, rc, k)
            lc = loc[c]
            delta = (
                M[pj][lc] + M[lc][nj] - M[pj][lj] - M[lj][nj]
                + M[pc][lj] + M[lj][nc] - M[pc][lc] - M[lc][nc]
            )  # fmt: skip
            if delta >= -EPS:
                continue
            if v == w:
                new = rj[:]
                new[i], new[k] = c, j
                if self.feasible(v, new):
                    self._set_route(v, new)
                    return [j, c]
            else:
                new_j = [*rj[:i], c, *rj[i + 1 :]]
                new_c = [*rc[:k], j, *rc[k + 1 :]]
                if self.feasible(v, new_j) and self.feasible(w, new_c):
                    self._set_route(v, new_j)
                    self._set_route(w, new_c)
                    return [j, c]
        return None

    def _two_opt(self, j: int) -> list[int] | None:
        """Reverse the path between j and a neighbour c of the same day (2-opt)."""
        M, loc, where = self.M, self.loc, self.where
        v, i = where[j]
        route = self.routes[v]
        for c in self.near[j]:
            if c not in where or where[c][0] != v:
                continue
            k = where[c][1]
            # j→next(j) … c→next(c) becomes j→c … next(j)→next(c) (or the mirror before j)
            a, b = (i, k) if i < k else (k, i)
            if b - a < 2:
                continue
            la, la1, lb = loc[route[a]], loc[route[a + 1]], loc[route[b]]
            _, nb = self._ends(v, route, b)
            delta = M[la][lb] + M[la1][nb] - M[la][la1] - M[lb][nb]
            inner = route[a + 1 : b + 1]
            for x, y in itertools.pairwise(inner):
                delta += M[loc[y]][loc[x]] - M[loc[x]][loc[y]]
            if delta < -EPS:
                new = route[: a + 1] + inner[::-1] + route[b + 1 :]
                if self.feasible(v, new):
                    self._set_route(v, new)
                    return [route[a], route[a + 1], route[b], j]
        return None

    def _two_opt_star(self, j: int) -> list[int] | None:
        """Exchange the tails after j and after a neighbour c of another day (2-opt*)."""
        M, loc, where = self.M, self.loc, self.where
        v, i = where[j]
        rj = self.routes[v]
        _, nj = self._ends(v, rj, i)
        for c in self.near[j]:
            if c not in where or where[c][0] == v:
                continue
            w, k = where[c]
            rc = self.routes[w]
            _, nc = self._ends(w, rc, k)
            tail_j, tail_c = rj[i + 1 :], rc[k + 1 :]
            # j→next(c) and c→next(j): the tails swap days (and end at the other depot)
            end_v, end_w = self.veh[v].end, self.veh[w].end
            new_nj = loc[tail_c[0]] if tail_c else end_v
            new_nc = loc[tail_j[0]] if tail_j else end_w
            delta = M[loc[j]][new_nj] + M[loc[c]][new_nc] - M[loc[j]][nj] - M[loc[c]][nc]
            if end_v != end_w:
                last_c = loc[tail_c[-1]] if tail_c else None
                last_j = loc[tail_j[-1]] if tail_j else None
                if last_c is not None:
                    delta += M[last_c][end_v] - M[last_c][end_w]
                if last_j is not None:
                    delta += M[last_j][end_w] - M[last_j][end_v]
            if delta >= -EPS:
                continue
            if any(v not in self.alone_set[x] for x in tail_c) or any(
                w not in self.alone_set[x] for x in tail_j
            ):
                continue
            new_j, new_c = rj[: i + 1] + tail_c, rc[: k + 1] + tail_j
            if self.feasible(v, new_j) and self.feasible(w, new_c):
                self._set_route(v, new_j)
                self._set_route(w, new_c)
                return [j, c, *tail_j[:1], *tail_c[:1]]
        return None

    # --- ruin and recreate ------------------------------------------------------------------

    def iterate(self, iterations: int, started: float, time_limit: float | None) -> int:
        """Ruin and recreate with record-to-record acceptance: a new plan is kept when it
        costs at most ``threshold`` × the best travel more than the best (the threshold
        shrinks to zero over the rounds); otherwise the search goes back to the last plan
        kept. A plan that leaves one more household out is never kept."""
        current = [r[:] for r in self.routes]
        done = 0
        for done in range(1, iterations + 1):
            removed = self._ruin()
            if not removed:
                break
            self._recreate(removed)
            self.local_search(removed + self._neighbours_of(removed))
            cost = self.cost()
            if cost < self.best_cost - EPS:
                self.best, self.best_cost = [r[:] for r in self.routes], cost
            allowed = (
                self.threshold * max(1.0 - done / iterations, 0.0) * self._travel_of(self.best)
            )
            if cost <= self.best_cost + allowed + EPS:
                current = [r[:] for r in self.routes]
            else:
                self._set_all(current)
            if time_limit is not None and time.perf_counter() - started > time_limit:
                break
        self._set_all(self.best)
        return done

    def _travel_of(self, routes: list[list[int]]) -> float:
        return sum(self.route_travel(v, r) for v, r in enumerate(routes))

    def _ruin(self) -> list[int]:
        """Remove strings of consecutive jobs around a random job, in its day and in the
        days of its nearest neighbours (SISR-style string removal)."""
        if not self.where:
            return []
        rng = self.rng
        assigned = sorted(self.where)
        seed_job = assigned[rng.randrange(len(assigned))]
        budget = rng.randint(2, max(2, min(self.max_removed, len(assigned) // 3 + 1)))
        removed: list[int] = []
        days: set[int] = set()
        for c in (seed_job, *self.near[seed_job]):
            if len(removed) >= budget:
                break
            if c not in self.where or self.where[c][0] in days:
                continue
            v, i = self.where[c]
            days.add(v)
            route = self.routes[v]
            length = min(rng.randint(1, max(1, budget - len(removed))), len(route))
            first = max(0, min(i - rng.randint(0, length - 1), len(route) - length))
            string = route[first : first + length]
            removed += string
            self._set_route(v, route[:first] + route[first + length :])
        return removed

    def _recreate(self, removed: list[int]) -> None:
        """Re-insert the removed jobs and the left-out ones, dearest to leave out first, then
        in one of SISR's orders (random, far from the start first, close first), skipping a
        place now and then ("blinks"); or, in a share of the rounds, cheapest-first."""
        left = set(removed) | set(self._unassigned())
        rng = self.rng
        how = rng.random()
        if how < CHEAPEST_FIRST_SHARE:
            self._insert_cheapest_first(sorted(left), blink=0.01)
            return
        how = rng.random()
        start = self.veh[0].start
        if how < 0.4:
            key = {j: rng.random() for j in left}
        elif how < 0.8:
            key = {j: -self.M[start][self.loc[j]] for j in left}
        else:
            key = {j: self.M[start][self.loc[j]] for j in left}
        for j in sorted(left, key=lambda j: (-self.pen[j], key[j], j)):
            self._insert(j, blink=0.01)

    def _neighbours_of(self, jobs: list[int]) -> list[int]:
        return list(dict.fromkeys(c for j in jobs for c in self.near[j][:4]))

    # --- polish -----------------------------------------------------------------------------

    def polish_days(self) -> None:
        """Re-order each day without time windows by the TSP core; keep it when shorter."""
        for v, route in enumerate(self.best):
            if len(route) < 4 or any(
                math.isfinite(self.ws[j]) or math.isfinite(self.we[j]) for j in route
            ):
                continue
            order = _tsp_order(self.p, self.veh[v], route)
            if (
                order is not None
                and self.feasible(v, order)
                and self.route_travel(v, order) < self.route_travel(v, route) - EPS
            ):
                self.best[v] = order


def _tsp_order(problem: Problem, vehicle: Vehicle, route: list[int]) -> list[int] | None:
    """The day's homes in the best order found by the TSP core, from start to end.

    When start and end differ, a dummy node joined to both at no cost (and far from every
    home) closes the path into a tour: start … end, dummy.
    """
    homes = [int(problem.job_location[j]) for j in route]
    same_end = vehicle.start == vehicle.end
    locs = [vehicle.start, *homes] + ([] if same_end else [vehicle.end])
    d = problem.minutes[np.ix_(locs, locs)]
    d = (d + d.T) / 2
    if not np.all(np.isfinite(d)):
        return None
    if not same_end:
        big = float(d.max()) * len(locs) + 1.0
        row = np.full(len(locs), big)
        row[0] = row[-1] = 0.0
        d = np.block([[d, row[:, None]], [row[None, :], np.zeros((1, 1))]])
    tour = solve_tsp(d, seed=0, iterations=30 * len(d)).tour
    if not same_end:
        k = tour.index(len(locs))  # the dummy
        tour = tour[k + 1 :] + tour[:k]
        if tour[0] != 0:
            tour = tour[::-1]
        if tour[0] != 0 or tour[-1] != len(locs) - 1:
            return None
        tour = tour[:-1]
    return [route[i - 1] for i in tour[1:]]
