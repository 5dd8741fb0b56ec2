"""Synthetic DEM of a northern-Guangdong county: ranges, drained valleys and karst towers.

How the relief is made (all deterministic from the generator passed in):

1. An *uplift* field on the coarse grid (0 = basin, 1 = high range): the three ranges that
   ring Lianzhou (大东山 east, 簸箕山 north, 大龙山 west), a rim along the county boundary,
   a low basin around every township seat and around the karst plains, plus fractal noise.
2. A *drainage tree*: the least-cost tree (skimage MCP) from the outlet of the 连江 and the
   grid border over a noisy cost that is cheap in basins, so channels gather in the lowlands
   and branch dendritically into the ranges.
3. *Steady-state stream-power elevation*: each cell is higher than its downstream neighbour
   by ``k(uplift) * A**-0.45`` per metre (A = upstream area), capped at a hillslope angle.
   Rivers therefore drain by construction and have concave profiles; ridges form at divides.
4. Flat valley floors (low heights above the nearest channel are compressed), a smoothing
   pass, and a rescale so the highest summit is about 1,650–1,720 m.
5. On the 30 m grid: spline upsampling, fine fractal roughness that fades into the valley
   floors, and fenglin/fengcong cones (steep isolated limestone hills) on the karst plains.

The DEM is EPSG:4326 with 0.0003° cells (about 30 m × 33 m); the coarse grid is 3 × 3 cells
(about 90 m × 100 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from scipy import ndimage

from geo.demo.grid import (
    Grid,
    fractal_noise,
    mcp,
    parents_from_traceback,
    path_sums,
    rasterize_mask,
    upstream_counts,
)

DEM_RES_DEG = 0.0003
COARSE_FACTOR = 3
PAD_DEG = 0.03  # room outside the county for the terrain to fall away from the rim
CHANNEL_KM2 = 2.0  # upstream area at which a stream is a channel (valley floors, rivers)

# Where the 连江 leaves the county towards 阳山 (approximate).
OUTLET = (112.470, 24.652)

# Mountain ranges around Lianzhou (approximate crest lines) and their relative height.
# 天堂山 (1,712 m) on the 瑶安/蓝山 border; 大东山 (岩坑山 1,604 m) in the east.
RANGES: tuple[tuple[str, tuple[tuple[float, float], ...], float], ...] = (
    ("簸箕山", ((112.17, 25.17), (112.28, 25.175), (112.40, 25.17), (112.50, 25.14)), 1.0),
    (
        "大东山",
        ((112.74, 25.12), (112.755, 24.98), (112.71, 24.86), (112.66, 24.74), (112.58, 24.675)),
        0.95,
    ),
    ("大龙山", ((112.13, 25.03), (112.19, 24.94), (112.255, 24.86), (112.28, 24.72)), 0.85),
    ("东北岭", ((112.48, 25.12), (112.50, 24.99), (112.47, 24.95)), 0.65),
    ("西岭", ((112.37, 25.08), (112.35, 24.97), (112.33, 24.84)), 0.55),
    ("中岭", ((112.44, 24.84), (112.50, 24.78), (112.55, 24.72)), 0.45),
    ("南岭", ((112.30, 24.70), (112.36, 24.675), (112.42, 24.66)), 0.45),
)

# Limestone plains with tower karst (names, centre, radius km); approximate, synthetic.
KARST_AREAS: tuple[tuple[str, tuple[float, float], float], ...] = (
    ("保安—龙坪岩溶区", (112.475, 24.895), 7.5),
    ("东陂—丰阳岩溶区", (112.285, 24.965), 5.0),
    ("九陂岩溶区", (112.405, 24.705), 3.5),
)


@dataclass
class Terrain:
    """The DEM (fine grid) and the coarse rasters the rest of the generator works on."""

    fine: Grid
    coarse: Grid
    dem: np.ndarray  # fine, metres, float32
    slope_fine: np.ndarray  # fine, degrees
    elev: np.ndarray  # coarse, block mean of the DEM
    slope: np.ndarray  # coarse, block mean of the fine slope (degrees)
    uplift: np.ndarray  # coarse, 0 basin … 1 range
    parent: np.ndarray  # coarse flat index of the downstream cell, -1 at outlets
    acc_km2: np.ndarray  # coarse upstream area, km²
    hand: np.ndarray  # coarse height above the nearest channel, metres
    county_mask: np.ndarray  # coarse
    karst_mask: np.ndarray  # coarse
    lake_mask: np.ndarray | None = None  # coarse, reservoirs (set by fill_lakes)

    @property
    def channel(self) -> np.ndarray:
        return self.acc_km2 >= CHANNEL_KM2


def grids_for(county, res_deg: float = DEM_RES_DEG) -> tuple[Grid, Grid]:
    """The DEM grid (``res_deg`` cells) and the aligned coarse grid covering the county."""
    fine = Grid.covering(county.bounds, res_deg, PAD_DEG, COARSE_FACTOR)
    return fine, fine.coarsen(COARSE_FACTOR)


def build_terrain(
    county, seats: list[tuple[float, float]], rng: np.random.Generator, res_deg: float = DEM_RES_DEG
) -> Terrain:
    """Synthesise the terrain over the county's grid (see the module docstring); the
    province world passes a coarser ``res_deg``."""
    fine, coarse = grids_for(county, res_deg)
    county_mask = rasterize_mask(county, coarse)
    karst_mask = _karst_mask(coarse, county_mask, rng)
    uplift = _uplift(coarse, county, county_mask, karst_mask, seats, rng)
    parent, step_m, outlet = _drainage_tree(coarse, county, uplift, rng)
    acc_km2 = (upstream_counts(parent) * coarse.cell_area_km2).reshape(coarse.shape)
    z = _stream_power_elevation(parent, step_m, acc_km2, uplift, outlet, coarse)
    channel = acc_km2 >= CHANNEL_KM2
    z = _flatten_valley_floors(z, channel, uplift, karst_mask, coarse)
    z = ndimage.gaussian_filter(z, 0.8)
    z = _rescale(z, county_mask, rng)
    dem = _fine_dem(z, channel, uplift, karst_mask, fine, coarse, seats, rng)
    slope_fine = slope_degrees(dem, fine)
    elev = _block_mean(dem, COARSE_FACTOR)
    hand = _height_above_channel(elev, channel, coarse)
    return Terrain(
        fine,
        coarse,
        dem,
        slope_fine,
        elev,
        _block_mean(slope_fine, COARSE_FACTOR),
        uplift,
        parent,
        acc_km2,
        hand,
        county_mask,
        karst_mask,
    )


def fill_lakes(terrain: Terrain, lakes: list[tuple[shapely.Geometry, float]]) -> None:
    """Give reservoirs a flat water surface at their level and refresh derived rasters."""
    lake_fine = np.zeros(terrain.fine.shape, dtype=bool)
    for polygon, level in lakes:
        mask = rasterize_mask(polygon, terrain.fine)
        terrain.dem[mask] = level
        lake_fine |= mask
    terrain.slope_fine = slope_degrees(terrain.dem, terrain.fine)
    terrain.elev = _block_mean(terrain.dem, COARSE_FACTOR)
    terrain.slope = _block_mean(terrain.slope_fine, COARSE_FACTOR)
    terrain.lake_mask = _block_mean(lake_fine.astype(np.float32), COARSE_FACTOR) > 0.5


def slope_degrees(dem: np.ndarray, grid: Grid) -> np.ndarray:
    """Slope in degrees by central differences."""
    dy, dx = grid.cell_m
    gy, gx = np.gradient(dem.astype(np.float64), dy, dx)
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)


def write_dem(dem: np.ndarray, grid: Grid, path: Path) -> Path:
    """Write the DEM as a tiled, DEFLATE-compressed GeoTIFF with fixed metadata.

    Nothing time- or host-dependent goes into the file, so equal arrays give equal bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": grid.height,
        "width": grid.width,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": grid.transform,
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
        "zlevel": 6,
        "interleave": "band",
    }
    with rasterio.Env(GDAL_NUM_THREADS="1"), rasterio.open(path, "w", **profile) as dst:
        dst.write(np.round(dem, 1).astype(np.float32), 1)
        dst.update_tags(SOURCE="gongjian synthetic demo terrain", SYNTHETIC="true")
        dst.set_band_description(1, "elevation (m), synthetic")
    return path


