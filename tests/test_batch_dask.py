"""``--county all --dask tcp://…``: one task per county on a real Dask scheduler and two real
``dask worker`` processes on loopback, against a database of the module's own holding the
Lianzhou demo and a second county (连南 441826, set up from the official codes with a small
household list and no roads, clinics or terrain).

Checked as a user would: the result tables after the Dask run equal those after the normal
single-process run; the county without roads is reported with its reason while the other is
done; a scheduler that is not there is named within seconds (or the run goes local if asked);
a worker killed in the middle of a county's task leaves nothing half-written and the county
is redone on the other worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from layers import coverage, relocation
from tests.dask_support import (
    DEMO_COUNTY,
    OTHER_COUNTY,
    batch_world,
    dask_cluster,
    worker_running,
)
from tests.dask_support import cli as _cli

SCHEDULER_PORT = 18787
ABSENT_PORT = 18798  # nothing listens here


# --- the world and the Dask processes -------------------------------------------------------


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory) -> Iterator[tuple[sa.Engine, str]]:
    """The demo county and 连南 (households only) in a database of the module's own."""
    with batch_world(database_url, tmp_path_factory) as made:
        yield made


@pytest.fixture(scope="module")
def scheduler() -> Iterator[dict]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on loopback."""
    with dask_cluster(SCHEDULER_PORT) as cluster:
        yield cluster


# --- helpers --------------------------------------------------------------------------------


def _tables(engine: sa.Engine, tables) -> dict[str, pd.DataFrame]:
    """Every result row (ids and times aside), as text, in a fixed order."""
    frames = {}
    with engine.connect() as conn:
        for table in tables:
            frame = pd.read_sql(sa.text(f"SELECT * FROM {table}"), conn)
            frame = frame.drop(columns=[c for c in ("id", "computed_at") if c in frame])
            frame = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
            frames[table] = frame
    return frames


def _clear(engine: sa.Engine, tables) -> None:
    with engine.begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table}"))


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar())


def _assert_same(before: dict, after: dict) -> None:
    for table, frame in before.items():
        assert len(frame) > 0 or table == "isochrone", f"{table}: no rows in the normal run"
        pd.testing.assert_frame_equal(after[table], frame, obj=table)


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coverage_reference(world) -> dict:
    """The coverage tables after the normal single-process run of the demo county."""
    engine, url = world
    result = _cli(url, "coverage", "--county", DEMO_COUNTY, "--no-isochrones")
    assert result.exit_code == 0, result.output
    return _tables(engine, coverage.RESULT_TABLES)


def test_coverage_on_dask_equals_the_single_process_run(world, scheduler, coverage_reference):
    engine, url = world
    _clear(engine, coverage.RESULT_TABLES)

    result = _cli(url, "coverage", "--county", "all", "--no-isochrones",
                  "--dask", scheduler["address"])  # fmt: skip

    # 连南 has households but no roads: reported with the reason, the demo county done
    assert result.exit_code == 1, result.output
    assert "1 of 2 counties done" in result.output
    reason = next(x for x in result.output.splitlines() if x.startswith(f"county {OTHER_COUNTY}"))
    assert "not done" in reason and "road" in reason.lower(), reason
    _assert_same(coverage_reference, _tables(engine, coverage.RESULT_TABLES))
    assert _count(engine, f"SELECT count(*) FROM coverage_household "
                          f"WHERE township_code LIKE '{OTHER_COUNTY}%'") == 0  # fmt: skip


def test_relocation_on_dask_equals_the_single_process_run(world, scheduler):
    engine, url = world
    result = _cli(url, "relocation", "--county", DEMO_COUNTY)
    assert result.exit_code == 0, result.output
    reference = _tables(engine, relocation.RESULT_TABLES)
    _clear(engine, relocation.RESULT_TABLES)

    result = _cli(url, "relocation", "--county", f"{DEMO_COUNTY},{OTHER_COUNTY}",
                  "--dask", scheduler["address"])  # fmt: skip

    assert "1 of 2 counties done" in result.output, result.output
    _assert_same(reference, _tables(engine, relocation.RESULT_TABLES))


def test_flags_on_dask_equal_the_per_county_runs(world, scheduler):
    engine, url = world
    for county in (DEMO_COUNTY, OTHER_COUNTY):
        result = _cli(url, "flags", "--county", county)
        assert result.exit_code == 0, result.output
    reference = _tables(engine, ["flag"])
    _clear(engine, ["flag"])

    result = _cli(url, "flags", "--county", "all", "--dask", scheduler["address"])

    assert result.exit_code == 0, result.output
    assert "2 of 2 counties done" in result.output
    _assert_same(reference, _tables(engine, ["flag"]))


def test_a_scheduler_that_is_not_there_is_named_within_seconds(world):
    _, url = world
    address = f"tcp://127.0.0.1:{ABSENT_PORT}"
    started = time.perf_counter()
    result = _cli(url, "coverage", "--county", "all", "--dask", address)
    assert time.perf_counter() - started < 15
    assert result.exit_code == 1
    assert f"no Dask scheduler at {address}" in result.output
    assert "--local-fallback" in result.output


def test_local_fallback_runs_on_a_local_cluster(world, coverage_reference):
    engine, url = world
    _clear(engine, coverage.RESULT_TABLES)
    result = _cli(url, "coverage", "--county", DEMO_COUNTY, "--no-isochrones", "--workers", "1",
                  "--dask", f"tcp://127.0.0.1:{ABSENT_PORT}", "--local-fallback")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 of 1 counties done" in result.output
    _assert_same(coverage_reference, _tables(engine, coverage.RESULT_TABLES))


def test_a_worker_killed_mid_task_leaves_nothing_half_written(world, scheduler, coverage_reference):
    """Kill the worker running the demo county while it runs: the county is redone on the
    other worker, and the tables hold exactly one complete run."""
    from distributed import Client

    engine, url = world
    address = scheduler["address"]
    _clear(engine, coverage.RESULT_TABLES)
    runs_before = _count(engine, "SELECT count(*) FROM coverage_run")
    env = {**os.environ, "DATABASE_URL": url, "CI": "1"}
    command = [str(Path(sys.executable).with_name("gongjian")), "coverage", "--county", DEMO_COUNTY,
               "--no-isochrones", "--dask", address]  # fmt: skip
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)  # fmt: skip
    with Client(address, timeout="10s", set_as_default=False) as client:
        busy = worker_running(client, "coverage-", seconds=60)
        time.sleep(1.5)  # inside the task: reading, assessing or writing
        pid = client.run(os.getpid, workers=[busy])[busy]
        os.kill(pid, signal.SIGKILL)  # its nanny starts a fresh worker process
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 0, output
    assert "1 of 1 counties done" in output
    _assert_same(coverage_reference, _tables(engine, coverage.RESULT_TABLES))
    assert _count(engine, "SELECT count(*) FROM coverage_run") == runs_before + 1
