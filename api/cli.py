"""The ``gongjian`` command line (Typer)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from api import (
    cli_analysis,
    cli_backup,
    cli_county,
    cli_data,
    cli_maps,
    cli_relocation,
    cli_replicas,
    cli_reports,
    cli_routes,
    cli_scenario,
    cli_sectors,
    cli_siting,
    cli_users,
)
from api.cli_common import actor, fail, out, ready_engine
from api.settings import ApiSettings
from layers.cluster import ClusterError
from layers.settings import DatabaseSettings

app = typer.Typer(
    name="gongjian",
    help="攻坚图: township poverty-alleviation maps and monitoring on PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The database: embedded PostGIS cluster or DATABASE_URL.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
cli_backup.register(db_app)
cli_replicas.register(db_app)
cli_data.register(app)
cli_county.register(app)
cli_users.register(app)
cli_analysis.register(app)
cli_maps.register(app)
cli_reports.register(app)
cli_relocation.register(app)
cli_routes.register(app)
cli_siting.register(app)
cli_scenario.register(app)
cli_sectors.register(app)


@db_app.command("up")
def db_up() -> None:
    """Create (first time) and start the embedded cluster, then apply migrations."""
    settings = DatabaseSettings()
    engine = ready_engine(settings)
    where = "DATABASE_URL" if settings.database_url else f"embedded cluster in {settings.home}"
    out.print(f"database ready ({where}): {engine.url.render_as_string(hide_password=True)}")


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded cluster (nothing to do with DATABASE_URL)."""
    from layers.db import embedded_cluster

    settings = DatabaseSettings()
    if settings.database_url:
        out.print("DATABASE_URL is set: that server is not ours to stop")
        return
    try:
        stopped = embedded_cluster(settings).down()
    except ClusterError as exc:
        fail(str(exc))
    out.print("stopped" if stopped else "not running")


@db_app.command("url")
def db_url(
    show_password: bool = typer.Option(False, "--show-password", help="Print the password too."),
) -> None:
    """Print the connection URL (starts the embedded cluster if needed)."""
    from layers.db import database_url, engine_for

    try:
        url = database_url(DatabaseSettings())
    except ClusterError as exc:
        fail(str(exc))
    # plain print: a URL must never be wrapped at the terminal width (scripts pipe it to psql)
    print(engine_for(url).url.render_as_string(hide_password=not show_password))


