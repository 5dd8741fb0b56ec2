"""The route solver on instances small enough to know the answer: brute-force optima, days
too short, time windows, must-visit households, the same seed giving the same plan.

Pure computation (no database): travel matrices are built by hand or from points.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from geo.routing.explain import explain_unassigned
from geo.routing.tsp import solve_tsp, tour_cost
from geo.routing.vrp import Problem, Vehicle, solve_vrp

DAY = (510.0, 990.0)  # 08:30–16:30


def euclid(xy: np.ndarray) -> np.ndarray:
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).T)


def brute_tsp(d: np.ndarray) -> float:
    n = len(d)
    return min(tour_cost(d, (0, *perm)) for perm in itertools.permutations(range(1, n)))


@pytest.mark.parametrize("seed", range(6))
def test_tsp_finds_the_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = np.rint(euclid(rng.uniform(0, 100, (8, 2))))
    result = solve_tsp(d, seed=seed, iterations=200)
    assert sorted(result.tour) == list(range(8))
    assert result.cost == pytest.approx(brute_tsp(d))
    assert result.cost == pytest.approx(tour_cost(d, result.tour))


def test_tsp_rejects_a_matrix_with_holes() -> None:
    d = np.ones((4, 4))
    d[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        solve_tsp(d)


# --- vehicle routing -----------------------------------------------------------------------


def small_problem(
    seed: int, jobs: int = 6, service: float = 30.0, hours: float = 3.0, spread: float = 40.0
):
    """``jobs`` homes and an office (last row) on a plane where 1 unit = 1 minute."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-spread, spread, (jobs + 1, 2))
    xy[-1] = (0, 0)
    minutes = euclid(xy)
    vehicles = [Vehicle(jobs, jobs, DAY[0], DAY[0] + hours * 60) for _ in range(2)]
    return Problem(minutes, np.arange(jobs), service, vehicles)


def brute_vrp(problem: Problem) -> tuple[int, float]:
    """(most homes served, least travel for that many) over every split and order."""
    n = problem.n_jobs
    best_route: dict[frozenset, float] = {}
    for size in range(n + 1):
        for subset in itertools.combinations(range(n), size):
            costs = [
                problem.schedule(0, list(order)).travel
                for order in itertools.permutations(subset)
                if problem.schedule(0, list(order)).feasible
            ]
            if costs:
                best_route[frozenset(subset)] = min(costs)
    best = (0, 0.0)
    for a, cost_a in best_route.items():
        for b, cost_b in best_route.items():
            if a & b:
                continue
            served, travel = len(a) + len(b), cost_a + cost_b
            if served > best[0] or (served == best[0] and travel < best[1] - 1e-9):
                best = (served, travel)
    return best


@pytest.mark.parametrize("construction", ["vroom", "ortools", "insertion"])
@pytest.mark.parametrize("seed", range(5))
def test_two_inspectors_reach_the_brute_force_optimum(seed: int, construction: str) -> None:
    problem = small_problem(seed)
    served, travel = brute_vrp(problem)
    result = solve_vrp(problem, seed=seed, construction=construction)
    assert sum(len(r) for r in result.routes) == served
    assert result.travel == pytest.approx(travel)
    assert all(problem.schedule(v, r).feasible for v, r in enumerate(result.routes))


def test_too_many_homes_for_the_hours_are_left_out_with_the_overrun() -> None:
    problem = small_problem(11, jobs=8, hours=1.5, spread=20)  # 2 × 1.5 h for 8 × 30 min
    result = solve_vrp(problem, seed=1)
    planned = sum(len(r) for r in result.routes)
    assert planned < 8
    assert sorted([*result.unassigned, *(j for r in result.routes for j in r)]) == list(range(8))
    reasons = explain_unassigned(problem, result.routes, result.unassigned)
    assert {r.code for r in reasons} == {"no_room"}
    for r in reasons:  # the cheapest place for it really overruns the day by that much
        assert r.numbers["overrun_min"] > 0
        v, i = int(r.numbers["vehicle"]), int(r.numbers["position"])
        route = [*result.routes[v][:i], r.job, *result.routes[v][i:]]
        schedule = problem.schedule(v, route)
        assert schedule.finish - problem.vehicles[v].latest == pytest.approx(
            r.numbers["overrun_min"]
        )


