"""Terrain from DEMs made here with known answers: planes, a cone, holes, points off the DEM.

No database. Every DEM is written to a temporary GeoTIFF and read back through the same
window reads the analyses use.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.warp
import shapely
from rasterio.transform import from_origin

from geo.terrain import NO_DATA, TerrainError, horn_slope, sample_terrain, slope_raster

UTM49 = "EPSG:32649"  # metres; Lianzhou lies in UTM zone 49
NODATA = -9999.0
ORIGIN = (620_000.0, 2_760_000.0)  # near 112.2°E 24.95°N


def write_dem(path: Path, z: np.ndarray, crs: str, transform, nodata=NODATA) -> Path:
    profile = {"driver": "GTiff", "height": z.shape[0], "width": z.shape[1], "count": 1,
               "dtype": "float32", "crs": crs, "transform": transform,
               "nodata": nodata}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.where(np.isnan(z), nodata, z).astype("float32"), 1)
    return path


def plane_height(x, y, degrees: float, azimuth: float):
    """Elevation of a plane through ORIGIN rising ``degrees`` towards ``azimuth``
    (clockwise from north), at UTM x/y metres."""
    east, north = np.asarray(x) - ORIGIN[0], np.asarray(y) - ORIGIN[1]
    along = east * math.sin(math.radians(azimuth)) + north * math.cos(math.radians(azimuth))
    return 500.0 + along * math.tan(math.radians(degrees))


def projected_plane(tmp_path: Path, degrees: float, azimuth: float = 30.0, size=300, cell=30.0):
    """The plane on a UTM grid of ``cell`` metres."""
    rows, cols = np.mgrid[0:size, 0:size]
    x, y = ORIGIN[0] + (cols + 0.5) * cell, ORIGIN[1] - (rows + 0.5) * cell
    z = plane_height(x, y, degrees, azimuth)
    transform = from_origin(*ORIGIN, cell, cell)
    return write_dem(tmp_path / f"plane{degrees}_utm.tif", z, UTM49, transform)


def geographic_plane(tmp_path: Path, degrees: float, azimuth: float = 30.0, res=0.0003):
    """The same plane on a WGS84 grid of ``res`` degrees over the same ground: each cell
    centre projected to UTM exactly (no resampling) and its plane height taken."""
    west, south, east, north = rasterio.warp.transform_bounds(
        UTM49, "EPSG:4326", ORIGIN[0], ORIGIN[1] - 9000, ORIGIN[0] + 9000, ORIGIN[1]
    )
    width, height = int((east - west) / res), int((north - south) / res)
    rows, cols = np.mgrid[0:height, 0:width]
    lon, lat = west + (cols + 0.5) * res, north - (rows + 0.5) * res
    x, y = pyproj.Transformer.from_crs(4326, UTM49, always_xy=True).transform(lon, lat)
    z = plane_height(x, y, degrees, azimuth)
    transform = from_origin(west, north, res, res)
    return write_dem(tmp_path / f"plane{degrees}_wgs84.tif", z, "EPSG:4326", transform)


def points_inside(path: Path, n: int = 40, margin: float = 0.25) -> gpd.GeoSeries:
    """Points spread over the middle of the DEM (away from its edges), in WGS84."""
    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    rng = np.random.default_rng(7)
    u, v = rng.uniform(margin, 1 - margin, (2, n))
    points = gpd.GeoSeries(shapely.points(left + u * (right - left), bottom + v * (top - bottom)),
                           crs=crs)  # fmt: skip
    return points.to_crs(4326)


# --- planes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [10.0, 30.0])
def test_inclined_plane_projected_and_geographic_agree(tmp_path: Path, degrees: float) -> None:
    utm = projected_plane(tmp_path, degrees)
    wgs84 = geographic_plane(tmp_path, degrees)
    points = points_inside(utm)
    projected = sample_terrain(utm, points)
    geographic = sample_terrain(wgs84, points)
    assert projected.terrain_note.isna().all() and geographic.terrain_note.isna().all()
    assert np.abs(projected.slope_deg - degrees).max() < 0.01
    assert np.abs(geographic.slope_deg - degrees).max() < 0.1
    assert np.abs(geographic.slope_deg - projected.slope_deg).max() < 0.1


def test_geographic_cells_are_measured_at_their_latitude(tmp_path: Path) -> None:
    """The same plane far north: a degree of longitude is half as long at 60°N, and the
    slope still comes out right (a single 111 km scale would say ~16° instead of 30°)."""
    size, res = 200, 0.0005
    lat0, lon0 = 60.1, 10.0
    rows, cols = np.mgrid[0:size, 0:size]
    lat = lat0 - (rows + 0.5) * res
    east_m = (cols + 0.5) * res * 111_412.0 * np.cos(np.radians(lat))  # WGS84 at ~60°N
    z = 100.0 + east_m * math.tan(math.radians(30.0))
    path = write_dem(tmp_path / "north.tif", z, "EPSG:4326", from_origin(lon0, lat0, res, res))
    points = gpd.GeoSeries(shapely.points([lon0 + 0.05, lon0 + 0.06], [lat0 - 0.05] * 2), crs=4326)
    slope = sample_terrain(path, points).slope_deg
    assert np.abs(slope - 30.0).max() < 0.1


def test_whole_raster_slope_is_the_plane_everywhere_edges_included(tmp_path: Path) -> None:
    utm = projected_plane(tmp_path, 30.0, size=64)
    out = slope_raster(utm, tmp_path / "slope.tif")
    with rasterio.open(out) as src:
        slope = src.read(1)
        assert src.nodata == NODATA and src.crs.to_string() == UTM49
    assert np.abs(slope - 30.0).max() < 0.01  # edges extrapolated linearly: exact on a plane


# --- a cone -----------------------------------------------------------------------------------


def test_cone_slope_elevation_and_relief(tmp_path: Path) -> None:
    """z = 1000 − r·tan 20°: 20° everywhere but the apex; relief within R of the apex is
    R·tan 20° (the lowest point of the disc is on its rim)."""
    size, cell = 201, 30.0
    rows, cols = np.mgrid[0:size, 0:size]
    centre = (size // 2 + 0.5) * cell
    r = np.hypot((cols + 0.5) * cell - centre, (rows + 0.5) * cell - centre)
    z = 1000.0 - r * math.tan(math.radians(20.0))
    path = write_dem(tmp_path / "cone.tif", z, UTM49, from_origin(*ORIGIN, cell, cell))
    x0, y0 = ORIGIN[0] + centre, ORIGIN[1] - centre
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = gpd.GeoSeries(shapely.points(x0 + 900 * np.cos(angles), y0 + 900 * np.sin(angles)),
                         crs=UTM49)  # fmt: skip
    flanks = sample_terrain(path, ring, slope_radius_m=90.0)
    assert np.abs(flanks.slope_deg - 20.0).max() < 0.5  # Horn on a curved surface, 30 m cells
    assert np.abs(flanks.slope_mean_deg - 20.0).max() < 0.5
    expected = 1000.0 - 900 * math.tan(math.radians(20.0))
    assert np.abs(flanks.elevation_m - expected).max() < 30 * math.tan(math.radians(20.0))
    apex = sample_terrain(path, gpd.GeoSeries([shapely.Point(x0, y0)], crs=UTM49),
                          relief_radius_m=600.0)  # fmt: skip
    assert apex.elevation_m.iloc[0] == pytest.approx(1000.0, abs=10.0)
    assert apex.slope_deg.iloc[0] < 20.0  # the tip is flatter than the flanks
    assert apex.relief_m.iloc[0] == pytest.approx(600 * math.tan(math.radians(20.0)), abs=12.0)


# --- holes and points off the DEM ------------------------------------------------------------


def test_nodata_hole_and_points_outside_are_no_terrain_data(tmp_path: Path) -> None:
    size, cell = 100, 30.0
    rows, _ = np.mgrid[0:size, 0:size]
    z = 200.0 + (size - rows) * cell * math.tan(math.radians(15.0))  # rises northwards
    z[40:50, 40:50] = np.nan  # a hole of 10 × 10 cells
    path = write_dem(tmp_path / "hole.tif", z, UTM49, from_origin(*ORIGIN, cell, cell))

    def at(row: float, col: float) -> shapely.Point:
        return shapely.Point(ORIGIN[0] + (col + 0.5) * cell, ORIGIN[1] - (row + 0.5) * cell)

    points = gpd.GeoSeries(
        [at(45, 45), at(39, 45), at(20, 20), at(-5, 10), at(50, 150), None, shapely.Point()],
        crs=UTM49,
    )
    t = sample_terrain(path, points, slope_radius_m=60.0, relief_radius_m=300.0)
    hole, rim, clear, north, east, missing, empty = range(7)
    for i in (hole, north, east, missing, empty):
        assert t.terrain_note.iloc[i] == NO_DATA
        assert t[["elevation_m", "slope_deg", "slope_mean_deg", "relief_m"]].iloc[i].isna().all()
    assert t.terrain_note.iloc[[rim, clear]].isna().all()
    assert t.slope_deg.iloc[clear] == pytest.approx(15.0, abs=0.01)
    assert 0 < t.slope_deg.iloc[rim] < 90  # the rim of the hole still has a slope
    assert t.relief_m.iloc[rim] > 0  # nodata cells are left out of the relief, not NaN

    out = slope_raster(path, tmp_path / "hole_slope.tif")
    with rasterio.open(out) as src:
        slope = src.read(1, masked=True)
    assert slope.mask[40:50, 40:50].all() and not slope.mask[:40].any()
    assert np.abs(slope[:38] - 15.0).max() < 0.01  # away from the hole, plain Horn


def test_window_reads_give_the_same_answer_whatever_the_tile(tmp_path: Path) -> None:
    utm = projected_plane(tmp_path, 10.0, size=300)
    rng = np.random.default_rng(3)
    xy = np.column_stack([ORIGIN[0] + rng.uniform(-500, 9500, 200),
                          ORIGIN[1] - rng.uniform(-500, 9500, 200)])  # fmt: skip
    points = gpd.GeoSeries(shapely.points(xy), crs=UTM49)
    small = sample_terrain(utm, points, slope_radius_m=60, relief_radius_m=200, tile=16)
    large = sample_terrain(utm, points, slope_radius_m=60, relief_radius_m=200, tile=4096)
    assert small.equals(large)
    assert (small.terrain_note == NO_DATA).sum() > 0  # some fell off the DEM on purpose


def test_bad_input_is_named(tmp_path: Path) -> None:
    utm = projected_plane(tmp_path, 10.0, size=8)
    with pytest.raises(TerrainError, match="coordinate system"):
        sample_terrain(utm, gpd.GeoSeries([shapely.Point(0, 0)]))
    with pytest.raises(TerrainError, match="not found"):
        sample_terrain(tmp_path / "missing.tif", gpd.GeoSeries([shapely.Point(0, 0)], crs=UTM49))


# --- Horn itself, and gdaldem as the peer -----------------------------------------------------


def test_horn_on_a_hand_worked_window() -> None:
    z = np.array([[50.0, 45, 50], [30, 30, 30], [8, 10, 10]])
    # dz/dx = ((50 + 60 + 10) − (50 + 60 + 8)) / 80 = 0.025; dz/dy = ((8 + 20 + 10) − (50 +
    # 90 + 50)) / 80 = −1.9
    expected = math.degrees(math.atan(math.hypot(0.025, 1.9)))
    assert horn_slope(z, 10.0, 10.0)[0, 0] == pytest.approx(expected)
    z[1, 1] = np.nan
    assert np.isnan(horn_slope(z, 10.0, 10.0)[0, 0])  # a hole's own cell has no slope


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdal-bin (gdaldem) not installed")
def test_same_slope_as_gdaldem_compute_edges(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    z = np.cumsum(np.cumsum(rng.normal(0, 3, (60, 70)), axis=0), axis=1) + 500
    z[20:24, 30:33] = np.nan
    path = write_dem(tmp_path / "rough.tif", z, UTM49, from_origin(*ORIGIN, 25.0, 25.0))
    ours = slope_raster(path, tmp_path / "ours.tif")
    peer = tmp_path / "gdaldem.tif"
    subprocess.run(["gdaldem", "slope", "-q", "-compute_edges", str(path), str(peer)], check=True)
    with rasterio.open(ours) as a, rasterio.open(peer) as b:
        mine, theirs = a.read(1, masked=True), b.read(1, masked=True)
    assert (mine.mask == theirs.mask).all()
    corners = np.zeros(mine.shape, dtype=bool)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # gdaldem's corners are not exact on planes
    diff = np.abs(mine - theirs)[~corners & ~mine.mask]
    assert diff.max() < 0.01
