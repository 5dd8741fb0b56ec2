"""Approximate (示意) village and township boundaries from points, when no polygons exist.

A real county office has the codes of its villages and the GPS points of its households, but
rarely village polygons. The codes decide who belongs where; the polygons only have to show
it. So: a Voronoi diagram of every known point (households, hamlets), cells dissolved by the
point's village, clipped to the county's real boundary. Because every cell belongs to exactly
one point, the villages tile the county without gaps or overlaps and every point lies inside
its own village; townships are the union of their villages' cells and tile the county too.

The diagram is computed on longitude scaled by cos(latitude) (an affine map, so straight edges
stay straight and containment is kept exactly when mapped back), which makes the split between
two villages fall halfway in metres, not in degrees.

Coordinates shared by households of different villages cannot be separated by any polygon:
they are reported (``conflicts``) and the place goes to the village with most points there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.demo.grid import Grid, allocate, polygonize

CRS = "EPSG:4326"
GRID_DEG = 1e-9  # precision of the tiling checks (~0.1 mm)


@dataclass
class DerivedBoundaries:
    villages: gpd.GeoDataFrame  # code, township_code, points, geometry (MultiPolygon, lon/lat)
    townships: gpd.GeoDataFrame  # code, geometry
    conflicts: list[tuple[float, float, list[str]]] = field(default_factory=list)
    outside_frame: list[int] = field(default_factory=list)  # input rows outside the frame


@dataclass(frozen=True)
class Elevation:
    """Heights (m) on a lon/lat grid covering the county, from a DEM (NaN where none)."""

    z: np.ndarray
    grid: Grid


def derive_boundaries(
    points: gpd.GeoDataFrame,
    frame: BaseGeometry,
    elevation: Elevation | None = None,
    village_column: str = "village_code",
) -> DerivedBoundaries:
    """Village polygons from ``points`` (one village code each), tiling ``frame`` (lon/lat).

    With ``elevation``, land goes to the village whose points are nearest by a least-cost
    distance that is dear over steep and high ground, so divides follow ridges as real
    village boundaries in the hills do; each point keeps a small zone of its own (its Voronoi
    cell within one grid cell) so that it always lies in its own village. Without, the
    distance is straight-line (Voronoi). Township codes are the village codes' first nine
    digits (统计用区划代码).
    """
    if points.empty:
        raise ValueError("no points to derive boundaries from")
    xy = shapely.get_coordinates(points.geometry.to_numpy())
    codes = points[village_column].astype(str).to_numpy()
    sites, site_codes, conflicts = _unique_sites(xy, codes)
    cells = _voronoi_cells(sites, frame)
    if elevation is None:
        villages = _dissolve(cells, site_codes)
    else:
        villages = _least_cost_villages(sites, site_codes, cells, elevation, xy, codes)
    villages = {code: _clip(geom, frame) for code, geom in villages.items()}
    townships: dict[str, list] = {}
    for code, geom in villages.items():
        townships.setdefault(code[:9], []).append(geom)
    counts = pd.Series(codes).value_counts()
    village_frame = gpd.GeoDataFrame(
        {
            "code": list(villages),
            "township_code": [c[:9] for c in villages],
            "points": [int(counts.get(c, 0)) for c in villages],
        },
        geometry=list(villages.values()),
        crs=CRS,
    )
    township_frame = gpd.GeoDataFrame(
        {"code": list(townships)},
        geometry=[_as_multi(shapely.union_all(g)) for g in townships.values()],
        crs=CRS,
    )
    inside = shapely.covers(frame, shapely.points(xy))
    return DerivedBoundaries(
        villages=village_frame[~village_frame.geometry.is_empty].reset_index(drop=True),
        townships=township_frame[~township_frame.geometry.is_empty].reset_index(drop=True),
        conflicts=conflicts,
        outside_frame=[int(i) for i in np.flatnonzero(~inside)],
    )


def _dissolve(cells: np.ndarray, codes: np.ndarray) -> dict[str, BaseGeometry]:
    groups = pd.Series(list(cells)).groupby(codes).agg(list)
    return {code: shapely.coverage_union_all(group) for code, group in groups.items()}


def _least_cost_villages(
    sites: np.ndarray,
    site_codes: np.ndarray,
    cells: np.ndarray,
    elevation: Elevation,
    xy: np.ndarray,
    codes: np.ndarray,
) -> dict[str, BaseGeometry]:
    """Land by least cost from each village's central place, then each point's own zone
    (its Voronoi cell within one grid cell) to its village."""
    centres, centre_codes = _main_places(xy, codes)
    zones = _own_zones(sites, cells, elevation.grid.res)
    return _allocate_and_fix(
        centres, centre_codes, zones, terrain_cost(elevation), elevation.grid, site_codes
    )


def _own_zones(sites: np.ndarray, cells: np.ndarray, half: float) -> np.ndarray:
    """Each site's own zone: its Voronoi cell within ``half`` degrees (disjoint by design)."""
    boxes = shapely.box(
        sites[:, 0] - half, sites[:, 1] - half, sites[:, 0] + half, sites[:, 1] + half
    )
    return shapely.intersection(cells, boxes)


