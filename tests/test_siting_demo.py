"""Siting and scenarios on the Lianzhou demo in PostGIS: answers checked by coverage itself,
XLSX with Chinese headers, bad input refused with a clear message, and the real layers and
coverage tables untouched by any scenario. Townships, hamlets and roads are found from the
database, never hard-coded.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app as cli_app
from geo.crs import wgs84_to_gcj02
from geo.network import metric_crs
from geo.policy import load_profile
from layers import scenarios, siting
from layers.coverage import load_inputs

COUNTY = "441882"


def rows(engine: sa.Engine, sql: str, **params) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def run(*args: str):
    return CliRunner().invoke(cli_app, [*args])


@pytest.fixture(scope="module")
def env(database_url, demo_world, monkeypatch_module):
    monkeypatch_module.setenv("DATABASE_URL", database_url)
    monkeypatch_module.setenv("CI", "1")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def township(engine, demo_world) -> str:
    """The demo township with the most households."""
    return rows(engine, "SELECT left(village_code, 9) t FROM household WHERE "
                        "starts_with(village_code, :c) GROUP BY 1 ORDER BY count(*) DESC, 1 "
                        "LIMIT 1", c=COUNTY)[0][0]  # fmt: skip


@pytest.fixture(scope="module")
def profile():
    return load_profile()


# --- siting -----------------------------------------------------------------------------


def test_water_sites_bring_what_coverage_then_finds(engine, township, profile) -> None:
    report = siting.plan_facilities(engine, "water", township, 3, profile)
    assert report.result.optimal and report.result.gap == 0
    assert 0 < report.households_covered <= report.demand_households
    verified = report.verified[report.verified.criterion == "water"]
    assert verified.household_id.nunique() == report.households_covered
    # ranked: each site adds no more than the one before; alternatives never beat the best
    assert report.sites.weight.is_monotonic_decreasing
    assert (report.alternatives.weight <= report.result.best.covered_weight + 1e-9).all()
    assert report.result.greedy_weight <= report.result.best.covered_weight + 1e-9


def test_roads_within_budget_bring_what_coverage_then_finds(engine, township, profile) -> None:
    report = siting.plan_roads(engine, township, 3.0, profile)
    assert 0 < report.result.best.cost <= 3.0
    assert report.sites.km.sum() == pytest.approx(report.result.best.cost, abs=1e-3)
    verified = report.verified[report.verified.criterion == "road"]
    assert verified.household_id.nunique() == report.households_covered > 0
    chosen = set(report.sites.road_id)
    surfaces = rows(engine, "SELECT DISTINCT surface FROM road WHERE id = ANY(:ids)",
                    ids=list(chosen))  # fmt: skip
    assert {s for (s,) in surfaces} <= {"gravel", "earth"}


def test_cli_clinic_siting_writes_xlsx_with_chinese_headers(env, township, tmp_path) -> None:
    out = tmp_path / "clinic.xlsx"
    result = run("siting", "clinic", "--township", township, "--count", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "示例数据（合成）" in result.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"说明", "汇总", "选址", "备选方案", "核验"} <= set(sheets)
    summary = dict(zip(sheets["汇总"]["项目"], sheets["汇总"]["数值"], strict=True))
    assert summary["已证明最优"] == "是" and summary["最优性差距"] == "0.00%"
    sites = sheets["选址"]
    covered = int(sites["新覆盖户数"].sum()) if len(sites) else 0
    assert covered == int(summary["方案新覆盖农户"]) == int(summary["覆盖分析核验新覆盖农户"])


def test_k_larger_than_the_candidates(env, township) -> None:
    result = run("siting", "school", "--township", township, "--count", "9999",
                 "--candidates", "villages")  # fmt: skip
    assert result.exit_code == 1
    assert "9999 sites asked for but" in result.output and "candidate site" in result.output


def test_a_budget_of_zero(env, township) -> None:
    result = run("siting", "roads", "--township", township, "--budget-km", "0")
    assert result.exit_code == 2 and "more than 0 km" in result.output


def test_unknown_township(env) -> None:
    result = run("siting", "clinic", "--township", "449999999", "--count", "1")
    assert result.exit_code == 1 and "no township with code" in result.output


def _hamlets_by_roads(engine, township: str, n: int) -> list[tuple[str, float, float]]:
    """The ``n`` natural villages of the township closest to a road (name, lon, lat)."""
    return [tuple(r) for r in rows(engine, """
        SELECT m.name, ST_X(m.geom), ST_Y(m.geom) FROM hamlet m
        CROSS JOIN LATERAL (SELECT ST_Distance(r.geom::geography, m.geom::geography) d
                            FROM road r ORDER BY r.geom <-> m.geom LIMIT 1) near
        WHERE starts_with(m.village_code, :t) ORDER BY near.d, m.id LIMIT :n""",
        t=township, n=n)]  # fmt: skip


def test_candidate_file_in_gcj02(env, engine, township, tmp_path) -> None:
    sites = _hamlets_by_roads(engine, township, 6)
    gcj = [(name, *wgs84_to_gcj02(lon, lat)) for name, lon, lat in sites]
    path = tmp_path / "高德选点.csv"
    pd.DataFrame(gcj, columns=["名称", "经度", "纬度"]).to_csv(path, index=False)
    refused = run("siting", "clinic", "--township", township, "--count", "1",
                  "--candidates", str(path))  # fmt: skip
    assert refused.exit_code == 1
    assert "looks like GCJ-02" in refused.output and "--crs gcj02" in refused.output
    taken = run("siting", "clinic", "--township", township, "--count", "1",
                "--candidates", str(path), "--crs", "gcj02")  # fmt: skip
    assert taken.exit_code == 0, taken.output


def test_candidate_outside_the_township(env, engine, township, tmp_path) -> None:
    other = rows(engine, "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                         "FROM township WHERE county_code = :c AND code <> :t ORDER BY code "
                         "LIMIT 1", c=COUNTY, t=township)[0]  # fmt: skip
    path = tmp_path / "sites.csv"
    pd.DataFrame([("外镇点", *other)], columns=["名称", "经度", "纬度"]).to_csv(path, index=False)
    result = run("siting", "clinic", "--township", township, "--count", "1",
                 "--candidates", str(path), "--crs", "wgs84")  # fmt: skip
    assert result.exit_code == 1
    assert "row 2" in result.output and "outside" in result.output


# --- scenarios --------------------------------------------------------------------------


def _uncovered_hamlet_with_one_road(engine, profile):
    """(township, hamlet id, its households, the one unhardened road within reach of them):
    every household of the hamlet lacks a hardened road, one unhardened road lies within the
    policy distance of them, covers them all, and no other household lacking one."""
    from geo.coverage import assess

    limit = profile.road.max_distance_m
    towns = [t for (t,) in rows(engine, "SELECT DISTINCT left(village_code, 9) FROM household "
                                        "WHERE starts_with(village_code, :c) ORDER BY 1",
                                c=COUNTY)]  # fmt: skip
    for town in towns:
        with engine.connect() as conn:
            inputs = load_inputs(conn, [town], profile)
            area = shapely.from_wkb(
                bytes(
                    conn.execute(
                        sa.text("SELECT ST_AsBinary(geom) FROM township WHERE code = :t"),
                        {"t": town},
                    ).scalar()
                )
            )
        homes = assess(inputs, profile, with_isochrones=False).households  # fmt: skip
        homes = homes[homes.township_code == town]
        crs = metric_crs(inputs.roads)
        roads = inputs.roads.to_crs(crs)
        inside = roads.intersects(gpd.GeoSeries([area], crs=4326).to_crs(crs).iloc[0])
        loose = roads[(roads.surface != "hardened") & inside]
        metric = homes.to_crs(crs)
        lacking = metric[metric.flag_road]
        for hamlet_id, group in metric.groupby("hamlet_id"):
            if not group.flag_road.all():
                continue
            near = loose[loose.distance(group.union_all()) <= limit]
            if len(near) != 1:
                continue
            road = near.geometry.iloc[0]
            others = lacking[(lacking.distance(road) <= limit) & (lacking.hamlet_id != hamlet_id)]
            all_near = (group.distance(road) <= limit).all()
            if (
                all_near
                and others.empty
                and len(
                    roads[roads.distance(group.union_all()) <= limit][
                        lambda r: r.surface != "hardened"
                    ]
                )
                == 1
            ):
                return town, int(hamlet_id), set(group.household_id), int(near["id"].iloc[0])
    pytest.fail("the demo has no uncovered hamlet with a single road to harden")


def _fingerprint(engine) -> tuple:
    """What a scenario must never change: roads, hamlets, facilities, coverage results."""
    return tuple(rows(engine, """
        SELECT (SELECT md5(string_agg(id || surface || road_class, ',' ORDER BY id)) FROM road),
               (SELECT md5(string_agg(id || coalesce(road_hardened::text, '') ||
                                      coalesce(piped_water::text, ''), ',' ORDER BY id))
                FROM hamlet),
               (SELECT count(*) FROM clinic), (SELECT count(*) FROM water),
               (SELECT count(*) FROM school),
               (SELECT md5(coalesce(string_agg(household_id || flags::text, ','
                                               ORDER BY household_id), '')) FROM coverage_household)
    """)[0])  # fmt: skip


def test_hardening_the_one_road_of_an_uncovered_hamlet_flips_exactly_its_households(
    env, engine, profile
) -> None:
    town, _, households, road_id = _uncovered_hamlet_with_one_road(engine, profile)
    before = _fingerprint(engine)
    name = f"harden-{road_id}"
    made = run("scenario", "new", name, "--township", town, "--harden", str(road_id))
    assert made.exit_code == 0, made.output
    try:
        outcome = scenarios.assess_under(engine, name, profile)
        flipped = outcome.flipped
        assert set(flipped[flipped.criterion == "road"].household_id) == households
        assert set(flipped.household_id) <= households  # nothing else moved
        diff = run("scenario", "diff", name)
        assert diff.exit_code == 0 and "无硬化路" in diff.output
        coverage = run("coverage", "--scenario", name)
        assert coverage.exit_code == 0, coverage.output
    finally:
        run("scenario", "drop", name)
    assert _fingerprint(engine) == before  # the baseline is untouched


def test_a_scenario_cannot_harden_another_townships_road(env, engine, township) -> None:
    (road_id, other), = rows(engine, """
        SELECT r.id, t.name FROM road r JOIN township t ON ST_Intersects(t.geom, r.geom)
        WHERE r.surface <> 'hardened' AND t.code <> :t AND t.county_code = :c
          AND NOT ST_Intersects(r.geom, (SELECT geom FROM township WHERE code = :t))
        ORDER BY r.id LIMIT 1""", t=township, c=COUNTY)  # fmt: skip
    result = run("scenario", "new", "elsewhere", "--township", township, "--harden", str(road_id))
    assert result.exit_code == 1
    assert f"road {road_id} lies in {other}" in result.output
    assert not rows(engine, "SELECT 1 FROM scenario WHERE name = 'elsewhere'")  # nothing kept


def test_a_proposed_road_touching_nothing_is_reported(env, engine, township, tmp_path) -> None:
    # a short line at the home farthest from any road
    ((lon, lat, far),) = rows(
        engine,
        """
        SELECT ST_X(h.geom), ST_Y(h.geom), near.d FROM household h
        CROSS JOIN LATERAL (SELECT ST_Distance(r.geom::geography, h.geom::geography) d
                            FROM road r ORDER BY r.geom <-> h.geom LIMIT 1) near
        WHERE starts_with(h.village_code, :t) ORDER BY near.d DESC LIMIT 1""",
        t=township,
    )
    assert far > 200
    line = shapely.LineString([(lon, lat), (lon + 0.0005, lat)])
    path = tmp_path / "规划道路.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "断头路"},
         "geometry": shapely.geometry.mapping(line)}]}), encoding="utf-8")  # fmt: skip
    result = run("scenario", "new", "loose-road", "--township", township, "--roads", str(path),
                 "--crs", "wgs84")  # fmt: skip
    assert result.exit_code == 1
    assert "断头路" in result.output and "touches no road" in result.output
    assert not rows(engine, "SELECT 1 FROM scenario WHERE name = 'loose-road'")


# --- the API ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(engine, demo_world, township):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_support import new_users

    users = new_users(engine)
    users.add("viewer", "viewer", township)
    other = rows(engine, "SELECT code FROM township WHERE county_code = :c AND code <> :t "
                         "ORDER BY code LIMIT 1", c=COUNTY, t=township)[0][0]  # fmt: skip
    users.add("stranger", "viewer", other)
    with TestClient(create_app(engine)) as client:
        yield client, users
    users.drop()


def test_api_siting_in_scope_with_xlsx(api, township) -> None:
    client, users = api
    response = client.get("/analysis/siting/roads", params={"township": township,
                          "budget_km": 2}, headers=users.headers("viewer"))  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["optimal"] and body["cost_km"] <= 2
    sites = body["sites"]["features"]
    assert sites and all(f["geometry"]["type"] == "LineString" for f in sites)
    assert body["households_covered"] == sum(f["properties"]["households"] for f in sites)
    assert body["verified"]["road"] == body["households_covered"]
    assert body["note"] == "示例数据（合成）"
    xlsx = client.get("/analysis/siting/water", params={"township": township, "count": 2,
                      "format": "xlsx"}, headers=users.headers("viewer"))  # fmt: skip
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    for params, status in (
        ({"township": township}, 400),  # no count
        ({"township": township, "count": 0}, 400),  # validation
    ):
        assert client.get("/analysis/siting/clinic", params=params,
                          headers=users.headers("viewer")).status_code == status  # fmt: skip
    stranger = client.get("/analysis/siting/clinic", params={"township": township, "count": 1},
                          headers=users.headers("stranger"))  # fmt: skip
    assert stranger.status_code == 404
    assert client.get("/analysis/siting/clinic", params={"township": township,
                      "count": 1}).status_code == 401  # fmt: skip


def test_api_scenario_diff_and_layer_in_scope(api, env, engine, township, profile) -> None:
    client, users = api
    (road_id,) = rows(engine, """
        SELECT r.id FROM road r, township t WHERE t.code = :t AND r.surface <> 'hardened'
        AND ST_Intersects(r.geom, t.geom) ORDER BY r.id LIMIT 1""", t=township)[0]  # fmt: skip
    made = run("scenario", "new", "api-diff", "--township", township, "--harden", str(road_id))
    assert made.exit_code == 0, made.output
    try:
        listed = client.get("/scenarios", headers=users.headers("viewer")).json()["scenarios"]
        assert [s["name"] for s in listed if s["name"] == "api-diff"] == ["api-diff"]
        assert not [s for s in client.get("/scenarios", headers=users.headers("stranger"))
                    .json()["scenarios"] if s["name"] == "api-diff"]  # fmt: skip
        diff = client.get("/scenarios/api-diff/diff", headers=users.headers("viewer"))
        assert diff.status_code == 200, diff.text
        body = diff.json()
        households = {h["household_no"] for h in body["households"]}
        assert sum(k["households"] for k in body["kinds"]) >= len(households) >= 0
        assert all("head_name" not in h for h in body["households"])
        poor = [h["poor"] for h in body["households"]]
        assert poor == sorted(poor, reverse=True)  # poor households first
        assert client.get("/scenarios/api-diff/diff",
                          headers=users.headers("stranger")).status_code == 404  # fmt: skip
        layer = client.get(
            "/collections/scenario_change/items",
            params={"scenario": "api-diff"},
            headers=users.headers("viewer"),
        )
        assert layer.status_code == 200, layer.text
        (feature,) = layer.json()["features"]
        assert feature["properties"]["kind"] == "harden"
        assert feature["properties"]["road_id"] == road_id and feature["geometry"]
    finally:
        run("scenario", "drop", "api-diff")


def test_roads_to_harden_can_be_drawn(env, engine, township, tmp_path) -> None:
    (road_id, geojson), = rows(engine, """
        SELECT r.id, ST_AsGeoJSON(r.geom) FROM road r, township t
        WHERE t.code = :t AND r.surface <> 'hardened' AND ST_Within(r.geom, t.geom)
          AND ST_Length(r.geom::geography) > 300
        ORDER BY r.id LIMIT 1""", t=township)  # fmt: skip
    path = tmp_path / "沿线硬化.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(geojson)}]}))  # fmt: skip
    made = run("scenario", "new", "drawn", "--township", township, "--harden-along", str(path),
               "--crs", "wgs84")  # fmt: skip
    try:
        assert made.exit_code == 0, made.output
        hardened = {r for (r,) in rows(engine, "SELECT c.road_id FROM scenario_change c JOIN "
                                               "scenario s ON s.id = c.scenario_id "
                                               "WHERE s.name = 'drawn'")}  # fmt: skip
        assert road_id in hardened
    finally:
        run("scenario", "drop", "drawn")
    # a drawing along a hardened road only follows nothing to harden
    (hard,) = rows(engine, """
        SELECT ST_AsGeoJSON(r.geom) FROM road r, township t WHERE t.code = :t
          AND r.surface = 'hardened' AND ST_Within(r.geom, t.geom)
          AND NOT EXISTS (SELECT 1 FROM road o WHERE o.surface <> 'hardened'
                          AND ST_DWithin(o.geom::geography, r.geom::geography, 100))
        ORDER BY ST_Length(r.geom) DESC LIMIT 1""", t=township)[0]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(hard)}]}))  # fmt: skip
    refused = run("scenario", "new", "drawn", "--township", township, "--harden-along",
                  str(path), "--crs", "wgs84")  # fmt: skip
    assert refused.exit_code == 1 and "follows no unhardened road" in refused.output


def test_the_wall_map_prints_a_scenario_as_a_plan(env, engine, township, tmp_path) -> None:
    import subprocess

    (road_id,) = rows(engine, """
        SELECT r.id FROM road r, township t WHERE t.code = :t AND r.surface <> 'hardened'
        AND ST_Within(r.geom, t.geom) ORDER BY ST_Length(r.geom) DESC LIMIT 1""",
        t=township)[0]  # fmt: skip
    ((_name, lon, lat),) = _hamlets_by_roads(engine, township, 1)
    sites = tmp_path / "clinic.csv"
    pd.DataFrame([("规划站", lon, lat)], columns=["名称", "经度", "纬度"]).to_csv(
        sites, index=False
    )
    made = run("scenario", "new", "plan-map", "--township", township, "--harden", str(road_id),
               "--clinics", str(sites), "--crs", "wgs84")  # fmt: skip
    assert made.exit_code == 0, made.output
    try:
        pdf = tmp_path / "plan.pdf"
        drawn = run("map", "township", township, "--scenario", "plan-map", "--paper", "A3",
                    "-o", str(pdf))  # fmt: skip
        assert drawn.exit_code == 0, drawn.output
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout.replace(" ", "")  # fmt: skip
        assert "规划图" in text and "plan-map" in text
        assert "规划硬化道路" in text and "规划卫生站" in text
        other = rows(engine, "SELECT code FROM township WHERE county_code = :c AND code <> :t "
                             "ORDER BY code LIMIT 1", c=COUNTY, t=township)[0][0]  # fmt: skip
        wrong = run("map", "township", other, "--scenario", "plan-map", "-o", str(pdf))
        assert wrong.exit_code == 2 and "is for" in wrong.output
    finally:
        run("scenario", "drop", "plan-map")
