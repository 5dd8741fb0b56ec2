"""The map API read side: tokens, roles, scopes, OGC items, vector tiles, masking, 4xx.

Real PostGIS with the demo world, real HTTP through httpx (Starlette's TestClient). Two
townships of the demo: A (the caller's) and B (someone else's). A token scoped to A must never
get anything of B — by id, bbox, filter or tile — and must get all of A.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from layers import features
from layers.models import Base
from tests.api_support import Users, demo_townships, household_in, new_users, tile_of


@pytest.fixture(scope="module")
def towns(engine: sa.Engine, demo_world: dict) -> tuple[str, str]:
    codes = demo_townships(engine)
    return codes[0], codes[1]


@pytest.fixture(scope="module")
def users(engine: sa.Engine, towns: tuple[str, str]) -> Iterator[Users]:
    a, b = towns
    users = new_users(engine)
    users.add("viewer_a", "viewer", a)
    users.add("editor_a", "editor", a)
    users.add("viewer_b", "viewer", b)
    users.add("admin", "admin", a[:6])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


def items(client: TestClient, users: Users, who: str, layer: str, **params) -> dict:
    response = client.get(f"/collections/{layer}/items", params=params, headers=users.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def count(engine: sa.Engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


# --- authentication and roles --------------------------------------------------------------

DATA_ENDPOINTS = [
    ("GET", "/collections"),
    ("GET", "/collections/household"),
    ("GET", "/collections/household/items"),
    ("GET", "/collections/household/items/1"),
    ("GET", "/tiles/household/12/3326/1756.mvt"),
    ("GET", "/tiles/household.json"),
    ("GET", "/me"),
    ("PATCH", "/collections/household/items/1"),
    ("POST", "/collections/help_record/items"),
    ("POST", "/collections/visit/items"),
]


@pytest.mark.parametrize(("method", "path"), DATA_ENDPOINTS)
def test_no_token_or_a_wrong_one_is_401(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (path, headers, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthorized"


def test_revoked_token_is_401(client: TestClient, engine: sa.Engine, towns) -> None:
    from layers.access import revoke_user

    users = new_users(engine)
    users.add("gone", "viewer", towns[0])
    assert client.get("/me", headers=users.headers("gone")).status_code == 200
    revoke_user(engine, f"{users.prefix}-gone", actor="test")
    assert client.get("/me", headers=users.headers("gone")).status_code == 401
    users.drop()


def test_wrong_role_is_403(client: TestClient, users: Users, engine, towns) -> None:
    household = household_in(engine, towns[0])
    viewer = users.headers("viewer_a")
    patch = client.patch(f"/collections/household/items/{household.id}", json={}, headers=viewer)
    assert patch.status_code == 403
    record = {"household_id": household.id, "date": "2018-01-02", "measure": "policy"}
    assert (
        client.post("/collections/help_record/items", json=record, headers=viewer).status_code
        == 403
    )
    visit = {"household_id": household.id, "date": "2018-01-02", "result": "confirmed"}
    editor = users.headers("editor_a")  # visits are the inspectors' business
    response = client.post("/collections/visit/items", json=visit, headers=editor)
    assert response.status_code == 403
    assert "inspector" in response.json()["description"]


def test_public_pages_need_no_token(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/conformance").json()["conformsTo"]
    landing = client.get("/", headers={"Accept": "application/json"}).json()
    assert {link["rel"] for link in landing["links"]} >= {"service-desc", "conformance", "data"}
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'id="gj-config"' in page.text  # the web map shell


def test_me_tells_role_and_scope(client: TestClient, users: Users, towns) -> None:
    me = client.get("/me", headers=users.headers("viewer_a")).json()
    assert me["role"] == "viewer" and me["scope"] == towns[0] and me["scope_level"] == "township"
    assert me["scope_name"] and me["sees_personal_data"] is False


# --- the scope wall ---------------------------------------------------------------------------


def test_township_token_gets_all_of_its_township_and_nothing_else(
    client: TestClient, users: Users, engine, towns
) -> None:
    a, _ = towns
    page = items(client, users, "viewer_a", "household", limit=10_000)
    expected = count(engine, "SELECT count(*) FROM household WHERE left(village_code, 9) = :a", a=a)
    assert page["numberMatched"] == page["numberReturned"] == expected > 0
    assert {f["properties"]["township_code"] for f in page["features"]} == {a}


CODE_PROPERTIES = ("village_code", "township_code", "code")


def test_every_coded_layer_stays_in_scope(client: TestClient, users: Users, towns) -> None:
    """Each layer scoped by code, analysis layers included: A's rows only, none of B's."""
    a = towns[0]
    coded = [c for c in features.REGISTRY.values() if c.scope_code and c.id != "county"]
    assert {"household", "village", "hamlet", "help_record", "visit"} <= {c.id for c in coded}
    for layer in coded:
        page = items(client, users, "viewer_a", layer.id, limit=10_000)
        for feature in page["features"]:
            props = feature["properties"]
            code = next((props[k] for k in CODE_PROPERTIES if props.get(k)), None)
            assert code is not None and code.startswith(a), (layer.id, feature["id"])
        other = items(client, users, "viewer_b", layer.id, limit=10_000)
        assert not {f["id"] for f in page["features"]} & {f["id"] for f in other["features"]}


def test_every_area_layer_stays_in_scope(client: TestClient, users: Users, engine, towns) -> None:
    """Roads, rivers, clinics …: only what touches the caller's township."""
    a = towns[0]
    for layer in (c for c in features.REGISTRY.values() if c.scope_code is None):
        page = items(client, users, "viewer_a", layer.id, limit=10_000)
        ids = [f["id"] for f in page["features"]]
        if not ids:
            continue
        with engine.connect() as conn:
            outside = conn.execute(
                sa.text(
                    f"SELECT count(*) FROM {layer.source} t WHERE t.id = ANY(:ids) AND NOT "
                    f"ST_Intersects(t.{layer.geometry}, "
                    "(SELECT geom FROM township WHERE code = :a))"
                ),
                {"ids": ids, "a": a},
            ).scalar()
        assert outside == 0, layer.id


