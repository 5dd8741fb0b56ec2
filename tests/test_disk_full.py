"""A full disk during an import: the home lives on a small tmpfs that the import fills.

PostgreSQL either refuses the write (the import fails with a clear error) or, when it cannot
write its WAL, stops itself; either way, once space is freed and the cluster is up again,
the database holds exactly what it held before, and the import then runs and re-runs
(changing nothing the second time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers.cluster import EmbeddedCluster
from tests.importing import big_household_file, build_world
from tests.test_import_faults import state

COUNTY = "449812"
ROWS = 15_000
LEFT_FREE = 6 * 1024 * 1024  # less than one WAL segment
GONGJIAN = Path(sys.executable).parent / "gongjian"
pytestmark = pytest.mark.slow


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_during_an_import_writes_nothing_and_recovers(tmp_path: Path) -> None:
    from layers.migrate import upgrade

    mount = Path(tempfile.mkdtemp(prefix="gongjian-small-disk-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=320m,mode=0755", "tmpfs", str(mount)], check=True
    )
    cluster = EmbeddedCluster(mount / "db")
    try:
        url = cluster.up()
        upgrade(url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        world = build_world(engine, COUNTY)
        path = big_household_file(world, ROWS, tmp_path / "big.gpkg")  # not on the small disk
        before = state(engine, COUNTY)
        filler = mount / "filler"
        with filler.open("wb") as f:
            os.posix_fallocate(f.fileno(), 0, shutil.disk_usage(mount).free - LEFT_FREE)

        env = {**os.environ, "DATABASE_URL": url, "CI": "1"}
        command = [str(GONGJIAN), "import", "households", str(path)]
        failed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        message = " ".join(failed.stderr.split())
        assert failed.returncode != 0, failed.stdout
        assert "Traceback" not in message and "nothing was written" in message, message
        # refused with "ran out of room", or the server stopped itself ("lost the connection")
        assert "ran out of room" in message or "lost the connection" in message, message

        filler.unlink()
        url = cluster.up()  # after a PANIC: crash recovery; otherwise already running
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        assert state(engine, COUNTY) == before  # nothing half-written
        first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert first.returncode == 0, first.stderr
        loaded = state(engine, COUNTY)
        assert len(loaded[0]) == ROWS
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert again.returncode == 0, again.stderr
        assert state(engine, COUNTY) == loaded  # idempotent
    finally:
        cluster.destroy()
        subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)
