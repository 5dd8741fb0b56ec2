"""Coverage on the Lianzhou demo in PostGIS: the deliberately uncovered are all found, the
stored summaries add up, scopes hold, and the CLI and /analysis/coverage serve the results.

The module refreshes the demo county once (its own result rows, deleted at the end); the
demo's own rows are only read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from geo.coverage import CRITERIA
from geo.policy import load_profile
from layers import coverage, features
from tests.api_support import Users, new_users

COUNTY = "441882"


def rows(engine: sa.Engine, sql: str, **params) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def clear_results(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in coverage.RESULT_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE starts_with(township_code, :c)"),
                         {"c": COUNTY})  # fmt: skip
        conn.execute(
            sa.text("DELETE FROM coverage_run WHERE starts_with(scope, :c)"), {"c": COUNTY}
        )


@pytest.fixture(scope="module")
def assessed(engine: sa.Engine, demo_world: dict) -> Iterator[coverage.RefreshSummary]:
    summary = coverage.refresh(engine, county=COUNTY, with_isochrones=False)
    yield summary
    clear_results(engine)


@pytest.fixture(scope="module")
def townships(engine: sa.Engine, assessed) -> list[str]:
    return [r[0] for r in rows(engine, "SELECT township_code FROM coverage_township ORDER BY 1")]


# --- the deliberately uncovered ----------------------------------------------------------


def test_every_household_is_assessed_once(engine: sa.Engine, assessed) -> None:
    missing = scalar(
        engine,
        "SELECT count(*) FROM household h LEFT JOIN coverage_household c "
        "ON c.household_id = h.id WHERE starts_with(h.village_code, :c) AND c IS NULL",
        c=COUNTY,
    )
    assert missing == 0
    assert assessed.households == scalar(engine, "SELECT count(*) FROM coverage_household")


def test_every_household_without_a_cadre_is_found(engine: sa.Engine, assessed) -> None:
    without = {r[0] for r in rows(engine, "SELECT id FROM household WHERE cadre_id IS NULL")}
    flagged = {r[0] for r in rows(engine, "SELECT household_id FROM coverage_household "
                                          "WHERE flag_cadre")}  # fmt: skip
    assert without and flagged == without


def test_every_200_plus_hamlet_without_hardened_road_is_found(engine: sa.Engine, assessed) -> None:
    recorded = {
        r[0]
        for r in rows(
            engine,
            "SELECT h.id FROM hamlet h JOIN village v ON v.code = h.village_code "
            "WHERE h.population >= 200 AND NOT h.road_hardened AND v.is_poor_village",
        )
    }
    needing = {r[0] for r in rows(engine, "SELECT hamlet_id FROM coverage_hamlet "
                                          "WHERE needs_hardening")}  # fmt: skip
    assert len(recorded) >= 10 and recorded <= needing
    # ... and every household living in one carries the flag with the hamlet's population
    unflagged = scalar(
        engine,
        "SELECT count(*) FROM coverage_household c JOIN coverage_hamlet m "
        "ON m.hamlet_id = c.hamlet_id WHERE m.needs_hardening AND NOT c.flag_hamlet_road",
    )
    assert unflagged == 0
    value = rows(engine, "SELECT c.reasons -> 'hamlet_road' ->> 'value', m.population "
                         "FROM coverage_household c JOIN coverage_hamlet m USING (hamlet_id) "
                         "WHERE c.flag_hamlet_road LIMIT 5")  # fmt: skip
    assert all(int(v) == p for v, p in value)


def test_all_200_plus_hamlets_when_not_only_poor_villages(engine, demo_world, connection) -> None:
    profile = load_profile(overrides={"road": {"hamlet_poor_villages_only": False}})
    sql = sa.text("SELECT code FROM township WHERE county_code = :c ORDER BY code")
    codes = list(connection.execute(sql, {"c": COUNTY}).scalars())
    coverage.refresh_townships(connection, codes, profile, with_isochrones=False)
    recorded = connection.execute(
        sa.text("SELECT count(*) FROM hamlet WHERE population >= 200 AND NOT road_hardened")
    ).scalar()
    found = connection.execute(
        sa.text(
            "SELECT count(*) FROM coverage_hamlet c JOIN hamlet h ON h.id = c.hamlet_id "
            "WHERE c.needs_hardening AND NOT h.road_hardened"
        )
    ).scalar()
    assert found == recorded > 12


def test_every_poor_village_without_a_standard_clinic_is_found(engine, assessed) -> None:
    lacking = {
        r[0]
        for r in rows(
            engine,
            "SELECT v.code FROM village v WHERE v.is_poor_village AND NOT EXISTS ("
            "SELECT 1 FROM clinic c WHERE c.village_code = v.code AND c.standard "
            "AND c.level = 'village_clinic') AND NOT v.has_standard_clinic",
        )
    }
    found = {r[0] for r in rows(engine, "SELECT village_code FROM coverage_village "
                                        "WHERE lacks_standard_clinic")}  # fmt: skip
    assert lacking and found == lacking


# --- consistency -------------------------------------------------------------------------


def test_stored_summaries_equal_the_household_flags(engine: sa.Engine, assessed) -> None:
    flags = ", ".join(f"count(*) FILTER (WHERE flag_{c})" for c in CRITERIA)
    per_township = rows(
        engine,
        f"SELECT township_code, count(*), count(*) FILTER (WHERE uncovered), {flags} "
        "FROM coverage_household GROUP BY 1 ORDER BY 1",
    )
    stored = rows(
        engine,
        "SELECT township_code, households, uncovered, "
        + ", ".join(f"flag_{c}" for c in CRITERIA)
        + " FROM coverage_township ORDER BY 1",
    )
    assert [tuple(r) for r in per_township] == [tuple(r) for r in stored]
    villages = rows(
        engine,
        "SELECT v.township_code, sum(v.uncovered), sum(v.flag_water) FROM coverage_village v "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [(t, u, w) for t, _, u, *_, w, _ in stored] == [tuple(r) for r in villages]


def test_minutes_are_null_exactly_when_unreachable(engine: sa.Engine, assessed) -> None:
    for kind in ("clinic", "village_clinic", "health_centre", "school"):
        inconsistent = scalar(
            engine,
            f"SELECT count(*) FROM coverage_household WHERE ({kind}_min IS NULL) <> "
            f"(unreachable ? '{kind}')",
        )
        assert inconsistent == 0, kind
    assert scalar(engine, "SELECT max(clinic_min) FROM coverage_household") < 24 * 60


def test_results_say_which_profile_made_them(engine: sa.Engine, assessed) -> None:
    fingerprint = load_profile().fingerprint
    assert {r[0] for r in rows(engine, "SELECT DISTINCT profile FROM coverage_household")} == {
        fingerprint
    }
    run = rows(engine, "SELECT profile_values, timings FROM coverage_run WHERE id = :i",
               i=assessed.run_ids[0])[0]  # fmt: skip
    assert run.profile_values["clinic"]["max_minutes"] == 30
    assert {"network", "facilities", "flags"} <= set(run.timings)


def test_isochrones_hold_the_households_within_reach(engine, townships, connection) -> None:
    code = townships[0]
    coverage.refresh_townships(connection, [code], load_profile())
    iso = connection.execute(
        sa.text("SELECT minutes, count(*), bool_and(ST_IsValid(geom)) FROM isochrone "
                "WHERE township_code = :t GROUP BY 1 ORDER BY 1"), {"t": code}
    ).all()  # fmt: skip
    assert [r[0] for r in iso] == [15.0, 30.0, 60.0] and all(r[2] for r in iso)
    outside = connection.execute(
        sa.text(
            "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM isochrone i "
            "WHERE i.township_code = c.township_code AND i.minutes = 15 "
            "AND ST_Covers(i.geom, c.geom))), count(*) "
            "FROM coverage_household c WHERE c.township_code = :t AND c.clinic_min <= 13"
        ),
        {"t": code},
    ).one()
    assert outside[1] > 100 and outside[0] == 0


# --- queries, CLI, API -------------------------------------------------------------------


def test_queries_stay_in_their_scope(engine: sa.Engine, townships) -> None:
    town = townships[1]
    with engine.connect() as conn:
        summary = coverage.township_summary(conn, town)
        villages = coverage.village_summary(conn, town)
        homes = coverage.uncovered_households(conn, town, limit=None)
        clinic = coverage.uncovered_households(conn, COUNTY, criterion="clinic", limit=None)
    assert summary.township_code.tolist() == [town]
    assert (villages.township_code == town).all()
    assert len(homes) == summary.uncovered.iloc[0] and (homes.township_code == town).all()
    assert all("clinic" in f for f in clinic["flags"])


def test_cli_refreshes_a_township_and_exports_xlsx(engine, database_url, townships, tmp_path,
                                                    monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "coverage.xlsx"
    town = townships[2]
    result = CliRunner().invoke(
        cli_app, ["coverage", "--township", town, "-o", str(out), "--public"]
    )
    assert result.exit_code == 0, result.output
    assert "示例数据（合成）" in result.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert {"乡镇汇总", "行政村汇总", "自然村", "未覆盖农户", "政策参数"} <= set(sheets)
    uncovered = sheets["未覆盖农户"]
    stored = scalar(engine, "SELECT uncovered FROM coverage_township WHERE township_code = :t",
                    t=town)  # fmt: skip
    assert len(uncovered) == stored
    assert uncovered.head_name.str.contains(r"\*").all()  # --public masks names
    assert (uncovered.note == "示例数据（合成）").all()
    bad = CliRunner().invoke(cli_app, ["coverage", "--township", "449999999"])
    assert bad.exit_code == 1 and "no township" in bad.output


def test_cli_refuses_a_bad_profile(tmp_path, database_url, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    profile = tmp_path / "p.toml"
    profile.write_text("[clinic]\nmax_minute = 20\n")
    result = CliRunner().invoke(cli_app, ["coverage", "--profile", str(profile)])
    assert result.exit_code == 2 and "max_minute" in result.output


@pytest.fixture(scope="module")
def users(engine: sa.Engine, townships) -> Iterator[Users]:
    users = new_users(engine)
    users.add("viewer", "viewer", townships[0])
    users.add("editor", "editor", townships[0])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, assessed) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(engine)) as client:
        yield client


def test_analysis_endpoint_serves_the_callers_scope(client, users, townships) -> None:
    town = townships[0]
    response = client.get("/analysis/coverage", params={"limit": 5},
                          headers=users.headers("viewer"))  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["township_code"] for t in body["townships"]] == [town]
    assert all(v["township_code"] == town for v in body["villages"])
    homes = body["uncovered"]["households"]
    assert (
        len(homes) == 5 and body["uncovered"]["numberMatched"] == body["townships"][0]["uncovered"]
    )
    assert all(h["township_code"] == town and h["reason_text"] for h in homes)
    assert all("*" in h["head_name"] for h in homes)  # viewers see masked names
    assert body["note"] == "示例数据（合成）"
    editor = client.get("/analysis/coverage", params={"limit": 5, "criterion": "cadre"},
                        headers=users.headers("editor")).json()  # fmt: skip
    assert all("cadre" in h["flags"] for h in editor["uncovered"]["households"])
    assert not any("*" in h["head_name"] for h in editor["uncovered"]["households"])


def test_analysis_endpoint_refuses_strangers_and_bad_parameters(client, users, townships) -> None:
    assert client.get("/analysis/coverage").status_code == 401
    other = client.get("/analysis/coverage", params={"township": townships[1]},
                       headers=users.headers("viewer")).json()  # fmt: skip
    assert other["uncovered"]["numberMatched"] == 0 and other["villages"] == []
    bad = client.get("/analysis/coverage", params={"criterion": "wifi"},
                     headers=users.headers("viewer"))  # fmt: skip
    assert bad.status_code == 400
    huge = client.get("/analysis/coverage", params={"offset": 10**12},
                      headers=users.headers("viewer"))  # fmt: skip
    assert huge.status_code in (400, 422) and "offset" in huge.text


def test_coverage_layers_are_collections_in_scope(client, users, townships) -> None:
    assert {"coverage_household", "coverage_village", "isochrone"} <= set(features.REGISTRY)
    response = client.get("/collections/coverage_household/items",
                          params={"uncovered": "true", "criterion": "water", "limit": 50},
                          headers=users.headers("viewer"))  # fmt: skip
    assert response.status_code == 200, response.text
    found = response.json()["features"]
    assert found and all(f["properties"]["township_code"] == townships[0] for f in found)
    assert all("water" in f["properties"]["flags"] for f in found)
