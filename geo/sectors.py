"""Balanced, contiguous and compact sectors (分组包片) for a township's work group.

Seed 004 asks each township work group to divide its scattered poor households among its
members; seeds 003/004: every household a cadre. Here each member gets a run of hamlets
(自然村) and their households such that

* **balanced**: every member's share of the N households is within ±10 % of the mean N/k,
  or ⌊N/k⌋ / ⌈N/k⌉ when no whole number is (:func:`allowed_sizes`); a hamlet larger than
  one share is split between members;
* **contiguous**: a member's hamlets are connected in the hamlet graph (two hamlets are
  neighbours when their Voronoi cells touch: the Delaunay triangulation of the hamlets that
  have households);
* **compact by travel**: members' households follow the road network out from the seat.

The method, deterministic (no random numbers, ties broken by hamlet id):

1. travel minutes between the seat and every hamlet along the roads (``geo.routing.matrix``:
   walk to the road, drive at each road's speed, walk to the door);
2. the **tree of least detour** of the hamlet graph from the hamlet nearest the seat: each
   hamlet hangs from the neighbour on its way from the seat — branches follow the roads;
3. the tree's **Euler tour** (a walk that goes down every branch and comes back), with each
   hamlet's households shared among its visits: consecutive visits are neighbours, so any
   run of the tour is a connected set of hamlets;
4. the tour's households cut into k runs of allowed sizes (±10 %, or ⌊N/k⌋/⌈N/k⌉), each a
   connected set of hamlets, with the least total travel (dynamic programming over the cut
   points); a hamlet's households go mostly at its first (or last) visit, one at each other
   visit, and of the two the sequence with less travel is kept;
5. members matched to runs so that as many current pairings as possible stay
   (``scipy.optimize.linear_sum_assignment``): a proposal, not a reshuffle.

Travel is measured two ways, both along the roads: a member's **round trip** (from the seat
through every hamlet of the sector and back, a TSP over the road matrix) and, per household,
the minutes from the seat to reach it on its member's round (**arrival**). The cut minimises
the members' round trips (a far hamlet costs its detour however few households it adds).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import Delaunay

#: A small share of the plain minutes in the tree's edge weights: among routes without
#: detour, the tree prefers short hops between neighbours.
TREE_EDGE_WEIGHT = 0.01
#: The balance the proposal guarantees and the report checks (seed 004 asks for fair shares).
BALANCE_TOLERANCE = 0.10


class SectorError(ValueError):
    """Inputs that cannot be divided (no members, no households, …)."""


# --- the hamlet graph and the travel matrix ------------------------------------------------------


def hamlet_graph(xy: np.ndarray) -> list[set[int]]:
    """Neighbours of each hamlet (metric x/y): Delaunay edges, i.e. touching Voronoi cells.

    >>> g = hamlet_graph(np.array([[0, 0], [1, 0], [0, 1], [5, 5]], float))
    >>> [sorted(n) for n in g]
    [[1, 2], [0, 2, 3], [0, 1, 3], [1, 2]]
    """
    n = len(xy)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    if n <= 3 or _collinear(xy):
        order = np.lexsort((xy[:, 1], xy[:, 0])) if n else []
        for a, b in itertools.pairwise(order):  # a chain along the points
            neighbours[a].add(int(b))
            neighbours[b].add(int(a))
        if n == 3 and not _collinear(xy):
            for a in range(3):
                neighbours[a] |= {b for b in range(3) if b != a}
        return neighbours
    for simplex in Delaunay(xy).simplices:
        for a in simplex:
            neighbours[a] |= {int(b) for b in simplex if b != a}
    return neighbours


def _collinear(xy: np.ndarray) -> bool:
    if len(xy) < 3:
        return True
    centred = xy - xy.mean(axis=0)
    return np.linalg.matrix_rank(centred, tol=1e-6 * max(1.0, np.abs(centred).max())) < 2


def is_connected(hamlets: Iterable[int], neighbours: Sequence[set[int]]) -> bool:
    """True when ``hamlets`` form one connected piece of the hamlet graph."""
    todo = set(hamlets)
    if not todo:
        return True
    stack = [next(iter(sorted(todo)))]
    seen = {stack[0]}
    while stack:
        for nb in neighbours[stack.pop()]:
            if nb in todo and nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return seen == todo


# --- the proposal ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SectorProblem:
    """Hamlets 0..n-1 (with household counts), the road minutes between the seat (row/column
    0) and the hamlets (1..n), the hamlet graph, the members and the current pairings."""

    households: pd.DataFrame  # id, hamlet (0..n-1), cadre_id (current, may be NA)
    minutes: np.ndarray  # (n+1, n+1), the seat first; finite
    neighbours: list[set[int]]
    members: list[int]  # cadre ids, in roster order

    @property
    def n_hamlets(self) -> int:
        return len(self.neighbours)


def propose(problem: SectorProblem) -> dict[int, int]:
    """household id → member's cadre id (see the module docstring for the method)."""
    if not problem.members:
        raise SectorError("the work group has no members to share the households")
    if problem.households.empty:
        raise SectorError("no households to share")
    travel = _TravelCache(problem)
    best = None
    for crumbs, bulk_last in ((False, False), (True, False), (True, True)):
        sequence = _tour_sequence(problem, bulk_last, crumbs)
        cost, runs = _cut(sequence, len(problem.members), travel)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, runs)
    runs = best[1]
    chosen = _match_members(problem, runs)
    return {hid: member for run, member in zip(runs, chosen, strict=True) for hid, _ in run}


