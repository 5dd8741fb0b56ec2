"""Townships and administrative villages of the demo county, tiling it exactly.

Codes and names are the official ones (统计用区划代码 2023 via geo.divisions): 12 townships,
174 villages (村委会) and communities (居委会); communities are towns packed around their
township's seat, and provincial key villages are chosen among the 村委会 only.

Boundaries are a least-cost allocation (skimage MCP with one start per seat) over a cost
surface that is expensive on steep and high ground, so divides fall on ridges as real
township boundaries tend to; the allocation raster is polygonised, simplified as a coverage
(shared edges stay shared) and clipped to the parent polygon, so children tile their parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage

from geo import divisions
from geo.demo import names
from geo.demo.grid import Grid, allocate, polygonize, rasterize_mask, window_around
from geo.demo.settlements import spread_sample, valley_weight
from geo.demo.terrain import Terrain

COUNTY_CODE = "441882"
CRS = "EPSG:4326"


@dataclass(frozen=True)
class TownshipSpec:
    code: str
    seat: tuple[float, float]  # lon, lat (WGS84), approximate
    key_villages: int  # provincial key (poor) villages, seed 001

    @property
    def name(self) -> str:
        return divisions.get(self.code).name

    @property
    def units(self) -> list[divisions.Division]:
        """The official villages and communities (统计用区划代码 2023), in code order."""
        return divisions.children(self.code)


# The 12 townships of 连州市 with their official codes (10 towns 1xx, 2 Yao ethnic townships
# 2xx); names, villages and communities come from geo.divisions. Seats are approximate real
# locations (连州镇 is the city; the others placed from public gazetteer descriptions of each
# township's neighbours: 保安 between 连州镇 and 瑶安/东陂, 星子 NE with 大路边 to its north,
# 西江 on the 阳山 border with the G323, 三水 in the NW corner next to 蓝山 (Hunan), 瑶安 to
# its east, 丰阳/东陂/西岸 down the western valley). Key-village counts are the seed-001
# numbers (57 in total, DOMAIN.md).
TOWNSHIPS: tuple[TownshipSpec, ...] = (
    TownshipSpec("441882100", (112.383, 24.781), 5),  # 连州镇
    TownshipSpec("441882101", (112.590, 25.020), 6),  # 星子镇
    TownshipSpec("441882102", (112.600, 25.115), 5),  # 大路边镇
    TownshipSpec("441882103", (112.552, 24.858), 5),  # 龙坪镇
    TownshipSpec("441882104", (112.308, 24.862), 6),  # 西岸镇
    TownshipSpec("441882105", (112.410, 24.920), 6),  # 保安镇
    TownshipSpec("441882106", (112.232, 24.990), 6),  # 丰阳镇
    TownshipSpec("441882107", (112.322, 24.990), 6),  # 东陂镇
    TownshipSpec("441882109", (112.440, 24.690), 6),  # 九陂镇
    TownshipSpec("441882118", (112.620, 24.760), 2),  # 西江镇
    TownshipSpec("441882200", (112.330, 25.110), 3),  # 瑶安瑶族乡
    TownshipSpec("441882201", (112.190, 25.100), 1),  # 三水瑶族乡
)
COMMUNITY = "居委会"  # urban communities (社区): towns, few poor households
COMMUNITY_SPACING_M = 700.0  # between the centres of a township's communities
COMMUNITY_REACH_M = 3000.0  # communities lie within this distance of the seat


def seats() -> list[tuple[float, float]]:
    return [t.seat for t in TOWNSHIPS]


def boundary_cost(terrain: Terrain) -> np.ndarray:
    """Cost per metre for the allocation: steep and high ground is much dearer than valley
    floors, so allocations meet on ridges."""
    elev = terrain.elev
    rel = (elev - elev.min()) / max(float(np.ptp(elev)), 1.0)
    return (1 + 10 * np.tan(np.radians(terrain.slope))) * (1 + 12 * rel**1.5)


def build_townships(terrain: Terrain, county) -> gpd.GeoDataFrame:
    """The 12 townships, tiling ``county`` exactly, with their seats."""
    grid = terrain.coarse
    cost = _masked(boundary_cost(terrain), ndimage.binary_dilation(terrain.county_mask, None, 4))
    seeds = [tuple(int(v) for v in grid.rowcol(*t.seat)) for t in TOWNSHIPS]
    labels = allocate(cost, grid, seeds)
    geoms = _clip_coverage(polygonize(labels, grid), len(TOWNSHIPS), county, 1.5 * grid.res)
    return gpd.GeoDataFrame(
        {
            "code": [t.code for t in TOWNSHIPS],
            "county_code": COUNTY_CODE,
            "name": [t.name for t in TOWNSHIPS],
            "seat": gpd.GeoSeries([shapely.Point(t.seat) for t in TOWNSHIPS], crs=CRS),
            "geom": geoms,
            "synthetic": True,
        },
        geometry="geom",
        crs=CRS,
    )


def build_villages(
    terrain: Terrain, townships: gpd.GeoDataFrame, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """The official villages and communities of each township, tiling it, with key flags.

    Extra columns for the generators: ``committee`` (村委会/居委会), ``official_name`` and
    ``town`` (communities, or the seat village where a township has none: no key village, no
    hamlet lacking living conditions).
    """
    cost = boundary_cost(terrain)
    weight = valley_weight(terrain)
    frames = []
    for spec, township in zip(TOWNSHIPS, townships.itertuples(), strict=True):
        units = spec.units
        community = np.array([u.committee == COMMUNITY for u in units])
        centres = _village_centres(terrain, weight, township.geom, spec, community, rng)
        geoms = _village_polygons(terrain.coarse, cost, township.geom, centres)
        town = community.copy()
        town[0] |= not community.any()  # the seat village
        key = _key_villages(terrain, geoms, centres, spec, ~town, rng)
        frames.append(village_frame(spec.code, units, town, key, centres, geoms))
    villages = gpd.GeoDataFrame(gpd.pd.concat(frames, ignore_index=True), geometry="geom", crs=CRS)
    _assign_helpers(villages, rng)
    return villages


def village_frame(township_code: str, units, town, key, centres, geoms) -> gpd.GeoDataFrame:
    """One township's villages: official ``units`` with their flags, centres and polygons."""
    return gpd.GeoDataFrame(
        {
            "code": [u.code for u in units],
            "township_code": township_code,
            "name": [u.short_name for u in units],
            "official_name": [u.name for u in units],
            "committee": [u.committee for u in units],
            "town": town,
            "is_poor_village": key,
            "key_level": ["provincial" if k else None for k in key],
            "centre": gpd.GeoSeries([shapely.Point(p) for p in centres], crs=CRS),
            "geom": geoms,
        },
        geometry="geom",
        crs=CRS,
    )


