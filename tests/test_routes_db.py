"""Route plans on the demo world: sampling strategies, storage, the route sheet PDF, the
visit results loop, the CLI and the HTTP API with scopes.

Plans made through ``layers.routes`` run inside the ``connection`` fixture's transaction and
vanish with it; the CLI and API commit, so those tests delete their plans and visits again.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator

import gpxpy
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from geo.routing.sheets import read_results
from layers import routes
from maps.route_sheet import render_route_sheets
from tests.api_support import Users, demo_townships, new_users

AS_OF = dt.date(2018, 12, 20)
DAY1 = dt.date(2018, 12, 21)


@pytest.fixture(scope="module")
def towns(engine: sa.Engine, demo_world: dict) -> tuple[str, str]:
    codes = demo_townships(engine)
    return codes[5], codes[1]


def request(area: str, **kwargs) -> routes.PlanRequest:
    defaults = {"strategy": "random", "sample": 16, "inspectors": 2, "days": 1, "seed": 3,
                "as_of": AS_OF, "start_date": DAY1}  # fmt: skip
    return routes.PlanRequest(area, **(defaults | kwargs))


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "sheet.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def real_names(conn: sa.Connection, ids) -> list[str]:
    return list(
        conn.execute(
            sa.text("SELECT head_name FROM household WHERE id = ANY(:ids)"), {"ids": list(ids)}
        ).scalars()
    )


def test_a_plan_is_stored_and_read_back(connection, towns) -> None:
    made = routes.make_plan(connection, request(towns[0]), actor="test")
    back = routes.load_plan(connection, made.plan_id, towns[0][:6])
    assert back.summary() == made.plan.summary()
    assert len(back.stops) == 16
    assert back.meta["synthetic"] is True
    columns = ["household_no", "inspector", "day", "seq"]
    fresh = made.plan.stops.sort_values("household_no")[columns].reset_index(drop=True)
    stored = back.stops.sort_values("household_no")[columns].reset_index(drop=True)
    assert fresh.astype(str).equals(stored.astype(str))
    # another township's scope does not see it
    with pytest.raises(routes.RouteError):
        routes.load_plan(connection, made.plan_id, towns[1])


def test_stratified_samples_every_village_in_proportion(connection, towns) -> None:
    villages = connection.execute(
        sa.text(
            "SELECT village_code, count(*) FROM household WHERE starts_with(village_code, :t) "
            "GROUP BY 1"
        ),
        {"t": towns[0]},
    ).all()
    n = 2 * len(villages)
    made = routes.make_plan(
        connection, request(towns[0], strategy="stratified", sample=n, inspectors=3, days=2),
        actor="test",
    )  # fmt: skip
    counts = made.plan.stops.groupby("village_code").size()
    assert set(counts.index) == {v for v, _ in villages} and counts.sum() == n
    biggest = max(villages, key=lambda r: r[1])[0]
    assert counts[biggest] == counts.max()


def test_risk_sampling_takes_the_highest_scores(connection, towns) -> None:
    from geo.policy import load_profile
    from geo.routing.policy import routes_policy

    profile = load_profile()
    weights = dict(routes_policy(profile).risk_weights)
    pool = routes.candidates(connection, towns[0], AS_OF, profile, with_flags=True)
    scores = pool[list(weights)].astype(int).mul(list(weights.values())).sum(axis=1)
    made = routes.make_plan(connection, request(towns[0], strategy="risk", sample=12), actor="t")
    chosen = made.plan.stops
    assert chosen.risk_score.min() >= scores[~pool.household_id.isin(chosen.household_id)].max()
    assert sorted(chosen.risk_score, reverse=True) == sorted(scores, reverse=True)[:12]
    assert all(len(r) > 0 for r in chosen.risk_reasons)


def test_the_pdf_holds_every_stop_and_no_unmasked_name(connection, towns, tmp_path) -> None:
    made = routes.make_plan(connection, request(towns[0], sample=24, days=1), actor="test")
    stored = routes.load_plan(connection, made.plan_id, None)
    text = pdf_text(render_route_sheets(stored, routes.layers_for(connection, stored)), tmp_path)
    for number in stored.planned.household_no:
        assert number in text
    for name in real_names(connection, stored.stops.household_id):
        assert name not in text, name
    assert "示例数据（合成）" in text and "两不愁三保障" in text and "督查人员（签名）" in text
    masked = stored.planned.head_name.iloc[0]
    assert "*" in masked and masked in text


def test_visited_households_drop_out_of_the_next_sample(connection, towns) -> None:
    village = connection.execute(
        sa.text(
            "SELECT village_code FROM household WHERE starts_with(village_code, :t) "
            "GROUP BY 1 HAVING count(*) BETWEEN 20 AND 120 ORDER BY 1 LIMIT 1"
        ),
        {"t": towns[0]},
    ).scalar_one()
    first = routes.make_plan(connection, request(village, sample=10), actor="test")
    visited = first.plan.planned.household_no.iloc[:3].tolist()
    results = pd.DataFrame({"household_no": visited, "result": ["confirmed", "issues", "absent"],
                            "visit_date": [DAY1] * 3})  # fmt: skip
    summary = routes.record_results(connection, first.plan_id, results, actor="test", scope=None)
    assert summary.inserted == 3
    again = routes.record_results(connection, first.plan_id, results, actor="test", scope=None)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    later = routes.make_plan(
        connection, request(village, sample=500, as_of=DAY1 + dt.timedelta(days=1)), actor="t"
    )
    assert not set(visited) & set(later.plan.stops.household_no)
    everyone = routes.make_plan(
        connection,
        request(village, sample=500, as_of=DAY1 + dt.timedelta(days=1), skip_visited=False),
        actor="test",
    )
    assert set(visited) <= set(everyone.plan.stops.household_no)


def test_a_list_with_a_household_elsewhere(connection, towns) -> None:
    numbers = (
        connection.execute(
            sa.text(
                "(SELECT household_no FROM household WHERE starts_with(village_code, :a) "
                "ORDER BY id LIMIT 5) UNION ALL (SELECT household_no FROM household "
                "WHERE starts_with(village_code, :b) ORDER BY id LIMIT 1)"
            ),
            {"a": towns[0], "b": towns[1]},
        )
        .scalars()
        .all()
    )
    listed = pd.DataFrame({"household_no": numbers, "must_visit": [True] + [False] * 5})
    made = routes.make_plan(
        connection, request(towns[0], strategy="list", households=listed, sample=None), actor="t"
    )
    assert made.missing == [numbers[-1]]
    assert len(made.plan.stops) == 5 and made.plan.stops.must_visit.sum() == 1


# --- CLI and HTTP (these commit: clean up after) ---------------------------------------------


def _delete_plan(engine: sa.Engine, plan_id: int) -> None:
    with engine.begin() as conn:
        visits = (
            conn.execute(
                sa.text(
                    "SELECT visit_id FROM route_stop WHERE plan_id = :p AND visit_id IS NOT NULL"
                ),
                {"p": plan_id},
            )
            .scalars()
            .all()
        )
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :p"), {"p": plan_id})
        conn.execute(sa.text("DELETE FROM visit WHERE id = ANY(:v)"), {"v": list(visits)})
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'visit' AND row_id = ANY(:v)"),
            {"v": [str(v) for v in visits]},
        )


def test_cli_plans_writes_files_and_reads_results_back(
    engine, database_url, towns, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CI", "1")
    runner = CliRunner()
    out = tmp_path / "routes"
    args = ["route", "plan", "--township", towns[0], "--sample", "12", "--strategy", "risk",
            "--inspectors", "2", "--days", "1", "--seed", "9", "--as-of", "2018-12-20",
            "--start-date", "2018-12-21", "-o", str(out)]  # fmt: skip
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        plan_id = conn.execute(sa.text("SELECT max(id) FROM route_plan")).scalar_one()
    try:
        names = {p.name for p in out.iterdir()}
        assert {"route_sheets.pdf", "plan.gpx", "plan.kml", "plan.geojson", "plan.html",
                "results.xlsx", "stops.csv"} <= names  # fmt: skip
        gpx = gpxpy.parse((out / "route-i1-d1.gpx").read_text())
        assert gpx.waypoints and gpx.tracks
        # fill in the results sheet for the first two stops and import it (twice)
        import openpyxl

        book = openpyxl.load_workbook(out / "results.xlsx")
        sheet = book.active
        sheet["K4"], sheet["P4"], sheet["Q4"] = "发现问题", "×", "屋顶漏雨"
        sheet["K5"] = "核实无误"
        book.save(out / "filled.xlsx")
        first = runner.invoke(cli_app, ["route", "results", str(out / "filled.xlsx")])
        assert first.exit_code == 0 and "2 visit(s) recorded" in first.output, first.output
        again = runner.invoke(cli_app, ["route", "results", str(out / "filled.xlsx")])
        assert "0 visit(s) recorded, 0 corrected, 2 unchanged" in again.output
        frame = read_results((out / "filled.xlsx").read_bytes(), "filled.xlsx")
        with engine.connect() as conn:
            findings = conn.execute(
                sa.text(
                    "SELECT v.findings FROM route_stop s JOIN visit v ON v.id = s.visit_id "
                    "JOIN household h ON h.id = s.household_id WHERE s.plan_id = :p "
                    "AND h.household_no = :n"
                ),
                {"p": plan_id, "n": frame.household_no.iloc[0]},
            ).scalar_one()
        assert findings == "未保障：住房安全有保障；屋顶漏雨"
        bad = runner.invoke(cli_app, ["route", "plan", "--township", towns[0], "--strategy",
                                      "nearest", "-o", str(tmp_path / "x")])  # fmt: skip
        assert bad.exit_code == 2 and "--strategy" in bad.output
    finally:
        _delete_plan(engine, plan_id)


@pytest.fixture(scope="module")
def users(engine: sa.Engine, towns) -> Iterator[Users]:
    users = new_users(engine)
    users.add("inspector_a", "inspector", towns[0])
    users.add("inspector_b", "inspector", towns[1])
    users.add("viewer_a", "viewer", towns[0])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


def test_http_plans_in_scope_only_and_records_results(client, users, towns, engine) -> None:
    body = {"area": towns[0], "sample": 10, "inspectors": 2, "days": 1, "seed": 2,
            "as_of": "2018-12-20", "start_date": "2018-12-21"}  # fmt: skip
    denied = client.post("/routes", json=body, headers=users.headers("inspector_b"))
    assert denied.status_code == 404
    viewer = client.post("/routes", json=body, headers=users.headers("viewer_a"))
    assert viewer.status_code == 403
    made = client.post("/routes", json=body, headers=users.headers("inspector_a"))
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    try:
        assert made.headers["location"].endswith(f"/routes/{plan_id}")
        for fmt, start in (("gpx", b"<?xml"), ("kml", b"<?xml"), ("pdf", b"%PDF"),
                           ("geojson", b"{"), ("html", b"<!DOCTYPE"), ("xlsx", b"PK")):  # fmt: skip
            own = client.get(f"/routes/{plan_id}.{fmt}", headers=users.headers("viewer_a"))
            assert own.status_code == 200 and own.content.startswith(start), fmt
            other = client.get(f"/routes/{plan_id}.{fmt}", headers=users.headers("inspector_b"))
            assert other.status_code == 404, fmt
        assert (
            client.get(f"/routes/{plan_id}", headers=users.headers("inspector_b")).status_code
            == 404
        )
        listed = client.get("/routes", headers=users.headers("inspector_b")).json()["plans"]
        assert plan_id not in [p["id"] for p in listed]
        stop = made.json()["days"][0]["stops"][0]
        result = [{"household_no": stop["household_no"], "result": "issues",
                   "visit_date": "2018-12-21", "checks": {"housing": False}}]  # fmt: skip
        other = client.post(f"/routes/{plan_id}/results", json=result,
                            headers=users.headers("inspector_b"))  # fmt: skip
        assert other.status_code == 404
        first = client.post(f"/routes/{plan_id}/results", json=result,
                            headers=users.headers("inspector_a"))  # fmt: skip
        assert first.json()["inserted"] == 1
        result[0]["result"] = "confirmed"
        corrected = client.post(f"/routes/{plan_id}/results", json=result,
                                headers=users.headers("inspector_a"))  # fmt: skip
        assert corrected.json()["updated"] == 1
        geojson = client.get(f"/routes/{plan_id}.geojson", headers=users.headers("inspector_a"))
        stops = [f["properties"] for f in geojson.json()["features"]
                 if f["properties"]["kind"] == "stop"]  # fmt: skip
        assert {s["household_no"]: s["result"] for s in stops}[stop["household_no"]] == "confirmed"
        csv = f"户编号,结果,走访日期\n{stop['household_no']},未遇,2018-12-22\n".encode()
        sheet = client.post(
            f"/routes/{plan_id}/results/sheet",
            content=csv,
            headers=users.headers("inspector_a") | {"content-type": "text/csv"},
        )
        assert sheet.status_code == 200 and sheet.json()["updated"] == 1  # fmt: skip
    finally:
        _delete_plan(engine, plan_id)
