"""Dated changes: --effective-date and a 生效日期 column on imports, effective_date on API
edits, ``history show``, and the default "as of" = the latest effective date in the data.

A household that exited on 31 March 2019 and was entered later must read poor before that day
and exited after it — in the archive, the wall map and the monthly report alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo.policy import load_profile
from layers.flags import flag_rows  # noqa: F401  (the module registers the flag layer)
from layers.history import data_date, households_as_of
from layers.imports import ImportError_, ImportOptions, import_file
from tests.importing import build_world, household_rows, remove_world, write_rows

COUNTY = "449822"
REGISTERED = dt.date(2016, 3, 1)
EXITED = dt.date(2019, 3, 31)


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture
def clean(engine: sa.Engine, world):
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": COUNTY + "%"}
        )
    return world


def load(engine, path, **options):
    return import_file(engine, "households", path, ImportOptions(actor="test", **options))


def registered(engine, world, tmp_path, n: int = 3) -> None:
    rows = household_rows(world, n, 识别年度=2016, 分散贫困户="是")
    load(engine, write_rows(rows, tmp_path / "registered.csv"), effective_date=REGISTERED)


def exits(world, n: int = 3, **columns) -> list[dict]:
    """The list entered later: household 1 exited in 2019 (income 2018 recorded with it)."""
    rows = household_rows(world, n, 识别年度=2016, 分散贫困户="是")
    rows[0] |= {"脱贫状态": "已脱贫", "脱贫年度": 2019, **columns}
    return rows


def status_on(engine, world, day: dt.date) -> dict[str, str]:
    with engine.connect() as conn:
        frame = households_as_of(conn, day, world.township)
    return dict(zip(frame["household_no"], frame["status"], strict=True))


def test_dated_import_reads_poor_before_and_exited_after(engine, clean, tmp_path) -> None:
    registered(engine, clean, tmp_path)
    rows = exits(clean, 生效日期="2019-03-31")
    summary = load(engine, write_rows(rows, tmp_path / "exits.csv"))
    assert (summary.updated, summary.unchanged) == (1, 2)
    first = clean.household_no(1)
    assert status_on(engine, clean, EXITED - dt.timedelta(days=1))[first] == "poor"
    assert status_on(engine, clean, EXITED)[first] == "exited"
    assert status_on(engine, clean, REGISTERED - dt.timedelta(days=1)) == {}
    assert len(status_on(engine, clean, REGISTERED)) == 3
    again = load(engine, write_rows(rows, tmp_path / "exits.csv"))  # re-import: nothing
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    with engine.connect() as conn:
        versions = conn.execute(
            sa.text(
                "SELECT valid_from, changed FROM household_history x JOIN household h "
                "ON h.id = x.household_id WHERE h.household_no = :n ORDER BY valid_from"
            ),
            {"n": first},
        ).all()
        assert data_date(conn, clean.township) == EXITED  # not the wall clock
    assert sorted({v.valid_from for v in versions}) == [REGISTERED, EXITED]
    assert set(versions[-1].changed) == {"status", "exit_year"}


def test_rows_with_different_dates_are_written_oldest_first(engine, clean, tmp_path) -> None:
    registered(engine, clean, tmp_path)
    rows = exits(clean, 生效日期="2019-03-31")
    rows[1] |= {"脱贫状态": "已脱贫", "脱贫年度": 2018, "生效日期": "2018-11-20"}
    summary = load(engine, write_rows(rows, tmp_path / "two_dates.csv"))
    assert summary.updated == 2
    on_2019 = status_on(engine, clean, dt.date(2019, 1, 1))
    assert on_2019[clean.household_no(1)] == "poor"
    assert on_2019[clean.household_no(2)] == "exited"
    assert status_on(engine, clean, dt.date(2018, 11, 19))[clean.household_no(2)] == "poor"


@pytest.mark.parametrize(
    ("day", "says"),
    [
        ("2999-01-01", "2999-01-01 is in the future"),
        ("2015-06-30", "2015-06-30 is before the household was registered (2016-03-01)"),
    ],
)
def test_bad_effective_dates_are_refused_naming_row_and_field(
    engine, clean, tmp_path, day, says
) -> None:
    registered(engine, clean, tmp_path)
    path = write_rows(exits(clean, 生效日期=day), tmp_path / "bad.csv")
    with pytest.raises(ImportError_) as refused:
        load(engine, path)
    assert f"bad.csv: row 2, field '生效日期': {says}" in str(refused.value)
    assert status_on(engine, clean, dt.date.today())[clean.household_no(1)] == "poor"


def test_effective_date_option_in_the_future_is_refused(engine, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 1), tmp_path / "future.csv")
    with pytest.raises(ImportError_, match=r"--effective-date.*in the future"):
        load(engine, path, effective_date=dt.date.today() + dt.timedelta(days=1))


def test_monthly_report_and_wall_map_agree_with_the_archive(engine, clean, tmp_path) -> None:
    from geo.flags import Period
    from layers.reports import monthly_report
    from layers.wallmap_data import fetch_township_sheet

    registered(engine, clean, tmp_path)
    load(engine, write_rows(exits(clean, 生效日期="2019-03-31"), tmp_path / "exits.csv"))
    profile = load_profile()
    for month, exited in (("2019-02", 0), ("2019-03", 1), ("2019-12", 1)):
        period = Period.of(month)
        with engine.connect() as conn:
            report = monthly_report(conn, clean.township, period, profile, with_flags=False)
        assert int(report.status["exited_households"].sum()) == exited, month
        sheet = fetch_township_sheet(engine, clean.township, as_of=period.as_of)
        assert int((sheet.households["status"] == "exited").sum()) == exited, month
        archive = status_on(engine, clean, period.as_of)
        assert sum(s == "exited" for s in archive.values()) == exited


def test_history_show_lists_who_when_and_what_in_80_columns(
    engine, clean, tmp_path, database_url, monkeypatch
) -> None:
    from api.cli import app

    registered(engine, clean, tmp_path)
    load(engine, write_rows(exits(clean, 生效日期="2019-03-31"), tmp_path / "exits.csv"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["history", "show", clean.household_no(1)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = result.output
    for header in ("版本", "生效日期", "录入时间", "来源", "变更"):
        assert header in text
    assert "2016-03-01" in text and "2019-03-31" in text
    assert "test" in text  # who recorded it
    assert "状态→已脱贫" in text and "脱贫年度→2019" in text
    assert str(dt.date.today()) in text  # recorded today, effective earlier


# --- API edits with an effective date --------------------------------------------------------


@pytest.fixture
def api(engine: sa.Engine, clean, tmp_path) -> Iterator[tuple[TestClient, object, int]]:
    from api.app import create_app
    from tests.api_support import new_users

    registered(engine, clean, tmp_path, n=1)
    users = new_users(engine)
    users.add("editor", "editor", clean.township)
    users.add("viewer", "viewer", clean.township)
    with engine.connect() as conn:
        household = conn.execute(
            sa.text("SELECT id FROM household WHERE household_no = :n"),
            {"n": clean.household_no(1)},
        ).scalar_one()
    with TestClient(create_app(engine)) as client:
        yield client, users, household
    users.drop()


def _patch(client, users, who, household, body):
    url = f"/collections/household/items/{household}"
    etag = client.get(url, headers=users.headers(who)).headers.get("etag")
    headers = users.headers(who) | ({"If-Match": etag} if etag else {})
    return client.patch(url, json=body, headers=headers)


def test_api_edit_with_an_effective_date_is_archived_on_that_day(engine, clean, api) -> None:
    client, users, household = api
    body = {"status": "exited", "exit_year": 2019, "effective_date": "2019-03-31"}
    saved = _patch(client, users, "editor", household, body)
    assert saved.status_code == 200, saved.text
    first = clean.household_no(1)
    assert status_on(engine, clean, dt.date(2019, 3, 30))[first] == "poor"
    assert status_on(engine, clean, EXITED)[first] == "exited"
    with engine.connect() as conn:
        source = conn.execute(
            sa.text(
                "SELECT source FROM household_history WHERE household_id = :id AND valid_from = :d"
            ),
            {"id": household, "d": EXITED},
        ).scalar_one()
    assert source.endswith("-editor")


@pytest.mark.parametrize(
    ("day", "says"),
    [("2999-01-01", "is in the future"), ("2015-12-31", "before the household was registered")],
)
def test_api_refuses_effective_dates_in_the_future_or_before_registration(
    engine, clean, api, day, says
) -> None:
    client, users, household = api
    body = {"status": "exited", "exit_year": 2019, "effective_date": day}
    refused = _patch(client, users, "editor", household, body)
    assert refused.status_code == 400 and says in refused.text
    assert status_on(engine, clean, dt.date.today())[clean.household_no(1)] == "poor"
    viewer = _patch(client, users, "viewer", household, {**body, "effective_date": "2019-03-31"})
    assert viewer.status_code == 403


def test_effective_date_on_a_layer_without_an_archive_is_harmless(engine, world, tmp_path):
    """--effective-date dates household changes; other layers load as usual with it."""
    path = tmp_path / "cadres.csv"
    path.write_text(
        "姓名,单位,单位级别,乡镇\n李干部,试验县农业局,县," + world.township + "\n", encoding="utf-8"
    )
    summary = import_file(
        engine, "cadres", path, ImportOptions(actor="test", effective_date=dt.date(2019, 1, 1))
    )
    assert summary.inserted == 1
