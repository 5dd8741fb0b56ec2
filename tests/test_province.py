"""The province-sized benchmark set: weighting by city, validity, clustering, GeoPackage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import box

from geo import divisions, idnumber, vocab
from geo.demo.people import HOUSEHOLD_COLUMNS
from geo.demo.province import generate_province, write_province_gpkg
from geo.paths import GUANGDONG_COUNTIES

N = 20_000
# (code, name, city, level): two donor-city districts, a self-helping county, helped counties
TOY_COUNTIES = [
    ("440104", "越秀区", "广州市", "district"),
    ("440306", "宝安区", "深圳市", "district"),
    ("441322", "博罗县", "惠州市", "county"),
    ("441882", "连州市", "清远市", "city"),
    ("441823", "阳山县", "清远市", "county"),
    ("441427", "蕉岭县", "梅州市", "county"),
    ("440823", "遂溪县", "湛江市", "county"),
    ("441826", "连南瑶族自治县", "清远市", "county"),
]


@pytest.fixture(scope="module")
def toy_counties() -> gpd.GeoDataFrame:
    rows = []
    for i, (code, name, city, level) in enumerate(TOY_COUNTIES):
        x0, y0 = 112 + 0.5 * (i % 4), 23 + 0.5 * (i // 4)
        shape = box(x0, y0, x0 + 0.4, y0 + 0.4)
        if i == 3:  # an L-shaped county, so that clusters have an edge to respect
            shape = shape.difference(box(x0 + 0.2, y0 + 0.2, x0 + 0.4, y0 + 0.4))
        rows.append({"code": code, "name": name, "city": city, "level": level, "geometry": shape})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


@pytest.fixture(scope="module")
def toy(toy_counties):
    return generate_province(toy_counties, seed=5, n_households=N, n_poor_villages=60)


def test_deterministic(toy_counties, toy):
    villages, households = toy
    again_villages, again = generate_province(
        toy_counties, seed=5, n_households=N, n_poor_villages=60
    )
    pd.testing.assert_frame_equal(households, again)
    pd.testing.assert_frame_equal(villages, again_villages)


def test_counts_and_columns(toy):
    villages, households = toy
    assert len(households) == N
    assert list(households.columns) == [
        *HOUSEHOLD_COLUMNS,
        "county_code",
        "income_2015",
        "income_2016",
        "income_2017",
        "income_2018",
        "geom",
    ]
    assert villages["is_poor_village"].sum() == 60
    assert (villages.loc[villages["is_poor_village"], "key_level"] == "provincial").all()
    assert villages["code"].is_unique and villages["code"].str.fullmatch(r"\d{12}").all()
    assert (villages["code"].str[:6] == villages["county_code"]).all()
    per_village = N / len(villages)
    assert 20 <= per_village <= 45


def test_villages_are_official_ones_and_poor_villages_rural(toy):
    """Real 统计用区划代码 2023 codes and names; poor villages only among 村委会."""
    villages, households = toy
    official = {d.code: d for d in map(divisions.get, villages["code"]) if d is not None}
    assert set(official) == set(villages["code"])
    assert (villages["name"] == [official[c].short_name for c in villages["code"]]).all()
    poor = villages.loc[villages["is_poor_village"], "code"]
    assert all(official[c].committee == "村委会" for c in poor)
    assert set(households["village_code"]) <= set(villages["code"])
    committee = households["village_code"].map(lambda c: official[c].committee)
    assert (committee == "居委会").mean() < 0.05  # communities are towns: few poor households


def test_weighted_away_from_the_delta_core(toy):
    _, households = toy
    share = households["county_code"].value_counts(normalize=True)
    donors = share.reindex(["440104", "440306"], fill_value=0).sum()
    assert donors < 0.01  # seed 002 §22: the helping cities have few
    assert share["441322"] < share["441823"]  # self-helping 惠州 below helped 清远
    for helped in ("441823", "441427", "440823"):
        assert share[helped] > 0.1


def test_valid_identities_and_numbers(toy):
    _, households = toy
    assert households["household_no"].is_unique
    assert (households["household_no"].str[:12] == households["village_code"]).all()
    assert households["id_number"].is_unique
    assert all(idnumber.is_valid(x) for x in households["id_number"])
    assert (households["id_number"].str[:6] == households["county_code"]).all()
    assert households["phone"].dropna().str.fullmatch(r"1[3-9]\d{9}").all()
    assert households["head_name"].str.len().between(2, 4).all()
    yao = households["county_code"] == "441826"
    yao_surname = households["head_name"].str[0].isin(list("盘房邓赵"))
    assert yao_surname[yao].mean() > 0.5 > 0.2 > yao_surname[~yao].mean()


def test_attributes_in_bands(toy):
    _, households = toy
    assert 0.28 <= (~households["scattered"]).mean() <= 0.38  # seed 003: 2/3 outside
    assert 3.0 <= households["members"].mean() <= 3.4
    assert (households["labour_members"] <= households["members"]).all()
    assert (households.loc[households["category"] == "tekun", "labour_members"] == 0).all()
    assert set(households["category"]) <= set(vocab.CATEGORY)
    assert set(households["main_cause"]) <= set(vocab.CAUSE)
    causes = households["main_cause"].value_counts(normalize=True)
    assert causes.index[0] == "illness" and 0.35 <= causes["illness"] <= 0.45
    poor = households["status"] == "poor"
    assert households.loc[poor, "exit_year"].isna().all()
    assert households.loc[~poor, "exit_year"].notna().all()
    people = households["members"].sum()
    by_2016 = households.loc[households["exit_year"].eq(2016).fillna(False), "members"].sum()
    assert abs(by_2016 / people - 0.5 / 1.765) < 0.01
    assert (households["income_2015"] < 4000).all()


def test_clustered_inside_counties(toy_counties, toy):
    villages, households = toy
    geoms = toy_counties.set_index("code").geometry.loc[households["county_code"]].to_numpy()
    assert shapely.contains_xy(geoms, households.geometry.x, households.geometry.y).all()
    centre = villages.set_index("code").geometry.loc[households["village_code"]]
    lat = np.radians(centre.y.to_numpy())
    dx = (households.geometry.x.to_numpy() - centre.x.to_numpy()) * 111_320 * np.cos(lat)
    dy = (households.geometry.y.to_numpy() - centre.y.to_numpy()) * 110_574
    distance = np.hypot(dx, dy)
    assert np.median(distance) < 1_500 and np.quantile(distance, 0.99) < 4_000


def test_write_gpkg(tmp_path, toy_counties):
    source = tmp_path / "counties.geojson"
    toy_counties.to_file(source, driver="GeoJSON")
    target = tmp_path / "province.gpkg"
    target.write_text("stale")  # replaced, not appended to
    written = write_province_gpkg(target, seed=3, counties_path=source, n_households=2_000)
    layers = dict(pyogrio.list_layers(target))
    assert layers == {"households": "Point", "villages": "Point"}
    back = gpd.read_file(target, layer="households")
    assert len(back) == written[0] == 2_000
    assert back["id_number"].is_unique and back.crs.to_epsg() == 4326
    assert back["exit_year"].isna().sum() == (back["status"] == "poor").sum()


@pytest.mark.skipif(not GUANGDONG_COUNTIES.exists(), reason="county boundaries not built yet")
def test_real_counties():
    counties = gpd.read_file(GUANGDONG_COUNTIES)
    poor_villages = round(2_277 * N / 708_000)  # scaled with the households
    villages, households = generate_province(
        counties, seed=1, n_households=N, n_poor_villages=poor_villages
    )
    geoms = counties.set_index("code").geometry.loc[households["county_code"]].to_numpy()
    assert shapely.contains_xy(geoms, households.geometry.x, households.geometry.y).all()
    city = counties.set_index("code")["city"].loc[households["county_code"]].str[:2]
    core = city.isin(["广州", "深圳", "珠海", "佛山", "东莞", "中山"]).mean()
    north_east_west = city.isin(
        [
            "清远",
            "韶关",
            "河源",
            "梅州",
            "湛江",
            "茂名",
            "阳江",
            "云浮",
            "汕尾",
            "揭阳",
            "潮州",
            "肇庆",
        ]
    ).mean()
    assert core < 0.01 and north_east_west > 0.85
    assert villages["is_poor_village"].sum() == poor_villages
    assert 0.28 <= (~households["scattered"]).mean() <= 0.38
    assert households["id_number"].is_unique and households["household_no"].is_unique
