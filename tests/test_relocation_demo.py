"""Relocation on the Lianzhou demo in PostGIS: the planted hamlets lacking living conditions
are found and few others, every name on the list is explained, the sites hold to the rules,
scopes hold, and the CLI, /analysis/relocation and the layers serve the results.

The module refreshes the demo county once (its own result rows, deleted at the end); the
demo's own rows are only read. The planted hamlets are known by regenerating the demo's
geography in memory (same seed, same ids) — the database does not store which they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from geo.policy import load_profile
from geo.relocation import relocation_policy
from layers import relocation
from tests.api_support import Users, new_users

COUNTY = "441882"
pytestmark = pytest.mark.slow  # regenerates the demo geography (~25 s) and refreshes


def rows(engine: sa.Engine, sql: str, **params) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def clear_results(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in relocation.RESULT_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE starts_with(township_code, :c)"),
                         {"c": COUNTY})  # fmt: skip
        conn.execute(
            sa.text("DELETE FROM relocation_run WHERE starts_with(scope, :c)"), {"c": COUNTY}
        )


@pytest.fixture(scope="module")
def assessed(engine: sa.Engine, demo_world: dict) -> Iterator[relocation.RefreshSummary]:
    summary = relocation.refresh(engine, county=COUNTY)
    yield summary
    clear_results(engine)


@pytest.fixture(scope="module")
def planted(engine: sa.Engine, demo_world: dict, tmp_path_factory) -> pd.DataFrame:
    """The hamlets the generator planted as lacking living conditions (id, reason)."""
    from geo.demo.world import build_geography, load_county
    from layers.demo import DEMO_SEED

    geography = build_geography(load_county(COUNTY), DEMO_SEED, tmp_path_factory.mktemp("geo"))
    hamlets = geography.hamlets[geography.hamlets.lacking_conditions]
    stored = dict(((r.id), (r.village_code, r.name)) for r in rows(
        engine, "SELECT id, village_code, name FROM hamlet WHERE id = ANY(:ids)",
        ids=hamlets["id"].tolist()))  # fmt: skip
    for hamlet in hamlets.itertuples():  # ids are stable for the seed: the same hamlets
        assert stored[hamlet.id] == (hamlet.village_code, hamlet.name)
    return pd.DataFrame({"hamlet_id": hamlets["id"], "reason": hamlets.lacking_reason})


@pytest.fixture(scope="module")
def verdicts(engine: sa.Engine, assessed, planted) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(
            sa.text("SELECT household_id, hamlet_id, candidate, hard, relocation, criteria, "
                    "reason_text FROM relocation_household WHERE starts_with(village_code, :c)"),
            conn, params={"c": COUNTY},
        )  # fmt: skip
    frame["planted"] = frame.hamlet_id.map(planted.set_index("hamlet_id").reason)
    return frame


# --- the planted are found, and few others ------------------------------------------------------


def test_the_planted_households_are_found_and_few_others(verdicts: pd.DataFrame) -> None:
    planted = verdicts.planted.notna()
    found = verdicts.candidate & planted
    others = verdicts.candidate & ~planted
    recall = found.sum() / planted.sum()
    precision = found.sum() / verdicts.candidate.sum()
    print(  # the numbers the issue asks for (pytest -s shows them)
        f"\nplanted households {planted.sum()}, found {found.sum()} (recall {recall:.3f}); "
        f"candidates {verdicts.candidate.sum()}, others {others.sum()} of "
        f"{(~planted).sum()} ({others.sum() / (~planted).sum():.2%}; precision {precision:.3f})"
    )
    assert planted.sum() > 200  # seed 001: Lianzhou had 324 households to relocate
    assert recall >= 0.9
    # the demo on the official 174 villages lacks water or a clinic in ~47 unplanted hamlets
    # too (3.3 % of households; under 3 % on the earlier 151 made-up villages)
    assert others.sum() <= 0.035 * (~planted).sum()
    assert verdicts.candidate.sum() <= 3.5 * planted.sum()
    by_reason = verdicts[planted].groupby("planted").candidate.mean()
    assert (by_reason >= 0.8).all(), by_reason  # steep, hazard and remote hamlets alike


def test_the_planted_hamlets_move_whole(engine: sa.Engine, assessed, planted) -> None:
    sql = "SELECT hamlet_id FROM relocation_group WHERE relocation = 'whole' AND hamlet_id > 0"
    whole = {r[0] for r in rows(engine, sql)}
    moved = planted.hamlet_id.isin(whole)
    assert moved.sum() >= len(planted) - 3, planted[~moved]


def test_the_others_are_explained_too(verdicts: pd.DataFrame) -> None:
    """Every household on the list says why: a hard criterion, its own score, or the
    whole-hamlet reason — never a bare name."""
    listed = verdicts[verdicts.candidate]
    assert listed.reason_text.notna().all()
    own = listed.criteria.map(len) > 0
    assert (own | (listed.relocation == "whole")).all()
    whole = listed[listed.relocation == "whole"]
    assert whole.reason_text.str.startswith("整体搬迁：").all()
    hazard = listed[listed.hard]
    assert hazard.reason_text.str.contains("滑坡崩塌区|泥石流区").all()


# --- the stored results hang together -----------------------------------------------------------


def test_whole_relocations_take_the_whole_hamlet(engine: sa.Engine, assessed) -> None:
    left_behind = scalar(engine, """
        SELECT count(*) FROM relocation_group g
        JOIN relocation_household r ON r.hamlet_id = g.hamlet_id
        WHERE g.relocation = 'whole' AND g.basis = 'hamlet' AND NOT r.candidate
          AND NOT r.relocated""")  # fmt: skip
    assert left_behind == 0
    outside = scalar(engine, """
        SELECT count(*) FROM relocation_household r JOIN relocation_group g
        ON g.group_key = r.group_key WHERE NOT ST_Covers(g.geom, r.geom)""")  # fmt: skip
    assert outside == 0  # the outlines hold their homes


def test_the_summary_adds_up(engine: sa.Engine, assessed) -> None:
    with engine.connect() as conn:
        towns = relocation.township_summary(conn, COUNTY)
    assert towns.candidates.sum() == assessed.candidates
    assert (towns.candidates == towns.whole + towns.scattered).all()
    assert towns.households.sum() == scalar(
        engine, "SELECT count(*) FROM household WHERE starts_with(village_code, :c)", c=COUNTY
    )
    groups = scalar(engine, "SELECT sum(candidates) FROM relocation_group")
    assert groups == assessed.candidates


def test_every_township_with_candidates_has_ranked_sites(engine: sa.Engine, assessed) -> None:
    with engine.connect() as conn:
        towns = relocation.township_summary(conn, COUNTY)
        found = relocation.sites(conn, COUNTY)
    wanted = set(towns.loc[towns.candidates > 0, "township_code"])
    assert set(found.township_code) == wanted
    for _, sites in found.groupby("township_code"):
        assert sites["rank"].tolist() == list(range(1, len(sites) + 1))
        assert sites.score_min.is_monotonic_increasing
    rules = relocation_policy(load_profile())
    assert (found.slope_mean_deg <= rules.site_max_slope_deg).all()
    assert (found.elevation_m < rules.elevation_m).all()
    assert (found.hardened_road_m <= rules.site_road_m).all()
    assert (found.health_centre_min <= rules.site_health_centre_minutes).all()
    assert (found.school_min <= rules.site_school_minutes).all()
    assert (found.from_candidates_mean_min > 0).all()


def test_sites_keep_clear_of_hazards_and_hold_their_point(engine: sa.Engine, assessed) -> None:
    # the policy's buffer holds for the whole outline (less a metre: geodesic vs the
    # projection's scale, well under 0.1 %)
    buffer_m = relocation_policy(load_profile()).site_hazard_buffer_m
    in_hazard = scalar(engine, """
        SELECT count(*) FROM relocation_site s JOIN hazard_zone z
        ON ST_DWithin(s.geom::geography, z.geom::geography, :d)""", d=buffer_m - 1)  # fmt: skip
    assert in_hazard == 0
    assert scalar(engine, "SELECT count(*) FROM relocation_site "
                          "WHERE NOT ST_Covers(geom, point)") == 0  # fmt: skip
    assigned = rows(
        engine,
        """
        SELECT s.site_key, s.assigned_households, count(r.*) FROM relocation_site s
        LEFT JOIN relocation_household r ON r.site_key = s.site_key GROUP BY 1, 2""",
    )
    assert all(a == n for _, a, n in assigned)
    sql = "SELECT count(*) FROM relocation_household WHERE site_key NOT LIKE 'site-%'"
    assert scalar(engine, sql) == 0
    elsewhere = "NOT starts_with(site_key, 'site-' || township_code)"
    assert scalar(engine, f"SELECT count(*) FROM relocation_household WHERE {elsewhere}") == 0


def test_households_without_hamlets_would_cluster_into_their_hamlets(engine, demo_world) -> None:
    """DBSCAN on the demo's homes, hamlet ids ignored, gathers them by hamlet."""
    import numpy as np
    import shapely

    from geo.network import metric_crs
    from geo.relocation import dbscan

    with engine.connect() as conn:
        import geopandas as gpd

        homes = gpd.read_postgis(
            sa.text("SELECT hamlet_id, geom FROM household WHERE starts_with(village_code, "
                    "'441882101') ORDER BY id"), conn, geom_col="geom")  # fmt: skip
    rules = relocation_policy(load_profile())
    xy = shapely.get_coordinates(homes.geometry.to_crs(metric_crs(homes)).to_numpy())
    labels = dbscan(xy, rules.cluster_eps_m, rules.cluster_min_households)
    frame = pd.DataFrame({"cluster": labels, "hamlet": homes.hamlet_id})
    clustered = frame[frame.cluster >= 0]
    purity = clustered.groupby("cluster").hamlet.agg(lambda h: h.value_counts().iloc[0]).sum()
    assert len(clustered) >= 0.9 * len(frame)
    assert purity / len(clustered) >= 0.9
    assert np.unique(labels[labels >= 0]).size >= 0.8 * homes.hamlet_id.nunique()


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def townships(engine: sa.Engine, assessed) -> list[str]:
    return [r[0] for r in rows(engine, "SELECT DISTINCT township_code FROM relocation_household "
                                       "WHERE candidate ORDER BY 1")]  # fmt: skip


