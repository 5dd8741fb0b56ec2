"""HTTP done right: conditional requests (RFC 9110), authentication before validation,
error messages as written, security headers and a script policy on HTML pages, expiring
tokens, and addresses that keep sending wrong tokens slowed down.

Edits go to a household this module creates next to a demo household (and removes again).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import BadTokenThrottle
from api.cli import app as cli_app
from api.security import inline_script_hashes
from api.settings import ApiSettings
from layers.access import add_user
from tests.api_support import Users, demo_townships, household_in, new_users, tile_of


@pytest.fixture(scope="module")
def town(engine: sa.Engine, demo_world: dict) -> str:
    return demo_townships(engine)[0]


@pytest.fixture(scope="module")
def users(engine: sa.Engine, town: str) -> Iterator[Users]:
    users = new_users(engine)
    users.add("editor", "editor", town)
    users.add("viewer", "viewer", town)
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


@pytest.fixture
def household(engine: sa.Engine, town: str) -> Iterator[int]:
    """A household of our own at a demo household's place; deleted afterwards."""
    near = household_in(engine, town, offset=7)
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.text(
                "INSERT INTO household (household_no, village_code, geom, head_name, members, "
                "labour_members, category, main_cause, housing_status, status, scattered, "
                "registered_year) SELECT 'THTTP' || gen_random_uuid(), village_code, geom, "
                "'测试户主', 4, 2, 'general', 'illness', 'safe', 'poor', true, 2016 "
                "FROM household WHERE id = :near RETURNING id"
            ),
            {"near": near.id},
        ).scalar_one()
    yield new_id
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM household WHERE id = :id"), {"id": new_id})
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'household' AND row_id = :h"),
            {"h": str(new_id)},
        )


def patch(client, users, household: int, body: dict, if_match: str | None):
    headers = users.headers("editor") | ({"If-Match": if_match} if if_match else {})
    return client.patch(f"/collections/household/items/{household}", json=body, headers=headers)


