"""Siting on tiny worlds where the best sites are known by hand, and the solver against every
possible choice on small random instances.

The line world: one national road west–east (60 km/h: a kilometre a minute), homes 100 m off
it (1.5 minutes' walk at 4 km/h) in five clusters, a candidate site on the road at each:

    cluster   x (km)   homes            weight (poor 3, exited 1)
    A         0        4 exited          4
    B         3        2 poor            6
    C         6        3 exited          3
    D         9        1 poor            3
    E         12       2 exited          2

Within 5 minutes a site reaches homes up to 3.5 km along the road: s0 → A B, s3 → A B C,
s6 → B C D, s9 → C D E, s12 → D E. Within 2.5 minutes (1 km) each reaches its own cluster.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from geo.access import Walker, access_to, snap_points, travel_matrix
from geo.network import build_network
from geo.policy import deep_merge, load_profile
from geo.siting import CoverProblem, SitingError, household_weights, siting_policy, solve
from tests.test_network import CRS, SPEEDS, pt

CLUSTERS = {"A": (0, 4, "exited"), "B": (3, 2, "poor"), "C": (6, 3, "exited"),
            "D": (9, 1, "poor"), "E": (12, 2, "exited")}  # fmt: skip
SITES = [0, 3, 6, 9, 12]  # km


def line_world():
    profile = load_profile(overrides=deep_merge(SPEEDS, {}))
    roads = gpd.GeoDataFrame(
        {"id": [1], "road_class": ["national"], "surface": ["hardened"]},
        geometry=[shapely.LineString([pt(-1000, 0), pt(13000, 0)])],
        crs=CRS,
    )
    network = build_network(roads, profile.network)
    homes = pd.DataFrame(
        [(name, x * 1000 + 10 * i, status) for name, (x, n, status) in CLUSTERS.items()
         for i in range(n)], columns=["cluster", "x", "status"],
    )  # fmt: skip
    xy = np.array([pt(x, 100) for x in homes.x])
    site_xy = np.array([pt(x * 1000, 0) for x in SITES])
    walker = Walker(speed_kmh=4.0, max_walk_m=5000.0)
    snap, walk = snap_points(network, xy, walker)
    minutes = travel_matrix(network, walker, xy, snap, walk, site_xy)
    weights = household_weights(homes.status, siting_policy(profile))
    return homes, minutes, weights


@pytest.fixture(scope="module")
def world():
    return line_world()


def clusters_of(homes, problem, sites) -> str:
    return "".join(sorted(set(homes.cluster.iloc[problem.covered_points(sites)])))


def test_travel_minutes_are_walk_plus_road(world) -> None:
    _homes, minutes, _ = world
    # site s3 to the first home of A: 3 km of road (3 min) + 100 m walk (1.5 min)
    assert minutes[1, 0] == pytest.approx(4.5)
    assert minutes[0, 0] == pytest.approx(1.5)


def test_one_site_goes_where_it_reaches_most_weight(world) -> None:
    homes, minutes, weights = world
    problem = CoverProblem.from_minutes(minutes, 5.0, weights)
    result = solve(problem, count=1)
    assert result.best.sites == (1,)  # s3: A B C = 4 + 6 + 3
    assert result.best.covered_weight == 13
    assert clusters_of(homes, problem, result.best.sites) == "ABC"
    assert result.optimal and result.gap == 0


def test_two_sites_reach_everyone(world) -> None:
    homes, minutes, weights = world
    problem = CoverProblem.from_minutes(minutes, 5.0, weights)
    result = solve(problem, count=2, alternatives=3)
    assert result.best.covered_weight == weights.sum() == 18
    assert clusters_of(homes, problem, result.best.sites) == "ABCDE"
    # ranked: never better than the best, each a different choice
    values = [a.covered_weight for a in result.alternatives]
    assert values == sorted(values, reverse=True) and all(v <= 18 for v in values)
    choices = {frozenset(result.best.sites)} | {frozenset(a.sites) for a in result.alternatives}
    assert len(choices) == 1 + len(result.alternatives)


def test_close_limit_picks_the_two_heaviest_clusters(world) -> None:
    _homes, minutes, weights = world
    problem = CoverProblem.from_minutes(minutes, 2.5, weights)
    result = solve(problem, count=2)
    assert set(result.best.sites) == {0, 1}  # B (2 poor: 6), then A (4 exited: 4)
    assert result.best.sites[0] == 1 and result.best.gains == (6.0, 4.0)


def test_poor_households_come_first() -> None:
    # site 0 reaches 5 exited households, site 1 reaches 3 poor ones
    minutes = np.array([[1, 1, 1, 1, 1, 99, 99, 99], [99, 99, 99, 99, 99, 1, 1, 1]], float)
    status = pd.Series(["exited"] * 5 + ["poor"] * 3)
    policy = siting_policy(load_profile())
    weighted = CoverProblem.from_minutes(minutes, 30, household_weights(status, policy))
    unweighted = CoverProblem.from_minutes(minutes, 30, np.ones(8))
    assert solve(weighted, count=1).best.sites == (1,)
    assert solve(unweighted, count=1).best.sites == (0,)


def test_travel_matrix_agrees_with_the_coverage_model() -> None:
    from tests.test_coverage import world as coverage_world

    inputs = coverage_world()
    profile = load_profile(overrides=deep_merge(SPEEDS, {}))
    network = build_network(inputs.roads, profile.network)
    walker = Walker.from_policy(profile.walk, None, network.crs)
    xy = shapely.get_coordinates(inputs.households.geometry.to_numpy())
    sites = shapely.get_coordinates(inputs.clinics.geometry.to_numpy())
    snap, walk = snap_points(network, xy, walker)
    matrix = travel_matrix(network, walker, xy, snap, walk, sites)
    for j in range(len(sites)):  # each site alone, and all together
        alone = access_to(network, walker, xy, snap, walk, sites[j : j + 1]).minutes
        np.testing.assert_allclose(matrix[j], alone)
    together = access_to(network, walker, xy, snap, walk, sites).minutes
    np.testing.assert_allclose(matrix.min(axis=0), together)
    assert np.isinf(together).any()  # the unreachable homes stay unreachable


def test_budget_buys_the_most_weight_per_kilometre() -> None:
    # three segments: 3 km reaching 10, 1 km reaching 6, 1 km reaching 5 (overlapping 1)
    covers = np.zeros((3, 20), dtype=bool)
    covers[0, :10] = True
    covers[1, 10:16] = True
    covers[2, 15:20] = True
    problem = CoverProblem(sp.csr_matrix(covers), np.ones(20), np.array([3.0, 1.0, 1.0]))
    assert solve(problem, budget=2.0).best.sites == (1, 2)  # 10 households for 2 km
    best = solve(problem, budget=4.0).best
    assert set(best.sites) == {0, 1} and best.covered_weight == 16 and best.cost == 4.0
    assert solve(problem, budget=5.0).best.covered_weight == 20


def test_exact_on_every_small_instance() -> None:
    rng = np.random.default_rng(19)
    for _ in range(60):
        m, n = int(rng.integers(2, 8)), int(rng.integers(3, 25))
        minutes = rng.uniform(0, 60, (m, n))
        weights = rng.integers(1, 4, n).astype(float)
        problem = CoverProblem.from_minutes(minutes, 25, weights, costs=rng.uniform(0.5, 3, m))
        k = int(rng.integers(1, m + 1))
        by_hand = max(problem.covered_weight(c) for c in itertools.combinations(range(m), k))
        result = solve(problem, count=k, alternatives=1)
        assert result.best.covered_weight == pytest.approx(by_hand)
        assert result.greedy_weight <= by_hand + 1e-9
        budget = float(rng.uniform(0.5, 6))
        affordable = [c for r in range(m + 1) for c in itertools.combinations(range(m), r)
                      if problem.costs[list(c)].sum() <= budget]  # fmt: skip
        best = max(problem.covered_weight(c) for c in affordable)
        assert solve(problem, budget=budget).best.covered_weight == pytest.approx(best)


def test_nobody_to_cover_is_answered_not_failed() -> None:
    result = solve(CoverProblem.from_minutes(np.zeros((3, 0)), 30, np.zeros(0)), count=2)
    assert result.best.sites == () and result.optimal and result.best.covered_weight == 0


def test_zero_gain_sites_are_not_proposed() -> None:
    minutes = np.array([[1.0, 1.0], [1.0, 99.0], [99.0, 99.0]])
    result = solve(CoverProblem.from_minutes(minutes, 30, np.ones(2)), count=3)
    assert result.best.sites == (0,)  # the other two add nothing


def test_bad_requests_say_why(world) -> None:
    _, minutes, weights = world
    problem = CoverProblem.from_minutes(minutes, 5.0, weights)
    with pytest.raises(SitingError, match="6 sites asked for but only 5 candidate"):
        solve(problem, count=6)
    with pytest.raises(SitingError, match="at least 1"):
        solve(problem, count=0)
    costly = CoverProblem(problem.covers, weights, np.ones(5))
    with pytest.raises(SitingError, match="budget must be more than 0"):
        solve(costly, budget=0.0)


# --- scenarios on the coverage test world (tests/test_coverage.py) ------------------------


def _coverage_world():
    from tests.test_coverage import world

    return world(), load_profile(overrides=deep_merge(SPEEDS, {}))


def _flipped(inputs, changes, profile) -> dict[int, set[str]]:
    from geo.coverage import assess
    from geo.scenario import apply, newly_covered

    base = assess(inputs, profile, with_isochrones=False)
    after = assess(apply(inputs, changes, profile), profile, with_isochrones=False)
    flipped = newly_covered(base, after)
    return {int(h): set(g.criterion) for h, g in flipped.groupby("household_id")}


def test_hardening_the_gravel_road_covers_the_home_past_its_end() -> None:
    from geo.scenario import Changes

    inputs, profile = _coverage_world()
    r3 = int(inputs.roads.loc[inputs.roads.name == "R3", "id"].iloc[0])
    before = inputs.roads.copy()
    # home 2, 100 m past R3's end: a hardened road at 100 m, and its hamlet h2 (250 people,
    # recorded without one) now connected to the national road over hardened roads
    assert _flipped(inputs, Changes(harden=(r3,)), profile) == {2: {"road", "hamlet_road"}}
    assert inputs.roads.equals(before)  # the inputs given are not changed


def test_a_new_clinic_flips_only_the_homes_it_reaches() -> None:
    from geo.scenario import Changes

    inputs, profile = _coverage_world()
    clinic = gpd.GeoDataFrame(
        {"kind": ["clinic"], "name": ["新卫生站"]}, geometry=[shapely.Point(pt(-2001, 0))], crs=CRS
    ).to_crs(4326)
    flipped = _flipped(inputs, Changes(facilities=clinic), profile)
    assert flipped == {4: {"clinic"}}  # 30.02 min before; home 5 on the cut-off road stays


def test_a_new_road_is_joined_and_one_touching_nothing_is_refused() -> None:
    from geo.scenario import Changes, ScenarioError, connect_roads

    inputs, profile = _coverage_world()
    roads = inputs.roads.to_crs(4326)
    # from 20 m beside R1 (drawing error) north to home 2's hamlet
    drawn = gpd.GeoDataFrame(
        {"name": ["新村道"], "road_class": ["village"], "surface": ["hardened"]},
        geometry=[shapely.LineString([pt(1100, 20), pt(1100, 1600)])], crs=CRS,
    ).to_crs(4326)  # fmt: skip
    joined = connect_roads(drawn, roads, 30.0)
    start = gpd.GeoSeries([shapely.Point(joined.geometry.iloc[0].coords[0])], crs=4326)
    assert start.to_crs(CRS).iloc[0].distance(shapely.Point(pt(1100, 0))) < 0.01  # onto R1
    assert 2 in _flipped(inputs, Changes(roads=drawn), profile)
    far = gpd.GeoDataFrame(
        {"name": ["断头路"], "road_class": ["village"], "surface": ["hardened"]},
        geometry=[shapely.LineString([pt(21000, 7000), pt(21000, 8000)])], crs=CRS,
    ).to_crs(4326)  # fmt: skip
    with pytest.raises(ScenarioError, match=r"断头路.*touches no road: the nearest is \d+ m"):
        connect_roads(far, roads, 30.0)


def test_a_time_limited_or_greedy_answer_reports_its_gap() -> None:
    rng = np.random.default_rng(7)
    minutes = rng.uniform(0, 120, (150, 2000))
    problem = CoverProblem.from_minutes(minutes, 20, rng.integers(1, 4, 2000).astype(float))
    quick = solve(problem, count=6, exact=False)  # greedy + swap only
    assert quick.method == "greedy+swap" and not quick.optimal
    assert quick.bound >= quick.best.covered_weight and 0 <= quick.gap < 1
    limited = solve(problem, count=6, time_limit_s=0.5)
    assert limited.best.covered_weight >= quick.best.covered_weight - 1e-9
    assert limited.optimal or limited.bound >= limited.best.covered_weight
    assert limited.gap == 0 or not limited.optimal
