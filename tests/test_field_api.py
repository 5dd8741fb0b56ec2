"""The field app's API on the demo world: the offline package, photos and visit sync with its
bad cases (replays, conflicts, households outside the plan, clock skew, a 20 MB photo, a
revoked token, a deleted plan). The plan and visits commit; the module cleans up after itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from layers.access import revoke_user
from tests.api_support import Users, demo_townships, household_changed, new_users

CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def towns(engine: sa.Engine, demo_world: dict) -> tuple[str, str]:
    codes = demo_townships(engine)
    return codes[3], codes[1]


@pytest.fixture(scope="module")
def users(engine: sa.Engine, towns) -> Iterator[Users]:
    users = new_users(engine)
    users.add("insp", "inspector", towns[0])
    users.add("other", "inspector", towns[1])
    users.add("viewer", "viewer", towns[0])
    users.add("leaver", "inspector", towns[0])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


@pytest.fixture(scope="module")
def plan(client, users, towns, engine) -> Iterator[dict]:
    body = {"area": towns[0], "sample": 8, "inspectors": 1, "days": 1, "seed": 5,
            "as_of": "2018-12-20", "start_date": "2018-12-21"}  # fmt: skip
    made = client.post("/routes", json=body, headers=users.headers("insp"))
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    package = client.get(f"/field/api/plans/{plan_id}/package", headers=users.headers("insp"))
    assert package.status_code == 200, package.text
    yield package.json()
    with engine.begin() as conn:
        ids = conn.execute(
            sa.text("DELETE FROM visit WHERE source = 'field' RETURNING id, photo_sha256")
        ).all()
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'visit' AND row_id = ANY(:v)"),
            {"v": [str(r.id) for r in ids]},
        )
        conn.execute(sa.text("DELETE FROM visit_photo"))
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :p"), {"p": plan_id})


def visit(package: dict, household: dict | None = None, **changes) -> dict:
    """A visit as the phone sends it: at the household's door, 10 minutes of work."""
    h = household or package["households"][0]
    now = dt.datetime.now(CHINA)
    body = {
        "client_id": str(uuid.uuid4()),
        "plan_id": package["plan"]["id"],
        "household_id": h["household_id"],
        "household_version": h["version"],
        "result": "issues",
        "checks": dict.fromkeys(("food", "clothing", "education", "medical"), True)
        | {"housing": False},
        "notes": "屋顶漏雨",
        "position": {"lon": h["lon"] + 0.0003, "lat": h["lat"], "accuracy_m": 12.0},
        "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
        "recorded_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "sent_at": now.isoformat(),
    }
    return body | changes


def stored(engine: sa.Engine, client_id: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM visit WHERE client_id = :c"), {"c": client_id}
        ).all()


def test_the_package_holds_the_route_and_what_to_verify(plan, client, users) -> None:
    households = plan["households"]
    assert len(households) == 8 and plan["days"][0]["stops"]
    planned = [h for h in households if h["day_id"] == plan["days"][0]["id"]]
    assert [h["seq"] for h in planned] == sorted(h["seq"] for h in planned)
    first = households[0]
    assert first["version"] >= 1 and first["labels"]["housing_status"]
    assert all("*" in p["name"] for h in households for p in h["people"])  # members masked
    assert any(h["income"] is not None for h in households)  # an inspector sees income
    layers = {f["properties"]["layer"] for f in plan["map"]["features"]}
    assert {"road", "route"} <= layers
    assert plan["hillshade"]["image"].startswith("data:image/webp;base64,")
    assert len(json.dumps(plan).encode()) < 600_000  # small enough for a phone
    zipped = client.get(f"/field/api/plans/{plan['plan']['id']}/package",
                        headers=users.headers("insp") | {"Accept-Encoding": "gzip"})  # fmt: skip
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(json.dumps(plan).encode()) * 0.6
    assert client.get(f"/field/api/plans/{plan['plan']['id']}/package",
                      headers=users.headers("viewer")).status_code == 403  # fmt: skip
    other = client.get(
        f"/field/api/plans/{plan['plan']['id']}/package", headers=users.headers("other")
    )
    assert other.status_code == 404 and "不在您的范围内" in other.json()["description"]


def test_a_visit_synced_twice_is_stored_once(plan, client, users, engine) -> None:
    body = visit(plan)
    first = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
    again = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
    assert first["status"] == "stored" and first["flags"] == []
    assert again["status"] == "duplicate" and again["visit_id"] == first["visit_id"]
    rows = stored(engine, body["client_id"])
    assert len(rows) == 1
    row = rows[0]
    assert row.findings == "未保障：住房安全有保障；屋顶漏雨" and row.result == "issues"
    assert 20 < row.distance_m < 50 and row.accuracy_m == 12.0 and row.plan_id == plan["plan"]["id"]
    with engine.connect() as conn:
        stop = conn.execute(
            sa.text("SELECT result, check_housing, visit_id FROM route_stop "
                    "WHERE plan_id = :p AND household_id = :h"),
            {"p": plan["plan"]["id"], "h": body["household_id"]},
        ).one()  # fmt: skip
    assert stop == ("issues", False, row.id)
    changed = body | {"result": "confirmed"}
    clash = client.post("/field/api/visits", json=changed, headers=users.headers("insp")).json()
    assert clash["status"] == "conflict" and stored(engine, body["client_id"])[0].result == "issues"


