"""Backups that restore: the database and the raster files it points to, in one archive.

A backup is a tar file holding

- ``database.dump``: ``pg_dump --format=custom`` of the database (schema, data, grants),
- ``rasters/<name>``: each file the ``raster`` table points to (the DEM), checked against
  its registered SHA-256,
- ``manifest.json``: when, from which schema revision, and every table's row count and a
  checksum of its contents — all taken from the same snapshot as the dump, so a restore can
  prove it got back exactly what was saved.

:func:`restore` loads an archive into an empty database in one transaction (all or
nothing), puts the raster files back, and compares every table's count and checksum with
the manifest. Archives are written under a temporary name and renamed when complete, so a
crash or a full disk never leaves a file that looks like a backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

FORMAT = "gongjian-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
RASTERS = "rasters/"
PREFIX = "gongjian-"
SUFFIX = ".tar"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
API_ROLE = "gongjian_api"  # the role of migration 0003 (cluster-wide, not in any dump)


class BackupError(RuntimeError):
    """A backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class TableFingerprint:
    rows: int
    checksum: str  # md5 over the md5 of every row's text, in order: independent of row order


@dataclass
class BackupResult:
    path: Path
    tables: int
    rows: int
    rasters: list[str]
    missing_rasters: list[str]
    size: int
    removed: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    tables: int
    rows: int
    rasters: list[str]  # where each raster file now is
    mismatches: list[str]  # tables whose count or checksum differ from the manifest


# --- where backups go ------------------------------------------------------------------------


def default_archive(folder: Path, now: dt.datetime | None = None) -> Path:
    """``folder/gongjian-20261204T173000Z.tar``: names sort in time order.

    >>> default_archive(Path("/b"), dt.datetime(2026, 12, 4, 17, 30, tzinfo=dt.UTC)).name
    'gongjian-20261204T173000Z.tar'
    """
    now = now or dt.datetime.now(dt.UTC)
    return folder / f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}{SUFFIX}"


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``gongjian-*.tar`` archives in ``folder``."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    archives = sorted(
        (p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if p.is_file()),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    doomed = archives[:-keep]
    for path in doomed:
        path.unlink()
    return doomed


# --- fingerprints ------------------------------------------------------------------------------


def fingerprints(conn: sa.Connection) -> dict[str, TableFingerprint]:
    """Row count and content checksum of every table, in the connection's snapshot.

    Text output is pinned (UTC, ISO dates, exact floats), so the same rows give the same
    checksum on any server.
    """
    conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
    conn.execute(sa.text("SET LOCAL datestyle = 'ISO, YMD'"))
    conn.execute(sa.text("SET LOCAL extra_float_digits = 1"))
    conn.execute(sa.text("SET LOCAL intervalstyle = 'postgres'"))
    tables = conn.execute(
        sa.text(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname <> ALL(:system) ORDER BY 1"
        ),
        {"system": list(SYSTEM_SCHEMAS)},
    ).scalars()
    found = {}
    for table in tables:
        rows, checksum = conn.execute(
            sa.text(
                f"SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
                f"FROM (SELECT md5(t::text) AS h FROM {table} t) s"
            )
        ).one()
        found[table] = TableFingerprint(rows, checksum)
    return found


# --- backup ------------------------------------------------------------------------------------


def backup(url: str, output: Path, *, pg_bin: Path | None = None) -> BackupResult:
    """Write one archive of the database at ``url`` and its raster files to ``output``."""
    output = output.absolute()
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    partial = output.with_name(output.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix=".backup-", dir=output.parent) as work:
            dump = Path(work) / DUMP
            snapshot_reader = engine.connect().execution_options(isolation_level="REPEATABLE READ")
            with snapshot_reader as conn, conn.begin():
                # one snapshot for the dump and the manifest: what the manifest counts is
                # exactly what the dump holds, even while the API keeps writing
                conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                _run(pg_tool("pg_dump", pg_bin), "--format=custom", f"--snapshot={snapshot}",
                     "--file", str(dump), "--dbname", _conninfo(url), url=url)  # fmt: skip
                tables = fingerprints(conn)
                revision = _revision(conn)
                rasters = conn.execute(
                    sa.text("SELECT name, path, sha256 FROM raster ORDER BY name")
                ).all()
            manifest = {
                "format": FORMAT,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "schema_revision": revision,
                "tables": {t: f.__dict__ for t, f in tables.items()},
                "rasters": [],
            }
            missing = []
            partial.touch(mode=0o600)  # personal data inside: readable by its owner only
            partial.chmod(0o600)
            with tarfile.open(partial, "w") as tar:
                tar.add(dump, arcname=DUMP)
                for name, path, sha256 in rasters:
                    entry = {"name": name, "path": path, "sha256": sha256}
                    if not Path(path).is_file():
                        missing.append(f"{name} ({path})")
                        entry["archived"] = None
                    else:
                        if _sha256(Path(path)) != sha256:
                            raise BackupError(
                                f"raster {name}: {path} does not match its registered SHA-256 "
                                "(the file changed since it was imported); re-import it"
                            )
                        entry["archived"] = f"{RASTERS}{name}{Path(path).suffix}"
                        tar.add(path, arcname=entry["archived"])
                    manifest["rasters"].append(entry)
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
            _fsync(partial)
            os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    return BackupResult(
        path=output,
        tables=len(tables),
        rows=sum(f.rows for f in tables.values()),
        rasters=[r[0] for r in rasters if f"{r[0]} ({r[1]})" not in missing],
        missing_rasters=missing,
        size=output.stat().st_size,
    )


# --- restore -----------------------------------------------------------------------------------


