"""Monitoring over HTTP and on the command line, on the committed demo world.

Reports and flags stay inside the caller's scope (another township is 404 like a missing
one); the files come back with their media types; the dashboard page holds no data and no
external URL. The demo's committed history is whatever the loader wrote, so reports are
asked for the current month (the final state either way).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from geo.flags import Period, monitoring_policy
from geo.policy import load_profile
from layers.flags import FlagQuery, refresh_flags
from layers.reports import monthly_report
from maps.webmap import external_urls
from tests.api_support import Users, demo_townships, new_users

MONTH = dt.date.today().strftime("%Y-%m")


@pytest.fixture(scope="module")
def towns(engine: sa.Engine, demo_world: dict) -> tuple[str, str]:
    first, second, *_ = demo_townships(engine)
    return first, second


@pytest.fixture(scope="module")
def users(engine: sa.Engine, towns) -> Iterator[Users]:
    users = new_users(engine)
    users.add("town", "viewer", towns[0])
    users.add("county", "viewer", towns[0][:6])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def stored_flags(engine: sa.Engine, towns) -> Iterator[None]:
    """Flags of the two townships in the flag table (removed afterwards)."""
    policy = monitoring_policy(load_profile())
    with engine.begin() as conn:
        for town in towns:
            refresh_flags(conn, FlagQuery(town, dt.date.today()), policy, "test")
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM flag WHERE profile = 'test'"))


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


def test_township_report_as_json_matches_the_report(client, users, engine, towns) -> None:
    response = client.get(
        f"/reports/monthly/{towns[0]}.json", params={"month": MONTH}, headers=users.headers("town")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    with engine.begin() as conn:
        expected = monthly_report(conn, towns[0], Period.of(MONTH), load_profile())
    assert body["summary"]["households"] == expected.summary["households"]
    assert body["summary"]["exited_households"] == expected.summary["exited_households"]
    assert body["note"] == "示例数据（合成）"
    assert "head_name" not in response.text and "id_number" not in response.text


def test_reports_outside_the_scope_are_404(client, users, towns) -> None:
    town = users.headers("town")
    for path in (
        f"/reports/monthly/{towns[1]}.json",
        f"/reports/monthly/{towns[0][:6]}.pdf",
        f"/reports/progress/{towns[1]}",
        f"/flags/summary/{towns[1]}",
    ):
        assert client.get(path, params={"month": MONTH}, headers=town).status_code == 404, path
    assert client.get(f"/reports/monthly/{towns[0]}.json").status_code == 401


def test_county_user_gets_the_county_report_files(client, users, towns) -> None:
    county = users.headers("county")
    xlsx = client.get(
        f"/reports/monthly/{towns[0][:6]}.xlsx", params={"month": MONTH}, headers=county
    )
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert "户数人数" in book.sheetnames and "预警汇总" in book.sheetnames
    assert {c.value for c in book["户数人数"]["A"][1:]} >= set(towns)  # by township
    pdf = client.get(f"/reports/monthly/{towns[1]}.pdf", params={"month": MONTH}, headers=county)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_progress_series_for_the_dashboard(client, users, towns) -> None:
    year = dt.date.today().year
    response = client.get(
        f"/reports/progress/{towns[0]}",
        params={"start": f"{year}-01", "end": MONTH},
        headers=users.headers("town"),
    )
    assert response.status_code == 200, response.text
    months = response.json()["months"]
    assert [m["month"] for m in months][-1] == MONTH
    assert all(m["poor_households"] >= 0 and m["target_year_people"] >= 0 for m in months)


def test_flags_list_stays_in_scope(client, users, towns, stored_flags) -> None:
    town = users.headers("town")
    body = client.get("/flags", params={"limit": 10_000}, headers=town).json()
    assert body["numberMatched"] > 0
    assert all(f["township_code"] == towns[0] for f in body["flags"])
    other = client.get("/flags", params={"township": towns[1]}, headers=town)
    assert other.status_code == 404
    county = client.get(
        "/flags", params={"county": towns[0][:6], "limit": 10_000}, headers=users.headers("county")
    ).json()
    assert {f["township_code"] for f in county["flags"]} == set(towns)
    bad = client.get("/flags", params={"kind": "rumour"}, headers=town)
    assert bad.status_code == 400 and "rumour" in bad.text


def test_flag_layer_items_stay_in_scope(client, users, towns, stored_flags) -> None:
    body = client.get(
        "/collections/flag/items", params={"limit": 10_000}, headers=users.headers("town")
    ).json()
    assert body["numberMatched"] > 0
    assert all(f["properties"]["township_code"] == towns[0] for f in body["features"])


def test_dashboard_page_is_a_shell_without_external_urls(client) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200 and "/static/reports/dashboard.js" in page.text
    assert external_urls(page.text) == []
    script = client.get("/static/reports/dashboard.js")
    assert script.status_code == 200 and external_urls(script.text) == []


@pytest.fixture
def cli(database_url: str, monkeypatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CI", "1")
    return CliRunner()


def test_cli_report_flags_and_history(cli, towns, tmp_path, engine) -> None:
    out = tmp_path / "report.xlsx"
    result = cli.invoke(
        cli_app, ["report", "monthly", "--township", towns[0], "--month", MONTH, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.exists() and "扶贫工作月报" in result.output and "示例数据（合成）" in result.output
    bad = cli.invoke(cli_app, ["report", "monthly", "--township", towns[0], "--month", "June"])
    assert bad.exit_code == 2 and "2018-06" in bad.output
    listing = tmp_path / "flags.csv"
    result = cli.invoke(
        cli_app, ["flags", "--township", towns[0], "--no-store", "-o", str(listing)]
    )
    assert result.exit_code == 0, result.output
    assert listing.read_text(encoding="utf-8-sig").startswith("乡镇代码,村代码,户编号")
    with engine.connect() as conn:
        number = conn.execute(
            sa.text(
                "SELECT household_no FROM household WHERE starts_with(village_code, :t) LIMIT 1"
            ),
            {"t": towns[0]},
        ).scalar()
    result = cli.invoke(cli_app, ["history", "show", number])
    assert result.exit_code == 0 and number in result.output
