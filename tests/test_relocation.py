"""Relocation on plain GeoDataFrames: hazard-zone edges, the criteria and their reasons, the
hamlet grouping thresholds, DBSCAN, and a small world run end to end with its sites.

No database: the small world is built here in UTM metres with a DEM written to a temporary
GeoTIFF (a flat valley in the west, a 30° mountainside in the east).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from geo.policy import PolicyError, load_profile
from geo.relocation import (
    CRITERIA,
    RelocationInputs,
    assess_relocation,
    dbscan,
    evaluate,
    group_households,
    relocation_policy,
    zone_hits,
)
from geo.terrain import NO_DATA

UTM = "EPSG:32649"
X0, Y0 = 620_000.0, 2_760_000.0  # south-west corner of the small world (~112.2°E 24.9°N)
TOWNSHIP, VILLAGE = "449801100", "449801100201"


def policy(**changes):
    return relocation_policy(load_profile(overrides={"relocation": changes} if changes else None))


def at(x: float, y: float) -> shapely.Point:
    """A point ``x``, ``y`` metres from the small world's corner."""
    return shapely.Point(X0 + x, Y0 + y)


# --- hazard-zone edges ------------------------------------------------------------------------


def test_a_home_on_the_edge_of_a_hazard_zone_is_inside_it() -> None:
    zone = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    zones = gpd.GeoDataFrame({"kind": ["landslide"], "level": ["medium"]}, geometry=[zone],
                             crs=UTM)  # fmt: skip
    homes = gpd.GeoSeries([at(50, 100), at(100, 100), at(50, 99.5), at(50, 100.5), at(50, 103)],
                          crs=UTM)  # fmt: skip
    hits = zone_hits(homes, zones, policy(), UTM)
    assert hits.hazard_kind.notna().tolist() == [True, True, True, False, False]
    buffered = zone_hits(homes, zones, policy(hazard_buffer_m=2.0), UTM)
    assert buffered.hazard_kind.notna().tolist() == [True, True, True, True, False]
    assert buffered.hazard_m.iloc[3] == pytest.approx(0.5)


def test_edges_hold_in_degrees_too() -> None:
    """A zone drawn in WGS84 and a home on its edge: still inside after projection."""
    zone = shapely.box(112.30, 24.80, 112.31, 24.81)
    zones = gpd.GeoDataFrame({"kind": ["debris_flow"], "level": ["high"]}, geometry=[zone],
                             crs=4326)  # fmt: skip
    homes = gpd.GeoSeries([shapely.Point(112.305, 24.81), shapely.Point(112.305, 24.8101)],
                          crs=4326)  # fmt: skip
    hits = zone_hits(homes, zones, policy(), UTM)
    assert hits.hazard_kind.tolist() == ["debris_flow", None]


def test_the_worst_zone_wins_and_floods_are_their_own_criterion() -> None:
    zones = gpd.GeoDataFrame(
        {"kind": ["landslide", "landslide", "flood"], "level": ["low", "high", "medium"]},
        geometry=[shapely.box(X0, Y0, X0 + 100, Y0 + 100),
                  shapely.box(X0 + 50, Y0, X0 + 150, Y0 + 100),
                  shapely.box(X0 + 140, Y0, X0 + 300, Y0 + 100)], crs=UTM,
    )  # fmt: skip
    homes = gpd.GeoSeries([at(75, 50), at(20, 50), at(145, 50), at(250, 50)], crs=UTM)
    hits = zone_hits(homes, zones, policy(), UTM)
    assert hits.hazard_level.tolist() == ["high", "low", "high", None]
    assert hits.flood_level.tolist() == [None, None, "medium", "medium"]
    only_high = zone_hits(homes, zones, policy(hazard_levels=["high"]), UTM)
    assert only_high.hazard_level.tolist() == ["high", None, "high", None]


# --- criteria, score, reasons -----------------------------------------------------------------


def values(**columns) -> pd.DataFrame:
    """One household's values (defaults: nothing wrong), as ``evaluate`` reads them."""
    row = {
        "elevation_m": 300.0, "slope_deg": 5.0, "slope_mean_deg": 5.0, "relief_m": 80.0,
        "terrain_note": None, "hazard_kind": None, "hazard_level": None, "hazard_m": np.nan,
        "flood_level": None, "karst": False, "piped_water": True, "hardened_road_m": 50.0,
        "clinic_min": 5.0, "clinic_unreachable": None, "relocated": False,
    }  # fmt: skip
    return pd.DataFrame([row | columns])


