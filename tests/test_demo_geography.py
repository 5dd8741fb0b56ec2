"""The synthetic Lianzhou geography: determinism, exact tiling, codes, network, DEM, hazards.

Pure tests (no database): the geography is built once per module into a temporary folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo import divisions, vocab
from geo.demo.world import Geography, build_geography, load_county

SEED = 1
UTM = "EPSG:32649"
LAYERS = (
    "townships",
    "villages",
    "hamlets",
    "rivers",
    "roads",
    "clinics",
    "water",
    "schools",
    "hazard_zones",
    "karst_zones",
)
SEED_001_KEY_VILLAGES = {
    "大路边镇": 5,
    "星子镇": 6,
    "西江镇": 2,
    "龙坪镇": 5,
    "九陂镇": 6,
    "连州镇": 5,
    "保安镇": 6,
    "西岸镇": 6,
    "东陂镇": 6,
    "瑶安瑶族乡": 3,
    "丰阳镇": 6,
    "三水瑶族乡": 1,
}


@pytest.fixture(scope="module")
def county() -> shapely.Geometry:
    return load_county("441882")


@pytest.fixture(scope="module")
def geo(county, tmp_path_factory) -> Geography:
    return build_geography(county, SEED, tmp_path_factory.mktemp("geo"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _comparable(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Geometry columns as WKB so frames compare exactly."""
    out = pd.DataFrame(frame).copy()
    for column in out.columns:
        if isinstance(frame[column].dtype, gpd.array.GeometryDtype):
            out[column] = shapely.to_wkb(np.asarray(frame[column].values))
    return out


