"""The synthetic world of any Guangdong county, built the way the Lianzhou demo is.

``build_county_tables(code, seed, work_dir)`` returns table → frame for one county-level
unit: terrain on a coarser DEM (``PROVINCE_DEM_RES_DEG``; the 30 m Lianzhou DEM over 122
counties would be far too slow and big), reservoirs, hazard and karst zones, the county's
*official* townships (``geo.divisions``) with generated seats, its official villages tiling
each township by the same least-cost allocation as Lianzhou, then hamlets, roads, rivers,
clinics, schools, water and households by the Lianzhou generators.

Deterministic: every stage draws from ``SeedSequence([seed, county code])``, so a county's
world is the same whatever other counties are built, in whatever order or process.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from geo import divisions
from geo.demo import admin, facilities, hazards, network, settlements, terrain
from geo.demo.grid import allocate, polygonize, rasterize_mask
from geo.demo.people import generate_people
from geo.demo.world import STAGES, _village_attributes, _village_columns, load_county

CRS = "EPSG:4326"
PROVINCE_DEM_RES_DEG = 0.0015  # about 150 m cells; the coarse analysis grid is about 450 m
COUNTY_STAGES = (*STAGES, "seats", "people")
HOUSEHOLDS_PER_VILLAGE = 30
KEY_VILLAGE_SHARE = 0.1
CELLS_PER_VILLAGE = 6  # a village needs a few coarse cells to have a polygon and hamlets


def county_rngs(seed: int, code: str) -> dict[str, np.random.Generator]:
    """One generator per stage, keyed by the seed and the county code only."""
    streams = np.random.SeedSequence([int(seed), int(code)]).spawn(len(COUNTY_STAGES))
    return {
        stage: np.random.default_rng(s) for stage, s in zip(COUNTY_STAGES, streams, strict=True)
    }


def build_county_tables(
    code: str,
    seed: int,
    work_dir: Path,
    n_households: int | None = None,
    res_deg: float = PROVINCE_DEM_RES_DEG,
) -> dict[str, pd.DataFrame]:
    """The synthetic world of county ``code`` as database table → frame (ids from 1)."""
    from layers.demo import DemInfo  # the raster registry row (reads the GeoTIFF only)

    county = load_county(code)
    official = divisions.county_divisions(code)
    if not official.townships:
        raise ValueError(f"county {code} has no townships in {divisions.EDITION}")
    rngs = county_rngs(seed, code)
    _, coarse = terrain.grids_for(county, res_deg)
    seats = _seats(county, coarse, len(official.townships), rngs["seats"])
    world = terrain.build_terrain(county, seats, rngs["terrain"], res_deg)
    reservoirs = facilities.build_reservoirs(world, rngs["reservoirs"])
    terrain.fill_lakes(world, [(lake, level) for _, lake, level in reservoirs])
    dem_path = terrain.write_dem(world.dem, world.fine, Path(work_dir) / f"dem_{code}.tif")

    hazard_zones = hazards.build_hazards(world, county, rngs["hazards"])
    karst_zones = hazards.build_karst_zones(world, county)
    townships = build_townships(world, county, code, official.townships, seats)
    villages = build_villages(world, townships, official.villages, rngs["villages"])
    hamlets = settlements.build_hamlets(world, villages, hazard_zones, rngs["hamlets"])
    plan = network.build_roads(
        world, county, townships, villages, hamlets, rngs["roads"], trunk_roads(townships)
    )
    hamlets["road_hardened"] = hamlets["id"].map(plan.hamlet_hardened).astype(bool)
    rivers = network.build_rivers(world, county, townships, trunk_name=None)
    rng = rngs["facilities"]
    clinics = facilities.build_clinics(townships, villages, rng)
    schools = facilities.build_schools(townships, villages, world, rng)
    water, piped = facilities.build_water(world, townships, villages, hamlets, reservoirs, rng)
    hamlets["piped_water"] = hamlets["id"].map(piped).astype(bool)
    _village_attributes(villages, hamlets, clinics)

    households = n_households or HOUSEHOLDS_PER_VILLAGE * len(villages)
    people_seed = int(rngs["people"].integers(2**31))
    people = generate_people(
        townships, villages, hamlets, people_seed, households, region=int(code)
    )
    village_frame = _village_columns(villages)
    updates = people.village_updates
    if not updates.empty:
        village_frame = village_frame.drop(
            columns=[c for c in updates.columns if c != "code"], errors="ignore"
        ).merge(updates, on="code", how="left")
    return {
        "township": townships,
        "village": village_frame,
        "hamlet": hamlets,
        **people.tables(),
        "river": rivers,
        "road": plan.roads,
        "clinic": clinics,
        "water": water,
        "school": schools,
        "hazard_zone": hazard_zones,
        "karst_zone": karst_zones,
        "raster": DemInfo(f"province-dem-{code}", dem_path).row(),
    }


def trunk_roads(townships: gpd.GeoDataFrame) -> tuple:
    """Provincial roads from the first township's seat (the county seat) to the three
    nearest other seats; the rest are joined by the generator's seat connections."""
    first = townships.iloc[0]
    others = townships.iloc[1:]
    distance = shapely.distance(np.asarray(others.seat.array), first.seat)  # ranking only
    nearest = others.assign(_d=distance).sort_values("_d", kind="stable").head(3)
    return tuple(
        (f"S{901 + i}", "provincial", (first["name"], name))
        for i, name in enumerate(nearest["name"])
    )


