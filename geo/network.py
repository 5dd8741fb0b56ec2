"""A routable road network: noded lines, connected components, travel time per edge.

``build_network(roads, policy)`` turns road lines (any CRS; class and surface columns) into a
graph in a metric CRS:

1. **Noding.** Lines are cut where another line's end lies within ``snap_m`` (T-junctions and
   near misses), where two lines cross or touch (X-junctions, shared vertices) and where a
   line crosses itself. Lines on different ``layer`` values (or with ``bridge`` true, which
   means layer 1) are *not* joined where they cross — an overpass is no junction — but their
   ends still join whatever they touch.
2. **Nodes.** Piece ends closer than ``snap_m`` become one node.
3. **Edges.** Each piece is an undirected edge with its length, the speed of its class and
   surface (from the policy profile) and its minutes. Zero-length pieces are dropped; self
   loops (a ring road with one junction) are kept as edges, so homes can lie on them, but
   add nothing to the shortest paths. Parallel edges keep the fastest.
4. **Components** of the undirected graph, per node and per edge.

The graph is a ``scipy.sparse`` CSR matrix of minutes, so ``scipy.sparse.csgraph`` does the
shortest paths: ``travel_minutes`` runs one multi-source Dijkstra (``min_only=True``) from all
facilities of a kind at once. Points (homes, facilities) join the network at the nearest point
of the nearest edge, not at the nearest vertex. Unreachable is ``inf``, never a big number.

>>> import geopandas as gpd, shapely
>>> from geo.policy import load_profile
>>> roads = gpd.GeoDataFrame(
...     {"road_class": ["national", "national"], "surface": ["hardened", "hardened"]},
...     geometry=[shapely.LineString([(0, 0), (2000, 0)]),
...               shapely.LineString([(1000, -1000), (1000, 1000)])], crs="EPSG:32649")
>>> net = build_network(roads, load_profile().network)
>>> len(net.nodes), len(net.edges), net.n_components      # the crossing is a node
(5, 4, 1)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from geo.policy import NetworkPolicy

METRES_PER_MINUTE_PER_KMH = 1000.0 / 60.0
CUT_DECIMALS = 3  # cut positions closer than a millimetre are one cut
MIN_LENGTH_M = 10.0**-CUT_DECIMALS


class NetworkError(ValueError):
    """Road input that cannot be turned into a network; the message names the row/field."""


def metric_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """The frame's CRS if it is projected in metres, else the Gauss-Krüger zone of its centre.

    Zones (:func:`zone_crs`) are a fixed lattice, so nearby extents share one CRS; callers
    whose results must not depend on the extent they load (relocation sites) pass the zone
    of their county instead.
    """
    crs = frame.crs
    if crs is None:
        raise NetworkError("road layer has no CRS")
    crs = pyproj.CRS(crs)
    if crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    minx, _, maxx, _ = frame.to_crs(4326).total_bounds
    return zone_crs((minx + maxx) / 2)


def zone_crs(lon: float) -> pyproj.CRS:
    """The CGCS2000 3-degree Gauss-Krüger zone holding ``lon`` (central meridian a multiple
    of 3°E, EPSG:4534–4554 "CM" variants), with easting first as GIS tools expect.

    A zone reaches 1.5° either side of its meridian: scale error below 0.03 % in Guangdong.

    >>> zone_crs(112.38).to_dict()["lon_0"], zone_crs(112.7).to_dict()["lon_0"]
    (111, 114)
    """
    meridian = 3 * round(lon / 3)
    return pyproj.CRS.from_proj4(
        f"+proj=tmerc +lat_0=0 +lon_0={meridian} +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 "
        "+units=m +no_defs"
    )


@dataclass(frozen=True)
class Snap:
    """Where points join the network: nearest edge (-1: none within reach), metres along it
    from its ``u`` end, straight-line metres to it, and the road point itself."""

    edge: np.ndarray
    offset_m: np.ndarray
    distance_m: np.ndarray
    road_xy: np.ndarray

    @property
    def on_network(self) -> np.ndarray:
        return self.edge >= 0

    def __len__(self) -> int:
        return len(self.edge)


@dataclass(frozen=True)
class RoadNetwork:
    """Nodes (metric x/y), edges (a GeoDataFrame in ``crs``) and the CSR graph of minutes."""

    crs: pyproj.CRS
    nodes: np.ndarray
    edges: gpd.GeoDataFrame
    graph: sp.csr_matrix
    node_component: np.ndarray
    diagnostics: dict[str, int] = field(default_factory=dict)
    _tree: Any = field(default=None, repr=False, compare=False)

    @property
    def n_components(self) -> int:
        used = np.unique(np.concatenate([self.edges.u.to_numpy(), self.edges.v.to_numpy()]))
        return len(np.unique(self.node_component[used])) if len(used) else 0

    @property
    def edge_component(self) -> np.ndarray:
        return self.node_component[self.edges.u.to_numpy()]

    @property
    def minutes_per_metre(self) -> np.ndarray:
        return (self.edges.minutes / self.edges.length_m).to_numpy()

    def to_metric(self, geoms: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
        """Geometries of a frame/series with a CRS, as a shapely array in the network CRS."""
        return geoms.to_crs(self.crs).geometry.to_numpy()

    def snap(self, points: np.ndarray, max_distance_m: float = np.inf) -> Snap:
        """Nearest point of the nearest edge for each metric point (edge -1 beyond reach).

        Ties (a point exactly at a junction) go to the lower edge index, so results repeat.
        """
        points = np.asarray(points, dtype=object)
        n = len(points)
        edge = np.full(n, -1, dtype=np.int64)
        distance = np.full(n, np.inf)
        offset = np.full(n, np.nan)
        road_xy = np.full((n, 2), np.nan)
        if n == 0 or len(self.edges) == 0:
            return Snap(edge, offset, distance, road_xy)
        reach = None if np.isinf(max_distance_m) else max_distance_m
        (i, j), d = self._tree.query_nearest(
            points, max_distance=reach, return_distance=True, all_matches=True
        )
        order = np.lexsort((j, i))
        i, j, d = i[order], j[order], d[order]
        first = np.unique(i, return_index=True)[1]
        i, j, d = i[first], j[first], d[first]
        lines = self.edges.geometry.to_numpy()[j]
        edge[i], distance[i] = j, d
        offset[i] = shapely.line_locate_point(lines, points[i])
        road_xy[i] = shapely.get_coordinates(shapely.line_interpolate_point(lines, offset[i]))
        return Snap(edge, offset, distance, road_xy)

    def travel_minutes(
        self, sources: Snap, targets: Snap, source_extra_min: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minutes over the roads from the nearest source to each target road point.

        One multi-source Dijkstra: every source is a virtual node joined to both ends of its
        edge; a target on the same edge as a source also gets the direct way along the edge.
        ``source_extra_min`` is added per source (e.g. walking from the road to the clinic).
        Returns (minutes, source index); ``inf`` and -1 where no source can be reached.
        """
        minutes = np.full(len(targets), np.inf)
        nearest = np.full(len(targets), -1, dtype=np.int64)
        extra = np.zeros(len(sources)) if source_extra_min is None else source_extra_min
        usable = np.flatnonzero(sources.on_network & np.isfinite(extra))
        hit = np.flatnonzero(targets.on_network)
        if len(usable) == 0 or len(hit) == 0:
            return minutes, nearest
        node_min, node_src = self._from_sources(sources, extra, usable)
        u, v, mpm, length = self._edge_arrays(targets.edge[hit])
        to_u = targets.offset_m[hit] * mpm
        to_v = (length - targets.offset_m[hit]) * mpm
        via_u, via_v = node_min[u] + to_u, node_min[v] + to_v
        best = np.minimum(via_u, via_v)
        src = np.where(via_u <= via_v, node_src[u], node_src[v])
        direct, direct_src = self._same_edge(sources, extra, usable, targets, hit)
        closer = direct < best
        best[closer], src[closer] = direct[closer], direct_src[closer]
        minutes[hit] = best
        nearest[hit] = np.where(np.isfinite(best), src, -1)
        return minutes, nearest

    def travel_matrix(
        self,
        sources: Snap,
        targets: Snap,
        source_extra_min: np.ndarray | None = None,
        limit: float = np.inf,
    ) -> np.ndarray:
        """Minutes over the roads from *each* source to each target road point, shape
        (sources, targets): the same trips as :meth:`travel_minutes` (whose result is this
        matrix's column minimum), one Dijkstra tree per source in one call. Entries above
        ``limit`` may be left ``inf`` (the search stops there)."""
        out = np.full((len(sources), len(targets)), np.inf)
        extra = np.zeros(len(sources)) if source_extra_min is None else source_extra_min
        usable = np.flatnonzero(sources.on_network & np.isfinite(extra))
        hit = np.flatnonzero(targets.on_network)
        if len(usable) == 0 or len(hit) == 0:
            return out
        graph, virtual = self._with_sources(sources, extra, usable)
        reach = None if np.isinf(limit) else float(limit)
        kwargs = {} if reach is None else {"limit": reach}
        dist = dijkstra(graph, directed=True, indices=virtual, **kwargs)[:, : len(self.nodes)]
        u, v, mpm, length = self._edge_arrays(targets.edge[hit])
        to_u = targets.offset_m[hit] * mpm
        to_v = (length - targets.offset_m[hit]) * mpm
        best = np.minimum(dist[:, u] + to_u, dist[:, v] + to_v)
        s = pd.DataFrame({"edge": sources.edge[usable], "row": np.arange(len(usable))})
        t = pd.DataFrame({"edge": targets.edge[hit], "col": np.arange(len(hit))})
        pairs = t.merge(s, on="edge")
        if not pairs.empty:  # a target on the same edge as a source: straight along it
            row, col = pairs.row.to_numpy(), pairs.col.to_numpy()
            src = usable[row]
            along = np.abs(targets.offset_m[hit][col] - sources.offset_m[src])
            along = along * self.minutes_per_metre[pairs.edge.to_numpy()] + extra[src]
            best[row, col] = np.minimum(best[row, col], along)
        out[np.ix_(usable, hit)] = best
        return out

    def _edge_arrays(self, edge_index: np.ndarray):
        e = self.edges
        return (
            e.u.to_numpy()[edge_index],
            e.v.to_numpy()[edge_index],
            self.minutes_per_metre[edge_index],
            e.length_m.to_numpy()[edge_index],
        )

    def _from_sources(self, sources: Snap, extra: np.ndarray, usable: np.ndarray):
        """Dijkstra from virtual source nodes: (minutes per node, source index per node)."""
        n = len(self.nodes)
        k = len(usable)
        graph, virtual = self._with_sources(sources, extra, usable)
        dist, _, origin = dijkstra(
            graph, directed=True, indices=virtual, min_only=True, return_predecessors=True
        )
        source_of = np.where(origin >= n, usable[np.clip(origin - n, 0, k - 1)], -1)
        return dist[:n], source_of[:n]

    def _with_sources(self, sources: Snap, extra: np.ndarray, usable: np.ndarray):
        """The road graph plus one virtual node per usable source, joined (one way, so no
        path passes through another source) to both ends of its edge; (graph, virtual ids)."""
        n = len(self.nodes)
        k = len(usable)
        u, v, mpm, length = self._edge_arrays(sources.edge[usable])
        virtual = n + np.arange(k)
        rows = np.concatenate([virtual, virtual])
        cols = np.concatenate([u, v])
        off = sources.offset_m[usable]
        data = np.concatenate([extra[usable] + off * mpm, extra[usable] + (length - off) * mpm])
        base = self.graph.tocoo()
        graph = _min_csr(
            np.concatenate([base.row, rows]),
            np.concatenate([base.col, cols]),
            np.concatenate([base.data, data]),
            n + k,
        )
        return graph, virtual

    def _same_edge(self, sources: Snap, extra, usable, targets: Snap, hit):
        """Direct minutes along a shared edge (no detour through a node), inf elsewhere."""
        direct = np.full(len(hit), np.inf)
        direct_src = np.full(len(hit), -1, dtype=np.int64)
        s = pd.DataFrame({"edge": sources.edge[usable], "src": usable})
        t = pd.DataFrame({"edge": targets.edge[hit], "pos": np.arange(len(hit))})
        pairs = t.merge(s, on="edge")
        if pairs.empty:
            return direct, direct_src
        src, pos = pairs.src.to_numpy(), pairs.pos.to_numpy()
        mpm = self.minutes_per_metre[pairs.edge.to_numpy()]
        along = np.abs(targets.offset_m[hit][pos] - sources.offset_m[src]) * mpm + extra[src]
        order = np.lexsort((src, along, pos))  # per target: smallest time, then lowest index
        pos, along, src = pos[order], along[order], src[order]
        first = np.unique(pos, return_index=True)[1]
        direct[pos[first]], direct_src[pos[first]] = along[first], src[first]
        return direct, direct_src

    def subnetwork_components(self, edge_mask: np.ndarray) -> np.ndarray:
        """Component label per edge of the sub-network of the masked edges (-1 elsewhere)."""
        e = self.edges[edge_mask]
        labels = np.full(len(self.edges), -1, dtype=np.int64)
        if e.empty:
            return labels
        n = len(self.nodes)
        ones = np.ones(len(e))
        graph = sp.csr_matrix((ones, (e.u.to_numpy(), e.v.to_numpy())), shape=(n, n))
        _, node_label = connected_components(graph, directed=False)
        labels[np.flatnonzero(edge_mask)] = node_label[e.u.to_numpy()]
        return labels


