"""Raster grids in EPSG:4326 and the small raster helpers the demo generator shares.

The DEM grid has square cells of ``res`` degrees; the generator also works on a coarser grid
(an integer multiple of the DEM cell, aligned with it) for cost surfaces and hydrology.
Distances in metres use a local scale at the grid's central latitude: over a county the
error of that approximation is well under 1 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from rasterio.transform import Affine
from skimage.graph import MCP_Geometric

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: origin (west, north), cell size ``res`` degrees."""

    west: float
    north: float
    res: float
    height: int
    width: int

    @classmethod
    def covering(
        cls, bounds: tuple[float, float, float, float], res: float, pad: float, multiple: int
    ) -> Grid:
        """The grid with cells of ``res`` covering ``bounds`` plus ``pad`` degrees.

        Origin and shape are snapped to ``multiple`` cells so that a grid coarsened by that
        factor is aligned with this one.
        """
        step = res * multiple
        west = math.floor((bounds[0] - pad) / step) * step
        north = math.ceil((bounds[3] + pad) / step) * step
        cols = math.ceil((bounds[2] + pad - west) / step) * multiple
        rows = math.ceil((north - bounds[1] + pad) / step) * multiple
        return cls(round(west, 9), round(north, 9), res, rows, cols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.west, 0.0, -self.res, self.north)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            self.west,
            self.north - self.height * self.res,
            self.west + self.width * self.res,
            self.north,
        )

    @property
    def cell_m(self) -> tuple[float, float]:
        """Cell size in metres as (dy, dx) at the grid's central latitude."""
        lat = self.north - self.height * self.res / 2
        dx = self.res * M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
        return (self.res * M_PER_DEG_LAT, dx)

    @property
    def cell_area_km2(self) -> float:
        dy, dx = self.cell_m
        return dy * dx / 1e6

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of cell centres."""
        lon = self.west + (np.asarray(cols) + 0.5) * self.res
        lat = self.north - (np.asarray(rows) + 0.5) * self.res
        return lon, lat

    def rowcol(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells containing the points (clipped to the grid)."""
        cols = np.floor((np.asarray(lon) - self.west) / self.res).astype(np.int64)
        rows = np.floor((self.north - np.asarray(lat)) / self.res).astype(np.int64)
        return np.clip(rows, 0, self.height - 1), np.clip(cols, 0, self.width - 1)

    def coarsen(self, factor: int) -> Grid:
        return Grid(
            self.west, self.north, self.res * factor, self.height // factor, self.width // factor
        )

    def sub(self, r0: int, r1: int, c0: int, c1: int) -> Grid:
        """The sub-grid of rows r0:r1 and columns c0:c1."""
        return Grid(
            self.west + c0 * self.res, self.north - r0 * self.res, self.res, r1 - r0, c1 - c0
        )

    def metres_to_cells(self, metres: float) -> float:
        return metres / min(self.cell_m)


def window_around(grid: Grid, bounds, margin_cells: int) -> tuple[int, int, int, int]:
    """Row/column slice bounds (r0, r1, c0, c1) of ``bounds`` plus a margin, clipped."""
    r_top, c_left = grid.rowcol(bounds[0], bounds[3])
    r_bottom, c_right = grid.rowcol(bounds[2], bounds[1])
    r0 = max(int(r_top) - margin_cells, 0)
    c0 = max(int(c_left) - margin_cells, 0)
    r1 = min(int(r_bottom) + margin_cells + 1, grid.height)
    c1 = min(int(c_right) + margin_cells + 1, grid.width)
    return r0, r1, c0, c1


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    longest_cells: float | None = None,
) -> np.ndarray:
    """Gaussian noise with a 1/k**beta power spectrum, standardised to mean 0, std 1.

    ``longest_cells`` cuts off wavelengths longer than that many cells, so the largest
    features have a controlled size.
    """
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2)
    if longest_cells:
        amplitude[k < 1.0 / longest_cells] = 0.0
    amplitude[0, 0] = 0.0
    spectrum = amplitude * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / field.std()


