"""Relocation candidates (搬迁对象): homes in places lacking basic living conditions, explained,
grouped into whole-hamlet or scattered relocations, and given ranked resettlement sites.

Seeds 001 and 002 §12: households and natural villages "不具备生产生活条件" are moved — whole
hamlets (整体搬迁) or scattered households (插花搬迁); seed 001 names the limestone areas.
``assess_relocation(inputs, profile)`` takes plain GeoDataFrames (:class:`RelocationInputs`)
and the policy profile's ``[relocation]`` section (:class:`RelocationPolicy`). No database.

**Criteria** (each threshold can be switched off with ``false`` in the profile):

============ =========================================================== ==============
code         met when                                                    default
============ =========================================================== ==============
hazard       inside (or within ``hazard_buffer_m`` of) a geological-       hard
             hazard zone (滑坡崩塌, 泥石流) of the listed levels
flood        inside a flood zone (洪涝) of the listed levels               soft, 1
slope        slope ≥ 25° (cell of the home, or mean within a radius)      soft, 2
elevation    elevation ≥ ``elevation_m``                                  soft, 1
relief       relief within ``relief_radius_m`` ≥ ``relief_m`` (深山区)      off
karst_water  inside a limestone (石灰岩) zone and no piped water          soft, 1
road         nearest hardened road farther than ``road_m``                soft, 2
clinic       more than ``clinic_minutes`` to the nearest clinic (or none)  soft, 2
water        no piped water (hamlet not piped, home outside supply areas) soft, 1
============ =========================================================== ==============

A **hard** criterion (``hard``, default the geological hazard) makes a candidate by itself;
the others add their weight to a **score**, and a score ≥ ``min_score`` makes a candidate.
Every household gets the criteria it meets with the values (``reasons``) and a Chinese
``reason_text``. Road and clinic values come from the coverage model (``geo.coverage``:
walk + roads + walk over the routable network); terrain from the DEM (``geo.terrain``).

**Places and groups.** Each 自然村 (hamlet) is assessed as a place too — terrain at its
point, the median access of its households, its recorded road and water — by the same
criteria. Households are grouped per hamlet; households without a hamlet are grouped by
DBSCAN (``cluster_eps_m``, ``cluster_min_households``), the rest stay single. A group is a
**whole-hamlet relocation** when the place itself is a candidate, or when more than
``whole_hamlet_share`` of its (at least ``whole_hamlet_min_households``) households are;
then all its households are candidates. Otherwise its candidate households are **scattered
relocations**. Households already relocated (housing_status ``relocated``) are never
candidates. Outlines (concave hull of the relocating homes, buffered) are drawn per group.

**Resettlement sites** (``geo.resettlement``) per township with candidates: gentle land
clear of hazards, near a hardened road, within reach of the 乡镇卫生院 and a school, ranked
by minutes (travel from the candidates + services); each relocating group is given the site
its households reach soonest.

Weights and thresholds are defaults of ours (no seed gives numbers), tuned on the demo:
see ``[relocation]`` in ``geo/policy/default.toml``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo import vocab
from geo.access import Walker
from geo.coverage import CoverageInputs
from geo.coverage import assess as assess_coverage
from geo.network import build_network, metric_crs
from geo.policy import PolicyError, Profile, cite
from geo.resettlement import SiteLayers, assign_sites, empty_sites, township_sites
from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported
from geo.terrain import NO_DATA, sample_terrain

# criterion code -> Chinese label (order = order of reasons)
CRITERIA: dict[str, str] = {
    "hazard": "地质灾害隐患区",
    "flood": "洪涝区",
    "slope": "陡坡",
    "elevation": "高海拔",
    "relief": "地形起伏大",
    "karst_water": "石灰岩地区缺水",
    "road": "远离硬化路",
    "clinic": "就医远",
    "water": "未通自来水",
}
RELOCATION_KINDS = {"whole": "整体搬迁", "scattered": "插花搬迁"}
GROUP_BASES = {"hamlet": "自然村", "cluster": "聚类", "single": "单户"}
LEVEL_ORDER = {"low": 1, "medium": 2, "high": 3}
TOLERANCE_M = 0.01  # a point on a zone's edge is inside it (projection rounding aside)


@dataclass(frozen=True)
class RelocationPolicy:
    """The ``[relocation]`` section of the policy profile (geo/policy/default.toml)."""

    hard: tuple[str, ...] = field(metadata=cite("default: geological hazards (seed 002 §12)"))
    min_score: float = field(metadata=cite("default: two strong signs, or one and two weak"))
    weights: dict[str, float] = field(metadata=cite("default: see default.toml"))
    slope_deg: float | None = field(metadata=cite("default: issue 8 (25°, steep land)"))
    slope_radius_m: float = field(metadata=cite("default: the home's own DEM cell"))
    elevation_m: float | None = field(metadata=cite("default: 800 m"))
    relief_m: float | None = field(metadata=cite("default: not assessed"))
    relief_radius_m: float = field(metadata=cite("default: 500 m"))
    hazard_kinds: tuple[str, ...] = field(metadata=cite("default: 滑坡崩塌, 泥石流"))
    hazard_levels: tuple[str, ...] = field(metadata=cite("default: every level"))
    hazard_buffer_m: float = field(metadata=cite("default: inside the zone only"))
    flood_levels: tuple[str, ...] = field(metadata=cite("default: every level"))
    road_m: float | None = field(metadata=cite("default: 1 km"))
    clinic_minutes: float | None = field(metadata=cite("default: as [clinic] max_minutes"))
    assess_hamlets: bool = field(metadata=cite("seeds 001, 002 §12 (不具备条件的自然村)"))
    hamlet_use_recorded_road: bool = field(metadata=cite("default: as [road]"))
    whole_hamlet_share: float = field(metadata=cite("issue 8: most households"))
    whole_hamlet_min_households: int = field(metadata=cite("default: 3"))
    cluster_eps_m: float = field(metadata=cite("default: DBSCAN radius"))
    cluster_min_households: int = field(metadata=cite("default: DBSCAN core size"))
    outline_buffer_m: float = field(metadata=cite("default: 30 m"))
    site_cell_m: float = field(metadata=cite("default: 100 m"))
    site_block_m: float = field(metadata=cite("default: 500 m"))
    site_max_slope_deg: float = field(metadata=cite("default: gentle slope"))
    site_hazard_buffer_m: float = field(metadata=cite("default: 100 m"))
    site_river_m: float = field(metadata=cite("default: 50 m"))
    site_river_min_order: int = field(metadata=cite("default: as [monitoring] river_min_order"))
    site_road_m: float = field(metadata=cite("default: 300 m"))
    site_health_centre_minutes: float = field(metadata=cite("default: 30 min"))
    site_school_minutes: float = field(metadata=cite("default: 30 min"))
    site_water_m: float = field(metadata=cite("default: 1 km"))
    site_no_water_minutes: float = field(metadata=cite("default: 15 min"))
    site_min_area_ha: float = field(metadata=cite("default: 2 ha"))
    site_usable_share: float = field(metadata=cite("default: 30 %"))
    site_plot_m2: float = field(metadata=cite("default: 150 m² (宅基地, 山区)"))
    sites_per_township: int = field(metadata=cite("default: 5"))
    site_shortlist: int = field(metadata=cite("default: 20"))
    site_min_separation_m: float = field(metadata=cite("default: 1 km"))

    def __post_init__(self) -> None:
        unknown = sorted((set(self.hard) | set(self.weights)) - set(CRITERIA))
        if unknown:
            raise PolicyError(
                f"[relocation]: unknown criteria {unknown}; known: {', '.join(CRITERIA)}"
            )
        bad = sorted(set(self.hazard_kinds) - set(vocab.HAZARD_KIND))
        bad += sorted((set(self.hazard_levels) | set(self.flood_levels)) - set(vocab.HAZARD_LEVEL))
        if bad:
            raise PolicyError(f"[relocation]: unknown hazard kinds/levels {bad}")
        if not 0 <= self.whole_hamlet_share < 1:
            raise PolicyError("[relocation] whole_hamlet_share: must be in [0, 1)")
        if not 0 < self.site_usable_share <= 1:
            raise PolicyError("[relocation] site_usable_share: must be in (0, 1]")
        for name in ("site_cell_m", "site_block_m", "site_plot_m2", "cluster_eps_m"):
            if getattr(self, name) <= 0:
                raise PolicyError(f"[relocation] {name}: must be positive")

    def weight(self, code: str) -> float:
        return float(self.weights.get(code, 0.0))

    def rows(self):
        """(key, value, source) of every value, for exports."""
        for f in fields(self):
            yield f.name, getattr(self, f.name), f.metadata.get("source", "")


def relocation_policy(profile: Profile) -> RelocationPolicy:
    """The ``[relocation]`` section of ``profile``."""
    return profile.section("relocation", RelocationPolicy)


@dataclass
class RelocationInputs:
    """The layers of one area (GeoDataFrames with a CRS; the data model's column names).

    households: id, village_code, hamlet_id, status, housing_status, members (optional)
    hamlets: id, village_code, name, population, road_hardened, piped_water
    villages: code, township_code, name, is_poor_village, has_standard_clinic
    townships: code, name (the areas sites are sought in)
    roads: road_class, surface; clinics: id, level, standard, village_code;
    schools: id, level; water: id, kind; hazard_zones: kind, level; karst_zones;
    rivers: order (optional); dem_path: the DEM GeoTIFF (None: no terrain criteria)
    """

    households: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    clinics: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    hazard_zones: gpd.GeoDataFrame
    karst_zones: gpd.GeoDataFrame
    rivers: gpd.GeoDataFrame | None = None
    dem_path: Path | None = None


@dataclass
class RelocationResult:
    """Per household (all assessed, ``candidate`` marks the list), per hamlet (the place
    assessment), relocating groups with outlines, and ranked sites — all EPSG:4326."""

    households: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def candidates(self) -> gpd.GeoDataFrame:
        return self.households[self.households.candidate]


# --- the whole analysis ---------------------------------------------------------------------


def assess_relocation(inputs: RelocationInputs, profile: Profile, *, crs=None) -> RelocationResult:
    """Assess every household of ``inputs`` against ``profile`` (see the module doc)."""
    policy = relocation_policy(profile)
    clock = _Clock()
    crs = crs or metric_crs(inputs.roads if len(inputs.roads) else inputs.households)
    access = assess_coverage(_coverage_inputs(inputs), profile, crs=crs, with_isochrones=False)
    clock.lap("access")

    homes = _assessed(inputs.households, profile)
    values = _household_values(homes, inputs, access.households, policy, crs)
    clock.lap("households")
    hamlet_values = _hamlet_values(inputs, values, access.hamlets, policy, crs)
    clock.lap("hamlets")

    households = evaluate(values, policy)
    hamlets = evaluate(hamlet_values, policy, place=True)
    if not policy.assess_hamlets:
        hamlets["eligible"] = False  # places are reported, not judged
    households, groups = group_households(households, hamlets, homes, policy, crs)
    clock.lap("groups")

    network = build_network(inputs.roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, inputs.dem_path, crs)
    sites, minutes = _sites(inputs, households, homes, profile, policy, network, walker, crs)
    households, groups, sites = assign_sites(households, groups, sites, minutes)
    clock.lap("sites")

    households = gpd.GeoDataFrame(households, geometry=homes.geometry.to_crs(4326).to_numpy())
    hamlets = gpd.GeoDataFrame(hamlets, geometry="geometry", crs=4326)
    return RelocationResult(
        households=households.set_crs(4326, allow_override=True),
        hamlets=hamlets,
        groups=groups,
        sites=sites,
        timings=clock.laps,
    )


def _coverage_inputs(inputs: RelocationInputs) -> CoverageInputs:
    households = inputs.households.copy()
    for column, default in (("cadre_id", None), ("scattered", True)):
        if column not in households.columns:
            households[column] = default
    return CoverageInputs(
        households=households,
        hamlets=inputs.hamlets,
        villages=inputs.villages,
        roads=inputs.roads,
        clinics=inputs.clinics,
        schools=inputs.schools,
        water=inputs.water,
        townships=None,
        dem_path=inputs.dem_path,
    )


def _assessed(households: gpd.GeoDataFrame, profile: Profile) -> gpd.GeoDataFrame:
    """The households coverage assesses too (same statuses), in the same order."""
    if "status" not in households.columns:
        return households.reset_index(drop=True)
    keep = households["status"].isin(profile.assess.statuses)
    return households[keep].reset_index(drop=True)


# --- values per household and hamlet ---------------------------------------------------------


def _household_values(homes, inputs, access: pd.DataFrame, policy, crs) -> pd.DataFrame:
    """One row per household: terrain, hazards, karst, access; in ``homes`` order."""
    access = access.set_index("household_id").reindex(homes["id"].to_numpy())
    village = homes["village_code"].astype(str)
    township_of = dict(zip(inputs.villages.code, inputs.villages.township_code, strict=True))
    frame = pd.DataFrame(
        {
            "household_id": homes["id"].to_numpy(),
            "township_code": village.map(township_of).fillna(village.str[:9]).to_numpy(),
            "village_code": village.to_numpy(),
            "hamlet_id": pd.array(homes["hamlet_id"], dtype="Int64"),
            "members": _members(homes),
            "relocated": (homes.get("housing_status") == "relocated").to_numpy(bool)
            if "housing_status" in homes.columns
            else np.zeros(len(homes), dtype=bool),
        }
    )
    frame = pd.concat([frame, _terrain(inputs.dem_path, homes.geometry, policy)], axis=1)
    frame = pd.concat([frame, zone_hits(homes.geometry, inputs.hazard_zones, policy, crs)], axis=1)
    frame["karst"] = in_zones(homes.geometry, inputs.karst_zones, crs)
    frame["piped_water"] = access["piped_water"].fillna(False).to_numpy(bool)
    frame["hardened_road_m"] = access["hardened_road_m"].to_numpy(float)
    frame["clinic_min"] = access["clinic_min"].to_numpy(float)
    frame["clinic_unreachable"] = [
        (u or {}).get("clinic") if isinstance(u, dict) else None for u in access["unreachable"]
    ]
    frame["health_centre_min"] = access["health_centre_min"].to_numpy(float)
    frame["school_min"] = access["school_min"].to_numpy(float)
    if "synthetic" in homes.columns:
        frame["synthetic"] = homes["synthetic"].fillna(False).to_numpy(bool)
    return frame


def _members(homes: pd.DataFrame) -> np.ndarray:
    if "members" not in homes.columns:
        return np.ones(len(homes), dtype=int)
    return homes["members"].fillna(1).astype(int).to_numpy()


def _terrain(dem_path, geoms: gpd.GeoSeries, policy: RelocationPolicy) -> pd.DataFrame:
    """Terrain columns; without a DEM every value is missing ("no terrain data")."""
    if dem_path is None or not Path(dem_path).exists():
        n = len(geoms)
        nan = np.full(n, np.nan)
        return pd.DataFrame(
            {"elevation_m": nan, "slope_deg": nan, "slope_mean_deg": nan, "relief_m": nan,
             "terrain_note": np.full(n, NO_DATA, dtype=object)}
        )  # fmt: skip
    sampled = sample_terrain(
        dem_path,
        geoms.reset_index(drop=True),
        slope_radius_m=policy.slope_radius_m,
        relief_radius_m=policy.relief_radius_m,
    )
    return sampled.reset_index(drop=True)


def zone_hits(
    geoms: gpd.GeoSeries, zones: gpd.GeoDataFrame, policy: RelocationPolicy, crs
) -> pd.DataFrame:
    """Per point: the worst geological-hazard zone it lies in (or within the buffer) and the
    worst flood zone, as kind/level columns (None where none). A point on a zone's edge is
    inside it."""
    n = len(geoms)
    out = pd.DataFrame(
        {
            "hazard_kind": np.full(n, None, dtype=object),
            "hazard_level": np.full(n, None, dtype=object),
            "hazard_m": np.full(n, np.nan),
            "flood_level": np.full(n, None, dtype=object),
        }
    )
    if n == 0 or zones is None or len(zones) == 0:
        return out
    points = _metric(geoms, crs)
    shapes = _metric(zones.geometry, crs)
    geological = (
        zones["kind"].isin(policy.hazard_kinds).to_numpy()
        & zones["level"].isin(policy.hazard_levels).to_numpy()
    )
    flood = (zones["kind"] == "flood").to_numpy() & zones["level"].isin(policy.flood_levels)
    rank = zones["level"].map(LEVEL_ORDER).fillna(0).to_numpy()
    reach = max(policy.hazard_buffer_m, TOLERANCE_M)
    for mask, buffer in ((geological, reach), (np.asarray(flood), TOLERANCE_M)):
        if not mask.any():
            continue
        tree = shapely.STRtree(shapes[mask])
        p, z = tree.query(points, predicate="dwithin", distance=buffer)
        if len(p) == 0:
            continue
        z = np.flatnonzero(mask)[z]
        order = np.lexsort((-rank[z], p))  # per point: the highest level first
        p, z = p[order], z[order]
        first = np.unique(p, return_index=True)[1]
        p, z = p[first], z[first]
        if mask is geological:
            out.loc[p, "hazard_kind"] = zones["kind"].to_numpy()[z]
            out.loc[p, "hazard_level"] = zones["level"].to_numpy()[z]
            out.loc[p, "hazard_m"] = shapely.distance(points[p], shapes[z])
        else:
            out.loc[p, "flood_level"] = zones["level"].to_numpy()[z]
    return out


def in_zones(geoms: gpd.GeoSeries, zones: gpd.GeoDataFrame | None, crs) -> np.ndarray:
    """Whether each point lies in (or on the edge of) any of ``zones``."""
    result = np.zeros(len(geoms), dtype=bool)
    if zones is None or len(zones) == 0 or len(geoms) == 0:
        return result
    tree = shapely.STRtree(_metric(zones.geometry, crs))
    p, _ = tree.query(_metric(geoms, crs), predicate="dwithin", distance=TOLERANCE_M)
    result[np.unique(p)] = True
    return result


def _metric(geoms: gpd.GeoSeries, crs) -> np.ndarray:
    return geoms.to_crs(crs).to_numpy()


def _hamlet_values(inputs, values: pd.DataFrame, coverage_hamlets, policy, crs):
    """One row per hamlet: terrain and zones at its point, the median access of its
    households, its recorded road and water."""
    hamlets = inputs.hamlets.reset_index(drop=True)
    township_of = dict(zip(inputs.villages.code, inputs.villages.township_code, strict=True))
    frame = pd.DataFrame(
        {
            "hamlet_id": hamlets["id"].to_numpy(),
            "township_code": hamlets.village_code.map(township_of).to_numpy(),
            "village_code": hamlets.village_code.to_numpy(),
            "name": hamlets["name"].to_numpy(),
            "population": hamlets["population"].to_numpy(),
            "road_hardened": hamlets["road_hardened"].astype("boolean").to_numpy(),
        }
    )
    frame = pd.concat([frame, _terrain(inputs.dem_path, hamlets.geometry, policy)], axis=1)
    zones = zone_hits(hamlets.geometry, inputs.hazard_zones, policy, crs)
    members = values.dropna(subset=["hamlet_id"]).groupby("hamlet_id")
    share_hazard = frame.hamlet_id.map(members.hazard_kind.apply(lambda s: s.notna().mean()))
    share_flood = frame.hamlet_id.map(members.flood_level.apply(lambda s: s.notna().mean()))
    worst_kind = frame.hamlet_id.map(members.hazard_kind.agg(_first_value))
    worst_level = frame.hamlet_id.map(members.hazard_level.agg(_highest_level))
    flood_level = frame.hamlet_id.map(members.flood_level.agg(_highest_level))
    most = share_hazard.fillna(0).to_numpy() > 0.5
    frame["hazard_kind"] = np.where(zones.hazard_kind.notna(), zones.hazard_kind,
                                    np.where(most, worst_kind, None))  # fmt: skip
    frame["hazard_level"] = np.where(zones.hazard_kind.notna(), zones.hazard_level,
                                     np.where(most, worst_level, None))  # fmt: skip
    frame["hazard_m"] = zones.hazard_m.to_numpy()
    frame["hazard_share"] = share_hazard.fillna(0).to_numpy()
    flooded = zones.flood_level.notna() | (share_flood.fillna(0) > 0.5)
    frame["flood_level"] = np.where(
        zones.flood_level.notna(), zones.flood_level, np.where(flooded, flood_level, None)
    )
    frame["karst"] = in_zones(hamlets.geometry, inputs.karst_zones, crs)
    frame["piped_water"] = hamlets["piped_water"].fillna(False).to_numpy(bool)
    road = coverage_hamlets.set_index("hamlet_id").hardened_road_m.reindex(frame.hamlet_id)
    frame["hardened_road_m"] = road.to_numpy(float)
    if policy.hamlet_use_recorded_road:
        recorded = (frame.road_hardened == False).fillna(False).to_numpy(bool)  # noqa: E712
        frame["road_recorded_unhardened"] = recorded
    else:
        frame["road_recorded_unhardened"] = False
    frame["clinic_min"] = frame.hamlet_id.map(members.clinic_min.median()).to_numpy(float)
    frame["clinic_unreachable"] = None
    frame["households"] = frame.hamlet_id.map(members.size()).fillna(0).astype(int).to_numpy()
    frame["relocated"] = False
    frame["geometry"] = hamlets.geometry.to_crs(4326).to_numpy()
    return frame


def _first_value(series: pd.Series):
    values = series.dropna()
    return values.iloc[0] if len(values) else None


def _highest_level(series: pd.Series):
    values = series.dropna()
    if values.empty:
        return None
    return max(values, key=lambda v: LEVEL_ORDER.get(v, 0))


# --- criteria --------------------------------------------------------------------------------


def evaluate(values: pd.DataFrame, policy: RelocationPolicy, *, place: bool = False):
    """``values`` with ``criteria`` (codes met), ``reasons`` ({code: value, limit, unit,
    weight}), ``hard``, ``score``, ``eligible`` (hard or score ≥ min_score, not relocated)
    and ``reason_text``. ``place``: a hamlet (the road criterion also counts a recorded
    unhardened road)."""
    frame = values.copy()
    n = len(frame)
    met = {code: np.zeros(n, dtype=bool) for code in CRITERIA}
    reasons: list[dict[str, Any]] = [{} for _ in range(n)]
    texts: list[list[str]] = [[] for _ in range(n)]

    def record(code: str, hit: np.ndarray, make) -> None:
        met[code] = np.asarray(hit, dtype=bool)
        for i in np.flatnonzero(met[code]):
            reason, text = make(i)
            reasons[i][code] = {**reason, "weight": policy.weight(code)}
            texts[i].append(text)

    _hazard_criteria(frame, policy, record)
    _terrain_criteria(frame, policy, record)
    _access_criteria(frame, policy, record, place)

    hard = np.zeros(n, dtype=bool)
    for code in policy.hard:
        hard |= met[code]
    score = np.zeros(n)
    for code in CRITERIA:
        if code not in policy.hard:
            score += met[code] * policy.weight(code)
    relocated = frame["relocated"].to_numpy(bool)
    frame["criteria"] = [[c for c in CRITERIA if c in r] for r in reasons]
    frame["reasons"] = reasons
    frame["hard"] = hard
    frame["score"] = score
    frame["eligible"] = (hard | (score >= policy.min_score - 1e-9)) & ~relocated
    frame["reason_text"] = [
        _summary(t, s, h, policy, note, moved)
        for t, s, h, note, moved in zip(
            texts, score, hard, frame["terrain_note"], relocated, strict=True
        )
    ]
    return frame


def _hazard_criteria(frame: pd.DataFrame, policy: RelocationPolicy, record) -> None:
    kind, level = frame["hazard_kind"].to_numpy(), frame["hazard_level"].to_numpy()
    distance = frame["hazard_m"].to_numpy(float)

    def hazard(i):
        label = vocab.HAZARD_KIND.get(kind[i], kind[i])
        level_label = vocab.HAZARD_LEVEL.get(level[i], level[i])
        inside = not np.isfinite(distance[i]) or distance[i] <= TOLERANCE_M
        where = "位于" if inside else f"距{distance[i]:.0f}米内有"
        reason = {"value": kind[i], "level": level[i], "distance_m": _num(distance[i])}
        return reason, f"{where}{label}区({level_label}风险)"

    record("hazard", pd.notna(kind), hazard)
    flood = frame["flood_level"].to_numpy()

    def flooded(i):
        level_label = vocab.HAZARD_LEVEL.get(flood[i], flood[i])
        return {"value": "flood", "level": flood[i]}, f"位于洪涝区({level_label}风险)"

    record("flood", pd.notna(flood), flooded)


def _terrain_criteria(frame: pd.DataFrame, policy: RelocationPolicy, record) -> None:
    radius = policy.slope_radius_m
    slope = frame["slope_mean_deg" if radius > 0 else "slope_deg"].to_numpy(float)
    within = f"{radius:.0f}米内平均" if radius > 0 else ""
    limit = policy.slope_deg
    record(
        "slope",
        _at_least(slope, limit),
        lambda i: (
            {"value": round(float(slope[i]), 1), "limit": limit, "unit": "deg",
             "radius_m": radius or None},
            f"{within}坡度{slope[i]:.0f}°(≥{limit:g}°)",
        ),
    )  # fmt: skip
    elevation = frame["elevation_m"].to_numpy(float)
    limit_e = policy.elevation_m
    record(
        "elevation",
        _at_least(elevation, limit_e),
        lambda i: (
            {"value": round(float(elevation[i]), 1), "limit": limit_e, "unit": "m"},
            f"海拔{elevation[i]:.0f}米(≥{limit_e:g}米)",
        ),
    )
    relief = frame["relief_m"].to_numpy(float)
    limit_r, r = policy.relief_m, policy.relief_radius_m
    record(
        "relief",
        _at_least(relief, limit_r),
        lambda i: (
            {"value": round(float(relief[i]), 1), "limit": limit_r, "unit": "m", "radius_m": r},
            f"{r:.0f}米内高差{relief[i]:.0f}米(≥{limit_r:g}米)",
        ),
    )


def _access_criteria(frame: pd.DataFrame, policy: RelocationPolicy, record, place) -> None:
    piped = frame["piped_water"].to_numpy(bool)
    karst = frame["karst"].to_numpy(bool)
    record(
        "karst_water",
        karst & ~piped,
        lambda i: ({"value": True}, "石灰岩地区且未通自来水"),
    )
    road = frame["hardened_road_m"].to_numpy(float)
    recorded = (
        frame["road_recorded_unhardened"].to_numpy(bool)
        if place and "road_recorded_unhardened" in frame
        else np.zeros(len(frame), dtype=bool)
    )
    limit = policy.road_m
    far = _beyond(road, limit) | (recorded & (limit is not None))

    def road_reason(i):
        if recorded[i] and not _beyond(road[i : i + 1], limit)[0]:
            return {"value": _num(road[i]), "limit": limit, "unit": "m", "recorded": True}, (
                "自然村未通硬化路(登记)"
            )
        if not np.isfinite(road[i]):
            return {"value": None, "limit": limit, "unit": "m"}, "附近无硬化路"
        return (
            {"value": round(float(road[i]), 1), "limit": limit, "unit": "m"},
            f"距硬化路{road[i] / 1000:.1f}公里(>{limit / 1000:g}公里)",
        )

    record("road", far, road_reason)
    minutes = frame["clinic_min"].to_numpy(float)
    unreachable = frame["clinic_unreachable"].to_numpy()
    limit_c = policy.clinic_minutes

    def clinic_reason(i):
        if not np.isfinite(minutes[i]):
            why = unreachable[i] or "no_path"
            return {"value": None, "limit": limit_c, "unit": "min", "unreachable": why}, (
                "无法到达卫生机构"
            )
        return (
            {"value": round(float(minutes[i]), 1), "limit": limit_c, "unit": "min"},
            f"到最近卫生机构{minutes[i]:.0f}分钟(>{limit_c:g})",
        )

    record("clinic", _beyond(minutes, limit_c), clinic_reason)
    record("water", ~piped, lambda i: ({"value": False}, "未通自来水"))


def _at_least(values: np.ndarray, limit: float | None) -> np.ndarray:
    """Met at or above the limit; missing values (no terrain data) are not assessed."""
    if limit is None:
        return np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(values, nan=-np.inf) >= limit - 1e-9


def _beyond(values: np.ndarray, limit: float | None) -> np.ndarray:
    """Met above the limit; missing (no road, unreachable) counts as beyond it."""
    if limit is None:
        return np.zeros(len(values), dtype=bool)
    return np.nan_to_num(values, nan=np.inf) > limit + 1e-9


def _num(value) -> float | None:
    return round(float(value), 1) if value is not None and np.isfinite(value) else None


def _summary(texts, score, hard, policy, note, relocated) -> str | None:
    parts = list(texts)
    if relocated:
        parts.append("已搬迁")
    if note == NO_DATA:
        parts.append("无地形数据(no terrain data)")
    if not parts:
        return None
    if not hard and texts:
        parts.append(
            f"得分{score:g}({'≥' if score >= policy.min_score else '<'}{policy.min_score:g})"
        )
    return "；".join(parts)


# --- groups ---------------------------------------------------------------------------------


def dbscan(xy: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN cluster labels (−1: noise) of metric points, with a k-d tree.

    A core point has at least ``min_samples`` points (itself included) within ``eps``;
    clusters are the connected core points plus the border points within ``eps`` of one
    (given to their nearest core point). Labels are numbered by first member.

    >>> dbscan(np.array([[0, 0], [10, 0], [20, 0], [500, 0]]), 15, 2).tolist()
    [0, 0, 0, -1]
    """
    n = len(xy)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    tree = cKDTree(xy)
    pairs = tree.query_pairs(eps, output_type="ndarray")
    counts = np.bincount(pairs.ravel(), minlength=n) + 1 if len(pairs) else np.ones(n, int)
    core = counts >= min_samples
    both = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]] if len(pairs) else pairs
    graph = coo_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    core_index = np.flatnonzero(core)
    if len(core_index) == 0:
        return labels
    labels[core] = component[core]
    border = np.flatnonzero(~core)
    if len(border):
        d, j = cKDTree(xy[core_index]).query(xy[border], distance_upper_bound=eps * (1 + 1e-9))
        ok = np.isfinite(d)
        labels[border[ok]] = component[core_index[j[ok]]]
    _, first = np.unique(labels[labels >= 0], return_index=True)
    order = {old: new for new, old in enumerate(labels[labels >= 0][np.sort(first)])}
    return np.array([order.get(v, -1) for v in labels], dtype=np.int64)