@db_app.command("migrate")
def db_migrate(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from layers.db import database_url
    from layers.migrate import current_revision, upgrade

    try:
        url = database_url(DatabaseSettings())
    except ClusterError as exc:
        fail(str(exc))
    upgrade(url, revision)
    out.print(f"schema at revision {current_revision(url)}")


@db_app.command("status")
def db_status() -> None:
    """Server, PostGIS, GEOS, PROJ and pgRouting versions and the schema revision."""
    from layers.db import database_url, embedded_cluster, engine_for, server_versions
    from layers.migrate import current_revision

    settings = DatabaseSettings()
    if settings.uses_embedded_cluster and embedded_cluster(settings).running_port() is None:
        out.print(f"embedded cluster in {settings.home}: not running (`gongjian db up` starts it)")
        raise typer.Exit(3)
    url = database_url(settings, start=False)
    versions = server_versions(engine_for(url))
    rows = {
        "server": "DATABASE_URL" if settings.database_url else f"embedded ({settings.home})",
        "url": engine_for(url).url.render_as_string(hide_password=True),
        "PostgreSQL": versions.postgresql,
        "PostGIS": versions.postgis or "not installed",
        "GEOS": versions.geos or "-",
        "PROJ": versions.proj or "-",
        "pgRouting": versions.pgrouting or "not installed",
        "schema revision": current_revision(url) or "none (run `gongjian db migrate`)",
    }
    for key, value in rows.items():
        out.print(f"{key:>16}: {value}", highlight=False)


@app.command("demo")
def demo(
    serve_after: bool = typer.Option(False, "--serve", help="Serve the API when loaded."),
    seed: int = typer.Option(
        None, help="Seed (same seed, same data); 2016 for Lianzhou and -o, 2 for --load."
    ),
    force: bool = typer.Option(False, "--force", help="Rebuild and reload even if current."),
    scale: str = typer.Option(
        "lianzhou",
        help="lianzhou: load the demo; province: --load every county's world, or write "
        "~708,000 households to -o.",
    ),
    load: bool = typer.Option(False, "--load", help="--scale province: build and load it."),
    counties: str = typer.Option(None, help="--load only these counties (CODE,CODE)."),
    jobs: int = typer.Option(None, help="--load: worker processes (default: the cores)."),
    output: Path = typer.Option(None, "-o", "--output", help="GeoPackage for --scale province."),
    maps: bool = typer.Option(True, "--maps/--no-maps", help="Render the 12 wall maps (A1)."),
    out_dir: Path = typer.Option(Path("out"), "--out", help="Where the wall maps go."),
    host: str = typer.Option(None, help="Address to listen on when serving."),
    port: int = typer.Option(None, help="Port when serving."),
) -> None:
    """Load the Lianzhou demo (boundaries, then the synthetic world); optionally serve.

    With --scale province --load, build every county's synthetic world (seed 2) in
    parallel and load it instead; with --scale province -o FILE.gpkg, write the
    province-scale synthetic households (for benchmarks) without touching the database.
    """
    import time

    if scale == "province" and load:
        from api.cli_province import load_province

        load_province(2 if seed is None else seed, counties, jobs)
        return
    seed = 2016 if seed is None else seed
    if scale == "province":
        _write_province(output, seed)
        return
    if scale != "lianzhou":
        fail(f"unknown --scale {scale!r}: use lianzhou or province", 2)

    from geo.paths import GUANGDONG_COUNTIES
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries

    settings = DatabaseSettings()
    engine = ready_engine(settings)
    started = time.monotonic()
    out.print(import_boundaries(engine, GUANGDONG_COUNTIES, actor=actor()).describe())
    with out.status("building and loading the synthetic Lianzhou world (示例数据（合成）)…"):
        loaded, counts = ensure_demo(engine, settings.home, seed=seed, force=force)
    if loaded:
        summary = ", ".join(f"{table} {n:,}" for table, n in counts.items())
        out.print(f"demo world loaded in {time.monotonic() - started:.1f} s: {summary}")
    else:
        out.print(f"demo world (seed {seed}) already loaded and current; --force reloads it")
    if maps:
        _render_demo_maps(engine, out_dir)
    if serve_after:
        _serve_demo(engine, host, port)
    else:
        out.print("next: `gongjian serve`, then open http://127.0.0.1:8000/docs")


def _serve_demo(engine, host: str | None, port: int | None) -> None:
    """Serve with a login link for an admin of the demo county, revoked when serving stops
    (like Jupyter's: the page opens logged in, nobody needs to make a user first)."""
    from layers.access import AccessError, close_demo_logins, open_demo_login
    from layers.demo import LIANZHOU

    settings = ApiSettings()
    try:
        _, token = open_demo_login(engine, LIANZHOU)
    except AccessError as exc:
        out.print(str(exc), highlight=False)
        serve(host=host, port=port, workers=1)
        return
    where = f"http://{host or settings.host}:{port or settings.port}/"
    out.print(
        f"open the demo, logged in as an admin of 连州市 (this link works while this server "
        f"runs):\n    {where}#token={token}",
        highlight=False,
        soft_wrap=True,
    )
    out.print("real users: `gongjian user add NAME --role ROLE --scope CODE` (see the README)")
    try:
        serve(host=host, port=port, workers=1)
    finally:
        close_demo_logins(engine)


def _render_demo_maps(engine, out_dir: Path) -> None:
    """Every demo township's 攻坚图 at A1 (PDF + PNG preview) into ``out_dir``."""
    import time

    from maps.wallmap import render_demo_maps

    started = time.monotonic()
    with out.status("rendering the demo townships' 攻坚图 (A1)…") as status:
        files = render_demo_maps(engine, out_dir, paper="A1", progress=status.update)
    pdfs = [f for f in files if f.suffix == ".pdf"]
    out.print(f"{len(pdfs)} wall maps in {out_dir}/ ({time.monotonic() - started:.0f} s)")


def _write_province(output: Path | None, seed: int) -> None:
    import time

    from geo.demo.province import write_province_gpkg

    if output is None:
        fail("--scale province needs -o FILE.gpkg", 2)
    started = time.monotonic()
    with out.status(f"generating province-scale synthetic households into {output}…"):
        households, villages = write_province_gpkg(output, seed)
    out.print(
        f"wrote {households:,} households in {villages:,} villages (2,277 of them poor "
        f"villages, seed 002) to {output} "
        f"in {time.monotonic() - started:.1f} s (示例数据（合成）)"
    )


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 8000)."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (sharing one tile cache on disk)."
    ),
) -> None:
    """Serve the map API and web map."""
    import os

    import uvicorn

    from api.app import create_app
    from layers.tiles import SharedTileCache

    settings = ApiSettings()
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    engine = ready_engine()  # database up and migrated once, before any worker starts
    out.print(
        f"serving on http://{settings.host}:{settings.port}/ with {workers} worker"
        f"{'s' if workers > 1 else ''}  (Ctrl-C stops)"
    )
    if workers == 1:
        uvicorn.run(create_app(engine, settings), host=settings.host, port=settings.port)
        return
    cache_dir = settings.tile_cache_dir or DatabaseSettings().home / "tile-cache"
    # tiles of another database state (e.g. before a restore) must not come back: start empty
    SharedTileCache(cache_dir, settings.tile_cache_mb * 1024 * 1024).clear()
    os.environ["GONGJIAN_TILE_CACHE_DIR"] = str(cache_dir)  # the workers' settings
    uvicorn.run(
        "api.app:app_from_environment", factory=True, host=settings.host, port=settings.port,
        workers=workers, log_level="warning",
    )  # fmt: skip


def main() -> None:  # pragma: no cover - console entry when run as a module
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
