"""``gongjian db backup`` and ``gongjian db restore``: one archive, database and rasters."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli_common import fail, out, spinner
from layers.cluster import ClusterError
from layers.settings import DatabaseSettings


def register(db_app: typer.Typer) -> None:
    db_app.command("backup")(backup)
    db_app.command("restore")(restore)


def backup(
    output: Path = typer.Option(
        None, "-o", "--output", help="Archive to write (default: HOME/backups/gongjian-TIME.tar)."
    ),
    keep: int = typer.Option(
        None, "--keep", min=1, help="Then keep only the N newest gongjian-*.tar in that folder."
    ),
) -> None:
    """Back up the database (pg_dump, custom format) and its raster files into one archive."""
    from layers import backup as backups
    from layers.db import database_url

    settings = DatabaseSettings()
    try:
        url = database_url(settings)
        target = output or backups.default_archive(settings.home / "backups")
        with spinner(f"backing up into {target}…"):
            result = backups.backup(url, target, pg_bin=settings.pg_bin)
        removed = backups.rotate(result.path.parent, keep) if keep else []
    except (backups.BackupError, ClusterError, OSError) as exc:
        fail(str(exc))
    out.print(
        f"wrote {result.path} ({result.size / 1e6:.1f} MB): {result.tables} tables, "
        f"{result.rows:,} rows, rasters: {', '.join(result.rasters) or 'none'}",
        highlight=False,
    )
    for missing in result.missing_rasters:
        out.print(f"[yellow]warning:[/] raster {missing} is missing on disk: not in the backup")
    for path in removed:
        out.print(f"removed old backup {path}", highlight=False)


def restore(
    archive: Path = typer.Argument(..., exists=True, dir_okay=False, help="A backup archive."),
    force: bool = typer.Option(
        False, "--force", help="Replace the data already in this home's database."
    ),
) -> None:
    """Restore a backup into an empty home (or over its data with --force), then verify it."""
    from layers import backup as backups
    from layers.cluster import DATABASE
    from layers.db import database_url, embedded_cluster
    from layers.migrate import current_revision, upgrade

    settings = DatabaseSettings()
    try:
        manifest = backups.read_manifest(archive)
        url = database_url(settings)
        present = backups.holds_data(url)
        clean = False
        if present and not force:
            fail(
                f"this database already holds data ({len(present)} tables, e.g. "
                f"{', '.join(present[:3])}): restore into an empty home (another "
                "GONGJIAN_HOME) or pass --force to replace it",
                2,
            )
        if present and settings.uses_embedded_cluster:
            cluster = embedded_cluster(settings)
            cluster.drop_database(DATABASE)
            url = cluster.create_database(DATABASE)
        elif present:
            clean = True  # DATABASE_URL: the archive's objects replace the existing ones
        with spinner(f"restoring {archive} (backup of {manifest['created_at']})…"):
            result = backups.restore(
                url, archive, raster_home=settings.home / "rasters", clean=clean,
                pg_bin=settings.pg_bin,
            )  # fmt: skip
        upgrade(url)  # a backup from an older version comes up to this version's schema
    except (backups.BackupError, ClusterError, OSError) as exc:
        fail(str(exc))
    for line in result.rasters:
        out.print(f"raster {line}", highlight=False)
    if result.mismatches:
        fail("restored, but not equal to the backup: " + "; ".join(result.mismatches))
    out.print(
        f"restored {result.tables} tables, {result.rows:,} rows; every table's row count and "
        f"checksum equal the backup's; schema at {current_revision(url)}",
        highlight=False,
    )
