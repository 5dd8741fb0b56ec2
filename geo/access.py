"""Access to facilities over the road network, AccessMod-style: walk, ride, walk.

A trip from a home to a facility is: walk in a straight line to the nearest point of the
nearest road (default 4 km/h; optionally slowed by slope with Tobler's hiking function on the
DEM), travel the roads at the speed of each edge (``geo.network``), walk from the road to the
facility. A facility within walking reach may also be walked to directly, whichever is faster.
Every facility of a kind is a source of one multi-source shortest-path run.

Unreachable is explicit: minutes are ``inf`` and ``reason`` says why — ``off_network`` (the
home is farther than ``max_walk_m`` from every road and from every facility), ``no_path``
(its road component holds no facility of the kind) or ``no_facility`` (there is none).

Tobler (1993): speed = 6·exp(−3.5·|S + 0.05|) km/h for slope S = dh/dx, scaled here so that
flat ground (its maximum at S = −0.05 aside) walks at the profile's speed.

>>> walker = Walker(speed_kmh=4.0)
>>> round(float(walker.minutes(np.array([[0.0, 0.0]]), np.array([[1000.0, 0.0]]))[0]), 6)
15.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import rasterio.features
import rasterio.transform
import shapely
from affine import Affine
from scipy.spatial import cKDTree

from geo.network import METRES_PER_MINUTE_PER_KMH, RoadNetwork, Snap
from geo.policy import WalkPolicy

TOBLER_FLAT = np.exp(-3.5 * 0.05)
MAX_TOBLER_STEPS = 64
MAX_SLOPE = 1.0  # 45°: steeper readings are DEM artefacts over short legs
CHUNK = 50_000  # points per vectorised Tobler batch (bounded memory on big grids)


class Dem:
    """A DEM GeoTIFF read once into memory, sampled at metric points of ``crs``.

    Points outside the raster or on nodata sample as NaN (walked as flat ground).
    """

    def __init__(self, path: str | Path, crs: pyproj.CRS):
        with rasterio.open(path) as src:
            band = src.read(1, masked=True)
            self.z = np.ma.filled(band.astype(float), np.nan)
            self.transform = src.transform
            dem_crs = src.crs
        self._to_dem = pyproj.Transformer.from_crs(crs, dem_crs, always_xy=True)

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = self._to_dem.transform(np.ravel(x), np.ravel(y))
        rows, cols = rasterio.transform.rowcol(self.transform, dx, dy)
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < self.z.shape[0]) & (cols >= 0) & (cols < self.z.shape[1])
        z = np.full(rows.shape, np.nan)
        z[inside] = self.z[rows[inside], cols[inside]]
        return z.reshape(np.shape(x))


@dataclass(frozen=True)
class Walker:
    """Walking minutes between metric points: flat speed, or Tobler on a DEM."""

    speed_kmh: float = 4.0
    dem: Dem | None = None
    step_m: float = 30.0
    max_walk_m: float = np.inf

    @classmethod
    def from_policy(cls, policy: WalkPolicy, dem_path: str | Path | None, crs) -> Walker:
        dem = Dem(dem_path, pyproj.CRS(crs)) if policy.tobler and dem_path else None
        return cls(policy.speed_kmh, dem, policy.tobler_step_m, policy.max_walk_m)

    @property
    def metres_per_minute(self) -> float:
        return self.speed_kmh * METRES_PER_MINUTE_PER_KMH

    def minutes(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Minutes from each start x/y to each end x/y (NaN in → NaN out)."""
        start, end = np.asarray(start, float), np.asarray(end, float)
        flat = np.hypot(*(end - start).T) / self.metres_per_minute
        if self.dem is None or len(start) == 0:
            return flat
        out = np.empty(len(start))
        for lo in range(0, len(start), CHUNK):
            hi = lo + CHUNK
            out[lo:hi] = self._tobler(start[lo:hi], end[lo:hi])
        return np.where(np.isnan(flat), np.nan, out)

    def _tobler(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sum of Tobler times over legs of about ``step_m`` (at least one leg per walk), so
        a slope is never taken over less than the DEM's spacing."""
        distance = np.nan_to_num(np.hypot(*(end - start).T), nan=0.0, posinf=0.0)
        legs = np.clip(np.floor(distance / self.step_m), 1, MAX_TOBLER_STEPS).astype(int)
        k = np.arange(int(legs.max()) + 1)
        t = np.minimum(k / legs[:, None], 1.0)
        x = start[:, :1] + (end[:, :1] - start[:, :1]) * t
        y = start[:, 1:] + (end[:, 1:] - start[:, 1:]) * t
        z = self.dem.sample(x, y)
        leg = np.where(k[1:] <= legs[:, None], (distance / legs)[:, None], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(leg > 0, np.diff(z, axis=1) / leg, 0.0)
        slope = np.clip(np.nan_to_num(slope, nan=0.0), -MAX_SLOPE, MAX_SLOPE)
        speed = self.metres_per_minute * np.exp(-3.5 * np.abs(slope + 0.05)) / TOBLER_FLAT
        return (leg / speed).sum(axis=1)


@dataclass(frozen=True)
class Access:
    """Minutes to the nearest facility per point, which facility, and why if unreachable."""

    minutes: np.ndarray
    facility: np.ndarray
    reason: np.ndarray

    def value(self, i: int) -> float | None:
        """Minutes as a plain number, None when unreachable."""
        m = self.minutes[i]
        return float(m) if np.isfinite(m) else None


def snap_points(network: RoadNetwork, xy: np.ndarray, walker: Walker) -> tuple[Snap, np.ndarray]:
    """Snap metric points to the network within walking reach; (snap, walking minutes)."""
    snap = network.snap(shapely.points(xy), walker.max_walk_m)
    walk = np.full(len(xy), np.inf)
    on = snap.on_network
    walk[on] = walker.minutes(xy[on], snap.road_xy[on])
    return snap, walk


def access_to(
    network: RoadNetwork,
    walker: Walker,
    xy: np.ndarray,
    snap: Snap,
    walk_min: np.ndarray,
    facility_xy: np.ndarray,
) -> Access:
    """Nearest facility in minutes for every point (metric x/y, already snapped)."""
    n = len(xy)
    reason = np.full(n, None, dtype=object)
    if len(facility_xy) == 0:
        reason[:] = "no_facility"
        return Access(np.full(n, np.inf), np.full(n, -1, dtype=np.int64), reason)
    fsnap, _ = snap_points(network, facility_xy, walker)
    fwalk_in = np.where(fsnap.on_network, walker.minutes(fsnap.road_xy, facility_xy), np.inf)
    road, nearest = network.travel_minutes(fsnap, snap, fwalk_in)
    minutes = walk_min + road
    direct, direct_facility = _direct_walk(walker, xy, facility_xy)
    closer = direct < minutes
    minutes = np.where(closer, direct, minutes)
    nearest = np.where(closer, direct_facility, nearest)
    unreachable = ~np.isfinite(minutes)
    reason[unreachable & ~snap.on_network] = "off_network"
    reason[unreachable & snap.on_network] = "no_path"
    nearest[unreachable] = -1
    return Access(minutes, nearest, reason)


def travel_matrix(
    network: RoadNetwork,
    walker: Walker,
    xy: np.ndarray,
    snap: Snap,
    walk_min: np.ndarray,
    site_xy: np.ndarray,
    limit: float = np.inf,
) -> np.ndarray:
    """Minutes from every site to every point, shape (sites, points): the trips of
    :func:`access_to` (walk, roads, walk, or a straight walk within reach), so a row's
    minimum over sites is what ``access_to`` gives for them all. Above ``limit`` may be
    ``inf``; unreachable is ``inf``."""
    minutes = np.full((len(site_xy), len(xy)), np.inf)
    if len(site_xy) == 0 or len(xy) == 0:
        return minutes
    fsnap, _ = snap_points(network, site_xy, walker)
    fwalk_in = np.where(fsnap.on_network, walker.minutes(fsnap.road_xy, site_xy), np.inf)
    road = network.travel_matrix(fsnap, snap, fwalk_in, limit)
    minutes = road + walk_min[None, :]
    if np.isfinite(walker.max_walk_m):  # straight walks within reach
        pairs = cKDTree(site_xy).query_ball_point(xy, walker.max_walk_m)
        point = np.repeat(np.arange(len(xy)), [len(p) for p in pairs])
        site = np.fromiter((j for p in pairs for j in p), dtype=np.int64, count=len(point))
    else:
        site, point = (a.ravel() for a in np.indices((len(site_xy), len(xy))))
    if len(point):
        direct = walker.minutes(xy[point], site_xy[site])
        minutes[site, point] = np.minimum(minutes[site, point], direct)
    return minutes


def _direct_walk(walker: Walker, xy: np.ndarray, facility_xy: np.ndarray):
    """Walking straight to the nearest facility when it is within walking reach."""
    minutes = np.full(len(xy), np.inf)
    reach = walker.max_walk_m if np.isfinite(walker.max_walk_m) else np.inf
    distance, index = cKDTree(facility_xy).query(xy, distance_upper_bound=reach)
    ok = np.isfinite(distance)
    facility = np.where(ok, index, -1)
    minutes[ok] = walker.minutes(xy[ok], facility_xy[index[ok]])
    return minutes, facility


def nearest_line(points: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line metres from each point to the nearest line, and its index (inf, -1: none).

    >>> line = shapely.LineString([(0, 0), (9, 0)])
    >>> d, i = nearest_line(shapely.points([[0, 3]]), np.array([line]))
    >>> float(d[0]), int(i[0])
    (3.0, 0)
    """
    distance = np.full(len(points), np.inf)
    index = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(lines) == 0:
        return distance, index
    (p, j), d = shapely.STRtree(lines).query_nearest(
        points, return_distance=True, all_matches=False
    )
    distance[p], index[p] = d, j
    return distance, index


def isochrones(
    network: RoadNetwork,
    walker: Walker,
    facility_xy: np.ndarray,
    area: shapely.Geometry,
    minutes: tuple[float, ...],
    cell_m: float,
) -> gpd.GeoDataFrame:
    """Catchment polygons: for each facility and limit, the part of ``area`` (metric) whose
    nearest facility it is and that reaches it within the limit. Traced from a grid of
    ``cell_m`` cells timed exactly like homes, so a home inside a 30-minute polygon takes
    30 minutes or less (to within a cell).
    """
    columns = {"facility": [], "minutes": [], "geometry": []}
    empty = gpd.GeoDataFrame(columns, geometry="geometry", crs=network.crs)
    if area is None or area.is_empty or len(facility_xy) == 0:
        return empty
    transform, shape, xy, inside = _grid(area, cell_m)
    times = np.full(shape[0] * shape[1], np.inf)
    nearest = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    cells = xy[inside]
    snap, walk = snap_points(network, cells, walker)
    result = access_to(network, walker, cells, snap, walk, facility_xy)
    times[inside], nearest[inside] = result.minutes, result.facility
    times, nearest = times.reshape(shape), nearest.reshape(shape)
    shapely.prepare(area)
    for limit in sorted(minutes):
        label = np.where(times <= limit, nearest + 1, 0).astype(np.int32)
        polygons: dict[int, list] = {}
        for geom, value in rasterio.features.shapes(label, mask=label > 0, transform=transform):
            polygons.setdefault(int(value) - 1, []).append(shapely.geometry.shape(geom))
        for facility, parts in sorted(polygons.items()):
            merged = shapely.intersection(shapely.union_all(parts), area)
            if not merged.is_empty:
                columns["facility"].append(facility)
                columns["minutes"].append(float(limit))
                columns["geometry"].append(_multipolygon(merged))
    return gpd.GeoDataFrame(columns, geometry="geometry", crs=network.crs)


def _grid(area: shapely.Geometry, cell_m: float):
    """Cell centres covering ``area``: (transform, shape, x/y of all cells, inside mask)."""
    minx, miny, maxx, maxy = area.bounds
    width = max(int(np.ceil((maxx - minx) / cell_m)), 1)
    height = max(int(np.ceil((maxy - miny) / cell_m)), 1)
    transform = Affine(cell_m, 0, minx, 0, -cell_m, maxy)
    col, row = np.meshgrid(np.arange(width), np.arange(height))
    x = minx + (col.ravel() + 0.5) * cell_m
    y = maxy - (row.ravel() + 0.5) * cell_m
    inside = rasterio.features.geometry_mask(
        [area], out_shape=(height, width), transform=transform, invert=True, all_touched=True
    ).ravel()
    return transform, (height, width), np.column_stack([x, y]), inside


def _multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]
    return shapely.MultiPolygon(polygons)
