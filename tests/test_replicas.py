"""Read replicas as an operator and a township office meet them: `gongjian db replica add`,
reads served by the replica, a caller reading its own writes, a stopped or lagging replica
skipped. One real hot standby of the session cluster (pg_basebackup, streaming), no mocks.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from layers.cluster import EmbeddedCluster
from layers.standby import Replicas, parse_lsn
from tests.api_support import Users, demo_townships, household_in, new_users
from tests.test_api_edits import unused_id_number

GONGJIAN = str(Path(sys.executable).parent / "gongjian")
REPLICA_PORT = 15510
SPARE_PORT = 15511
HOUSEHOLD = "/collections/household/items"


@pytest.fixture(scope="module")
def cli_env(cluster: EmbeddedCluster) -> Iterator[dict[str, str]]:
    """GONGJIAN_HOME whose ``db`` folder is the session cluster, as `gongjian` expects it."""
    home = Path(tempfile.mkdtemp(prefix="gongjian-replica-home-"))
    home.chmod(0o755)
    (home / "db").symlink_to(cluster.home)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GONGJIAN_HOME"] = str(home)
    yield env
    shutil.rmtree(home, ignore_errors=True)


def gongjian(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([GONGJIAN, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def replica_url(cli_env, cluster: EmbeddedCluster, demo_world: dict) -> Iterator[str]:
    """A streaming replica of the session cluster made by `gongjian db replica add`."""
    added = gongjian(
        "db", "replica", "add", "--name", "t1", "--port", str(REPLICA_PORT), env=cli_env
    )
    assert added.returncode == 0, added.stderr
    url = added.stdout.strip().splitlines()[-1].removeprefix("GONGJIAN_READ_URLS=")
    assert f":{REPLICA_PORT}/" in url
    try:
        yield url
    finally:
        removed = gongjian("db", "replica", "remove", "t1", env=cli_env)
        assert removed.returncode == 0, removed.stderr
        assert not (cluster.home / "replicas" / "t1").exists()


@pytest.fixture(scope="module")
def replicas(cluster: EmbeddedCluster) -> Replicas:
    return Replicas(cluster)


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


def app_client(engine: sa.Engine, url: str, max_lag_s: float = 5.0) -> TestClient:
    settings = ApiSettings(read_urls=[url], max_replica_lag_s=max_lag_s)
    return TestClient(create_app(engine, settings))


@pytest.fixture(scope="module")
def client(engine: sa.Engine, replica_url: str, users: Users) -> Iterator[TestClient]:
    with app_client(engine, replica_url) as client:
        wait_for_replica(client, users)
        yield client


@pytest.fixture
def household(engine: sa.Engine, town: str, replica_url: str) -> Iterator[int]:
    """A household of our own (a copy of a demo one), deleted afterwards; on the replica too
    (written behind the API's back, so the API cannot know to wait for it)."""
    near = household_in(engine, town, offset=7)
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.text(
                "INSERT INTO household (household_no, village_code, geom, head_name, id_number, "
                "phone, members, labour_members, category, main_cause, housing_status, status, "
                "scattered, registered_year) SELECT 'TREPL' || gen_random_uuid(), village_code, "
                "geom, '测试户主', :idn, '13800001111', 4, 2, 'general', 'illness', 'safe', "
                "'poor', true, 2016 FROM household WHERE id = :near RETURNING id"
            ),
            {"near": near.id, "idn": unused_id_number(conn, near.id + 500)},
        ).scalar_one()
    wait_replayed(engine, replica_url)
    yield new_id
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM household WHERE id = :id"), {"id": new_id})
        conn.execute(
            sa.text("DELETE FROM audit_log WHERE table_name = 'household' AND row_id = :h"),
            {"h": str(new_id)},
        )