def _masked(cost: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, cost, np.inf)


def _clip_coverage(polygons: dict, n: int, parent, tolerance: float) -> list:
    """Simplify the raster polygons as a coverage (stair steps go, shared edges stay
    shared), clip to ``parent``, tidy fragments."""
    coverage = np.array([polygons[i] for i in range(n)], dtype=object)
    simplified = shapely.coverage_simplify(coverage, tolerance)
    clipped = [as_multipolygon(shapely.make_valid(g.intersection(parent))) for g in simplified]
    return share_vertices(absorb_fragments(clipped, min_km2=0.5))


def share_vertices(geoms: list) -> list:
    """Insert into each polygon the neighbours' vertices lying on its edges.

    Clipping can leave a vertex on one side of a shared edge only; in degrees that is
    harmless, but after projection the edge bends and sub-m² slivers appear.
    """
    coords = [shapely.get_coordinates(g) for g in geoms]
    shared = []
    for i, geom in enumerate(geoms):
        near = [coords[j] for j, other in enumerate(geoms) if j != i and other.intersects(geom)]
        if near:
            geom = shapely.snap(geom, shapely.MultiPoint(np.vstack(near)), 1e-9)
        shared.append(as_multipolygon(shapely.make_valid(geom)))
    return shared


def absorb_fragments(geoms: list, min_km2: float) -> list:
    """Give detached parts smaller than ``min_km2`` to the neighbour sharing most border.

    Keeps the tiling exact (area only moves between neighbours) while avoiding exclaves
    left by clipping the allocation to the parent boundary.
    """
    geoms = list(geoms)
    for i in range(len(geoms)):
        parts = sorted(_polygons(geoms[i]), key=lambda p: -p.area)
        keep = parts[:1]
        for part in parts[1:]:
            j = _longest_border_neighbour(part, geoms, i)
            if approx_km2(part) >= min_km2 or j is None:
                keep.append(part)
            else:
                geoms[j] = shapely.union(geoms[j], part)
        geoms[i] = shapely.MultiPolygon(keep) if len(keep) > 1 else keep[0]
    return geoms


def _longest_border_neighbour(part, geoms: list, own: int) -> int | None:
    best, best_length = None, 0.0
    for j, other in enumerate(geoms):
        if j == own or not other.intersects(part):
            continue
        length = part.boundary.intersection(other.boundary).length
        if length > best_length:
            best, best_length = j, length
    return best


def _polygons(geom) -> list:
    if geom.geom_type == "Polygon":
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon" and not g.is_empty]


def as_multipolygon(geom) -> shapely.MultiPolygon:
    """The polygonal part of ``geom`` as a MultiPolygon (lines and points dropped)."""
    parts = []
    for g in [geom] if geom.geom_type != "GeometryCollection" else geom.geoms:
        parts.extend(_polygons(g))
    return shapely.MultiPolygon(parts)


def approx_km2(geom) -> float:
    """Area in km² of a lon/lat geometry (local scale at its centroid; ≪1 % error here)."""
    lat = geom.centroid.y if not geom.is_empty else 0.0
    return geom.area * 110.574 * 111.320 * math.cos(math.radians(lat))


