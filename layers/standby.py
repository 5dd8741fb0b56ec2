"""Hot standbys of the embedded cluster: ``gongjian db replica add|list|remove``.

A replica is a copy of the primary made by ``pg_basebackup -R`` that streams the primary's WAL
and answers read-only queries (hot standby), on this machine on its own loopback port. Each
replica has a physical replication slot on the primary, so a replica that falls behind (or is
stopped for a while) can catch up; ``max_slot_wal_keep_size`` caps what a forgotten replica
can make the primary keep. Replicas live in ``<cluster home>/replicas/<name>/`` with their
port in ``replica.json``; they run as the same (service) user as the primary.

>>> parse_lsn("0/3000148")
50331976
>>> parse_lsn("1/0")
4294967296
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from layers.cluster import (
    PORT_LOCK,
    SUPERUSER,
    ClusterError,
    EmbeddedCluster,
    _is_our_postmaster,
    _locked,
    _server_user,
    port_is_free,
)

NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
FIRST_REPLICA_PORT = 54430
# What a replica whose slot holds WAL may make the primary keep before the slot is dropped
# by PostgreSQL (the replica then needs `remove` + `add`): a full disk is worse.
MAX_SLOT_WAL_KEEP = "8GB"
REPLICATION_HBA = "host replication {user} 127.0.0.1/32 scram-sha-256"


class ReplicaError(ClusterError):
    """A replica cannot be added, found or removed as asked."""


def parse_lsn(text: str | None) -> int | None:
    """A WAL position ``X/Y`` as one integer (comparable), None stays None."""
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class ReplicaStatus:
    """One line of ``gongjian db replica list``."""

    name: str
    port: int
    state: str  # streaming | running | stopped | paused
    lag_bytes: int | None
    lag_s: float | None
    url: str


class Replicas:
    """The standbys of one embedded cluster."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.root = cluster.home / "replicas"

    # -- facts ---------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/replica.json"))

    def port(self, name: str) -> int:
        return int(json.loads(self._state_file(name).read_text())["port"])

    def url(self, name: str) -> str:
        password = self.cluster._require_state().password
        return f"postgresql+psycopg://{SUPERUSER}:{password}@127.0.0.1:{self.port(name)}/gongjian"

    def running(self, name: str) -> bool:
        try:
            lines = (self._pgdata(name) / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return False
        return bool(lines) and _is_our_postmaster(int(lines[0]), self._pgdata(name))

    def status(self) -> list[ReplicaStatus]:
        """Every replica with its state and replay lag (bytes behind the primary, seconds)."""
        primary_lsn = self._primary_lsn()
        return [self._status_of(name, primary_lsn) for name in self.names()]

    # -- lifecycle -----------------------------------------------------------------
    def add(self, name: str, port: int | None = None, progress=lambda _msg: None) -> str:
        """Copy the running primary into a new streaming standby, start it, return its URL."""
        if not NAME.match(name):
            raise ReplicaError(
                f"replica name must be lower-case letters, digits and _ (got {name!r})"
            )
        if self._state_file(name).exists():
            raise ReplicaError(
                f"replica {name} exists already (port {self.port(name)}); "
                f"`gongjian db replica remove {name}` first"
            )
        if self.cluster.running_port() is None:
            raise ReplicaError("the primary is not running: `gongjian db up` first")
        with _locked(PORT_LOCK):
            port = self._usable_port(port)
            progress("preparing the primary for replication")
            self._prepare_primary()
            progress(f"copying the primary (pg_basebackup) into replica {name}")
            self._basebackup(name)
            self._state_file(name).write_text(json.dumps({"name": name, "port": port}))
            progress(f"starting replica {name} on port {port}")
            self.start(name)
        self._wait_streaming(name)
        return self.url(name)

    def start(self, name: str) -> None:
        if self.running(name):
            return
        options = (
            f"-p {self.port(name)} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=50 -c shared_buffers=128MB -c hot_standby=on "
            "-c hot_standby_feedback=on"
        )
        self._run(
            "pg_ctl", "-D", str(self._pgdata(name)), "-l", str(self._log(name)),
            "-o", options, "-w", "-t", "90", "start", name=name,
        )  # fmt: skip

    def stop(self, name: str) -> bool:
        if not self.running(name):
            return False
        self._run("pg_ctl", "-D", str(self._pgdata(name)), "-m", "fast", "-w", "stop", name=name)
        return True

    def remove(self, name: str) -> None:
        """Stop the replica, delete its files and drop its slot on the primary."""
        if not self._state_file(name).exists():
            known = ", ".join(self.names()) or "none"
            raise ReplicaError(f"no replica named {name} (replicas: {known})")
        self.stop(name)
        with (
            contextlib.suppress(ClusterError, psycopg.Error),
            self.cluster._admin_connection() as conn,
        ):
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (_slot(name),),
            )
        shutil.rmtree(self.root / name, ignore_errors=True)

    # -- internals -----------------------------------------------------------------
    def _usable_port(self, port: int | None) -> int:
        taken = {self.port(n): n for n in self.names()}
        if port is not None:
            if port in taken:
                raise ReplicaError(f"port {port} is used by replica {taken[port]}")
            if port == self.cluster.running_port() or not port_is_free(port):
                raise ReplicaError(f"port {port} is in use on 127.0.0.1: choose another --port")
            return port
        for candidate in range(FIRST_REPLICA_PORT, FIRST_REPLICA_PORT + 200):
            if candidate not in taken and port_is_free(candidate):
                return candidate
        raise ReplicaError("no free loopback port for a replica: give --port")

    def _prepare_primary(self) -> None:
        """Replication connections from loopback allowed, WAL kept for slots but bounded."""
        with self.cluster._admin_connection() as conn:
            settings = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings "
                    "WHERE name IN ('wal_level', 'max_wal_senders', 'hba_file')"
                ).fetchall()
            )
            if settings["wal_level"] == "minimal" or int(settings["max_wal_senders"]) < 1:
                raise ReplicaError(
                    "the primary does not stream WAL (wal_level=minimal or max_wal_senders=0): "
                    "set wal_level=replica and max_wal_senders=10 and restart it"
                )
            rules = conn.execute(
                "SELECT 1 FROM pg_hba_file_rules WHERE 'replication' = ANY(database) "
                "AND type = 'host' AND address = '127.0.0.1'"
            ).fetchone()
            if rules is None:
                self._append_hba_line(Path(settings["hba_file"]))
            conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{MAX_SLOT_WAL_KEEP}'")
            conn.execute("SELECT pg_reload_conf()")

    def _append_hba_line(self, hba: Path) -> None:
        line = REPLICATION_HBA.format(user=SUPERUSER)
        user = _server_user()
        script = f"printf '%s\\n' '{line}' >> '{hba}'"
        subprocess.run(["sh", "-c", script], user=user, check=True, cwd="/")

    def _basebackup(self, name: str) -> None:
        folder = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        folder.mkdir(exist_ok=True)
        for path in (self.root, folder):
            path.chmod(0o755)
            self.cluster._give_to_server_user(path)
        try:
            self._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.cluster.running_port()),
                "-U", SUPERUSER, "-D", str(self._pgdata(name)), "-R", "-X", "stream",
                "-C", "-S", _slot(name), "--checkpoint=fast", "--no-password", name=name,
            )  # fmt: skip
        except ReplicaError:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _wait_streaming(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._status_of(name, self._primary_lsn()).state == "streaming":
                return
            time.sleep(0.2)
        raise ReplicaError(f"replica {name} started but does not stream: see {self._log(name)}")

    def _primary_lsn(self) -> int | None:
        try:
            with self.cluster._admin_connection() as conn:
                return parse_lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
        except (ClusterError, psycopg.Error):
            return None

    def _status_of(self, name: str, primary_lsn: int | None) -> ReplicaStatus:
        port, url = self.port(name), self.url(name)
        if not self.running(name):
            return ReplicaStatus(name, port, "stopped", None, None, url)
        try:
            with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=2) as conn:
                row = conn.execute(REPLAY_SQL).fetchone()
        except psycopg.Error:
            return ReplicaStatus(name, port, "running", None, None, url)
        replay, paused, streaming, lag_s = row
        lag_bytes = None
        if primary_lsn is not None and replay is not None:
            lag_bytes = max(0, primary_lsn - parse_lsn(replay))
        state = "paused" if paused else "streaming" if streaming else "running"
        return ReplicaStatus(name, port, state, lag_bytes, lag_s, url)

    def _run(self, tool: str, *args: str, name: str) -> None:
        """A PostgreSQL program as the server user, the primary's password in the environment."""
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        env["PGPASSWORD"] = self.cluster._require_state().password
        result = subprocess.run(
            [self.cluster.install.tool(tool), *args],
            capture_output=True,
            text=True,
            user=_server_user(),
            cwd="/",
            env=env,
        )
        if result.returncode != 0:
            raise ReplicaError(
                f"{tool} failed for replica {name} ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\nlog: {self._log(name)}"
            )

    def _state_file(self, name: str) -> Path:
        return self.root / name / "replica.json"

    def _pgdata(self, name: str) -> Path:
        return self.root / name / "pgdata"

    def _log(self, name: str) -> Path:
        return self.root / name / "postgres.log"


def _slot(name: str) -> str:
    return f"gongjian_replica_{name}"


# On the replica: where replay stands, whether it is paused, whether WAL is streaming in, and
# seconds since the last replayed transaction when replay is behind what was received.
REPLAY_SQL = """
SELECT pg_last_wal_replay_lsn()::text,
       pg_is_wal_replay_paused(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE round(extract(epoch FROM clock_timestamp()
                                          - pg_last_xact_replay_timestamp())::numeric, 2)::float
       END
"""
