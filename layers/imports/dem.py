"""``gongjian import dem``: register a DEM GeoTIFF (kept on disk) in the raster table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import rasterio
import rasterio.warp
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.crs import parse_crs
from geo.validate import CHINA_BOUNDS
from layers.imports.base import ImportError_, ImportOptions, ImportSummary
from layers.imports.core import STAGING, database_error, sha256, staging_types
from layers.imports.files import check_size
from layers.imports.write import Target, copy_staging, create_staging, upsert

COLUMNS = ["name", "kind", "path", "epsg", "bounds", "resolution_m", "sha256"]


def import_dem(engine: Engine, path: Path, options: ImportOptions) -> ImportSummary:
    """Register ``path`` under its file name (or ``options.layer``); re-running changes nothing.

    The raster must be a single-band GeoTIFF with a coordinate system (from the file or
    ``--crs EPSG:n``) and lie in China.
    """
    path = Path(path)
    check_size(path, options.max_bytes)
    row = describe_dem(path, options.crs, name=options.layer or path.stem)
    summary = ImportSummary("raster", path, read=1, dry_run=options.dry_run)
    try:
        with engine.begin() as conn:
            create_staging(conn, STAGING, staging_types("raster", COLUMNS, {}))
            copy_staging(conn, STAGING, row)
            target = Target("raster", ("name",), tuple(COLUMNS))
            meta = {"file": path.name, "sha256": row["sha256"].iloc[0], "kind": "dem"}
            inserted, updated = upsert(conn, target, STAGING, actor=options.actor, meta=meta)
            summary.count(inserted, updated, 1)
            if options.dry_run:
                conn.rollback()
    except sa.exc.DBAPIError as exc:
        raise database_error(exc, path) from exc
    return summary


def describe_dem(path: Path, crs: str | None, name: str) -> pd.DataFrame:
    """One raster row: EPSG, WGS84 footprint, resolution in metres and checksum."""
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise ImportError_(f"{path.name}: {src.count} bands, a DEM has one")
            source_crs = src.crs or _requested(crs, path)
            epsg = source_crs.to_epsg()
            if epsg is None:
                raise ImportError_(f"{path.name}: its coordinate system has no EPSG code")
            box = rasterio.warp.transform_bounds(source_crs, "EPSG:4326", *src.bounds)
            resolution = abs(src.res[0]) * (111_320 if source_crs.is_geographic else 1)
    except rasterio.errors.RasterioIOError as exc:
        raise ImportError_(f"{path.name}: cannot be read as a GeoTIFF: {exc}") from exc
    minx, miny, maxx, maxy = CHINA_BOUNDS
    if box[0] < minx or box[2] > maxx or box[1] < miny or box[3] > maxy:
        raise ImportError_(f"{path.name}: its extent {box} is outside China: wrong --crs?")
    return pd.DataFrame(
        {
            "name": [name],
            "kind": ["dem"],
            "path": [str(path.resolve())],
            "epsg": [epsg],
            "bounds": [shapely.box(*box)],
            "resolution_m": [float(resolution)],
            "sha256": [sha256(path)],
        }
    )


def _requested(crs: str | None, path: Path) -> rasterio.crs.CRS:
    if crs is None:
        raise ImportError_(
            f"{path.name}: the raster declares no coordinate system: pass --crs EPSG:n"
        )
    system = parse_crs(crs)
    if system.epsg is None:
        raise ImportError_(
            f"--crs {crs}: a DEM needs an EPSG code (GCJ-02/BD-09 rasters are not supported)"
        )
    return rasterio.crs.CRS.from_epsg(system.epsg)
