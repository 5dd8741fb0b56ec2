"""Terrain from a DEM GeoTIFF: elevation, slope (Horn) and local relief, read window by window.

Any single-band GeoTIFF DEM works, geographic (degrees) or projected (metres, feet …). Only
windows around the requested points are read (tiles of ``TILE`` cells plus a halo), and whole
rasters are processed in strips, so a province-sized DEM is never loaded at once.

**Slope** is Horn's (1981) third-order finite difference over the 3×3 window, the method of
``gdaldem slope`` and most GIS::

    dz/dx = ((c + 2f + i) − (a + 2d + g)) / (8·Δx)      a b c
    dz/dy = ((g + 2h + i) − (a + 2b + c)) / (8·Δy)      d e f
    slope = atan(√(dz/dx² + dz/dy²))  in degrees          g h i

with Δx, Δy the cell sizes **in metres**. For a geographic DEM they are computed per row at
the row's latitude on the CRS's ellipsoid (a degree of longitude is 101 km at 24.5°N, 111 km
at the equator), so slopes are right at the DEM's latitude instead of assuming one scale
(``gdaldem -s 111120``). For a projected DEM they are the pixel size times the unit's metres.

**Edges and holes** are treated as ``gdaldem slope -compute_edges`` treats them: nodata cells
are NaN and have no slope; beyond the raster's edge, the ring of cells next to it is
extrapolated linearly (2·edge − next row/column, exact on a plane); a neighbour that is still
missing (a nodata hole) takes the centre cell's value. So edge cells and the rims of holes get
a slope from the neighbours they have, and with all nine cells present it is plain Horn.

**Sampling** (:func:`sample_terrain`) gives, per point: the elevation and slope of the cell
holding it, the mean slope within ``slope_radius_m`` (the house site and the fields around
it rather than one 30 m cell) and the local relief (highest minus lowest elevation) within
``relief_radius_m``. A point outside the DEM or on nodata gets NaN and the note
:data:`NO_DATA` — never an exception.

>>> import numpy as np
>>> z = np.array([[0.0, 0, 0], [10, 10, 10], [20, 20, 20]])   # rises 10 m per 10 m row
>>> float(np.round(horn_slope(z, 10.0, 10.0)[0, 0], 6))
45.0
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely
from affine import Affine
from rasterio.windows import Window

NO_DATA = "no terrain data"
TILE = 512  # cells per side of the windows read around points
STRIP_CELLS = 4_000_000  # cells per strip when a whole raster is processed
DEG = math.pi / 180.0
RAD_TO_DEG = np.float32(180.0 / math.pi)


class TerrainError(ValueError):
    """A DEM that cannot be used (no coordinate system, several bands); names the file."""


@dataclass(frozen=True)
class DemInfo:
    """What the computations need to know about a DEM file."""

    path: Path
    crs: pyproj.CRS
    transform: Affine
    height: int
    width: int
    nodata: float | None

    @property
    def geographic(self) -> bool:
        return self.crs.is_geographic

    def row_latitudes(self, rows: np.ndarray) -> np.ndarray:
        """Latitude (degrees) of the centre of each row (geographic DEMs)."""
        rows = np.asarray(rows, dtype=float)
        return self.transform.f + (rows + 0.5) * self.transform.e

    def cell_size_m(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell width and height in metres at each row (arrays of len(rows)).

        >>> info = DemInfo(Path("x.tif"), pyproj.CRS(4326), Affine(0.0003, 0, 112, 0, -0.0003,
        ...                25), 10, 10, None)
        >>> dx, dy = info.cell_size_m(np.array([0]))
        >>> round(float(dx[0]), 2), round(float(dy[0]), 2)
        (30.29, 33.23)
        """
        rows = np.asarray(rows)
        t = self.transform
        if t.b != 0 or t.d != 0:
            raise TerrainError(f"{self.path.name}: rotated rasters are not supported")
        if self.geographic:
            lat = np.radians(self.row_latitudes(rows))
            ellipsoid = self.crs.ellipsoid
            a = ellipsoid.semi_major_metre
            e2 = 1.0 - (ellipsoid.semi_minor_metre / a) ** 2
            w = np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
            east = a * np.cos(lat) / w * DEG  # metres per degree of longitude
            north = a * (1.0 - e2) / w**3 * DEG  # metres per degree of latitude
            return abs(t.a) * east, abs(t.e) * north
        unit = self.crs.axis_info[0].unit_conversion_factor if self.crs.axis_info else 1.0
        ones = np.ones(len(rows))
        return ones * abs(t.a) * unit, ones * abs(t.e) * unit

    def halo_cells(self, radius_m: float) -> int:
        """Cells that cover ``radius_m`` in every row of the DEM (the narrowest cells)."""
        if radius_m <= 0:
            return 0
        dx, dy = self.cell_size_m(np.array([0, self.height - 1]))
        return math.ceil(radius_m / float(min(dx.min(), dy.min())))


