"""Teams on ODK Collect / KoBoToolbox: the plan's visit form as an XLSForm (checked with
pyxform, households as a choice list) and ODK Central's export back as visits — the CSV's
columns are derived from the form itself, as ODK Central names them, so the test is a real
round trip. Importing twice stores nothing twice; a bad row names its row and column and
leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from geo.routing.odk import check_xlsform
from tests.api_support import Users, demo_townships, new_users

XF = "{http://www.w3.org/2002/xforms}"


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


@pytest.fixture(scope="module")
def users(engine: sa.Engine, demo_world: dict) -> Iterator[Users]:
    users = new_users(engine)
    users.add("insp", "inspector", demo_townships(engine)[4])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def plan(client, users, engine) -> Iterator[dict]:
    area = demo_townships(engine)[4]
    body = {"area": area, "sample": 5, "inspectors": 1, "days": 1, "seed": 4,
            "as_of": "2018-12-20"}  # fmt: skip
    made = client.post("/routes", json=body, headers=users.headers("insp"))
    assert made.status_code == 201, made.text
    plan = made.json()
    yield plan
    with engine.begin() as conn:
        ids = conn.execute(
            sa.text("DELETE FROM visit WHERE plan_id = :p RETURNING id"), {"p": plan["id"]}
        ).scalars()
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'visit' AND row_id = ANY(:v)"),
            {"v": [str(i) for i in ids]},
        )
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :p"), {"p": plan["id"]})


def form_fields(xform: str) -> list[tuple[str, str]]:
    """(path, type) of the form's fields, from the XForm's primary instance and binds."""
    root = ET.fromstring(xform)
    model = root.find(f".//{XF}model")
    types = {b.get("nodeset"): b.get("type") for b in model.iter(f"{XF}bind")}
    data = model.find(f"{XF}instance")[0]
    fields = []

    def walk(node, path):
        for child in node:
            name = child.tag.removeprefix(XF)
            if len(child):
                walk(child, [*path, name])
            else:
                nodeset = "/" + "/".join([data.tag.removeprefix(XF), *path, name])
                fields.append(("-".join([*path, name]), types.get(nodeset, "string")))

    walk(data, [])
    return fields


def central_header(fields: list[tuple[str, str]]) -> list[str]:
    """The columns of ODK Central's CSV export for these fields."""
    header = ["SubmissionDate"]
    for path, kind in fields:
        if kind == "geopoint":
            header += [f"{path}-{p}" for p in ("Latitude", "Longitude", "Altitude", "Accuracy")]
        else:
            header.append(path)
    return [*header, "KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent",
            "AttachmentsExpected", "Status", "ReviewState", "DeviceID", "Edits",
            "FormVersion"]  # fmt: skip


def household_at(engine, household_no: str) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM household "
                    "WHERE household_no = :n"), {"n": household_no},
        ).one()  # fmt: skip


