"""Resettlement sites (安置点) per township, ranked, with the travel time from the candidates.

Part of the relocation analysis (``geo.relocation``); pure computation on GeoDataFrames in a
metric CRS. For a township:

1. **Cells.** A grid of ``site_cell_m`` cells over the township; a cell belongs to it when
   its centre does. The grid lies on a fixed lattice of the metric CRS (its origin a multiple
   of ``site_block_m``), and the caller passes a CRS that does not depend on the run's extent
   (the county's Gauss-Krüger zone), so a township gets the same cells, blocks and sites
   whether it is assessed alone or with its county.
2. **Exclusions.** Every hazard zone (any kind and level) and reservoir polygon, grown by
   ``site_hazard_buffer_m``, is burnt into the grid (every cell it touches): no part of a
   cell — so no part of a site's outline — comes nearer a zone than the buffer. Likewise
   rivers of order ≥ ``site_river_min_order`` grown by ``site_river_m``.
3. **Land.** Mean slope over the cell (DEM, radius half a cell) at most
   ``site_max_slope_deg``, elevation below the relocation's ``elevation_m``.
4. **Access.** A hardened road within ``site_road_m`` (straight line), the township health
   centre (乡镇卫生院) within ``site_health_centre_minutes`` and a school (of the profile's
   ``[school] levels``) within ``site_school_minutes`` — walk + roads + walk, as coverage.
5. **Blocks.** Suitable cells are gathered into blocks of ``site_block_m``; a block with at
   least ``site_min_area_ha`` of them is a site: its point is the suitable cell nearest their
   centre, its outline the suitable cells, its capacity
   ``area × site_usable_share / site_plot_m2`` households.
6. **Ranking.** The ``site_shortlist`` blocks with the fewest minutes to the health centre
   and school are timed from every candidate household of the township (one shortest-path
   run per site); the score is the candidates' mean minutes + health centre + school
   minutes (+ ``site_no_water_minutes`` without piped water nearby: a supply area, or a piped
   hamlet within ``site_water_m``). The best ``sites_per_township`` at least
   ``site_min_separation_m`` apart are kept, rank 1 the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from scipy.spatial import cKDTree

from geo.access import Walker, access_to, nearest_line, snap_points
from geo.network import RoadNetwork
from geo.terrain import sample_terrain

if TYPE_CHECKING:  # pragma: no cover
    from geo.relocation import RelocationPolicy

SITE_COLUMNS = [
    "site_key", "township_code", "rank", "block", "cells", "area_ha", "capacity_households",
    "slope_mean_deg", "elevation_m", "hardened_road_m", "health_centre_min",
    "health_centre_id", "school_min", "school_id", "water_nearby", "service_min",
    "from_candidates_mean_min", "from_candidates_max_min", "reachable_candidates",
    "score_min", "site_x", "site_y", "reason_text",
]  # fmt: skip


@dataclass
class SiteLayers:
    """What the site search reads (any CRS; the data model's column names)."""

    hazard_zones: gpd.GeoDataFrame
    water: gpd.GeoDataFrame  # kind; polygons excluded, supply areas give water
    hamlets: gpd.GeoDataFrame  # piped_water
    clinics: gpd.GeoDataFrame  # level
    schools: gpd.GeoDataFrame  # level
    rivers: gpd.GeoDataFrame | None = None  # order
    dem_path: Path | None = None
    school_levels: tuple[str, ...] = ("primary", "teaching_point", "junior")


@dataclass(frozen=True)
class CellGrid:
    """The township's cells: north-up grid in metres, centre coordinates, inside mask."""

    transform: Affine
    shape: tuple[int, int]
    inside: np.ndarray

    @classmethod
    def over(
        cls, area: shapely.Geometry, cell_m: float, lattice_m: float | None = None
    ) -> CellGrid:
        """Cells over ``area``; the origin snapped to multiples of ``lattice_m`` (default:
        the cell size), so any two grids over overlapping areas share their cells.

        >>> a = CellGrid.over(shapely.box(130, 70, 420, 380), 100, 500)
        >>> a.transform.c, a.transform.f, a.shape
        (0.0, 500.0, (5, 5))
        """
        lattice_m = lattice_m or cell_m
        minx, miny, maxx, maxy = area.bounds
        minx = math.floor(minx / lattice_m) * lattice_m
        maxy = math.ceil(maxy / lattice_m) * lattice_m
        width = max(math.ceil((maxx - minx) / cell_m), 1)
        height = max(math.ceil((maxy - miny) / cell_m), 1)
        transform = Affine(cell_m, 0, minx, 0, -cell_m, maxy)
        inside = rasterio.features.geometry_mask(
            [area], out_shape=(height, width), transform=transform, invert=True
        )
        return cls(transform, (height, width), inside)

    @property
    def cell_m(self) -> float:
        return self.transform.a

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        x = self.transform.c + (cols + 0.5) * self.cell_m
        y = self.transform.f - (rows + 0.5) * self.cell_m
        return np.column_stack([x, y])

    def burnt(self, geoms) -> np.ndarray:
        """Cells touched by any of ``geoms`` (metric shapely geometries)."""
        shapes = [g for g in geoms if g is not None and not g.is_empty]
        if not shapes:
            return np.zeros(self.shape, dtype=bool)
        return rasterio.features.rasterize(
            shapes, out_shape=self.shape, transform=self.transform, all_touched=True,
            fill=0, default_value=1, dtype="uint8",
        ).astype(bool)  # fmt: skip

    def near(self, burnt: np.ndarray, distance_m: float) -> np.ndarray:
        """Cells whose centre is within ``distance_m`` of a burnt cell's centre."""
        if not burnt.any():
            return burnt
        distance = ndimage.distance_transform_edt(~burnt, sampling=self.cell_m)
        return distance <= distance_m + 1e-9


def block_lattice_m(policy) -> float:
    """The grid's lattice: blocks of ``site_block_m`` when they are whole cells."""
    k = max(1, round(policy.site_block_m / policy.site_cell_m))
    return k * policy.site_cell_m


BUFFER_SEGMENTS = 8  # per quarter circle


def grown(geoms, distance_m: float) -> list:
    """``geoms`` buffered by at least ``distance_m`` everywhere.

    A buffer's arcs are polygons inscribed in the true circle (up to 0.5 % short with 8
    segments per quarter); the radius is raised so they circumscribe it instead.
    """
    shapes = [g for g in geoms if g is not None and not g.is_empty]
    if not shapes or distance_m <= 0:
        return shapes
    radius = distance_m / math.cos(math.pi / (4 * BUFFER_SEGMENTS))
    return list(shapely.buffer(np.array(shapes, dtype=object), radius, quad_segs=BUFFER_SEGMENTS))


def township_sites(
    code: str,
    area: shapely.Geometry,
    candidates_xy: np.ndarray,
    layers: SiteLayers,
    policy: RelocationPolicy,
    network: RoadNetwork,
    walker: Walker,
    crs,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Ranked sites of township ``code`` (``area`` and x/y in the network's metric CRS) and
    the minutes from each candidate to each site (inf: unreachable)."""
    grid = CellGrid.over(area, policy.site_cell_m, block_lattice_m(policy))
    cells = suitable_cells(grid, layers, policy, network, walker, crs)
    blocks, cells = site_blocks(grid, cells, policy)
    if blocks.empty:
        return pd.DataFrame(columns=[*SITE_COLUMNS, "geometry"]), np.empty((len(candidates_xy), 0))
    blocks = blocks.sort_values(["service_min", "block"]).head(policy.site_shortlist)
    blocks = blocks.reset_index(drop=True)
    minutes = _minutes_from(candidates_xy, blocks, network, walker)
    _score(blocks, minutes, policy)
    chosen = spread_best(blocks, policy)
    sites = blocks.loc[chosen].reset_index(drop=True)
    sites.insert(0, "township_code", code)
    sites.insert(1, "rank", np.arange(1, len(sites) + 1))
    sites.insert(0, "site_key", [f"site-{code}-{r}" for r in sites["rank"]])
    sites["reason_text"] = [site_text(s) for s in sites.itertuples()]
    sites["geometry"] = outlines(grid, cells, sites.pop("block_id"))
    return sites, minutes[:, chosen]


def suitable_cells(grid: CellGrid, layers: SiteLayers, policy, network, walker, crs):
    """The township's cells that pass, with their values (cheap tests first)."""
    zones = _metric(layers.hazard_zones, crs)
    polygons = layers.water[layers.water.geom_type.isin(["Polygon", "MultiPolygon"])]
    excluded = grid.burnt(grown([*zones, *_metric(polygons, crs)], policy.site_hazard_buffer_m))
    rivers = _metric(_major_rivers(layers.rivers, policy), crs)
    excluded |= grid.burnt(grown(rivers, policy.site_river_m))
    hardened = network.edges.geometry.to_numpy()[(network.edges.surface == "hardened").to_numpy()]
    # near a hardened road at the cells' resolution first (a centre within site_road_m of a
    # road is within that plus half a cell's diagonal of a burnt cell's centre), exactly below
    near_road = grid.near(grid.burnt(hardened), policy.site_road_m + grid.cell_m * 0.75)
    rows, cols = np.nonzero(grid.inside & ~excluded & near_road)
    cells = pd.DataFrame({"row": rows, "col": cols})
    xy = grid.centres(rows, cols)
    cells["x"], cells["y"] = xy[:, 0], xy[:, 1]
    cells = _land(cells, layers, policy, crs)
    points = shapely.points(cells[["x", "y"]].to_numpy())
    cells["hardened_road_m"], _ = nearest_line(points, hardened)
    cells = cells[cells.hardened_road_m <= policy.site_road_m + 1e-9].reset_index(drop=True)
    cells = _services(cells, layers, network, walker, crs)
    reach = (cells.health_centre_min <= policy.site_health_centre_minutes + 1e-9) & (
        cells.school_min <= policy.site_school_minutes + 1e-9
    )
    cells = cells[reach].reset_index(drop=True)
    cells["water_nearby"] = _water_nearby(cells, layers, policy, crs)
    return cells


def _land(cells: pd.DataFrame, layers: SiteLayers, policy, crs) -> pd.DataFrame:
    """Cells gentle and low enough (a DEM is needed: without one no cell qualifies)."""
    if cells.empty or layers.dem_path is None or not Path(layers.dem_path).exists():
        return cells.iloc[0:0].assign(slope_mean_deg=[], elevation_m=[])
    points = gpd.GeoSeries(shapely.points(cells[["x", "y"]].to_numpy()), crs=crs)
    terrain = sample_terrain(layers.dem_path, points, slope_radius_m=policy.site_cell_m / 2)
    cells = cells.assign(
        slope_mean_deg=terrain.slope_mean_deg.to_numpy(), elevation_m=terrain.elevation_m.to_numpy()
    )
    ok = cells.slope_mean_deg.to_numpy() <= policy.site_max_slope_deg + 1e-9
    if policy.elevation_m is not None:
        ok &= cells.elevation_m.to_numpy() < policy.elevation_m
    return cells[ok].reset_index(drop=True)


def _services(cells: pd.DataFrame, layers: SiteLayers, network, walker, crs) -> pd.DataFrame:
    """Minutes (and which) to the nearest township health centre and school."""
    cells = cells.copy()
    xy = cells[["x", "y"]].to_numpy()
    snap, walk = snap_points(network, xy, walker)
    centres = layers.clinics[layers.clinics.level == "township_health_centre"]
    schools = layers.schools[layers.schools.level.isin(layers.school_levels)]
    for name, facilities in (("health_centre", centres), ("school", schools)):
        result = access_to(network, walker, xy, snap, walk, _points_xy(facilities, crs))
        ids = facilities["id"].to_numpy() if len(facilities) else np.array([-1])
        cells[f"{name}_min"] = result.minutes
        cells[f"{name}_id"] = np.where(result.facility >= 0, ids[np.maximum(result.facility, 0)],
                                       -1)  # fmt: skip
    return cells


def _water_nearby(cells: pd.DataFrame, layers: SiteLayers, policy, crs) -> np.ndarray:
    """Inside a water-supply area, or a piped hamlet within ``site_water_m``."""
    result = np.zeros(len(cells), dtype=bool)
    if cells.empty:
        return result
    points = shapely.points(cells[["x", "y"]].to_numpy())
    areas = layers.water[layers.water.kind == "supply_area"]
    if len(areas):
        tree = shapely.STRtree(_metric(areas, crs))
        p, _ = tree.query(points, predicate="intersects")
        result[np.unique(p)] = True
    piped = layers.hamlets[layers.hamlets.piped_water.fillna(False).astype(bool)]
    if len(piped):
        d, _ = cKDTree(_points_xy(piped, crs)).query(cells[["x", "y"]].to_numpy())
        result |= d <= policy.site_water_m
    return result


def site_blocks(grid: CellGrid, cells: pd.DataFrame, policy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One candidate site per block of ``site_block_m`` holding enough suitable cells; and
    the cells of those blocks (``block_id``), for their outlines."""
    columns = [c for c in SITE_COLUMNS if c not in ("site_key", "township_code", "rank")]
    if cells.empty:
        return pd.DataFrame(columns=[*columns, "block_id"]), cells
    k = max(1, round(policy.site_block_m / policy.site_cell_m))
    block_row, block_col = cells.row // k, cells.col // k
    cells = cells.assign(block_id=block_row * (grid.shape[1] // k + 1) + block_col + 1)
    min_cells = max(1, math.ceil(policy.site_min_area_ha * 10_000 / policy.site_cell_m**2))
    cells = cells[cells.groupby("block_id").x.transform("size") >= min_cells]
    if cells.empty:
        return pd.DataFrame(columns=[*columns, "block_id"]), cells
    groups = cells.groupby("block_id", sort=True)
    off = np.hypot(cells.x - groups.x.transform("mean"), cells.y - groups.y.transform("mean"))
    centre = cells.loc[off.groupby(cells.block_id).idxmin().to_numpy()].set_index("block_id")
    area_m2 = groups.size() * policy.site_cell_m**2
    blocks = pd.DataFrame(
        {
            "block": [f"{r // k}:{c // k}" for r, c in zip(centre.row, centre.col, strict=True)],
            "cells": groups.size(),
            "area_ha": area_m2 / 10_000,
            "capacity_households": (
                area_m2 * policy.site_usable_share // policy.site_plot_m2
            ).astype(int),
            "slope_mean_deg": groups.slope_mean_deg.mean(),
            "elevation_m": centre.elevation_m,
            "hardened_road_m": centre.hardened_road_m,
            "health_centre_min": centre.health_centre_min,
            "health_centre_id": centre.health_centre_id.astype(int),
            "school_min": centre.school_min,
            "school_id": centre.school_id.astype(int),
            "water_nearby": groups.water_nearby.any(),
            "service_min": centre.health_centre_min + centre.school_min,
            "site_x": centre.x,
            "site_y": centre.y,
        }
    )
    return blocks.rename_axis("block_id").reset_index(), cells


def outlines(grid: CellGrid, cells: pd.DataFrame, block_ids) -> list[shapely.MultiPolygon]:
    """Polygons of the suitable cells of each of ``block_ids``, traced from the grid."""
    chosen = cells[cells.block_id.isin(list(block_ids))]
    label = np.zeros(grid.shape, dtype=np.int32)
    label[chosen.row.to_numpy(), chosen.col.to_numpy()] = chosen.block_id.to_numpy()
    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(label, mask=label > 0, transform=grid.transform):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return [_multipolygon(shapely.union_all(parts[int(b)])) for b in block_ids]


def _minutes_from(candidates_xy: np.ndarray, blocks: pd.DataFrame, network, walker) -> np.ndarray:
    """Minutes from every candidate to every block's site point (one run per site)."""
    minutes = np.full((len(candidates_xy), len(blocks)), np.inf)
    if len(candidates_xy) == 0:
        return minutes
    snap, walk = snap_points(network, candidates_xy, walker)
    sites = blocks[["site_x", "site_y"]].to_numpy()
    for k in range(len(blocks)):
        result = access_to(network, walker, candidates_xy, snap, walk, sites[k : k + 1])
        minutes[:, k] = result.minutes
    return minutes


def _score(blocks: pd.DataFrame, minutes: np.ndarray, policy) -> None:
    reachable = np.isfinite(minutes)
    total = np.where(reachable, minutes, 0.0).sum(axis=0)
    count = reachable.sum(axis=0)
    blocks["reachable_candidates"] = count
    blocks["from_candidates_mean_min"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    blocks["from_candidates_max_min"] = np.where(
        count > 0, np.where(reachable, minutes, -np.inf).max(axis=0), np.nan
    )
    penalty = np.where(blocks.water_nearby, 0.0, policy.site_no_water_minutes)
    # a site no candidate can reach ranks last
    travel = blocks.from_candidates_mean_min.fillna(1e6).to_numpy()
    blocks["score_min"] = travel + blocks.service_min.to_numpy() + penalty


def spread_best(blocks: pd.DataFrame, policy) -> list[int]:
    """Indices of the best-scoring blocks, at least ``site_min_separation_m`` apart."""
    chosen: list[int] = []
    for i in blocks.sort_values(["score_min", "block"]).index:
        if len(chosen) == policy.sites_per_township:
            break
        x, y = blocks.site_x[i], blocks.site_y[i]
        if all(
            math.hypot(x - blocks.site_x[j], y - blocks.site_y[j]) >= policy.site_min_separation_m
            for j in chosen
        ):
            chosen.append(int(i))
    return chosen


def site_text(site) -> str:
    """The Chinese description of a site (exports, map labels)."""
    water = "附近通自来水" if site.water_nearby else "附近未见自来水"
    mean = site.from_candidates_mean_min
    reach = f"搬迁对象平均{mean:.0f}分钟可达" if np.isfinite(mean) else "搬迁对象无法到达"
    return (
        f"平均坡度{site.slope_mean_deg:.1f}°，适建{site.area_ha:.1f}公顷，约可安置"
        f"{site.capacity_households}户；距硬化路{site.hardened_road_m:.0f}米，到乡镇卫生院"
        f"{site.health_centre_min:.0f}分钟、学校{site.school_min:.0f}分钟，{water}；{reach}"
    )


def assign_sites(
    households: pd.DataFrame, groups: pd.DataFrame, sites: pd.DataFrame, matrices: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each relocating group goes to the site of its township its households reach soonest
    on average; households get their own minutes to it, sites the assigned totals.

    ``matrices``: township → (row positions of its candidates in ``households``, minutes
    candidates × ranked sites)."""
    households = households.assign(site_key=None, site_minutes=np.nan)
    groups = groups.assign(site_key=None, site_minutes=np.nan)
    group_column = households.columns.get_loc("group_key")
    for code, (rows, minutes) in matrices.items():
        keys = sites.loc[sites.township_code == code].sort_values("rank").site_key.to_numpy()
        if minutes.shape[1] == 0:
            continue
        group_of = households.iloc[rows, group_column].to_numpy()
        for key in pd.unique(group_of):
            mine = group_of == key
            block = np.where(np.isfinite(minutes[mine]), minutes[mine], np.nan)
            reachable = ~np.isnan(block).all(axis=0)
            if not reachable.any():
                continue
            mean = np.where(reachable, np.nansum(block, axis=0) / np.maximum(
                (~np.isnan(block)).sum(axis=0), 1), np.inf)  # fmt: skip
            best = int(np.argmin(mean))
            index = households.index[rows[mine]]
            households.loc[index, "site_key"] = keys[best]
            households.loc[index, "site_minutes"] = block[:, best]
            in_group = groups.group_key == key
            groups.loc[in_group, "site_key"] = keys[best]
            groups.loc[in_group, "site_minutes"] = float(mean[best])
    assigned = households[households.site_key.notna()].groupby("site_key")
    sites = sites.copy()
    sites["assigned_households"] = sites.site_key.map(assigned.size()).fillna(0).astype(int)
    sites["assigned_people"] = sites.site_key.map(assigned.members.sum()).fillna(0).astype(int)
    sites["within_capacity"] = sites.assigned_households <= sites.capacity_households
    return households, groups, sites


def empty_sites() -> gpd.GeoDataFrame:
    """No site (no township with candidates, or no suitable land): the same columns."""
    columns = [*SITE_COLUMNS, "site_lon", "site_lat", "synthetic"]
    frame = pd.DataFrame({c: [] for c in columns})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _metric(frame: gpd.GeoDataFrame | None, crs) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.empty(0, dtype=object)
    return frame.geometry.to_crs(crs).to_numpy()


def _major_rivers(rivers: gpd.GeoDataFrame | None, policy):
    if rivers is None or len(rivers) == 0 or "order" not in rivers.columns:
        return rivers
    return rivers[rivers["order"].fillna(0) >= policy.site_river_min_order]


def _points_xy(frame: gpd.GeoDataFrame, crs) -> np.ndarray:
    if len(frame) == 0:
        return np.empty((0, 2))
    points = frame.geometry.to_crs(crs).to_numpy()
    points = np.where(shapely.get_type_id(points) == 0, points, shapely.centroid(points))
    return shapely.get_coordinates(points)


def _multipolygon(geom) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"])
