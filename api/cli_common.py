"""What every CLI command shares: consoles, failing with a message, a ready database."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys

import typer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.engine import Engine

from layers.cluster import ClusterError
from layers.settings import DatabaseSettings

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def ready_engine(settings: DatabaseSettings | None = None) -> Engine:
    """Database up (embedded unless DATABASE_URL), migrated, as an engine."""
    from layers.db import database_url, engine_for
    from layers.migrate import upgrade

    settings = settings or DatabaseSettings()
    try:
        url = database_url(settings)
        upgrade(url)
    except ClusterError as exc:
        fail(str(exc))
    return engine_for(url)


def actor() -> str:
    """Who is acting, for the audit log of CLI changes."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def show_progress() -> bool:
    """Progress bars on a terminal only; quiet under CI and in pipes."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def parse_date(value: str | None, option: str = "--as-of") -> dt.date | None:
    """A YYYY-MM-DD option as a date (None stays None); exit 2 with a clear message if not."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date like 2018-06-30, got {value!r}", 2)


class _QuietStatus:
    """Stands in for a rich status off a terminal (CI, pipes): says nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, *args, **kwargs) -> None:
        return None


def spinner(message: str):
    """A rich spinner with ``message`` on a terminal; a silent stand-in elsewhere."""
    return out.status(message) if show_progress() else _QuietStatus()


def counting_progress() -> Progress:
    """A bar counting finished units (counties), with elapsed time; quiet off a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        disable=not show_progress(),
    )