def test_soft_criteria_add_up_to_the_threshold() -> None:
    p = policy()  # slope 2 + road 2 + water 1 = 5 = min_score
    steep_remote = evaluate(values(slope_deg=31.2, hardened_road_m=1450.0, piped_water=False), p)
    row = steep_remote.iloc[0]
    assert row.eligible and not row.hard and row.score == 5
    assert row.criteria == ["slope", "road", "water"]
    assert row.reasons["slope"] == {"value": 31.2, "limit": 25.0, "unit": "deg",
                                    "radius_m": None, "weight": 2.0}  # fmt: skip
    assert row.reasons["road"]["value"] == 1450.0
    assert row.reason_text == "坡度31°(≥25°)；距硬化路1.4公里(>1公里)；未通自来水；得分5(≥5)"
    steep_only = evaluate(values(slope_deg=31.2, piped_water=False), p).iloc[0]
    assert not steep_only.eligible and steep_only.score == 3
    assert steep_only.reason_text.endswith("得分3(<5)")


def test_a_hazard_zone_is_enough_and_the_limits_are_inclusive() -> None:
    row = evaluate(values(hazard_kind="landslide", hazard_level="high"), policy()).iloc[0]
    assert row.eligible and row.hard and row.criteria == ["hazard"]
    assert row.reason_text == "位于滑坡崩塌区(高风险)"
    at_limits = evaluate(values(slope_deg=25.0, elevation_m=800.0, hardened_road_m=1000.0,
                                clinic_min=30.0), policy()).iloc[0]  # fmt: skip
    assert at_limits.criteria == ["slope", "elevation"]  # at/above vs strictly beyond


def test_unreachable_clinic_and_no_road_count_as_far() -> None:
    row = evaluate(values(clinic_min=np.nan, clinic_unreachable="off_network",
                          hardened_road_m=np.inf), policy()).iloc[0]  # fmt: skip
    assert row.criteria == ["road", "clinic"]
    assert row.reasons["clinic"]["unreachable"] == "off_network"
    assert "无法到达卫生机构" in row.reason_text and "附近无硬化路" in row.reason_text


def test_no_terrain_data_is_said_and_not_held_against_anyone() -> None:
    row = evaluate(values(elevation_m=np.nan, slope_deg=np.nan, slope_mean_deg=np.nan,
                          relief_m=np.nan, terrain_note=NO_DATA), policy()).iloc[0]  # fmt: skip
    assert row.criteria == [] and not row.eligible
    assert row.reason_text == "无地形数据(no terrain data)"


def test_karst_without_water_and_relocated_households() -> None:
    karst = evaluate(values(karst=True, piped_water=False), policy()).iloc[0]
    assert karst.criteria == ["karst_water", "water"] and karst.score == 2
    moved = evaluate(values(hazard_kind="landslide", hazard_level="low", relocated=True),
                     policy()).iloc[0]  # fmt: skip
    assert moved.hard and not moved.eligible and "已搬迁" in moved.reason_text


def test_switched_off_criteria_and_mean_slope() -> None:
    row = evaluate(values(slope_deg=31.0, slope_mean_deg=21.0), policy(slope_radius_m=100.0))
    assert row.criteria.iloc[0] == []  # the mean within 100 m is what counts
    off = evaluate(
        values(slope_deg=31.0, hardened_road_m=5000.0), policy(slope_deg=False, road_m=False)
    )
    assert off.criteria.iloc[0] == []


def test_the_profile_is_checked() -> None:
    with pytest.raises(PolicyError, match="unknown criteria"):
        policy(hard=["hazard", "steepness"])
    with pytest.raises(PolicyError, match="unknown key"):
        policy(slope_degree=20)
    with pytest.raises(PolicyError, match="whole_hamlet_share"):
        policy(whole_hamlet_share=1.0)
    assert set(policy().weights) <= set(CRITERIA)


# --- grouping ---------------------------------------------------------------------------------