def group_households(households, hamlets, homes, policy: RelocationPolicy, crs):
    """Group keys, whole/scattered, the final ``candidate`` per household; the relocating
    groups (GeoDataFrame with outlines, EPSG:4326). ``hamlets`` gains its verdict columns."""
    frame = households.copy()
    xy = shapely.get_coordinates(homes.geometry.to_crs(crs).to_numpy())
    frame["group_key"], frame["group_basis"] = _group_keys(frame, xy, policy)
    stats = frame.groupby("group_key").agg(
        households=("household_id", "size"),
        eligible=("eligible", "sum"),
        township_code=("township_code", "first"),
        village_code=("village_code", "first"),
        hamlet_id=("hamlet_id", "first"),
        basis=("group_basis", "first"),
    )
    stats["share"] = stats.eligible / stats.households
    place = hamlets.set_index("hamlet_id")
    place_candidate = stats.hamlet_id.map(place.eligible.astype(bool)).eq(True)
    place_candidate &= stats.basis == "hamlet"
    by_share = (stats.share > policy.whole_hamlet_share + 1e-12) & (
        stats.households >= policy.whole_hamlet_min_households
    )
    by_share &= stats.basis != "single"
    stats["whole"] = place_candidate | by_share
    stats["whole_by"] = np.where(place_candidate, "place", np.where(by_share, "share", None))
    whole = frame.group_key.map(stats.whole).to_numpy(bool) & ~frame.relocated.to_numpy(bool)
    frame["candidate"] = frame.eligible.to_numpy(bool) | whole
    frame["relocation"] = np.where(whole, "whole", np.where(frame.candidate, "scattered", None))
    frame["basis"] = np.where(
        frame.eligible, "criteria", np.where(frame.candidate, "whole_hamlet", None)
    )
    frame.loc[~frame.candidate.to_numpy(), "group_key"] = None
    frame["reason_text"] = _with_group_text(frame, stats, place, policy)
    _hamlet_verdicts(hamlets, stats)
    groups = _group_table(frame, stats, place, homes, policy, crs)
    return frame, groups


