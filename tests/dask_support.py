"""Test helpers for batch runs on Dask: a two-county world and real Dask processes.

The world is a database of its own holding the Lianzhou demo and a second county (连南
441826, set up from the official codes with a small household list, registered today, and
no roads, clinics or terrain). The cluster is a real ``dask scheduler`` and ``dask worker``
processes on loopback, on a port each test module chooses (modules may run side by side).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app as cli_app
from tests.county_lists import COUNTY as OTHER_COUNTY
from tests.county_lists import chosen_villages, household_rows, scratch_engine, write_list

DEMO_COUNTY = "441882"
DASK = Path(sys.executable).with_name("dask")
ACTOR = "test:batch"
ROADS_INTO_OTHER = """
DELETE FROM road r USING township t WHERE t.county_code = :county AND ST_Intersects(r.geom, t.geom)
"""

__all__ = ["DEMO_COUNTY", "OTHER_COUNTY", "batch_world", "cli", "dask_cluster", "worker_running"]


@contextmanager
def batch_world(database_url: str, tmp_path_factory) -> Iterator[tuple[sa.Engine, str]]:
    """The demo county and 连南 (households only) in a database of its own: (engine, URL)."""
    from geo.paths import GUANGDONG_COUNTIES
    from layers.county_setup import init_county
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries
    from layers.imports import ImportOptions, import_file

    with scratch_engine(database_url) as (engine, url):
        import_boundaries(engine, GUANGDONG_COUNTIES, actor=ACTOR)
        ensure_demo(engine, tmp_path_factory.mktemp("home"), force=True)
        init_county(engine, OTHER_COUNTY, actor=ACTOR)
        rows = household_rows(chosen_villages())
        path = write_list(rows, tmp_path_factory.mktemp("lists") / "建档立卡.csv")
        import_file(engine, "households", path, ImportOptions(actor=ACTOR))
        with engine.begin() as conn:  # one demo road crosses into 连南: cut, so it has none
            conn.execute(sa.text(ROADS_INTO_OTHER), {"county": OTHER_COUNTY})
        yield engine, url


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(DASK), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_worker(address: str) -> subprocess.Popen:
    """A ``dask worker`` (one single-threaded process, under a nanny) for ``address``."""
    return _spawn("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                  "--host", "127.0.0.1")  # fmt: skip


def wait_for_workers(address: str, count: int, seconds: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="20s", set_as_default=False) as client:
        client.wait_for_workers(count, timeout=seconds)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process's group (the nanny and its worker), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def dask_cluster(port: int, workers: int = 2) -> Iterator[dict]:
    """A real ``dask scheduler`` on ``127.0.0.1:port`` and ``workers`` ``dask worker``
    processes: ``{"address": "tcp://…", "processes": [...]}``."""
    address = f"tcp://127.0.0.1:{port}"
    processes = [_spawn("scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--dashboard-address", ":0")]  # fmt: skip
    try:
        processes += [start_worker(address) for _ in range(workers)]
        wait_for_workers(address, workers)
        yield {"address": address, "processes": processes}
    finally:
        for process in reversed(processes):
            stop(process)


def cli(url: str, *args: str):
    """``gongjian ARGS`` against ``url``, quiet as under CI."""
    return CliRunner().invoke(cli_app, list(args), env={"DATABASE_URL": url, "CI": "1"})


def worker_running(client, prefix: str, seconds: float) -> str:
    """The address of the worker processing a task whose key starts with ``prefix``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(k).startswith(prefix) for k in keys):
                return worker
        time.sleep(0.1)
    raise AssertionError(f"no task {prefix}* started within {seconds} s")
