"""Where an import's rows are: WGS84 geometry from the file's own geometry, from longitude
and latitude columns or from WKT, converted from the declared (or ``--crs``) coordinate
system (GCJ-02 and BD-09 included), then checked: valid, non-empty, of the kind's types and
inside its area.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geo.crs import CoordSystem, parse_crs, transform_geometry
from geo.validate import check_geometries, check_lonlat, parse_number
from layers.imports.base import ImportError_

if TYPE_CHECKING:
    from layers.imports.core import Context


def locate(ctx: Context) -> None:
    """WGS84 geometry from the file's geometry, or from longitude/latitude or WKT columns."""
    crs = _coordinate_system(ctx)
    if ctx.source.geometry is not None and not (ctx.has("longitude") and ctx.has("latitude")):
        ctx.geometry = _convert(ctx.source.geometry, crs)
    elif ctx.has("longitude") and ctx.has("latitude"):
        ctx.geometry = _points_from_columns(ctx, crs)
    elif ctx.has("wkt"):
        ctx.geometry = _convert(_from_wkt(ctx), crs)
    else:
        ctx.errors.file_error("geometry", "no geometry: give a spatial file or 经度/纬度 columns")
        return
    _check_shapes(ctx)


def _coordinate_system(ctx: Context) -> CoordSystem | CRS:
    declared, requested = ctx.source.crs, ctx.options.crs
    if requested is not None:
        try:
            chosen = parse_crs(requested)
        except ValueError as exc:
            raise ImportError_(f"--crs: {exc}") from None
        _check_agrees(ctx, declared, chosen)
        ctx.crs_declared, ctx.crs_used = True, str(chosen)
        return chosen
    if declared is None:
        ctx.crs_used = "wgs84 (assumed)"
        ctx.notes.append("no coordinate system declared: taken as WGS84 (say otherwise with --crs)")
        return parse_crs("wgs84")
    ctx.crs_declared = True
    epsg = declared.to_epsg()
    if epsg in (4326, 4490):
        ctx.crs_used = str(parse_crs(f"EPSG:{epsg}"))
        return parse_crs(f"EPSG:{epsg}")
    ctx.crs_used = declared.to_string()
    return declared


def _check_agrees(ctx: Context, declared: CRS | None, chosen: CoordSystem) -> None:
    """--crs may say GCJ-02/BD-09 for a file labelled lon/lat, but not contradict a projection."""
    if declared is None:
        return
    epsg = declared.to_epsg()
    if epsg in (4326, 4490) and chosen.kind in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        if chosen.kind in ("gcj02", "bd09"):
            ctx.notes.append(f"the file says EPSG:{epsg}; converted from {chosen} as --crs says")
        return
    if chosen.kind == "epsg" and epsg == chosen.epsg:
        return
    raise ImportError_(
        f"{ctx.source.path.name}: the file declares {declared.to_string()} but --crs says "
        f"{chosen}: leave out --crs, or fix the file's coordinate system"
    )


def _convert(geoms: np.ndarray, crs: CoordSystem | CRS) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    if isinstance(crs, CoordSystem):
        if crs.is_wgs84_equivalent:
            return geoms
        return transform_geometry(geoms, crs)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely.transform(
        geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _points_from_columns(ctx: Context, crs: CoordSystem | CRS) -> np.ndarray:
    lon, lon_problems = parse_number(ctx.raw("longitude"), "longitude", low=None)
    lat, lat_problems = parse_number(ctx.raw("latitude"), "latitude", low=None)
    ctx.add(lon_problems + lat_problems)
    x = pd.to_numeric(lon, errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(lat, errors="coerce").to_numpy(dtype=float)
    bad = {p.index for p in lon_problems + lat_problems}
    lonlat_problems = [p for p in check_lonlat(x, y, ctx.kind.bounds) if p.index not in bad]
    ctx.add(lonlat_problems)
    points = shapely.points(np.nan_to_num(x), np.nan_to_num(y))
    points[np.isnan(x) | np.isnan(y)] = None
    return _convert(points, crs)


def _from_wkt(ctx: Context) -> np.ndarray:
    texts = ctx.raw("wkt")
    geoms = np.empty(len(texts), dtype=object)
    for i, text in enumerate(texts):
        if text is None or (isinstance(text, float) and np.isnan(text)) or str(text).strip() == "":
            continue
        try:
            geoms[i] = shapely.from_wkt(str(text).strip())
        except shapely.errors.GEOSException as exc:
            ctx.errors.add(i, ctx.label("wkt"), f"not WKT: {exc}")
    return geoms


def _check_shapes(ctx: Context) -> None:
    """Valid, non-empty, of the allowed types and inside the area (after conversion)."""
    geoms = ctx.geometry
    kinds = set(ctx.kind.geometry)
    if "Polygon" in kinds:
        kinds.add("MultiPolygon")
    if "LineString" in kinds:
        kinds.add("MultiLineString")
    already = ctx.errors.bad_positions
    problems = [
        p for p in check_geometries(geoms, kinds, ctx.kind.bounds) if p.index not in already
    ]
    for p in problems:
        ctx.errors.add(p.index, _geometry_label(ctx), p.message)
    if problems and not ctx.crs_declared and any("outside" in p.message for p in problems):
        ctx.errors.hints.append("the file declares no coordinate system; say which with --crs")


def _geometry_label(ctx: Context) -> str:
    return ctx.label("longitude") if ctx.has("longitude") else "geometry"


def as_multi(geoms: np.ndarray) -> np.ndarray:
    """Polygons into MultiPolygons (the tables hold MULTIPOLYGON)."""
    out = np.asarray(geoms, dtype=object).copy()
    single = shapely.get_type_id(out) == 3
    out[single] = [shapely.multipolygons([g]) for g in out[single]]
    return out