def _group_keys(frame: pd.DataFrame, xy: np.ndarray, policy: RelocationPolicy):
    """'hamlet-<id>' for households with a hamlet; DBSCAN clusters of the others per
    township ('cluster-<township>-<n>'); 'single-<household id>' for the noise."""
    keys = np.empty(len(frame), dtype=object)
    basis = np.empty(len(frame), dtype=object)
    has = frame["hamlet_id"].notna().to_numpy()
    keys[has] = ["hamlet-" + str(int(h)) for h in frame["hamlet_id"].to_numpy()[has]]
    basis[has] = "hamlet"
    rest = np.flatnonzero(~has)
    for township, idx in pd.Series(rest).groupby(frame["township_code"].to_numpy()[rest]):
        idx = idx.to_numpy()
        labels = dbscan(xy[idx], policy.cluster_eps_m, policy.cluster_min_households)
        for i, label in zip(idx, labels, strict=True):
            if label >= 0:
                keys[i], basis[i] = f"cluster-{township}-{label + 1}", "cluster"
            else:
                keys[i] = f"single-{int(frame['household_id'].iloc[i])}"
                basis[i] = "single"
    return keys, basis


def _with_group_text(frame: pd.DataFrame, stats: pd.DataFrame, place, policy) -> list:
    """The household's own reasons, preceded by the whole-hamlet reason where it applies."""
    out = []
    for key, relocation, own in zip(
        frame.group_key, frame.relocation, frame.reason_text, strict=True
    ):
        if relocation != "whole":
            out.append(own)
            continue
        head = "整体搬迁：" + _whole_reason(stats.loc[key], place, policy)
        out.append(head if not own else f"{head}；本户：{own}")
    return out


