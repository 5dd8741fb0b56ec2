"""The routable network on a small hand-built road layer where every answer is known by hand.

Coordinates are metres in UTM 49N (EPSG:32649) relative to (X0, Y0), so nothing is
reprojected. Speeds: national hardened 60 km/h = 1,000 m/min, village hardened 30 km/h =
500 m/min; walking 4 km/h = 66.67 m/min (1 km = 15 min).

    R3 (dead end, T on R1)   R2 (crosses R1, no shared vertex)      R9 ring (self loop)
       ║                     ║              R5 (20 m short of R1)    ┌────┐
       ║                     ║      R7 ╱    ║                        │    │
    ●══╬═════════════════════╬══════╳═══════╤═════════════════════════●════┘
    C1 (0,0)  R1             ║    ╱ bridge  │ R4 (3 m short of R1: joined)
                             ║  ╱  (no junction where it crosses R1)
                             ╚╱                        R6 far east: its own component
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.access import Walker, access_to, nearest_line, snap_points
from geo.network import NetworkError, build_network
from geo.policy import load_profile

X0, Y0 = 500_000.0, 2_700_000.0
CRS = "EPSG:32649"
SPEEDS = {
    "network": {
        "speed_kmh": {"national": 60.0, "village": 30.0},
        "surface_factor": {"hardened": 1.0, "gravel": 0.5, "earth": 0.25},
    }
}
WALK = Walker(speed_kmh=4.0, max_walk_m=5000.0)

ROADS = {
    # name: (class, coordinates, bridge)
    "R1": ("national", [(0, 0), (4000, 0)], False),
    "R2": ("national", [(2000, -2000), (2000, 2000)], False),  # crosses R1: no shared vertex
    "R3": ("village", [(1000, 0), (1000, 1500)], False),  # T on R1's interior, dead end
    "R4": ("village", [(3000, -3), (3000, -1000)], False),  # ends 3 m short of R1 (tol. 5 m)
    "R5": ("village", [(3500, 20), (3500, 1000)], False),  # ends 20 m from R1: not joined
    "R6": ("national", [(20000, 0), (22000, 0)], False),  # far away: its own component
    "R7": ("national", [(2000, -1500), (3000, 500)], True),  # bridge over R1 at (2750, 0)
    "R9": ("village", [(4000, 0), (4500, 0), (4500, 500), (4000, 500), (4000, 0)], False),
    "R10": ("village", [(1000, 0), (1000, 0)], False),  # zero length
}


def pt(x: float, y: float) -> tuple[float, float]:
    return (X0 + x, Y0 + y)


def roads_frame(names=ROADS) -> gpd.GeoDataFrame:
    rows = [
        {"name": n, "road_class": ROADS[n][0], "surface": "hardened", "bridge": ROADS[n][2],
         "geometry": shapely.LineString([pt(*c) for c in ROADS[n][1]])}
        for n in names
    ]  # fmt: skip
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    frame["id"] = np.arange(1, len(frame) + 1)
    return frame


@pytest.fixture(scope="module")
def profile():
    return load_profile(overrides=SPEEDS)


@pytest.fixture(scope="module")
def net(profile):
    return build_network(roads_frame(), profile.network)


def minutes_from(net, facilities, homes, walker=WALK):
    """Minutes from each home (x, y relative) to the nearest facility, via geo.access."""
    xy = np.array([pt(*h) for h in homes])
    snap, walk = snap_points(net, xy, walker)
    fxy = np.array([pt(*f) for f in facilities]).reshape(-1, 2)
    return access_to(net, walker, xy, snap, walk, fxy)


def node_at(net, x, y, tol=0.01) -> bool:
    return bool((np.hypot(*(net.nodes - pt(x, y)).T) < tol).any())


# --- noding ------------------------------------------------------------------------------


def test_a_crossing_without_a_shared_vertex_becomes_a_junction(net) -> None:
    assert node_at(net, 2000, 0)
    result = minutes_from(net, [(0, 0)], [(2000, 1000)])  # on R2, 1 km above the crossing
    assert result.minutes[0] == pytest.approx(2.0 + 1.0)


def test_an_end_on_a_line_interior_splits_it(net) -> None:
    assert node_at(net, 1000, 0)
    # 100 m beyond the dead end of R3: 1 min on R1, 3 min up R3, 1.5 min walking
    result = minutes_from(net, [(0, 0)], [(1000, 1600)])
    assert result.minutes[0] == pytest.approx(1.0 + 3.0 + 1.5)


def test_an_end_within_the_snapping_tolerance_is_joined(net) -> None:
    result = minutes_from(net, [(0, 0)], [(3000, -1000)])  # far end of R4
    assert result.minutes[0] == pytest.approx(3.0 + 997 / 500)


def test_an_overshoot_within_the_tolerance_leaves_no_sliver(profile) -> None:
    roads = gpd.GeoDataFrame(
        {"road_class": ["national", "village"], "surface": ["hardened", "hardened"]},
        geometry=[shapely.LineString([pt(0, 0), pt(4000, 0)]),
                  shapely.LineString([pt(3000, 3), pt(3000, -1000)])],  # 3 m past R1
        crs=CRS,
    )  # fmt: skip
    net = build_network(roads, profile.network)
    assert net.diagnostics["slivers_dropped"] == 1
    assert net.diagnostics["self_loops"] == 0
    assert len(net.edges) == 3


def test_an_end_beyond_the_tolerance_is_not_joined(net) -> None:
    comp = net.node_component
    r5_end = np.argmin(np.hypot(*(net.nodes - pt(3500, 1000)).T))
    r1_start = np.argmin(np.hypot(*(net.nodes - pt(0, 0)).T))
    assert comp[r5_end] != comp[r1_start]
    # so the home at R5's end can only walk straight to the clinic (3,640 m)
    result = minutes_from(net, [(0, 0)], [(3500, 1000)])
    assert result.minutes[0] == pytest.approx(np.hypot(3500, 1000) / (4000 / 60))


def test_a_bridge_crosses_without_a_junction(net) -> None:
    assert not node_at(net, 2750, 0, tol=1.0)
    # 100 m beyond the bridge's end: via R2 down to the bridge's start, then over it
    result = minutes_from(net, [(0, 0)], [(3000, 600)])
    assert result.minutes[0] == pytest.approx(2.0 + 1.5 + np.hypot(1000, 2000) / 1000 + 1.5)


def test_the_same_crossing_is_a_junction_on_one_layer(profile) -> None:
    roads = roads_frame()
    roads["bridge"] = False
    flat = build_network(roads, profile.network)
    assert node_at(flat, 2750, 0)
    result = minutes_from(flat, [(0, 0)], [(3000, 600)])
    assert result.minutes[0] == pytest.approx(2.75 + np.hypot(250, 500) / 1000 + 1.5)


def test_a_dead_end_is_a_graph_bridge(net) -> None:
    """Removing R3 disconnects its far end: the classic cut edge, and it still routes."""
    dead_end = np.argmin(np.hypot(*(net.nodes - pt(1000, 1500)).T))
    assert np.count_nonzero(net.graph[dead_end].toarray()) == 1


def test_a_zero_length_segment_is_dropped(net) -> None:
    assert net.diagnostics["zero_length_dropped"] == 1
    assert (net.edges.length_m > 0).all()


def test_a_ring_road_is_a_self_loop_homes_can_lie_on(net) -> None:
    assert net.diagnostics["self_loops"] == 1
    # the ring's far corner is 1 km either way round from the junction at (4000, 0)
    result = minutes_from(net, [(0, 0)], [(4500, 500)])
    assert result.minutes[0] == pytest.approx(4.0 + 1000 / 500)


def test_components_are_known(net) -> None:
    assert net.n_components == 3  # the main network, R5, R6
    r6 = net.edges.road_id == 6
    assert net.edge_component[r6.to_numpy()].size == 1
    assert len(set(net.edge_component[r6.to_numpy()]) & set(net.edge_component[~r6])) == 0


def test_parallel_roads_keep_the_fastest(profile) -> None:
    roads = gpd.GeoDataFrame(
        {"road_class": ["village", "national"], "surface": ["earth", "hardened"]},
        geometry=[shapely.LineString([pt(0, 0), pt(1000, 0)])] * 2,
        crs=CRS,
    )
    net = build_network(roads, profile.network)
    assert net.graph.nnz == 2  # one pair of directed entries
    assert net.graph.data.max() == pytest.approx(1.0)


def test_unknown_class_is_an_error_naming_the_road(profile) -> None:
    roads = roads_frame(["R1"])
    roads.loc[0, "road_class"] = "highway"
    with pytest.raises(NetworkError, match=r"road 1: .*'highway'"):
        build_network(roads, profile.network)


# --- homes and facilities ----------------------------------------------------------------


def test_a_home_exactly_on_a_road_walks_nothing(net) -> None:
    snap, walk = snap_points(net, np.array([pt(500, 0)]), WALK)
    assert snap.distance_m[0] == 0 and walk[0] == 0
    assert minutes_from(net, [(0, 0)], [(500, 0)]).minutes[0] == pytest.approx(0.5)


def test_homes_snap_to_the_nearest_point_of_an_edge_not_a_vertex(net) -> None:
    snap, _ = snap_points(net, np.array([pt(1500, -40)]), WALK)
    assert snap.distance_m[0] == pytest.approx(40)
    assert snap.road_xy[0] == pytest.approx(pt(1500, 0))


def test_a_facility_far_from_any_road_adds_its_walk(net) -> None:
    # the clinic is 1,414 m from R2's south end (21.2 min walking); the home is on R1
    result = minutes_from(net, [(1000, -3000)], [(500, 0)])
    walk = np.hypot(1000, 1000) / (4000 / 60)
    assert result.minutes[0] == pytest.approx(1.5 + 2.0 + walk)


def test_a_home_and_facility_on_the_same_edge_go_straight(net) -> None:
    result = minutes_from(net, [(3200, 0)], [(3800, 0)])  # same R1 piece, 600 m apart
    assert result.minutes[0] == pytest.approx(0.6)


def test_the_nearest_of_several_facilities_wins_in_one_pass(net) -> None:
    result = minutes_from(net, [(0, 0), (4000, 0)], [(500, 0), (3900, 0), (1500, 0)])
    assert result.facility.tolist() == [0, 1, 0]
    assert result.minutes == pytest.approx([0.5, 0.1, 1.5])


def test_a_home_outside_every_clinic_component_is_unreachable_not_huge(net) -> None:
    result = minutes_from(net, [(0, 0)], [(21000, 100)])  # on R6, 100 m off it
    assert np.isinf(result.minutes[0]) and result.facility[0] == -1
    assert result.reason[0] == "no_path"


def test_a_home_beyond_walking_reach_of_every_road_is_off_network(net) -> None:
    result = minutes_from(net, [(0, 0)], [(21000, 8000)])
    assert np.isinf(result.minutes[0]) and result.reason[0] == "off_network"


def test_no_facility_at_all_is_said(net) -> None:
    result = minutes_from(net, [], [(500, 0)])
    assert np.isinf(result.minutes[0]) and result.reason[0] == "no_facility"


def test_exactly_thirty_minutes_walking(net) -> None:
    # 2 km west of R1's start: 30 min of walking to the clinic there
    result = minutes_from(net, [(0, 0)], [(-2000, 0), (-2001, 0)])
    assert result.minutes[0] == pytest.approx(30.0, abs=1e-9)
    assert result.minutes[1] > 30.0


def test_tobler_slows_uphill_and_flat_ground_walks_at_the_profile_speed(tmp_path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from geo.access import Dem

    # a DEM rising 10 m per 100 m eastwards (slope 0.1), 10 m cells
    z = np.tile(np.arange(400, dtype="float32") * 1.0, (50, 1))
    path = tmp_path / "dem.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=400,
        height=50,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=from_origin(X0, Y0 + 250, 10, 10),
    ) as d:
        d.write(z, 1)
    walker = Walker(4.0, Dem(path, CRS), step_m=10.0)
    start, end = np.array([pt(100, 0)]), np.array([pt(1100, 0)])
    up = walker.minutes(start, end)[0]
    down = walker.minutes(end, start)[0]
    tobler = np.exp(-3.5 * 0.05) / np.exp(-3.5 * np.array([0.15, 0.05]))  # slope +0.1, -0.1
    assert up == pytest.approx(15.0 * tobler[0], rel=0.02)
    assert down == pytest.approx(15.0 * tobler[1], rel=0.02)  # −0.1 + 0.05 is downhill-easy
    flat = Walker(4.0, Dem(path, CRS), step_m=10.0).minutes(
        np.array([pt(100, 0)]), np.array([pt(100, 200)])
    )[0]
    assert flat == pytest.approx(3.0)  # 200 m north along the contour


def test_nearest_line_distance_is_straight_line() -> None:
    lines = np.array([shapely.LineString([(0, 0), (10, 0)]), shapely.LineString([(0, 5), (10, 5)])])
    distance, index = nearest_line(shapely.points([[3, 1], [3, 4.5], [20, 0]]), lines)
    assert distance == pytest.approx([1.0, 0.5, 10.0])
    assert index.tolist() == [0, 1, 0]
    none, _ = nearest_line(shapely.points([[0, 0]]), np.array([], dtype=object))
    assert np.isinf(none[0])