def test_an_item_of_another_township_is_404_like_a_missing_one(
    client: TestClient, users: Users, engine, towns
) -> None:
    theirs = household_in(engine, towns[1])
    hidden = client.get(
        f"/collections/household/items/{theirs.id}", headers=users.headers("viewer_a")
    )
    missing = client.get(
        "/collections/household/items/999999999", headers=users.headers("viewer_a")
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "not_found"
    assert theirs.household_no not in hidden.text
    village = client.get(
        f"/collections/village/items/{theirs.village_code}", headers=users.headers("viewer_a")
    )
    assert village.status_code == 404
    mine = client.get(
        f"/collections/household/items/{theirs.id}", headers=users.headers("viewer_b")
    )
    assert (
        mine.status_code == 200 and mine.json()["properties"]["household_no"] == theirs.household_no
    )


def test_bbox_over_another_township_finds_nothing_of_it(
    client: TestClient, users: Users, engine, towns
) -> None:
    _, b = towns
    with engine.connect() as conn:
        box = conn.execute(
            sa.text(
                "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM "
                "(SELECT ST_Extent(geom) g FROM township WHERE code = :b) s"
            ),
            {"b": b},
        ).one()
    bbox = ",".join(str(v) for v in box)
    mine = items(client, users, "viewer_a", "household", bbox=bbox, limit=10_000)
    assert all(f["properties"]["township_code"] != b for f in mine["features"])
    theirs = items(client, users, "viewer_b", "household", bbox=bbox, limit=10_000)
    assert theirs["numberMatched"] > 0  # the box does hold B's households


def test_filter_for_another_township_matches_nothing(
    client: TestClient, users: Users, towns
) -> None:
    _, b = towns
    for layer in ("household", "village", "hamlet", "help_record", "visit"):
        page = items(client, users, "viewer_a", layer, township=b)
        assert page["numberMatched"] == 0 and page["features"] == [], layer


def test_tiles_of_another_township_hold_nothing_of_it(
    client: TestClient, users: Users, engine, towns
) -> None:
    theirs = household_in(engine, towns[1])
    for z in (10, 12, 14, 16):  # clustered (z < 13) and single households
        z, x, y = tile_of(theirs.lon, theirs.lat, z)
        url = f"/tiles/household/{z}/{x}/{y}.mvt"
        seen = decode(client.get(url, headers=users.headers("viewer_b")).content)
        assert seen, f"B's own token sees B's household in {url}"
        mine = decode(client.get(url, headers=users.headers("viewer_a")).content)
        ids = [f["properties"].get("fid") for f in mine if "fid" in f["properties"]]
        if ids:
            with engine.connect() as conn:
                codes = (
                    conn.execute(
                        sa.text(
                            "SELECT DISTINCT left(village_code, 9) FROM household "
                            "WHERE id = ANY(:i)"
                        ),
                        {"i": ids},
                    )
                    .scalars()
                    .all()
                )
            assert set(codes) <= {towns[0]}, url
        else:  # clusters: they may only count A's households
            in_tile = count_households_in_tile(engine, towns[0], z, x, y)
            assert sum(f["properties"]["count"] for f in mine) == in_tile, url


def decode(tile: bytes, layer: str = "household") -> list[dict]:
    if not tile:
        return []
    return mapbox_vector_tile.decode(tile).get(layer, {}).get("features", [])


def count_households_in_tile(engine: sa.Engine, township: str, z: int, x: int, y: int) -> int:
    return count(
        engine,
        "SELECT count(*) FROM household h, ST_TileEnvelope(:z, :x, :y) e "
        "WHERE starts_with(h.village_code, :t) AND ST_X(ST_Transform(h.geom, 3857)) >= ST_XMin(e) "
        "AND ST_X(ST_Transform(h.geom, 3857)) < ST_XMax(e) "
        "AND ST_Y(ST_Transform(h.geom, 3857)) >= ST_YMin(e) "
        "AND ST_Y(ST_Transform(h.geom, 3857)) < ST_YMax(e)",
        t=township,
        z=z,
        x=x,
        y=y,
    )


def test_the_database_role_is_a_second_wall(client: TestClient, engine, towns) -> None:
    """The API's role is no superuser and owns no table; the database refuses its writes
    outside the scope even when a query forgets the filter (row-level security)."""
    from sqlalchemy.exc import ProgrammingError

    from layers.access import Scope, scoped_connection

    api_engine = client.app.state.engine
    with api_engine.connect() as conn:
        role, superuser = conn.execute(
            sa.text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        owned = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        ).scalar()
    assert role == "gongjian_api" and not superuser and owned == 0
    theirs = household_in(engine, towns[1])
    with scoped_connection(api_engine, Scope(towns[0])) as conn:
        changed = conn.execute(
            sa.text("UPDATE household SET members = members WHERE id = :id"), {"id": theirs.id}
        ).rowcount
        assert changed == 0
        with pytest.raises(ProgrammingError, match="row-level security"), conn.begin_nested():
            conn.execute(
                sa.text(
                    "INSERT INTO visit (household_id, date, inspector, result) "
                    "VALUES (:id, '2018-01-01', 'x', 'confirmed')"
                ),
                {"id": theirs.id},
            )
        with pytest.raises(ProgrammingError, match="permission denied"), conn.begin_nested():
            conn.execute(sa.text("DELETE FROM api_user"))
    with api_engine.connect() as conn:  # no scope at all: no write anywhere
        assert conn.execute(
            sa.text("UPDATE household SET members = members WHERE id = :id"), {"id": theirs.id}
        ).rowcount == 0  # fmt: skip
        conn.rollback()


# --- tiles -----------------------------------------------------------------------------------


def test_tile_holds_exactly_the_households_in_its_envelope(
    client: TestClient, users: Users, engine, towns
) -> None:
    """Every household within the tile (and its 64/4096 buffer) and no other, each once."""
    some = household_in(engine, towns[0], offset=40)
    z, x, y = tile_of(some.lon, some.lat, 15)
    tile = client.get(f"/tiles/household/{z}/{x}/{y}.mvt", headers=users.headers("admin"))
    assert tile.status_code == 200
    assert tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    got = [f["properties"]["fid"] for f in decode(tile.content)]
    with engine.connect() as conn:
        expected = (
            conn.execute(
                sa.text(
                    "SELECT id FROM household WHERE starts_with(village_code, :county) AND "
                    "ST_Intersects(geom, ST_Transform("
                    "ST_TileEnvelope(:z, :x, :y, margin => 64.0/4096), 4326))"
                ),
                {"county": towns[0][:6], "z": z, "x": x, "y": y},
            )
            .scalars()
            .all()
        )
    assert len(got) == len(set(got)) and sorted(got) == sorted(expected) and some.id in got
    props = decode(tile.content)[0]["properties"]
    assert {"status", "category", "main_cause"} <= set(props)
    assert not {"head_name", "id_number", "phone", "income"} & set(props)  # never in tiles


def test_low_zoom_tiles_aggregate_households(
    client: TestClient, users: Users, engine, towns
) -> None:
    some = household_in(engine, towns[0])
    z, x, y = tile_of(some.lon, some.lat, 10)
    clusters = decode(
        client.get(f"/tiles/household/{z}/{x}/{y}.mvt", headers=users.headers("admin")).content
    )
    total = sum(f["properties"]["count"] for f in clusters)
    assert total == count_households_in_tile(engine, towns[0][:6], z, x, y) > len(clusters)


def test_tile_filters_and_etag(client: TestClient, users: Users, engine, towns) -> None:
    some = household_in(engine, towns[0], status="poor")  # not in a town with few poor
    z, x, y = tile_of(some.lon, some.lat, 14)
    url = f"/tiles/household/{z}/{x}/{y}.mvt"
    headers = users.headers("viewer_a")
    poor = decode(client.get(url, params={"status": "poor"}, headers=headers).content)
    assert poor and {f["properties"]["status"] for f in poor} == {"poor"}
    first = client.get(url, headers=headers)
    etag = first.headers["etag"]
    assert "must-revalidate" in first.headers["cache-control"]
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    assert client.get(url, params={"status": "nope"}, headers=headers).status_code == 400


def test_tile_cache_is_invalidated_when_the_data_changes(
    client: TestClient, users: Users, engine, towns
) -> None:
    """A write bumps the layer's change counter: new ETag, new content, no stale tile."""
    some = household_in(engine, towns[0], offset=7)
    z, x, y = tile_of(some.lon, some.lat, 16)
    url, headers = f"/tiles/household/{z}/{x}/{y}.mvt", users.headers("viewer_a")
    before = client.get(url, headers=headers)
    with engine.begin() as conn:  # a throw-away household next to it, then gone again
        new_id = conn.execute(
            sa.text(
                "INSERT INTO household (household_no, village_code, geom, head_name, members, "
                "labour_members, category, main_cause, housing_status, scattered) "
                "SELECT 'TCACHE' || id, village_code, geom, '测试', 1, 0, 'general', 'other', "
                "'safe', false FROM household WHERE id = :id RETURNING id"
            ),
            {"id": some.id},
        ).scalar_one()
    try:
        during = until_changed(client, url, headers, before.headers["etag"])
        assert new_id in [f["properties"]["fid"] for f in decode(during.content)]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM household WHERE id = :id"), {"id": new_id})
    after = until_changed(client, url, headers, during.headers["etag"])
    assert new_id not in [f["properties"]["fid"] for f in decode(after.content)]


def until_changed(client: TestClient, url: str, headers: dict, etag: str, seconds: float = 3):
    """The tile once its ETag differs from ``etag``: the change counters reach the app by
    NOTIFY at commit, so within milliseconds (the deadline only guards a hung test)."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(url, headers=headers)
        if response.headers["etag"] != etag or time.monotonic() > deadline:
            assert response.headers["etag"] != etag, "the tile did not change after a write"
            return response
        time.sleep(0.01)


def test_tilejson_and_bad_tiles(client: TestClient, users: Users) -> None:
    headers = users.headers("viewer_a")
    tj = client.get("/tiles/road.json", headers=headers).json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/road/{z}/{x}/{y}.mvt")
    assert tj["vector_layers"][0]["id"] == "road" and len(tj["bounds"]) == 4
    for bad in ("/tiles/road/3/8/1.mvt", "/tiles/road/25/1/1.mvt", "/tiles/road/-1/0/0.mvt"):
        response = client.get(bad, headers=headers)
        assert response.status_code == 400, bad
        assert response.json()["description"]
    assert client.get("/tiles/road/2/1/x.mvt", headers=headers).status_code == 400
    assert client.get("/tiles/nope/2/1/1.mvt", headers=headers).status_code == 404


# --- masking -----------------------------------------------------------------------------------


def test_viewers_get_masked_personal_fields_editors_the_values(
    client: TestClient, users: Users, engine, towns
) -> None:
    some = household_in(engine, towns[0], offset=3)
    with engine.connect() as conn:
        truth = conn.execute(
            sa.text("SELECT head_name, id_number, phone FROM household WHERE id = :id"),
            {"id": some.id},
        ).one()
    path = f"/collections/household/items/{some.id}"
    viewer = client.get(path, headers=users.headers("viewer_a")).json()["properties"]
    editor = client.get(path, headers=users.headers("editor_a")).json()["properties"]
    assert (editor["head_name"], editor["id_number"], editor["phone"]) == tuple(truth)
    assert viewer["head_name"] != truth.head_name and "*" in viewer["head_name"]
    assert viewer["head_name"][0] == truth.head_name[0]
    assert viewer["id_number"] == truth.id_number[:6] + "********" + truth.id_number[-4:]
    if truth.phone:
        assert viewer["phone"] == truth.phone[:3] + "****" + truth.phone[-4:]
    assert viewer["income"] is None and editor["income"] is not None
    listed = items(client, users, "viewer_a", "household", limit=200)
    assert not any(f["properties"]["id_number"] == truth.id_number for f in listed["features"])
    assert all("*" in f["properties"]["head_name"] for f in listed["features"])


# --- the OGC items contract ---------------------------------------------------------------------


def test_every_layer_of_the_schema_is_a_collection(client: TestClient, users: Users) -> None:
    served = {
        c["id"]
        for c in client.get("/collections", headers=users.headers("viewer_a")).json()["collections"]
    }
    sources = {c.source for c in features.REGISTRY.values()} | {
        c.tile.source for c in features.REGISTRY.values()
    }
    spatial = {
        t.name
        for t in Base.metadata.sorted_tables
        if any(getattr(col.type, "geometry_type", None) for col in t.columns)
    }
    missing = {t for t in spatial if t not in sources and t not in served}
    assert not missing, f"spatial tables without a collection in layers/features.py: {missing}"
    for layer in served:
        described = client.get(f"/collections/{layer}", headers=users.headers("viewer_a"))
        assert described.status_code == 200, layer
        assert {link["rel"] for link in described.json()["links"]} >= {"items", "tiles"}


def test_paging_links_and_number_matched(client: TestClient, users: Users) -> None:
    first = items(client, users, "viewer_a", "household", limit=50)
    assert first["numberReturned"] == 50 and first["numberMatched"] > 100
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert "next" in rels and "prev" not in rels
    second = client.get(rels["next"], headers=users.headers("viewer_a")).json()
    assert second["numberReturned"] == 50
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}
    assert "prev" in {link["rel"] for link in second["links"]}
    last = items(
        client, users, "viewer_a", "household", limit=50, offset=first["numberMatched"] - 10
    )
    assert last["numberReturned"] == 10 and "next" not in {link["rel"] for link in last["links"]}


def test_filters_properties_and_datetime(client: TestClient, users: Users, engine, towns) -> None:
    a, _ = towns
    page = items(
        client,
        users,
        "viewer_a",
        "household",
        status="poor,returned",
        cause="illness",
        properties="status,main_cause,secondary_cause",
        limit=10_000,
    )
    expected = count(
        engine,
        "SELECT count(*) FROM household WHERE left(village_code, 9) = :a AND status IN "
        "('poor', 'returned') AND 'illness' IN (main_cause, coalesce(secondary_cause, ''))",
        a=a,
    )
    assert page["numberMatched"] == expected > 0
    for f in page["features"]:
        assert set(f["properties"]) == {"status", "main_cause", "secondary_cause"}
        assert "illness" in (f["properties"]["main_cause"], f["properties"]["secondary_cause"])
    records = items(
        client, users, "viewer_a", "help_record", datetime="2017-01-01/2017-06-30", limit=10_000
    )
    dates = {f["properties"]["date"] for f in records["features"]}
    assert dates and min(dates) >= "2017-01-01" and max(dates) <= "2017-06-30"
    open_end = items(client, users, "viewer_a", "help_record", datetime="2017-01-01T00:00:00Z/..")
    assert open_end["numberMatched"] >= records["numberMatched"]


BAD_REQUESTS = [
    ("bbox", "1,2,3", "4 numbers"),
    ("bbox", "a,b,c,d", "numbers"),
    ("bbox", "112,nan,113,25", "finite"),
    ("bbox", "112,24,inf,25", "finite"),
    ("bbox", "112,-91,113,25", "latitudes"),
    ("bbox", "112,25,113,24", "miny"),
    ("limit", "0", "limit"),
    ("limit", "10001", "limit"),
    ("limit", "x", "limit"),
    ("offset", "-1", "offset"),
    ("properties", "nope", "unknown properties"),
    ("datetime", "yesterday", "RFC 3339"),
    ("datetime", "2018-01-01/2017-01-01", "starts after"),
    ("colour", "red", "unknown parameter"),
    ("status", "rich", "unknown value"),
    ("township", "12", "not a valid value"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD_REQUESTS)
def test_malformed_parameters_are_400_with_a_message(
    client: TestClient, users: Users, name: str, value: str, says: str
) -> None:
    response = client.get(
        "/collections/household/items", params={name: value}, headers=users.headers("viewer_a")
    )
    assert response.status_code == 400, response.text
    assert says in response.json()["description"]


def test_unknown_layer_is_404(client: TestClient, users: Users) -> None:
    for path in ("/collections/nope", "/collections/nope/items", "/collections/nope/items/1"):
        response = client.get(path, headers=users.headers("viewer_a"))
        assert response.status_code == 404 and "nope" in response.json()["description"]


def test_datetime_on_a_layer_without_time_is_400(client: TestClient, users: Users) -> None:
    response = client.get(
        "/collections/road/items",
        params={"datetime": "2018-01-01"},
        headers=users.headers("viewer_a"),
    )
    assert response.status_code == 400 and "no time" in response.json()["description"]


# --- the CLI --------------------------------------------------------------------------------------


def test_user_add_prints_the_token_once_and_stores_only_its_hash(
    client: TestClient, database_url: str, engine, towns
) -> None:
    name = f"cli-{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "user",
            "add",
            name,
            "--role",
            "viewer",
            "--scope",
            towns[0],
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT row_to_json(u)::text FROM api_user u WHERE name = :n"), {"n": name}
            ).scalar_one()
        assert token not in stored
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["name"] == name and me["scope"] == towns[0]
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "user",
                "add",
                name + "x",
                "--role",
                "boss",
                "--scope",
                towns[0],
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert bad.returncode == 2 and "role" in bad.stderr
        unknown = subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "user",
                "add",
                name + "y",
                "--role",
                "viewer",
                "--scope",
                "449999999",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert unknown.returncode == 2 and "no township" in unknown.stderr
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM api_user WHERE name LIKE :n"), {"n": f"{name}%"})


def test_openapi_lists_the_routes(client: TestClient) -> None:
    spec = json.loads(client.get("/openapi.json").text)
    assert {
        "/collections/{collection_id}/items",
        "/tiles/{layer}/{z}/{x}/{y}.mvt",
        "/collections/household/items/{item_id}",
    } <= set(spec["paths"])


# --- the wall map route ----------------------------------------------------------------------


def test_wall_map_of_another_township_is_404(client: TestClient, users: Users, towns) -> None:
    for fmt in ("pdf", "png", "svg", "html"):
        response = client.get(
            f"/maps/townships/{towns[1]}/gongjian.{fmt}", headers=users.headers("viewer_a")
        )
        assert response.status_code == 404, fmt
    assert client.get(f"/maps/townships/{towns[0]}/gongjian.pdf").status_code == 401
    bad = client.get(f"/maps/townships/{towns[0]}/gongjian.doc", headers=users.headers("viewer_a"))
    assert bad.status_code == 400


def test_html_twin_is_offline_scoped_and_masked_for_viewers(
    client: TestClient, users: Users, engine, towns
) -> None:
    from maps.webmap import external_urls

    response = client.get(
        f"/maps/townships/{towns[0]}/gongjian.html", headers=users.headers("viewer_a")
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert external_urls(html) == [] and "示例数据（合成）" in html
    with engine.connect() as conn:
        names = (
            conn.execute(
                sa.text(
                    "SELECT head_name FROM household WHERE left(village_code, 9) = :t "
                    "AND char_length(head_name) >= 2"
                ),
                {"t": towns[0]},
            )
            .scalars()
            .all()
        )
        theirs = (
            conn.execute(
                sa.text("SELECT household_no FROM household WHERE left(village_code, 9) = :t"),
                {"t": towns[1]},
            )
            .scalars()
            .all()
        )
    assert not any(f'"{name}"' in html for name in names)  # heads are masked for viewers
    assert not any(number in html for number in theirs[:200])