def _whole_reason(row: pd.Series, place: pd.DataFrame, policy: RelocationPolicy) -> str:
    name = _group_name(row, place)
    if row.whole_by == "place":
        return f"{name}不具备条件({place.loc[row.hamlet_id, 'reason_text']})"
    return (
        f"{name}{int(row.households)}户中{int(row.eligible)}户符合条件"
        f"({row.share:.0%}>{policy.whole_hamlet_share:.0%})"
    )


def _group_name(row: pd.Series, place: pd.DataFrame) -> str:
    if row.basis == "hamlet" and row.hamlet_id in place.index:
        return f"自然村{place.loc[row.hamlet_id, 'name']}"
    return "聚居点" if row.basis == "cluster" else "单户"


def _hamlet_verdicts(hamlets: pd.DataFrame, stats: pd.DataFrame) -> None:
    by_hamlet = stats[stats.basis == "hamlet"].set_index("hamlet_id")
    ids = hamlets.hamlet_id
    hamlets["eligible_households"] = ids.map(by_hamlet.eligible).fillna(0).astype(int)
    hamlets["share"] = ids.map(by_hamlet.share).astype(float)
    whole = ids.map(by_hamlet.whole.astype(bool)).eq(True)
    scattered = (hamlets.eligible_households > 0) & ~whole
    hamlets["relocation"] = np.where(whole, "whole", np.where(scattered, "scattered", None))
    hamlets["candidate"] = hamlets["eligible"].to_numpy(bool)


