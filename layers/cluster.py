"""The embedded PostgreSQL + PostGIS + pgRouting cluster that starts itself.

Without DATABASE_URL, gongjian keeps a private cluster in ``<home>/pgdata`` and talks to it
over loopback TCP with a generated password (kept in ``<home>/cluster.json``, mode 0600).
When run as root the server runs as the ``postgres`` system user, because PostgreSQL
refuses to run as root.

>>> cluster = EmbeddedCluster(Path("/tmp/gj-example"))      # doctest: +SKIP
>>> url = cluster.up()                                       # doctest: +SKIP
>>> cluster.down()                                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "gongjian"
# Held while a port is chosen and the server binds it: two homes starting at the same moment
# would otherwise both see port 54330 free, and the second server would die.
PORT_LOCK = Path(tempfile.gettempdir()) / "gongjian-cluster-ports.lock"
DATABASE = "gongjian"
FIRST_PORT = 54330
INSTALL_HINT = (
    "sudo apt-get install -y postgresql-15-postgis-3 postgresql-15-pgrouting   "
    "(or the packages for your PostgreSQL major, e.g. postgresql-17-postgis-3 "
    "postgresql-17-pgrouting; the README's setup script does this)"
)


class ClusterError(RuntimeError):
    """The embedded cluster cannot be created, started or reached."""


class MissingBinaries(ClusterError):
    """PostgreSQL, PostGIS or pgRouting is not installed on this machine."""


@dataclass(frozen=True)
class PostgresInstall:
    """One installed PostgreSQL major with its bin folder."""

    major: int
    bin_dir: Path

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def find_postgres(bin_dir: Path | None = None) -> PostgresInstall:
    """Find the newest PostgreSQL whose PostGIS and pgRouting are installed.

    Debian keeps each major in /usr/lib/postgresql/N/bin and its extensions in
    /usr/share/postgresql/N/extension; an explicit ``bin_dir`` wins.
    """
    if bin_dir is not None:
        if not (bin_dir / "initdb").exists():
            raise MissingBinaries(
                f"no initdb in {bin_dir} (GONGJIAN_PG_BIN). Install: {INSTALL_HINT}"
            )
        return PostgresInstall(_major_of(bin_dir), bin_dir)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    missing: list[str] = []
    for initdb in sorted(candidates, key=lambda p: int(p.parent.parent.name), reverse=True):
        major = int(initdb.parent.parent.name)
        lacking = _missing_extensions(major)
        if not lacking:
            return PostgresInstall(major, initdb.parent)
        missing.append(f"PostgreSQL {major} lacks {', '.join(lacking)}")
    found = "; ".join(missing) or "no PostgreSQL server found in /usr/lib/postgresql"
    raise MissingBinaries(f"{found}. Install: {INSTALL_HINT}")


def _missing_extensions(major: int) -> list[str]:
    ext_dir = Path(f"/usr/share/postgresql/{major}/extension")
    return [e for e in ("postgis", "pgrouting") if not (ext_dir / f"{e}.control").exists()]


def _major_of(bin_dir: Path) -> int:
    out = subprocess.run(
        [str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1].split(".")[0].split("devel")[0].split("beta")[0])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_free_port(start: int = FIRST_PORT, tries: int = 200) -> int:
    for port in range(start, start + tries):
        if port_is_free(port):
            return port
    raise ClusterError(f"no free loopback port in {start}..{start + tries - 1}")


@dataclass
class ClusterState:
    """What must survive between commands: port and password (cluster.json)."""

    port: int
    password: str
    major: int

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)


class EmbeddedCluster:
    """A private PostgreSQL cluster in ``home``: create, start, stop, connect."""

    def __init__(self, home: Path, bin_dir: Path | None = None) -> None:
        self.home = Path(home).absolute()
        self.pgdata = self.home / "pgdata"
        self.state_file = self.home / "cluster.json"
        self.log_file = self.home / "postgres.log"
        self._bin_dir = bin_dir
        self._install: PostgresInstall | None = None

    # -- facts ---------------------------------------------------------------
    @property
    def install(self) -> PostgresInstall:
        if self._install is None:
            self._install = find_postgres(self._bin_dir)
        return self._install

    @property
    def state(self) -> ClusterState | None:
        return ClusterState.load(self.state_file)

    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists() and self.state is not None

    def running_port(self) -> int | None:
        """Port of our live postmaster, or None (a stale pid file counts as not running)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4 or not _is_our_postmaster(int(lines[0]), self.pgdata):
            return None
        return int(lines[3])

    def url(self, database: str = DATABASE) -> str:
        state = self._require_state()
        port = self.running_port() or state.port
        return f"postgresql+psycopg://{SUPERUSER}:{state.password}@127.0.0.1:{port}/{database}"

    # -- lifecycle -------------------------------------------------------------
    def up(self) -> str:
        """Create (first time) and start the cluster, create the database; return its URL.

        Harmless when already running; recovers from a server killed with SIGKILL. Two
        commands bringing up the same home at once take turns (a lock in the home), and
        servers of different homes never race for one port (a lock per machine).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        with _locked(self.home / ".up.lock"):
            if not self.initialised:
                self._initdb()
            if self.running_port() is None:
                with _locked(PORT_LOCK):
                    self._start()
            self._ensure_database(DATABASE)
        return self.url()

    def down(self) -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running."""
        if self.running_port() is None:
            return False
        self._run_pg("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")
        return True

    def create_database(self, name: str) -> str:
        """Create an extra database (tests use this for throw-away copies)."""
        self._ensure_database(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        """Stop and delete everything in ``home`` (used by tests)."""
        with contextlib.suppress(ClusterError):
            self.down()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- internals -------------------------------------------------------------
    def _initdb(self) -> None:
        install = self.install
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)  # the postgres user must be able to enter it when we are root
        shutil.rmtree(self.pgdata, ignore_errors=True)  # a half-made folder from a crash
        state = ClusterState(
            port=pick_free_port(), password=secrets.token_urlsafe(24), major=install.major
        )
        pwfile = self.home / "initdb.pw"
        pwfile.write_text(state.password + "\n")
        try:
            self._give_to_server_user(self.home, pwfile)
            self._check_server_user_can_enter()
            self._run_pg(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        state.save(self.state_file)

    def _start(self) -> None:
        state = self._require_state()
        self._remove_stale_pid_file()
        if not port_is_free(state.port):
            state.port = pick_free_port(state.port + 1)
            state.save(self.state_file)
        for attempt in range(3):
            options = (
                f"-p {state.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c max_connections=50 -c shared_buffers=256MB -c work_mem=32MB "
                "-c maintenance_work_mem=256MB -c max_wal_size=2GB -c fsync=on"
            )
            try:
                self._run_pg(
                    "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_file),
                    "-o", options, "-w", "-t", "90", "start",
                )  # fmt: skip
                return
            except ClusterError as exc:
                # After SIGKILL the old backends may need a moment to notice and exit; a port
                # taken by a program outside our lock sends us to the next free one.
                if attempt == 2:
                    raise
                if "could not bind" in str(exc) or "Address already in use" in str(exc):
                    state.port = pick_free_port(state.port + 1)
                    state.save(self.state_file)
                time.sleep(2)

    def _remove_stale_pid_file(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists() and self.running_port() is None:
            pid_file.unlink()

    def _ensure_database(self, name: str) -> None:
        with self._admin_connection() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def _admin_connection(self) -> psycopg.Connection:
        state = self._require_state()
        port = self.running_port()
        if port is None:
            raise ClusterError(f"the embedded cluster in {self.home} is not running")
        return psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=SUPERUSER,
            password=state.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def _require_state(self) -> ClusterState:
        state = self.state
        if state is None:
            raise ClusterError(f"no embedded cluster in {self.home}: run `gongjian db up`")
        return state

    def _run_pg(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program, as the ``postgres`` user when we are root."""
        command = [self.install.tool(tool), *args]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            user=_server_user(),
            cwd="/",
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{tool} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
                f"\nlog: {self.log_file}\n{self._log_tail()}"
            )
        return result

    def _check_server_user_can_enter(self) -> None:
        user = _server_user()
        if user and subprocess.run(["test", "-w", str(self.home)], user=user).returncode:
            raise ClusterError(
                f"the '{user}' system user cannot enter {self.home}: a folder above it is "
                "private (like /root). Set GONGJIAN_HOME to a folder it can reach, "
                "e.g. /var/lib/gongjian"
            )

    @staticmethod
    def _give_to_server_user(*paths: Path) -> None:
        user = _server_user()
        if user is None:
            return
        entry = pwd.getpwnam(user)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (released when the process dies, too)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file: a read-only descriptor locks too
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: use the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise MissingBinaries(
            f"running as root needs the 'postgres' system user. Install: {INSTALL_HINT}"
        ) from exc
    return "postgres"


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    """True when ``pid`` is alive and is a postgres server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return False
    return bool(cmdline) and os.path.basename(cmdline[0].decode(errors="replace")) in {
        "postgres",
        "postmaster",
    }
