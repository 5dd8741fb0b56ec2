"""Infrastructure and responsibility coverage: who is left without a road, water, a clinic
or a cadre (seeds 002 §9 §11, 003, 004), per household, hamlet, village and township.

``assess(inputs, profile)`` takes plain GeoDataFrames (see :class:`CoverageInputs`) and the
policy profile (``geo.policy``) and returns per-household values, one flag per criterion that
fails (with the value that made it fail), summaries and clinic isochrones. No database.

Criteria (each can be switched off in the profile; at the limit counts as covered):

=============== ==================================================================== =========
code            fails when                                                           source
=============== ==================================================================== =========
road            no hardened road within ``road.max_distance_m`` (straight line)       default
hamlet_road     the home's 自然村 of 200+ people (in a poor village) has no hardened  002 §11
                road connection: recorded ``road_hardened`` false, or no hardened
                road nearby that reaches a county-or-higher road over hardened roads
clinic          nearest clinic of any level more than ``clinic.max_minutes`` away     default
village_clinic  nearest 村卫生站 too far (off by default)                              default
health_centre   nearest 乡镇卫生院 too far                                             default
school          nearest school of ``school.levels`` too far                           default
water           no piped water: hamlet not piped and home outside every supply area  002 §11
cadre           no responsible cadre (``cadre_id`` empty)                             003/004
=============== ==================================================================== =========

Travel times are walk + roads + walk over the routable network (``geo.network``,
``geo.access``); unreachable is None with the reason in ``unreachable``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.access import Access, Walker, access_to, isochrones, nearest_line, snap_points
from geo.network import RoadNetwork, build_network, metric_crs
from geo.policy import Profile
from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported

# criterion code -> Chinese label (order = order of flags and columns)
CRITERIA: dict[str, str] = {
    "road": "无硬化路",
    "hamlet_road": "自然村未通硬化路",
    "clinic": "就医不便",
    "village_clinic": "村卫生站远",
    "health_centre": "乡镇卫生院远",
    "school": "上学不便",
    "water": "未通自来水",
    "cadre": "无帮扶责任人",
}
# facility kinds timed per household: kind -> label used in reason texts
FACILITY_KINDS = {
    "clinic": "最近卫生机构",
    "village_clinic": "村卫生站",
    "health_centre": "乡镇卫生院",
    "school": "学校",
}
UNREACHABLE_TEXT = {
    "off_network": "离路过远",
    "no_path": "路网不通",
    "no_facility": "无此类设施",
}


@dataclass
class CoverageInputs:
    """The layers of one area (GeoDataFrames with a CRS; the data model's column names).

    households: id, village_code, hamlet_id, cadre_id, scattered, status (optional)
    hamlets: id, village_code, name, population, road_hardened, piped_water
    villages: code, township_code, name, is_poor_village, has_standard_clinic
    roads: id, road_class, surface (optional layer/bridge)
    clinics: id, level, standard, village_code; schools: id, level; water: id, kind
    townships: code, name — the areas isochrones are traced over (optional)
    cadre_loads: households per cadre over a wider area than ``households`` (optional)
    """

    households: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    clinics: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame | None = None
    dem_path: Path | None = None
    cadre_loads: pd.Series | None = None  # households per cadre id (default: from households)


@dataclass
class CoverageResult:
    """Per-household rows (GeoDataFrame, EPSG:4326) and per hamlet/village/township
    summaries; ``isochrones`` (EPSG:4326) per township, clinic and limit."""

    households: gpd.GeoDataFrame
    hamlets: pd.DataFrame
    villages: pd.DataFrame
    townships: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    network: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def uncovered(self) -> gpd.GeoDataFrame:
        return self.households[self.households.uncovered]


def assess(
    inputs: CoverageInputs, profile: Profile, *, crs=None, with_isochrones: bool = True
) -> CoverageResult:
    """Assess every household of ``inputs`` against ``profile`` (see the module doc)."""
    clock = _Clock()
    crs = crs or metric_crs(inputs.roads if len(inputs.roads) else inputs.households)
    network = build_network(inputs.roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, inputs.dem_path, crs)
    clock.lap("network")

    homes = _assessed(inputs.households, profile)
    xy = _xy(homes, crs)
    snap, walk = snap_points(network, xy, walker)
    frame = _base_columns(homes, inputs.villages, snap)
    hardened = (network.edges.surface == "hardened").to_numpy()
    frame["hardened_road_m"], _ = nearest_line(
        shapely.points(xy), network.edges.geometry.to_numpy()[hardened]
    )
    clock.lap("roads")

    unreachable: list[dict[str, str]] = [{} for _ in range(len(frame))]
    for kind, facilities in _facility_sets(inputs, profile).items():
        result = access_to(network, walker, xy, snap, walk, _xy(facilities, crs))
        ids = facilities["id"].to_numpy()
        frame[f"{kind}_min"] = np.where(np.isfinite(result.minutes), result.minutes, np.nan)
        frame[f"{kind}_id"] = _ids_or_na(ids, result.facility)
        _note_unreachable(unreachable, kind, result)
    frame["unreachable"] = unreachable
    clock.lap("facilities")

    hamlets = _hamlet_table(inputs, profile, network, crs, homes)
    frame["piped_water"], frame["water_source"] = _piped_water(homes, inputs, profile)
    _flag(frame, hamlets, profile)
    uncovered = frame.groupby("hamlet_id").uncovered.sum()
    hamlets["uncovered"] = hamlets.hamlet_id.map(uncovered).fillna(0).astype(int)
    clock.lap("flags")

    villages = _village_table(frame, hamlets, inputs, profile)
    townships = _township_table(frame, villages, inputs, profile)
    clock.lap("summaries")

    iso = _isochrones(inputs, profile, network, walker, crs) if with_isochrones else None
    clock.lap("isochrones")
    households = gpd.GeoDataFrame(frame, geometry=homes.geometry.to_crs(4326).to_numpy())
    households = households.set_crs(4326)
    return CoverageResult(
        households=households,
        hamlets=hamlets,
        villages=villages,
        townships=townships,
        isochrones=iso if iso is not None else _empty_isochrones(),
        network=dict(network.diagnostics, components=network.n_components),
        timings=clock.laps,
    )


# --- households -------------------------------------------------------------------------


def _assessed(households: gpd.GeoDataFrame, profile: Profile) -> gpd.GeoDataFrame:
    if "status" not in households.columns:
        return households.reset_index(drop=True)
    keep = households["status"].isin(profile.assess.statuses)
    return households[keep].reset_index(drop=True)


def _xy(frame: gpd.GeoDataFrame, crs) -> np.ndarray:
    if len(frame) == 0:
        return np.empty((0, 2))
    points = frame.geometry.to_crs(crs).to_numpy()
    points = np.where(shapely.get_type_id(points) == 0, points, shapely.centroid(points))
    return shapely.get_coordinates(points)


def _base_columns(homes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, snap) -> pd.DataFrame:
    township_of = dict(zip(villages["code"], villages["township_code"], strict=True))
    village = homes["village_code"].astype(str)
    frame = pd.DataFrame(
        {
            "household_id": homes["id"].to_numpy(),
            "township_code": village.map(township_of).fillna(village.str[:9]).to_numpy(),
            "village_code": village.to_numpy(),
            "hamlet_id": pd.array(homes["hamlet_id"], dtype="Int64"),
            "cadre_id": pd.array(homes["cadre_id"], dtype="Int64"),
            "scattered": homes.get("scattered", pd.Series(True, index=homes.index))
            .fillna(True)
            .to_numpy(bool),
            "road_m": np.where(snap.on_network, snap.distance_m, np.nan),
        }
    )
    if "synthetic" in homes.columns:
        frame["synthetic"] = homes["synthetic"].fillna(False).to_numpy(bool)
    return frame


def _facility_sets(inputs: CoverageInputs, profile: Profile) -> dict[str, gpd.GeoDataFrame]:
    clinics = inputs.clinics
    if not profile.clinic.include_substandard:
        clinics = clinics[
            (clinics.level != "village_clinic") | clinics.standard.fillna(False).astype(bool)
        ]
    return {
        "clinic": clinics,
        "village_clinic": clinics[clinics.level == "village_clinic"],
        "health_centre": clinics[clinics.level == "township_health_centre"],
        "school": inputs.schools[inputs.schools.level.isin(profile.school.levels)],
    }


def _ids_or_na(ids: np.ndarray, index: np.ndarray) -> pd.array:
    """ids[index] as nullable integers, <NA> where index is -1."""
    values = pd.array(ids[np.maximum(index, 0)], dtype="Int64") if len(ids) else None
    if values is None:
        return pd.array([pd.NA] * len(index), dtype="Int64")
    values[index < 0] = pd.NA
    return values


def _note_unreachable(unreachable: list[dict], kind: str, result: Access) -> None:
    for i in np.flatnonzero(~np.isfinite(result.minutes)):
        unreachable[i][kind] = result.reason[i]


def _piped_water(homes, inputs: CoverageInputs, profile: Profile):
    """(piped?, source) per household: 'hamlet' if its hamlet is piped, else
    'supply_area' if the home lies in a water-supply area, else None."""
    piped_hamlets = set(inputs.hamlets.loc[inputs.hamlets.piped_water.fillna(False), "id"])
    by_hamlet = homes["hamlet_id"].isin(piped_hamlets).to_numpy()
    in_area = np.zeros(len(homes), dtype=bool)
    areas = inputs.water[inputs.water.kind == "supply_area"]
    if profile.water.supply_area_counts and len(areas) and len(homes):
        union = shapely.union_all(areas.geometry.to_crs(homes.crs).to_numpy())
        shapely.prepare(union)
        in_area = shapely.covers(union, homes.geometry.to_numpy())
    source = np.where(by_hamlet, "hamlet", np.where(in_area, "supply_area", None))
    return by_hamlet | in_area, source


# --- flags ------------------------------------------------------------------------------


def _flag(frame: pd.DataFrame, hamlets: pd.DataFrame, profile: Profile) -> None:
    """flag_<criterion> columns, ``flags`` (codes), ``reasons`` (values), ``reason_text``."""
    n = len(frame)
    reasons: list[dict[str, Any]] = [{} for _ in range(n)]
    texts: list[list[str]] = [[] for _ in range(n)]
    unreachable = frame["unreachable"].to_numpy()

    def record(code: str, failed: np.ndarray, make) -> None:
        frame[f"flag_{code}"] = failed
        for i in np.flatnonzero(failed):
            reason, text = make(i)
            reasons[i][code] = reason
            texts[i].append(text)

    limit = profile.road.max_distance_m
    dist = frame["hardened_road_m"].to_numpy()
    record("road", _over(dist, limit), lambda i: _distance_reason(dist[i], limit))

    needy = hamlets[hamlets.needs_hardening]
    hamlet_info = needy.set_index("hamlet_id")[["population", "name", "hardening_reason"]]
    in_needy = frame["hamlet_id"].isin(hamlet_info.index).fillna(False).to_numpy(bool)

    def hamlet_reason(i):
        row = hamlet_info.loc[frame["hamlet_id"].iloc[i]]
        pop = int(row.population)
        return (
            {
                "value": pop,
                "limit": profile.road.hamlet_min_population,
                "unit": "people",
                "hamlet_id": int(frame["hamlet_id"].iloc[i]),
                "why": row.hardening_reason,
            },
            f"自然村{row['name']}({pop}人)未通硬化路",
        )

    record("hamlet_road", in_needy, hamlet_reason)

    limits = {
        "clinic": profile.clinic.max_minutes,
        "village_clinic": profile.clinic.village_clinic_max_minutes,
        "health_centre": profile.clinic.health_centre_max_minutes,
        "school": profile.school.max_minutes,
    }
    for kind, kind_limit in limits.items():
        minutes = frame[f"{kind}_min"].to_numpy()
        failed = _over(np.where(np.isnan(minutes), np.inf, minutes), kind_limit)
        record(kind, failed, _minutes_reason(kind, minutes, kind_limit, unreachable))

    water_failed = ~frame["piped_water"].to_numpy(bool) & profile.water.assess

    def water_reason(i):
        return {"value": False, "hamlet_id": _int_or_none(frame["hamlet_id"].iloc[i])}, "未通自来水"

    record("water", water_failed, water_reason)

    needs_cadre = frame["cadre_id"].isna().to_numpy()
    if profile.cadre.scattered_only:
        needs_cadre &= frame["scattered"].to_numpy(bool)
    record("cadre", needs_cadre, lambda i: ({"value": None}, "无帮扶责任人"))

    frame["flags"] = [[c for c in CRITERIA if c in r] for r in reasons]
    frame["reasons"] = reasons
    frame["uncovered"] = np.array([bool(r) for r in reasons], dtype=bool)
    frame["reason_text"] = ["；".join(t) if t else None for t in texts]


def _over(values: np.ndarray, limit: float | None) -> np.ndarray:
    """Fails when above the limit (at the limit is covered); inf/NaN (none) fails too."""
    if limit is None:
        return np.zeros(len(values), dtype=bool)
    values = np.where(np.isnan(values), np.inf, values)
    return values > limit + 1e-9


def _distance_reason(value: float, limit: float):
    if not np.isfinite(value):
        return {"value": None, "limit": limit, "unit": "m"}, "附近无硬化路"
    return (
        {"value": round(float(value), 1), "limit": limit, "unit": "m"},
        f"距硬化路{value:.0f}米(>{limit:.0f})",
    )


def _minutes_reason(kind: str, minutes: np.ndarray, limit, unreachable):
    label = FACILITY_KINDS[kind]

    def make(i: int):
        if np.isnan(minutes[i]):
            why = unreachable[i].get(kind, "no_path")
            reason = {"value": None, "limit": limit, "unit": "min", "unreachable": why}
            return reason, f"无法到达{label}({UNREACHABLE_TEXT[why]})"
        value = round(float(minutes[i]), 2)
        return (
            {"value": value, "limit": limit, "unit": "min"},
            f"到{label}{value:.0f}分钟(>{limit:.0f})",
        )

    return make


def _int_or_none(value) -> int | None:
    return None if pd.isna(value) else int(value)


# --- hamlets, villages, townships -------------------------------------------------------


def _hamlet_table(inputs: CoverageInputs, profile: Profile, network: RoadNetwork, crs, homes):
    """Per hamlet: hardened-road distance and connection, the seed-002 §11 flag, counts."""
    hamlets = inputs.hamlets.reset_index(drop=True)
    township_of = dict(zip(inputs.villages.code, inputs.villages.township_code, strict=True))
    poor = dict(zip(inputs.villages.code, inputs.villages.is_poor_village, strict=True))
    xy = _xy(hamlets, crs)
    edges = network.edges
    hardened = (edges.surface == "hardened").to_numpy()
    distance, nearest = nearest_line(shapely.points(xy), edges.geometry.to_numpy()[hardened])
    connected = _reaches_trunk(network, hardened, nearest, distance, profile)
    recorded = hamlets.road_hardened.astype("boolean")
    rule = profile.road
    big = hamlets.population.fillna(0).to_numpy() >= rule.hamlet_min_population
    if rule.hamlet_poor_villages_only:
        big &= hamlets.village_code.map(poor).fillna(False).to_numpy(bool)
    not_recorded = (recorded == False).fillna(False).to_numpy(bool) & rule.hamlet_use_recorded  # noqa: E712
    needs = big & (not_recorded | ~connected)
    why = np.where(not_recorded & ~connected, "recorded+computed",
                   np.where(not_recorded, "recorded", "computed"))  # fmt: skip
    counts = homes.groupby("hamlet_id").size()
    return pd.DataFrame(
        {
            "hamlet_id": hamlets["id"].to_numpy(),
            "village_code": hamlets.village_code.to_numpy(),
            "township_code": hamlets.village_code.map(township_of).to_numpy(),
            "name": hamlets["name"].to_numpy(),
            "population": hamlets.population.to_numpy(),
            "households": hamlets["id"].map(counts).fillna(0).astype(int).to_numpy(),
            "road_hardened": recorded.to_numpy(),
            "hardened_road_m": np.where(np.isfinite(distance), distance, np.nan),
            "hardened_connected": connected,
            "needs_hardening": needs,
            "hardening_reason": np.where(needs, why, None),
            "piped_water": hamlets.piped_water.astype("boolean").to_numpy(),
            "geometry": hamlets.geometry.to_crs(4326).to_numpy(),
        }
    )


def _reaches_trunk(network, hardened, nearest, distance, profile: Profile) -> np.ndarray:
    """The nearest hardened road is close enough and reaches a trunk road over hardened
    roads only."""
    labels = network.subnetwork_components(hardened)
    trunk = network.edges.road_class.isin(profile.road.trunk_classes).to_numpy() & hardened
    trunk_labels = np.unique(labels[trunk])
    edge_index = np.flatnonzero(hardened)
    limit = profile.road.max_distance_m
    close = np.isfinite(distance) if limit is None else distance <= limit + 1e-9
    ok = close & (nearest >= 0)
    result = np.zeros(len(nearest), dtype=bool)
    result[ok] = np.isin(labels[edge_index[nearest[ok]]], trunk_labels)
    return result


def _village_table(frame, hamlets, inputs: CoverageInputs, profile: Profile) -> pd.DataFrame:
    villages = inputs.villages.reset_index(drop=True)
    codes = villages.code
    by_village = frame.groupby("village_code")
    counts = _flag_counts(by_village)
    standard = _standard_clinic_villages(inputs)
    loads = _cadre_loads(inputs)
    people = hamlets.groupby("village_code").population.sum()
    piped = hamlets[hamlets.piped_water.fillna(False).astype(bool)]
    piped_people = piped.groupby("village_code").population.sum()
    table = pd.DataFrame(
        {
            "village_code": codes.to_numpy(),
            "township_code": villages.township_code.to_numpy(),
            "name": villages["name"].to_numpy(),
            "is_poor_village": villages.is_poor_village.fillna(False).to_numpy(bool),
        }
    )
    table = table.merge(counts, left_on="village_code", right_index=True, how="left")
    count_columns = [c for c in counts.columns]
    table[count_columns] = table[count_columns].fillna(0).astype(int)
    table["hamlets"] = codes.map(hamlets.groupby("village_code").size()).fillna(0).astype(int)
    table["hamlets_needing_road"] = (
        codes.map(hamlets[hamlets.needs_hardening].groupby("village_code").size())
        .fillna(0)
        .astype(int)
    )
    computed = codes.isin(standard).to_numpy()
    recorded = villages.has_standard_clinic.fillna(False).to_numpy(bool)
    table["has_standard_clinic"] = computed | recorded
    table["clinic_record_mismatch"] = computed != recorded
    required = profile.clinic.poor_village_standard_clinic
    table["lacks_standard_clinic"] = table.is_poor_village & ~table.has_standard_clinic & required
    table["piped_share"] = (codes.map(piped_people).fillna(0) / codes.map(people)).to_numpy()
    table["piped_household_share"] = codes.map(by_village.piped_water.mean()).to_numpy()
    table["low_piped_share"] = (table.piped_share < profile.water.village_min_share).fillna(
        False
    ) & profile.water.assess
    cadre_stats = _village_cadres(frame, loads)
    table = table.merge(cadre_stats, left_on="village_code", right_index=True, how="left")
    table["cadres"] = table.cadres.fillna(0).astype(int)
    table["cadres_over_limit"] = (
        codes.map(_over_limit_per(frame, loads, "village_code", profile)).fillna(0).astype(int)
    )
    table["geometry"] = villages.geometry.to_crs(4326).to_numpy()
    return table


def _flag_counts(groups) -> pd.DataFrame:
    columns = {"households": groups.size(), "uncovered": groups.uncovered.sum()}
    for code in CRITERIA:
        columns[f"flag_{code}"] = groups[f"flag_{code}"].sum()
    return pd.DataFrame(columns)


def _standard_clinic_villages(inputs: CoverageInputs) -> set[str]:
    """Villages with a standardised village clinic, by its village_code or else by place."""
    clinics = inputs.clinics
    standard = clinics[(clinics.level == "village_clinic") & clinics.standard.fillna(False)]
    coded = set(standard.village_code.dropna())
    uncoded = standard[standard.village_code.isna()]
    if len(uncoded):
        joined = gpd.sjoin(uncoded, inputs.villages[["code", inputs.villages.geometry.name]])
        coded |= set(joined.code)
    return coded


def _cadre_loads(inputs: CoverageInputs) -> pd.Series:
    """Households per cadre: given, or over all households of the input (assessed or not)."""
    if inputs.cadre_loads is not None:
        return inputs.cadre_loads
    return inputs.households["cadre_id"].dropna().astype(int).value_counts()


def _village_cadres(frame: pd.DataFrame, loads: pd.Series) -> pd.DataFrame:
    with_cadre = frame.dropna(subset=["cadre_id"])
    groups = with_cadre.groupby("village_code")
    cadres = groups.cadre_id.nunique()
    return pd.DataFrame(
        {
            "cadres": cadres,
            "households_per_cadre": groups.size() / cadres,
            "max_cadre_load": groups.cadre_id.agg(
                lambda ids: int(loads.reindex(ids.astype(int)).max())
            ),
        }
    )


def _over_limit_per(frame, loads: pd.Series, key: str, profile: Profile) -> pd.Series:
    over = set(loads[loads > profile.cadre.max_households].index)
    with_cadre = frame.dropna(subset=["cadre_id"])
    flagged = with_cadre[with_cadre.cadre_id.astype(int).isin(over)]
    return flagged.groupby(key).cadre_id.nunique()


def _township_table(frame, villages: pd.DataFrame, inputs: CoverageInputs, profile) -> pd.DataFrame:
    groups = frame.groupby("township_code")
    per = villages.groupby("township_code")
    codes = sorted(set(villages.township_code) | set(frame.township_code))
    table = _flag_counts(groups).reindex(codes)
    table["villages"] = per.size()
    table["poor_villages"] = per.is_poor_village.sum()
    table["poor_villages_without_standard_clinic"] = per.lacks_standard_clinic.sum()
    table["hamlets_needing_road"] = per.hamlets_needing_road.sum()
    table["cadres"] = groups.cadre_id.nunique()
    loads = _cadre_loads(inputs)
    table["cadres_over_limit"] = _over_limit_per(frame, loads, "township_code", profile)
    table = table.fillna(0).astype(int)
    table["piped_household_share"] = groups.piped_water.mean()
    table = table.reset_index(names="township_code")
    names = {}
    if inputs.townships is not None:
        names = dict(zip(inputs.townships.code, inputs.townships["name"], strict=True))
    table.insert(1, "name", table.township_code.map(names))
    return table


# --- isochrones -------------------------------------------------------------------------


def _isochrones(inputs, profile: Profile, network, walker, crs) -> gpd.GeoDataFrame:
    clinics = _facility_sets(inputs, profile)["clinic"]
    areas = inputs.townships
    if areas is None or len(areas) == 0 or len(clinics) == 0:
        return _empty_isochrones()
    xy = _xy(clinics, crs)
    ids = clinics["id"].to_numpy()
    frames = []
    for code, area in zip(areas.code, areas.geometry.to_crs(crs), strict=True):
        rings = isochrones(
            network, walker, xy, area, profile.isochrone.minutes, profile.isochrone.cell_m
        )
        if len(rings):
            rings.insert(0, "township_code", code)
            rings.insert(1, "kind", "clinic")
            rings["facility_id"] = ids[rings.pop("facility").to_numpy()]
            frames.append(rings.to_crs(4326))
    if not frames:
        return _empty_isochrones()
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)


def _empty_isochrones() -> gpd.GeoDataFrame:
    columns = {"township_code": [], "kind": [], "minutes": [], "facility_id": [], "geometry": []}
    return gpd.GeoDataFrame(columns, geometry="geometry", crs=4326)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now