def wait_replayed(engine: sa.Engine, replica_url: str, timeout: float = 10) -> float:
    """Until the replica has replayed everything committed on the primary; seconds taken."""
    with engine.connect() as conn:
        lsn = parse_lsn(conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar())
    started = time.monotonic()
    while parse_lsn(on_replica(replica_url, "SELECT pg_last_wal_replay_lsn()::text")[0]) < lsn:
        assert time.monotonic() - started < timeout, "the replica did not replay the write"
        time.sleep(0.005)
    return time.monotonic() - started


def wait_for_replica(client: TestClient, users: Users, timeout: float = 20) -> None:
    """Until the app's health checks find the replica usable (a read goes there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        read = client.get("/me", headers=users.headers("viewer"))
        if read.headers.get("x-gongjian-read") == "replica":
            return
        time.sleep(0.1)
    raise AssertionError("the replica was never used for reads")


def on_replica(url: str, sql: str):
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        return conn.execute(sql).fetchone()


def members_of(client: TestClient, users: Users, who: str, household: int):
    response = client.get(f"{HOUSEHOLD}/{household}", headers=users.headers(who))
    assert response.status_code == 200, response.text
    return response.json()["properties"]["members"], response.headers["x-gongjian-read"]


def patch_members(client: TestClient, users: Users, household: int, members: int) -> None:
    current = client.get(f"{HOUSEHOLD}/{household}", headers=users.headers("editor"))
    assert current.status_code == 200, (current.status_code, current.text, current.headers)
    response = client.patch(
        f"{HOUSEHOLD}/{household}",
        json={"members": members},
        headers=users.headers("editor") | {"If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert "x-gongjian-read" not in response.headers  # writes are not reads


# --- the operator's commands -----------------------------------------------------------------


def test_replica_streams_and_is_listed(replica_url, cli_env, engine) -> None:
    assert on_replica(replica_url, "SELECT pg_is_in_recovery()") == (True,)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS replica_probe (n int)"))
        conn.execute(sa.text("INSERT INTO replica_probe VALUES (42)"))
    # (the primary's WAL position is read after the commit: the commit record is before it)
    print(f"replay of one insert took {1000 * wait_replayed(engine, replica_url):.1f} ms")
    assert on_replica(replica_url, "SELECT n FROM replica_probe") == (42,)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE replica_probe"))
    listed = gongjian("db", "replica", "list", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if "t1" in row)
    assert str(REPLICA_PORT) in line and "streaming" in line


def test_adding_twice_or_on_a_used_port_is_a_clear_error(replica_url, cli_env) -> None:
    again = gongjian("db", "replica", "add", "--name", "t1", "--port", str(SPARE_PORT), env=cli_env)
    assert again.returncode == 1
    assert "replica t1 exists already" in again.stderr
    same_port = gongjian(
        "db", "replica", "add", "--name", "t2", "--port", str(REPLICA_PORT), env=cli_env
    )
    assert same_port.returncode == 1
    assert f"port {REPLICA_PORT} is used by replica t1" in same_port.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", SPARE_PORT))
        taken.listen()
        busy = gongjian(
            "db", "replica", "add", "--name", "t2", "--port", str(SPARE_PORT), env=cli_env
        )
    assert busy.returncode == 1
    assert f"port {SPARE_PORT} is in use" in busy.stderr
    unknown = gongjian("db", "replica", "remove", "nosuch", env=cli_env)
    assert unknown.returncode == 1 and "no replica named nosuch" in unknown.stderr


# --- the API ---------------------------------------------------------------------------------


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    client: TestClient, users: Users, replica_url: str
) -> None:
    response = client.get(f"{HOUSEHOLD}?limit=3", headers=users.headers("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["x-gongjian-read"] == "replica"
    assert response.headers["x-gongjian-replica"] == f"127.0.0.1:{REPLICA_PORT}"
    assert len(response.json()["features"]) == 3
    # the app holds its pooled connections on the replica, as the API's restricted role
    # (that the rows come from there shows the paused-replica test below: stale on purpose)
    seen = on_replica(
        replica_url,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND query <> ''",
    )[0]
    assert seen >= 1


def test_a_caller_reads_its_own_write_at_once(
    client: TestClient, users: Users, household: int
) -> None:
    for members in (5, 6, 7):
        patch_members(client, users, household, members)
        assert members_of(client, users, "editor", household)[0] == members


def test_while_the_replica_is_paused_the_writer_reads_the_primary_the_others_the_replica(
    client: TestClient, users: Users, household: int, replica_url: str
) -> None:
    members_of(client, users, "viewer", household)  # the viewer has not written anything
    on_replica(replica_url, "SELECT pg_wal_replay_pause()")
    try:
        patch_members(client, users, household, 9)
        cookie = client.cookies.get("gongjian_lsn")
        assert cookie and cookie.isdigit()
        started = time.monotonic()
        assert members_of(client, users, "editor", household) == (9, "primary")
        waited = time.monotonic() - started
        # another office (its own client, no write of its own) is served by the replica,
        # still within the lag allowed: it sees the row as it was before
        other_office = TestClient(client.app)
        assert members_of(other_office, users, "viewer", household) == (4, "replica")
        # without the cookie, the process remembers the caller (its token) all the same
        client.cookies.clear()
        assert members_of(client, users, "editor", household) == (9, "primary")
        # another worker process (another app) knows the write from the cookie alone
        with app_client(client.app.state.login_engine, replica_url) as other_worker:
            wait_for_replica(other_worker, users)
            other_worker.cookies.set("gongjian_lsn", cookie)
            assert members_of(other_worker, users, "editor", household) == (9, "primary")
    finally:
        on_replica(replica_url, "SELECT pg_wal_replay_resume()")
    print(f"read-your-writes fallback to the primary took {1000 * waited:.0f} ms")
    assert waited < 1.0
    deadline = time.monotonic() + 5
    while members_of(client, users, "editor", household) != (9, "replica"):
        assert time.monotonic() < deadline, "after resuming, the replica never served again"
        time.sleep(0.05)


def test_a_stopped_replica_is_skipped_within_a_second(
    client: TestClient, users: Users, replicas: Replicas
) -> None:
    path = f"{HOUSEHOLD}?limit=5"
    started = time.monotonic()
    assert client.get(path, headers=users.headers("viewer")).status_code == 200
    normal = time.monotonic() - started
    replicas.stop("t1")
    try:
        slowest = 0.0
        for _ in range(10):
            started = time.monotonic()
            response = client.get(path, headers=users.headers("viewer"))
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 200, response.text
            assert response.headers["x-gongjian-read"] == "primary"
    finally:
        replicas.start("t1")
    print(f"with the replica stopped: slowest read {1000 * slowest:.0f} ms "
          f"(normal {1000 * normal:.0f} ms)")  # fmt: skip
    assert slowest < normal + 1.0
    wait_for_replica(client, users)  # back in use once it answers again


def test_a_replica_lagging_past_the_limit_is_skipped(
    engine: sa.Engine, users: Users, replica_url: str
) -> None:
    with app_client(engine, replica_url, max_lag_s=1.0) as client:
        wait_for_replica(client, users)
        on_replica(replica_url, "SELECT pg_wal_replay_pause()")
        try:
            started = time.monotonic()
            deadline = started + 10
            while True:
                with engine.begin() as conn:  # writes of someone else: WAL the replica lacks
                    conn.execute(sa.text("SELECT txid_current()"))
                where = client.get("/me", headers=users.headers("viewer"))
                if where.headers["x-gongjian-read"] == "primary":
                    break
                assert time.monotonic() < deadline, "a replica minutes behind kept serving"
                time.sleep(0.1)
            fell_back = time.monotonic() - started
            assert fell_back >= 0.9  # not before the lag passed the limit
            response = client.get(f"{HOUSEHOLD}?limit=2", headers=users.headers("viewer"))
            assert response.status_code == 200
            assert response.headers["x-gongjian-read"] == "primary"
        finally:
            on_replica(replica_url, "SELECT pg_wal_replay_resume()")
        print(f"reads fell back to the primary {fell_back:.1f} s after replay paused")
        wait_for_replica(client, users)
