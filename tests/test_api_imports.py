"""POST /imports: the CLI's import behind editor/admin tokens, the caller's scope and a size limit.

The households go into this module's own made-up world (county 449817, tests/importing.py),
removed again at the end; the app runs against the session's PostGIS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.api_support import Users, new_users
from tests.importing import World, build_world, household_rows, remove_world, write_rows

COUNTY = "449817"
LIMIT_MB = 1


@pytest.fixture(scope="module")
def world(engine: sa.Engine) -> Iterator[World]:
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture(scope="module")
def users(engine: sa.Engine, world: World) -> Iterator[Users]:
    users = new_users(engine)
    users.add("editor", "editor", world.township)
    users.add("admin", "admin", COUNTY)
    users.add("village_editor", "editor", world.village_a)
    users.add("viewer", "viewer", world.township)
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(engine, ApiSettings(max_upload_mb=LIMIT_MB))) as client:
        yield client


@pytest.fixture
def clean(engine: sa.Engine, world: World) -> World:
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code LIKE :c"), {"c": COUNTY + "%"}
        )
    return world


def upload(client, users, who: str, path: Path, **form):
    data = {"kind": "households", **{k: str(v).lower() for k, v in form.items()}}
    with open(path, "rb") as handle:
        return client.post(
            "/imports",
            files={"file": (path.name, handle, "application/octet-stream")},
            data=data,
            headers=users.headers(who),
        )


def stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM household WHERE village_code LIKE :c"),
            {"c": COUNTY + "%"},
        ).scalar()


def test_a_good_upload_inserts_and_the_audit_names_the_caller(
    client, users, engine, clean, tmp_path
) -> None:
    path = write_rows(household_rows(clean, 3), tmp_path / "户表.csv")
    response = upload(client, users, "editor", path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["read"], body["inserted"], body["updated"], body["rejected"]) == (3, 3, 0, 0)
    assert body["file"] == "户表.csv" and body["table"] == "household"
    assert body["related"]["household_income"]["inserted"] == 3
    assert stored(engine) == 3
    with engine.connect() as conn:
        actor = conn.execute(
            sa.text(
                "SELECT actor FROM audit_log WHERE table_name = 'household' "
                "AND after ->> 'file' = '户表.csv' ORDER BY id DESC LIMIT 1"
            )
        ).scalar()
        archived_by = set(
            conn.execute(
                sa.text(
                    "SELECT v.source FROM household_history v JOIN household h "
                    "ON h.id = v.household_id WHERE h.village_code LIKE :c"
                ),
                {"c": clean.county + "%"},
            ).scalars()
        )
    assert actor == f"api:{users.prefix}-editor"
    assert archived_by == {actor}  # the archive names the importer too


def test_re_uploading_the_same_file_changes_nothing(client, users, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 3), tmp_path / "hh.gpkg")
    assert upload(client, users, "admin", path).json()["inserted"] == 3
    again = upload(client, users, "admin", path).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)


def test_an_upload_with_an_effective_date_dates_the_archive(
    client, users, engine, clean, tmp_path
) -> None:
    path = write_rows(household_rows(clean, 2), tmp_path / "dated.csv")
    response = upload(client, users, "editor", path, effective_date="2017-06-30")
    assert response.status_code == 200, response.text
    with engine.connect() as conn:
        first = conn.execute(
            sa.text(
                "SELECT DISTINCT v.valid_from FROM household_history v JOIN household h "
                "ON h.id = v.household_id WHERE h.village_code LIKE :c"
            ),
            {"c": clean.county + "%"},
        ).scalars()
        assert set(first) == {dt.date(2017, 6, 30)}
    bad = upload(client, users, "editor", path, effective_date="30/06/2017")
    assert bad.status_code == 400 and "effective_date must be a date" in bad.text


def test_dry_run_writes_nothing(client, users, engine, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 2), tmp_path / "hh.csv")
    body = upload(client, users, "editor", path, dry_run=True).json()
    assert body["dry_run"] and body["inserted"] == 2
    assert stored(engine) == 0


def test_a_bad_row_is_422_naming_row_and_field(client, users, engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 3)
    rows[1]["身份证号"] = rows[1]["身份证号"][:-1] + (
        "0" if rows[1]["身份证号"][-1] != "0" else "1"
    )
    path = write_rows(rows, tmp_path / "hh.csv")
    response = upload(client, users, "editor", path)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_refused" and "nothing was loaded" in body["description"]
    assert [(e["file"], e["row"], e["field"]) for e in body["errors"]] == [
        ("hh.csv", 3, "身份证号")
    ]
    assert "check character" in body["errors"][0]["message"]
    assert stored(engine) == 0


def test_skip_invalid_loads_the_rest_and_lists_the_rejected(
    client, users, engine, clean, tmp_path
) -> None:
    rows = household_rows(clean, 3)
    rows[2]["家庭人口数"] = -1
    path = write_rows(rows, tmp_path / "hh.csv")
    body = upload(client, users, "editor", path, skip_invalid=True).json()
    assert (body["inserted"], body["rejected"]) == (2, 1)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(4, "家庭人口数")]
    assert stored(engine) == 2


def test_rows_outside_the_callers_scope_are_refused(client, users, engine, clean, tmp_path) -> None:
    rows = household_rows(clean, 3)
    rows[2].update({"所在村": clean.village_b, "经度": 113.43})  # village B: not the caller's
    path = write_rows(rows, tmp_path / "hh.csv")
    response = upload(client, users, "village_editor", path, skip_invalid=True)
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "out_of_scope"
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(4, "所在村")]
    assert clean.village_b in body["errors"][0]["message"]
    assert stored(engine) == 0
    # the same file is fine for an editor of the whole township
    assert upload(client, users, "editor", path).json()["inserted"] == 3


def test_stored_rows_outside_the_scope_cannot_be_moved_in(
    client, users, engine, clean, tmp_path
) -> None:
    rows = household_rows(clean, 2)
    rows[1].update({"所在村": clean.village_b, "经度": 113.43})
    assert upload(client, users, "editor", write_rows(rows, tmp_path / "a.csv")).status_code == 200
    rows[1].update({"所在村": clean.village_a, "经度": 113.41})  # "move" B's household into A
    response = upload(client, users, "village_editor", write_rows(rows, tmp_path / "b.csv"))
    assert response.status_code == 403, response.text
    assert [e["row"] for e in response.json()["errors"]] == [3]
    assert "stored row of " + clean.village_b in response.json()["errors"][0]["message"]


def test_kinds_without_an_area_code_are_refused_over_the_api(client, users, tmp_path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text('wkt,等级\n"LINESTRING(113.41 23.81, 113.42 23.81)",村道\n')
    response = client.post(
        "/imports",
        files={"file": (path.name, path.read_bytes())},
        data={"kind": "roads"},
        headers=users.headers("admin"),
    )
    assert response.status_code == 403 and response.json()["code"] == "out_of_scope"


def test_an_upload_over_the_limit_is_413(client, users, engine, clean, tmp_path) -> None:
    path = tmp_path / "big.csv"
    rows = household_rows(clean, 1)
    write_rows(rows, path)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n" * (LIMIT_MB * 1024 * 1024 + 10))
    response = upload(client, users, "editor", path)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "too_large"
    assert "limit of" in response.json()["description"]
    assert stored(engine) == 0


def test_the_limit_holds_without_a_content_length(client, users, clean) -> None:
    """A chunked body is counted as it streams in."""

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\nhouseholds\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
        for _ in range(LIMIT_MB * 4 + 4):
            yield b"a" * 256 * 1024
        yield b"\r\n--b--\r\n"

    response = client.post(
        "/imports",
        content=body(),
        headers={**users.headers("editor"), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413, response.text


def test_viewers_may_not_import(client, users, clean, tmp_path) -> None:
    path = write_rows(household_rows(clean, 1), tmp_path / "hh.csv")
    response = upload(client, users, "viewer", path)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_without_a_token_401_and_without_a_file_400(client, users) -> None:
    assert client.post("/imports", data={"kind": "households"}).status_code == 401
    form = {"kind": (None, "households")}  # multipart, but no file
    response = client.post("/imports", files=form, headers=users.headers("editor"))
    assert response.status_code == 400 and "'file'" in response.json()["description"]
    response = client.post("/imports", data={"kind": "x"}, headers=users.headers("editor"))
    assert response.status_code == 400 and "multipart" in response.json()["description"]
