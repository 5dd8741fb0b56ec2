"""Coverage criteria on the hand-built network of test_network: every flag known by hand.

Township 449801100 with a poor village V1 (around the main network) and a non-poor village V2
(far east, around road R6 which no clinic can be reached from). One clinic at R1's start
(a 乡镇卫生院, 0 m), a substandard village clinic, a primary school at R1's start, a water
supply area around R6. Speeds as in test_network (R3 is gravel here: 250 m/min).

    home  place                         fails (defaults)
    1     on R1, piped hamlet h1         nothing
    2     100 m past R3's gravel end     road (1,000 m), hamlet_road (h2), water
    3     2,000 m west of the clinic     road, hamlet_road (h5: computed); clinic exactly 30 min
    4     2,001 m west, no cadre         road, hamlet_road, clinic (30.02 min), cadre
    5     by R6 (no clinic there)        clinic/health_centre/school unreachable (no_path), cadre
    6     8 km from every road           road, clinic/health_centre/school (off_network), water
    7     exited household by home 1     nothing (assessed by default)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.access import Walker, access_to, snap_points
from geo.coverage import CRITERIA, CoverageInputs, assess
from geo.network import build_network
from geo.policy import deep_merge, load_profile
from tests.test_network import CRS, SPEEDS, pt, roads_frame

TOWNSHIP, V1, V2 = "449801100", "449801100201", "449801100202"


def box(x0, y0, x1, y1):
    return shapely.box(*pt(x0, y0), *pt(x1, y1))


def frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def world() -> CoverageInputs:
    roads = roads_frame()
    roads.loc[roads.name == "R3", "surface"] = "gravel"
    v1, v2 = box(-3000, -3000, 5000, 3000), box(19000, -1000, 23000, 9000)
    hamlets = [  # id, village, xy, population, road_hardened, piped
        (1, V1, (500, 0), 300, True, True),
        (2, V1, (1000, 1600), 250, False, False),
        (3, V1, (3900, -50), 150, False, False),
        (4, V2, (21000, 100), 400, False, False),
        (5, V1, (-2000, 0), 220, True, True),
    ]
    homes = [  # id, village, hamlet, xy, cadre, scattered, status
        (1, V1, 1, (500, 0), 1, False, "poor"),
        (2, V1, 2, (1000, 1600), 1, False, "poor"),
        (3, V1, 5, (-2000, 0), 2, False, "poor"),
        (4, V1, 5, (-2001, 0), None, True, "poor"),
        (5, V2, 4, (21000, 100), None, False, "poor"),
        (6, V2, None, (21000, 8000), 3, True, "poor"),
        (7, V1, 1, (500, 10), 1, False, "exited"),
    ]
    return CoverageInputs(
        households=frame([
            {"id": i, "village_code": v, "hamlet_id": h, "cadre_id": c, "scattered": s,
             "status": st, "geometry": shapely.Point(pt(*xy))}
            for i, v, h, xy, c, s, st in homes
        ]),
        hamlets=frame([
            {"id": i, "village_code": v, "name": f"h{i}", "population": p, "road_hardened": r,
             "piped_water": w, "geometry": shapely.Point(pt(*xy))}
            for i, v, xy, p, r, w in hamlets
        ]),
        villages=frame([
            {"code": V1, "township_code": TOWNSHIP, "name": "V1", "is_poor_village": True,
             "has_standard_clinic": False, "geometry": v1},
            {"code": V2, "township_code": TOWNSHIP, "name": "V2", "is_poor_village": False,
             "has_standard_clinic": False, "geometry": v2},
        ]),
        roads=roads,
        clinics=frame([
            {"id": 11, "name": "卫生院", "level": "township_health_centre", "standard": True,
             "village_code": None, "geometry": shapely.Point(pt(0, 0))},
            {"id": 12, "name": "卫生站", "level": "village_clinic", "standard": False,
             "village_code": V1, "geometry": shapely.Point(pt(3900, 0))},
        ]),
        schools=frame([{"id": 21, "name": "小学", "level": "primary",
                        "geometry": shapely.Point(pt(0, 0))}]),
        water=frame([{"id": 31, "kind": "supply_area", "geometry": box(20500, -500, 21500, 500)}]),
        townships=frame([{"code": TOWNSHIP, "name": "测试镇", "geometry": v1.union(v2)}]),
    )  # fmt: skip


def run(overrides: dict | None = None, inputs: CoverageInputs | None = None, **kw):
    profile = load_profile(overrides=deep_merge(SPEEDS, overrides or {}))
    return assess(inputs or world(), profile, with_isochrones=kw.pop("with_isochrones", False))


@pytest.fixture(scope="module")
def result():
    return run(with_isochrones=True)


def flags_of(result) -> dict[int, list[str]]:
    return dict(zip(result.households.household_id, result.households["flags"], strict=True))


def home(result, household_id: int) -> pd.Series:
    rows = result.households
    return rows[rows.household_id == household_id].iloc[0]


# --- per household ----------------------------------------------------------------------


def test_each_household_fails_exactly_the_criteria_known_by_hand(result) -> None:
    assert flags_of(result) == {
        1: [],
        2: ["road", "hamlet_road", "water"],
        3: ["road", "hamlet_road"],
        4: ["road", "hamlet_road", "clinic", "cadre"],
        5: ["clinic", "health_centre", "school", "cadre"],
        6: ["road", "clinic", "health_centre", "school", "water"],
        7: [],
    }
    assert result.households.uncovered.tolist() == [False, True, True, True, True, True, False]


def test_values_known_by_hand(result) -> None:
    two = home(result, 2)
    assert two.hardened_road_m == pytest.approx(1000)  # R2 (R3 is gravel)
    assert two.clinic_min == pytest.approx(1.0 + 1500 / 250 + 1.5)  # R1, gravel R3, walk
    assert two.clinic_id == 11 and two.school_id == 21
    assert home(result, 1).water_source == "hamlet"
    assert home(result, 5).water_source == "supply_area" and home(result, 5).piped_water


def test_reasons_carry_the_value_that_failed(result) -> None:
    assert home(result, 2).reasons["road"] == {"value": 1000.0, "limit": 500.0, "unit": "m"}
    value = round(2001 / (4000 / 60), 2)  # 30.015 min of walking
    assert home(result, 4).reasons["clinic"] == {"value": value, "limit": 30.0, "unit": "min"}
    assert home(result, 2).reasons["hamlet_road"]["why"] == "recorded+computed"
    assert home(result, 3).reasons["hamlet_road"]["why"] == "computed"
    assert "距硬化路1000米(>500)" in home(result, 2).reason_text
    assert "到最近卫生机构30分钟(>30)" in home(result, 4).reason_text


def test_exactly_at_the_limit_is_covered(result) -> None:
    three = home(result, 3)
    assert three.clinic_min == pytest.approx(30.0, abs=1e-9)
    assert not three.flag_clinic
    assert run({"clinic": {"max_minutes": 29.99}}).households.flag_clinic.iloc[2]


def test_unreachable_is_explicit_not_a_huge_number(result) -> None:
    five, six = home(result, 5), home(result, 6)
    assert np.isnan(five.clinic_min) and pd.isna(five.clinic_id)
    assert five.unreachable == {"clinic": "no_path", "village_clinic": "no_path",
                                "health_centre": "no_path", "school": "no_path"}  # fmt: skip
    assert five.reasons["clinic"]["value"] is None
    assert five.reasons["clinic"]["unreachable"] == "no_path"
    assert six.unreachable["clinic"] == "off_network" and np.isnan(six.road_m)
    assert "无法到达最近卫生机构(离路过远)" in six.reason_text
    finite = result.households[["clinic_min", "school_min", "health_centre_min"]].stack()
    assert (finite < 1e6).all()


# --- profile overrides ------------------------------------------------------------------


def test_profile_overrides_change_the_flags() -> None:
    stricter = flags_of(run({"clinic": {"max_minutes": 25}}))
    assert "clinic" in stricter[3]
    no_road = run({"road": {"max_distance_m": False}}).households
    assert not no_road.flag_road.any()
    scattered = flags_of(run({"cadre": {"scattered_only": True}}))
    assert "cadre" in scattered[4] and "cadre" not in scattered[5]
    poor_only = run({"assess": {"statuses": ["poor"]}}).households
    assert 7 not in set(poor_only.household_id)
    all_hamlets = flags_of(run({"road": {"hamlet_poor_villages_only": False}}))
    assert "hamlet_road" in all_hamlets[5]
    village_clinic = flags_of(run({"clinic": {"village_clinic_max_minutes": 3}}))
    assert "village_clinic" in village_clinic[1]  # 3.4 km (min) to the village clinic on R1
    juniors = run({"school": {"levels": ["junior"]}}).households
    assert juniors.flag_school.all()
    assert {u["school"] for u in juniors.unreachable} == {"no_facility"}


def test_recorded_road_state_can_be_ignored() -> None:
    hamlets = run({"road": {"hamlet_use_recorded": False}}).hamlets.set_index("hamlet_id")
    assert hamlets.hardening_reason.to_dict() == {1: None, 2: "computed", 3: None, 4: None,
                                                  5: "computed"}  # fmt: skip


# --- hamlets, villages, township --------------------------------------------------------


def test_hamlets_of_200_without_hardened_road_in_poor_villages(result) -> None:
    hamlets = result.hamlets.set_index("hamlet_id")
    assert hamlets.needs_hardening.to_dict() == {1: False, 2: True, 3: False, 4: False, 5: True}
    assert hamlets.loc[5, "hardened_road_m"] == pytest.approx(2000)
    assert not hamlets.loc[5, "hardened_connected"] and hamlets.loc[1, "hardened_connected"]
    assert hamlets.uncovered.to_dict() == {1: 0, 2: 1, 3: 0, 4: 1, 5: 2}


def test_summary_counts_equal_the_household_flags(result) -> None:
    homes = result.households
    villages = result.villages.set_index("village_code")
    for code, group in homes.groupby("village_code"):
        assert villages.loc[code, "households"] == len(group)
        assert villages.loc[code, "uncovered"] == group.uncovered.sum()
        for criterion in CRITERIA:
            column = f"flag_{criterion}"
            assert villages.loc[code, column] == group[column].sum(), (code, criterion)
    township = result.townships.iloc[0]
    assert township.households == len(homes) == 7
    assert township.uncovered == homes.uncovered.sum() == 5
    for criterion in CRITERIA:
        assert township[f"flag_{criterion}"] == villages[f"flag_{criterion}"].sum()
    assert township.hamlets_needing_road == 2


def test_poor_villages_without_a_standard_clinic(result) -> None:
    villages = result.villages.set_index("village_code")
    assert villages.loc[V1, "lacks_standard_clinic"]  # its village clinic is substandard
    assert not villages.loc[V2, "lacks_standard_clinic"]  # not a poor village
    assert result.townships.iloc[0].poor_villages_without_standard_clinic == 1
    inputs = world()
    inputs.clinics.loc[inputs.clinics.id == 12, "standard"] = True
    assert (
        not run(inputs=inputs).villages.set_index("village_code").loc[V1, "lacks_standard_clinic"]
    )


def test_piped_water_shares_and_cadre_workload(result) -> None:
    v1 = result.villages.set_index("village_code").loc[V1]
    assert v1.piped_share == pytest.approx((300 + 220) / (300 + 250 + 150 + 220))
    assert v1.piped_household_share == pytest.approx(4 / 5)
    assert v1.cadres == 2 and v1.max_cadre_load == 3  # cadre 1 covers homes 1, 2 and 7
    assert v1.households_per_cadre == pytest.approx(4 / 2)
    assert v1.cadres_over_limit == 0
    tight = run({"cadre": {"max_households": 2}}).villages.set_index("village_code")
    assert tight.loc[V1, "cadres_over_limit"] == 1


# --- isochrones -------------------------------------------------------------------------


def test_isochrones_hold_the_places_within_reach(result) -> None:
    iso = result.isochrones
    assert set(iso.minutes) == {15.0, 30.0, 60.0}
    assert set(iso.facility_id) <= {11, 12}
    profile = load_profile(overrides=SPEEDS)
    roads = world().roads
    roads.loc[roads.name == "R3", "surface"] = "gravel"
    net = build_network(roads, profile.network)
    walker = Walker(4.0, max_walk_m=5000.0)
    rng = np.random.default_rng(7)
    xy = np.column_stack([rng.uniform(-3000, 5000, 400), rng.uniform(-3000, 3000, 400)])
    xy = xy + np.array(pt(0, 0))
    snap, walk = snap_points(net, xy, walker)
    clinics = np.array([pt(0, 0), pt(3900, 0)])
    minutes = access_to(net, walker, xy, snap, walk, clinics).minutes
    for limit in (15.0, 30.0):
        area = shapely.union_all(iso[iso.minutes == limit].to_crs(CRS).geometry.to_numpy())
        inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
        # a 100 m cell is at most ~1.1 min of walking across
        assert inside[minutes <= limit - 2].all()
        assert not inside[minutes >= limit + 2].any()
        assert inside.any() and not inside.all()