def grouped(eligible: list[bool], p, *, hamlet_ids=None, place_eligible=False, xy=None):
    """Run the grouping on households whose own verdicts are ``eligible``."""
    n = len(eligible)
    hamlet_ids = [1] * n if hamlet_ids is None else hamlet_ids
    xy = xy if xy is not None else [(i * 20.0, 0.0) for i in range(n)]
    homes = gpd.GeoDataFrame({"id": range(1, n + 1)},
                             geometry=[at(x, y) for x, y in xy], crs=UTM)  # fmt: skip
    households = pd.DataFrame({
        "household_id": range(1, n + 1), "township_code": TOWNSHIP, "village_code": VILLAGE,
        "hamlet_id": pd.array(hamlet_ids, dtype="Int64"), "members": 3,
        "eligible": eligible, "relocated": False, "criteria": [["slope"] if e else [] for e in
                                                               eligible],
        "reason_text": ["坡度30°" if e else None for e in eligible], "synthetic": True,
    })  # fmt: skip
    hamlets = pd.DataFrame({"hamlet_id": [1], "name": ["测试"], "eligible": [place_eligible],
                            "reason_text": ["坡度33°"]})  # fmt: skip
    return group_households(households, hamlets, homes, p, UTM)


@pytest.mark.parametrize(
    ("eligible", "expected"),
    [
        ([True] * 3 + [False] * 2, "whole"),  # 60 % > 50 %
        ([True] * 2 + [False] * 2, "scattered"),  # exactly half is not "most"
        ([True] * 1 + [False] * 4, "scattered"),
    ],
)
def test_most_households_make_a_whole_hamlet(eligible, expected) -> None:
    households, groups = grouped(eligible, policy())
    assert groups.relocation.tolist() == [expected]
    if expected == "whole":
        assert households.candidate.all() and set(households.relocation) == {"whole"}
        assert groups.whole_by.tolist() == ["share"]
        assert households.basis.tolist() == ["criteria"] * 3 + ["whole_hamlet"] * 2
        assert households.reason_text.iloc[4].startswith("整体搬迁：自然村测试5户中3户符合条件")
    else:
        assert households.candidate.tolist() == eligible
        assert groups.candidates.tolist() == [sum(eligible)]


def test_the_thresholds_are_the_profiles() -> None:
    two_of_three = [True, True, False]
    assert grouped(two_of_three, policy()).__getitem__(1).relocation.tolist() == ["whole"]
    small = policy(whole_hamlet_min_households=4)
    assert grouped(two_of_three, small)[1].relocation.tolist() == ["scattered"]
    strict = policy(whole_hamlet_share=0.7)
    assert grouped(two_of_three, strict)[1].relocation.tolist() == ["scattered"]


def test_a_hamlet_lacking_conditions_moves_whole_even_if_no_home_does() -> None:
    households, groups = grouped([False] * 4, policy(), place_eligible=True)
    assert households.candidate.all() and groups.whole_by.tolist() == ["place"]
    assert households.reason_text.iloc[0] == "整体搬迁：自然村测试不具备条件(坡度33°)"
    outline = gpd.GeoSeries(groups.geometry, crs=4326).to_crs(UTM).iloc[0]
    assert all(outline.covers(at(i * 20.0, 0)) for i in range(4))  # the outline holds them


def test_households_without_a_hamlet_are_clustered() -> None:
    xy = [(0, 0), (40, 0), (80, 0), (120, 10), (5000, 5000), (2000, 0), (2060, 0)]
    households, groups = grouped([True, True, True, False, True, True, False], policy(),
                                 hamlet_ids=[None] * 7, xy=xy)  # fmt: skip
    keys = households.group_key.tolist()
    assert keys[:3] == [f"cluster-{TOWNSHIP}-1"] * 3 and keys[3] == f"cluster-{TOWNSHIP}-1"
    assert keys[4] == "single-5" and keys[5] == "single-6" and keys[6] is None
    by_key = groups.set_index("group_key")
    assert by_key.loc[f"cluster-{TOWNSHIP}-1", "relocation"] == "whole"  # 3 of 4
    assert by_key.loc["single-5", "relocation"] == "scattered"  # one home is never "whole"
    assert by_key.loc["single-5", "basis"] == "single"