def allowed_sizes(households: int, members: int) -> list[int]:
    """Households a member may get: within ±10 % of the mean, and always ⌊N/k⌋ and ⌈N/k⌉
    (whole households: with 8.95 per member, 8 is 10.6 % below and still the fairest).

    >>> allowed_sizes(414, 46), allowed_sizes(1155, 129), allowed_sizes(2000, 40)
    ([9], [8, 9], [45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55])
    """
    mean = households / members
    low = int(np.ceil(mean * (1 - BALANCE_TOLERANCE) - 1e-9))
    high = int(np.floor(mean * (1 + BALANCE_TOLERANCE) + 1e-9))
    sizes = set(range(low, high + 1)) | {households // members, -(-households // members)}
    return sorted(x for x in sizes if x > 0)


class _TravelCache:
    """A run's cost: its member's round trip from the seat through its hamlets (minutes);
    inf when the run's hamlets are not connected. Cached per set of hamlets."""

    def __init__(self, problem: SectorProblem) -> None:
        self.problem = problem
        self.cache: dict[frozenset, float] = {}

    def __call__(self, hamlets: Sequence[int]) -> float:
        key = frozenset(hamlets)
        cost = self.cache.get(key)
        if cost is None:
            connected = is_connected(key, self.problem.neighbours)
            cost = sector_travel(self.problem, set(key)) if connected else np.inf
            self.cache[key] = cost
        return cost


def _cut(sequence: list[tuple[int, int]], k: int, travel: _TravelCache):
    """Cut the household sequence into k runs of allowed sizes, each a connected set of
    hamlets, with the least total travel (dynamic programming over the cut points)."""
    n = len(sequence)
    sizes = allowed_sizes(n, k)
    hamlet = [h for _, h in sequence]
    best = [dict() for _ in range(k + 1)]  # runs used -> {position: (cost, previous)}
    best[0][0] = (0.0, -1)
    for j in range(k):
        for p in sorted(best[j]):
            base = best[j][p][0]
            for size in sizes:
                q = p + size
                if q > n or (n - q) < (k - j - 1) * sizes[0] or (n - q) > (k - j - 1) * sizes[-1]:
                    continue
                cost = base + travel(hamlet[p:q])
                if q not in best[j + 1] or cost < best[j + 1][q][0] - 1e-9:
                    best[j + 1][q] = (cost, p)
    if n not in best[k] or not np.isfinite(best[k][n][0]):
        return _cut_evenly(sequence, k, travel)
    runs, q = [], n
    for j in range(k, 0, -1):
        p = best[j][q][1]
        runs.append(sequence[p:q])
        q = p
    return best[k][n][0], runs[::-1]


def _cut_evenly(sequence, k: int, travel: _TravelCache):
    """Fallback when no cut keeps every run connected: ⌈N/k⌉ runs first, then ⌊N/k⌋."""
    n = len(sequence)
    runs, at = [], 0
    for i in range(k):
        size = n // k + (1 if i < n % k else 0)
        runs.append(sequence[at : at + size])
        at += size
    return sum(travel([h for _, h in run]) for run in runs), runs


def _tree(problem: SectorProblem) -> tuple[int, list[list[int]]]:
    """Root (the hamlet nearest the seat) and children of the tree of least detour: each
    hamlet hangs from the neighbour by way of which the seat reaches it with the least
    detour (Dijkstra over the hamlet graph, edge a→b weighted by seat→a→b minus seat→b)."""
    n = problem.n_hamlets
    d = problem.minutes[1:, 1:]
    seat = problem.minutes[0, 1:]
    rows, cols, data = [], [], []
    for a, nbs in enumerate(problem.neighbours):
        for b in nbs:  # a → b costs the detour of reaching b by way of a
            rows.append(a)
            cols.append(b)
            detour = max(0.0, float(seat[a] + d[a, b] - seat[b]))
            data.append(detour + TREE_EDGE_WEIGHT * float(d[a, b]) + 1e-9)
    graph = csr_matrix((data, (rows, cols)), shape=(n, n))
    root = int(np.lexsort((np.arange(n), seat))[0])
    _, parent = dijkstra(graph, directed=True, indices=root, return_predecessors=True)
    children: list[list[int]] = [[] for _ in range(n)]
    for h in range(n):
        if h != root and parent[h] >= 0:
            children[parent[h]].append(h)
    orphans = [h for h in range(n) if h != root and parent[h] < 0]  # a graph is connected
    children[root] += orphans  # (Delaunay), but keep any stray hamlet
    seat = problem.minutes[0, 1:]
    for kids in children:
        kids.sort(key=lambda h: (seat[h], h))  # nearest branch first
    return root, children


def _tour_sequence(
    problem: SectorProblem, bulk_last: bool, crumbs: bool = True
) -> list[tuple[int, int]]:
    """The Euler tour's households as [(household, hamlet)]: with ``crumbs`` each visit of a
    hamlet but one leaves one household (a breadcrumb that keeps the tour's runs connected),
    the bulk goes at its first visit or, with ``bulk_last``, at its last. Without, a hamlet's
    households all go at its first visit (the tree's pre-order: runs stay whole hamlets more
    often, and the cut keeps only those that are connected in the hamlet graph)."""
    root, children = _tree(problem)
    visits = _euler_tour(root, children)
    homes = problem.households.sort_values(["hamlet", "id"])
    left = {h: list(g["id"]) for h, g in homes.groupby("hamlet")}
    remaining = {h: visits.count(h) for h in set(visits)}
    bulk_at = {}
    for i, h in enumerate(visits):
        if h not in bulk_at or bulk_last:
            bulk_at[h] = i
    sequence: list[tuple[int, int]] = []
    for i, h in enumerate(visits):
        ids = left.get(h, [])
        remaining[h] -= 1
        if not crumbs:
            take = len(ids)
        elif i == bulk_at[h]:
            take = max(len(ids) - remaining[h], min(1, len(ids)))  # leave one per later visit
        else:
            take = min(1, len(ids))
        sequence += [(hid, h) for hid in ids[:take]]
        left[h] = ids[take:]
    return sequence


def _euler_tour(root: int, children: list[list[int]]) -> list[int]:
    tour = [root]
    stack = [(root, iter(children[root]))]
    while stack:
        _node, kids = stack[-1]
        child = next(kids, None)
        if child is None:
            stack.pop()
            if stack:
                tour.append(stack[-1][0])
            continue
        tour.append(child)
        stack.append((child, iter(children[child])))
    return tour


def _match_members(problem: SectorProblem, runs: list[list[tuple[int, int]]]) -> list[int]:
    """Member for each run, keeping the most current pairings (ties: roster order)."""
    members = problem.members
    current = dict(zip(problem.households["id"], problem.households["cadre_id"], strict=True))
    index = {m: i for i, m in enumerate(members)}
    overlap = np.zeros((len(runs), len(members)))
    for r, run in enumerate(runs):
        for hid, _ in run:
            m = current.get(hid)
            if m is not None and not pd.isna(m) and int(m) in index:
                overlap[r, index[int(m)]] += 1
    rows, cols = linear_sum_assignment(-overlap)
    chosen = [members[0]] * len(runs)
    for r, c in zip(rows, cols, strict=True):
        chosen[r] = members[c]
    return chosen


# --- measuring a division (ours, k-means, the current one) ------------------------------------


def sector_travel(problem: SectorProblem, hamlets: set[int]) -> float:
    """Minutes of one round from the seat through every hamlet of a sector and back: exact
    up to five hamlets, else nearest neighbour improved by 2-opt (deterministic)."""
    if not hamlets:
        return 0.0
    stops = [0] + [h + 1 for h in sorted(hamlets)]
    d = problem.minutes[np.ix_(stops, stops)]
    d = (d + d.T) / 2
    if len(stops) <= 6:
        return min(
            float(sum(d[a, b] for a, b in itertools.pairwise((0, *order, 0))))
            for order in itertools.permutations(range(1, len(stops)))
        )
    return _two_opt(d)


def _two_opt(d: np.ndarray) -> float:
    n = len(d)
    tour, todo = [0], set(range(1, n))
    while todo:
        nxt = min(todo, key=lambda j: (d[tour[-1], j], j))
        tour.append(nxt)
        todo.remove(nxt)
    tour.append(0)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b, c, e = tour[i - 1], tour[i], tour[j], tour[j + 1]
                if d[a, c] + d[b, e] < d[a, b] + d[c, e] - 1e-9:
                    tour[i : j + 1] = tour[i : j + 1][::-1]
                    improved = True
    return float(sum(d[a, b] for a, b in itertools.pairwise(tour)))


def arrival_minutes(problem: SectorProblem, households_per_hamlet: Mapping[int, int]) -> float:
    """Sum over a sector's households of the minutes from the seat to reach them on the
    member's round: the hamlets in the order (exact up to five) that reaches the households
    soonest. A single hamlet: its households times the drive from the seat."""
    if not households_per_hamlet:
        return 0.0
    d = problem.minutes
    hamlets = sorted(households_per_hamlet)
    best = np.inf
    orders = itertools.permutations(hamlets) if len(hamlets) <= 5 else [_nearest_order(d, hamlets)]
    for order in orders:
        clock, total, at = 0.0, 0.0, 0
        for h in order:
            clock += d[at, h + 1]
            total += clock * households_per_hamlet[h]
            at = h + 1
            if total >= best:
                break
        best = min(best, total)
    return float(best)


def _nearest_order(d: np.ndarray, hamlets: list[int]) -> list[int]:
    order, at, todo = [], 0, set(hamlets)
    while todo:
        nxt = min(todo, key=lambda h: (d[at, h + 1], h))
        order.append(nxt)
        todo.remove(nxt)
        at = nxt + 1
    return order


def road_minutes(
    hamlet_xy: np.ndarray, seat_xy: np.ndarray, roads, profile, crs, dem_path=None
) -> np.ndarray:
    """Door-to-door minutes between the seat (first) and the hamlets (metric x/y in ``crs``)
    along the roads (``geo.routing.matrix``, the inspectors' travel model). A pair the roads
    do not join is walked in a straight line."""
    from geo.access import Walker
    from geo.network import build_network
    from geo.routing.matrix import stop_matrix

    xy = np.vstack([np.asarray(seat_xy, float).reshape(1, 2), np.asarray(hamlet_xy, float)])
    walker = Walker.from_policy(profile.walk, dem_path, crs)
    minutes = stop_matrix(build_network(roads, profile.network, crs=crs), walker, xy).minutes
    walk = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / (
        Walker(profile.walk.speed_kmh).metres_per_minute
    )
    return np.where(np.isfinite(minutes), minutes, walk)


@dataclass(frozen=True)
class DivisionReport:
    """How a division of the households among the members measures up."""

    name: str
    sectors: pd.DataFrame  # member, households, hamlets, contiguous, travel_min, arrival_min
    mean: float

    @property
    def max_imbalance_pct(self) -> float:
        return float((self.sectors["households"] - self.mean).abs().max() / self.mean * 100)

    @property
    def all_contiguous(self) -> bool:
        return bool(self.sectors["contiguous"].all())

    @property
    def mean_travel_min(self) -> float:
        """Mean over the households of the minutes from the seat to reach them on their
        member's round (the bench's "mean travel minutes from the seat")."""
        return float(self.sectors["arrival_min"].sum() / max(1, self.sectors["households"].sum()))

    @property
    def mean_round_trip_min(self) -> float:
        return float(self.sectors["travel_min"].mean())

    @property
    def total_travel_min(self) -> float:
        return float(self.sectors["travel_min"].sum())

    @property
    def balanced(self) -> bool:
        return self.max_imbalance_pct <= BALANCE_TOLERANCE * 100 + 1e-9


def evaluate(problem: SectorProblem, assignment: Mapping[int, int], name: str) -> DivisionReport:
    """Per member: households, hamlets, contiguity, travel; households without a member (or
    with someone outside the group) count as a sector of their own named None."""
    hamlet_of = dict(zip(problem.households["id"], problem.households["hamlet"], strict=True))
    groups: dict[int | None, list[int]] = {m: [] for m in problem.members}
    for hid in problem.households["id"]:
        m = assignment.get(hid)
        key = int(m) if m is not None and not pd.isna(m) and int(m) in groups else None
        groups.setdefault(key, []).append(hid)
    rows = []
    for member, ids in groups.items():
        hamlets = {hamlet_of[h] for h in ids}
        rows.append(
            {
                "member": member,
                "households": len(ids),
                "hamlets": len(hamlets),
                "contiguous": is_connected(hamlets, problem.neighbours),
                "travel_min": sector_travel(problem, hamlets),
                "arrival_min": arrival_minutes(problem, Counter(hamlet_of[h] for h in ids)),
            }
        )
    frame = pd.DataFrame(rows)
    return DivisionReport(name, frame, len(problem.households) / len(problem.members))


def kmeans_division(problem: SectorProblem, xy: np.ndarray) -> dict[int, int]:
    """The peer: k-means (k = members) on the households' metric x/y, clusters matched to
    members like ours. Deterministic (seeded k-means++)."""
    from scipy.cluster.vq import kmeans2

    k = len(problem.members)
    _, labels = kmeans2(np.asarray(xy, float), k, seed=np.random.default_rng(0), minit="++")
    ids = problem.households["id"].to_numpy()
    hamlets = problem.households["hamlet"].to_numpy()
    runs = [list(zip(ids[labels == c], hamlets[labels == c], strict=True)) for c in range(k)]
    chosen = _match_members(problem, runs)
    return {int(hid): m for run, m in zip(runs, chosen, strict=True) for hid, _ in run}