def _to_utm(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Densified to 0.0002° (~20 m) first, so edges straight in degrees stay straight."""
    return gpd.GeoSeries(shapely.segmentize(geoms.to_numpy(), 0.0002), crs=geoms.crs).to_crs(UTM)


def _assert_tiles(children: gpd.GeoSeries, parent: shapely.Geometry) -> None:
    """Children cover the parent with gaps and overlaps under 1 m² (areas in UTM 49N)."""
    kids = _to_utm(children)
    whole = _to_utm(gpd.GeoSeries([parent], crs=children.crs)).iloc[0]
    union = shapely.union_all(kids.to_numpy())
    assert abs(kids.area.sum() - union.area) < 1.0, "children overlap"
    assert whole.difference(union).area < 1.0, "gap inside the parent"
    assert union.difference(whole).area < 1.0, "children spill out of the parent"


def test_same_seed_gives_identical_data_and_dem(geo, county, tmp_path):
    again = build_geography(county, SEED, tmp_path / "again")
    for name in LAYERS:
        pd.testing.assert_frame_equal(
            _comparable(getattr(geo, name)), _comparable(getattr(again, name)), obj=name
        )
    assert _sha256(geo.dem_path) == _sha256(again.dem_path)


def test_other_seed_gives_other_data(geo, county, tmp_path):
    other = build_geography(county, SEED + 1, tmp_path / "other")
    assert _sha256(geo.dem_path) != _sha256(other.dem_path)
    assert not geo.villages.geometry.geom_equals(other.villages.geometry).all()


def test_every_layer_is_synthetic_wgs84_and_valid(geo):
    for name in LAYERS:
        frame = getattr(geo, name)
        assert len(frame) > 0, name
        assert frame.crs.to_epsg() == 4326, name
        assert frame["synthetic"].all(), name
        assert frame.geometry.is_valid.all() and not frame.geometry.is_empty.any(), name


def test_townships_are_the_twelve_real_ones_and_tile_the_county(geo, county):
    townships = geo.townships
    assert set(townships.name) == set(SEED_001_KEY_VILLAGES)
    assert townships.code.str.fullmatch(r"441882[12]\d\d").all()
    assert townships.code.is_unique
    assert (townships.county_code == "441882").all()
    assert (townships.geom_type == "MultiPolygon").all()
    _assert_tiles(townships.geometry, county)
    for t in townships.itertuples():
        assert t.geom.contains(t.seat), t.name
    city = townships.set_index("name").loc["连州镇", "seat"]
    assert city.distance(shapely.Point(112.38, 24.78)) < 0.02


def test_townships_and_villages_are_exactly_the_official_ones(geo):
    """统计用区划代码 2023: Lianzhou's 12 townships and 174 villages/communities exactly."""
    official = divisions.county_divisions("441882")
    townships = dict(zip(geo.townships.code, geo.townships.name, strict=True))
    assert townships == {t.code: t.name for t in official.townships}
    assert len(townships) == 12 and townships["441882109"] == "九陂镇"
    assert townships["441882118"] == "西江镇" and townships["441882200"] == "瑶安瑶族乡"
    villages = geo.villages
    assert len(villages) == 174
    assert dict(zip(villages.code, villages.official_name, strict=True)) == {
        v.code: v.name for v in official.villages
    }
    assert dict(zip(villages.code, villages.name, strict=True)) == {
        v.code: v.short_name for v in official.villages
    }
    assert dict(zip(villages.code, villages.committee, strict=True)) == {
        v.code: v.committee for v in official.villages
    }


def test_communities_are_towns_by_the_seat(geo):
    villages = geo.villages.merge(
        geo.townships[["code", "seat"]].rename(columns={"code": "township_code"})
    )
    communities = villages[villages.committee == "居委会"]
    assert communities.groupby("township_code").size().to_dict() == {
        "441882100": 10,
        "441882101": 1,
    }
    assert communities.name.str.endswith("社区").all()
    assert not communities.is_poor_village.any()
    seat_km = _to_utm(gpd.GeoSeries(communities.centre.to_numpy(), crs=villages.crs)).distance(
        _to_utm(gpd.GeoSeries(communities.seat.to_numpy(), crs=villages.crs))
    )
    assert (seat_km.to_numpy() <= 3_100).all()  # within ~3 km of the township seat
    rural = villages[villages.committee == "村委会"]
    assert _to_utm(communities.geometry).area.median() < _to_utm(rural.geometry).area.median()


def test_villages_tile_their_township_and_carry_its_code(geo):
    villages = geo.villages
    assert villages.code.str.fullmatch(r"\d{12}").all() and villages.code.is_unique
    assert (villages.code.str[:9] == villages.township_code).all()
    assert not villages.duplicated(["township_code", "name"]).any()
    assert villages.name.str.endswith(("村", "社区")).all()
    assert (_to_utm(villages.geometry).area > 200_000).all()  # every unit has real ground
    for t in geo.townships.itertuples():
        _assert_tiles(villages[villages.township_code == t.code].geometry, t.geom)
    assert all(v.geom.contains(v.centre) for v in villages.itertuples())


def test_key_villages_match_seed_001(geo):
    villages = geo.villages.merge(
        geo.townships[["code", "name"]].rename(
            columns={"code": "township_code", "name": "township"}
        )
    )
    key = villages[villages.is_poor_village]
    assert len(key) == 57
    assert key.groupby("township").size().to_dict() == SEED_001_KEY_VILLAGES
    assert (key.committee == "村委会").all()  # chosen among rural villages only
    assert (key.key_level == "provincial").all()
    assert villages.loc[~villages.is_poor_village, "key_level"].isna().all()
    assert key.helping_unit.str.startswith(("广州", "共青团广州")).all()
    assert key.first_secretary.notna().all()


def test_hamlets_are_plausible(geo):
    hamlets, villages = geo.hamlets, geo.villages
    per_village = hamlets.groupby("village_code").size()
    assert set(per_village.index) == set(villages.code)
    assert per_village.between(3, 9).all()
    assert hamlets.population.between(30, 1200).all()
    assert 250_000 <= hamlets.population.sum() <= 450_000  # Lianzhou's rural population
    assert not hamlets.duplicated(["village_code", "name"]).any()
    assert hamlets.id.is_unique
    geoms = villages.set_index("code").geometry
    assert all(geoms[h.village_code].intersects(h.geom) for h in hamlets.itertuples())
    lacking = hamlets[hamlets.lacking_conditions]
    assert 15 <= len(lacking) <= 40
    assert set(lacking.lacking_reason) == {"steep_slope", "hazard", "remote"}
    steep = lacking[lacking.lacking_reason == "steep_slope"]
    assert (steep.slope_deg > 25).all()


def test_some_big_hamlets_have_no_hardened_road(geo):
    big = geo.hamlets[geo.hamlets.population >= 200]
    assert (~big.road_hardened).sum() >= 5
    assert big.road_hardened.mean() > 0.5


def test_road_network_is_one_connected_component(geo):
    """Lines meet end to end: a graph of line end points snapped to 0.1 m is connected."""
    lines = geo.roads.to_crs(UTM).geometry.to_numpy()
    first = shapely.get_coordinates(shapely.get_point(lines, 0))
    last = shapely.get_coordinates(shapely.get_point(lines, -1))
    snap = [[tuple(k) for k in np.round(xy / 0.1).astype(np.int64)] for xy in (first, last)]
    nodes = {k: i for i, k in enumerate(dict.fromkeys(snap[0] + snap[1]))}
    a = np.array([nodes[k] for k in snap[0]])
    b = np.array([nodes[k] for k in snap[1]])
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(len(nodes), len(nodes)))
    count, _ = connected_components(graph, directed=False)
    assert count == 1