@contextmanager
def open_dem(path: str | Path, crs: str | int | None = None) -> Iterator[rasterio.DatasetReader]:
    """The DEM opened with rasterio; ``crs`` stands in when the file has none."""
    path = Path(path)
    if not path.exists():
        raise TerrainError(f"DEM not found: {path}")
    with rasterio.open(path) as src:
        if src.count < 1:
            raise TerrainError(f"{path.name}: no raster band")
        if src.crs is None and crs is None:
            raise TerrainError(f"{path.name}: no coordinate system (give one, e.g. EPSG:4326)")
        yield src


def dem_info(src: rasterio.DatasetReader, crs: str | int | None = None) -> DemInfo:
    dem_crs = pyproj.CRS(src.crs.to_wkt()) if src.crs is not None else pyproj.CRS(crs)
    return DemInfo(Path(src.name), dem_crs, src.transform, src.height, src.width, src.nodata)


# --- slope --------------------------------------------------------------------------------


def horn_slope(z: np.ndarray, dx, dy) -> np.ndarray:
    """Slope in degrees of the interior cells of ``z`` (shape (h−2, w−2)) by Horn's method.

    ``z`` is elevation with NaN for missing cells; ``dx``/``dy`` are metres, scalars or one
    value per interior row. Missing neighbours take the centre's value; a missing centre
    gives NaN (see the module doc).
    """
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float64)
    centre = z[1:-1, 1:-1]
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    if np.isnan(z).any():
        a, b, c, d, f, g, h, i = (
            np.where(np.isnan(v), centre, v) for v in (a, b, c, d, f, g, h, i)
        )
    rows = centre.shape[0]
    kx = (1.0 / (8.0 * np.broadcast_to(np.asarray(dx, dtype=np.float64), (rows,))))[:, None]
    ky = (1.0 / (8.0 * np.broadcast_to(np.asarray(dy, dtype=np.float64), (rows,))))[:, None]
    gx = c + i
    gx += f
    gx += f
    gx -= a
    gx -= g
    gx -= d
    gx -= d
    gx *= kx.astype(z.dtype)
    gy = g + i
    gy += h
    gy += h
    gy -= a
    gy -= c
    gy -= b
    gy -= b
    gy *= ky.astype(z.dtype)
    np.hypot(gx, gy, out=gx)
    np.arctan(gx, out=gx)
    gx *= np.asarray(180.0 / math.pi, dtype=z.dtype)
    gx[np.isnan(centre)] = np.nan  # Horn leaves the centre out: a hole must stay a hole
    return gx


def read_window(
    src: rasterio.DatasetReader, row0: int, col0: int, height: int, width: int, dtype=np.float64
) -> np.ndarray:
    """Elevations of a window that may reach beyond the raster: NaN outside and on nodata."""
    out = np.full((height, width), np.nan, dtype=dtype)
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row0 + height, src.height), min(col0 + width, src.width)
    if r1 <= r0 or c1 <= c0:
        return out
    band = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), out_dtype=dtype)
    nodata = src.nodata
    if nodata is not None and not np.isnan(nodata):
        band[band == nodata] = np.nan
    out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = band
    return out


def extend_edges(z: np.ndarray, row0: int, col0: int, src_height: int, src_width: int):
    """``z`` (a window at ``row0``, ``col0`` of a ``src_height`` × ``src_width`` raster) with
    the one-cell ring just beyond the raster's edges extrapolated linearly (2·edge − next),
    as ``gdaldem -compute_edges`` does, so that edge cells get their full slope (exact on a
    plane). Rows first, then columns, so corners are exact on a plane too."""
    z = z.copy()
    height, width = z.shape
    top, bottom = -1 - row0, src_height - row0  # window rows of raster rows −1 and H
    left, right = -1 - col0, src_width - col0
    if src_height >= 2:
        if top >= 0 and top + 2 < height:
            z[top] = 2 * z[top + 1] - z[top + 2]
        if bottom < height and bottom - 2 >= 0:
            z[bottom] = 2 * z[bottom - 1] - z[bottom - 2]
    if src_width >= 2:
        if left >= 0 and left + 2 < width:
            z[:, left] = 2 * z[:, left + 1] - z[:, left + 2]
        if right < width and right - 2 >= 0:
            z[:, right] = 2 * z[:, right - 1] - z[:, right - 2]
    return z


