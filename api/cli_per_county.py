"""``gongjian import KIND FILE --per-county``: the county-by-county load and its report.

The file is read and checked once (the import's own stage bar), then a bar counts the
counties as each loads in its own transaction; the table lists every county with its rows,
what was written and, for a broken one, its first errors and rejects file. Exit code 1 when
any county failed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from api.cli_common import counting_progress, err, fail, out

FIRST_ERRORS = 3  # rows a failed county's cell names
DETAILED_ERRORS = 10  # problems printed in full under the table per failed county


def import_per_county(engine: Engine, kind: str, path: Path, options, rejects: Path | None) -> None:
    """Split ``path`` by county, load each, print the table (exit 1 if a county failed)."""
    from layers.imports import KINDS, ImportError_
    from layers.imports.kinds import KINDS as TABLE_KINDS
    from layers.imports.per_county import load_counties, split_by_county

    progress = options.progress
    if kind not in TABLE_KINDS:
        progress.stop()
        fail(f"--per-county: {kind} is not split by county; one of {', '.join(KINDS)}", 2)
    try:
        split = split_by_county(engine, TABLE_KINDS[kind], path, options, rejects)
    except ImportError_ as exc:
        progress.stop()
        fail(str(exc))
    progress.stop()
    for note in split.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    results = []
    with counting_progress() as bar:
        task = bar.add_task("counties", total=len(split.groups))
        for result in load_counties(engine, split):
            bar.update(task, description=f"{result.code or 'unknown'} {result.name or ''}")
            bar.advance(task)
            results.append(result)
    _print_notes(results)
    out.print(_table(path, results, options.dry_run))
    failed = [r for r in results if r.failed]
    for result in failed:
        _print_errors(result)
    if failed:
        names = ", ".join(f"{r.code or 'unknown county'}" for r in failed)
        err.print(
            f"[bold red]error:[/] {len(failed)} of {len(results)} counties not loaded ({names}); "
            f"their rows and errors are in {split.rejects_dir}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _table(path: Path, results: list, dry_run: bool) -> Table:
    verb = "would load" if dry_run else "loaded"
    good = sum(not r.failed for r in results)
    title = f"{path.name} county by county: {verb} {good} of {len(results)} counties"
    table = Table(title=title, title_justify="left")
    for column in ("county", "name", "rows", "inserted", "updated", "status", "first errors"):
        justify = "right" if column in ("rows", "inserted", "updated") else "left"
        table.add_column(column, justify=justify, overflow="fold")
    for r in results:
        style = "red" if r.failed else None
        errors = _in_short(r)
        table.add_row(
            r.code or "?",
            r.name or ("(county unknown)" if r.code is None else ""),
            str(r.rows),
            str(r.inserted),
            str(r.updated),
            r.status + (f", {r.rejected} rejected" if r.rejected else ""),
            "\n".join(errors),
            style=style,
        )
    table.add_row(
        "total",
        "",
        str(sum(r.rows for r in results)),
        str(sum(r.inserted for r in results)),
        str(sum(r.updated for r in results)),
        "",
        "",
        end_section=True,
    )
    return table


def _in_short(result) -> list[str]:
    """The table's cell: where the first problems are (in full, with the rejects file, under
    the table)."""
    places = [f"row {e['row']} {e['field']}" for e in result.errors[:FIRST_ERRORS]]
    if not places and result.message:
        places = [textwrap.shorten(result.message.splitlines()[0], 60, placeholder=" …")]
    more = len(result.errors) - FIRST_ERRORS
    if more > 0:
        places.append(f"+{more} more")
    return places


def _print_notes(results: list) -> None:
    """Each county's warnings, one line per distinct warning naming its counties."""
    counties: dict[str, list[str]] = {}
    for r in results:
        for note in r.notes:
            counties.setdefault(note, []).append(r.code or "unknown")
    for note, codes in counties.items():
        where = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
        err.print(f"[yellow]note:[/] {where}: {note}", highlight=False)


def _print_errors(result, limit: int = DETAILED_ERRORS) -> None:
    """A failed county's first problems in full, as a plain import names them."""
    name = f"{result.code} {result.name or ''}".strip() if result.code else "unknown county"
    where = f", the rows and reasons in {result.rejects_path}" if result.rejects_path else ""
    err.print(f"[bold red]{name}[/] ({result.status}{where}):", highlight=False, soft_wrap=True)
    for line in result.first_errors(limit):
        err.print(f"  {line}", highlight=False, soft_wrap=True)