def _allocate_and_fix(
    seeds: np.ndarray,
    seed_codes: np.ndarray,
    zones: np.ndarray,
    cost: np.ndarray,
    grid: Grid,
    zone_codes: np.ndarray | None = None,
    within: BaseGeometry | None = None,
) -> dict[str, BaseGeometry]:
    """Least-cost allocation of the grid to ``seeds`` by code, polygonised, then every zone
    given to its own code (zones of ``zone_codes``, default ``seed_codes``)."""
    zone_codes = seed_codes if zone_codes is None else zone_codes
    codes, seed_index = np.unique(seed_codes, return_inverse=True)
    rows, cols = grid.rowcol(seeds[:, 0], seeds[:, 1])
    table = pd.DataFrame({"cell": rows * grid.width + cols, "code": seed_index})
    table = table.groupby(["cell", "code"]).size().rename("n").reset_index()
    table = table.sort_values(["cell", "n", "code"], ascending=[True, False, True])
    table = table.drop_duplicates("cell")
    starts = [(int(c) // grid.width, int(c) % grid.width) for c in table["cell"]]
    labels = allocate(cost, grid, starts)
    code_of_start = table["code"].to_numpy()
    polygons = polygonize(np.where(labels >= 0, code_of_start[np.maximum(labels, 0)], -1), grid)
    keys = sorted(polygons)
    land = dict(
        zip(
            keys,
            shapely.coverage_simplify(
                np.array([polygons[k] for k in keys], dtype=object), grid.res * 0.75
            ),
            strict=True,
        )
    )
    all_zones = shapely.union_all(zones)
    result = {}
    for index, code in enumerate(codes):
        rest = land.get(index, shapely.Polygon())
        if within is not None:
            rest = shapely.intersection(rest, within)
        own = shapely.union_all(zones[zone_codes == code])
        result[str(code)] = shapely.union(shapely.difference(rest, all_zones), own)
    for code in set(zone_codes) - set(codes):  # places only (no seed of their own)
        result[str(code)] = shapely.union_all(zones[zone_codes == code])
    return result


def _main_places(points: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per code, its medoid: the own point with the least summed distance to the others.

    Surely one of the village's own points (a bent village's mean may lie outside it), and
    not pulled off-centre by a far hamlet as the point nearest the mean is: on the demo the
    median village IoU rises from 0.748 to 0.76 (bench/derived_boundaries.py).
    """
    centres, centre_codes = [], []
    for code in np.unique(codes):
        mine = points[codes == code]
        centres.append(_medoid(mine))
        centre_codes.append(code)
    return np.array(centres), np.array(centre_codes)


MEDOID_CANDIDATES = 400  # a big village's medoid is sought among the points nearest its mean


def _medoid(points: np.ndarray) -> np.ndarray:
    """The point of ``points`` (lon/lat) with the least summed distance to all of them."""
    scaled = points * [math.cos(math.radians(float(points[:, 1].mean()))), 1.0]
    to_mean = ((scaled - scaled.mean(axis=0)) ** 2).sum(axis=1)
    candidates = np.argsort(to_mean, kind="stable")[:MEDOID_CANDIDATES]
    totals = np.zeros(len(candidates))
    for start in range(0, len(scaled), 2000):  # bounded memory for villages of many points
        chunk = scaled[start : start + 2000]
        diff = scaled[candidates, None, :] - chunk[None, :, :]
        totals += np.hypot(diff[..., 0], diff[..., 1]).sum(axis=1)
    return points[candidates[np.argmin(totals)]]


def terrain_cost(elevation: Elevation) -> np.ndarray:
    """Cost per metre: steep and high ground is dearer than valley floors (NaN: dearest)."""
    z = elevation.z
    dy, dx = elevation.grid.cell_m
    gy, gx = np.gradient(np.where(np.isfinite(z), z, np.nanmean(z)), dy, dx)
    steep = np.hypot(gx, gy)
    low, high = np.nanmin(z), np.nanmax(z)
    height = (z - low) / max(float(high - low), 1.0)
    # weights judged on the demo county (bench/derived_boundaries.py): slope and relative
    # height both push divides onto ridges, as hill villages' boundaries tend to run
    cost = (1 + 10 * steep) * (1 + 8 * np.nan_to_num(height, nan=1.0))
    return np.where(np.isfinite(z), cost, float(np.nanmax(cost)))


def read_elevation(path: str, frame: BaseGeometry, res: float = 0.001) -> Elevation:
    """The DEM at ``path`` resampled (mean) to a ``res``-degree grid covering ``frame``."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    grid = Grid.covering(frame.bounds, res, pad=2 * res, multiple=1)
    with (
        rasterio.open(path) as src,
        WarpedVRT(
            src,
            crs="EPSG:4326",
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.average,
        ) as vrt,
    ):
        z = vrt.read(1, masked=True).astype(float).filled(np.nan)
    return Elevation(z, grid)


def _unique_sites(
    xy: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, list[str]]]]:
    """One site per distinct coordinate, given to the village with most points there."""
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "code": codes})
    tally = frame.groupby(["x", "y", "code"], sort=True).size().rename("n").reset_index()
    tally = tally.sort_values(["x", "y", "n", "code"], ascending=[True, True, False, True])
    by_site = tally.groupby(["x", "y"], sort=True)
    conflicts = [
        (float(x), float(y), sorted(group["code"])) for (x, y), group in by_site if len(group) > 1
    ]
    first = by_site.head(1)
    return first[["x", "y"]].to_numpy(), first["code"].to_numpy(), conflicts