def _karst_mask(coarse: Grid, county_mask: np.ndarray, rng) -> np.ndarray:
    """Irregular limestone plains around the KARST_AREAS centres, inside the county."""
    noise = fractal_noise(rng, coarse.shape, 3.0, longest_cells=80)
    rows, cols = np.indices(coarse.shape)
    dy, dx = coarse.cell_m
    score = np.full(coarse.shape, -np.inf)
    for _name, (lon, lat), radius_km in KARST_AREAS:
        r0, c0 = coarse.rowcol(lon, lat)
        d_km = np.hypot((rows - r0) * dy, (cols - c0) * dx) / 1000
        score = np.maximum(score, 1 - d_km / radius_km)
    mask = (score + 0.25 * noise > 0.15) & county_mask
    mask = ndimage.binary_opening(mask, iterations=2)
    labels, n = ndimage.label(mask)
    sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
    keep = np.isin(labels, 1 + np.nonzero(sizes >= 400)[0])
    return ndimage.binary_fill_holes(keep)


def _distance_km(geometries, grid: Grid) -> np.ndarray:
    """Distance (km) from every cell to the nearest of the geometries' cells."""
    hit = np.zeros(grid.shape, dtype=bool)
    for geometry in geometries:
        hit |= rasterize_mask(geometry, grid, all_touched=True)
    return ndimage.distance_transform_edt(~hit, sampling=grid.cell_m) / 1000


