"""The map API write side: household edits with If-Match, help records, visits, the audit log.

Edits go to households this module creates in a demo village of township A (and removes
again), so the demo's own rows are never changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from geo import idnumber
from tests.api_support import Users, demo_townships, household_in, new_users


@pytest.fixture(scope="module")
def towns(engine: sa.Engine, demo_world: dict) -> tuple[str, str]:
    codes = demo_townships(engine)
    return codes[0], codes[1]


@pytest.fixture(scope="module")
def users(engine: sa.Engine, towns) -> Iterator[Users]:
    users = new_users(engine)
    users.add("editor_a", "editor", towns[0])
    users.add("editor_a2", "editor", towns[0])
    users.add("inspector_a", "inspector", towns[0])
    users.add("viewer_a", "viewer", towns[0])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


def unused_id_number(conn: sa.Connection, seq: int) -> str:
    """A valid ID number (check digit and all) that no household holds."""
    while True:
        number = idnumber.make("441882", dt.date(1931, 1, 1) + dt.timedelta(days=seq), seq % 1000)
        taken = conn.execute(
            sa.text("SELECT 1 FROM household WHERE id_number = :n"), {"n": number}
        ).first()
        if not taken:
            return number
        seq += 1


@pytest.fixture
def household(engine: sa.Engine, towns) -> Iterator[int]:
    """A household of our own next to a demo household of township A; deleted afterwards."""
    near = household_in(engine, towns[0], offset=11)
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.text(
                "INSERT INTO household (household_no, village_code, geom, head_name, id_number, "
                "phone, members, labour_members, category, main_cause, housing_status, status, "
                "scattered, registered_year) SELECT 'TEDIT' || gen_random_uuid(), village_code, "
                "geom, '测试户主', :idn, '13800001111', 4, 2, 'general', 'illness', 'safe', "
                "'poor', true, 2016 FROM household WHERE id = :near RETURNING id"
            ),
            {"near": near.id, "idn": unused_id_number(conn, near.id)},
        ).scalar_one()
    yield new_id
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM household WHERE id = :id"), {"id": new_id})
        conn.execute(
            sa.text(
                "DELETE FROM audit_log WHERE table_name IN ('household', 'help_record', "
                "'visit') AND (row_id = :h OR after ->> 'household_id' = :h)"
            ),
            {"h": str(new_id)},
        )


def read(client: TestClient, users: Users, who: str, household: int):
    response = client.get(f"/collections/household/items/{household}", headers=users.headers(who))
    assert response.status_code == 200, response.text
    return response


def patch(client, users, who, household, body, etag=None):
    headers = users.headers(who) | ({"If-Match": etag} if etag else {})
    return client.patch(f"/collections/household/items/{household}", json=body, headers=headers)


# --- households: optimistic concurrency and the audit log -----------------------------------


def test_edit_needs_if_match_and_is_audited(
    client: TestClient, users: Users, engine, household: int
) -> None:
    first = read(client, users, "editor_a", household)
    assert first.headers["etag"] == f'"household-{household}-v1"'
    assert patch(client, users, "editor_a", household, {"members": 5}).status_code == 428
    saved = patch(
        client,
        users,
        "editor_a",
        household,
        {"members": 5, "phone": "13900002222"},
        first.headers["etag"],
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == f'"household-{household}-v2"'
    assert saved.json()["properties"]["members"] == 5
    with engine.connect() as conn:
        log = conn.execute(
            sa.text(
                "SELECT actor, action, before, after, at FROM audit_log "
                "WHERE table_name = 'household' AND row_id = :id ORDER BY id"
            ),
            {"id": str(household)},
        ).all()
        archived_by = conn.execute(
            sa.text(
                "SELECT source FROM household_history WHERE household_id = :id "
                "ORDER BY valid_from DESC, id DESC LIMIT 1"
            ),
            {"id": household},
        ).scalar()
    assert len(log) == 1
    entry = log[0]
    assert entry.actor == f"api:{users.prefix}-editor_a" and entry.action == "update"
    assert archived_by == entry.actor  # the archive's new version names the editor
    assert (entry.before["members"], entry.after["members"]) == (4, 5)
    assert (entry.before["phone"], entry.after["phone"]) == ("13800001111", "13900002222")
    assert (entry.before["version"], entry.after["version"]) == (1, 2)
    assert entry.at is not None


def test_two_editors_cannot_silently_overwrite_each_other(
    client: TestClient, users: Users, household: int
) -> None:
    etag = read(client, users, "editor_a", household).headers["etag"]
    same = read(client, users, "editor_a2", household).headers["etag"]
    assert etag == same
    first = patch(client, users, "editor_a", household, {"housing_status": "dangerous_c"}, etag)
    assert first.status_code == 200
    second = patch(client, users, "editor_a2", household, {"housing_status": "renovated"}, same)
    assert second.status_code == 412 and second.json()["code"] == "version_conflict"
    now = read(client, users, "editor_a2", household).json()["properties"]
    assert now["housing_status"] == "dangerous_c"
    assert (
        patch(client, users, "editor_a", household, {"members": 3}, '"garbage"').status_code == 412
    )


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1},
        {"village_code": "441882999999"},
        {"version": 99},
        {"household_no": "X1"},
        {"updated_at": "2020-01-01T00:00:00Z"},
        {"synthetic": False},
        {"members": 3, "scope": "441882"},
        {"actor": "someone-else"},
    ],
)
def test_mass_assignment_is_refused(client, users, engine, household: int, body: dict) -> None:
    etag = read(client, users, "editor_a", household).headers["etag"]
    response = patch(client, users, "editor_a", household, body, etag)
    assert response.status_code == 400, response.text
    assert "extra" in response.json()["description"].lower()
    with engine.connect() as conn:
        version = conn.execute(
            sa.text("SELECT version FROM household WHERE id = :id"), {"id": household}
        ).scalar()
    assert version == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"id_number": "441882193101010011"}, "id_number"),  # wrong check digit
        ({"status": "exited"}, "exit_year"),  # exited needs its year
        ({"labour_members": 9}, "labour"),
        ({"secondary_cause": "illness"}, "secondary_cause"),
        ({"category": "rich"}, "category"),
        ({"members": 0}, "members"),
        ({"head_name": None}, "head_name"),
        ({"cadre_id": 2147483000}, "cadre_id"),
        ({"location": {"lon": 113.9, "lat": 22.5}}, "location"),  # Shenzhen, not the village
    ],
)
def test_invalid_values_are_400_naming_the_field(
    client, users, household: int, body: dict, says: str
) -> None:
    etag = read(client, users, "editor_a", household).headers["etag"]
    response = patch(client, users, "editor_a", household, body, etag)
    assert response.status_code == 400, response.text
    assert says in response.json()["description"]


def test_a_duplicate_id_number_never_reveals_the_hidden_household(
    client: TestClient, users: Users, engine, towns, household: int
) -> None:
    visible = household_in(engine, towns[0], offset=2)
    hidden = household_in(engine, towns[1], offset=2)
    with engine.connect() as conn:
        numbers = dict(
            conn.execute(
                sa.text("SELECT id, id_number FROM household WHERE id IN (:a, :b)"),
                {"a": visible.id, "b": hidden.id},
            ).all()
        )
    etag = read(client, users, "editor_a", household).headers["etag"]
    answers = [
        patch(client, users, "editor_a", household, {"id_number": numbers[h.id]}, etag)
        for h in (visible, hidden)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()  # the same answer in scope and out of it
    text = answers[1].text
    assert hidden.household_no not in text and hidden.village_code not in text
    assert numbers[hidden.id] not in text


def test_households_of_another_township_cannot_be_edited(
    client: TestClient, users: Users, engine, towns
) -> None:
    theirs = household_in(engine, towns[1])
    response = patch(
        client, users, "editor_a", theirs.id, {"members": 2}, f'"household-{theirs.id}-v1"'
    )
    assert response.status_code == 404
    record = {"household_id": theirs.id, "date": "2018-03-01", "measure": "policy"}
    response = client.post(
        "/collections/help_record/items", json=record, headers=users.headers("editor_a")
    )
    assert response.status_code == 404
    visit = {"household_id": theirs.id, "date": "2018-03-01", "result": "confirmed"}
    response = client.post(
        "/collections/visit/items", json=visit, headers=users.headers("inspector_a")
    )
    assert response.status_code == 404


# --- help records and visits -------------------------------------------------------------------


def test_help_record_is_added_audited_and_listed(
    client: TestClient, users: Users, engine, household: int
) -> None:
    body = {
        "household_id": household,
        "date": "2018-05-04",
        "measure": "finance",
        "amount": 20000,
        "note": "小额信贷",
        "signed_household": True,
        "signed_cadre": True,
    }
    created = client.post(
        "/collections/help_record/items", json=body, headers=users.headers("editor_a")
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["properties"]["measure"] == "finance" and record["properties"]["amount"] == 20000
    assert created.headers["location"].endswith(f"/collections/help_record/items/{record['id']}")
    listed = client.get(
        "/collections/help_record/items",
        params={"household": household},
        headers=users.headers("viewer_a"),
    ).json()
    assert [f["id"] for f in listed["features"]] == [record["id"]]
    with engine.connect() as conn:
        entry = conn.execute(
            sa.text(
                "SELECT actor, after FROM audit_log WHERE table_name = 'help_record' "
                "AND row_id = :id"
            ),
            {"id": str(record["id"])},
        ).one()
    assert entry.actor.endswith("editor_a") and entry.after["note"] == "小额信贷"


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"measure": "lottery"}, 400, "measure"),
        ({"measure": "finance", "amount": 60000}, 400, "50,000"),  # seed 003 loan cap
        ({"amount": -5}, 400, "amount"),
        ({"date": "2999-01-01"}, 400, "future"),
        ({"id": 5}, 400, "extra"),
        ({"household_id": 0}, 400, "household_id"),
    ],
)
def test_bad_help_records_are_refused(client, users, household: int, change, status, says) -> None:
    body = {"household_id": household, "date": "2018-05-04", "measure": "policy"} | change
    response = client.post(
        "/collections/help_record/items", json=body, headers=users.headers("editor_a")
    )
    assert response.status_code == status, response.text
    assert says in response.json()["description"]


def test_visit_inspector_is_the_caller_never_the_body(
    client: TestClient, users: Users, engine, household: int
) -> None:
    with engine.connect() as conn:
        lon, lat = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE id = :id"),
            {"id": household},
        ).one()
    body = {
        "household_id": household,
        "date": "2018-06-01",
        "result": "issues",
        "findings": "危房未改造",
        "location": {"lon": lon + 0.001, "lat": lat},
    }
    spoofed = client.post(
        "/collections/visit/items",
        json=body | {"inspector": "张三"},
        headers=users.headers("inspector_a"),
    )
    assert spoofed.status_code == 400
    created = client.post(
        "/collections/visit/items", json=body, headers=users.headers("inspector_a")
    )
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["inspector"] == f"{users.prefix}-inspector_a"
    far = body | {"location": {"lon": lon + 0.5, "lat": lat}}
    response = client.post(
        "/collections/visit/items", json=far, headers=users.headers("inspector_a")
    )
    assert response.status_code == 400 and "km" in response.json()["description"]
