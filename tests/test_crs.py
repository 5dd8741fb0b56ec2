"""geo.crs: WGS84 / GCJ-02 / BD-09 conversion and CRS names (pure, no database)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo.crs import (
    CoordSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_crs,
    to_wgs84,
    transform_coords,
    transform_geometry,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


def dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def guangdong_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(109.6, 117.4, 79), np.linspace(20.2, 25.6, 55))
    return lon.ravel(), lat.ravel()


# ---------------------------------------------------------------------------
# published coordinate pairs
# ---------------------------------------------------------------------------

# googollee/eviltransform, python/test.py (same pairs in go/transform_test.go):
# (wgsLat, wgsLng, gcjLat, gcjLng); the Shenzhen point is in Guangdong.
EVILTRANSFORM_PAIRS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]

# wandergis/coordtransform, test/app.js (results listed there for input 116.404, 39.915;
# also asserted in athxx/coordtransform-rs and hutool's CoordinateUtilTest).
CT_IN = (116.404, 39.915)
CT_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
CT_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
CT_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)  # closed-form approximation
CT_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)  # one-step approximation

# hujiulong/gcoord, test/fixtures/china-cities.json: city centres in Guangdong as
# (WGS84, GCJ02, BD09), 7 decimals. gcoord's own tests compare GCJ02<->WGS84 to 4 decimals
# and GCJ02->BD09 to 6 decimals; the GCJ pairs differ from the formula by ~0.7 m.
GCOORD_GUANGDONG = {
    "梅州市": ((116.1174053, 24.2912377), (116.1222426, 24.2886182), (116.1287823, 24.2944828)),
    "汕头市": ((116.6775114, 23.3567569), (116.6819735, 23.3540964), (116.6885014, 23.3598884)),
    "汕尾市": ((115.3702248, 22.7888255), (115.3751647, 22.7861903), (115.3817179, 22.7918527)),
    "河源市": ((114.6962648, 23.7463448), (114.7009627, 23.7436914), (114.7074093, 23.7498752)),
}


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM_PAIRS)
def test_eviltransform_pairs(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert lon == pytest.approx(wlon, abs=1e-9)
    assert lat == pytest.approx(wlat, abs=1e-9)


def test_coordtransform_pairs():
    assert wgs84_to_gcj02(*CT_IN) == pytest.approx(CT_WGS84_TO_GCJ02, abs=1e-12)
    assert gcj02_to_bd09(*CT_IN) == pytest.approx(CT_GCJ02_TO_BD09, abs=1e-12)
    # coordtransform's inverses are one-step approximations; ours iterate, so they agree
    # only to within the approximation error (a few cm here, up to ~2 m in general) ...
    assert dist_m(*bd09_to_gcj02(*CT_IN), *CT_BD09_TO_GCJ02) < 0.1
    assert dist_m(*gcj02_to_wgs84(*CT_IN), *CT_GCJ02_TO_WGS84) < 2.0
    # ... while reproducing the input exactly through the forward formulas.
    assert gcj02_to_bd09(*bd09_to_gcj02(*CT_IN)) == pytest.approx(CT_IN, abs=1e-9)
    assert wgs84_to_gcj02(*gcj02_to_wgs84(*CT_IN)) == pytest.approx(CT_IN, abs=1e-9)


@pytest.mark.parametrize("city", sorted(GCOORD_GUANGDONG))
def test_gcoord_guangdong_cities(city):
    wgs, gcj, bd = GCOORD_GUANGDONG[city]
    assert dist_m(*wgs84_to_gcj02(*wgs), *gcj) < 1.0
    assert dist_m(*gcj02_to_wgs84(*gcj), *wgs) < 1.0
    assert dist_m(*gcj02_to_bd09(*gcj), *bd) < 0.05
    assert dist_m(*bd09_to_gcj02(*bd), *gcj) < 0.05
    assert dist_m(*bd09_to_wgs84(*bd), *wgs) < 1.0
    assert dist_m(*wgs84_to_bd09(*wgs), *bd) < 1.0


# ---------------------------------------------------------------------------
# round trips and offset sizes over Guangdong
# ---------------------------------------------------------------------------


def test_gcj02_round_trip_guangdong(guangdong_grid):
    lon, lat = guangdong_grid
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert dist_m(lon, lat, wlon, wlat).max() < 1.0
    # in fact the iteration converges to ~1e-10 degrees (~1e-5 m)
    assert np.abs(wlon - lon).max() < 1e-7
    assert np.abs(wlat - lat).max() < 1e-7
    # and the other way round
    g2lon, g2lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert dist_m(lon, lat, g2lon, g2lat).max() < 0.001


def test_bd09_round_trip_guangdong(guangdong_grid):
    lon, lat = guangdong_grid
    blon, blat = wgs84_to_bd09(lon, lat)
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert dist_m(lon, lat, wlon, wlat).max() < 1.0
    assert np.abs(wlon - lon).max() < 1e-7
    assert np.abs(wlat - lat).max() < 1e-7
    g = gcj02_to_bd09(*bd09_to_gcj02(lon, lat))
    assert dist_m(lon, lat, *g).max() < 0.001


def test_offset_size_guangdong(guangdong_grid):
    lon, lat = guangdong_grid
    gcj = dist_m(lon, lat, *wgs84_to_gcj02(lon, lat))
    assert gcj.min() > 100 and gcj.max() < 700  # measured: ~500–650 m
    bd_from_gcj = dist_m(*wgs84_to_gcj02(lon, lat), *wgs84_to_bd09(lon, lat))
    assert bd_from_gcj.min() > 500 and bd_from_gcj.max() < 1000  # Baidu's extra offset
    bd = dist_m(lon, lat, *wgs84_to_bd09(lon, lat))
    assert bd.min() > 700 and bd.max() < 1500


def test_scalar_and_array_shapes():
    lon, lat = wgs84_to_gcj02(113.26, 23.13)
    assert isinstance(lon, float) and isinstance(lat, float)
    arr = np.array([[113.26, 112.5], [114.0, 115.0]])
    glon, glat = wgs84_to_gcj02(arr, arr * 0 + 23.0)
    assert glon.shape == (2, 2) and glat.shape == (2, 2)
    # broadcasting a scalar latitude against a vector of longitudes
    glon, glat = gcj02_to_wgs84([113.0, 114.0, 115.0], 23.0)
    assert glon.shape == glat.shape == (3,)
    # inputs are not modified
    a = np.array([113.0, 114.0])
    b = np.array([23.0, 24.0])
    gcj02_to_wgs84(a, b)
    bd09_to_wgs84(a, b)
    assert a.tolist() == [113.0, 114.0] and b.tolist() == [23.0, 24.0]


def test_outside_china_unchanged():
    lon = np.array([2.35, -74.0, 151.2, 113.26])
    lat = np.array([48.85, 40.7, -33.87, 23.13])
    for f in (wgs84_to_gcj02, gcj02_to_wgs84):
        olon, olat = f(lon, lat)
        assert olon[:3].tolist() == lon[:3].tolist()
        assert olat[:3].tolist() == lat[:3].tolist()
        assert olon[3] != lon[3]  # Guangzhou is converted


def test_nan_passes_through():
    lon, lat = gcj02_to_wgs84([np.nan, 113.0], [23.0, 23.0])
    assert np.isnan(lon[0]) and np.isfinite(lon[1])
    lon, lat = bd09_to_wgs84([np.nan, 113.0], [23.0, np.nan])
    assert np.isnan(lon[0]) and np.isnan(lat[1])


# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,kind,epsg",
    [
        ("wgs84", "wgs84", 4326),
        ("WGS-84", "wgs84", 4326),
        ("EPSG:4326", "wgs84", 4326),
        ("cgcs2000", "cgcs2000", 4490),
        ("epsg:4490", "cgcs2000", 4490),
        ("gcj02", "gcj02", None),
        ("GCJ-02", "gcj02", None),
        ("bd09", "bd09", None),
        (" BD_09 ", "bd09", None),
        ("EPSG:32649", "epsg", 32649),
        ("EPSG:4547", "epsg", 4547),
    ],
)
def test_parse_crs_good(name, kind, epsg):
    cs = parse_crs(name)
    assert cs == CoordSystem(kind, epsg)
    assert parse_crs(cs) is cs


def test_coord_system_is_frozen():
    cs = parse_crs("gcj02")
    with pytest.raises(AttributeError):
        cs.kind = "wgs84"  # type: ignore[misc]
    assert {parse_crs("wgs84"), parse_crs("EPSG:4326")} == {CoordSystem("wgs84", 4326)}
    assert parse_crs("cgcs2000").is_wgs84_equivalent
    assert not parse_crs("gcj02").is_wgs84_equivalent
    assert str(parse_crs("EPSG:32649")) == "EPSG:32649"


@pytest.mark.parametrize("name", ["mars", "", "wgs", "gcj03", "baidu09", "EPSG:", "EPSG:abc"])
def test_parse_crs_bad_names(name):
    with pytest.raises(ValueError) as err:
        parse_crs(name)
    msg = str(err.value)
    assert repr(name) in msg or "EPSG" in msg


def test_parse_crs_bad_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"wgs84, cgcs2000, gcj02, bd09, EPSG:<code>"):
        parse_crs("mars")


def test_parse_crs_unknown_epsg():
    with pytest.raises(ValueError, match="unknown EPSG code 999999"):
        parse_crs("EPSG:999999")


def test_parse_crs_not_a_string():
    with pytest.raises(ValueError, match="must be a string"):
        parse_crs(4326)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# geometries
# ---------------------------------------------------------------------------


def _lianzhou_like_polygon() -> Polygon:
    # a 2 km square with a hole near Lianzhou (GCJ-02)
    outer = [(112.36, 24.76), (112.38, 24.76), (112.38, 24.78), (112.36, 24.78)]
    hole = [(112.365, 24.765), (112.365, 24.77), (112.37, 24.77), (112.37, 24.765)]
    return Polygon(outer, [hole])


@pytest.mark.parametrize(
    "geom",
    [
        Point(112.37, 24.77),
        LineString([(112.36, 24.76), (112.40, 24.79), (112.45, 24.80)]),
        _lianzhou_like_polygon(),
        MultiPolygon([_lianzhou_like_polygon(), Polygon([(113, 23), (113.1, 23), (113, 23.1)])]),
    ],
)
@pytest.mark.parametrize("src", ["gcj02", "bd09"])
def test_transform_geometry_keeps_type_and_validity(geom, src):
    out = transform_geometry(geom, src, "wgs84")
    assert out.geom_type == geom.geom_type
    assert out.is_valid
    assert shapely.get_num_coordinates(out) == shapely.get_num_coordinates(geom)
    assert shapely.get_num_interior_rings(out) == shapely.get_num_interior_rings(geom)
    # moved by hundreds of metres, and back
    p0 = shapely.get_coordinates(geom)[0]
    p1 = shapely.get_coordinates(out)[0]
    assert 300 < dist_m(p0[0], p0[1], p1[0], p1[1]) < 1500
    back = transform_geometry(out, "wgs84", src)
    assert shapely.equals_exact(back, geom, tolerance=1e-8)


def test_transform_geometry_matches_point_functions():
    coords = np.array([[113.0, 23.0], [114.0, 24.0], [115.5, 22.8]])
    out = transform_geometry(LineString(coords), "gcj02")
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    np.testing.assert_array_equal(shapely.get_coordinates(out), np.column_stack([lon, lat]))


def test_transform_geometry_array_z_and_none():
    geoms = np.array([Point(113.0, 23.0, 55.0), Point(113.0, 23.0), None, Polygon()], dtype=object)
    out = transform_geometry(geoms, "gcj02")
    assert out[0].has_z and out[0].z == 55.0
    assert not out[1].has_z
    assert out[0].x == out[1].x and out[0].y == out[1].y
    assert out[2] is None
    assert out[3].is_empty
    assert transform_geometry(None, "gcj02") is None


def test_transform_identity_and_epsg():
    p = Point(113.26, 23.13)
    assert transform_geometry(p, "wgs84", "cgcs2000").equals(p)
    utm = transform_geometry(p, "wgs84", "EPSG:32649")  # UTM zone 49N
    assert 700_000 < utm.x < 800_000 and 2_500_000 < utm.y < 2_600_000
    assert transform_geometry(utm, "EPSG:32649").equals_exact(p, 1e-9)
    # GCJ-02 straight to UTM goes through WGS84
    g = Point(*wgs84_to_gcj02(113.26, 23.13))
    assert transform_geometry(g, "gcj02", "EPSG:32649").equals_exact(utm, 1e-4)
    np.testing.assert_allclose(
        transform_coords(np.array([[113.26, 23.13]]), "gcj02", "bd09"),
        [gcj02_to_bd09(113.26, 23.13)],
        atol=1e-12,
    )


def test_to_wgs84_geopandas():
    gpd = pytest.importorskip("geopandas")
    gdf = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[Point(113.9171764808363, 22.540796131694766), _lianzhou_like_polygon()],
        crs="EPSG:4326",  # GCJ-02 data is usually mislabelled like this
    )
    out = to_wgs84(gdf, "gcj02")
    assert out.crs.to_epsg() == 4326
    assert list(out["name"]) == ["a", "b"]
    assert out.geometry.iloc[0].x == pytest.approx(113.912316, abs=1e-9)
    assert out.geometry.iloc[0].y == pytest.approx(22.543847, abs=1e-9)
    assert gdf.geometry.iloc[0].x == 113.9171764808363  # input untouched
    assert out.geometry.is_valid.all()

    gs = to_wgs84(gdf.geometry.set_crs(None, allow_override=True), "bd09")
    assert isinstance(gs, gpd.GeoSeries) and gs.crs.to_epsg() == 4326

    utm = gdf.to_crs("EPSG:32649")
    back = to_wgs84(utm, "EPSG:32649")
    assert back.geometry.iloc[0].equals_exact(gdf.geometry.iloc[0], 1e-9)
    with pytest.raises(ValueError, match="labelled"):
        to_wgs84(utm, "EPSG:32650")
    with pytest.raises(TypeError):
        to_wgs84([Point(0, 0)], "gcj02")  # type: ignore[arg-type]


def test_docstring_examples():
    import doctest

    import geo.crs

    result = doctest.testmod(geo.crs)
    assert result.attempted > 10
    assert result.failed == 0