def _village_centres(
    terrain: Terrain, weight, township_geom, spec: TownshipSpec, community: np.ndarray, rng
) -> list[tuple[float, float]]:
    """One centre per official unit, in code order.

    Communities (居委会, codes 0xx, listed first) are packed around the seat, the first one
    at it; without communities the first village sits at the seat. The other villages are
    valley-weighted, well-spread points, the nearest to the seat taking the lowest codes.
    """
    grid = terrain.coarse
    inside = ndimage.binary_erosion(rasterize_mask(township_geom, grid), iterations=2)
    rows, cols = np.nonzero(inside)
    lon, lat = grid.centres(rows, cols)
    x_m, y_m = _metres(grid, lon, lat)
    cell_weight = weight[rows, cols]
    anchors = [spec.seat]
    n_towns = int(community.sum())
    if n_towns > 1:
        sx, sy = _metres(grid, *spec.seat)
        near = np.hypot(x_m - sx, y_m - sy) <= COMMUNITY_REACH_M
        picked = spread_sample(
            rng, x_m, y_m, np.where(near, cell_weight, 0.0), n_towns - 1,
            COMMUNITY_SPACING_M, fixed=[(float(sx), float(sy))],
        )  # fmt: skip
        anchors += [(float(lon[i]), float(lat[i])) for i in picked]
    fixed = [tuple(float(v) for v in _metres(grid, *p)) for p in anchors]
    spacing = 0.55 * math.sqrt(approx_km2(township_geom) * 1e6 / len(community))
    picked = spread_sample(
        rng, x_m, y_m, cell_weight, len(community) - len(anchors), spacing, fixed=fixed
    )
    others = [(float(lon[i]), float(lat[i])) for i in picked]
    others.sort(key=lambda p: (p[0] - spec.seat[0]) ** 2 + (p[1] - spec.seat[1]) ** 2)
    centres = anchors + others
    if len(centres) != len(community):
        raise ValueError(f"{spec.code}: placed {len(centres)} of {len(community)} village centres")
    return centres


def _metres(grid: Grid, lon, lat):
    dy, dx = grid.cell_m
    return np.asarray(lon) / grid.res * dx, np.asarray(lat) / grid.res * dy


def _village_polygons(coarse: Grid, cost, township_geom, centres) -> list:
    """Allocate the township's cells to the village centres and tile the township."""
    r0, r1, c0, c1 = window_around(coarse, township_geom.bounds, 8)
    sub = coarse.sub(r0, r1, c0, c1)
    region = shapely.buffer(township_geom, 5 * coarse.res)
    local = _masked(cost[r0:r1, c0:c1], rasterize_mask(region, sub))
    seeds = [tuple(int(v) for v in sub.rowcol(*p)) for p in centres]
    labels = allocate(local, sub, seeds)
    return _clip_coverage(polygonize(labels, sub), len(centres), township_geom, 1.2 * coarse.res)


def _key_villages(
    terrain: Terrain, geoms, centres, spec: TownshipSpec, eligible: np.ndarray, rng
) -> list[bool]:
    """Pick the township's key villages among the ``eligible`` (rural 村, not the seat),
    favouring high, steep, remote ones."""
    grid = terrain.coarse
    scores = []
    for geom, (lon, lat) in zip(geoms, centres, strict=True):
        r, c = grid.rowcol(lon, lat)
        dist_km = math.hypot(lon - spec.seat[0], (lat - spec.seat[1]) * 1.1) * 101
        scores.append(
            terrain.elev[r, c] / 150 + terrain.slope[r, c] / 8 + dist_km / 4 + approx_km2(geom) / 15
        )
    scores = np.asarray(scores)
    scores = (scores - scores.mean()) / (scores.std() + 1e-9)
    keys = 1.5 * scores + rng.gumbel(size=scores.size)
    keys[~eligible] = -np.inf
    if spec.key_villages > eligible.sum():
        raise ValueError(f"{spec.code}: {spec.key_villages} key villages, {eligible.sum()} 村")
    chosen = set(np.argsort(-keys, kind="stable")[: spec.key_villages].tolist())
    return [i in chosen for i in range(len(centres))]


def _assign_helpers(villages: gpd.GeoDataFrame, rng) -> None:
    """Helping units (广州 units, the pairing city) and first secretaries for key villages."""
    key_rows = np.nonzero(villages["is_poor_village"].to_numpy())[0]
    units = list(names.GUANGZHOU_UNITS)
    order = rng.permutation(len(units))
    helping: list = [None] * len(villages)
    secretary: list = [None] * len(villages)
    for n, row in enumerate(key_rows):
        helping[row] = units[order[n % len(units)]]
        secretary[row] = names.person_name(rng)
    villages["helping_unit"] = helping
    villages["first_secretary"] = secretary