def test_roads_reach_every_seat_and_use_the_vocabulary(geo):
    roads = geo.roads
    assert set(roads.road_class) == set(vocab.ROAD_CLASS)
    assert set(roads.surface) <= set(vocab.SURFACE)
    assert "G323" in set(roads.name)
    assert (roads.geom_type == "LineString").all()
    network = shapely.union_all(roads.to_crs(UTM).geometry.to_numpy())
    for seat in geo.townships.set_geometry("seat").to_crs(UTM).geometry:
        assert network.distance(seat) < 100
    # Every hamlet (village centres included) is the end of a road.
    assert (geo.hamlets.to_crs(UTM).distance(network) < 0.01).all()


def test_dem_covers_the_county_with_plausible_relief(geo, county):
    with rasterio.open(geo.dem_path) as src:
        assert src.crs.to_epsg() == 4326
        assert src.res[0] == pytest.approx(0.0003)
        west, south, east, north = src.bounds
        c_west, c_south, c_east, c_north = county.bounds
        assert west <= c_west and south <= c_south and east >= c_east and north >= c_north
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        dem = src.read(1)
        inside = rasterio.features.geometry_mask([county], dem.shape, src.transform, invert=True)
    heights = dem[inside]
    assert 50 <= heights.min() <= 150  # where the 连江 leaves the county
    assert 1400 <= heights.max() <= 1900  # 天堂山 is 1,712 m
    assert 200 <= np.median(heights) <= 700


def test_hazard_and_karst_zones(geo):
    hz = geo.hazard_zones
    assert set(hz.kind) == set(vocab.HAZARD_KIND)
    assert set(hz.level) <= set(vocab.HAZARD_LEVEL)
    assert (hz.geom_type == "MultiPolygon").all() and hz.is_valid.all()
    assert (geo.karst_zones.geom_type == "MultiPolygon").all()


def test_facilities_use_the_vocabulary(geo):
    clinics, schools, water = geo.clinics, geo.schools, geo.water
    assert set(clinics.level) == set(vocab.CLINIC_LEVEL)
    assert (clinics.level == "county_hospital").sum() == 1
    assert (clinics.level == "township_health_centre").sum() == 12
    village_clinics = clinics[clinics.level == "village_clinic"]
    assert (~village_clinics.standard).sum() > 0 and village_clinics.village_code.notna().all()
    assert village_clinics.village_code.nunique() < len(geo.villages)  # some have none
    assert set(schools.level) == set(vocab.SCHOOL_LEVEL)
    assert set(water.kind) == set(vocab.WATER_KIND)
    points = water.kind.isin(["waterworks", "intake"])
    assert (water[points].geom_type == "Point").all()
    assert (water[~points].geom_type == "MultiPolygon").all()
    assert 0 < geo.hamlets.piped_water.mean() < 1
    standard = set(village_clinics.loc[village_clinics.standard, "village_code"])
    assert (geo.villages.has_standard_clinic == geo.villages.code.isin(standard)).all()


def test_rivers_have_orders_and_the_lianjiang(geo):
    rivers = geo.rivers
    assert "连江" in set(rivers.name)
    assert rivers["order"].min() >= 1 and rivers["order"].max() >= 4
    assert rivers.geom_type.isin(["LineString", "MultiLineString"]).all()