def rasterize_mask(geometry, grid: Grid, all_touched: bool = False) -> np.ndarray:
    """Boolean mask of the cells whose centre lies in ``geometry``."""
    return rasterio.features.rasterize(
        [(geometry, 1)],
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        all_touched=all_touched,
        dtype="uint8",
    ).astype(bool)


def polygonize(
    labels: np.ndarray, grid: Grid, mask: np.ndarray | None = None
) -> dict[int, shapely.Geometry]:
    """One (multi)polygon per non-negative label value, from cell edges (exact tiling)."""
    if mask is None:
        mask = labels >= 0
    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(
        labels.astype(np.int32), mask=mask, connectivity=4, transform=grid.transform
    ):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return {value: shapely.union_all(polys) for value, polys in sorted(parts.items())}


def mcp(cost: np.ndarray, grid: Grid) -> MCP_Geometric:
    """A minimum-cost-path solver over ``cost`` (per metre) with metric cell sizes."""
    return MCP_Geometric(cost, fully_connected=True, sampling=grid.cell_m)


def parents_from_traceback(traceback: np.ndarray, solver: MCP_Geometric) -> np.ndarray:
    """Flat index of each cell's predecessor on its least-cost path; -1 at the starts."""
    offsets = np.asarray(solver.offsets)
    rows, cols = np.indices(traceback.shape)
    tb = traceback.astype(np.int64)
    has_parent = tb >= 0
    safe = np.where(has_parent, tb, 0)
    prow = rows - offsets[safe, 0]
    pcol = cols - offsets[safe, 1]
    flat = prow * traceback.shape[1] + pcol
    return np.where(has_parent, flat, -1).ravel()


def path_sums(parent: np.ndarray, step: np.ndarray, root_value: np.ndarray) -> np.ndarray:
    """Sum of ``step`` along each cell's path to its root, plus the root's ``root_value``.

    Vectorised pointer jumping: O(n log depth) instead of a Python loop over cells.
    """
    total = np.where(parent < 0, root_value, step).astype(np.float64)
    nxt = parent.copy()
    active = np.nonzero(nxt >= 0)[0]
    while active.size:
        jump = nxt[active]
        total[active] = total[active] + total[jump]
        nxt[active] = nxt[jump]
        active = active[nxt[active] >= 0]
    return total


def roots(parent: np.ndarray) -> np.ndarray:
    """Flat index of each cell's root (the start its least-cost path leads to)."""
    root = np.where(parent < 0, np.arange(parent.size), parent)
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def upstream_counts(parent: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Number (or summed ``weight``) of cells draining through each cell, itself included."""
    depth = path_sums(parent, np.ones(parent.size), np.zeros(parent.size)).astype(np.int64)
    acc = np.ones(parent.size) if weight is None else weight.astype(np.float64).copy()
    order = np.argsort(-depth, kind="stable")
    levels = np.bincount(depth)[::-1]
    start = 0
    for count in levels:
        cells = order[start : start + count]
        start += count
        cells = cells[parent[cells] >= 0]
        if cells.size:
            acc += np.bincount(parent[cells], weights=acc[cells], minlength=parent.size)
    return acc


def allocate(cost: np.ndarray, grid: Grid, seeds_rc: list[tuple[int, int]]) -> np.ndarray:
    """Label each reachable cell with the index of its least-cost seed (-1 if unreachable)."""
    solver = mcp(cost, grid)
    cumulative, traceback = solver.find_costs(seeds_rc)
    parent = parents_from_traceback(traceback, solver)
    root = roots(parent)
    seed_of_root = np.full(parent.size, -1, dtype=np.int64)
    for i, (r, c) in enumerate(seeds_rc):
        seed_of_root[r * grid.width + c] = i
    labels = seed_of_root[root].reshape(grid.shape)
    labels[~np.isfinite(cumulative)] = -1
    return labels