def _group_table(frame, stats, place, homes, policy: RelocationPolicy, crs):
    """One row per group with candidates: counts, kind, reasons, outline (EPSG:4326)."""
    moving = frame[frame.candidate]
    if moving.empty:
        return _empty_groups()
    xy = homes.geometry.to_crs(crs).to_numpy()
    rows = []
    for key, members in moving.groupby("group_key", sort=True):
        row = stats.loc[key]
        criteria = pd.Series([c for cs in members.criteria for c in cs]).value_counts()
        rows.append(
            {
                "group_key": key,
                "township_code": row.township_code,
                "village_code": row.village_code,
                "hamlet_id": row.hamlet_id if row.basis == "hamlet" else pd.NA,
                "name": _group_name(row, place),
                "basis": row.basis,
                "relocation": "whole" if row.whole else "scattered",
                "whole_by": row.whole_by,
                "households": int(row.households),
                "eligible": int(row.eligible),
                "candidates": len(members),
                "people": int(members.members.sum()),
                "share": float(row.share),
                "criteria_counts": {c: int(k) for c, k in criteria.items()},
                "reason_text": _group_reason(row, place, members, policy),
                "synthetic": bool(members.get("synthetic", pd.Series(False)).any()),
                "geometry": _outline(xy[members.index.to_numpy()], policy.outline_buffer_m),
            }
        )
    groups = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).to_crs(4326)
    groups["hamlet_id"] = pd.array(groups["hamlet_id"], dtype="Int64")
    return groups


