"""Faults of a running server: SIGKILL during 50 concurrent edits and during an upload import,
and two ``gongjian db up`` on fresh homes at the same moment.

Each fault is followed by a restart; then nothing is half-written, the audit log holds one
row per change that committed (and only those), and re-running the work succeeds (an
import re-run changes nothing). The import killed from the command line, and the database
server stopped with ``immediate`` mid-import, are in ``test_import_faults.py``; a full disk in
``test_disk_full.py``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from layers.cluster import EmbeddedCluster
from tests.api_support import new_users
from tests.browser_support import free_port
from tests.importing import big_household_file, build_world, remove_world
from tests.test_import_faults import state, wait_for_backend_gone

COUNTY = "449813"
APP = "gongjian-server-fault"
GONGJIAN = Path(sys.executable).parent / "gongjian"
EDITS = 50
UPLOAD_ROWS = 8_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture(scope="module")
def editor(engine: sa.Engine, world) -> Iterator[str]:
    users = new_users(engine)
    users.add("editor", "editor", world.county)
    yield users.tokens["editor"]
    users.drop()


class Server:
    """``gongjian serve`` in its own process (so it can be killed like the real thing)."""

    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": f"{database_url}?application_name={APP}", "CI": "1"}
        self.process = subprocess.Popen(
            [str(GONGJIAN), "serve", "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, "the server did not start"
            assert time.monotonic() < deadline, "the server did not start in time"
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def audit_rows(engine: sa.Engine, actor: str, table: str = "household") -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT row_id, count(*) FROM audit_log WHERE table_name = :t AND actor = :a "
                    "AND action = 'update' GROUP BY 1"
                ),
                {"t": table, "a": actor},
            ).all()
        )


def test_sigkill_during_50_concurrent_edits(engine, database_url, world, editor, tmp_path):
    from layers.imports import ImportOptions, import_file

    households = big_household_file(world, EDITS, tmp_path / "hh.gpkg")
    import_file(engine, "households", households, ImportOptions(actor="test"))
    with engine.connect() as conn:
        ids = (
            conn.execute(
                sa.text("SELECT id FROM household WHERE starts_with(village_code, :c) ORDER BY id"),
                {"c": world.county},
            )
            .scalars()
            .all()
        )
    assert len(ids) == EDITS
    headers = {"Authorization": f"Bearer {editor}"}
    phone = {hid: f"1390000{i:04d}" for i, hid in enumerate(ids)}
    server = Server(database_url)
    start = threading.Barrier(EDITS + 1)

    def edit(hid: int) -> int | None:
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
            etag = client.get(f"/collections/household/items/{hid}").headers["etag"]
            start.wait()
            try:
                response = client.patch(
                    f"/collections/household/items/{hid}", json={"phone": phone[hid]},
                    headers={"If-Match": etag},
                )  # fmt: skip
            except httpx.HTTPError:
                return None  # the server died before answering
            return response.status_code

    with concurrent.futures.ThreadPoolExecutor(EDITS) as pool:
        answers = [pool.submit(edit, hid) for hid in ids]
        start.wait()
        time.sleep(0.15)  # some edits are through, others in flight
        server.kill()
        answers = dict(zip(ids, (a.result() for a in answers), strict=True))
    wait_for_backend_gone(engine, app=APP)

    actor = f"api:{editor_name(engine, editor)}"
    audits = audit_rows(engine, actor)
    with engine.connect() as conn:
        now = {
            hid: (version, stored)
            for hid, version, stored in conn.execute(
                sa.text("SELECT id, version, phone FROM household WHERE id = ANY(:ids)"),
                {"ids": ids},
            ).all()
        }
    committed = [hid for hid in ids if now[hid][0] == 2]
    for hid in ids:
        version, stored = now[hid]
        assert version in (1, 2)
        assert (stored == phone[hid]) == (version == 2)  # nothing half-written
        assert audits.get(str(hid), 0) == version - 1  # one audit row per committed change
        if answers[hid] == 200:
            assert version == 2  # what the client was told is saved, is saved
    assert None in answers.values(), "the kill came too late: every edit was answered"

    # restart: every edit that did not commit goes through now, and only once
    with TestClient(create_app(engine)) as client:
        for hid in set(ids) - set(committed):
            etag = client.get(f"/collections/household/items/{hid}", headers=headers)
            response = client.patch(
                f"/collections/household/items/{hid}", json={"phone": phone[hid]},
                headers=headers | {"If-Match": etag.headers["etag"]},
            )  # fmt: skip
            assert response.status_code == 200, response.text
    assert audit_rows(engine, actor) == {str(hid): 1 for hid in ids}


def editor_name(engine: sa.Engine, token: str) -> str:
    from layers.access import hash_token

    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT name FROM api_user WHERE token_hash = :h"), {"h": hash_token(token)}
        ).scalar_one()


def test_sigkill_during_an_upload_import(engine, database_url, world, editor, tmp_path):
    path = big_household_file(world, UPLOAD_ROWS, tmp_path / "upload.gpkg")
    before = state(engine, COUNTY)
    server = Server(database_url)

    def upload() -> None:
        client = httpx.Client(base_url=server.base, timeout=300)
        # the server is killed under it
        with client, path.open("rb") as f, contextlib.suppress(httpx.HTTPError):
            client.post(
                    "/imports", data={"kind": "households"}, files={"file": (path.name, f)},
                    headers={"Authorization": f"Bearer {editor}"},
                )  # fmt: skip

    uploading = threading.Thread(target=upload)
    uploading.start()
    wait_until_writing(engine)
    server.kill()
    uploading.join(timeout=60)
    wait_for_backend_gone(engine, app=APP)
    assert state(engine, COUNTY) == before  # the import's transaction is gone, all of it

    env = {**os.environ, "DATABASE_URL": database_url, "CI": "1"}
    command = [str(GONGJIAN), "import", "households", str(path)]
    first = subprocess.run(command, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    loaded = state(engine, COUNTY)
    assert len(loaded[0]) == UPLOAD_ROWS  # the file's households (the 50 edited among them)
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert state(engine, COUNTY) == loaded  # idempotent: the same file changes nothing


def wait_until_writing(engine: sa.Engine, timeout: float = 120) -> None:
    """Until the server's import backend writes into household."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            busy = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND state = 'active' AND query ILIKE '%INSERT INTO \"household\"%'"
                ),
                {"app": APP},
            ).scalar()
        if busy:
            return
        time.sleep(0.02)
    raise AssertionError("the upload never reached the write phase")


def db_up(home: Path) -> subprocess.Popen:
    env = {**os.environ, "GONGJIAN_HOME": str(home), "CI": "1"}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [str(GONGJIAN), "db", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_db_up_at_the_same_moment(tmp_path: Path) -> None:
    """Fresh homes brought up together get a port each; the same home twice takes turns."""
    homes = [Path(tempfile.mkdtemp(prefix="gongjian-race-")) for _ in range(2)]
    for home in homes:
        home.chmod(0o755)
    runs = [homes[0], homes[1], homes[1]]  # two homes, and the second one twice
    try:
        processes = [db_up(home) for home in runs]
        results = [p.communicate(timeout=300) for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], results
        clusters = [EmbeddedCluster(home / "db") for home in homes]
        ports = [c.running_port() for c in clusters]
        assert None not in ports and ports[0] != ports[1]
        for cluster in clusters:
            with sa.create_engine(cluster.url()).connect() as conn:
                assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        for home in homes:
            EmbeddedCluster(home / "db").destroy()
            subprocess.run(["rm", "-rf", str(home)], check=False)
