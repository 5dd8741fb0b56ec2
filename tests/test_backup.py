"""Backups that restore: back up the demo database, lose the DEM file and the database,
restore into an empty home, and every table's row count and content checksum are equal.

The drill uses ``gongjian db backup`` / ``db restore`` as an administrator would (the CLI
against the session's database, then against a fresh embedded home of its own).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from layers import backup
from layers.cluster import EmbeddedCluster


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprints(url: str) -> dict[str, backup.TableFingerprint]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            return backup.fingerprints(conn)
    finally:
        engine.dispose()


def test_backup_destroy_restore_gives_back_every_row(
    database_url: str, engine: sa.Engine, demo_world: dict, tmp_path: Path, monkeypatch
) -> None:
    cli = CliRunner()
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("DATABASE_URL", database_url)
    folder = tmp_path / "backups"
    result = cli.invoke(app, ["db", "backup", "-o", str(folder / "gongjian-drill.tar")])
    assert result.exit_code == 0, result.output
    archive = folder / "gongjian-drill.tar"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # personal data inside
    before = fingerprints(database_url)
    assert before["public.household"].rows > 1000 and before["public.audit_log"].rows > 0
    with engine.connect() as conn:
        dem = Path(conn.execute(sa.text("SELECT path FROM raster LIMIT 1")).scalar_one())
    dem_sha = sha256(dem)
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "database.dump"} <= set(tar.getnames())
        assert any(n.startswith("rasters/") for n in tar.getnames())
    manifest = backup.read_manifest(archive)
    assert manifest["schema_revision"] and manifest["tables"]["public.household"]["rows"] > 0
    assert [p.name for p in folder.iterdir()] == ["gongjian-drill.tar"]  # no .partial left

    # the disaster: the DEM file is gone, and the restore goes into a home with nothing in it
    aside = tmp_path / "dem-aside"
    shutil.move(dem, aside)
    home = Path(tempfile.mkdtemp(prefix="gongjian-drill-"))
    home.chmod(0o755)  # the postgres user (when we are root) must reach home/db
    try:
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("GONGJIAN_HOME", str(home))
        restored = cli.invoke(app, ["db", "restore", str(archive)])
        assert restored.exit_code == 0, restored.output
        assert "checksum equal" in " ".join(restored.output.split())
        cluster = EmbeddedCluster(home / "db")
        after = fingerprints(cluster.url())
        assert after.keys() == before.keys()
        differing = [t for t in before if before[t] != after[t]]
        assert differing == [], differing
        assert dem.is_file() and sha256(dem) == dem_sha  # the raster is back where it was

        again = cli.invoke(app, ["db", "restore", str(archive)])
        assert again.exit_code == 2 and "already holds data" in " ".join(again.output.split())
    finally:
        if not dem.exists():
            shutil.move(aside, dem)
        EmbeddedCluster(home / "db").destroy()
        shutil.rmtree(home, ignore_errors=True)


def test_a_damaged_archive_is_refused_and_restores_nothing(tmp_path: Path) -> None:
    bogus = tmp_path / "gongjian-bogus.tar"
    with tarfile.open(bogus, "w") as tar:
        tar.add(__file__, arcname="database.dump")
    with pytest.raises(backup.BackupError, match="not a gongjian backup"):
        backup.read_manifest(bogus)
    (tmp_path / "gongjian-truncated.tar").write_bytes(b"\0" * 100)
    with pytest.raises(backup.BackupError, match="not a gongjian backup"):
        backup.read_manifest(tmp_path / "gongjian-truncated.tar")


def test_keep_n_removes_only_older_archives(tmp_path: Path) -> None:
    for i in range(5):
        path = tmp_path / f"gongjian-2026120{i}T000000Z.tar"
        path.write_text("x")
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    (tmp_path / "notes.tar").write_text("not ours")
    removed = backup.rotate(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == [f"gongjian-2026120{i}T000000Z.tar" for i in range(3)]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["gongjian-20261203T000000Z.tar", "gongjian-20261204T000000Z.tar", "notes.tar"]
