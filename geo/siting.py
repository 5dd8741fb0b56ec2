"""Where to put the next clinics, water points and schools, and which roads to harden: the
maximal covering location problem (Church & ReVelle 1974), with K sites or a budget.

A problem is a 0/1 cover matrix — candidate ``j`` covers demand point ``i`` (a household
within the policy's travel time of a site, or within the policy's distance of a hardened
segment) — with a weight per point (poor households weigh more, ``[siting]`` in the policy
profile) and, for a budget, a cost per candidate (km of road). No database.

Solving (:func:`solve`):

1. **Reduce.** Points covered by the same set of candidates become one point carrying their
   summed weight; points no candidate covers drop out (no choice can reach them). Candidates
   covering the same set become one class: any member does as well (reported as equivalent
   sites; with costs, only the cheapest member stands for the class).
2. **Greedy + swap.** The greedy pick (largest gain; gain per cost under a budget, or the best
   single affordable site if that is better) improved by 1-swaps until none helps. It is a
   feasible answer at once, and the start of the integer programme.
3. **Integer programme** (PuLP, HiGHS): max Σ wᵢ·yᵢ subject to yᵢ ≤ Σⱼ∋ᵢ xⱼ, Σ xⱼ ≤ K (or
   Σ costⱼ·xⱼ ≤ B), x binary, 0 ≤ y ≤ 1 (y is integral at the optimum). Time-limited; the
   solver's dual bound gives the reported optimality gap (0 when proved optimal).
4. **Alternatives.** The next-best different choices, each by re-solving with a cut that
   forbids every choice found before (Σⱼ∈S xⱼ ≤ |S| − 1).

>>> minutes = np.array([[5.0, 40, 40], [40, 5, 5], [40, 40, 5]])   # 3 sites x 3 homes
>>> result = solve(CoverProblem.from_minutes(minutes, 30, np.array([1.0, 1, 3])), count=1)
>>> result.best.sites, result.best.covered_weight, result.optimal
((1,), 4.0, True)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geo.policy import Profile, cite

EPS = 1e-9


class SitingError(ValueError):
    """A siting request that cannot be answered as asked; the message says why."""


@dataclass(frozen=True)
class SitingPolicy:
    """The ``[siting]`` section of the policy profile (geo/policy/default.toml)."""

    status_weights: Mapping[str, float] = field(
        metadata=cite("default: poor households first (issue 19); seed 002 targets the poor")
    )
    hamlet_weight: float = field(metadata=cite("seed 002 §11 (200人以上的自然村道路硬化)"))
    water_max_minutes: float = field(metadata=cite("default: no seed gives a number"))
    connect_m: float = field(metadata=cite("default: drawing error of a proposed road"))
    alternatives: int = field(metadata=cite("default"))
    time_limit_s: float = field(metadata=cite("default"))


def siting_policy(profile: Profile) -> SitingPolicy:
    """The ``[siting]`` section of ``profile``."""
    return profile.section("siting", SitingPolicy)


def household_weights(status: pd.Series, policy: SitingPolicy) -> np.ndarray:
    """Weight per household by status (a status the profile does not name weighs 1)."""
    return status.map(dict(policy.status_weights)).fillna(1.0).to_numpy(float)


@dataclass(frozen=True)
class CoverProblem:
    """``covers`` (candidates × points, boolean CSR), ``weights`` per point, optional
    ``costs`` per candidate."""

    covers: sp.csr_matrix
    weights: np.ndarray
    costs: np.ndarray | None = None

    @classmethod
    def from_minutes(
        cls, minutes: np.ndarray, limit: float, weights: np.ndarray, costs=None
    ) -> CoverProblem:
        """Candidate j covers point i when ``minutes[j, i] <= limit`` (at the limit counts)."""
        covers = sp.csr_matrix(np.asarray(minutes) <= limit + EPS)
        return cls(covers, np.asarray(weights, float), costs)

    @property
    def n_candidates(self) -> int:
        return self.covers.shape[0]

    def covered_weight(self, sites: Sequence[int]) -> float:
        if len(sites) == 0:
            return 0.0
        hit = np.asarray(self.covers[list(sites)].sum(axis=0)).ravel() > 0
        return float(self.weights[hit].sum())

    def covered_points(self, sites: Sequence[int]) -> np.ndarray:
        """Indices of the points the ``sites`` cover."""
        if len(sites) == 0:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(np.asarray(self.covers[list(sites)].sum(axis=0)).ravel() > 0)


@dataclass(frozen=True)
class Choice:
    """Sites (candidate indices) in the order they add most, the weight each adds, the total."""

    sites: tuple[int, ...]
    gains: tuple[float, ...]
    covered_weight: float
    cost: float = 0.0


@dataclass(frozen=True)
class Siting:
    """The best choice, ranked alternatives, and how sure we are of it."""

    best: Choice
    alternatives: tuple[Choice, ...]
    equivalents: dict[int, tuple[int, ...]]  # chosen site -> others covering the same points
    bound: float  # no choice covers more weight than this
    optimal: bool
    method: str  # "ip" (integer programme) or "greedy+swap"
    greedy_weight: float  # greedy + swap alone
    total_weight: float  # all points
    coverable_weight: float  # points some candidate covers
    seconds: float

    @property
    def gap(self) -> float:
        """Relative optimality gap (bound − best) / bound; 0 when proved optimal."""
        if self.optimal or self.bound <= EPS:
            return 0.0
        return max(0.0, (self.bound - self.best.covered_weight) / self.bound)


@dataclass(frozen=True)
class _Reduced:
    covers: sp.csr_matrix  # classes × groups
    weights: np.ndarray  # per group
    costs: np.ndarray  # per class (zeros without costs)
    members: list[np.ndarray]  # candidates of each class; [0] stands for it


def solve(
    problem: CoverProblem,
    *,
    count: int | None = None,
    budget: float | None = None,
    alternatives: int = 0,
    time_limit_s: float = 60.0,
    exact: bool = True,
) -> Siting:
    """Choose at most ``count`` candidates (or candidates costing at most ``budget``) that
    cover the most weight. ``exact=False`` stops after greedy + swap."""
    started = time.perf_counter()
    _check_request(problem, count, budget)
    reduced = _reduce(problem)
    start = _greedy(reduced, count, budget)
    if count is not None:
        start = _swap(reduced, start)
    greedy_weight = _weight(reduced, start)
    chosen, bound, optimal, method = start, float(reduced.weights.sum()), False, "greedy+swap"
    found: list[list[int]] = []
    if not reduced.covers.shape[0]:  # no candidate covers anything: nothing to choose
        optimal, bound = True, 0.0
    elif exact:
        chosen, bound, optimal = _solve_ip(reduced, count, budget, start, [], time_limit_s)
        method = "ip"
        if _weight(reduced, chosen) < greedy_weight - EPS:  # a time-limited solver
            chosen = start
    found.append(chosen)
    ranked = []
    for _ in range(alternatives if exact else 0):
        if not reduced.covers.shape[0]:
            break
        nxt, _, _ = _solve_ip(reduced, count, budget, None, found, time_limit_s)
        if not nxt or _weight(reduced, nxt) <= EPS:
            break
        found.append(nxt)
        ranked.append(_choice(problem, reduced, nxt))
    best = _choice(problem, reduced, chosen)
    if optimal:
        bound = best.covered_weight
    return Siting(
        best=best,
        alternatives=tuple(ranked),
        equivalents={
            int(reduced.members[c][0]): tuple(int(m) for m in reduced.members[c][1:])
            for c in chosen
            if len(reduced.members[c]) > 1 and problem.costs is None
        },
        bound=bound,
        optimal=optimal,
        method=method,
        greedy_weight=greedy_weight,
        total_weight=float(problem.weights.sum()),
        coverable_weight=float(reduced.weights.sum()),
        seconds=time.perf_counter() - started,
    )


def _check_request(problem: CoverProblem, count, budget) -> None:
    if (count is None) == (budget is None):
        raise SitingError("give a number of sites or a budget, not both")
    if count is not None:
        if count < 1:
            raise SitingError(f"the number of sites must be at least 1, got {count}")
        if count > problem.n_candidates:
            raise SitingError(
                f"{count} sites asked for but only {problem.n_candidates} candidate site(s)"
            )
    if budget is not None:
        if problem.costs is None:
            raise SitingError("a budget needs a cost per candidate")
        if not budget > 0:
            raise SitingError(f"the budget must be more than 0, got {budget}")


# --- reduction --------------------------------------------------------------------------


def _reduce(problem: CoverProblem) -> _Reduced:
    covers = sp.csr_matrix(problem.covers, dtype=bool)
    covers.eliminate_zeros()
    cols = covers.T.tocsr()  # points × candidates
    cols.sort_indices()
    keys = _row_keys(cols)
    point_frame = pd.DataFrame({"key": keys, "w": problem.weights})
    point_frame = point_frame.loc[np.array([len(k) > 0 for k in keys], dtype=bool)]
    groups = point_frame.groupby("key", sort=False)
    group_of = groups.ngroup().to_numpy()
    weights = groups.w.sum().to_numpy(float)
    points = point_frame.index.to_numpy()
    # candidates × groups
    sub = covers[:, points].tocoo()
    grouped = sp.csr_matrix(
        (np.ones(sub.nnz, dtype=bool), (sub.row, group_of[sub.col])),
        shape=(covers.shape[0], len(weights)),
    )
    grouped.sum_duplicates()
    grouped.sort_indices()
    costs = np.zeros(covers.shape[0]) if problem.costs is None else np.asarray(problem.costs, float)
    row_keys = _row_keys(grouped)
    frame = pd.DataFrame({"key": row_keys, "cost": costs, "cand": np.arange(len(costs))})
    frame = frame.loc[np.array([len(k) > 0 for k in row_keys], dtype=bool)].sort_values(
        ["cost", "cand"], kind="stable"
    )
    members = [g.cand.to_numpy() for _, g in frame.groupby("key", sort=False)]
    members.sort(key=lambda m: m[0])
    heads = np.array([m[0] for m in members], dtype=np.int64)
    return _Reduced(
        covers=grouped[heads] if len(heads) else sp.csr_matrix((0, len(weights)), dtype=bool),
        weights=weights,
        costs=costs[heads] if len(heads) else np.zeros(0),
        members=members,
    )


def _row_keys(matrix: sp.csr_matrix) -> list[bytes]:
    """The column indices of each row (sorted), as a hashable key."""
    ind, ptr = matrix.indices, matrix.indptr
    return [ind[ptr[i] : ptr[i + 1]].tobytes() for i in range(matrix.shape[0])]


def _weight(reduced: _Reduced, classes: Sequence[int]) -> float:
    if not classes:
        return 0.0
    hit = np.asarray(reduced.covers[list(classes)].sum(axis=0)).ravel() > 0
    return float(reduced.weights[hit].sum())


def _choice(problem: CoverProblem, reduced: _Reduced, classes: Sequence[int]) -> Choice:
    """Sites of ``classes`` in greedy order of what each adds to the ones before."""
    order, gains, left = [], [], list(classes)
    uncovered = np.ones(len(reduced.weights), dtype=bool)
    while left:
        gain = reduced.covers[left] @ (reduced.weights * uncovered)
        pick = int(np.argmax(gain))
        if gain[pick] <= EPS:  # the rest add nothing: not worth building
            break
        cls = left.pop(pick)
        order.append(cls)
        gains.append(float(gain[pick]))
        uncovered &= ~reduced.covers[cls].toarray().ravel()
    sites = tuple(int(reduced.members[c][0]) for c in order)
    cost = float(sum(reduced.costs[c] for c in order))
    return Choice(sites, tuple(gains), problem.covered_weight(sites), cost)


# --- greedy and swap --------------------------------------------------------------------


def _greedy(reduced: _Reduced, count: int | None, budget: float | None) -> list[int]:
    m = reduced.covers.shape[0]
    chosen: list[int] = []
    uncovered = np.ones(len(reduced.weights), dtype=bool)
    spent = 0.0
    available = np.ones(m, dtype=bool)
    while m and (count is None or len(chosen) < count):
        gain = reduced.covers @ (reduced.weights * uncovered)
        if budget is not None:
            available &= reduced.costs <= budget - spent + EPS
            score = np.where(available, gain / np.maximum(reduced.costs, EPS), -np.inf)
        else:
            score = np.where(available, gain, -np.inf)
        pick = int(np.argmax(score))
        if not np.isfinite(score[pick]) or gain[pick] <= EPS:
            break
        chosen.append(pick)
        available[pick] = False
        spent += reduced.costs[pick]
        uncovered &= ~reduced.covers[pick].toarray().ravel()
    if budget is not None:  # the best single affordable site may beat the ratio greedy
        gain = reduced.covers @ reduced.weights
        gain = np.where(reduced.costs <= budget + EPS, gain, -np.inf)
        if m and gain.max() > _weight(reduced, chosen) + EPS:
            chosen = [int(np.argmax(gain))]
    return chosen


def _swap(reduced: _Reduced, chosen: list[int], max_rounds: int = 1000) -> list[int]:
    """Best 1-swaps (one chosen site out, another in) while one adds weight."""
    chosen = list(chosen)
    a = reduced.covers.astype(np.float64)
    w = reduced.weights
    for _ in range(max_rounds):
        if not chosen:
            return chosen
        times = np.asarray(a[chosen].sum(axis=0)).ravel()
        base = a @ (w * (times == 0))  # what each candidate adds now
        only = a[chosen].multiply(w * (times == 1)).tocsr()  # weight only that site covers
        loss = np.asarray(only.sum(axis=1)).ravel()
        regain = (a @ only.T).toarray()  # candidates × chosen: lost weight they cover too
        delta = base[:, None] + regain - loss[None, :]
        delta[chosen, :] = -np.inf
        t, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[t, s] <= EPS:
            return chosen
        chosen[s] = int(t)
    return chosen


# --- the integer programme --------------------------------------------------------------


def _solve_ip(
    reduced: _Reduced,
    count: int | None,
    budget: float | None,
    start: list[int] | None,
    forbidden: list[list[int]],
    time_limit_s: float,
) -> tuple[list[int], float, bool]:
    """(chosen classes, upper bound, proved optimal) of the MCLP over ``reduced``."""
    import pulp

    _quiet_banner()
    m, n = reduced.covers.shape
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [prob.add_variable(f"x{j}", cat=pulp.LpBinary) for j in range(m)]
    y = [prob.add_variable(f"y{g}", 0, 1) for g in range(n)]
    prob += pulp.lpDot(reduced.weights.tolist(), y)
    by_group = reduced.covers.T.tocsr()
    for g in range(n):
        who = by_group.indices[by_group.indptr[g] : by_group.indptr[g + 1]]
        prob += y[g] <= pulp.lpSum(x[j] for j in who)
    if count is not None:
        prob += pulp.lpSum(x) <= count
    else:
        prob += pulp.lpDot(reduced.costs.tolist(), x) <= budget
    for chosen in forbidden:  # drop at least one of a choice found before, add another
        prob += pulp.lpSum(x[j] for j in chosen) <= len(chosen) - 1
        prob += pulp.lpSum(x[j] for j in range(m) if j not in set(chosen)) >= 1
    if start is not None:
        _warm_start(reduced, x, y, start)
    solver = pulp.HiGHS(
        msg=False, timeLimit=time_limit_s, gapRel=0.0, gapAbs=1e-7, warmStart=start is not None
    )
    prob.solve(solver)
    highs = prob.solverModel
    proved = highs.getModelStatus().name == "kOptimal"
    solution = highs.getSolution()
    chosen = []
    if solution.value_valid:  # an incumbent (also after a time limit)
        values = solution.col_value
        chosen = [j for j in range(m) if values[x[j].index] > 0.5]
    if proved:
        return chosen, _weight(reduced, chosen), True
    dual = abs(float(highs.getInfo().mip_dual_bound))
    bound = dual if np.isfinite(dual) and dual > 0 else float(reduced.weights.sum())
    return chosen, bound, False


def _warm_start(reduced: _Reduced, x, y, start: list[int]) -> None:
    hit = np.asarray(reduced.covers[start].sum(axis=0)).ravel() > 0 if start else None
    picked = set(start)
    for j, var in enumerate(x):
        var.setInitialValue(1 if j in picked else 0)
    for g, var in enumerate(y):
        var.setInitialValue(1 if hit is not None and hit[g] else 0)


_BANNER_SHOWN = False


def _quiet_banner() -> None:
    """HiGHS prints its banner on stdout when the first solver of a process is made, before
    any option can silence it; make that first one with stdout pointed at /dev/null."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN = True