def _seats(county, coarse, n: int, rng) -> list[tuple[float, float]]:
    """``n`` township seats spread well apart inside the county (before the terrain exists,
    which then makes a basin around each)."""
    inside = ndimage.binary_erosion(rasterize_mask(county, coarse), iterations=1)
    if inside.sum() < n:
        inside = rasterize_mask(county, coarse)
    rows, cols = np.nonzero(inside)
    if rows.size < n:
        raise ValueError(f"county too small for {n} townships on a {coarse.res}° grid")
    lon, lat = coarse.centres(rows, cols)
    dy, dx = coarse.cell_m
    x_m, y_m = lon / coarse.res * dx, lat / coarse.res * dy
    spacing = 0.6 * math.sqrt(rows.size * dx * dy / n)
    picked = settlements.spread_sample(rng, x_m, y_m, np.ones(rows.size), n, spacing)
    if len(picked) < n:  # relaxing the spacing still fell short: take any remaining cells
        rest = [i for i in rng.permutation(rows.size).tolist() if i not in set(picked)]
        picked = [*picked, *rest[: n - len(picked)]]
    return [(float(lon[i]), float(lat[i])) for i in picked[:n]]


def build_townships(world, county, code: str, official, seats) -> gpd.GeoDataFrame:
    """The official townships, tiling the county by least-cost allocation around the seats."""
    grid = world.coarse
    mask = ndimage.binary_dilation(world.county_mask, None, 4)
    cost = np.where(mask, admin.boundary_cost(world), np.inf)
    labels = allocate(cost, grid, [tuple(int(v) for v in grid.rowcol(*s)) for s in seats])
    geoms = admin._clip_coverage(polygonize(labels, grid), len(seats), county, 1.5 * grid.res)
    return gpd.GeoDataFrame(
        {
            "code": [t.code for t in official],
            "county_code": code,
            "name": [t.short_name for t in official],
            "seat": gpd.GeoSeries([shapely.Point(s) for s in seats], crs=CRS),
            "geom": geoms,
            "synthetic": True,
        },
        geometry="geom",
        crs=CRS,
    )


def build_villages(world, townships, official_villages, rng) -> gpd.GeoDataFrame:
    """Each township's official villages (村委会 first; as many as its area holds) tiling it."""
    cost = admin.boundary_cost(world)
    weight = settlements.valley_weight(world)
    cell_km2 = float(world.coarse.cell_area_km2)
    frames = []
    for township in townships.itertuples():
        codes = _village_choice(township, official_villages, cell_km2)
        seat = (township.seat.x, township.seat.y)
        centres, codes = _placed_centres(world, weight, township, seat, codes, rng)
        geoms = admin._village_polygons(world.coarse, cost, township.geom, centres)
        town = np.array([v.committee == admin.COMMUNITY for v in codes])
        town[0] |= not town.any()  # the seat village
        eligible = ~town
        n_key = min(round(KEY_VILLAGE_SHARE * len(codes)), int(eligible.sum()))
        spec = admin.TownshipSpec(township.code, seat, n_key)
        key = admin._key_villages(world, geoms, centres, spec, eligible, rng)
        frames.append(admin.village_frame(township.code, codes, town, key, centres, geoms))
    villages = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geom", crs=CRS)
    villages = villages[~villages.geometry.is_empty].reset_index(drop=True)
    admin._assign_helpers(villages, rng)
    return villages


def _placed_centres(world, weight, township, seat, codes, rng) -> tuple[list, list]:
    """Village centres for ``codes``; where the township cannot hold them all, the last
    villages (highest codes) are left out until it can."""
    while True:
        spec = admin.TownshipSpec(township.code, seat, 0)
        community = np.array([v.committee == admin.COMMUNITY for v in codes])
        try:
            return admin._village_centres(world, weight, township.geom, spec, community, rng), codes
        except ValueError:
            if len(codes) == 1:
                raise
            codes = codes[: len(codes) - max(1, len(codes) // 10)]


def _village_choice(township, official_villages, cell_km2: float) -> list:
    """The township's official villages, rural committees first, capped by its area."""
    own = [v for v in official_villages if v.code.startswith(township.code)]
    own.sort(key=lambda v: (v.committee != "村委会", v.code))
    cap = max(1, int(admin.approx_km2(township.geom) / (CELLS_PER_VILLAGE * cell_km2)))
    chosen = own[:cap] or [_placeholder_village(township.code)]
    return sorted(chosen, key=lambda v: v.code)


def _placeholder_village(township_code: str) -> divisions.Division:
    """A township without villages in the code table still needs one (synthetic) village."""
    return divisions.Division(f"{township_code}201", "示例村", "村委会")
