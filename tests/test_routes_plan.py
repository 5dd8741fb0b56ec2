"""Planning on a hand-built road grid: paths along the roads, a household off the network or
on a road that joins nothing, GPX/KML/GeoJSON for phones, result sheets back in.

Roads are a 6 × 4 km grid of hardened village roads (20 km/h = 333 m/min) in UTM 49N near
Lianzhou; the office sits on the grid's south-west corner. Pure computation: no database.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import geopandas as gpd
import gpxpy
import numpy as np
import pyproj
import pytest
import shapely

from geo.policy import load_profile
from geo.routing import export
from geo.routing.plan import Inspector, PlanError, PlanOptions, plan_routes
from geo.routing.sheets import SheetError, read_household_list, read_results_rows
from geo.routing.vrp import EPS

CRS = "EPSG:32649"
X0, Y0 = 640_000.0, 2_740_000.0
TO_LONLAT = pyproj.Transformer.from_crs(CRS, 4326, always_xy=True)
NAMES = ["张三明", "李四", "王小五", "赵六六", "钱七", "孙八宝", "周九", "吴十一", "郑冬梅", "冯春"]


def lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_LONLAT.transform(X0 + x, Y0 + y)


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    lines = [shapely.LineString([(X0, Y0 + y), (X0 + 6000, Y0 + y)]) for y in (0, 2000, 4000)]
    lines += [shapely.LineString([(X0 + x, Y0), (X0 + x, Y0 + 4000)]) for x in (0, 3000, 6000)]
    # a lone road far east: homes on it can be reached from nowhere we start
    lines.append(shapely.LineString([(X0 + 30_000, Y0), (X0 + 31_000, Y0)]))
    n = len(lines)
    return gpd.GeoDataFrame(
        {"road_class": ["village"] * n, "surface": ["hardened"] * n}, geometry=lines, crs=CRS
    )


def homes(points: list[tuple[float, float]], **columns) -> gpd.GeoDataFrame:
    n = len(points)
    frame = {
        "household_id": np.arange(1, n + 1),
        "household_no": [f"44188210520100{i:02d}" for i in range(1, n + 1)],
        "head_name": NAMES[:n],
        "village_name": ["测试村"] * n,
        **columns,
    }
    geometry = [shapely.Point(X0 + x, Y0 + y) for x, y in points]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


GRID_HOMES = [(1000, 40), (2500, 1960), (3040, 3000), (5000, 4030), (5960, 1000), (800, 2040)]
OFFICE = lonlat(0, 0)


def plan(frame, roads, **options):
    defaults = {"days": 1, "service_min": 20.0, "seed": 1, "start_date": dt.date(2018, 12, 21)}
    opts = PlanOptions.simple(options.pop("inspectors", 2), **(defaults | options))
    made = plan_routes(frame, OFFICE, roads, load_profile(), opts)
    made.meta.update(title="测试路线", synthetic=True, id=7)
    return made


def test_paths_follow_the_roads_and_visit_every_stop_in_order(roads) -> None:
    made = plan(homes(GRID_HOMES), roads)
    assert set(made.stops.status) == {"planned"}
    road_area = shapely.union_all(roads.to_crs(4326).geometry.to_numpy())
    to_utm = pyproj.Transformer.from_crs(4326, CRS, always_xy=True)
    utm_roads = shapely.union_all(roads.geometry.to_numpy()).buffer(1.0)
    for day in made.days[made.days.stops > 0].itertuples():
        stops = made.day_stops(day.inspector, day.day)
        path = shapely.transform(day.geometry, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
        # besides the short walks between doors and roads (≤ 60 m each way), all on roads
        walks = 2 * 60.0 * len(stops)
        off_road = path.difference(utm_roads).length
        assert off_road <= walks
        # the path passes every stop (within its walk) in order, and starts at the office
        legs = list(shapely.get_parts(path))
        assert len(legs) == len(stops) + 1
        for leg, stop in zip(legs, stops.itertuples(), strict=False):
            end = shapely.Point(to_utm.transform(stop.geometry.x, stop.geometry.y))
            assert shapely.get_point(leg, -1).distance(end) < 1.0
        first = shapely.Point(to_utm.transform(*OFFICE))
        assert shapely.get_point(legs[0], 0).distance(first) < 1.0
        assert day.distance_m == pytest.approx(path.length, rel=1e-6)
        # times add up: legs + back home = the day's travel; arrivals follow the legs
        assert stops.leg_min.sum() < day.travel_min
        assert stops.arrival_min.iloc[0] == pytest.approx(day.start_min + stops.leg_min.iloc[0])
    del road_area


def test_a_household_off_the_network_and_one_beyond_reach_are_explained(roads) -> None:
    points = [*GRID_HOMES, (3000, 12_000), (30_500, 30)]  # 8 km from any road; lone road
    made = plan(homes(points), roads)
    left = made.unassigned.set_index("household_no")
    assert set(left.reason) == {"off_network", "no_road_link"}
    off = left[left.reason == "off_network"].reason_text.iloc[0]
    assert "离道路过远" in off and "8.0公里" in off and "5.0公里" in off
    assert len(made.planned) == len(GRID_HOMES)


def test_one_day_too_short_leaves_households_out_with_minutes(roads) -> None:
    made = plan(homes(GRID_HOMES), roads, inspectors=1, hours=1.5, service_min=30.0)
    assert 0 < len(made.planned) < len(GRID_HOMES)
    assert set(made.unassigned.reason) <= {"no_room", "too_far"}
    assert all("分钟" in t for t in made.unassigned.reason_text)
    day = made.days.iloc[0]
    assert day.finish_min <= day.start_min + 90 + EPS


def test_time_windows_from_the_household_list_are_kept(roads) -> None:
    frame = homes(GRID_HOMES, window_start=[None, None, None, None, "09:00", None],
                  window_end=[None, None, None, "09:20", "09:45", None])  # fmt: skip
    made = plan(frame, roads, inspectors=1, hours=8.0)
    planned = made.planned.set_index("household_no")
    for number, lo, hi in (("4418821052010004", None, 560.0), ("4418821052010005", 540.0, 585.0)):
        begin = planned.loc[number, "begin_min"]
        assert (lo is None or begin >= lo - EPS) and begin <= hi + EPS


def test_the_same_seed_gives_the_same_plan(roads) -> None:
    points = [(x * 37 % 6000, (x * 53 % 4) * 1000 + 30) for x in range(1, 31)]
    frame = homes(points[:10])
    first = plan(frame, roads, seed=5, inspectors=2)
    again = plan(frame, roads, seed=5, inspectors=2)
    columns = ["household_no", "inspector", "day", "seq", "arrival_min"]
    assert first.stops[columns].equals(again.stops[columns])


def test_options_are_checked() -> None:
    with pytest.raises(PlanError, match="days"):
        PlanOptions((Inspector("甲"),), days=0)
    with pytest.raises(PlanError, match="midnight"):
        PlanOptions((Inspector("甲"),), day_start_min=20 * 60, hours=8)


# --- files for phones ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(roads):
    return plan(homes(GRID_HOMES), roads)


def test_gpx_parses_and_its_waypoints_are_the_stops_in_order(made) -> None:
    assert made.days.stops.sum() == len(GRID_HOMES)
    for day in made.days[made.days.stops > 0].itertuples():
        gpx = gpxpy.parse(export.to_gpx(made, day.inspector, day.day))
        stops = made.day_stops(day.inspector, day.day)
        assert gpx.version == "1.1"
        assert [w.name for w in gpx.waypoints] == [
            f"{int(s.seq):02d} {s.household_no}" for s in stops.itertuples()
        ]
        for w, s in zip(gpx.waypoints, stops.itertuples(), strict=True):
            assert (w.longitude, w.latitude) == pytest.approx(
                (s.geometry.x, s.geometry.y), abs=1e-6
            )
        (track,) = gpx.tracks
        points = [p for seg in track.segments for p in seg.points]
        assert (points[0].longitude, points[0].latitude) == pytest.approx(OFFICE, abs=1e-5)


def test_kml_and_geojson_hold_the_stops_and_masked_names_only(made) -> None:
    kml = export.to_kml(made)
    names = [e.text for e in ET.fromstring(kml).iter("{http://www.opengis.net/kml/2.2}name")]
    for number in made.planned.household_no:
        assert any(n and number in n for n in names)
    collection = json.loads(export.to_geojson(made))
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds.count("stop") == len(made.planned) and kinds.count("route") == len(made.days)
    assert kinds.count("depot") == 1
    assert collection["note"] == "示例数据（合成）"
    text = kml + export.to_gpx(made) + json.dumps(collection, ensure_ascii=False)
    for name in NAMES[: len(GRID_HOMES)]:
        assert name not in text
    assert "张*明" in text


# --- sheets ----------------------------------------------------------------------------------


def test_a_household_list_with_windows_and_must_visit() -> None:
    data = "户编号,必访,最早到访,最晚到访\n4418821052010001,是,9:00,11:30\n4418821052010002,,,\n"
    frame = read_household_list(data.encode("gbk"), "list.csv")
    assert frame.household_no.tolist() == ["4418821052010001", "4418821052010002"]
    assert frame.must_visit.tolist() == [True, False]
    assert frame.window_start.iloc[0] == "09:00" and frame.window_end.iloc[0] == "11:30"
    assert read_household_list(b"4418821052010001\n", "list.txt").household_no.tolist() == [
        "4418821052010001"
    ]


def test_results_sheet_errors_name_the_row_and_column() -> None:
    header = ["户编号", "结果", "走访日期", "住房安全"]
    with pytest.raises(SheetError, match=r"row 3 .*4418821052010002.*结果 '好'"):
        read_results_rows([header, ["4418821052010001", "核实无误", "2018-12-21", "√"],
                           ["4418821052010002", "好", "", ""]], "r.csv")  # fmt: skip
    with pytest.raises(SheetError, match=r"row 2 .*住房安全"):
        read_results_rows([header, ["4418821052010001", "发现问题", "2018/12/21", "?"]], "r.csv")
    rows = read_results_rows([header, ["4418821052010001", "发现问题", "2018年12月21日", "×"]], "r")
    assert rows.result.iloc[0] == "issues" and not rows.check_housing.iloc[0]
    assert rows.visit_date.iloc[0] == dt.date(2018, 12, 21)
