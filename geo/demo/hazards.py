"""Hazard zones (landslide, debris flow, flood) and karst zones derived from the terrain.

* landslide/rockfall (滑坡崩塌): connected areas of steep slope on the DEM, graded by slope;
* debris flow (泥石流): steep small channels in the ranges, buffered;
* flood (洪涝): low ground along the major rivers, by height above the channel (HAND);
* karst zones: the limestone plains the terrain generator put fenglin towers on.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage

from geo.demo.admin import CRS, approx_km2
from geo.demo.grid import polygonize
from geo.demo.terrain import KARST_AREAS, Terrain

LANDSLIDE_SLOPE = 34.0  # mean slope (°) of a coarse cell for the landslide-prone mask
FLOOD_KM2 = 150.0  # upstream area of the rivers with mapped flood zones
MIN_ZONE_KM2 = 0.1


def build_hazards(terrain: Terrain, county, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Hazard-zone polygons (kind, level) inside the county, sorted by kind, level, area."""
    rows = _landslides(terrain) + _debris_flows(terrain, rng) + _floods(terrain)
    frame = gpd.GeoDataFrame(rows, columns=["kind", "level", "geom"], geometry="geom", crs=CRS)
    res = terrain.coarse.res
    frame["geom"] = [_clean(_clean(g, res).intersection(county), res) for g in frame.geom]
    frame = frame[np.array([approx_km2(g) >= MIN_ZONE_KM2 for g in frame.geom], dtype=bool)]
    frame = frame.assign(_area=[-g.area for g in frame.geom])
    frame = frame.sort_values(["kind", "level", "_area"], kind="stable").drop(columns="_area")
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["synthetic"] = True
    return frame.reset_index(drop=True)


def build_karst_zones(terrain: Terrain, county) -> gpd.GeoDataFrame:
    """One polygon per limestone plain, named after the nearest KARST_AREAS centre."""
    labels, n = ndimage.label(terrain.karst_mask)
    polygons = polygonize(np.where(labels > 0, labels - 1, -1), terrain.coarse)
    rows = []
    for i in range(n):
        geom = _clean(_clean(polygons[i], terrain.coarse.res).intersection(county), 0.0)
        c = geom.centroid
        name = min(KARST_AREAS, key=lambda a: (a[1][0] - c.x) ** 2 + (a[1][1] - c.y) ** 2)[0]
        rows.append((name, geom))
    rows.sort(key=lambda r: (r[0], -r[1].area))
    frame = gpd.GeoDataFrame(rows, columns=["name", "geom"], geometry="geom", crs=CRS)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["synthetic"] = True
    return frame


def landslide_mask(terrain: Terrain) -> np.ndarray:
    """Coarse cells in landslide-prone steep zones (smoothed, small specks removed)."""
    steep = (terrain.slope >= LANDSLIDE_SLOPE) & terrain.county_mask
    steep = ndimage.binary_opening(ndimage.binary_closing(steep, iterations=1), iterations=1)
    return steep


def _landslides(terrain: Terrain) -> list:
    labels, n = ndimage.label(landslide_mask(terrain))
    if n == 0:
        return []
    mean_slope = ndimage.mean(terrain.slope, labels, index=np.arange(1, n + 1))
    polygons = polygonize(np.where(labels > 0, labels - 1, -1), terrain.coarse)
    rows = []
    for i in range(n):
        level = "high" if mean_slope[i] >= 39 else "medium" if mean_slope[i] >= 36 else "low"
        rows.append(("landslide", level, polygons[i]))
    return rows


def _debris_flows(terrain: Terrain, rng) -> list:
    """Steep mountain channels of 0.5–8 km², buffered 150 m; a dozen chosen at random."""
    acc = terrain.acc_km2
    steep_channel = (acc >= 0.5) & (acc < 8) & (terrain.slope >= 24) & terrain.county_mask
    labels, n = ndimage.label(steep_channel, structure=np.ones((3, 3)))
    if n == 0:
        return []
    sizes = ndimage.sum(steep_channel, labels, index=np.arange(1, n + 1))
    candidates = np.nonzero(sizes >= 8)[0]
    chosen = rng.permutation(candidates)[:12]
    rows = []
    for i in sorted(chosen.tolist()):
        r, c = np.nonzero(labels == i + 1)
        lon, lat = terrain.coarse.centres(r, c)
        cells = shapely.MultiPoint(np.column_stack([lon, lat]))
        zone = cells.buffer(0.0015, quad_segs=4)
        rows.append(("debris_flow", "high" if sizes[i] >= 20 else "medium", zone))
    return rows


def _floods(terrain: Terrain) -> list:
    """Low ground within 1 km of the major rivers: HAND < 2.5 m high, < 6 m medium."""
    major = terrain.acc_km2 >= FLOOD_KM2
    near = ndimage.distance_transform_edt(~major, sampling=terrain.coarse.cell_m) <= 1000
    zone = np.full(terrain.elev.shape, -1)
    zone[near & (terrain.hand < 6)] = 0
    zone[near & (terrain.hand < 2.5)] = 1
    zone[~terrain.county_mask] = -1
    polygons = polygonize(zone, terrain.coarse)
    return [
        ("flood", level, polygons[i]) for i, level in ((1, "high"), (0, "medium")) if i in polygons
    ]


def _clean(geom, res: float) -> shapely.MultiPolygon:
    """Smoothed, simplified, valid MultiPolygon (raster stair steps rounded off)."""
    geom = geom.buffer(res * 0.7, quad_segs=2).buffer(-res * 0.7, quad_segs=2)
    geom = shapely.make_valid(shapely.simplify(geom, res * 0.5))
    parts = []
    for g in getattr(geom, "geoms", [geom]):
        if g.geom_type == "Polygon" and not g.is_empty:
            parts.append(g)
        elif g.geom_type == "MultiPolygon":
            parts.extend(g.geoms)
    return shapely.MultiPolygon(parts)
