"""``gongjian import`` and ``gongjian export``: files in and out of the layers."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli_common import actor, fail, out, ready_engine


def register(app: typer.Typer) -> None:
    app.command("import")(import_layer)


def import_layer(
    kind: str = typer.Argument(..., help="boundaries (more kinds to come)"),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to load."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing."),
) -> None:
    """Load a file into a layer (all-or-nothing; re-running the same file changes nothing)."""
    from layers.importers import IMPORTERS, ImportError_

    if kind not in IMPORTERS:
        fail(f"unknown KIND {kind!r}; available: {', '.join(sorted(IMPORTERS))}", 2)
    engine = ready_engine()
    try:
        summary = IMPORTERS[kind](engine, path, actor=actor(), dry_run=dry_run)
    except ImportError_ as exc:
        fail(str(exc))
    out.print(summary.describe(), highlight=False)