def test_dbscan_matches_the_textbook_definition() -> None:
    rng = np.random.default_rng(5)
    centres = rng.uniform(0, 3000, (6, 2))
    xy = np.vstack(
        [c + rng.normal(0, 40, (15, 2)) for c in centres] + [rng.uniform(0, 3000, (20, 2))]
    )
    eps, k = 120.0, 4
    labels = dbscan(xy, eps, k)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    core = (d <= eps).sum(axis=1) >= k
    for i in range(len(xy)):
        if core[i]:  # core points within eps of each other share a cluster
            same = core & (d[i] <= eps)
            assert (labels[same] == labels[i]).all() and labels[i] >= 0
        elif (d[i, core] <= eps).any():  # border: the cluster of its nearest core point
            near = np.flatnonzero(core)[np.argmin(d[i, core])]
            assert labels[i] == labels[near]
        else:
            assert labels[i] == -1
    assert labels.max() + 1 == len(set(labels[labels >= 0]))  # numbered 0..n-1


# --- a small world, end to end ----------------------------------------------------------------

SIZE = 6000.0  # metres each way


def small_world(tmp_path: Path) -> RelocationInputs:
    """West half a flat valley at 200 m, east half a mountainside rising 30° eastwards; a
    hardened road along the valley, a health centre, a school and a village clinic on it, a
    landslide zone on the mountain; three hamlets, a cluster and a lone house."""
    cell = 30.0
    n = int(SIZE / cell)
    _, cols = np.mgrid[0:n, 0:n]
    x = (cols + 0.5) * cell
    z = 200.0 + np.clip(x - 3000.0, 0, None) * math.tan(math.radians(30.0))
    dem = tmp_path / "world.tif"
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        height=n,
        width=n,
        count=1,
        dtype="float32",
        crs=UTM,
        transform=from_origin(X0, Y0 + SIZE, cell, cell),
    ) as dst:
        dst.write(z.astype("float32"), 1)  # fmt: skip

    def frame(columns: dict, geoms) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=UTM)

    square = shapely.box(X0, Y0, X0 + SIZE, Y0 + SIZE)
    hamlets = frame(
        {"id": [1, 2, 3], "village_code": VILLAGE, "name": ["河口", "高坡", "崩岗"],
         "population": [300, 40, 30], "road_hardened": [True, False, False],
         "piped_water": [True, False, False]},
        [at(1000, 3200), at(4000, 2000), at(3700, 4200)],
    )  # fmt: skip
    rng = np.random.default_rng(1)
    homes, hamlet_of = [], []
    for hid, (hx, hy), count in ((1, (1000, 3200), 10), (2, (4000, 2000), 6),
                                 (3, (3700, 4200), 4)):  # fmt: skip
        for dx, dy in rng.normal(0, 25, (count, 2)):
            homes.append(at(hx + dx, hy + dy))
            hamlet_of.append(hid)
    for dx, dy in rng.normal(0, 20, (4, 2)):  # a cluster of homes with no hamlet, in the valley
        homes.append(at(500 + dx, 2800 + dy))
        hamlet_of.append(None)
    homes.append(at(5500, 5500))  # a lone house high up the mountain
    hamlet_of.append(None)
    homes.append(at(SIZE + 3000, 3000))  # a house off the DEM: no terrain data
    hamlet_of.append(None)
    households = frame(
        {"id": range(1, len(homes) + 1), "village_code": VILLAGE,
         "hamlet_id": pd.array(hamlet_of, dtype="Int64"), "status": "poor",
         "housing_status": "safe", "members": 3, "synthetic": True},
        homes,
    )  # fmt: skip
    road = shapely.LineString([(X0, Y0 + 3000), (X0 + 3000, Y0 + 3000)])
    return RelocationInputs(
        households=households,
        hamlets=hamlets,
        villages=frame({"code": [VILLAGE], "township_code": TOWNSHIP, "name": "测试村",
                        "is_poor_village": True, "has_standard_clinic": True}, [square]),
        townships=frame({"code": [TOWNSHIP], "name": ["测试镇"]}, [square]),
        roads=frame({"id": [1], "road_class": ["county"], "surface": ["hardened"]}, [road]),
        clinics=frame({"id": [1, 2], "level": ["township_health_centre", "village_clinic"],
                       "standard": True, "village_code": VILLAGE},
                      [at(1000, 3000), at(2900, 3000)]),
        schools=frame({"id": [1], "level": ["primary"]}, [at(1500, 3050)]),
        water=frame({"id": [], "kind": []}, []),
        hazard_zones=frame({"kind": ["landslide"], "level": ["high"]},
                           [shapely.box(X0 + 3400, Y0 + 3900, X0 + 4000, Y0 + 4500)]),
        karst_zones=frame({"id": []}, []),
        dem_path=dem,
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[RelocationInputs, object]:
    inputs = small_world(tmp_path_factory.mktemp("world"))
    return inputs, assess_relocation(inputs, load_profile())


def test_the_small_world_finds_who_should_move(world) -> None:
    _, result = world
    h = result.households.set_index("household_id")
    valley, steep, slide = h.loc[1:10], h.loc[11:16], h.loc[17:20]
    cluster, lone, off_dem = h.loc[21:24], h.loc[25], h.loc[26]
    assert not valley.candidate.any() and not cluster.candidate.any()
    assert steep.candidate.all() and set(steep.relocation) == {"whole"}
    assert slide.candidate.all() and slide.hard.all()
    assert lone.candidate and lone.relocation == "scattered"
    assert {"slope", "elevation", "road", "water"} <= set(lone.criteria)
    assert off_dem.terrain_note == NO_DATA and "slope" not in off_dem.criteria
    places = result.hamlets.set_index("hamlet_id")
    assert places.loc[2, "candidate"] and places.loc[2, "relocation"] == "whole"
    assert places.loc[2, "slope_deg"] == pytest.approx(30.0, abs=0.5)
    assert not places.loc[1, "candidate"] and places.loc[1, "relocation"] is None


def test_the_small_world_sites_are_gentle_safe_and_reachable(world) -> None:
    inputs, result = world
    p = relocation_policy(load_profile())
    sites = result.sites
    assert len(sites) >= 2 and sites["rank"].tolist() == list(range(1, len(sites) + 1))
    assert (sites.slope_mean_deg <= p.site_max_slope_deg).all()
    assert (sites.hardened_road_m <= p.site_road_m).all()
    assert (sites.health_centre_min <= p.site_health_centre_minutes).all()
    assert (sites.school_min <= p.site_school_minutes).all()
    assert sites.score_min.is_monotonic_increasing
    metric = sites.to_crs(UTM)
    assert (metric.geometry.bounds.maxx <= X0 + 3000 + 1).all()  # all in the flat valley
    zone = inputs.hazard_zones.geometry.iloc[0]
    assert not metric.geometry.intersects(zone.buffer(p.site_hazard_buffer_m - 1)).any()
    expected = (sites.area_ha * 10_000 * p.site_usable_share // p.site_plot_m2).astype(int)
    assert (sites.capacity_households == expected).all()
    moving = result.households[result.households.candidate]
    reachable = moving.site_minutes.notna()
    assert moving.site_key[reachable].isin(sites.site_key).all()
    # only the house off the DEM, 3 km beyond the township and 6 km from any road, has no way
    assert moving.household_id[~reachable].tolist() == [26]
    assert (moving.site_minutes[reachable] > 0).all()
    assigned = moving.groupby("site_key").size()
    assert (sites.set_index("site_key").assigned_households.reindex(assigned.index) ==
            assigned).all()  # fmt: skip


def test_the_small_world_groups_have_outlines(world) -> None:
    _, result = world
    groups = result.groups.set_index("group_key")
    assert set(groups.relocation) == {"whole", "scattered"}
    assert groups.loc["hamlet-2", "whole_by"] == "place"
    assert groups.loc["hamlet-2", "reason_text"].startswith("整体搬迁：自然村高坡不具备条件")
    homes = result.households.set_index("household_id").geometry
    for key, group in groups.iterrows():
        members = result.households[result.households.group_key == key].household_id
        assert group.geometry.covers(shapely.MultiPoint(list(homes.loc[members])))


def test_no_suitable_land_means_no_site_not_a_failure(world) -> None:
    inputs, _ = world
    profile = load_profile(overrides={"relocation": {"site_min_area_ha": 10_000.0}})
    result = assess_relocation(inputs, profile)
    assert result.sites.empty and result.households.candidate.any()
    assert result.households.site_key.isna().all() and result.groups.site_key.isna().all()