def build_network(
    roads: gpd.GeoDataFrame,
    policy: NetworkPolicy,
    *,
    crs: pyproj.CRS | str | None = None,
) -> RoadNetwork:
    """Node ``roads`` (columns ``road_class``, ``surface``; optional ``id``, ``layer``,
    ``bridge``) into a routable network in ``crs`` (default: :func:`metric_crs`)."""
    _check_columns(roads)
    crs = pyproj.CRS(crs) if crs is not None else metric_crs(roads)
    lines, attrs = _simple_lines(roads.to_crs(crs), policy)
    zero = shapely.length(lines) <= MIN_LENGTH_M
    lines, attrs = lines[~zero], attrs[~zero].reset_index(drop=True)
    cuts = _cut_positions(lines, attrs["layer"].to_numpy(), policy.snap_m)
    pieces, owner = _cut_lines(lines, cuts)
    length = shapely.length(pieces)
    nodes, u, v = _node_ids(pieces, policy.snap_m)
    # slivers: pieces shorter than the tolerance whose ends became one node (an end snapped
    # onto a line just past it); real self loops (a ring road) are longer
    sliver = (length <= MIN_LENGTH_M) | ((u == v) & (length <= 2 * policy.snap_m))
    pieces, owner, length, u, v = (
        pieces[~sliver],
        owner[~sliver],
        length[~sliver],
        u[~sliver],
        v[~sliver],
    )
    speed = attrs["speed_kmh"].to_numpy()[owner]
    edges = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "length_m": length,
            "speed_kmh": speed,
            "minutes": length / (speed * METRES_PER_MINUTE_PER_KMH),
            "road_id": attrs["road_id"].to_numpy()[owner],
            "road_class": attrs["road_class"].to_numpy()[owner],
            "surface": attrs["surface"].to_numpy()[owner],
        },
        geometry=pieces,
        crs=crs,
    )
    loop = edges.u.to_numpy() == edges.v.to_numpy()
    graph = _min_csr(
        np.concatenate([u[~loop], v[~loop]]),
        np.concatenate([v[~loop], u[~loop]]),
        np.tile(edges.minutes.to_numpy()[~loop], 2),
        len(nodes),
    )
    _, component = connected_components(graph, directed=False)
    diagnostics = {
        "roads": len(roads),
        "edges": len(edges),
        "nodes": len(nodes),
        "zero_length_dropped": int(zero.sum()),
        "slivers_dropped": int(sliver.sum()),
        "self_loops": int(loop.sum()),
    }
    return RoadNetwork(
        crs=crs,
        nodes=nodes,
        edges=edges,
        graph=graph,
        node_component=component,
        diagnostics=diagnostics,
        _tree=shapely.STRtree(edges.geometry.to_numpy()),
    )