def _group_reason(row, place, members, policy) -> str:
    if row.whole:
        return "整体搬迁：" + _whole_reason(row, place, policy)
    counts = pd.Series([c for cs in members.criteria for c in cs]).value_counts()
    top = "、".join(f"{CRITERIA[c]}{k}户" for c, k in counts.items())
    return f"插花搬迁：{_group_name(row, place)}{len(members)}户({top})"


def _outline(xy: np.ndarray, buffer_m: float) -> shapely.MultiPolygon:
    """Concave hull of the homes (metric), buffered; a buffered point or line for 1–2."""
    points = shapely.multipoints(xy)
    hull = shapely.concave_hull(points, ratio=0.5) if len(xy) >= 3 else points
    shape = shapely.buffer(hull, max(buffer_m, 1.0), quad_segs=4)
    parts = [p for p in shapely.get_parts(shape) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts)


def _empty_groups() -> gpd.GeoDataFrame:
    columns = ["group_key", "township_code", "village_code", "hamlet_id", "name", "basis",
               "relocation", "whole_by", "households", "eligible", "candidates", "people",
               "share", "criteria_counts", "reason_text", "synthetic"]  # fmt: skip
    frame = pd.DataFrame({c: [] for c in columns})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


# --- resettlement sites (geo.resettlement) -----------------------------------------------------