def _voronoi_cells(sites: np.ndarray, frame: BaseGeometry) -> np.ndarray:
    """The Voronoi cell of each site (in site order) covering ``frame``, in lon/lat.

    Computed on longitude scaled by cos(latitude), so splits fall halfway in metres; the
    scaling is undone on the cells, whose shared vertices stay shared.
    """
    minx, miny, maxx, maxy = frame.bounds
    pad = max(maxx - minx, maxy - miny)
    extent = shapely.box(
        min(minx, sites[:, 0].min()) - pad,
        min(miny, sites[:, 1].min()) - pad,
        max(maxx, sites[:, 0].max()) + pad,
        max(maxy, sites[:, 1].max()) + pad,
    )
    if len(sites) == 1:
        return np.array([extent], dtype=object)
    scale = np.array([math.cos(math.radians(frame.centroid.y)), 1.0])
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(sites * scale),
        extend_to=shapely.transform(extent, lambda c: c * scale),
        ordered=True,
    )
    cells = np.asarray(shapely.get_parts(diagram), dtype=object)
    if len(cells) != len(sites):
        raise ValueError(f"Voronoi diagram gave {len(cells)} cells for {len(sites)} sites")
    return shapely.transform(cells, lambda c: c / scale)


def _clip(geom: BaseGeometry, frame: BaseGeometry) -> BaseGeometry:
    """``geom`` within ``frame``, as a (possibly empty) MultiPolygon."""
    return _as_multi(shapely.intersection(geom, frame))


def _as_multi(geom: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


# --- checks used by tests, the benchmark and the import of real polygons --------------------


def points_outside_own_polygon(
    points: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    village_column: str = "village_code",
) -> np.ndarray:
    """Positions of ``points`` not covered by the polygon of their own village."""
    by_code = polygons.set_index("code").geometry
    own = by_code.reindex(points[village_column].astype(str)).to_numpy()
    missing = pd.isna(own)
    covered = np.zeros(len(points), dtype=bool)
    covered[~missing] = shapely.covers(
        np.asarray(own[~missing], dtype=object), points.geometry.to_numpy()[~missing]
    )
    return np.flatnonzero(~covered)


def tiling_defects(polygons: gpd.GeoSeries, frame: BaseGeometry) -> tuple[float, float]:
    """(largest gap, largest overlap) in m² of ``polygons`` tiling ``frame`` (lon/lat).

    Gaps are the parts of ``frame`` no polygon covers; overlaps are pairwise intersections.
    Measured in the coordinates the polygons are stored in (degrees, converted to m² at the
    frame's latitude): projecting first would bend long edges and make slivers of its own.
    """
    geoms = np.asarray(gpd.GeoSeries(polygons).make_valid().to_numpy(), dtype=object)
    union = shapely.union_all(geoms, grid_size=GRID_DEG)
    gaps = shapely.get_parts(shapely.difference(frame, union, grid_size=GRID_DEG))
    max_gap = max((g.area for g in gaps), default=0.0)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = left < right
    overlaps = shapely.area(
        shapely.intersection(geoms[left[pairs]], geoms[right[pairs]], grid_size=GRID_DEG)
    )
    max_overlap = float(overlaps.max()) if len(overlaps) else 0.0
    return float(max_gap) * _m2_per_deg2(frame), max_overlap * _m2_per_deg2(frame)


def _m2_per_deg2(frame: BaseGeometry) -> float:
    lat = math.radians(frame.centroid.y)
    return 110_574.0 * 111_320.0 * math.cos(lat)


def local_equal_area(geom: BaseGeometry) -> str:
    """A Lambert azimuthal equal-area projection centred on ``geom`` (areas in m²)."""
    c = geom.centroid
    return f"+proj=laea +lat_0={c.y:.4f} +lon_0={c.x:.4f} +datum=WGS84 +units=m +no_defs"