def test_cli_refreshes_a_township_and_exports_xlsx(
    engine, database_url, townships, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    town = townships[0]
    out = tmp_path / "relocation.xlsx"
    result = CliRunner().invoke(
        cli_app, ["relocation", "--township", town, "-o", str(out), "--public"]
    )
    assert result.exit_code == 0, result.output
    assert "candidates" in result.output and "示例数据（合成）" in result.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"说明", "乡镇汇总", "搬迁对象", "搬迁组", "安置点", "政策参数"} <= set(sheets)
    listed = sheets["搬迁对象"]
    stored = scalar(engine, "SELECT count(*) FROM relocation_household WHERE candidate "
                            "AND township_code = :t", t=town)  # fmt: skip
    assert len(listed) == stored > 0
    assert {"户主", "原因", "搬迁方式", "符合条件"} <= set(listed.columns)
    assert listed["户主"].str.contains(r"\*").all()  # --public masks names
    assert listed["原因"].str.contains("[\u4e00-\u9fff]").all()  # reasons in Chinese
    assert set(listed["搬迁方式"]) <= {"整体搬迁", "插花搬迁"}
    assert (listed["说明"] == "示例数据（合成）").all()
    assert len(sheets["安置点"]) >= 1
    csv = tmp_path / "relocation.csv"
    again = CliRunner().invoke(cli_app, ["relocation", "--township", town, "-o", str(csv)])
    assert again.exit_code == 0, again.output
    assert len(pd.read_csv(csv)) == stored
    bad = CliRunner().invoke(cli_app, ["relocation", "--township", "449999999"])
    assert bad.exit_code == 1 and "no township" in bad.output