def _check_columns(roads: gpd.GeoDataFrame) -> None:
    missing = {"road_class", "surface"} - set(roads.columns)
    if missing:
        raise NetworkError(f"road layer lacks column(s) {sorted(missing)}")


def _simple_lines(roads: gpd.GeoDataFrame, policy: NetworkPolicy):
    """Single, simple LineStrings with their attributes (self-crossing lines are split)."""
    frame = roads.copy()
    frame["road_id"] = frame["id"] if "id" in frame.columns else np.arange(len(frame))
    layer = frame["layer"] if "layer" in frame.columns else pd.Series(0, index=frame.index)
    if "bridge" in frame.columns:
        layer = layer.where(~frame["bridge"].fillna(False).astype(bool), 1)
    frame["layer"] = layer.fillna(0).astype(int)
    frame["speed_kmh"] = [
        _speed(policy, c, s, rid)
        for c, s, rid in zip(frame.road_class, frame.surface, frame.road_id, strict=True)
    ]
    geoms = frame.geometry.to_numpy()
    bad = ~shapely.is_empty(geoms) & ~np.isin(
        shapely.get_type_id(geoms), [1, 5]
    )  # LineString, MultiLineString
    if bad.any():
        rid = frame.road_id.to_numpy()[np.flatnonzero(bad)[0]]
        raise NetworkError(f"road {rid}: geometry is {geoms[bad][0].geom_type}, not a line")
    frame = frame[~shapely.is_empty(geoms)]
    frame = frame.explode(index_parts=False).reset_index(drop=True)
    geoms = frame.geometry.to_numpy()
    crossing = ~shapely.is_simple(geoms)
    if crossing.any():  # split self-crossing lines at their crossings
        geoms = geoms.copy()
        geoms[crossing] = shapely.node(geoms[crossing])
        frame = frame.set_geometry(geoms).explode(index_parts=False).reset_index(drop=True)
    return frame.geometry.to_numpy(), frame.drop(columns=frame.geometry.name)


