"""Siting problems posed on the coverage model's own layers and travel times (no database).

From the layers of a township (:class:`geo.coverage.CoverageInputs`) and its baseline
coverage (:func:`geo.coverage.assess`), build the cover problems that ``geo.siting`` solves:

* **clinic / school**: demand = the township's households beyond the policy's minutes of every
  clinic ([clinic] max_minutes) or school ([school] max_minutes); a candidate site covers a
  home it reaches within those minutes, on the same walk + roads + walk trips as coverage
  (:func:`geo.access.travel_matrix`).
* **water**: demand = households without piped water; piped water comes to a natural village
  (自然村) as a whole (seed 002 §11 村村通自来水), so a site covers the homes of every hamlet
  whose point it reaches within ``[siting] water_max_minutes``.
* **roads**: candidates = the township's unhardened road segments (road rows), cost = km;
  demand = households farther than ``[road] max_distance_m`` from a hardened road, and the
  hamlets of 200+ people needing a hardened road (seed 002 §11, weighing
  ``[siting] hamlet_weight`` households each); hardening a segment covers what lies within
  ``max_distance_m`` of it.

Every household weighs its status's ``[siting] status_weights`` (the poor first).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from geo.access import Walker, snap_points, travel_matrix
from geo.coverage import CoverageInputs, CoverageResult
from geo.network import build_network, metric_crs
from geo.policy import Profile
from geo.siting import CoverProblem, SitingError, household_weights, siting_policy

FACILITY_KINDS = {"clinic": "卫生站", "water": "供水点", "school": "学校"}


@dataclass(frozen=True)
class PosedProblem:
    """A cover problem with what its rows and columns are.

    ``demand``: one row per demand point (household_id or hamlet_id, village_code, status,
    weight, poor); ``candidates``: one row per candidate (EPSG:4326, with ``cost_km`` for
    roads); ``limit`` in minutes (facilities) or metres (roads)."""

    kind: str
    problem: CoverProblem
    demand: pd.DataFrame
    candidates: gpd.GeoDataFrame
    limit: float


def candidate_sites(inputs: CoverageInputs, township: str, how: str) -> gpd.GeoDataFrame:
    """Candidate sites of a township: every natural village (``hamlets``), or the most
    populous natural village of each administrative village (``villages``, where its
    committee and services usually are). Columns: name, village_code, hamlet_id, geometry."""
    hamlets = inputs.hamlets[inputs.hamlets.village_code.astype(str).str[:9] == township]
    if how not in ("hamlets", "villages"):
        raise SitingError(f"candidates: hamlets, villages or a file, got {how!r}")
    if how == "villages":
        order = hamlets.sort_values(["population", "id"], ascending=[False, True])
        hamlets = order.drop_duplicates("village_code").sort_values("id")
    names = dict(zip(inputs.villages.code, inputs.villages["name"], strict=True))
    return gpd.GeoDataFrame(
        {
            "name": [
                f"{names.get(v, v)}{n}"
                for v, n in zip(hamlets.village_code, hamlets["name"], strict=True)
            ],
            "village_code": hamlets.village_code.to_numpy(),
            "hamlet_id": hamlets["id"].to_numpy(),
        },
        geometry=hamlets.geometry.to_numpy(),
        crs=inputs.hamlets.crs,
    ).reset_index(drop=True)


def facility_limit(kind: str, profile: Profile) -> float:
    limits = {
        "clinic": profile.clinic.max_minutes,
        "school": profile.school.max_minutes,
        "water": siting_policy(profile).water_max_minutes,
    }
    if kind not in limits:
        raise SitingError(f"unknown facility kind {kind!r}; one of {', '.join(limits)}")
    if limits[kind] is None:
        raise SitingError(f"the policy profile does not assess {kind} travel time")
    return float(limits[kind])


def network_crs(inputs: CoverageInputs):
    """The metric CRS coverage uses for these inputs (so travel times are the same)."""
    return metric_crs(inputs.roads if len(inputs.roads) else inputs.households)


def facility_problem(
    kind: str,
    township: str,
    inputs: CoverageInputs,
    baseline: CoverageResult,
    candidates: gpd.GeoDataFrame,
    profile: Profile,
) -> PosedProblem:
    """Sites for new ``kind`` facilities among ``candidates`` (points, any CRS)."""
    limit = facility_limit(kind, profile)
    demand = _uncovered_households(township, kind, inputs, baseline)
    demand = _with_weights(demand, profile)
    crs = network_crs(inputs)
    network = build_network(inputs.roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, inputs.dem_path, crs)
    site_xy = shapely.get_coordinates(candidates.geometry.to_crs(crs).to_numpy())
    if kind == "water":
        minutes = _hamlet_minutes(demand, inputs, network, walker, crs, site_xy, limit)
    else:
        xy = shapely.get_coordinates(demand.geometry.to_crs(crs).to_numpy())
        snap, walk = snap_points(network, xy, walker)
        minutes = travel_matrix(network, walker, xy, snap, walk, site_xy, limit)
    weights = demand.weight.to_numpy(float)
    problem = CoverProblem.from_minutes(minutes, limit, weights)
    return PosedProblem(kind, problem, pd.DataFrame(demand.drop(columns="geometry")),
                        candidates.to_crs(4326).reset_index(drop=True), limit)  # fmt: skip


def _uncovered_households(
    township: str, criterion: str, inputs: CoverageInputs, baseline: CoverageResult
) -> gpd.GeoDataFrame:
    homes = baseline.households
    mine = homes[(homes.township_code == township) & homes[f"flag_{criterion}"]]
    status = inputs.households.set_index("id")["status"] if "status" in inputs.households else None
    frame = mine[["household_id", "village_code", "hamlet_id", "geometry"]].copy()
    frame["status"] = frame.household_id.map(status).to_numpy() if status is not None else "poor"
    return frame.reset_index(drop=True)


def _with_weights(frame: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    policy = siting_policy(profile)
    frame = frame.copy()
    frame["weight"] = household_weights(frame["status"], policy)
    frame["poor"] = frame["status"].isin(("poor", "returned")).to_numpy()
    return frame


def _hamlet_minutes(demand, inputs, network, walker, crs, site_xy, limit) -> np.ndarray:
    """Minutes from each site to each household's hamlet point (inf without a hamlet)."""
    hamlets = inputs.hamlets.set_index("id")
    has = demand.hamlet_id.notna().to_numpy() & demand.hamlet_id.isin(hamlets.index).to_numpy()
    minutes = np.full((len(site_xy), len(demand)), np.inf)
    if not has.any():
        return minutes
    ids = demand.hamlet_id[has].astype(int).to_numpy()
    unique, back = np.unique(ids, return_inverse=True)
    points = hamlets.loc[unique].geometry.set_crs(inputs.hamlets.crs, allow_override=True)
    xy = shapely.get_coordinates(points.to_crs(crs).to_numpy())
    snap, walk = snap_points(network, xy, walker)
    per_hamlet = travel_matrix(network, walker, xy, snap, walk, site_xy, limit)
    minutes[:, has] = per_hamlet[:, back]
    return minutes