def read_manifest(archive: Path) -> dict:
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.loads(member.read()) if member else None
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise BackupError(f"{archive}: not a gongjian backup ({exc})") from None
    if not manifest or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: not a gongjian backup (no {FORMAT} manifest)")
    return manifest


def holds_data(url: str) -> list[str]:
    """Tables of ours already in the database (empty: a fresh database to restore into)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'spatial_ref_sys' ORDER BY 1"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def restore(
    url: str, archive: Path, *, raster_home: Path, clean: bool = False, pg_bin: Path | None = None
) -> RestoreResult:
    """Load ``archive`` into the (empty) database at ``url`` and put its rasters back.

    One transaction: a failure leaves the database as it was. With ``clean`` the archive's
    objects replace existing ones (``pg_restore --clean``). A raster goes back to its old
    path when that is free (or holds the same file); otherwise into ``raster_home`` and the
    ``raster`` row is pointed there.
    """
    manifest = read_manifest(archive)
    _ensure_api_role(url)
    with tempfile.TemporaryDirectory(prefix="gongjian-restore-") as work:
        dump = Path(work) / DUMP
        with tarfile.open(archive) as tar:
            _extract(tar, DUMP, dump)
            args = ["--exit-on-error", "--single-transaction", "--no-owner"]
            if clean:
                args += ["--clean", "--if-exists"]
            _run(pg_tool("pg_restore", pg_bin), *args, "--dbname", _conninfo(url), str(dump),
                 url=url)  # fmt: skip
            placed = [_place_raster(tar, r, raster_home, url) for r in manifest["rasters"]]
    mismatches = verify(url, manifest, moved={p[0] for p in placed if p[2]})
    tables = manifest["tables"]
    return RestoreResult(
        tables=len(tables),
        rows=sum(t["rows"] for t in tables.values()),
        rasters=[f"{name}: {path}" for name, path, _ in placed if path],
        mismatches=mismatches,
    )


def verify(url: str, manifest: dict, moved: set[str] = frozenset()) -> list[str]:
    """Tables whose row count or checksum differ from the manifest (empty: all equal).

    ``moved``: rasters whose path the restore changed (their row differs by that path only).
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            now = fingerprints(conn)
    finally:
        engine.dispose()
    problems = []
    for table, saved in manifest["tables"].items():
        found = now.get(table)
        if found is None:
            problems.append(f"{table}: missing")
        elif found.rows != saved["rows"]:
            problems.append(f"{table}: {found.rows} rows, the backup has {saved['rows']}")
        elif found.checksum != saved["checksum"] and not (table == "public.raster" and moved):
            problems.append(f"{table}: contents differ from the backup")
    return problems


def _place_raster(
    tar: tarfile.TarFile, entry: dict, raster_home: Path, url: str
) -> tuple[str, str | None, bool]:
    """Put one raster back; (name, its path now, whether the path changed)."""
    if not entry.get("archived"):
        return entry["name"], None, False
    original = Path(entry["path"])
    if original.is_file() and _sha256(original) == entry["sha256"]:
        return entry["name"], str(original), False
    target = original
    if original.exists() or not _writable_folder(original.parent):
        target = raster_home / f"{entry['name']}{original.suffix}"
    _extract(tar, entry["archived"], target)
    if _sha256(target) != entry["sha256"]:
        target.unlink()
        raise BackupError(f"raster {entry['name']}: the archived file is damaged (SHA-256)")
    if target != original:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE raster SET path = :p WHERE name = :n"),
                    {"p": str(target), "n": entry["name"]},
                )
        finally:
            engine.dispose()
    return entry["name"], str(target), target != original


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _extract(tar: tarfile.TarFile, member: str, target: Path) -> None:
    """One named member to ``target`` (written whole, then renamed: never half a file)."""
    source = tar.extractfile(member)
    if source is None:
        raise BackupError(f"the archive has no {member}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(partial, target)


def _ensure_api_role(url: str) -> None:
    """The API's role must exist before the dump's GRANTs to it can be restored."""
    with psycopg.connect(_conninfo(url), password=_password(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (API_ROLE,)).fetchone()
        if not exists:
            try:
                conn.execute(
                    f"CREATE ROLE {API_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOBYPASSRLS"
                )
            except psycopg.errors.InsufficientPrivilege:
                raise BackupError(
                    f"the database role {API_ROLE} is missing and this login cannot create it: "
                    f"ask the server's administrator to `CREATE ROLE {API_ROLE} NOLOGIN`"
                ) from None


# --- PostgreSQL client programs -------------------------------------------------------------


def pg_tool(name: str, pg_bin: Path | None = None) -> str:
    """``pg_dump``/``pg_restore`` of the newest PostgreSQL installed (they read older servers)."""
    if pg_bin is not None and (pg_bin / name).exists():
        return str(pg_bin / name)
    installed = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if installed:
        return str(installed[-1])
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install postgresql-client")
    return found


def _conninfo(url: str) -> str:
    """libpq connection string without the password (that goes in PGPASSWORD)."""
    parts = make_url(url)
    fields = {"host": parts.host, "port": parts.port, "user": parts.username,
              "dbname": parts.database}  # fmt: skip
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def _password(url: str) -> str | None:
    return make_url(url).password


def _run(tool: str, *args: str, url: str) -> None:
    """A PostgreSQL client program; the password travels in the environment, never argv."""
    env = {**os.environ}
    password = _password(url)
    if password:
        env["PGPASSWORD"] = password
    result = subprocess.run([tool, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{Path(tool).name} failed: {' '.join(message[-3:])}")


def _revision(conn: sa.Connection) -> str | None:
    try:
        with conn.begin_nested():
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.ProgrammingError:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, text: str) -> None:
    import io

    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())