def _speed(policy: NetworkPolicy, road_class, surface, road_id) -> float:
    try:
        speed = policy.speed(road_class, surface)
    except KeyError as exc:
        raise NetworkError(f"road {road_id}: {exc.args[0]}") from None
    if speed <= 0:
        raise NetworkError(f"road {road_id}: speed for {road_class}/{surface} is not positive")
    return speed


def _cut_positions(lines: np.ndarray, layer: np.ndarray, snap_m: float) -> list[np.ndarray]:
    """Distances along each line where it must be cut (its ends included)."""
    n = len(lines)
    length = shapely.length(lines)
    owner_parts, at_parts = [np.arange(n), np.arange(n)], [np.zeros(n), length]
    tree = shapely.STRtree(lines)

    # ends of a line within snap_m of another line: T-junctions, near misses
    ends = np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
    end_owner = np.tile(np.arange(n), 2)
    p, j = tree.query(ends, predicate="dwithin", distance=snap_m)
    other = j != end_owner[p]
    p, j = p[other], j[other]
    owner_parts.append(j)
    at_parts.append(shapely.line_locate_point(lines[j], ends[p]))

    # crossings and touches of two lines on the same layer
    a, b = tree.query(lines, predicate="intersects")
    keep = (a < b) & (layer[a] == layer[b])
    a, b = a[keep], b[keep]
    if len(a):
        where = shapely.intersection(lines[a], lines[b])
        xy, pair = shapely.get_coordinates(where, return_index=True)
        points = shapely.points(xy)
        for side in (a[pair], b[pair]):
            owner_parts.append(side)
            at_parts.append(shapely.line_locate_point(lines[side], points))

    owner = np.concatenate(owner_parts)
    at = np.round(np.clip(np.concatenate(at_parts), 0, length[owner]), CUT_DECIMALS)
    frame = pd.DataFrame({"owner": owner, "at": at}).drop_duplicates()
    frame = frame.sort_values(["owner", "at"])
    grouped = frame.groupby("owner").at.apply(np.asarray)
    return [grouped.get(i, np.array([0.0, length[i]])) for i in range(n)]


