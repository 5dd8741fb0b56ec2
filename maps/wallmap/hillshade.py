"""Relief for the map frame: the DEM warped to the map's CRS and shaded, as a light grey image.

The image covers the map extent at a resolution chosen for the paper (about 120 dpi, capped
in pixels), with a few dozen grey levels, so the PDF stores it as a small 8-bit indexed
image: an A0 sheet's relief stays a few megabytes while everything else remains vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from matplotlib.colors import LightSource
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds

from maps.wallmap.symbology import HILLSHADE_LEVELS

MAX_PIXELS = 2_000_000
RELIEF_DPI = 120


@dataclass(frozen=True)
class Relief:
    """Shaded relief as RGB uint8 and the extent (xmin, xmax, ymin, ymax) it covers."""

    rgb: np.ndarray
    extent: tuple[float, float, float, float]


def shaded_relief(
    dem_path: str,
    crs: CRS,
    extent: tuple[float, float, float, float],
    size_mm: tuple[float, float],
    *,
    dpi: float = RELIEF_DPI,
    strength: float = 0.55,
) -> Relief | None:
    """Hillshade of ``dem_path`` over ``extent`` (map CRS), or None when it does not overlap.

    ``strength`` blends the shade with white (0 = no relief, 1 = full black-to-white shade):
    a light relief reads as landform without competing with the symbols.
    """
    xmin, xmax, ymin, ymax = extent
    with rasterio.open(dem_path) as src:
        bounds = transform_bounds(crs, src.crs, xmin, ymin, xmax, ymax)
        if not _overlaps(bounds, src.bounds):
            return None
        # no finer than the DEM itself (a little oversampling keeps the shading smooth)
        native_m = abs(src.res[0]) * (111_320 if src.crs.is_geographic else 1)
        most = ((xmax - xmin) / (native_m / 1.5), (ymax - ymin) / (native_m / 1.5))
        width, height = (min(a, int(b)) for a, b in zip(_pixels(size_mm, dpi), most, strict=True))
        dem = np.full((height, width), np.nan, dtype="float32")
        reproject(
            source=rasterio.band(src, 1),
            destination=dem,
            dst_transform=from_bounds(xmin, ymin, xmax, ymax, width, height),
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
    missing = np.isnan(dem)
    if missing.all():
        return None
    dem = np.where(missing, np.nanmin(dem), dem)
    dx, dy = (xmax - xmin) / width, (ymax - ymin) / height
    shade = LightSource(azdeg=315, altdeg=40).hillshade(dem, vert_exag=1.6, dx=dx, dy=dy)
    # flat ground stays white; slopes facing away from the light get grey; no DEM, no relief
    grey = 1.0 - strength * (1.0 - _normalised(shade))
    grey[missing] = 1.0
    levels = np.round(grey * (HILLSHADE_LEVELS - 1)) / (HILLSHADE_LEVELS - 1)
    value = (levels * 255).astype(np.uint8)
    return Relief(np.dstack([value, value, value]), extent)


def _pixels(size_mm: tuple[float, float], dpi: float) -> tuple[int, int]:
    width = size_mm[0] / 25.4 * dpi
    height = size_mm[1] / 25.4 * dpi
    shrink = min(1.0, np.sqrt(MAX_PIXELS / (width * height)))
    return max(16, int(width * shrink)), max(16, int(height * shrink))


def _normalised(shade: np.ndarray) -> np.ndarray:
    """Stretch so the brightest slope is white: flat valley floors carry no grey."""
    top = np.percentile(shade, 99.5)
    return np.clip(shade / top, 0.0, 1.0) if top > 0 else shade


def _overlaps(a: tuple, b) -> bool:
    return not (a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3])
