"""What-if scenarios: proposed roads, hardened segments and new facilities laid over a copy of
the real layers, so coverage can be assessed under them and compared (no database).

:func:`apply` returns new :class:`geo.coverage.CoverageInputs`; the inputs given are never
changed. The changes:

* **new roads** (lines, WGS84): each end within ``[siting] connect_m`` of an existing road
  (or of another new road that is connected) is drawn onto it, so the network noder
  (``geo.network``) joins them; a new road touching nothing is refused, with how far the
  nearest road is.
* **hardened segments** (road ids): their surface becomes 硬化 (hardened).
* **new clinics** (村卫生站, standardised), **water points** (水厂) and **schools** (小学).

A natural village (自然村) recorded without a hardened road whose point a changed road
(hardened or new) passes within ``[road] max_distance_m`` is no longer held to that record:
the computed connection decides (``road_hardened`` unknown). A new water point pipes the
hamlets whose point it reaches within ``[siting] water_max_minutes`` (``geo.siting_problems``
poses water the same way).

:func:`newly_covered` lists the households a scenario brings within a criterion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops

from geo.access import Walker, snap_points, travel_matrix
from geo.coverage import CRITERIA, CoverageInputs, CoverageResult
from geo.network import build_network, metric_crs
from geo.policy import Profile
from geo.siting import siting_policy

FACILITY_TABLES = {"clinic": "clinics", "water": "water", "school": "schools"}
NEW_ID_BASE = -1  # new features get negative ids: never a real row's


class ScenarioError(ValueError):
    """A proposed change that cannot be laid over the layers; the message says which."""


@dataclass
class Changes:
    """Proposed changes (GeoDataFrames in EPSG:4326).

    roads: name, road_class, surface, geometry (lines); harden: road ids;
    facilities: kind (clinic/water/school), name, geometry (points)."""

    roads: gpd.GeoDataFrame = field(default_factory=lambda: _empty(["name", "road_class",
                                                                      "surface"]))  # fmt: skip
    harden: tuple[int, ...] = ()
    facilities: gpd.GeoDataFrame = field(default_factory=lambda: _empty(["kind", "name"]))


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=4326)


def connect_roads(
    new: gpd.GeoDataFrame, existing: gpd.GeoDataFrame, connect_m: float
) -> gpd.GeoDataFrame:
    """``new`` lines with each loose end drawn onto the nearest road within ``connect_m``;
    raises :class:`ScenarioError` for a line that touches no road, even through others."""
    if new.empty:
        return new
    crs = metric_crs(existing if len(existing) else new)
    lines = new.to_crs(crs).geometry.to_numpy().copy()
    roads = existing.to_crs(crs).geometry.to_numpy()
    tree = shapely.STRtree(roads) if len(roads) else None
    joined = np.zeros(len(lines), dtype=bool)
    for i, line in enumerate(lines):
        if line is None or line.geom_type != "LineString":
            raise ScenarioError(f"proposed road {i + 1}: not a line ({_type(line)})")
        coords = shapely.get_coordinates(line)
        if tree is not None:
            coords, touching = _draw_ends(coords, tree, roads, connect_m)
            crossing = tree.query(line, predicate="intersects").size > 0
            joined[i] = touching or crossing  # a crossing becomes a junction in the noder
        lines[i] = shapely.LineString(coords)
    _join_through_each_other(lines, joined, connect_m)
    if not joined.all():
        i = int(np.flatnonzero(~joined)[0])
        far = "no road at all" if tree is None else f"{_nearest_m(tree, lines[i]):.0f} m"
        name = new.iloc[i].get("name") if "name" in new.columns else None
        label = f"proposed road {i + 1}" + (f" ({name})" if isinstance(name, str) else "")
        raise ScenarioError(
            f"{label} touches no road: the nearest is {far} away (ends are joined within "
            f"{connect_m:.0f} m); draw it to the road it leaves from"
        )
    out = new.copy()
    out = out.set_geometry(gpd.GeoSeries(lines, crs=crs).to_crs(4326).to_numpy())
    return out.set_crs(4326, allow_override=True)


def _join_through_each_other(lines: np.ndarray, joined: np.ndarray, connect_m: float) -> None:
    """A new road joined only to another new road that is joined counts as joined."""
    changed = True
    while changed and not joined.all():
        changed = False
        for i in np.flatnonzero(~joined):
            near = [j for j in np.flatnonzero(joined) if lines[i].distance(lines[j]) <= connect_m]
            if near:
                joined[i] = changed = True


def _draw_ends(coords: np.ndarray, tree, roads: np.ndarray, connect_m: float):
    """Extend each end within ``connect_m`` of a road onto it; (coords, any end joined)."""
    touching = False
    for end in (0, -1):
        point = shapely.Point(coords[end])
        j, d = tree.query_nearest(point, return_distance=True)
        if not len(j) or d[0] > connect_m:
            continue
        touching = True
        if d[0] > 0:
            onto = shapely.ops.nearest_points(roads[j[0]], point)[0]
            target = shapely.get_coordinates(onto)
            coords = np.vstack([target, coords] if end == 0 else [coords, target])
    return coords, touching


def _nearest_m(tree, line) -> float:
    _, d = tree.query_nearest(line, return_distance=True)
    return float(d[0]) if len(d) else float("inf")


def _type(geom) -> str:
    return "empty" if geom is None else geom.geom_type


def apply(inputs: CoverageInputs, changes: Changes, profile: Profile) -> CoverageInputs:
    """The inputs with ``changes`` laid over them (see the module doc); ``inputs`` unchanged."""
    policy = siting_policy(profile)
    roads = inputs.roads.copy()
    unknown = sorted(set(changes.harden) - set(roads["id"]))
    if unknown:
        raise ScenarioError(f"no road with id {unknown[0]} near this township to harden")
    roads.loc[roads["id"].isin(changes.harden), "surface"] = "hardened"
    new_roads = connect_roads(changes.roads, inputs.roads, policy.connect_m)
    if len(new_roads):
        extra = new_roads.to_crs(roads.crs)[["road_class", "surface", "geometry"]].copy()
        extra.insert(0, "id", NEW_ID_BASE - np.arange(len(extra)))
        if "bridge" in roads.columns:  # drawn roads are at grade
            extra["bridge"] = False
        roads = gpd.GeoDataFrame(pd.concat([roads, extra], ignore_index=True), crs=roads.crs)
    changed = pd.concat(
        [inputs.roads[inputs.roads["id"].isin(changes.harden)].to_crs(4326).geometry,
         new_roads[new_roads.surface == "hardened"].geometry],
        ignore_index=True,
    )  # fmt: skip
    hamlets = _release_road_records(inputs.hamlets, changed, profile)
    out = replace(inputs, roads=roads, hamlets=hamlets)
    out = _add_facilities(out, changes.facilities)
    water = changes.facilities[changes.facilities.kind == "water"]
    if len(water):
        out = replace(out, hamlets=_pipe_hamlets(out, water, profile, policy.water_max_minutes))
    return out


def _release_road_records(hamlets: gpd.GeoDataFrame, changed: gpd.GeoSeries, profile: Profile):
    limit = profile.road.max_distance_m
    if changed.empty or limit is None:
        return hamlets
    crs = metric_crs(changed)
    near = np.zeros(len(hamlets), dtype=bool)
    points = hamlets.geometry.to_crs(crs).to_numpy()
    hit, _ = shapely.STRtree(changed.to_crs(crs).to_numpy()).query(
        points, predicate="dwithin", distance=limit
    )
    near[hit] = True
    out = hamlets.copy()
    recorded_false = (out.road_hardened.astype("boolean") == False).fillna(False).to_numpy()  # noqa: E712
    out["road_hardened"] = out.road_hardened.astype("boolean")
    out.loc[near & recorded_false, "road_hardened"] = pd.NA
    return out


def _add_facilities(inputs: CoverageInputs, facilities: gpd.GeoDataFrame) -> CoverageInputs:
    out = inputs
    for kind, table in FACILITY_TABLES.items():
        rows = facilities[facilities.kind == kind]
        if rows.empty:
            continue
        base = getattr(inputs, table)
        new = gpd.GeoDataFrame(
            {
                "id": NEW_ID_BASE - np.arange(len(rows)),
                "name": rows["name"].to_numpy(),
            },
            geometry=rows.geometry.to_crs(base.crs).to_numpy(),
            crs=base.crs,
        )
        if kind == "clinic":
            new["level"], new["standard"] = "village_clinic", True
            new["village_code"] = _village_of(new, inputs.villages)
        elif kind == "school":
            new["level"] = "primary"
        else:
            new["kind"] = "waterworks"
        frame = pd.concat([base, new], ignore_index=True)
        out = replace(out, **{table: gpd.GeoDataFrame(frame, crs=base.crs)})
    return out


def _village_of(points: gpd.GeoDataFrame, villages: gpd.GeoDataFrame) -> np.ndarray:
    joined = gpd.sjoin(points, villages[["code", villages.geometry.name]].to_crs(points.crs),
                       how="left", predicate="within")  # fmt: skip
    return joined[~joined.index.duplicated()]["code"].reindex(points.index).to_numpy()


def _pipe_hamlets(inputs: CoverageInputs, water, profile: Profile, minutes: float):
    """Hamlets whose point a new water point reaches within ``minutes`` become piped."""
    crs = metric_crs(inputs.roads if len(inputs.roads) else inputs.hamlets)
    network = build_network(inputs.roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, inputs.dem_path, crs)
    xy = shapely.get_coordinates(inputs.hamlets.geometry.to_crs(crs).to_numpy())
    site_xy = shapely.get_coordinates(water.geometry.to_crs(crs).to_numpy())
    snap, walk = snap_points(network, xy, walker)
    reach = travel_matrix(network, walker, xy, snap, walk, site_xy, minutes).min(axis=0)
    out = inputs.hamlets.copy()
    out["piped_water"] = out.piped_water.astype("boolean")
    out.loc[reach <= minutes + 1e-9, "piped_water"] = True
    return out


def newly_covered(base: CoverageResult, after: CoverageResult) -> pd.DataFrame:
    """One row per household and criterion it fails before and meets after: household_id,
    township_code, village_code, hamlet_id, criterion; and ``now_covered`` (no flag left)."""
    before = base.households.set_index("household_id")
    later = after.households.set_index("household_id").reindex(before.index)
    rows = []
    for code in CRITERIA:
        flipped = before[f"flag_{code}"].to_numpy(bool) & ~later[f"flag_{code}"].fillna(
            True
        ).to_numpy(bool)
        if flipped.any():
            part = before.loc[flipped, ["township_code", "village_code", "hamlet_id"]]
            part = part.assign(criterion=code, now_covered=~later.uncovered[flipped].to_numpy())
            rows.append(part.reset_index())
    columns = ["household_id", "township_code", "village_code", "hamlet_id", "criterion",
               "now_covered"]  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]