def _cut_lines(lines: np.ndarray, cuts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of each line between consecutive cut positions, and the owning line index."""
    pieces, owner = [], []
    for i, (line, at) in enumerate(zip(lines, cuts, strict=True)):
        if len(at) == 2:
            pieces.append(line)
            owner.append(i)
            continue
        coords = shapely.get_coordinates(line)
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])
        for start, end in itertools.pairwise(at):
            pieces.append(_substring(coords, along, start, end))
            owner.append(i)
    return np.asarray(pieces, dtype=object), np.asarray(owner, dtype=np.int64)


def _substring(coords: np.ndarray, along: np.ndarray, start: float, end: float):
    inner = coords[(along > start) & (along < end)]
    ends = np.column_stack(
        [np.interp([start, end], along, coords[:, 0]), np.interp([start, end], along, coords[:, 1])]
    )
    return shapely.LineString(np.vstack([ends[:1], inner, ends[1:]]))


def _node_ids(pieces: np.ndarray, snap_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster piece ends within ``snap_m`` into nodes: (node x/y, u, v)."""
    m = len(pieces)
    if m == 0:
        return np.empty((0, 2)), np.empty(0, np.int64), np.empty(0, np.int64)
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(pieces, 0)),
            shapely.get_coordinates(shapely.get_point(pieces, -1)),
        ]
    )
    pairs = cKDTree(ends).query_pairs(max(snap_m, 1e-6), output_type="ndarray")
    k = len(ends)
    link = sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    _, label = connected_components(link, directed=False)
    # node ids in order of first appearance, coordinates = mean of the merged ends
    _, first, label = np.unique(label, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    label = order[label]
    count = np.bincount(label)
    nodes = np.column_stack(
        [np.bincount(label, ends[:, 0]) / count, np.bincount(label, ends[:, 1]) / count]
    )
    return nodes, label[:m], label[m:]


def _min_csr(rows, cols, data, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the smallest value of duplicate entries (a CSR sum would add them)."""
    if len(rows) == 0:
        return sp.csr_matrix((n, n))
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sp.csr_matrix((data[first], (rows[first], cols[first])), shape=(n, n))