def test_the_form_and_the_submissions_round_trip(client, users, plan, engine, tmp_path) -> None:
    got = client.get(f"/field/api/plans/{plan['id']}/xlsform", headers=users.headers("insp"))
    assert got.status_code == 200
    xform = check_xlsform(got.content)  # pyxform accepts it
    numbers = [s["household_no"] for d in plan["days"] for s in d["stops"]]
    assert numbers and all(f"<name>{n}</name>" in xform for n in numbers)
    assert xform.index(numbers[0]) < xform.index(numbers[-1])  # choices in route order
    fields = form_fields(xform)
    assert ("location", "geopoint") in fields and ("photo", "binary") in fields

    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 20
    rows, ids = [], []
    for i, number in enumerate(numbers[:2]):
        h = household_at(engine, number)
        ids.append(uuid.uuid4())
        values = {
            "SubmissionDate": "2026-12-02T10:00:00.000Z",
            "start": "2026-12-01T09:00:00.000+08:00", "end": "2026-12-01T09:14:00.000+08:00",
            "household": number, "location-Latitude": h.lat + 0.0002,
            "location-Longitude": h.lon, "location-Altitude": 210, "location-Accuracy": 6,
            **{f"check_{k}": "yes" for k in ("food", "clothing", "education", "medical")},
            "check_housing": "no" if i == 0 else "yes",
            "result": "issues" if i == 0 else "confirmed", "notes": "屋顶漏雨" if i == 0 else "",
            "photo": "1733.jpg" if i == 0 else "", "meta-instanceID": f"uuid:{ids[-1]}",
            "meta-instanceName": f"{number}", "KEY": f"uuid:{ids[-1]}",
        }  # fmt: skip
        rows.append(values)
    header = central_header(fields)
    assert set(rows[0]) <= set(header)
    text = io.StringIO()
    writer = csv.DictWriter(text, header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    export = io.BytesIO()
    with zipfile.ZipFile(export, "w") as z:
        z.writestr(f"gongjian_plan_{plan['id']}.csv", text.getvalue())
        z.writestr("media/1733.jpg", photo)
    send = {"headers": users.headers("insp") | {"Content-Type": "application/zip"}}
    first = client.post(f"/field/api/plans/{plan['id']}/odk", content=export.getvalue(), **send)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 2 and first.json()["flagged"] == 0
    again = client.post(f"/field/api/plans/{plan['id']}/odk", content=export.getvalue(), **send)
    assert again.json() == first.json() | {"stored": 0, "duplicate": 2}
    with engine.connect() as conn:
        visits = conn.execute(
            sa.text("SELECT client_id, result, findings, photo_sha256, accuracy_m, source "
                    "FROM visit WHERE plan_id = :p ORDER BY recorded_at, id"), {"p": plan["id"]},
        ).all()  # fmt: skip
    assert {v.client_id for v in visits} == set(ids) and {v.source for v in visits} == {"odk"}
    door = next(v for v in visits if v.client_id == ids[0])
    assert door.findings == "未保障：住房安全有保障；屋顶漏雨" and door.accuracy_m == 6
    assert door.photo_sha256 == hashlib.sha256(photo).hexdigest()

    # the CLI reads the same export: nothing new
    path = tmp_path / "export.zip"
    path.write_bytes(export.getvalue())
    result = CliRunner().invoke(cli_app, ["route", "odk", str(plan["id"]), str(path)],
                                env={"DATABASE_URL": str(engine.url.render_as_string(False)),
                                     "CI": "1"})  # fmt: skip
    assert result.exit_code == 0 and "0 visit(s) stored, 2 already stored" in result.output


def test_a_bad_row_names_row_and_column_and_stores_nothing(client, users, plan, engine) -> None:
    with engine.connect() as conn:
        stranger = conn.execute(
            sa.text("SELECT household_no FROM household WHERE NOT starts_with(village_code, :a) "
                    "ORDER BY id LIMIT 1"), {"a": plan["area"]},
        ).scalar_one()  # fmt: skip
    numbers = [s["household_no"] for d in plan["days"] for s in d["stops"]]
    lines = ["start,end,household,result,check_food,meta-instanceID"]
    lines.append(f"2026-12-01T09:00:00+08:00,2026-12-01T09:20:00+08:00,{numbers[-1]},confirmed,"
                 f"yes,uuid:{uuid.uuid4()}")  # fmt: skip
    lines.append(f"2026-12-01T10:00:00+08:00,2026-12-01T10:20:00+08:00,{stranger},confirmed,"
                 f"yes,uuid:{uuid.uuid4()}")  # fmt: skip
    body = "\n".join(lines).encode()
    send = {"headers": users.headers("insp") | {"Content-Type": "text/csv"}}
    answer = client.post(f"/field/api/plans/{plan['id']}/odk", content=body, **send)
    assert answer.status_code == 422
    assert "row 3, column household" in answer.json()["description"]
    bad = body.replace(b",yes,", b",maybe,", 1)
    answer = client.post(f"/field/api/plans/{plan['id']}/odk", content=bad, **send)
    assert answer.status_code == 422 and "row 2, column check_food" in answer.json()["description"]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM visit v JOIN household h ON h.id = v.household_id "
                    "WHERE h.household_no = :n AND v.source = 'odk'"), {"n": numbers[-1]},
        ).scalar_one()  # fmt: skip
    assert stored == 0