def test_a_home_too_far_for_one_day_says_so() -> None:
    minutes = np.array([[0.0, 20.0, 260.0], [20.0, 0.0, 250.0], [260.0, 250.0, 0.0]])
    problem = Problem(minutes, [0, 2], 30.0, [Vehicle(1, 1, *DAY)])  # office is location 1
    result = solve_vrp(problem, seed=0)
    assert result.routes == [[0]] and result.unassigned == [1]
    (reason,) = explain_unassigned(problem, result.routes, result.unassigned)
    assert reason.code == "too_far"
    assert "8小时50分" in reason.detail and "行车500分钟" in reason.detail
    assert "超过每日8小时" in reason.detail


def test_time_windows_are_kept_even_when_a_longer_way_round() -> None:
    # homes on a line at 10, 20, 30 minutes from the office; the far one must be first
    xy = np.array([[10.0, 0], [20.0, 0], [30.0, 0], [0.0, 0]])
    minutes = euclid(xy)
    start = np.array([-np.inf, -np.inf, -np.inf])
    end = np.array([np.inf, np.inf, 560.0])  # visit the far home by 09:20
    problem = Problem(minutes, [0, 1, 2], 20.0, [Vehicle(3, 3, *DAY)], start, end)
    result = solve_vrp(problem, seed=0)
    (route,) = result.routes
    assert route[0] == 2 and sorted(route) == [0, 1, 2]
    schedule = problem.schedule(0, route)
    for job, begin in zip(route, schedule.begin, strict=True):
        assert problem.window_start[job] - 1e-6 <= begin <= problem.window_end[job] + 1e-6


def test_waiting_for_a_window_to_open() -> None:
    minutes = euclid(np.array([[5.0, 0], [0.0, 0]]))
    problem = Problem(minutes, [0], 30.0, [Vehicle(1, 1, *DAY)], [600.0], [660.0])
    result = solve_vrp(problem, seed=0)
    schedule = problem.schedule(0, result.routes[0])
    assert schedule.arrive[0] == pytest.approx(515.0)
    assert schedule.begin[0] == pytest.approx(600.0)  # waits from 08:35 to 10:00


def test_an_impossible_window_is_explained() -> None:
    minutes = euclid(np.array([[90.0, 0], [0.0, 0]]))  # 90 minutes away
    problem = Problem(minutes, [0], 30.0, [Vehicle(1, 1, *DAY)], [-np.inf], [540.0])
    result = solve_vrp(problem, seed=0)
    (reason,) = explain_unassigned(problem, result.routes, result.unassigned)
    assert reason.code == "window"
    assert "10:00" in reason.detail  # earliest arrival 08:30 + 90 min


def test_must_visit_homes_come_first() -> None:
    # one day fits one far home or two near ones; the far one must be visited
    xy = np.array([[100.0, 0], [10.0, 0], [12.0, 0], [0.0, 0]])
    problem = Problem(
        euclid(xy), [0, 1, 2], 60.0, [Vehicle(3, 3, DAY[0], DAY[0] + 270)],
        must_visit=[True, False, False],
    )  # fmt: skip
    result = solve_vrp(problem, seed=0)
    assert 0 in result.routes[0]
    plain = Problem(euclid(xy), [0, 1, 2], 60.0, [Vehicle(3, 3, DAY[0], DAY[0] + 270)])
    assert sorted(solve_vrp(plain, seed=0).routes[0]) == [1, 2]


def test_homes_off_the_network_are_left_out_without_breaking_the_plan() -> None:
    problem = small_problem(3)
    problem.minutes[2, :] = np.inf
    problem.minutes[:, 2] = np.inf
    problem.minutes[2, 2] = 0.0
    result = solve_vrp(problem, seed=0)
    assert 2 in result.unassigned
    off = np.zeros(problem.n_jobs, dtype=bool)
    off[2] = True
    reasons = explain_unassigned(
        problem, result.routes, result.unassigned, off_network=off,
        road_distance_m=np.full(problem.n_jobs, 7300.0), max_walk_m=5000.0,
    )  # fmt: skip
    (reason,) = [r for r in reasons if r.job == 2]
    assert reason.code == "off_network" and "7.3公里" in reason.detail


@pytest.mark.parametrize("seed", [0, 7])
def test_the_same_seed_gives_the_same_plan(seed: int) -> None:
    rng = np.random.default_rng(5)
    xy = rng.uniform(-60, 60, (41, 2))
    xy[-1] = 0
    vehicles = [Vehicle(40, 40, *DAY) for _ in range(3)]
    problem = Problem(euclid(xy), np.arange(40), 30.0, vehicles)
    first = solve_vrp(problem, seed=seed, iterations=60)
    again = solve_vrp(problem, seed=seed, iterations=60)
    assert first.routes == again.routes and first.unassigned == again.unassigned
    assert math.isclose(first.travel, again.travel)
