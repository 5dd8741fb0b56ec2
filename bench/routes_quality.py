"""Benchmark: our route solver against VROOM and OR-Tools, side by side in one run.

(a) **TSPLIB** — the instances in ``shared/bench-data/tsplib`` (``../shared`` beside the repo,
    else ``/work/shared``), solved on their own distance matrices (EUC_2D: rounded Euclidean):
    our solver core (``geo.routing.tsp``: Or-opt/2-opt iterated local search, default kicks,
    seed 0), VROOM (pyvroom, one vehicle, exploration level 5) and OR-Tools (guided local
    search, 5 s each). Gap to the optimum of ``optima.tsv`` in %. Targets for ours: mean gap
    ≤ 0.5 %, worst ≤ 1.0 %, each ≤ 2 s.
(b) **A demo township plan** — 100 households of the Lianzhou demo (seeded random sample,
    default 保安镇), 3 inspectors × 2 days of 8 h from the township office, 30 min a visit, on
    the road network (door-to-door minutes of ``geo.routing.matrix``). Ours
    (``geo.routing.vrp``: VROOM construction + our iterated local search) against OR-Tools
    guided local search given 60 s on the same matrix and the same rules (a household left
    out costs the same large penalty in both: visit as many as fit, then least travel).
    100 visits of 30 min need 50 h and the six days have 48 h, so some households cannot
    be fitted: both sides leave some out. Travel is compared like for like: when both visit
    the same number of households, on the plans themselves; otherwise OR-Tools is run again
    (60 s) on exactly the households we visit, all required. Target: our travel within 2 % of
    OR-Tools', in at most a tenth of its time.

(c) **Which households** — 20 seeded plans over the demo townships whose samples exceed what
    K inspectors × D days can visit (K 1–3, D 1–2, samples 1.5–2× capacity). Ours against
    pyvroom alone (exploration 5) and OR-Tools (30 s), on the same problem: ours must visit at
    least as many households as the better of the two, and drive at most 0.5 % more than it at
    that count. Prints ``subset_worst_pct`` (our worst travel excess where the counts tie) and
    ``subset_fewer_visits`` (plans where we visit fewer).

Usage: ``python bench/routes_quality.py [--township CODE] [--seed S] [--ortools-s 60]
[--subset-plans 20] [--subset-ortools-s 30] [--skip-tsplib] [--skip-township]``
against DATABASE_URL or the embedded cluster (the Lianzhou demo is loaded when missing).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from geo.policy import load_profile
from geo.routing import sampling
from geo.routing.plan import PlanOptions, build_problem
from geo.routing.policy import routes_policy
from geo.routing.tsp import solve_tsp, tour_cost
from geo.routing.vrp import Problem, _Search, solve_vrp, vroom_routes
from layers import routes
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings

REPO = Path(__file__).resolve().parents[1]
PENALTY_MIN = 100_000.0  # a household left out, in both solvers (as geo.routing.vrp)


def tsplib_dir() -> Path:
    for candidate in (REPO.parent / "shared" / "bench-data" / "tsplib",
                      Path("/work/shared/bench-data/tsplib")):  # fmt: skip
        if (candidate / "optima.tsv").is_file():
            return candidate
    raise SystemExit("TSPLIB instances not found in ../shared/bench-data/tsplib")


def read_tsp(path: Path) -> np.ndarray:
    """The rounded Euclidean (EUC_2D) distance matrix of a TSPLIB file."""
    coords, reading = [], False
    for line in path.read_text().splitlines():
        if line.startswith("EDGE_WEIGHT_TYPE") and "EUC_2D" not in line:
            raise SystemExit(f"{path.name}: only EUC_2D instances are supported")
        if line.startswith("NODE_COORD_SECTION"):
            reading = True
            continue
        if line.strip() == "EOF":
            break
        if reading and line.strip():
            _, x, y = line.split()[:3]
            coords.append((float(x), float(y)))
    xy = np.array(coords)
    return np.floor(np.hypot(*(xy[:, None, :] - xy[None, :, :]).T) + 0.5)


# --- (a) TSPLIB ------------------------------------------------------------------------------


def vroom_tsp(d: np.ndarray) -> float:
    problem = Problem(d, np.arange(1, len(d)), 0.0, [_vehicle(0)])
    (route,) = vroom_routes(problem, list(range(len(d) - 1)), exploration=5)
    return tour_cost(d, [0, *(j + 1 for j in route)])


def _vehicle(depot: int):
    from geo.routing.vrp import Vehicle

    return Vehicle(depot, depot, 0.0, 10**9)


def ortools_tsp(d: np.ndarray, seconds: float) -> float:
    manager = pywrapcp.RoutingIndexManager(len(d), 1, 0)
    model = pywrapcp.RoutingModel(manager)
    costs = d.astype(np.int64)
    callback = model.RegisterTransitCallback(
        lambda i, j: int(costs[manager.IndexToNode(i), manager.IndexToNode(j)])
    )
    model.SetArcCostEvaluatorOfAllVehicles(callback)
    params = _gls(seconds, routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC)
    solution = model.SolveWithParameters(params)
    return float(solution.ObjectiveValue())


def bench_tsplib() -> dict:
    folder = tsplib_dir()
    with (folder / "optima.tsv").open() as f:
        optima = {r["instance"]: float(r["optimal_tour_length"]) for r in csv.DictReader(f, delimiter="\t")}  # fmt: skip # noqa: E501
    rows = []
    print(f"(a) TSPLIB ({folder})")
    print(f"{'instance':<10}{'n':>5}{'ours %':>9}{'s':>7}{'VROOM %':>10}{'OR-Tools %':>12}")
    for name, optimum in optima.items():
        d = read_tsp(folder / f"{name}.tsp")
        started = time.perf_counter()
        ours = solve_tsp(d, seed=0)
        seconds = time.perf_counter() - started
        gap = 100 * (ours.cost / optimum - 1)
        vroom_gap = 100 * (vroom_tsp(d) / optimum - 1)
        ortools_gap = 100 * (ortools_tsp(d, 5.0) / optimum - 1)
        rows.append((gap, seconds))
        print(
            f"{name:<10}{len(d):>5}{gap:>9.2f}{seconds:>7.2f}{vroom_gap:>10.2f}{ortools_gap:>12.2f}"
        )
    gaps = [g for g, _ in rows]
    result = {
        "mean_gap_pct": round(float(np.mean(gaps)), 3),
        "max_gap_pct": round(float(np.max(gaps)), 3),
        "max_s": round(float(max(s for _, s in rows)), 2),
    }
    print(f"ours: mean gap {result['mean_gap_pct']} %, worst {result['max_gap_pct']} %, "
          f"slowest {result['max_s']} s (targets 0.5 %, 1.0 %, 2 s)")  # fmt: skip
    return result


# --- (b) the demo township ------------------------------------------------------------------


def _gls(seconds: float, first) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    return params


def ortools_vrp(problem: Problem, jobs: list[int], seconds: float, required: bool):
    """OR-Tools routing on ``jobs`` with the problem's vehicles, day windows and service
    minutes (times in whole seconds); (routes as job indices, solver seconds)."""
    locations = [int(problem.job_location[j]) for j in jobs]
    depots = sorted({v.start for v in problem.vehicles} | {v.end for v in problem.vehicles})
    nodes = locations + depots
    secs = np.rint(np.where(np.isfinite(problem.minutes), problem.minutes, 1e6) * 60)
    secs = secs.astype(np.int64)
    starts = [len(jobs) + depots.index(v.start) for v in problem.vehicles]
    ends = [len(jobs) + depots.index(v.end) for v in problem.vehicles]
    manager = pywrapcp.RoutingIndexManager(len(nodes), len(problem.vehicles), starts, ends)
    model = pywrapcp.RoutingModel(manager)
    service = [int(problem.service[j] * 60 + 0.5) for j in jobs] + [0] * len(depots)

    def travel(i, j):
        return int(secs[nodes[manager.IndexToNode(i)], nodes[manager.IndexToNode(j)]])

    def busy(i, j):
        a = manager.IndexToNode(i)
        return int(secs[nodes[a], nodes[manager.IndexToNode(j)]]) + service[a]

    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitCallback(travel))
    latest = int(max(v.latest for v in problem.vehicles) * 60)
    model.AddDimension(model.RegisterTransitCallback(busy), 0, latest, False, "time")
    clock = model.GetDimensionOrDie("time")
    for k, v in enumerate(problem.vehicles):
        clock.CumulVar(model.Start(k)).SetRange(int(v.earliest * 60), int(v.latest * 60))
        clock.CumulVar(model.End(k)).SetRange(int(v.earliest * 60), int(v.latest * 60))
    penalty = int(PENALTY_MIN * 60 * (100 if required else 1))
    for index in range(len(jobs)):
        model.AddDisjunction([manager.NodeToIndex(index)], penalty)
    first = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    started = time.perf_counter()
    solution = model.SolveWithParameters(_gls(seconds, first))
    elapsed = time.perf_counter() - started
    result = []
    for k in range(len(problem.vehicles)):
        index, route = solution.Value(model.NextVar(model.Start(k))), []
        while not model.IsEnd(index):
            route.append(jobs[manager.IndexToNode(index)])
            index = solution.Value(model.NextVar(index))
        result.append(route)
    return result, elapsed


def travel_of(problem: Problem, routes_: list[list[int]]) -> float:
    return sum(problem.schedule(v, r).travel for v, r in enumerate(routes_) if r)


def demo_problem(engine: sa.Engine, township: str, seed: int) -> Problem:
    profile = load_profile()
    policy = routes_policy(profile)
    with engine.connect() as conn:
        place = routes.area(conn, township)
        pool = routes.candidates(conn, township, dt.date(2018, 12, 20), profile)
        road_frame = routes.roads(conn, township, policy.margin_m)
    chosen = sampling.sample_random(pool, 100, seed=seed)
    options = PlanOptions.simple(3, days=2, hours=8.0, service_min=30.0, seed=seed)
    built = build_problem(chosen, place.office, road_frame, profile, options)
    print(f"(b) {place.name}: 100 of {len(pool)} households (seed {seed}), 3 inspectors × 2 days "
          f"of 8 h, 30 min a visit; matrix {built.laps['network'] + built.laps['matrix']:.2f} s")  # fmt: skip # noqa: E501
    return built.problem


def bench_township(engine: sa.Engine, township: str, seed: int, seconds: float) -> dict:
    problem = demo_problem(engine, township, seed)
    all_jobs = list(range(problem.n_jobs))
    started = time.perf_counter()
    ours = solve_vrp(problem, seed=seed)
    our_s = time.perf_counter() - started
    ours_n = sum(len(r) for r in ours.routes)
    theirs, their_s = ortools_vrp(problem, all_jobs, seconds, required=False)
    theirs_n, their_travel = sum(len(r) for r in theirs), travel_of(problem, theirs)
    assert all(problem.schedule(v, r).feasible for v, r in enumerate(ours.routes))
    print(f"{'':<28}{'visited':>8}{'travel min':>12}{'seconds':>9}")
    print(f"{'ours (VROOM + ILS)':<28}{ours_n:>8}{ours.travel:>12.1f}{our_s:>9.2f}")
    print(f"{'OR-Tools GLS':<28}{theirs_n:>8}{their_travel:>12.1f}{their_s:>9.2f}")
    basis = "same plans"
    reference = their_travel
    if theirs_n != ours_n:
        visited = sorted(j for r in ours.routes for j in r)
        same, same_s = ortools_vrp(problem, visited, seconds, required=True)
        same_n, same_travel = sum(len(r) for r in same), travel_of(problem, same)
        print(f"{'OR-Tools GLS, our households':<28}{same_n:>8}{same_travel:>12.1f}{same_s:>9.2f}")
        if same_n == ours_n:
            basis, reference = "OR-Tools on the households we visit", same_travel
        else:
            basis = f"OR-Tools fits only {same_n} of the {ours_n} households we visit"
    pct = 100 * (ours.travel / reference - 1)
    ratio = our_s / their_s
    print(f"travel: ours {pct:+.2f} % vs OR-Tools ({basis}); time ratio {ratio:.3f} "
          f"(targets ≤ +2 %, ≤ 0.1)")  # fmt: skip
    return {
        "vrp_vs_ortools_pct": round(pct, 2),
        "vrp_time_ratio": round(ratio, 4),
        "vrp_visited": ours_n,
        "ortools_visited": theirs_n,
        "vrp_s": round(our_s, 2),
        "ortools_s": round(their_s, 1),
        "vrp_basis": basis,
    }


# --- (c) which households: samples beyond capacity ------------------------------------------


def subset_problem(engine: sa.Engine, township: str, k: int, d: int, n: int, seed: int):
    profile = load_profile()
    policy = routes_policy(profile)
    with engine.connect() as conn:
        place = routes.area(conn, township)
        pool = routes.candidates(conn, township, dt.date(2018, 12, 20), profile)
        road_frame = routes.roads(conn, township, policy.margin_m)
    chosen = sampling.sample_random(pool, n, seed=seed)
    options = PlanOptions.simple(k, days=d, hours=8.0, service_min=30.0, seed=seed)
    return build_problem(chosen, place.office, road_frame, profile, options).problem


def subset_cases(townships: list[str], plans: int) -> list[tuple[str, int, int, int, int]]:
    """(township, K, D, sample, seed): K × D from 1 × 1 to 3 × 2, samples 1.5–2× capacity
    (about 11 visits of 30 min fit an 8-hour day with the driving)."""
    shapes = [(1, 1), (2, 1), (1, 2), (3, 1), (2, 2), (3, 2)]
    cases = []
    for i in range(plans):
        k, d = shapes[i % len(shapes)]
        factor = 1.5 + 0.5 * ((i * 7) % 5) / 4
        cases.append((townships[i % len(townships)], k, d, int(11 * k * d * factor), 100 + i))
    return cases


def bench_subsets(engine: sa.Engine, plans: int, seconds: float) -> dict:
    with engine.connect() as conn:
        townships = list(conn.execute(sa.text(
            "SELECT DISTINCT left(village_code, 9) FROM household WHERE synthetic ORDER BY 1"
        )).scalars())  # fmt: skip
    print(f"(c) {plans} plans beyond capacity: ours vs pyvroom (exploration 5) and OR-Tools "
          f"({seconds:.0f} s)")  # fmt: skip
    print(f"{'township':<11}{'K×D':>5}{'n':>5}{'ours':>6}{'min':>8}{'vroom':>7}{'min':>8}"
          f"{'OR-T':>6}{'min':>8}{'excess %':>10}")  # fmt: skip
    worst, fewer = -math.inf, 0
    for township, k, d, n, seed in subset_cases(townships, plans):
        problem = subset_problem(engine, township, k, d, n, seed)
        ours = solve_vrp(problem, seed=seed)
        ours_n = sum(len(r) for r in ours.routes)
        servable = _Search(problem, random.Random(seed)).servable_jobs()  # as solve_vrp
        vroom_plan = vroom_routes(problem, servable, exploration=5)
        vroom_n, vroom_travel = sum(len(r) for r in vroom_plan), travel_of(problem, vroom_plan)
        ortools_plan, _ = ortools_vrp(problem, servable, seconds, required=False)
        ortools_n, ortools_travel = (
            sum(len(r) for r in ortools_plan),
            travel_of(problem, ortools_plan),
        )
        best_n, best_travel = max((vroom_n, -vroom_travel), (ortools_n, -ortools_travel))
        best_travel = -best_travel
        if ours_n < best_n:
            fewer += 1
            excess = math.nan
        elif ours_n == best_n:
            excess = 100 * (ours.travel / best_travel - 1)
            worst = max(worst, excess)
        else:
            excess = -math.inf  # we visit more: better whatever the driving
        row = f"{township:<11}{f'{k}×{d}':>5}{n:>5}{ours_n:>6}{ours.travel:>8.1f}{vroom_n:>7}"
        print(f"{row}{vroom_travel:>8.1f}{ortools_n:>6}{ortools_travel:>8.1f}{excess:>10.2f}")
    worst = 0.0 if worst == -math.inf else worst
    print(f"subsets: worst excess {worst:+.2f} % where the counts tie, fewer visits in {fewer} "
          f"of {plans} plans (targets ≤ 0.5 %, 0)")  # fmt: skip
    return {"subset_worst_pct": round(worst, 2), "subset_fewer_visits": fewer,
            "subset_plans": plans}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--township", default="441882105", help="demo township (保安镇)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ortools-s", type=float, default=60.0)
    parser.add_argument("--subset-plans", type=int, default=20)
    parser.add_argument("--subset-ortools-s", type=float, default=30.0)
    parser.add_argument("--skip-tsplib", action="store_true")
    parser.add_argument("--skip-township", action="store_true")
    args = parser.parse_args()
    tsp = {} if args.skip_tsplib else bench_tsplib()
    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    _ensure_demo(engine, settings)
    vrp = (
        {}
        if args.skip_township
        else bench_township(engine, args.township, args.seed, args.ortools_s)
    )
    subsets = bench_subsets(engine, args.subset_plans, args.subset_ortools_s)
    print(json.dumps({"bench": "routes_quality", **tsp, **vrp, **subsets}, ensure_ascii=False))


def _ensure_demo(engine: sa.Engine, settings: DatabaseSettings) -> None:
    with engine.connect() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM household WHERE synthetic")).scalar()
    if have:
        return
    from geo.paths import GUANGDONG_COUNTIES
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries

    print("loading the Lianzhou demo…")
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    ensure_demo(engine, settings.home)


if __name__ == "__main__":
    main()
