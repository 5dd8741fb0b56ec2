"""Faults: the import killed with SIGKILL half-way, and the database server killed mid-import.

Both run the real console script ``gongjian import households …`` in a subprocess, wait until
it is writing (its backend runs the upsert), then kill. The database must hold exactly what it
held before — rows, indexes, audit log — and the next run must succeed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers.cluster import EmbeddedCluster
from tests.importing import (
    big_household_file,
    build_world,
    household_rows,
    remove_world,
    write_rows,
)

COUNTY = "449815"
ROWS = 60_000  # above the bulk threshold: the kill also hits the dropped-index phase
APP = "gongjian-fault-test"
GONGJIAN = Path(sys.executable).parent / "gongjian"
pytestmark = pytest.mark.slow


def start_import(url: str, path: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": f"{url}?application_name={APP}", "CI": "1"}
    return subprocess.Popen(
        [str(GONGJIAN), "import", "households", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_writing(engine: sa.Engine, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the import's backend runs the upsert into household (half-way: all checked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with engine.connect() as conn:
            busy = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND state = 'active' AND query LIKE '%INSERT INTO \"household\"%'"
                ),
                {"app": APP},
            ).scalar()
        if busy:
            return
        time.sleep(0.02)
    raise AssertionError("the import never reached the write phase")


def wait_for_backend_gone(engine: sa.Engine, timeout: float = 120, app: str = APP) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"),
                {"app": app},
            ).scalar():
                return
        time.sleep(0.1)
    raise AssertionError("the killed import's backend is still there")


def state(engine: sa.Engine, county: str = COUNTY) -> tuple:
    """What must not change: the world's households, audit rows and the tables' indexes."""
    with engine.connect() as conn:
        households = conn.execute(
            sa.text(
                "SELECT household_no, members, version FROM household WHERE village_code LIKE "
                ":c ORDER BY 1"
            ),
            {"c": county + "%"},
        ).all()
        audit = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar()
        indexes = conn.execute(
            sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename IN ('household', "
                "'household_income') ORDER BY 1"
            )
        ).all()
        fks = conn.execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid IN ('household'::regclass, "
                "'household_income'::regclass) ORDER BY 1"
            )
        ).all()
    return households, audit, indexes, fks


def seed(engine: sa.Engine, tmp_path: Path, world) -> Path:
    """Five households already stored (the big file updates them), and the big file."""
    from layers.imports import ImportOptions, import_file

    rows = household_rows(world, 5)
    for i, row in enumerate(rows):  # the same numbers as the big file's first rows
        row["户编号"] = f"{world.village_a}{i:06d}"
        row["身份证号"] = None
    import_file(
        engine, "households", write_rows(rows, tmp_path / "seed.csv"), ImportOptions(actor="t")
    )
    return big_household_file(world, ROWS, tmp_path / "big.gpkg")


def test_sigkill_half_way_leaves_the_database_as_it_was(engine, database_url, tmp_path) -> None:
    world = build_world(engine, COUNTY)
    try:
        path = seed(engine, tmp_path, world)
        before = state(engine)
        process = start_import(database_url, path)
        wait_until_writing(engine, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for_backend_gone(engine)
        assert state(engine) == before
        rerun = subprocess.run(
            [str(GONGJIAN), "import", "households", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": database_url, "CI": "1"},
        )
        assert rerun.returncode == 0, rerun.stderr
        after = state(engine)
        assert len(after[0]) == ROWS and after[2:] == before[2:]
    finally:
        remove_world(engine, world)


def test_database_killed_mid_import_gives_a_clear_error_and_nothing_half_written(tmp_path) -> None:
    from layers.migrate import upgrade

    cluster = EmbeddedCluster(Path(tempfile.mkdtemp(prefix="gongjian-kill-")))
    try:
        url = cluster.up()
        upgrade(url)
        engine = sa.create_engine(url)
        world = build_world(engine, COUNTY)
        path = seed(engine, tmp_path, world)
        before = state(engine)
        process = start_import(url, path)
        wait_until_writing(engine, process)
        engine.dispose()
        postmaster = int((cluster.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGQUIT)  # immediate shutdown: every backend dies now
        _, stderr = process.communicate(timeout=120)
        stderr = " ".join(stderr.split())  # rich wraps long lines
        assert process.returncode == 1
        assert "lost the connection to the database" in stderr and "nothing was written" in stderr
        time.sleep(1)
        url = cluster.up()  # crash recovery
        engine = sa.create_engine(url)
        assert state(engine) == before
        rerun = subprocess.run(
            [str(GONGJIAN), "import", "households", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "DATABASE_URL": url, "CI": "1"},
        )
        assert rerun.returncode == 0, rerun.stderr
        engine.dispose()
    finally:
        cluster.destroy()
