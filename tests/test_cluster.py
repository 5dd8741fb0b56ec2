"""The embedded cluster and the ``gongjian db`` commands, as a user runs them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from layers.cluster import EmbeddedCluster, MissingBinaries, find_postgres

GONGJIAN = str(Path(sys.executable).parent / "gongjian")


def run_cli(*args: str, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GONGJIAN, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def home() -> Iterator[Path]:
    # Not tmp_path: pytest makes its base private, and as root the postgres user must enter.
    base = Path(tempfile.mkdtemp(prefix="gongjian-cli-"))
    base.chmod(0o755)
    yield base / "gj"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GONGJIAN_HOME"] = str(home)
    return env


@pytest.fixture
def own_cluster(home: Path):
    cluster = EmbeddedCluster(home)
    yield cluster
    cluster.destroy()


def test_up_twice_is_harmless_and_down_twice_too(own_cluster: EmbeddedCluster) -> None:
    first = own_cluster.up()
    port = own_cluster.running_port()
    assert own_cluster.up() == first
    assert own_cluster.running_port() == port
    with psycopg.connect(first.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert own_cluster.down() is True
    assert own_cluster.down() is False
    assert own_cluster.running_port() is None


def test_recovers_after_sigkill(own_cluster: EmbeddedCluster) -> None:
    own_cluster.up()
    pid = int((own_cluster.pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    _wait_until_dead(pid)
    assert (own_cluster.pgdata / "postmaster.pid").exists()  # stale pid file left behind
    assert own_cluster.running_port() is None
    url = own_cluster.up()
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_moves_to_a_free_port_when_its_port_is_taken(own_cluster: EmbeddedCluster) -> None:
    own_cluster.up()
    port = own_cluster.running_port()
    own_cluster.down()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        own_cluster.up()
        assert own_cluster.running_port() not in (None, port)
    assert own_cluster.state.port == own_cluster.running_port()  # remembered for next time


def test_password_file_is_private(own_cluster: EmbeddedCluster) -> None:
    own_cluster.up()
    assert own_cluster.state_file.stat().st_mode & 0o077 == 0


def test_missing_binaries_message_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(MissingBinaries, match="apt-get install -y postgresql-"):
        find_postgres(tmp_path)


def test_cli_up_status_down(cli_env: dict[str, str], home: Path) -> None:
    try:
        up = run_cli("db", "up", env=cli_env)
        assert up.returncode == 0, up.stderr
        assert "database ready" in up.stdout
        status = run_cli("db", "status", env=cli_env)
        assert status.returncode == 0, status.stderr
        for label in ("PostgreSQL", "PostGIS", "GEOS", "PROJ", "pgRouting", "schema revision"):
            assert label in status.stdout
        assert "not installed" not in status.stdout
        assert "none (run" not in status.stdout  # migrated
        url = run_cli("db", "url", env=cli_env)
        assert url.stdout.startswith("postgresql+psycopg://gongjian:***@127.0.0.1:")
    finally:
        down = run_cli("db", "down", env=cli_env)
    assert down.returncode == 0 and "stopped" in down.stdout
    again = run_cli("db", "status", env=cli_env)
    assert again.returncode == 3 and "not running" in again.stdout


def test_cli_with_database_url_never_starts_a_cluster(
    database_url: str, cli_env: dict[str, str], home: Path
) -> None:
    env = {**cli_env, "DATABASE_URL": database_url}
    status = run_cli("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "DATABASE_URL" in status.stdout
    assert not home.exists()  # nothing was created in GONGJIAN_HOME
    down = run_cli("db", "down", env=env)
    assert "not ours to stop" in down.stdout


def _wait_until_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # a zombie nobody reaped is dead enough
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")