def test_far_or_hurried_visits_are_flagged_not_on_site(plan, client, users, engine) -> None:
    h = plan["households"][1]
    now = dt.datetime.now(CHINA)
    body = visit(plan, h, position={"lon": h["lon"] + 0.01, "lat": h["lat"], "accuracy_m": 10},
                 started_at=(now - dt.timedelta(seconds=6)).isoformat())  # fmt: skip
    answer = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
    assert answer["status"] == "stored"
    assert answer["flags"] == ["far", "quick"] and "疑似未到现场" in answer["message"]
    assert stored(engine, body["client_id"])[0].distance_m > 900


def test_a_household_outside_the_plan_or_scope_is_refused(plan, client, users, engine) -> None:
    with engine.connect() as conn:
        outside = conn.execute(
            sa.text("SELECT id FROM household WHERE starts_with(village_code, :t) "
                    "AND id <> ALL(:ids) ORDER BY id LIMIT 1"),
            {"t": plan["plan"]["area"], "ids": [h["household_id"] for h in plan["households"]]},
        ).scalar_one()  # fmt: skip
    body = visit(plan, household_id=outside)
    answer = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
    assert answer["status"] == "refused" and f"#{plan['plan']['id']}" in answer["message"]
    elsewhere = client.post("/field/api/visits", json=visit(plan), headers=users.headers("other"))
    assert elsewhere.json()["status"] == "refused" and "范围" in elsewhere.json()["message"]
    assert stored(engine, body["client_id"]) == []


def test_a_household_changed_since_download_is_a_conflict(plan, client, users, engine) -> None:
    h = plan["households"][2]
    with household_changed(engine, h["household_id"]):
        body = visit(plan, h)
        answer = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
        assert answer["status"] == "conflict" and "已被修改" in answer["message"]
        assert answer["current"]["members"] == h["members"] + 1
        assert stored(engine, body["client_id"]) == []  # reported, not stored over
        body["accept_version"] = answer["current"]["version"]
        accepted = client.post("/field/api/visits", json=body, headers=users.headers("insp"))
        assert accepted.json()["status"] == "stored"


def test_clock_skew_is_corrected_and_said(plan, client, users, engine) -> None:
    h = plan["households"][3]
    phone = dt.datetime.now(CHINA) - dt.timedelta(hours=2)  # the phone is 2 hours behind
    body = visit(plan, h, started_at=(phone - dt.timedelta(minutes=9)).isoformat(),
                 recorded_at=(phone - dt.timedelta(minutes=1)).isoformat(),
                 sent_at=phone.isoformat())  # fmt: skip
    answer = client.post("/field/api/visits", json=body, headers=users.headers("insp")).json()
    assert answer["status"] == "stored" and "时钟偏差" in " ".join(answer["warnings"])
    row = stored(engine, body["client_id"])[0]
    late = dt.datetime.now(dt.UTC) - row.recorded_at
    assert dt.timedelta(0) < late < dt.timedelta(minutes=3) and abs(row.clock_skew_s - 7200) < 60


def test_photos_by_checksum_with_a_clear_limit(plan, client, users, engine) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    sha = hashlib.sha256(jpeg).hexdigest()
    put = {"headers": users.headers("insp") | {"Content-Type": "image/jpeg"}}
    huge = client.put(f"/field/api/photos/{'0' * 64}", content=b"\0" * 20_000_000, **put)
    assert huge.status_code == 413 and "20.0 MB" in huge.json()["description"]
    wrong = client.put(f"/field/api/photos/{'1' * 64}", content=jpeg, **put)
    assert wrong.status_code == 422 and "校验和" in wrong.json()["description"]
    missing = visit(plan, plan["households"][4], photo_sha256=sha)
    early = client.post("/field/api/visits", json=missing, headers=users.headers("insp")).json()
    assert early["status"] == "refused" and "照片尚未上传" in early["message"]
    assert client.put(f"/field/api/photos/{sha}", content=jpeg, **put).status_code == 201
    assert client.put(f"/field/api/photos/{sha}", content=jpeg, **put).status_code == 200
    answer = client.post("/field/api/visits", json=missing, headers=users.headers("insp")).json()
    assert answer["status"] == "stored"
    shown = client.get(f"/field/photos/{sha}", headers=users.headers("insp"))
    assert shown.status_code == 200 and shown.content == jpeg
    assert client.get(f"/field/photos/{sha}", headers=users.headers("viewer")).status_code == 403
    assert client.get(f"/field/photos/{sha}", headers=users.headers("other")).status_code == 404
    item = client.get(
        f"/collections/visit/items/{answer['visit_id']}", headers=users.headers("insp")
    )
    assert item.json()["properties"]["photo_sha256"] == sha


def test_a_revoked_token_cannot_sync(plan, client, users, engine) -> None:
    revoke_user(engine, f"{users.prefix}-leaver", actor="test")
    body = visit(plan, plan["households"][5])
    refused = client.post("/field/api/visits", json=body, headers=users.headers("leaver"))
    assert refused.status_code == 401 and "revoked" in refused.json()["description"]
    assert stored(engine, body["client_id"]) == []


def test_a_plan_deleted_on_the_server_keeps_the_visit(client, users, towns, engine) -> None:
    body = {"area": towns[0], "sample": 3, "inspectors": 1, "days": 1, "seed": 8,
            "as_of": "2018-12-20"}  # fmt: skip
    plan_id = client.post("/routes", json=body, headers=users.headers("insp")).json()["id"]
    package = client.get(f"/field/api/plans/{plan_id}/package", headers=users.headers("insp"))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :p"), {"p": plan_id})
    answer = client.post(
        "/field/api/visits", json=visit(package.json()), headers=users.headers("insp")
    ).json()
    assert answer["status"] == "stored" and "已在服务器上删除" in answer["warnings"][0]
    gone = client.get(f"/field/api/plans/{plan_id}/package", headers=users.headers("insp"))
    assert gone.status_code == 404