def slope_raster(
    path: str | Path,
    out_path: str | Path,
    *,
    crs: str | int | None = None,
    strip_cells: int = STRIP_CELLS,
    threads: int = 2,
) -> Path:
    """Write the slope (degrees, float32, nodata −9999) of the DEM at ``path`` to a GeoTIFF.

    The raster goes through in strips of about ``strip_cells`` cells with a one-row halo,
    computed on ``threads`` threads (numpy releases the GIL); edges follow the module doc.
    """
    out_path = Path(out_path)
    with open_dem(path, crs) as src:
        info = dem_info(src, crs)
        rows_per_strip = max(16, strip_cells // max(src.width, 1))
        profile = {
            "driver": "GTiff",
            "height": src.height,
            "width": src.width,
            "count": 1,
            "dtype": "float32",
            "crs": src.crs or rasterio.crs.CRS.from_wkt(info.crs.to_wkt()),
            "transform": src.transform,
            "nodata": -9999.0,
        }
        with rasterio.open(out_path, "w", **profile) as dst, ThreadPoolExecutor(threads) as pool:
            # reads stay on this thread (a dataset is not shared between threads); the maths
            # of a strip runs in the pool while the next strip is read
            pending = []
            for row0 in range(0, src.height, rows_per_strip):
                n = min(rows_per_strip, src.height - row0)
                z = read_window(src, row0 - 1, -1, n + 2, src.width + 2, np.float32)
                z = extend_edges(z, row0 - 1, -1, src.height, src.width)
                pending.append(pool.submit(_strip_slope, info, z, row0))
                if len(pending) > threads:
                    _write_strip(dst, pending.pop(0).result())
            for future in pending:
                _write_strip(dst, future.result())
    return out_path


def _strip_slope(info: DemInfo, z: np.ndarray, row0: int) -> tuple[int, np.ndarray]:
    rows = np.arange(row0, row0 + z.shape[0] - 2)
    dx, dy = info.cell_size_m(rows)
    return row0, horn_slope(z, dx, dy)


def _write_strip(dst, result: tuple[int, np.ndarray]) -> None:
    row0, slope = result
    slope = np.where(np.isnan(slope), np.float32(-9999.0), slope).astype(np.float32)
    dst.write(slope, 1, window=Window(0, row0, slope.shape[1], slope.shape[0]))


# --- sampling at points ---------------------------------------------------------------------


def sample_terrain(
    path: str | Path,
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    slope_radius_m: float = 0.0,
    relief_radius_m: float = 0.0,
    crs: str | int | None = None,
    tile: int = TILE,
) -> pd.DataFrame:
    """Terrain at each point (any CRS; polygons use a point on their surface).

    Columns, on the points' index: ``elevation_m``, ``slope_deg`` (the cell's Horn slope),
    ``slope_mean_deg`` (mean slope within ``slope_radius_m``; the cell's slope when 0),
    ``relief_m`` (max − min elevation within ``relief_radius_m``; NaN when 0) and
    ``terrain_note`` (:data:`NO_DATA` where the point is off the DEM or on nodata, else None).
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geoms.crs is None:
        raise TerrainError("points have no coordinate system")
    n = len(geoms)
    result = pd.DataFrame(
        {
            "elevation_m": np.full(n, np.nan),
            "slope_deg": np.full(n, np.nan),
            "slope_mean_deg": np.full(n, np.nan),
            "relief_m": np.full(n, np.nan),
            "terrain_note": np.full(n, NO_DATA, dtype=object),
        },
        index=geoms.index,
    )
    if n == 0:
        return result
    with open_dem(path, crs) as src:
        info = dem_info(src, crs)
        rows, cols = _cells(geoms, info)
        inside = (rows >= 0) & (rows < info.height) & (cols >= 0) & (cols < info.width)
        halo = max(1 + info.halo_cells(slope_radius_m), info.halo_cells(relief_radius_m), 1)
        values = np.full((n, 4), np.nan)
        idx = np.flatnonzero(inside)
        keys = (rows[idx] // tile) * (info.width // tile + 1) + cols[idx] // tile
        order = np.argsort(keys, kind="stable")
        idx, keys = idx[order], keys[order]
        bounds = np.flatnonzero(np.diff(keys)) + 1
        for group in np.split(idx, bounds):
            if len(group):
                values[group] = _sample_tile(
                    src, info, rows[group], cols[group], tile, halo,
                    slope_radius_m, relief_radius_m,
                )  # fmt: skip
    result["elevation_m"] = values[:, 0]
    result["slope_deg"] = values[:, 1]
    result["slope_mean_deg"] = values[:, 2]
    result["relief_m"] = values[:, 3]
    result["terrain_note"] = np.where(np.isnan(values[:, 0]), NO_DATA, None)
    return result


def _cells(geoms: gpd.GeoSeries, info: DemInfo) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the cell holding each point (outside: beyond the shape)."""
    arr = np.asarray(geoms.to_numpy(), dtype=object)
    empty = pd.isna(arr)
    empty[~empty] = shapely.is_empty(arr[~empty])
    arr[empty] = shapely.Point(0, 0)
    other = shapely.get_type_id(arr) != 0
    if other.any():
        arr[other] = shapely.point_on_surface(arr[other])
    x, y = shapely.get_x(arr), shapely.get_y(arr)
    if not pyproj.CRS(geoms.crs).equals(info.crs):
        x, y = pyproj.Transformer.from_crs(geoms.crs, info.crs, always_xy=True).transform(x, y)
    t = info.transform  # north-up (rotated rasters are refused by cell_size_m)
    col, row = (np.asarray(x) - t.c) / t.a, (np.asarray(y) - t.f) / t.e
    ok = np.isfinite(col) & np.isfinite(row) & ~empty
    rows = np.where(ok, np.floor(np.where(ok, row, -1)), -1).astype(np.int64)
    cols = np.where(ok, np.floor(np.where(ok, col, -1)), -1).astype(np.int64)
    return rows, cols


def _sample_tile(src, info: DemInfo, rows, cols, tile, halo, slope_radius, relief_radius):
    """(elevation, slope, mean slope, relief) of the points of one tile."""
    row0 = int(rows.min() // tile * tile) - halo
    col0 = int(cols.min() // tile * tile) - halo
    height = int(rows.max() - rows.min() // tile * tile) + 1 + 2 * halo
    width = int(cols.max() - cols.min() // tile * tile) + 1 + 2 * halo
    z = read_window(src, row0, col0, height, width)
    dx, dy = info.cell_size_m(np.arange(row0 + 1, row0 + height - 1))
    slope = np.full_like(z, np.nan)
    slope[1:-1, 1:-1] = horn_slope(extend_edges(z, row0, col0, info.height, info.width), dx, dy)
    r, c = rows - row0, cols - col0
    out = np.full((len(rows), 4), np.nan)
    out[:, 0] = z[r, c]
    out[:, 1] = slope[r, c]
    centre_dx, centre_dy = info.cell_size_m(np.array([(row0 + height // 2)]))
    out[:, 2] = _window_stat(slope, r, c, slope_radius, centre_dx[0], centre_dy[0], "mean")
    if relief_radius > 0:
        out[:, 3] = _window_stat(z, r, c, relief_radius, centre_dx[0], centre_dy[0], "range")
    missing = np.isnan(out[:, 0])
    out[missing, 1:] = np.nan
    return out


def _window_stat(grid, r, c, radius_m, dx, dy, stat: str) -> np.ndarray:
    """Mean or range (max − min) of ``grid`` over the cells within ``radius_m`` of each
    point's cell (an ellipse in cells when the cells are not square); NaN cells ignored."""
    if radius_m <= 0:
        return grid[r, c] if stat == "mean" else np.zeros(len(r))
    kr, kc = int(radius_m // dy), int(radius_m // dx)
    dr, dc = np.mgrid[-kr : kr + 1, -kc : kc + 1]
    keep = (dr * dy) ** 2 + (dc * dx) ** 2 <= radius_m**2
    dr, dc = dr[keep], dc[keep]
    out = np.empty(len(r))
    for lo in range(0, len(r), 4096):  # bounded memory: 4096 points × the disc at a time
        rr = r[lo : lo + 4096, None] + dr[None, :]
        cc = c[lo : lo + 4096, None] + dc[None, :]
        values = grid[rr, cc]
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            if stat == "mean":
                out[lo : lo + 4096] = np.nanmean(values, axis=1)
            else:
                out[lo : lo + 4096] = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    return out


@contextmanager
def _quiet_nan_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
