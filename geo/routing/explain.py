"""Why a household could not be fitted into the plan: one reason per household, with numbers.

Checked in this order (the first that applies is the reason):

============== ==========================================================================
code           when
============== ==========================================================================
off_network    the home is farther than the walking limit from every road
no_road_link   no road connects it with any inspector's start and end
too_far        even alone, the round trip and the visit take longer than the working day
window         its time window cannot be met by any inspector-day, even alone
no_room        it fits on its own, but every day is full: the cheapest place to put it
               would overrun the day (or a later visit's window) by the minutes given
============== ==========================================================================

>>> import numpy as np
>>> from geo.routing.vrp import Problem, Vehicle
>>> m = np.array([[0, 300.0], [300.0, 0]])           # 5 hours each way
>>> p = Problem(m, [0], 30.0, [Vehicle(1, 1, 510, 990)])
>>> explain_unassigned(p, [[]], [0])[0].code
'too_far'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geo.routing.policy import clock
from geo.routing.vrp import EPS, Problem

REASONS: dict[str, str] = {
    "off_network": "离道路过远",
    "no_road_link": "道路不通",
    "too_far": "单独往返超出工作时长",
    "window": "时间窗无法满足",
    "no_room": "各工作日已排满",
}


@dataclass(frozen=True)
class Unfitted:
    """A job left out: the reason code, its label and a sentence with the numbers."""

    job: int
    code: str
    detail: str
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return REASONS[self.code]


def explain_unassigned(
    problem: Problem,
    routes: list[list[int]],
    unassigned: list[int],
    *,
    road_distance_m: np.ndarray | None = None,
    max_walk_m: float | None = None,
    off_network: np.ndarray | None = None,
    vehicle_names: list[str] | None = None,
) -> list[Unfitted]:
    """The reason of every job in ``unassigned`` (see the module docstring).

    ``off_network`` (per job) marks homes beyond walking reach of every road, and
    ``road_distance_m`` and ``max_walk_m`` give the numbers of the sentence (default: a home
    that reaches no other location is off the network); ``vehicle_names`` name the
    inspector-days in the sentences.
    """
    names = vehicle_names or [f"第{v + 1}组" for v in range(len(problem.vehicles))]
    if off_network is None:
        m = problem.minutes
        off_network = np.array(
            [np.all(~np.isfinite(np.delete(m[loc], loc))) for loc in problem.job_location]
        )
    return [
        _explain(problem, routes, j, bool(off_network[j]), road_distance_m, max_walk_m, names)
        for j in unassigned
    ]


def _explain(problem, routes, j, off_network, road_distance_m, max_walk_m, names) -> Unfitted:
    loc = int(problem.job_location[j])
    m = problem.minutes
    if off_network:
        distance = float(road_distance_m[j]) if road_distance_m is not None else float("nan")
        limit = max_walk_m if max_walk_m is not None else float("nan")
        return Unfitted(
            j,
            "off_network",
            f"距最近道路{distance / 1000:.1f}公里，超过步行上限{limit / 1000:.1f}公里",
            {"road_distance_m": distance, "max_walk_m": limit},
        )
    linked = [
        v
        for v, veh in enumerate(problem.vehicles)
        if np.isfinite(m[veh.start, loc]) and np.isfinite(m[loc, veh.end])
    ]
    if not linked:
        return Unfitted(j, "no_road_link", "与各督查员的出发地之间没有连通的道路")
    service = float(problem.service[j])
    alone = {v: _alone(problem, v, j, windows=False) for v in linked}
    v_best = min(alone, key=lambda v: alone[v][0] - problem.vehicles[v].latest)
    finish, drive = alone[v_best]
    veh = problem.vehicles[v_best]
    if finish > veh.latest + EPS:
        hours = (veh.latest - veh.earliest) / 60
        return Unfitted(
            j,
            "too_far",
            f"单独往返需{_hm(drive + service)}（行车{drive:.0f}分钟＋走访{service:.0f}分钟），"
            f"超过每日{hours:g}小时",
            {"round_trip_min": drive + service, "day_min": veh.latest - veh.earliest},
        )
    if not any(problem.schedule(v, [j]).feasible for v in linked):
        return _window_reason(problem, j, linked)
    return _no_room(problem, routes, j, names)


def _alone(problem: Problem, v: int, j: int, windows: bool) -> tuple[float, float]:
    """(back at the end, driving minutes) of vehicle v serving only j, windows ignored."""
    veh = problem.vehicles[v]
    loc = problem.job_location[j]
    there, back = problem.minutes[veh.start, loc], problem.minutes[loc, veh.end]
    return veh.earliest + there + problem.service[j] + back, there + back


def _window_reason(problem: Problem, j: int, linked: list[int]) -> Unfitted:
    loc = problem.job_location[j]
    lo, hi = problem.window_start[j], problem.window_end[j]
    window = f"{clock(lo) if np.isfinite(lo) else '—'}–{clock(hi) if np.isfinite(hi) else '—'}"
    earliest = min(problem.vehicles[v].earliest + problem.minutes[problem.vehicles[v].start, loc]
                   for v in linked)  # fmt: skip
    if np.isfinite(hi) and earliest > hi + EPS:
        return Unfitted(
            j,
            "window",
            f"时间窗{window}：从出发地最早{clock(earliest)}才能到达",
            {"earliest_arrival_min": earliest, "window_end_min": hi},
        )
    latest_back = max(problem.vehicles[v].latest for v in linked)
    return Unfitted(
        j,
        "window",
        f"时间窗{window}：走访后无法在{clock(latest_back)}前返回",
        {"window_start_min": lo, "latest_min": latest_back},
    )


def _no_room(problem: Problem, routes: list[list[int]], j: int, names: list[str]) -> Unfitted:
    """The cheapest insertion over all days and the minutes it overruns by."""
    best = (np.inf, -1, 0)
    for v, route in enumerate(routes):
        for i in range(len(route) + 1):
            over = _overrun(problem, v, [*route[:i], j, *route[i:]])
            if over < best[0]:
                best = (over, v, i)
    over, v, i = best
    if v < 0:  # pragma: no cover - at least one linked vehicle exists
        return Unfitted(j, "no_room", "各工作日均已排满")
    after = f"第{i}站之后" if i else "出发后第一站"
    return Unfitted(
        j,
        "no_room",
        f"最省的安排（{names[v]}，{after}）仍超出{over:.0f}分钟",
        {"overrun_min": float(over), "vehicle": float(v), "position": float(i)},
    )


def _overrun(problem: Problem, v: int, jobs: list[int]) -> float:
    """Minutes by which the route breaks its latest window or the end of the day (0: fits)."""
    schedule = problem.schedule(v, jobs)
    late = [b - problem.window_end[k] for k, b in zip(jobs, schedule.begin, strict=True)]
    late.append(schedule.finish - problem.vehicles[v].latest)
    return max(0.0, *late)


def _hm(minutes: float) -> str:
    hours, rest = divmod(round(minutes), 60)
    return f"{hours}小时{rest:02d}分" if hours else f"{rest}分钟"