def _sites(inputs, households, homes, profile, policy, network, walker, crs):
    """Ranked sites (EPSG:4326) of every township with candidates, and per township the
    candidates' row positions with their minutes to each site."""
    layers = SiteLayers(
        hazard_zones=inputs.hazard_zones,
        water=inputs.water,
        hamlets=inputs.hamlets,
        clinics=inputs.clinics,
        schools=inputs.schools,
        rivers=inputs.rivers,
        dem_path=inputs.dem_path,
        school_levels=profile.school.levels,
    )
    xy = shapely.get_coordinates(homes.geometry.to_crs(crs).to_numpy())
    areas = dict(zip(inputs.townships["code"], inputs.townships.geometry.to_crs(crs), strict=True))
    frames, matrices = [], {}
    candidate = households["candidate"].to_numpy(bool)
    for code in sorted(set(households.loc[candidate, "township_code"])):
        if code not in areas:
            continue
        rows = np.flatnonzero(candidate & (households["township_code"] == code).to_numpy())
        sites, minutes = township_sites(
            code, areas[code], xy[rows], layers, policy, network, walker, crs
        )
        if len(sites):
            frames.append(sites)
            matrices[code] = (rows, minutes)
    if not frames:
        return empty_sites(), matrices
    sites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    sites = sites.to_crs(4326)
    point = gpd.GeoSeries(shapely.points(sites.site_x, sites.site_y), crs=crs).to_crs(4326)
    sites["site_lon"], sites["site_lat"] = point.x.to_numpy(), point.y.to_numpy()
    sites["synthetic"] = bool(households.get("synthetic", pd.Series(False)).any())
    return sites, matrices


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
