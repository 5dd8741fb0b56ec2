"""Files of proposed sites and roads (siting candidates, scenario changes): read, converted to
WGS84, and checked against the township before anything is used or stored.

Points come from a spatial file (GeoPackage, GeoJSON, Shapefile, FlatGeobuf) or a table
(CSV/XLSX) with 经度/纬度 columns; lines from a spatial file. ``crs`` names the file's
coordinates (wgs84, cgcs2000, gcj02, bd09, EPSG:n) as for ``gongjian import``. A file that
declares no coordinate system is taken as WGS84 — unless its points sit far from every road
as WGS84 and near them read as GCJ-02 (AMap/Tencent), which is refused with a message naming
both distances rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import parse_crs, to_wgs84
from geo.network import metric_crs

MAX_FILE_BYTES = 20 * 1024 * 1024
GCJ_SUSPECT_M = 100.0  # a median this far from the roads, and a third of it as GCJ-02: suspect
LON = ("经度", "lon", "lng", "longitude", "x")
LAT = ("纬度", "lat", "latitude", "y")
NAME = ("名称", "name", "站点", "地点", "site")


class ProposalError(ValueError):
    """A file of proposals that cannot be used; the message names file, row and field."""


@dataclass
class Proposals:
    """Features of a file in WGS84 (``name``, ``row`` = the row number a user sees)."""

    path: Path
    frame: gpd.GeoDataFrame
    declared: bool  # the coordinate system was named (--crs) or declared by the file


def read_proposals(path: Path, crs: str | None, geometry: str) -> Proposals:
    """``geometry``: "point" or "line"."""
    from layers.imports.base import ImportError_
    from layers.imports.files import read_source

    try:
        source = read_source(path, max_bytes=MAX_FILE_BYTES, score=_header_score)
    except ImportError_ as exc:
        raise ProposalError(str(exc)) from None
    frame = source.frame
    if source.geometry is not None:
        geoms = gpd.GeoSeries(source.geometry, crs=source.crs)
    elif geometry == "point":
        geoms = gpd.GeoSeries(_points_from_columns(path, frame, source), crs=None)
    else:
        raise ProposalError(f"{path.name}: no geometry: give lines in a spatial file (GPKG, "
                            "GeoJSON, Shapefile)")  # fmt: skip
    declared = crs is not None or (
        source.crs is not None and source.crs.to_epsg() not in (4326, 4490)
    )
    wgs84 = _to_wgs84(geoms, crs).reset_index(drop=True)
    rows = np.array([source.row(i) for i in range(len(wgs84))], dtype=np.int64)
    wanted = ("Point",) if geometry == "point" else ("LineString", "MultiLineString")
    for i, geom in enumerate(wgs84):
        if geom is None or geom.is_empty or geom.geom_type not in wanted:
            got = "nothing" if geom is None or geom.is_empty else geom.geom_type
            raise ProposalError(f"{path.name}: row {rows[i]}: field geometry: {got}, not a "
                                f"{geometry}")  # fmt: skip
    if geometry == "line":  # a drawn road in several parts: its parts
        parts = wgs84.explode(index_parts=False)
        rows, frame = rows[parts.index.to_numpy()], frame.iloc[parts.index.to_numpy()]
        wgs84 = parts.reset_index(drop=True)
    names = _names(frame, len(wgs84), "候选点" if geometry == "point" else "规划道路")
    out = gpd.GeoDataFrame({"name": names, "row": rows}, geometry=wgs84.to_numpy(), crs=4326)
    for column in ("road_class", "surface", "等级", "路面"):
        if column in frame.columns:
            out[column] = frame[column].to_numpy()
    return Proposals(path, out, declared)


def refuse_if_gcj02(proposals: Proposals, roads: gpd.GeoDataFrame) -> list[str]:
    """Raise if an undeclared file looks like GCJ-02; notes to show otherwise."""
    if proposals.declared:
        return []
    points = gpd.GeoSeries(_first_points(proposals.frame.geometry.to_numpy()), crs=4326)
    if len(roads) and len(points):
        as_given = _median_road_m(points, roads)
        as_gcj = _median_road_m(to_wgs84(points, "gcj02"), roads)
        if as_given > GCJ_SUSPECT_M and as_gcj < as_given / 3:
            raise ProposalError(
                f"{proposals.path.name}: the features lie a median {as_given:.0f} m from the "
                f"nearest road as WGS84, {as_gcj:.0f} m if read as GCJ-02: the file looks like "
                "GCJ-02 (AMap, Tencent). Say which with --crs gcj02 (or --crs wgs84 to keep "
                "them as they are)"
            )
    return [f"{proposals.path.name} declares no coordinate system: taken as WGS84 (say "
            "otherwise with --crs)"]  # fmt: skip


def refuse_outside(proposals: Proposals, area: shapely.Geometry, label: str) -> None:
    """Every feature must touch the township (``label`` names it, ``area`` in WGS84)."""
    touches = proposals.frame.intersects(area).to_numpy()
    if not touches.all():
        i = int(np.flatnonzero(~touches)[0])
        where = proposals.frame.geometry.iloc[i].representative_point()
        raise ProposalError(
            f"{proposals.path.name}: row {proposals.frame.row.iloc[i]}: the feature at "
            f"({where.x:.6f}, {where.y:.6f}) lies outside {label}"
        )


def _first_points(geoms: np.ndarray) -> np.ndarray:
    """Points as they are, lines by their first vertex (where a drawn road leaves from)."""
    return np.array([g if g.geom_type == "Point" else shapely.get_point(g, 0) for g in geoms])


def _header_score(row: list[object]) -> int:
    cells = {str(c).strip().lower() for c in row if c is not None}
    return sum(1 for names in (LON, LAT, NAME) if cells & set(names))


def _names(frame: pd.DataFrame, n: int, default: str) -> list[str]:
    column = next((c for c in frame.columns if str(c).strip().lower() in NAME), None)
    if column is None:
        return [f"{default}{i + 1}" for i in range(n)]
    values = frame[column].to_numpy()
    return [str(v) if v is not None and str(v).strip() else f"{default}{i + 1}"
            for i, v in enumerate(values)]  # fmt: skip


def _points_from_columns(path: Path, frame: pd.DataFrame, source) -> np.ndarray:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    lon = next((lower[n] for n in LON if n in lower), None)
    lat = next((lower[n] for n in LAT if n in lower), None)
    if lon is None or lat is None:
        raise ProposalError(f"{path.name}: no geometry: give a spatial file or 经度/纬度 columns")
    x = pd.to_numeric(frame[lon], errors="coerce").to_numpy(float)
    y = pd.to_numeric(frame[lat], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(np.isnan(x) | np.isnan(y) | (np.abs(x) > 180) | (np.abs(y) > 90))
    if len(bad):
        i = int(bad[0])
        raise ProposalError(
            f"{path.name}: row {source.row(i)}: field {lon}/{lat}: not a longitude/latitude "
            f"({frame[lon].iloc[i]!r}, {frame[lat].iloc[i]!r})"
        )
    return shapely.points(x, y)


def _to_wgs84(geoms: gpd.GeoSeries, crs: str | None) -> gpd.GeoSeries:
    if crs is None:
        if geoms.crs is None or geoms.crs.to_epsg() in (4326, 4490):
            return geoms.set_crs(4326, allow_override=True)
        return geoms.to_crs(4326)
    try:
        system = parse_crs(crs)
    except ValueError as exc:
        raise ProposalError(f"--crs: {exc}") from None
    if system.kind == "epsg" and system.epsg not in (4326, 4490):
        return geoms.set_crs(system.epsg, allow_override=True).to_crs(4326)
    return to_wgs84(geoms.set_crs(None, allow_override=True), system)


def _median_road_m(points: gpd.GeoSeries, roads: gpd.GeoDataFrame) -> float:
    crs = metric_crs(roads)
    lines = roads.to_crs(crs).geometry.to_numpy()
    metric = points.to_crs(crs).to_numpy()
    _, distance = shapely.STRtree(lines).query_nearest(
        metric, return_distance=True, all_matches=False
    )
    return float(np.median(distance))
