"""The travelling-salesman core: Or-opt and 2-opt local search inside an iterated local search.

:func:`solve_tsp` orders the nodes of a symmetric cost matrix into a closed tour of least
cost. It is the solver core of the route planner (``geo.routing.vrp`` polishes every day's
route with it) and what ``bench/routes_quality.py`` measures on TSPLIB instances.

* **Start**: a greedy nearest-neighbour tour, or the tour given (e.g. VROOM's).
* **Local search** (first improvement, neighbour lists of the ``neighbours`` nearest nodes,
  don't-look bits): 2-opt (reverse a path) and Or-opt (move a path of 1–3 nodes elsewhere,
  either way round).
* **Perturbation**: a local double bridge (three short consecutive paths swapped), drawn from
  a ``random.Random(seed)``; the local search then repairs only around the four new edges.
* **Acceptance**: the new tour when it is no worse than the current one; the current one is
  reset to the best after ``restart_after`` kicks without improvement.

The number of kicks is fixed by ``iterations`` (default :func:`default_iterations`), so the
same matrix and seed give the same tour on every machine; ``time_limit`` is a safety cap only
(if it stops the search, the result may differ between machines).

>>> import numpy as np
>>> xy = np.array([(0, 0), (0, 10), (10, 10), (10, 0), (5, -1)])
>>> d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).T)
>>> result = solve_tsp(d, seed=1)
>>> sorted(result.tour), round(result.cost, 3)
([0, 1, 2, 3, 4], 40.198)
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SEGMENT = 3  # Or-opt moves paths of 1 to 3 nodes


@dataclass(frozen=True)
class TspResult:
    """A closed tour (node indices, starting at node 0) and its cost."""

    tour: list[int]
    cost: float
    iterations: int
    seconds: float


def default_iterations(n: int) -> int:
    """Kicks of the iterated local search for ``n`` nodes (about 1 s for 130 nodes)."""
    return int(min(max(15 * n, 1000), 1500))


def tour_cost(d: np.ndarray, tour: Sequence[int]) -> float:
    """Cost of the closed tour (back to its first node)."""
    t = np.asarray(tour)
    return float(np.asarray(d)[t, np.roll(t, -1)].sum())


def solve_tsp(
    d: np.ndarray,
    *,
    seed: int = 0,
    iterations: int | None = None,
    initial: Sequence[int] | None = None,
    neighbours: int = 10,
    time_limit: float | None = None,
) -> TspResult:
    """Closed tour of least cost through every node of the symmetric matrix ``d``.

    ``initial`` is a starting tour (any rotation); ``iterations`` the number of kicks
    (default :func:`default_iterations`). Deterministic for a given ``seed``.
    """
    started = time.perf_counter()
    d = np.asarray(d, dtype=float)
    n = len(d)
    if d.shape != (n, n):
        raise ValueError(f"cost matrix must be square, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("cost matrix has infinite or missing entries")
    if n <= 3:
        tour = list(range(n))
        return TspResult(tour, tour_cost(d, tour) if n else 0.0, 0, 0.0)
    search = _Search(d, neighbours, random.Random(seed))
    tour = list(initial) if initial is not None else search.nearest_neighbour_tour()
    if sorted(tour) != list(range(n)):
        raise ValueError("initial tour must visit every node exactly once")
    iterations = default_iterations(n) if iterations is None else iterations
    tour, cost, done = search.run(tour, iterations, started, time_limit)
    first = tour.index(0)
    tour = tour[first:] + tour[:first]
    return TspResult(tour, cost, done, time.perf_counter() - started)


class _Search:
    """State of one iterated local search (plain lists: faster than numpy element access)."""

    def __init__(self, d: np.ndarray, neighbours: int, rng: random.Random):
        self.n = n = len(d)
        self.d = d.tolist()
        k = min(neighbours, n - 1)
        order = np.argsort(d + np.diag(np.full(n, np.inf)), axis=1, kind="stable")[:, :k]
        self.near = order.tolist()
        self.rng = rng
        self.t: list[int] = []
        self.pos = [0] * n

    # --- construction -------------------------------------------------------------------

    def nearest_neighbour_tour(self) -> list[int]:
        d, n = self.d, self.n
        left = set(range(1, n))
        tour = [0]
        while left:
            row = d[tour[-1]]
            nxt = min(left, key=lambda j: (row[j], j))
            tour.append(nxt)
            left.remove(nxt)
        return tour

    # --- the iterated local search ------------------------------------------------------

    def run(self, tour: list[int], iterations: int, started: float, time_limit: float | None):
        self._set(tour)
        self._local_search(list(range(self.n)))
        cost = self._cost()
        best, best_cost = self.t[:], cost
        current, current_cost = self.t[:], cost
        stale = 0
        restart_after = max(50, 2 * self.n)
        done = 0
        while done < iterations:
            done += 1
            touched = self._double_bridge()
            self._local_search(touched)
            cost = self._cost()
            if cost < best_cost - 1e-9:
                best, best_cost, stale = self.t[:], cost, 0
            else:
                stale += 1
            if cost <= current_cost + 1e-9:
                current, current_cost = self.t[:], cost
            elif stale >= restart_after:
                current, current_cost, stale = best[:], best_cost, 0
                self._set(current)
            else:
                self._set(current)
            if time_limit is not None and time.perf_counter() - started > time_limit:
                break
        return best, best_cost, done

    def _set(self, tour: list[int]) -> None:
        self.t = tour[:]
        pos = self.pos
        for i, c in enumerate(self.t):
            pos[c] = i

    def _cost(self) -> float:
        t, d = self.t, self.d
        return sum(d[t[i - 1]][t[i]] for i in range(self.n))

    def _double_bridge(self) -> list[int]:
        """Swap two short consecutive paths B and C in ...A|B|C|D...; returns the ends."""
        n, rng = self.n, self.rng
        longest = max(1, min(n // 4, 30))
        a = rng.randrange(n)
        lb, lc = rng.randint(1, longest), rng.randint(1, longest)
        rotated = self.t[a:] + self.t[:a]
        b, c = rotated[1 : 1 + lb], rotated[1 + lb : 1 + lb + lc]
        tour = rotated[:1] + c + b + rotated[1 + lb + lc :]
        self._set(tour)
        ends = {rotated[0], b[0], b[-1], c[0], c[-1], rotated[(1 + lb + lc) % n]}
        return list(ends)

    def _local_search(self, active: list[int]) -> None:
        """2-opt and Or-opt around the ``active`` nodes until no move improves the tour."""
        queue = list(dict.fromkeys(active))
        queued = [False] * self.n
        for c in queue:
            queued[c] = True
        while queue:
            a = queue.pop()
            queued[a] = False
            moved = self._improve_two_opt(a) or self._improve_or_opt(a)
            if moved:
                for c in moved:
                    if not queued[c]:
                        queued[c] = True
                        queue.append(c)

    # --- moves -----------------------------------------------------------------------------

    def _improve_two_opt(self, a: int) -> tuple[int, ...] | None:
        t, pos, d, n = self.t, self.pos, self.d, self.n
        da = d[a]
        i = pos[a]
        for forward in (True, False):
            b = t[(i + 1) % n] if forward else t[i - 1]
            dab = da[b]
            for c in self.near[a]:
                dac = da[c]
                if dac >= dab:
                    break
                j = pos[c]
                e = t[(j + 1) % n] if forward else t[j - 1]
                if c == b or e == a:
                    continue
                delta = dac + d[b][e] - dab - d[c][e]
                if delta < -1e-9:
                    if forward:  # a→b … c→e becomes a→c … b→e: reverse b..c
                        self._reverse(pos[b], j)
                    else:  # e→c … b→a becomes e→b … c→a: reverse c..b
                        self._reverse(j, pos[b])
                    return (a, b, c, e)
        return None

    def _reverse(self, i: int, j: int) -> None:
        """Reverse tour positions i..j (cyclic, inclusive), or the complementary path."""
        t, pos, n = self.t, self.pos, self.n
        inner = (j - i) % n + 1
        if 2 * inner > n:
            i, j = (j + 1) % n, (i - 1) % n
            inner = n - inner
        for _ in range(inner // 2):
            t[i], t[j] = t[j], t[i]
            pos[t[i]] = i
            pos[t[j]] = j
            i = (i + 1) % n
            j = (j - 1) % n

    def _improve_or_opt(self, a: int) -> tuple[int, ...] | None:
        """Move the path starting (or ending) at ``a`` of 1–3 nodes next to a neighbour."""
        t, pos, d, n = self.t, self.pos, self.d, self.n
        i = pos[a]
        for length in range(1, min(MAX_SEGMENT, n - 3) + 1):
            starts = (i,) if length == 1 else (i, (i - length + 1) % n)  # path a.. or ..a
            for first in starts:
                last = (first + length - 1) % n
                s1, s2 = t[first], t[last]
                p, q = t[first - 1], t[(last + 1) % n]
                removed = d[p][s1] + d[s2][q] - d[p][q]
                if removed <= 1e-9:
                    continue
                for end in (s1, s2) if length > 1 else (s1,):
                    row = d[end]
                    for c in self.near[end]:
                        if row[c] >= removed:
                            break
                        if (pos[c] - first) % n < length:
                            continue  # inside the path
                        found = self._best_insertion(c, s1, s2, removed, first, length)
                        if found is not None:
                            left, right, reverse = found
                            self._move_path(first, length, left, reverse)
                            return (p, q, s1, s2, left, right)
        return None

    def _best_insertion(self, c, s1, s2, removed, first, length):
        """Put the path s1..s2 between c and one of its tour neighbours, if that gains."""
        t, pos, d, n = self.t, self.pos, self.d, self.n
        j = pos[c]
        for left, right in ((c, t[(j + 1) % n]), (t[j - 1], c)):
            if (pos[left] - first) % n < length or (pos[right] - first) % n < length:
                continue
            base = d[left][right]
            forward = d[left][s1] + d[s2][right] - base
            backward = d[left][s2] + d[s1][right] - base
            if forward <= backward:
                if forward < removed - 1e-9:
                    return left, right, False
            elif backward < removed - 1e-9:
                return left, right, True
        return None

    def _move_path(self, first: int, length: int, left: int, reverse: bool) -> None:
        """Cut the path at positions first..first+length-1 and insert it after ``left``."""
        n = self.n
        rotated = self.t[first:] + self.t[:first]
        path, rest = rotated[:length], rotated[length:]
        if reverse:
            path.reverse()
        k = rest.index(left) + 1
        tour = rest[:k] + path + rest[k:]
        self.t = tour
        pos = self.pos
        for idx in range(n):
            pos[tour[idx]] = idx