def road_problem(
    township: str,
    township_area: shapely.Geometry,
    inputs: CoverageInputs,
    baseline: CoverageResult,
    profile: Profile,
) -> PosedProblem:
    """Unhardened segments of the township (``township_area`` in EPSG:4326) to harden."""
    limit = profile.road.max_distance_m
    if limit is None:
        raise SitingError("the policy profile does not assess the distance to a hardened road")
    crs = network_crs(inputs)
    roads = inputs.roads.to_crs(crs)
    area = gpd.GeoSeries([township_area], crs=4326).to_crs(crs).iloc[0]
    unhardened = roads[(roads.surface != "hardened") & roads.intersects(area)]
    candidates = unhardened[["id", "road_class", "surface"]].copy()
    if "name" in unhardened.columns:
        candidates["name"] = unhardened["name"].to_numpy()
    candidates["cost_km"] = unhardened.length.to_numpy() / 1000.0
    candidates = gpd.GeoDataFrame(candidates, geometry=unhardened.geometry.to_numpy(), crs=crs)
    homes = _uncovered_households(township, "road", inputs, baseline)
    homes = _with_weights(homes, profile)
    homes["what"] = "household"
    hamlets = baseline.hamlets
    needy = hamlets[(hamlets.township_code == township) & hamlets.needs_hardening]
    hamlet_rows = pd.DataFrame(
        {
            "household_id": pd.array([pd.NA] * len(needy), dtype="Int64"),
            "village_code": needy.village_code.to_numpy(),
            "hamlet_id": needy.hamlet_id.to_numpy(),
            "status": None,
            "weight": siting_policy(profile).hamlet_weight,
            "poor": False,
            "what": "hamlet",
            "population": needy.population.to_numpy(),
        }
    )
    hamlet_geoms = gpd.GeoSeries(needy.geometry.to_numpy(), crs=4326)
    demand = pd.concat([homes.drop(columns="geometry"), hamlet_rows], ignore_index=True)
    points = np.concatenate(
        [homes.geometry.to_crs(crs).to_numpy(), hamlet_geoms.to_crs(crs).to_numpy()]
    )
    tree = shapely.STRtree(candidates.geometry.to_numpy())
    point_index, road_index = tree.query(points, predicate="dwithin", distance=limit)
    covers = sp.csr_matrix(
        (np.ones(len(point_index), dtype=bool), (road_index, point_index)),
        shape=(len(candidates), len(points)),
    )
    problem = CoverProblem(covers, demand.weight.to_numpy(float), candidates.cost_km.to_numpy())
    return PosedProblem("roads", problem, demand, candidates.to_crs(4326).reset_index(drop=True),
                        float(limit))  # fmt: skip
