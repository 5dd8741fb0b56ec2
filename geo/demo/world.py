"""The geographic half of the Lianzhou demo world: ``build_geography(county, seed, work_dir)``.

Everything is synthetic (``synthetic=True`` on every layer) except the county boundary and
the codes and names of the 12 townships and 174 villages and communities (统计用区划代码
2023, geo.divisions; their polygons are synthetic), and deterministic: one
``numpy.random.SeedSequence(seed)`` spawns a generator per stage, outputs are sorted, and the
DEM GeoTIFF carries fixed metadata, so the same seed gives byte-identical data.

Stages: terrain (DEM, drainage) → reservoirs → hazard and karst zones → townships and
villages → hamlets → roads → rivers → clinics, schools, water → village attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.demo import admin, facilities, hazards, network, settlements, terrain
from geo.paths import GUANGDONG_COUNTIES

CRS = "EPSG:4326"
STAGES = ("terrain", "reservoirs", "hazards", "villages", "hamlets", "roads", "facilities")
DEM_NAME = "lianzhou_dem.tif"


@dataclass
class Geography:
    """All geographic layers of the demo world (GeoDataFrames in EPSG:4326) and the DEM.

    Columns follow the agreed data model; extra analysis columns: ``villages.centre``
    (village-committee point), ``hamlets.lacking_conditions``/``lacking_reason``/
    ``elevation_m``/``slope_deg``.
    """

    townships: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    rivers: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    clinics: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    hazard_zones: gpd.GeoDataFrame
    karst_zones: gpd.GeoDataFrame
    dem_path: Path
    dem_epsg: int = 4326
    dem_resolution_m: float = 30.0


def load_county(code: str, path: Path = GUANGDONG_COUNTIES) -> shapely.Geometry:
    """The boundary (WGS84 geometry) of county ``code`` from the shipped boundaries file."""
    counties = gpd.read_file(path)
    match = counties[counties["code"].astype(str) == str(code)]
    if match.empty:
        raise KeyError(f"county {code} not found in {path}")
    return shapely.make_valid(match.geometry.iloc[0])


def build_geography(county: shapely.Geometry, seed: int, work_dir: Path) -> Geography:
    """Generate the synthetic geography inside ``county`` (WGS84); the DEM goes to work_dir."""
    rngs = dict(
        zip(
            STAGES,
            (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STAGES))),
            strict=True,
        )
    )
    world = terrain.build_terrain(county, admin.seats(), rngs["terrain"])
    reservoirs = facilities.build_reservoirs(world, rngs["reservoirs"])
    terrain.fill_lakes(world, [(lake, level) for _, lake, level in reservoirs])
    dem_path = terrain.write_dem(world.dem, world.fine, Path(work_dir) / DEM_NAME)

    hazard_zones = hazards.build_hazards(world, county, rngs["hazards"])
    karst_zones = hazards.build_karst_zones(world, county)
    townships = admin.build_townships(world, county)
    villages = admin.build_villages(world, townships, rngs["villages"])
    hamlets = settlements.build_hamlets(world, villages, hazard_zones, rngs["hamlets"])
    plan = network.build_roads(world, county, townships, villages, hamlets, rngs["roads"])
    hamlets["road_hardened"] = hamlets["id"].map(plan.hamlet_hardened).astype(bool)
    rivers = network.build_rivers(world, county, townships)

    rng = rngs["facilities"]
    clinics = facilities.build_clinics(townships, villages, rng)
    schools = facilities.build_schools(townships, villages, world, rng)
    water, piped = facilities.build_water(world, townships, villages, hamlets, reservoirs, rng)
    hamlets["piped_water"] = hamlets["id"].map(piped).astype(bool)
    _village_attributes(villages, hamlets, clinics)

    return Geography(
        townships=townships,
        villages=_village_columns(villages),
        hamlets=hamlets,
        rivers=rivers,
        roads=plan.roads,
        clinics=clinics,
        water=water,
        schools=schools,
        hazard_zones=hazard_zones,
        karst_zones=karst_zones,
        dem_path=dem_path,
        dem_resolution_m=round(float(np.mean(world.fine.cell_m)), 1),
    )


def _village_attributes(villages, hamlets, clinics) -> None:
    """Population, piped water (most people piped) and standard clinic, from the layers."""
    people = hamlets.groupby("village_code").population.sum()
    piped = hamlets[hamlets.piped_water].groupby("village_code").population.sum()
    standard = set(clinics.loc[clinics.standard & clinics.village_code.notna(), "village_code"])
    villages["population"] = villages.code.map(people).fillna(0).astype(int)
    share = villages.code.map(piped).fillna(0) / villages.population.clip(lower=1)
    villages["piped_water"] = (share >= 0.5).to_numpy()
    villages["has_standard_clinic"] = villages.code.isin(standard)
    villages["synthetic"] = True


def _village_columns(villages) -> gpd.GeoDataFrame:
    columns = [
        "code",
        "township_code",
        "name",
        "official_name",
        "committee",
        "geom",
        "is_poor_village",
        "key_level",
        "helping_unit",
        "first_secretary",
        "has_standard_clinic",
        "piped_water",
        "population",
        "synthetic",
        "centre",
    ]
    return villages[columns]
