"""``gongjian db replica add|list|remove``: hot standbys of the embedded cluster for reads."""

from __future__ import annotations

import typer
from rich.table import Table

from api.cli_common import fail, out, show_progress
from layers.cluster import ClusterError
from layers.settings import DatabaseSettings

replica_app = typer.Typer(
    help="Read replicas (hot standbys) of the embedded cluster, for GONGJIAN_READ_URLS.",
    no_args_is_help=True,
)


def register(db_app: typer.Typer) -> None:
    db_app.add_typer(replica_app, name="replica")


def _replicas():
    from layers.db import embedded_cluster
    from layers.standby import Replicas

    settings = DatabaseSettings()
    if settings.database_url:
        fail("DATABASE_URL is set: replicas are made of the embedded cluster only")
    return Replicas(embedded_cluster(settings))


@replica_app.command("add")
def add(
    name: str = typer.Option("r1", "--name", help="Replica name (letters, digits, _)."),
    port: int = typer.Option(None, "--port", help="Loopback port (default: the next free one)."),
) -> None:
    """Copy the primary (pg_basebackup) into a streaming hot standby and start it."""
    replicas = _replicas()
    say = out.print if show_progress() else (lambda _msg: None)
    try:
        url = replicas.add(name, port, progress=say)
    except ClusterError as exc:
        fail(str(exc))
    out.print(f"replica {name} streaming on port {replicas.port(name)}; for the API set")
    # plain print: the URL must never be wrapped (scripts take it from the last line)
    print(f"GONGJIAN_READ_URLS={url}")


@replica_app.command("list")
def list_replicas() -> None:
    """Name, port, state and replay lag of every replica."""
    replicas = _replicas()
    rows = replicas.status()
    if not rows:
        out.print("no replicas (`gongjian db replica add`)")
        return
    table = Table("name", "port", "state", "lag (bytes)", "lag (s)")
    for row in rows:
        table.add_row(
            row.name,
            str(row.port),
            row.state,
            "" if row.lag_bytes is None else str(row.lag_bytes),
            "" if row.lag_s is None else f"{row.lag_s:.2f}",
        )
    out.print(table)


@replica_app.command("remove")
def remove(name: str = typer.Argument(..., help="Replica to stop and delete.")) -> None:
    """Stop a replica, delete its files and drop its replication slot on the primary."""
    try:
        _replicas().remove(name)
    except ClusterError as exc:
        fail(str(exc))
    out.print(f"replica {name} removed")


@replica_app.command("start")
def start(name: str = typer.Argument(..., help="Replica to start (after a reboot).")) -> None:
    """Start a stopped replica; it catches up from its slot."""
    replicas = _replicas()
    if name not in replicas.names():
        fail(f"no replica named {name}")
    try:
        replicas.start(name)
    except ClusterError as exc:
        fail(str(exc))
    out.print(f"replica {name} running on port {replicas.port(name)}")
