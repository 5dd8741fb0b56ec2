"""Door-to-door travel minutes between the stops of a plan, and the path of each leg.

Built on the coverage travel-time model (``geo.network``, ``geo.access``): a stop (a home,
the township office, an inspector's own start) walks in a straight line to the nearest point
of the nearest road (within the profile's ``walk.max_walk_m``), the car drives the roads at
each edge's speed, and the inspector walks from the road to the next door. So

    minutes[a, b] = walk[a] + road minutes(road point a → road point b) + walk[b]

The road part is **one call of** ``scipy.sparse.csgraph.dijkstra`` over the road graph with a
virtual node per stop (joined to both ends of its edge, and directly to the other stops on the
same edge), with every stop as a source: one shortest-path tree per stop, in C, with the
predecessors kept so that the geometry of any leg can be rebuilt (:meth:`StopMatrix.leg`).

Unreachable is ``inf`` (never a big number): a stop off the network (``reason`` off_network)
or on a road component without the other stop.

>>> import geopandas as gpd, shapely
>>> from geo.policy import load_profile
>>> from geo.network import build_network
>>> from geo.access import Walker
>>> roads = gpd.GeoDataFrame({"road_class": ["national"], "surface": ["hardened"]},
...     geometry=[shapely.LineString([(0, 0), (6000, 0)])], crs="EPSG:32649")
>>> net = build_network(roads, load_profile().network)     # 60 km/h: 1 km a minute
>>> stops = np.array([(1000.0, 0.0), (4000.0, 100.0)])     # the second 100 m off the road
>>> m = stop_matrix(net, Walker(speed_kmh=6.0, max_walk_m=500), stops)
>>> round(float(m.minutes[0, 1]), 2)                          # 3 km drive + 1 min walk
4.0
>>> round(m.leg(0, 1).length)                                  # the road, then the walk
3100
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import shapely.ops
from scipy.sparse.csgraph import connected_components, dijkstra

from geo.access import Walker, snap_points
from geo.network import RoadNetwork, Snap


@dataclass(frozen=True)
class StopMatrix:
    """Travel minutes between stops (metric x/y in the network's CRS) and their road joins."""

    network: RoadNetwork
    xy: np.ndarray
    snap: Snap
    walk_min: np.ndarray  # minutes from the stop to its road point (inf: off the network)
    minutes: np.ndarray  # (m, m) door to door; inf where unreachable
    component: np.ndarray  # road component of each stop (-1: off the network)
    predecessors: np.ndarray  # (m, nodes + m) of the augmented graph
    virtual: np.ndarray  # augmented-graph node of each stop (-1: off the network)

    @property
    def on_network(self) -> np.ndarray:
        return self.snap.on_network

    @property
    def walk_m(self) -> np.ndarray:
        return np.where(self.on_network, self.snap.distance_m, np.inf)

    def reachable(self, a: int, b: int) -> bool:
        return bool(np.isfinite(self.minutes[a, b]))

    def leg(self, a: int, b: int) -> shapely.LineString | None:
        """The way from stop ``a`` to stop ``b``: walk to the road, the roads, walk to the
        door (metric LineString); None when unreachable, a point-like line when a == b."""
        if a == b:
            p = shapely.Point(self.xy[a])
            return shapely.LineString([p, p])
        if not self.reachable(a, b):
            return None
        coords = [self.xy[a][None, :], self._road_coords(a, b), self.xy[b][None, :]]
        return shapely.LineString(_dedupe(np.vstack(coords)))

    def leg_metres(self, a: int, b: int) -> float:
        line = self.leg(a, b)
        return float(line.length) if line is not None else float("inf")

    # --- path reconstruction ------------------------------------------------------------

    def _road_coords(self, a: int, b: int) -> np.ndarray:
        """Vertices along the roads from a's road point to b's (both included)."""
        nodes = self._node_path(a, b)
        pieces = [self._piece(x, y) for x, y in itertools.pairwise(nodes)]
        if not pieces:
            return self.snap.road_xy[[a, b]]
        return np.vstack([pieces[0], *(p[1:] for p in pieces[1:])])

    def _node_path(self, a: int, b: int) -> list[int]:
        pred = self.predecessors[a]
        start, node = self.virtual[a], self.virtual[b]
        path = [node]
        while node != start:
            node = pred[node]
            if node < 0:  # pragma: no cover - reachable() was checked
                raise ValueError(f"no path from stop {a} to stop {b}")
            path.append(node)
        return path[::-1]

    def _piece(self, x: int, y: int) -> np.ndarray:
        """Coordinates from augmented node x to node y along one edge (or part of one)."""
        n = len(self.network.nodes)
        if x < n and y < n:
            edge, forward = self._edge_between(x, y)
            coords = shapely.get_coordinates(self.network.edges.geometry.iloc[edge])
            return coords if forward else coords[::-1]
        stop_x = x - n if x >= n else None
        stop_y = y - n if y >= n else None
        edge = self.snap.edge[stop_x if stop_x is not None else stop_y]
        line = self.network.edges.geometry.iloc[edge]
        u = self.network.edges.u.iloc[edge]
        at_x = self._offset(stop_x, x, u, line)
        at_y = self._offset(stop_y, y, u, line)
        return _substring(line, at_x, at_y)

    def _offset(self, stop: int | None, node: int, u: int, line) -> float:
        if stop is not None:
            return float(self.snap.offset_m[stop])
        return 0.0 if node == u else float(line.length)

    def _edge_between(self, x: int, y: int) -> tuple[int, bool]:
        key = (min(x, y), max(x, y))
        edge = self._edge_lookup()[key]
        return edge, int(self.network.edges.u.iloc[edge]) == x

    def _edge_lookup(self) -> dict[tuple[int, int], int]:
        cached = getattr(self, "_lookup", None)
        if cached is None:
            cached = _fastest_edges(self.network)
            object.__setattr__(self, "_lookup", cached)
        return cached


def stop_matrix(network: RoadNetwork, walker: Walker, xy: np.ndarray) -> StopMatrix:
    """Door-to-door minutes between the metric points ``xy`` (see the module docstring)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    m = len(xy)
    snap, walk = snap_points(network, xy, walker)
    on = snap.on_network
    n = len(network.nodes)
    virtual = np.full(m, -1, dtype=np.int64)
    virtual[on] = n + np.flatnonzero(on)
    graph = _augmented_graph(network, snap, on, n + m)
    sources = virtual[on]
    road = np.full((m, m), np.inf)
    pred = np.full((m, n + m), -9999, dtype=np.int32)
    if len(sources):
        dist, pr = dijkstra(graph, directed=True, indices=sources, return_predecessors=True)
        idx = np.flatnonzero(on)
        road[np.ix_(idx, idx)] = dist[:, sources]
        pred[idx] = pr
    minutes = walk[:, None] + road + walk[None, :]
    same = np.isclose(xy[:, None, 0], xy[None, :, 0]) & np.isclose(xy[:, None, 1], xy[None, :, 1])
    minutes[same] = 0.0  # a stop to itself (or to another at the same place)
    _, labels = connected_components(graph, directed=False)
    component = np.where(on, labels[np.maximum(virtual, 0)], -1)
    return StopMatrix(network, xy, snap, walk, minutes, component, pred, virtual)


def _augmented_graph(network: RoadNetwork, snap: Snap, on: np.ndarray, size: int):
    """The road graph plus a virtual node per stop on its edge (both directions)."""
    base = network.graph.tocoo()
    stops = np.flatnonzero(on)
    n = len(network.nodes)
    edges = network.edges
    e = snap.edge[stops]
    u, v = edges.u.to_numpy()[e], edges.v.to_numpy()[e]
    mpm = (edges.minutes / edges.length_m).to_numpy()[e]
    length = edges.length_m.to_numpy()[e]
    off = snap.offset_m[stops]
    virt = n + stops
    rows = [base.row, virt, u, virt, v]
    cols = [base.col, u, virt, v, virt]
    data = [base.data, off * mpm, off * mpm, (length - off) * mpm, (length - off) * mpm]
    # stops on the same edge: directly along it (no detour through an end node)
    frame = pd.DataFrame({"edge": e, "stop": stops, "off": off, "mpm": mpm})
    pairs = frame.merge(frame, on="edge", suffixes=("_a", "_b"))
    pairs = pairs[pairs.stop_a != pairs.stop_b]
    if len(pairs):
        rows.append(n + pairs.stop_a.to_numpy())
        cols.append(n + pairs.stop_b.to_numpy())
        data.append(np.abs(pairs.off_a - pairs.off_b).to_numpy() * pairs.mpm_a.to_numpy())
    return _csr_min(np.concatenate(rows), np.concatenate(cols), np.concatenate(data), size)


def _csr_min(rows, cols, data, size: int) -> sp.csr_matrix:
    """CSR keeping the smallest of duplicate entries; zero costs become a tiny positive value
    (scipy treats explicit zeros of a sparse matrix as missing edges)."""
    data = np.maximum(np.asarray(data, dtype=float), 1e-9)
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sp.csr_matrix((data[first], (rows[first], cols[first])), shape=(size, size))


def _fastest_edges(network: RoadNetwork) -> dict[tuple[int, int], int]:
    """(lower node, higher node) -> index of the fastest edge between them (no self loops)."""
    e = network.edges
    frame = pd.DataFrame(
        {
            "a": np.minimum(e.u.to_numpy(), e.v.to_numpy()),
            "b": np.maximum(e.u.to_numpy(), e.v.to_numpy()),
            "minutes": e.minutes.to_numpy(),
            "edge": np.arange(len(e)),
        }
    )
    frame = frame[frame.a != frame.b].sort_values(["a", "b", "minutes", "edge"])
    frame = frame.drop_duplicates(["a", "b"])
    return {(int(a), int(b)): int(i) for a, b, i in zip(frame.a, frame.b, frame.edge, strict=True)}


def _substring(line: shapely.LineString, start: float, end: float) -> np.ndarray:
    """Coordinates of ``line`` from ``start`` to ``end`` metres along it (either direction)."""
    if start <= end:
        return shapely.get_coordinates(shapely.ops.substring(line, start, end)).reshape(-1, 2)
    return shapely.get_coordinates(shapely.ops.substring(line, end, start))[::-1].reshape(-1, 2)


def _dedupe(coords: np.ndarray) -> np.ndarray:
    """Drop consecutive repeated vertices (a stop exactly on the road walks zero metres)."""
    if len(coords) < 2:
        return coords
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(coords, axis=0)) > 1e-6, axis=1)
    out = coords[keep]
    return out if len(out) >= 2 else np.vstack([coords[:1], coords[:1]])