def test_cli_refuses_a_bad_profile(tmp_path: Path, database_url, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    profile = tmp_path / "p.toml"
    profile.write_text("[relocation]\nslope_degrees = 20\n")
    result = CliRunner().invoke(cli_app, ["relocation", "--profile", str(profile)])
    assert result.exit_code == 2 and "slope_degrees" in result.output


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def users(engine: sa.Engine, townships) -> Iterator[Users]:
    users = new_users(engine)
    users.add("viewer", "viewer", townships[0])
    users.add("editor", "editor", townships[0])
    village = scalar(engine, "SELECT village_code FROM relocation_household WHERE candidate "
                             "AND township_code = :t LIMIT 1", t=townships[0])  # fmt: skip
    users.add("village", "viewer", village)
    users.add("county", "viewer", COUNTY)
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, assessed) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(engine)) as client:
        yield client


def test_analysis_endpoint_serves_the_callers_scope(client, users, townships) -> None:
    town = townships[0]
    response = client.get("/analysis/relocation", params={"limit": 5},
                          headers=users.headers("viewer"))  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["township_code"] for t in body["townships"]] == [town]
    homes = body["candidates"]["households"]
    assert 0 < len(homes) <= 5
    assert body["candidates"]["numberMatched"] == body["townships"][0]["candidates"]
    assert all(h["township_code"] == town and h["reason_text"] for h in homes)
    assert all("*" in h["head_name"] for h in homes)  # viewers see masked names
    assert {s["township_code"] for s in body["sites"]} == {town}
    assert all(g["township_code"] == town for g in body["groups"])
    assert body["note"] == "示例数据（合成）"
    editor = client.get("/analysis/relocation", params={"relocation": "whole", "limit": 3},
                        headers=users.headers("editor")).json()  # fmt: skip
    assert all(h["relocation"] == "whole" for h in editor["candidates"]["households"])
    assert not any("*" in h["head_name"] for h in editor["candidates"]["households"])