def state(engine: sa.Engine, household: int) -> tuple[int, int]:
    """(version, audit rows) of the household."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT (SELECT version FROM household WHERE id = :id), (SELECT count(*) FROM "
                "audit_log WHERE table_name = 'household' AND row_id = CAST(:id AS text))"
            ),
            {"id": household},
        ).one()


# --- If-Match (RFC 9110 §13.1.1) -----------------------------------------------------------


def test_if_match_star_matches_any_current_version(client, users, engine, household) -> None:
    response = patch(client, users, household, {"members": 5}, "*")
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"household-{household}-v2"'
    assert state(engine, household) == (2, 1)


def test_if_match_star_on_a_missing_household_is_404(client, users) -> None:
    response = patch(client, users, 2**62, {"members": 5}, "*")
    assert response.status_code == 404


def test_weak_etag_never_matches_if_match(client, users, engine, household) -> None:
    response = patch(client, users, household, {"members": 5}, f'W/"household-{household}-v1"')
    assert response.status_code == 412, response.text
    assert "weak" in response.json()["description"]
    assert state(engine, household) == (1, 0)


def test_if_match_list_matches_when_one_strong_tag_is_current(
    client, users, engine, household
) -> None:
    tags = f'"household-{household}-v7", W/"household-{household}-v1", "household-{household}-v1"'
    response = patch(client, users, household, {"members": 3}, tags)
    assert response.status_code == 200, response.text
    stale = f'"household-{household}-v1", "household-{household}-v9"'
    assert patch(client, users, household, {"members": 2}, stale).status_code == 412
    assert state(engine, household) == (2, 1)


def test_patch_that_changes_nothing_keeps_the_version_and_writes_no_audit(
    client, users, engine, household
) -> None:
    item = client.get(f"/collections/household/items/{household}", headers=users.headers("editor"))
    etag = item.headers["etag"]
    lon, lat = item.json()["geometry"]["coordinates"]
    same = {"members": 4, "head_name": "测试户主", "location": {"lon": lon, "lat": lat}}
    response = patch(client, users, household, same, etag)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == etag
    assert response.json()["properties"]["members"] == 4
    assert state(engine, household) == (1, 0)
    changed = patch(client, users, household, {"members": 4, "labour_members": 1}, etag)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert state(engine, household) == (2, 1)


# --- authentication first, messages as written ------------------------------------------------


def test_token_is_checked_before_tile_coordinates(client, users, engine, town) -> None:
    assert client.get("/tiles/household/99/0/0.mvt").status_code == 401
    assert client.get("/tiles/no_such_layer/99/0/0.mvt").status_code == 401
    viewer = users.headers("viewer")
    assert client.get("/tiles/household/99/0/0.mvt", headers=viewer).status_code == 400
    assert client.get("/tiles/no_such_layer/1/0/0.mvt", headers=viewer).status_code == 404
    some = household_in(engine, town)
    z, x, y = tile_of(some.lon, some.lat, 14)
    assert client.get(f"/tiles/household/{z}/{x}/{y}.mvt", headers=viewer).status_code == 200


def test_error_messages_keep_their_quotes(client, users) -> None:
    viewer = users.headers("viewer")
    missing = client.get("/collections/no_such_layer/items", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["description"] == "no layer named 'no_such_layer'"
    bbox = client.get("/collections/household/items?bbox=a,b,c,d", headers=viewer)
    assert bbox.status_code == 400
    assert bbox.json()["description"] == "bbox must be numbers, got 'a,b,c,d'"


# --- security headers ---------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/?f=html", "/dashboard"])
def test_pages_have_no_inline_script_and_a_strict_policy(client, path: str, town: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert inline_script_hashes(response.content) == []  # nothing inline to allow
    rules = policy(response)
    assert rules["script-src"] == ["'self'"]
    assert rules["frame-ancestors"] == ["'none'"] and rules["object-src"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    township_page = client.get(f"/townships/{town}")
    assert policy(township_page)["script-src"] == ["'self'"]


def test_self_contained_pages_allow_exactly_their_inline_scripts(client, users, town) -> None:
    response = client.get(f"/maps/townships/{town}/gongjian.html", headers=users.headers("viewer"))
    assert response.status_code == 200, response.text
    scripts = policy(response)["script-src"]
    hashes = inline_script_hashes(response.content)
    assert hashes and sorted(s for s in scripts if s.startswith("'sha256-")) == hashes
    assert "'unsafe-inline'" not in scripts


def test_every_response_says_nosniff(client, users) -> None:
    for response in (
        client.get("/collections", headers=users.headers("viewer")),
        client.get("/collections"),  # 401 too
        client.get("/static/gongjian/webmap.js"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in response.headers  # not a page


# --- tokens that expire -----------------------------------------------------------------------


def test_an_expired_token_is_401_everywhere(client, engine, town) -> None:
    users = new_users(engine)
    name = f"{users.prefix}-brief"
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    token = add_user(engine, name, "viewer", town, actor="test", expires_at=expires)
    headers = {"Authorization": f"Bearer {token}"}
    some = household_in(engine, town)
    tile = "/tiles/household/{}/{}/{}.mvt".format(*tile_of(some.lon, some.lat, 14))
    try:
        assert client.get("/me", headers=headers).status_code == 200
        assert client.get(tile, headers=headers).status_code == 200  # now in the token cache
        time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
        assert client.get("/me", headers=headers).status_code == 401
        assert client.get(tile, headers=headers).status_code == 401
    finally:
        users.drop()


def test_user_add_expires_takes_dates_and_durations(database_url, engine, town, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CI", "1")
    cli = CliRunner()
    users = new_users(engine)
    try:
        result = cli.invoke(
            cli_app, ["user", "add", f"{users.prefix}-a", "--role", "viewer", "--scope", town,
                      "--expires", "12h"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        result = cli.invoke(
            cli_app, ["user", "add", f"{users.prefix}-b", "--role", "viewer", "--scope", town,
                      "--expires", "2099-06-30"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        bad = cli.invoke(
            cli_app, ["user", "add", f"{users.prefix}-c", "--role", "viewer", "--scope", town,
                      "--expires", "soon"],
        )  # fmt: skip
        assert bad.exit_code == 2 and "--expires" in bad.output
        with engine.connect() as conn:
            rows = dict(
                conn.execute(
                    sa.text("SELECT name, expires_at FROM api_user WHERE name LIKE :p"),
                    {"p": f"{users.prefix}-%"},
                ).all()
            )
        now = dt.datetime.now(dt.UTC)
        in_12h = rows[f"{users.prefix}-a"] - now
        assert dt.timedelta(hours=11, minutes=59) < in_12h <= dt.timedelta(hours=12)
        assert rows[f"{users.prefix}-b"].astimezone(dt.UTC).date() in (
            dt.date(2099, 6, 30), dt.date(2099, 7, 1),
        )  # fmt: skip
        listed = cli.invoke(cli_app, ["user", "list"])
        assert re.search(rf"{users.prefix}-a\s+viewer\s+{town}\s+active until", listed.output)
    finally:
        users.drop()


# --- wrong tokens slowed down -----------------------------------------------------------------


def test_throttle_holds_for_doubling_times() -> None:
    throttle = BadTokenThrottle(allowance=2, window_s=600, max_hold_s=60)
    holds = []
    for attempt in range(9):
        throttle.failed("10.0.0.1", now=1000.0 + attempt)
        holds.append(max(0.0, throttle._failures["10.0.0.1"][2] - (1000.0 + attempt)))
    assert holds == [0, 0, 1, 2, 4, 8, 16, 32, 60]
    throttle.check("10.0.0.2", now=1009.0)  # other addresses are not held


def test_repeated_wrong_tokens_are_answered_429_with_retry_after(engine, users) -> None:
    settings = ApiSettings(bad_token_allowance=3)
    with TestClient(create_app(engine, settings)) as client:
        wrong = {"Authorization": "Bearer not-a-token"}
        answers = [client.get("/me", headers=wrong).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 401]  # the fourth starts a 1 s hold
        held = client.get("/me", headers=users.headers("viewer"))
        assert held.status_code == 429  # even a good token waits: guessing gains nothing
        assert int(held.headers["retry-after"]) >= 1
        assert client.get("/me").status_code == 401  # no token is not a guess
        time.sleep(int(held.headers["retry-after"]) + 0.1)
        assert client.get("/me", headers=users.headers("viewer")).status_code == 200
        assert client.get("/me", headers=wrong).status_code == 401
        again = client.get("/me", headers=wrong)
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1


# --- wall maps cached until their township changes; tiles shared by worker processes -------


def test_a_wall_map_is_rendered_once_until_its_township_changes(
    client, users, household, town
) -> None:
    url = f"/maps/townships/{town}/gongjian.png?paper=A4"
    cache = client.app.state.tile_cache
    viewer = users.headers("viewer")
    first = client.get(url, headers=viewer)
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
    hits = cache.hits
    second = client.get(url, headers=viewer)
    assert second.content == first.content and cache.hits == hits + 1
    assert patch(client, users, household, {"members": 5}, "*").status_code == 200
    hits = cache.hits
    third = client.get(url, headers=viewer)  # an edit in the township: drawn again
    assert third.status_code == 200 and cache.hits == hits


def test_worker_processes_share_tiles_on_disk(tmp_path) -> None:
    from layers.tiles import SharedTileCache, TileCache

    one = TileCache(max_bytes=1 << 20, shared=SharedTileCache(tmp_path, 1 << 20))
    other = TileCache(max_bytes=1 << 20, shared=SharedTileCache(tmp_path, 1 << 20))
    one.put('"abc"', b"tile bytes")
    assert other.get('"abc"') == b"tile bytes" and other.hits == 1
    assert other.get('"missing"') is None