def _uplift(coarse: Grid, county, county_mask, karst_mask, seats, rng) -> np.ndarray:
    """0 (basin) … 1 (high range): ranges, a rim on the boundary, basins at seats."""
    ranges = np.zeros(coarse.shape)
    for _name, line, weight in RANGES:
        d = _distance_km([shapely.LineString(line)], coarse)
        ranges = np.maximum(ranges, weight * np.exp(-((d / 6.5) ** 2)))
    rim = 0.55 * np.exp(-_distance_km([county.boundary], coarse) / 3.5)
    basins = np.zeros(coarse.shape)
    for lon, lat in seats:
        d = _distance_km([shapely.Point(lon, lat)], coarse)
        basins += 0.5 * np.exp(-((d / 3.5) ** 2))
    gap = np.exp(-((_distance_km([shapely.Point(OUTLET)], coarse) / 5.0) ** 2))
    noise = fractal_noise(rng, coarse.shape, 2.6, longest_cells=150)
    uplift = 0.28 + np.maximum(ranges, rim) * (1 - 0.8 * gap) + 0.18 * noise - basins
    karst_floor = 0.10 + 0.05 * noise
    uplift = np.where(karst_mask, np.minimum(uplift, karst_floor), uplift)
    return np.clip(ndimage.gaussian_filter(uplift, 2.0), 0.02, 1.0)