def test_analysis_endpoint_keeps_to_scope_and_refuses_strangers(client, users, townships,
                                                                 engine) -> None:  # fmt: skip
    assert client.get("/analysis/relocation").status_code == 401
    if len(townships) > 1:
        other = client.get("/analysis/relocation", params={"township": townships[1]},
                           headers=users.headers("viewer")).json()  # fmt: skip
        assert other["candidates"]["numberMatched"] == 0 and other["sites"] == []
    village = client.get("/analysis/relocation", headers=users.headers("village")).json()
    codes = {h["village_code"] for h in village["candidates"]["households"]}
    assert len(codes) == 1 and village["sites"] == []  # sites are the township's
    county = client.get("/analysis/relocation", headers=users.headers("county")).json()
    assessed = scalar(engine, "SELECT count(DISTINCT township_code) FROM relocation_household")
    assert len(county["townships"]) == assessed
    bad = client.get("/analysis/relocation", params={"relocation": "all"},
                     headers=users.headers("viewer"))  # fmt: skip
    assert bad.status_code == 400


def test_relocation_layers_are_collections_in_scope(client, users, townships) -> None:
    town = townships[0]
    ids = {c["id"] for c in client.get("/collections", headers=users.headers("viewer"))
           .json()["collections"]}  # fmt: skip
    assert {"relocation_candidate", "relocation_group", "relocation_site",
            "relocation_hamlet"} <= ids  # fmt: skip
    for layer in ("relocation_candidate", "relocation_group", "relocation_site"):
        items = client.get(f"/collections/{layer}/items", params={"limit": 1000},
                           headers=users.headers("viewer"))  # fmt: skip
        assert items.status_code == 200, items.text
        features = items.json()["features"]
        assert features, layer
        assert all(f["properties"]["township_code"] == town for f in features), layer
    whole = client.get("/collections/relocation_candidate/items",
                       params={"relocation": "whole", "criterion": "hazard", "limit": 50},
                       headers=users.headers("county")).json()["features"]  # fmt: skip
    assert whole and all(f["properties"]["relocation"] == "whole" for f in whole)
    assert all("hazard" in f["properties"]["criteria"] for f in whole)


SITES = """
    SELECT site_key, rank, cells, capacity_households, ST_AsText(point) AS point,
           ST_AsText(geom) AS outline
    FROM relocation_site WHERE township_code = :t ORDER BY rank"""


def test_sites_are_the_same_whatever_the_runs_extent(engine: sa.Engine, assessed) -> None:
    """A township assessed alone gets the sites it got with its whole county (the grid lies
    on a lattice of the county's CRS, not on whatever roads the run loaded)."""
    busiest = scalar(engine, "SELECT township_code FROM relocation_site "
                             "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")  # fmt: skip
    with_county = rows(engine, SITES, t=busiest)
    assert len(with_county) >= 2
    relocation.refresh(engine, township=busiest)
    alone = rows(engine, SITES, t=busiest)
    assert [tuple(r) for r in alone] == [tuple(r) for r in with_county]
