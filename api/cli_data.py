"""``gongjian import`` and ``gongjian export``: files in and out of the layers."""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.table import Table

from api.cli_common import actor, err, fail, out, parse_date, ready_engine, show_progress

IMPORT_KINDS = (
    "boundaries, townships, villages, hamlets, households, cadres, help-records, "
    "roads, clinics, water, schools, hazards, dem"
)


def register(app: typer.Typer) -> None:
    app.command("import")(import_layer)
    app.command("export")(export_layer)


def import_layer(
    kind: str = typer.Argument(..., help=IMPORT_KINDS),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to load."),
    crs: str = typer.Option(None, help="wgs84|cgcs2000|gcj02|bd09|EPSG:n when the file says none."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and count; write nothing."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Load the valid rows; bad ones go to FILE.rejects.EXT."
    ),
    existing: str = typer.Option("update", help="Rows already stored: update them or error."),
    mapping: Path = typer.Option(None, exists=True, help="JSON/TOML file: header = field."),
    layer: str = typer.Option(None, help="Layer of a GeoPackage, sheet of a workbook."),
    income_year: int = typer.Option(
        None, "--income-year", help="The year of an undated income column (人均纯收入)."
    ),
    effective_date: str = typer.Option(
        None,
        "--effective-date",
        help="YYYY-MM-DD the file's changes took effect (rows with 生效日期 keep theirs).",
    ),
    per_county: bool = typer.Option(
        False,
        "--per-county",
        help="Load county by county (households, hamlets): sound counties load, "
        "broken ones are named and their rows written to a rejects directory; exit 1 if any.",
    ),
    rejects: Path = typer.Option(
        None,
        "--rejects",
        file_okay=False,
        help="With --per-county: the directory for the broken counties' rows "
        "(default FILE.rejects/ next to the file).",
    ),
) -> None:
    """Load a file into a layer: all-or-nothing, and re-running the same file changes nothing."""
    from layers.imports import KINDS, ImportError_, ImportOptions, import_file
    from layers.imports.base import StageTimes

    if kind not in KINDS:
        fail(f"unknown KIND {kind!r}; available: {', '.join(KINDS)}", 2)
    if existing not in ("update", "error"):
        fail("--existing must be update or error", 2)
    if rejects is not None and not per_county:
        fail("--rejects goes with --per-county (--skip-invalid writes FILE.rejects.EXT)", 2)
    engine = ready_engine()
    with _progress() as progress:
        if os.environ.get("GONGJIAN_IMPORT_TIMES"):  # the benchmark's per-stage timings
            progress = StageTimes(progress)
        options = ImportOptions(
            actor=actor(),
            crs=crs,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            existing=existing,
            mapping=_read_mapping(mapping),
            layer=layer,
            income_year=_income_year(income_year),
            effective_date=parse_date(effective_date, "--effective-date"),
            progress=progress,
        )
        if per_county:
            from api.cli_per_county import import_per_county

            import_per_county(engine, kind, path, options, rejects)
            return
        try:
            summary = import_file(engine, kind, path, options)
        except ImportError_ as exc:
            progress.stop()
            fail(str(exc))
    if isinstance(progress, StageTimes):
        err.print(f"stage times: {progress.describe()}", highlight=False, soft_wrap=True)
    _print_summary(summary)


def _income_year(year: int | None) -> int | None:
    from geo.validate import YEARS

    if year is not None and not YEARS[0] <= year <= YEARS[1]:
        fail(f"--income-year {year}: expected a year {YEARS[0]}–{YEARS[1]}", 2)
    return year


def _read_mapping(path: Path | None) -> dict[str, str] | None:
    """A mapping file: {"户 号": "household_no", …} as JSON, or TOML key = value lines."""
    if path is None:
        return None
    text = path.read_text(encoding="utf-8-sig")
    try:
        mapping = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"{path.name}: not a mapping file: {exc}", 2)
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        fail(f"{path.name}: expected header = field pairs", 2)
    return mapping


def _print_summary(summary) -> None:
    for note in summary.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    table = Table(title=summary.describe(), title_justify="left")
    for column in ("table", "read", "inserted", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column == "table" else "right")
    table.add_row(
        summary.layer,
        str(summary.read),
        str(summary.inserted),
        str(summary.updated),
        str(summary.unchanged),
        str(summary.rejected),
    )
    for name, (inserted, updated, _) in summary.extra.items():
        table.add_row(name, "", str(inserted), str(updated), "", "")
    out.print(table)


class _Bar:
    """The import's Progress protocol drawn with rich (stages with row counts)."""

    def __init__(self, progress) -> None:
        self._progress = progress
        self._task = None

    def stage(self, name: str, total: int | None = None) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total or 1)
        self._task = self._progress.add_task(name, total=total or 1)
        if total is None:
            self._progress.update(self._task, completed=1)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def stop(self) -> None:
        self._progress.stop()


class _Quiet:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def _progress() -> Iterator[_Bar | _Quiet]:
    if not show_progress():
        yield _Quiet()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (
        *Progress.get_default_columns()[:2],
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        yield _Bar(progress)


def export_layer(
    layer: str = typer.Argument(
        ...,
        help="counties, townships, villages, hamlets, households, "
        "cadres, help-records, roads, clinics, water, schools, hazards",
    ),
    format: str = typer.Option(..., "--format", "-f", help="gpkg|geojson|csv|xlsx|shp|fgb"),
    township: str = typer.Option(None, help="Only this township (9-digit code)."),
    public: bool = typer.Option(False, "--public", help="Mask names, IDs, phones; drop incomes."),
    output: Path = typer.Option(None, "-o", "--output", help="File to write (default ./out/)."),
    as_of: str = typer.Option(
        None, "--as-of", help="Households as the archive had them on this date (YYYY-MM-DD)."
    ),
) -> None:
    """Write a layer to a file (Chinese headers in XLSX; --public for anything shown outside)."""
    from layers.exports import EXPORT_LAYERS, FORMATS, ExportError, export

    if layer not in EXPORT_LAYERS:
        fail(f"unknown LAYER {layer!r}; available: {', '.join(EXPORT_LAYERS)}", 2)
    if format not in FORMATS:
        fail(f"unknown format {format!r}; available: {', '.join(FORMATS)}", 2)
    day = parse_date(as_of)
    suffix = FORMATS[format]
    target = (
        output
        or Path("out")
        / f"{layer}{'-' + township if township else ''}{'-public' if public else ''}{suffix}"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    engine = ready_engine()
    try:
        count = export(engine, layer, target, format, township=township, public=public, as_of=day)
    except ExportError as exc:
        fail(str(exc))
    masked = " (public: masked)" if public else ""
    out.print(f"wrote {count} {layer} to {target}{masked}", highlight=False)