def _drainage_tree(coarse: Grid, county, uplift, rng) -> tuple[np.ndarray, np.ndarray, int]:
    """Least-cost drainage tree to the outlet and the grid border.

    Returns each cell's downstream cell (flat index, -1 at outlets), the step length (m)
    and the flat index of the county's outlet.
    """
    noise = fractal_noise(rng, coarse.shape, 2.2, longest_cells=60)
    cost = (0.06 + uplift**1.5) * np.exp(0.9 * noise)
    # A ridge along the county boundary keeps the county draining to its own outlet.
    near_boundary = np.exp(-((_distance_km([county.boundary], coarse) / 1.2) ** 2))
    gap = np.exp(-((_distance_km([shapely.Point(OUTLET)], coarse) / 2.5) ** 2))
    cost = cost * (1 + 6 * near_boundary * (1 - gap))
    outlet = _outlet_cell(coarse, county)
    h, w = coarse.shape
    border = [(0, c) for c in range(w)] + [(h - 1, c) for c in range(w)]
    border += [(r, 0) for r in range(1, h - 1)] + [(r, w - 1) for r in range(1, h - 1)]
    solver = mcp(cost, coarse)
    _, traceback = solver.find_costs([outlet, *border])
    parent = parents_from_traceback(traceback, solver)
    dy, dx = coarse.cell_m
    idx = np.arange(parent.size)
    safe = np.where(parent >= 0, parent, idx)
    drow = (safe // w - idx // w) * dy
    dcol = (safe % w - idx % w) * dx
    return parent, np.hypot(drow, dcol), outlet[0] * w + outlet[1]


def _outlet_cell(coarse: Grid, county) -> tuple[int, int]:
    """The cell just outside the county boundary nearest to OUTLET."""
    point = shapely.Point(OUTLET)
    on_boundary = county.boundary.interpolate(county.boundary.project(point))
    centroid = county.centroid
    lon = on_boundary.x + (on_boundary.x - centroid.x) * 0.02
    lat = on_boundary.y + (on_boundary.y - centroid.y) * 0.02
    r, c = coarse.rowcol(lon, lat)
    return int(r), int(c)


def _stream_power_elevation(
    parent, step_m, acc_km2, uplift, outlet: int, coarse: Grid
) -> np.ndarray:
    """Steady-state elevation: rise k(U)·A^-0.45 per metre along the drainage tree."""
    u = uplift.ravel()
    k = 0.03 + 0.35 * u**1.5
    max_slope = np.tan(np.radians(24 + 16 * u))
    slope = np.minimum(k * acc_km2.ravel() ** -0.45, max_slope)
    # Terrain beyond the county falls to a regional level; the 连江 leaves at about 75 m.
    root_value = np.where(parent < 0, 250 + 600 * u, 0.0)
    root_value[outlet] = 75.0
    z = path_sums(parent, slope * step_m, root_value)
    return z.reshape(coarse.shape)


def _height_above_channel(z: np.ndarray, channel: np.ndarray, grid: Grid) -> np.ndarray:
    """Height above the nearest channel cell (HAND-like), metres, >= 0."""
    _, (ri, ci) = ndimage.distance_transform_edt(
        ~channel, sampling=grid.cell_m, return_indices=True
    )
    return np.maximum(z - z[ri, ci], 0.0)


def _flatten_valley_floors(z, channel, uplift, karst_mask, coarse: Grid) -> np.ndarray:
    """Compress low heights above channels into flat floors, wider in basins and karst."""
    _, (ri, ci) = ndimage.distance_transform_edt(
        ~channel, sampling=coarse.cell_m, return_indices=True
    )
    base = z[ri, ci]
    h = np.maximum(z - base, 0.0)
    floor = 6 + 45 * (1 - uplift) ** 2
    floor = np.where(karst_mask, 60.0, floor)
    squeezed = np.where(h < floor, h**2 / (2 * floor), h - floor / 2)
    return base + squeezed


def _rescale(z: np.ndarray, county_mask: np.ndarray, rng) -> np.ndarray:
    """Stretch relief above the outlet so the highest summit is about 1,650–1,720 m."""
    low = float(np.min(z[county_mask]))
    top = float(np.max(z[county_mask]))
    target = rng.uniform(1650, 1720)
    return low + (z - low) * (target - low) / (top - low)


def _fine_dem(z, channel, uplift, karst_mask, fine: Grid, coarse: Grid, seats, rng):
    """Upsample to the DEM grid, add roughness and karst towers."""
    f = COARSE_FACTOR
    base = ndimage.zoom(z, f, order=3, mode="nearest", grid_mode=True)
    u = ndimage.zoom(uplift, f, order=1, mode="nearest", grid_mode=True)
    hand = ndimage.zoom(
        _height_above_channel(z, channel, coarse), f, order=1, mode="nearest", grid_mode=True
    )
    rough = fractal_noise(rng, fine.shape, 2.0, longest_cells=80)
    amplitude = (2 + 16 * u) * np.clip(hand / 20, 0.1, 1.0)
    dem = base + amplitude * rough
    karst = np.repeat(np.repeat(karst_mask, f, axis=0), f, axis=1)
    dem += _karst_towers(fine, karst, hand, seats, rng)
    return dem.astype(np.float32)


def _karst_towers(fine: Grid, karst: np.ndarray, hand, seats, rng) -> np.ndarray:
    """Heights of steep isolated limestone hills (fenglin) standing on the karst plains."""
    towers = np.zeros(fine.shape, dtype=np.float64)
    dy, dx = fine.cell_m
    area_km2 = karst.sum() * fine.cell_area_km2
    n = rng.poisson(3.0 * area_km2)
    rows, cols = np.nonzero(karst & (hand > 4))
    if rows.size == 0:
        return towers
    pick = rng.integers(0, rows.size, size=n)
    heights = np.clip(rng.lognormal(np.log(95), 0.45, size=n), 35, 280)
    radii = rng.uniform(110, 300, size=n)
    seat_rc = [fine.rowcol(lon, lat) for lon, lat in seats]
    for r, c, height, radius in zip(rows[pick], cols[pick], heights, radii, strict=True):
        if any(np.hypot((r - sr) * dy, (c - sc) * dx) < 1500 for sr, sc in seat_rc):
            continue  # keep the market towns on open ground
        _stamp_tower(towers, int(r), int(c), height, radius, dy, dx)
    return towers


def _stamp_tower(towers, r, c, height, radius, dy, dx) -> None:
    """Add one tower: a round-topped steep hill, h / (1 + (d/R)^4) above the plain."""
    half_r = int(3 * radius / dy) + 1
    half_c = int(3 * radius / dx) + 1
    r0, r1 = max(r - half_r, 0), min(r + half_r + 1, towers.shape[0])
    c0, c1 = max(c - half_c, 0), min(c + half_c + 1, towers.shape[1])
    rr, cc = np.ogrid[r0:r1, c0:c1]
    d = np.hypot((rr - r) * dy, (cc - c) * dx)
    shape = height / (1 + (d / radius) ** 4)
    window = towers[r0:r1, c0:c1]
    np.maximum(window, shape, out=window)


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape[0] // f, a.shape[1] // f
    return a[: h * f, : w * f].reshape(h, f, w, f).mean(axis=(1, 3))
