"""Natural villages (自然村, "hamlets"): points with populations, mostly in the valleys.

Each administrative village gets 3–8 hamlets: the village centre (村委会 hamlet, the
largest), the others spread over the village with a preference for flat valley floors and a
minority on the slopes. About two dozen villages (mostly key villages) also hold a small
hamlet that lacks living conditions (``lacking_conditions``): on a steep slope, in a hazard
zone, or far up a remote side valley. The people generator puts the households to be
relocated there (seed 001: 324 households lacking living conditions).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely

from geo.demo import names
from geo.demo.terrain import Terrain

CRS = "EPSG:4326"
LACKING_HOSTS = 26
LACKING_REASONS = ("steep_slope", "hazard", "remote")
YAO_TOWNSHIPS = ("441882200", "441882201")  # 瑶安瑶族乡, 三水瑶族乡
MAX_HAMLET_M = 1100.0  # highest hamlets of the Yao mountains are around 1,000 m


def valley_weight(terrain: Terrain) -> np.ndarray:
    """Coarse-grid preference for settling: flat, low, close to a stream but not in a river."""
    w = (
        np.exp(-terrain.slope / 6.0)
        * np.exp(-terrain.hand / 30.0)
        * np.exp(-(terrain.elev - 150.0) / 500.0)
    )
    w[terrain.acc_km2 >= 20] *= 0.05
    w[~terrain.county_mask | (terrain.elev > MAX_HAMLET_M)] = 0.0
    if terrain.lake_mask is not None:
        w[terrain.lake_mask] = 0.0
    return w


def spread_sample(
    rng: np.random.Generator, x_m, y_m, weights, n: int, min_dist: float, fixed=()
) -> list[int]:
    """Indices of up to ``n`` weighted-random candidates at least ``min_dist`` metres apart.

    Candidates are visited in a weighted random order (Gumbel keys); the spacing relaxes
    by a quarter per pass when too few fit.
    """
    weights = np.asarray(weights, dtype=float)
    keys = np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=weights.size)
    order = np.argsort(-keys, kind="stable")[:4000]
    order = order[weights[order] > 0]
    for _ in range(8):
        chosen = _greedy_spaced(order, x_m, y_m, n, min_dist, fixed)
        if len(chosen) >= n:
            break
        min_dist *= 0.75
    return chosen


def _greedy_spaced(order, x_m, y_m, n, min_dist, fixed) -> list[int]:
    px = [p[0] for p in fixed]
    py = [p[1] for p in fixed]
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if px and np.min(np.hypot(np.asarray(px) - x_m[i], np.asarray(py) - y_m[i])) < min_dist:
            continue
        chosen.append(int(i))
        px.append(float(x_m[i]))
        py.append(float(y_m[i]))
    return chosen


def village_raster(villages: gpd.GeoDataFrame, terrain: Terrain) -> np.ndarray:
    """Coarse raster of village row index (-1 outside every village)."""
    grid = terrain.coarse
    shapes = [(geom, i) for i, geom in enumerate(villages.geometry)]
    return rasterio.features.rasterize(
        shapes, out_shape=grid.shape, transform=grid.transform, fill=-1, dtype="int32"
    )


def build_hamlets(
    terrain: Terrain,
    villages: gpd.GeoDataFrame,
    hazards: gpd.GeoDataFrame,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """Hamlet points for every village; road and water flags are filled in later."""
    raster = village_raster(villages, terrain)
    valley = valley_weight(terrain)
    weight = valley + 0.05 * np.exp(-terrain.slope / 15.0) * (valley > 0)
    hosts = _lacking_hosts(terrain, villages, rng)
    hazard_union = shapely.union_all(hazards.geometry.to_numpy())
    rows = []
    for i, village in enumerate(villages.itertuples()):
        taken: set[str] = set()
        yao = village.township_code in YAO_TOWNSHIPS
        for point, population in _ordinary_hamlets(terrain, raster, weight, i, village, rng):
            rows.append(_row(village, names.hamlet_name(rng, taken, yao), point, population, None))
        if i in hosts:
            reason = LACKING_REASONS[hosts[i]]
            point = _lacking_site(terrain, raster, i, village, reason, hazard_union, rng)
            if point is not None:
                population = int(rng.integers(30, 121))
                rows.append(
                    _row(village, names.hamlet_name(rng, taken, yao), point, population, reason)
                )
    return _frame(rows, terrain)


def _row(village, name, point, population, reason) -> dict:
    return {
        "village_code": village.code,
        "name": name,
        "geom": point,
        "population": int(population),
        "lacking_conditions": reason is not None,
        "lacking_reason": reason,
    }


def _frame(rows: list[dict], terrain: Terrain) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(rows, geometry="geom", crs=CRS)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    r, c = terrain.fine.rowcol(lon, lat)
    frame["elevation_m"] = np.round(terrain.dem[r, c].astype(float), 1)
    frame["slope_deg"] = np.round(terrain.slope_fine[r, c].astype(float), 1)
    frame["road_hardened"] = False
    frame["piped_water"] = False
    frame["synthetic"] = True
    return frame


def _ordinary_hamlets(terrain: Terrain, raster, weight, index: int, village, rng):
    """(point, population) of the village-centre hamlet and 2–7 spread-out others."""
    grid = terrain.coarse
    centre = village.centre
    # Lianzhou's rural population is about 350,000 (2015): hamlets must hold that many, so
    # that ~18,000 poor households are a plausible share rather than a third of everyone.
    yield centre, 2 * int(rng.integers(250, 601))
    rows, cols = np.nonzero(raster == index)
    if rows.size == 0:
        return
    lon, lat = grid.centres(rows, cols)
    dy, dx = grid.cell_m
    x_m, y_m = lon / grid.res * dx, lat / grid.res * dy
    fixed = [(centre.x / grid.res * dx, centre.y / grid.res * dy)]
    n = int(rng.integers(2, 8))
    for k in spread_sample(rng, x_m, y_m, weight[rows, cols], n, 380.0, fixed):
        point = _jitter(grid, lon[k], lat[k], village.geom, rng)
        high = terrain.elev[rows[k], cols[k]] > 600
        median = 140 if high else 300
        population = int(np.clip(rng.lognormal(math.log(median), 0.6), 30, 1200))
        yield point, population


def _jitter(grid, lon, lat, geom, rng) -> shapely.Point:
    """A point near the cell centre, strictly inside the village."""
    for _ in range(10):
        dx, dy = rng.uniform(-0.35, 0.35, size=2) * grid.res
        point = shapely.Point(lon + dx, lat + dy)
        if geom.contains(point):
            return point
    cell = shapely.box(
        lon - grid.res / 2, lat - grid.res / 2, lon + grid.res / 2, lat + grid.res / 2
    )
    return geom.intersection(cell).representative_point()


def _lacking_hosts(terrain: Terrain, villages: gpd.GeoDataFrame, rng) -> dict[int, int]:
    """Villages that get a hamlet lacking living conditions → index into LACKING_REASONS."""
    grid = terrain.coarse
    score = []
    for v in villages.itertuples():
        r, c = grid.rowcol(v.centre.x, v.centre.y)
        score.append(terrain.elev[r, c] / 200 + 1.5 * bool(v.is_poor_village))
    keys = np.asarray(score) + rng.gumbel(size=len(score))
    keys[villages["town"].to_numpy(dtype=bool)] = -np.inf  # communities and seat villages
    chosen = sorted(np.argsort(-keys, kind="stable")[:LACKING_HOSTS].tolist())
    return {i: n % len(LACKING_REASONS) for n, i in enumerate(chosen)}


def _lacking_site(terrain: Terrain, raster, index, village, reason, hazard_union, rng):
    """A point in the village with the given defect, or None if the village has none."""
    if reason == "steep_slope":
        return _steep_site(terrain, raster, index, village.geom, rng)
    if reason == "hazard":
        return _hazard_site(terrain, village.geom, hazard_union, rng)
    return _remote_site(terrain, raster, index, village.centre)


def _steep_site(terrain: Terrain, raster, index, village_geom, rng):
    """The centre of a 30 m cell sloping more than 28°, on a not-too-steep coarse cell."""
    rows, cols = np.nonzero(
        (raster == index)
        & (terrain.slope >= 22)
        & (terrain.slope < 40)
        & (terrain.elev < MAX_HAMLET_M)
    )
    if rows.size == 0:
        return None
    f = round(terrain.coarse.res / terrain.fine.res)
    for k in rng.permutation(rows.size)[:50]:
        block = terrain.slope_fine[rows[k] * f : (rows[k] + 1) * f, cols[k] * f : (cols[k] + 1) * f]
        br, bc = np.unravel_index(int(np.argmax(block)), block.shape)
        lon, lat = terrain.fine.centres(rows[k] * f + br, cols[k] * f + bc)
        point = shapely.Point(float(lon), float(lat))
        if block[br, bc] > 28 and village_geom.contains(point):
            return point
    return None


def _hazard_site(terrain: Terrain, village_geom, hazard_union, rng):
    """A random habitable point of the village inside a hazard zone."""
    zone = village_geom.intersection(hazard_union)
    if zone.is_empty or zone.area < 1e-7:
        return None
    west, south, east, north = zone.bounds
    for _ in range(300):
        point = shapely.Point(rng.uniform(west, east), rng.uniform(south, north))
        r, c = terrain.fine.rowcol(point.x, point.y)
        habitable = terrain.slope_fine[r, c] < 42 and terrain.dem[r, c] < MAX_HAMLET_M
        if habitable and zone.contains(point):
            return point
    return None


def _remote_site(terrain: Terrain, raster, index, centre):
    """The habitable cell of the village farthest (and highest) from its centre."""
    rows, cols = np.nonzero(
        (raster == index) & (terrain.slope < 25) & (terrain.elev < MAX_HAMLET_M)
    )
    if rows.size == 0:
        return None
    lon, lat = terrain.coarse.centres(rows, cols)
    dist_km = np.hypot((lon - centre.x) * 101.0, (lat - centre.y) * 110.6)
    k = int(np.argmax(dist_km + terrain.elev[rows, cols] / 400))
    return shapely.Point(float(lon[k]), float(lat[k]))
