"""Rivers (from the drainage tree) and the road network (least-cost paths over the terrain).

Roads are routed on the coarse grid with skimage MCP over a cost that makes climbing,
high ground above the valley floor and river crossings expensive, so they follow valleys.
Every route is added to one cell graph: routes that meet share a cell, so junctions are
exact shared vertices. The graph is cut into lines at junctions and where class or surface
changes, then smoothed (Chaikin) and simplified to ~10 m with the end points kept, so the
lines meet end to end and form one connected network.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage

from geo.demo.grid import Grid, mcp, window_around
from geo.demo.terrain import Terrain

CRS = "EPSG:4326"
RIVER_KM2 = 5.0
TRUNK_KM2 = 600.0  # the trunk is called 连江 below this upstream area
NAMED_KM2 = 60.0  # smaller rivers stay unnamed
CLASS_RANK = {"village": 0, "township": 1, "county": 2, "provincial": 3, "national": 4}
SURFACE_RANK = {"earth": 0, "gravel": 1, "hardened": 2}
SIMPLIFY_DEG = 0.0001  # about 10 m

# Trunk roads through township seats (names as signposted; routes synthetic). Waypoints are
# township names or (lon, lat) points where the road leaves the county.
TRUNK_ROADS: tuple[tuple[str, str, tuple], ...] = (
    ("G323", "national", ((112.69, 24.745), "西江镇", "连州镇", (112.275, 24.765))),
    ("G107", "national", ("连州镇", "龙坪镇", "星子镇", "大路边镇", (112.63, 25.14))),
    ("S114", "provincial", ("连州镇", "西岸镇", "东陂镇", "丰阳镇")),
    ("S259", "provincial", ("连州镇", "保安镇", "瑶安瑶族乡")),
    ("S346", "provincial", ("保安镇", "星子镇")),
    ("X401", "county", ("丰阳镇", "三水瑶族乡")),
    ("X402", "county", ("连州镇", "九陂镇", (112.47, 24.655))),
)


# ----------------------------------------------------------------------------- rivers


def build_rivers(
    terrain: Terrain, county, townships: gpd.GeoDataFrame, trunk_name: str | None = "连江"
) -> gpd.GeoDataFrame:
    """River lines (upstream → downstream) with Strahler order and names for the big ones
    (the trunk is ``trunk_name``, or named like the others when None)."""
    grid = terrain.coarse
    acc = terrain.acc_km2.ravel()
    parent = terrain.parent
    cells = np.nonzero(acc >= RIVER_KM2)[0]
    cells = cells[np.argsort(acc[cells], kind="stable")]  # upstream before downstream
    order = _strahler(cells, parent, acc)
    rows = []
    for stem in _stems(cells, parent, acc):
        for piece, strahler in _split_by_order(stem, order):
            lon, lat = grid.centres(*np.divmod(np.asarray(piece), grid.width))
            line = _smooth_line(np.column_stack([lon, lat]))
            rows.append({"stem": stem[-1], "acc": acc[piece[-1]], "order": strahler, "geom": line})
    frame = gpd.GeoDataFrame(rows, geometry="geom", crs=CRS)
    frame["geom"] = frame.geometry.intersection(county)
    frame = frame[~frame.geometry.is_empty].explode(index_parts=False).reset_index(drop=True)
    frame = frame[frame.geometry.geom_type == "LineString"]
    frame["name"] = _river_names(frame, townships, terrain, trunk_name)
    frame = frame.sort_values(["order", "name"], ascending=[False, True], kind="stable")
    frame = frame.drop(columns=["stem", "acc"]).reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["synthetic"] = True
    return frame[["id", "name", "order", "geom", "synthetic"]]


def _strahler(cells, parent, acc) -> dict[int, int]:
    order: dict[int, int] = {}
    best: dict[int, tuple[int, int]] = {}  # cell -> (max child order, count of it)
    for cell in cells.tolist():
        top, count = best.get(cell, (1, 0))
        order[cell] = top + 1 if count >= 2 else top
        down = int(parent[cell])
        if down >= 0:
            m, k = best.get(down, (0, 0))
            o = order[cell]
            best[down] = (o, 1) if o > m else (m, k + 1) if o == m else (m, k)
    return order


def _stems(cells, parent, acc) -> list[list[int]]:
    """Main stems (largest-area upstream branch), each from its head down to where it
    joins a larger stem (that cell included) or leaves the grid."""
    in_network = set(cells.tolist())
    main_child: dict[int, int] = {}
    for cell in cells.tolist():  # increasing area: the last child seen is the largest
        down = int(parent[cell])
        if down in in_network:
            main_child[down] = cell
    heads = [c for c in cells.tolist() if c not in main_child]
    stems = []
    for head in sorted(heads):
        stem = [head]
        cell = head
        while True:
            down = int(parent[cell])
            if down not in in_network:
                break
            stem.append(down)
            if main_child[down] != cell:
                break
            cell = down
        if len(stem) >= 2:
            stems.append(stem)
    return stems


def _split_by_order(stem: list[int], order: dict[int, int]):
    start = 0
    for i in range(1, len(stem)):
        if order[stem[i]] != order[stem[start]] and i < len(stem) - 1:
            yield stem[start : i + 1], order[stem[start]]
            start = i
    yield stem[start:], order[stem[start]]


def _river_names(
    frame: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, terrain: Terrain, trunk_name
):
    """连江 for the trunk below TRUNK_KM2; other big rivers (the trunk's upper course too)
    after the township holding most of their length."""
    trunk = frame.loc[frame["acc"].idxmax(), "stem"]
    upper = (frame["stem"] == trunk) & (frame["acc"] < TRUNK_KM2)
    river = frame["stem"].where(~upper, -1)
    lengths = gpd.pd.Series(shapely.length(frame.geometry.to_numpy()), index=frame.index)
    river_len = lengths.groupby(river).sum()
    river_acc = frame["acc"].groupby(river).max()
    names: dict[int, str | None] = {trunk: trunk_name}
    used = {trunk_name}
    for key in sorted(river_acc.index, key=lambda k: -river_acc[k]):
        if key == trunk and trunk_name is not None:
            continue
        if river_acc[key] < NAMED_KM2 or river_len[key] < 0.05:
            names[key] = None
        else:
            names[key] = _township_river_name(frame[river == key], townships, used)
    return [names[k] for k in river]


def _township_river_name(pieces, townships: gpd.GeoDataFrame, used: set[str]) -> str | None:
    """{township}河 for the biggest river of a township; smaller ones stay unnamed."""
    lines = shapely.union_all(pieces.geometry.to_numpy())
    share = [lines.intersection(t).length for t in townships.geometry]
    short = townships.name.iloc[int(np.argmax(share))]
    name = short.removesuffix("瑶族乡").removesuffix("镇") + "河"
    if name in used:
        return None
    used.add(name)
    return name


# ----------------------------------------------------------------------------- roads


@dataclass
class RoadGraph:
    """Road routes on the coarse grid: nodes are cell indices (>= 0) or exact points (< 0)."""

    grid: Grid
    points: list[tuple[float, float]] = field(default_factory=list)
    edges: dict[tuple[int, int], list] = field(default_factory=dict)
    cells: set[int] = field(default_factory=set)
    anchors: set[int] = field(default_factory=set)  # seats, village centres, hamlets

    def point_node(self, lon: float, lat: float) -> int:
        """Node of an exact point (the cell's node if it is that cell's centre)."""
        r, c = self.grid.rowcol(lon, lat)
        node = int(r) * self.grid.width + int(c)
        if self.coords(node) != (float(lon), float(lat)):
            self.points.append((float(lon), float(lat)))
            node = -len(self.points)
        self.anchors.add(node)
        return node

    def add_route(
        self, nodes: list[int], road_class: str, surface: str, name: str | None
    ) -> list[tuple[int, int]]:
        """Add a route; shared edges keep the higher class and the better surface."""
        keys = []
        for a, b in itertools.pairwise(nodes):
            if a == b:
                continue
            key = (min(a, b), max(a, b))
            new = [CLASS_RANK[road_class], SURFACE_RANK[surface], name]
            old = self.edges.get(key)
            if old is None:
                self.edges[key] = new
            else:
                if new[0] > old[0]:
                    old[0], old[2] = new[0], name
                old[1] = max(old[1], new[1])
            keys.append(key)
        self.cells.update(n for n in nodes if n >= 0)
        return keys

    def coords(self, node: int) -> tuple[float, float]:
        if node < 0:
            return self.points[-node - 1]
        r, c = divmod(node, self.grid.width)
        lon, lat = self.grid.centres(r, c)
        return (float(lon), float(lat))


@dataclass
class RoadPlan:
    """What the settlements generator needs back from routing."""

    roads: gpd.GeoDataFrame
    hamlet_hardened: dict[int, bool]


def road_cost(terrain: Terrain) -> np.ndarray:
    """Cost per metre for road routing: gentle valley floors cheap, climbs and rivers dear."""
    tan = np.tan(np.radians(terrain.slope))
    cost = 1 + 60 * tan**2 + terrain.hand / 40 + 8 * (terrain.acc_km2 >= 20)
    inside = ndimage.binary_dilation(terrain.county_mask, iterations=1)
    return np.where(inside, cost, np.inf)


def build_roads(
    terrain: Terrain,
    county,
    townships,
    villages,
    hamlets,
    rng: np.random.Generator,
    trunk_roads: tuple = TRUNK_ROADS,
) -> RoadPlan:
    """The connected road network and whether each hamlet's own road is hardened
    (``trunk_roads`` as in TRUNK_ROADS: Lianzhou's by default)."""
    grid = terrain.coarse
    graph = RoadGraph(grid)
    cost = road_cost(terrain)
    seats = dict(zip(townships.name, townships.seat, strict=True))
    _trunk_roads(graph, cost, grid, county, seats, trunk_roads)
    _connect_seats(graph, cost, grid, townships)
    centre_paths = _township_roads(graph, cost, grid, townships, villages, terrain, rng)
    surfaces = _hamlet_surfaces(terrain, villages, hamlets, rng)
    hamlet_paths = _village_roads(graph, cost, grid, villages, hamlets, surfaces, centre_paths)
    hardened = {
        hid: all(graph.edges[k][1] == SURFACE_RANK["hardened"] for k in keys)
        for hid, keys in hamlet_paths.items()
    }
    return RoadPlan(_graph_lines(graph), hardened)


def _route(
    cost, grid: Grid, starts: list[tuple[int, int]], ends: list[tuple[int, int]], margin: int = 25
) -> list[list[int]]:
    """Least-cost cell paths (flat indices) from the nearest start to each end.

    When an end cannot be reached inside the window (a county in several parts, a seat cut
    off by the mask), the whole grid is routed with impassable cells made very dear."""
    try:
        return _route_window(cost, grid, starts, ends, margin)
    except ValueError:
        dear = np.where(np.isfinite(cost), cost, 1e4)
        return _route_window(dear, grid, starts, ends, max(grid.height, grid.width))


def _route_window(cost, grid: Grid, starts, ends, margin: int) -> list[list[int]]:
    rows = [p[0] for p in starts + ends]
    cols = [p[1] for p in starts + ends]
    r0, r1 = max(min(rows) - margin, 0), min(max(rows) + margin + 1, grid.height)
    c0, c1 = max(min(cols) - margin, 0), min(max(cols) + margin + 1, grid.width)
    sub = grid.sub(r0, r1, c0, c1)
    solver = mcp(cost[r0:r1, c0:c1], sub)
    local_starts = [(r - r0, c - c0) for r, c in starts]
    local_ends = [(r - r0, c - c0) for r, c in ends]
    solver.find_costs(local_starts, local_ends, find_all_ends=True)
    paths = []
    for end in local_ends:
        path = solver.traceback(end)
        paths.append([(r + r0) * grid.width + (c + c0) for r, c in path])
    return paths


def _rc(grid: Grid, lon: float, lat: float) -> tuple[int, int]:
    r, c = grid.rowcol(lon, lat)
    return int(r), int(c)


def _waypoint(point, county, seats) -> tuple[float, float]:
    """A seat's location, or a boundary crossing moved just inside the county."""
    if isinstance(point, str):
        return (seats[point].x, seats[point].y)
    p = shapely.Point(point)
    on_edge = county.boundary.interpolate(county.boundary.project(p))
    inward = shapely.Point(
        on_edge.x + (county.centroid.x - on_edge.x) * 0.004,
        on_edge.y + (county.centroid.y - on_edge.y) * 0.004,
    )
    return (inward.x, inward.y)


def _trunk_roads(graph: RoadGraph, cost, grid: Grid, county, seats, trunk_roads) -> None:
    for name, road_class, waypoints in trunk_roads:
        points = [_waypoint(w, county, seats) for w in waypoints]
        for a, b in itertools.pairwise(points):
            path = _route(cost, grid, [_rc(grid, *a)], [_rc(grid, *b)], margin=40)[0]
            nodes = [graph.point_node(*a), *path, graph.point_node(*b)]
            graph.add_route(nodes, road_class, "hardened", name)
            _discount(cost, grid, path)


def _discount(cost, grid: Grid, path: list[int]) -> None:
    """Make existing roads cheap so later routes reuse them instead of running parallel."""
    r, c = np.divmod(np.asarray(path), grid.width)
    cost[r, c] = np.minimum(cost[r, c], 0.3)


def _network_starts(graph: RoadGraph, grid: Grid, r0, r1, c0, c1) -> list[tuple[int, int]]:
    starts = []
    for cell in sorted(graph.cells):
        r, c = divmod(cell, grid.width)
        if r0 <= r < r1 and c0 <= c < c1:
            starts.append((r, c))
    return starts


def _connect(
    graph: RoadGraph,
    cost,
    grid: Grid,
    targets: list[tuple[float, float]],
    bounds,
    road_class: str,
    surfaces: list[str],
    names: list[str | None],
) -> list[list[tuple[int, int]]]:
    """Route each target point to the nearest existing road inside a window; returns the
    edge keys of each new route."""
    margin = 12
    while True:
        r0, r1, c0, c1 = window_around(grid, bounds, margin)
        starts = _network_starts(graph, grid, r0, r1, c0, c1)
        if starts:
            break
        margin *= 2
    ends = [_rc(grid, *p) for p in targets]
    paths = _route(cost, grid, starts, ends, margin=0) if ends else []
    keys = []
    for point, path, surface, name in zip(targets, paths, surfaces, names, strict=True):
        nodes = [*path, graph.point_node(*point)]
        keys.append(graph.add_route(nodes, road_class, surface, name))
        _discount(cost, grid, path)
    return keys


def _connect_seats(graph: RoadGraph, cost, grid: Grid, townships) -> None:
    """County roads to any seat the trunk roads missed."""
    for n, t in enumerate(townships.itertuples()):
        r, c = _rc(grid, t.seat.x, t.seat.y)
        if r * grid.width + c not in graph.cells:
            bounds = t.geom.bounds
            _connect(
                graph,
                cost,
                grid,
                [(t.seat.x, t.seat.y)],
                bounds,
                "county",
                ["hardened"],
                [f"X{410 + n}"],
            )


def _township_roads(graph, cost, grid, townships, villages, terrain, rng) -> dict[str, list]:
    """乡道 from the network to every village centre (a few remote ones only gravel);
    returns each village's route edge keys."""
    number = 1
    keys: dict[str, list] = {}
    for t in townships.itertuples():
        vs = villages[villages.township_code == t.code].iloc[1:]  # seat village is on it
        targets = [(p.x, p.y) for p in vs.centre]
        surfaces, names = [], []
        for p in vs.centre:
            r, c = _rc(grid, p.x, p.y)
            remote = terrain.elev[r, c] > 500 and rng.random() < 0.5
            surfaces.append("gravel" if remote else "hardened")
            names.append(f"Y{number:03d}")
            number += 1
        routes = _connect(graph, cost, grid, targets, t.geom.bounds, "township", surfaces, names)
        keys.update(zip(vs.code, routes, strict=True))
    return keys


def _hamlet_surfaces(terrain: Terrain, villages, hamlets, rng) -> dict[int, str]:
    """Planned surface of each hamlet's own road.

    Lacking-conditions hamlets get earth tracks; about a dozen hamlets of 200+ people in
    key villages are deliberately left on gravel/earth (the 200+ hardening target of seed
    002 §11 is not met there yet); the rest are mostly hardened, less so in the mountains.
    """
    key = dict(zip(villages.code, villages.is_poor_village, strict=True))
    surfaces: dict[int, str] = {}
    big = [
        h.id
        for h in hamlets.itertuples()
        if h.population >= 200 and key[h.village_code] and not h.lacking_conditions
    ]
    deliberate = set(rng.permutation(big)[:12].tolist()) if big else set()
    for h in hamlets.itertuples():
        if h.lacking_conditions:
            surfaces[h.id] = "earth"
        elif h.id in deliberate:
            surfaces[h.id] = "gravel" if rng.random() < 0.7 else "earth"
        else:
            p_hard = (0.62 if key[h.village_code] else 0.85) - max(h.elevation_m - 500, 0) / 2000
            if rng.random() < p_hard:
                surfaces[h.id] = "hardened"
            else:
                surfaces[h.id] = "gravel" if rng.random() < 0.65 else "earth"
    return surfaces


def _village_roads(graph, cost, grid, villages, hamlets, surfaces, centre_paths) -> dict[int, list]:
    """村道 to every hamlet off the village centre; returns each hamlet's edge keys (the
    village's township road for the centre hamlet)."""
    paths: dict[int, list] = {}
    by_village = {code: group for code, group in hamlets.groupby("village_code", sort=True)}
    for v in villages.itertuples():
        group = by_village.get(v.code)
        if group is None:
            continue
        at_centre = np.array([g.equals(v.centre) for g in group.geometry])
        for h in group[at_centre].itertuples():
            paths[h.id] = centre_paths.get(v.code, [])
        others = group[~at_centre]
        if others.empty:
            continue
        targets = [(p.x, p.y) for p in others.geometry]
        keys = _connect(
            graph,
            cost,
            grid,
            targets,
            v.geom.bounds,
            "village",
            [surfaces[i] for i in others.id],
            [None] * len(others),
        )
        paths.update(zip(others.id, keys, strict=True))
    return paths


def _graph_lines(graph: RoadGraph) -> gpd.GeoDataFrame:
    """Cut the graph into lines between junctions / attribute changes, smooth, simplify."""
    adjacency: dict[int, list[int]] = {}
    for a, b in sorted(graph.edges):
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)

    def attrs(a, b):
        e = graph.edges[(min(a, b), max(a, b))]
        return (e[0], e[1], e[2])

    def is_break(node):
        nbrs = adjacency[node]
        if node in graph.anchors or len(nbrs) != 2:
            return True  # anchors end lines, so smoothing never moves them
        return attrs(node, nbrs[0]) != attrs(node, nbrs[1])

    seen: set[tuple[int, int]] = set()
    rows = []
    starts = [n for n in sorted(adjacency) if is_break(n)]
    starts += sorted(adjacency)  # loops without a break node
    for start in starts:
        for nxt in sorted(adjacency[start]):
            if (min(start, nxt), max(start, nxt)) in seen:
                continue
            chain = _walk(start, nxt, adjacency, seen, is_break)
            rank, surface, name = attrs(chain[0], chain[1])
            xy = np.array([graph.coords(n) for n in chain])
            rows.append(
                {
                    "name": name,
                    "road_class": _key_of(CLASS_RANK, rank),
                    "surface": _key_of(SURFACE_RANK, surface),
                    "geom": _smooth_line(xy),
                }
            )
    frame = gpd.GeoDataFrame(rows, geometry="geom", crs=CRS)
    frame["_rank"] = frame.road_class.map(CLASS_RANK)
    frame["_x"] = frame.geometry.bounds.minx
    frame["_y"] = frame.geometry.bounds.miny
    frame = frame.sort_values(
        ["_rank", "name", "_x", "_y"],
        ascending=[False, True, True, True],
        kind="stable",
        na_position="last",
    )
    frame = frame.drop(columns=["_rank", "_x", "_y"]).reset_index(drop=True)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["synthetic"] = True
    return frame[["id", "name", "road_class", "surface", "geom", "synthetic"]]


def _walk(start, nxt, adjacency, seen, is_break) -> list[int]:
    chain = [start, nxt]
    seen.add((min(start, nxt), max(start, nxt)))
    while not is_break(chain[-1]) and chain[-1] != start:
        a, b = adjacency[chain[-1]]
        step = b if a == chain[-2] else a
        key = (min(chain[-1], step), max(chain[-1], step))
        if key in seen:
            break
        seen.add(key)
        chain.append(step)
    return chain


def _key_of(ranks: dict[str, int], rank: int) -> str:
    return next(k for k, v in ranks.items() if v == rank)


def _smooth_line(xy: np.ndarray, iterations: int = 2) -> shapely.LineString:
    """Chaikin corner cutting (end points fixed), then ~10 m simplification."""
    for _ in range(iterations):
        if len(xy) < 3:
            break
        q = 0.75 * xy[:-1] + 0.25 * xy[1:]
        r = 0.25 * xy[:-1] + 0.75 * xy[1:]
        inner = np.empty((2 * (len(xy) - 1), 2))
        inner[0::2], inner[1::2] = q, r
        xy = np.vstack([xy[:1], inner[1:-1], xy[-1:]])
    return shapely.simplify(shapely.LineString(xy), SIMPLIFY_DEG)
