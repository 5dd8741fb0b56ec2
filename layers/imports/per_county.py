"""``gongjian import households FILE --per-county``: a province list loaded county by county.

A province office's list gathers the blocks of many county offices; when one block is broken
the office wants every sound county loaded and the broken one named, with its errors, to send
it back. So the file is read and checked in Python once (:func:`core.check_file`), its rows are
grouped by county — the first 6 digits of the row's village code, looked up in the database
for rows that give a village name or only a point — and each county's rows then go through the
normal pipeline (:func:`core.write_checked`: the same database checks, audit and archive) in
a transaction of their own: a county loads whole or not at all. Rows whose county cannot be
told form their own group, reported and never written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.imports import places
from layers.imports.base import ImportError_, ImportOptions, NoProgress, OutOfScope, RowErrors
from layers.imports.core import (
    STAGING,
    CheckedFile,
    Kind,
    bulk_tables,
    check_file,
    staging_types,
    write_checked,
)
from layers.imports.files import Source, rejects_path, write_rejects
from layers.imports.write import ROW_COLUMN, copy_staging, create_staging

PER_COUNTY_KINDS = ("households", "hamlets")  # rows placed in a village (code, name or point)
UNKNOWN = None  # the group code of rows whose county cannot be told
FIRST_ERRORS = 3  # problems a county's line shows (all of them are in its rejects file)


@dataclass
class CountyGroup:
    """The rows of one county (positions in the checked file)."""

    code: str | None  # None: the county could not be told
    name: str | None
    positions: np.ndarray
    problems: RowErrors | None = None  # why the county could not be told (UNKNOWN only)

    @property
    def label(self) -> str:
        return self.code or "unknown county"


@dataclass
class CountyResult:
    """What happened to one county's rows."""

    code: str | None
    name: str | None
    rows: int
    status: str = "not tried"  # loaded | would load | failed | refused | not tried
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # with --skip-invalid: rows left out of a loaded county
    errors: list[dict] = field(default_factory=list)  # {file, row, field, message}
    message: str = ""  # the failure in one line
    rejects_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, tuple[int, int, int | None]] = field(default_factory=dict)
    fault: bool = False  # the database failed (not the county's rows): stop there

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "refused", "not tried")

    def first_errors(self, limit: int = FIRST_ERRORS) -> list[str]:
        """The first problems as 'row N, field 'F': message' (or the failure's first line)."""
        lines = [f"row {e['row']}, field '{e['field']}': {e['message']}" for e in self.errors]
        if not lines and self.message:
            lines = [self.message.splitlines()[0]]
        more = len(self.errors) - limit
        return lines[:limit] + ([f"... and {more} more"] if more > 0 else [])


@dataclass
class CountySplit:
    """A file read and checked once, its rows grouped by county (counties in code order,
    the unknown county last)."""

    checked: CheckedFile
    groups: list[CountyGroup]
    rejects_dir: Path

    @property
    def notes(self) -> list[str]:
        return self.checked.source.notes + self.checked.ctx.notes


def import_per_county(
    engine: Engine, kind: Kind, path: Path, options: ImportOptions, rejects: Path | None = None
) -> list[CountyResult]:
    """Read, check and split ``path`` once, then load county by county (see the module doc)."""
    split = split_by_county(engine, kind, path, options, rejects)
    return list(load_counties(engine, split))


def split_by_county(
    engine: Engine, kind: Kind, path: Path, options: ImportOptions, rejects: Path | None = None
) -> CountySplit:
    """Read and check ``path`` (a file-level problem refuses it whole) and group its rows.

    ``rejects``: the directory for the broken counties' rejects files; by default
    ``FILE.rejects/`` next to the file.
    """
    if kind.name not in PER_COUNTY_KINDS:
        raise ImportError_(
            f"--per-county splits rows by the county of their village: "
            f"{', '.join(PER_COUNTY_KINDS)} only; import {kind.name} as one file"
        )
    path = Path(path)
    checked = check_file(kind, path, options)
    options.progress.stage("finding each row's county")
    counties, unlocated = _county_of_rows(engine, checked)
    folder = rejects or path.with_name(f"{path.stem}.rejects")
    return CountySplit(checked, _groups(engine, checked, counties, unlocated), folder)


def load_counties(engine: Engine, split: CountySplit) -> Iterator[CountyResult]:
    """Each county in its own transaction; after a database fault the rest are not tried."""
    _clear_old_rejects(split)
    statistics = _Statistics(engine, split.checked.ctx)
    writer = without_jit(engine)
    fault: CountyResult | None = None
    try:
        for group in split.groups:
            if fault is not None:
                rows = len(group.positions)
                yield CountyResult(group.code, group.name, rows, message=fault.message)
                continue
            result = load_county(writer, split, group)
            if result.fault:
                fault = result
            elif result.status == "loaded":  # a dry run's counts were rolled back
                statistics.grew(result.inserted)
            yield result
    finally:
        writer.dispose()


def without_jit(engine: Engine) -> Engine:
    """An engine on the same database whose sessions never JIT-compile.

    A county's statements touch a few hundred rows, but the planner prices the spatial checks
    (ST_Covers, geography distances) above jit_above_cost: compiling took 240 ms a
    statement where running it took 0.6 ms (the same 60,000 households: 34 s of county writes
    with JIT, 17 s without). A whole-file import pays that once; here every county would.
    """
    return sa.create_engine(engine.url, pool_pre_ping=True, connect_args={"options": "-c jit=off"})


class _Statistics:
    """Fresh planner statistics while county after county fills the tables.

    A plain import of a big file analyses what it grew before its later statements
    (core.analyse_grown_tables); here each county is a transaction of its own, and the next
    county's checks and writes would be planned for the tables as they were before the first
    (empty, say: every join a scan). Measured on 60,000 households in 121 counties, into an
    empty table: 102 s of county writes with the empty table's statistics, 34 s with them
    refreshed. So the tables are analysed whenever they have grown by as many rows as they
    had at the last analysis: a handful of times for a province.
    """

    FLOOR = 5000  # new rows before the first analysis

    def __init__(self, engine: Engine, ctx) -> None:
        self.engine = engine
        self.tables = list(bulk_tables(ctx.kind))
        if ctx.members is not None:
            self.tables.append("household_member")
        with engine.connect() as conn:
            self.rows = conn.execute(
                sa.text(
                    "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
                    "WHERE oid = to_regclass(:t)"
                ),
                {"t": ctx.kind.table},
            ).scalar_one()
        self.new = 0

    def grew(self, inserted: int) -> None:
        self.new += inserted
        if self.new < max(self.FLOOR, self.rows):
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"ANALYZE {', '.join(self.tables)}"))
        self.rows, self.new = self.rows + self.new, 0


def load_county(engine: Engine, split: CountySplit, group: CountyGroup) -> CountyResult:
    """Write one county's rows through the normal pipeline, all or nothing."""
    checked = _subset(split.checked, group.positions)
    result = CountyResult(group.code, group.name, len(group.positions))
    target = split.rejects_dir / _rejects_name(checked.source, group)
    if group.code is UNKNOWN:
        for position, column, message in group.problems.problems:
            where = int(np.searchsorted(group.positions, position))
            checked.ctx.errors.add(where, column, message)
        return _failed(result, checked, ImportError_("the county of these rows is unknown"), target)
    if checked.ctx.options.skip_invalid:  # a loaded county's rejected rows go there too
        split.rejects_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = write_checked(engine, checked, target)
    except ImportError_ as exc:
        result = _failed(result, checked, exc, target)
        result.fault = _is_fault(exc)
        return result
    result.status = "would load" if summary.dry_run else "loaded"
    result.inserted, result.updated = summary.inserted, summary.updated
    result.unchanged, result.rejected = summary.unchanged, summary.rejected
    result.errors, result.rejects_path = summary.errors, summary.rejects_path
    result.notes, result.extra = summary.notes, summary.extra
    return result


# --- the county of each row ---------------------------------------------------------------


def _county_of_rows(engine: Engine, checked: CheckedFile) -> tuple[pd.Series, RowErrors]:
    """The county code of each row: its village code's first 6 digits; for rows giving a
    village name or only a point, the village the database finds for them (None: none).
    Also the problems of the rows the database could not place."""
    codes = checked.frame["village_code"].astype(object)
    missing = np.flatnonzero(codes.isna().to_numpy())
    unlocated = RowErrors(checked.source.path, rows=checked.source.row)
    if len(missing):
        found, unlocated = _locate_villages(engine, checked, missing)
        codes = codes.copy()
        codes.iloc[missing] = found
    return codes.map(lambda c: c[:6] if isinstance(c, str) else None), unlocated


def _locate_villages(
    engine: Engine, checked: CheckedFile, positions: np.ndarray
) -> tuple[list, RowErrors]:
    """Village codes for the rows at ``positions`` as the import itself resolves them (by
    name within the township, or by the village polygon around the point); read only."""
    ctx, frame = checked.ctx, checked.frame
    probe = replace(ctx, errors=RowErrors(ctx.source.path, rows=ctx.source.row), notes=[])
    columns = [c for c in ("village_code", "village_ref", "township_ref", "geom") if c in frame]
    rows = frame.iloc[positions][columns].assign(**{ROW_COLUMN: positions})
    points = frozenset({"geom"}) if "geom" in columns else frozenset()
    types = staging_types(ctx.kind.table, columns, ctx.kind.extra_staging)
    with engine.connect() as conn, conn.begin() as transaction:
        create_staging(conn, STAGING, types, points)
        copy_staging(conn, STAGING, rows, NoProgress(), points)
        places.resolve_villages(conn, probe)
        found = dict(
            conn.execute(sa.text(f'SELECT "{ROW_COLUMN}", village_code FROM "{STAGING}"')).all()
        )
        transaction.rollback()
    return [found.get(int(p)) for p in positions], probe.errors


def _groups(
    engine: Engine, checked: CheckedFile, counties: pd.Series, unlocated: RowErrors
) -> list[CountyGroup]:
    known = sorted({c for c in counties if c is not None})
    with engine.connect() as conn:
        names = dict(
            conn.execute(
                sa.text("SELECT code, name FROM county WHERE code = ANY(:codes)"), {"codes": known}
            ).all()
        )
    rows_of = counties.groupby(counties, sort=True).indices  # one pass over the file's rows
    groups = [CountyGroup(code, names.get(code), rows_of[code]) for code in known]
    unknown = np.flatnonzero(pd.isna(counties).to_numpy())
    if len(unknown):
        why = _why_unknown(checked, unknown, unlocated)
        groups.append(CountyGroup(UNKNOWN, None, unknown, why))
    return groups


def _why_unknown(checked: CheckedFile, positions: np.ndarray, located: RowErrors) -> RowErrors:
    """Each row of the unknown county with a reason: the lookup's, else that it names no
    village (its own Python problems are added when the group is reported)."""
    why = RowErrors(checked.source.path, rows=checked.source.row)
    said, group = set(), set(positions.tolist())
    for position, column, message in located.problems:
        if position in group:
            why.add(position, column, message)
            said.add(position)
    label = checked.ctx.label("village") if checked.ctx.has("village") else "village"
    for position in positions.tolist():
        if position not in said and position not in checked.ctx.errors.bad_positions:
            why.add(position, label, "no village given: the row's county cannot be told")
    return why


# --- one county's rows as a file of their own ------------------------------------------------


def _subset(checked: CheckedFile, positions: np.ndarray) -> CheckedFile:
    """The rows at ``positions`` as a checked file of their own: their Python problems
    carried over, errors still naming the file's rows, a progress of its own (none)."""
    ctx, source = checked.ctx, checked.source
    part = Source(
        source.path,
        source.format,
        source.frame.iloc[positions].reset_index(drop=True),
        None if source.geometry is None else np.asarray(source.geometry)[positions],
        source.crs,
        source.layer,
        _row_numbers(source)[positions],
        source.zipped,
    )
    errors = RowErrors(source.path, rows=part.row, hints=list(ctx.errors.hints))
    where = {int(p): i for i, p in enumerate(positions)}
    for position, column, message in ctx.errors.problems:
        if position in where:
            errors.add(where[position], column, message)
    frame = checked.frame.iloc[positions].reset_index(drop=True)
    members = ctx.members
    if members is not None:
        members = members[members["household_no"].isin(frame["household_no"])]
    sub = replace(
        ctx,
        source=part,
        options=replace(ctx.options, progress=NoProgress()),
        errors=errors,
        fields=ctx.fields.iloc[positions].reset_index(drop=True),
        geometry=None if ctx.geometry is None else ctx.geometry[positions],
        notes=[],
        written={},
        members=members,
    )
    return CheckedFile(sub, frame)


def _row_numbers(source: Source) -> np.ndarray:
    """The row number the user sees for each data row of ``source``."""
    if source.row_numbers is None:
        return np.arange(len(source), dtype=np.int64) + 2
    return np.asarray(source.row_numbers, dtype=np.int64)


# --- failures and their rejects files ----------------------------------------------------------


def _failed(
    result: CountyResult, checked: CheckedFile, exc: ImportError_, target: Path
) -> CountyResult:
    """The county refused: its problems, and its rows with the reasons in a rejects file."""
    errors = checked.ctx.errors
    if isinstance(exc, OutOfScope) or not errors.problems:
        errors = _errors_from(exc, checked.source)
    result.status = "refused" if isinstance(exc, OutOfScope) else "failed"
    result.message = str(exc)
    result.errors = errors.as_dicts(limit=len(errors.problems))
    reasons = {p: m for p, m in errors.by_position().items() if p >= 0}
    if not reasons:  # the whole county's fault (a file-level check, the database): every row
        whole = "; ".join(m for p, m in errors.by_position().items() if p < 0)
        reasons = dict.fromkeys(range(len(checked.source)), whole or str(exc).splitlines()[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    result.rejects_path = write_rejects(checked.source, reasons, target)
    return result


def _errors_from(exc: ImportError_, source: Source) -> RowErrors:
    """An exception's problems (rows as the file numbers them) back at the rows' positions."""
    position = {source.row(i): i for i in range(len(source))}
    errors = RowErrors(source.path, rows=source.row)
    for problem in exc.problems:
        at = position.get(problem["row"], -1) if problem["row"] != 1 else -1
        errors.add(at, problem["field"], problem["message"])
    return errors


def _is_fault(exc: ImportError_) -> bool:
    """The database itself failed (connection lost, out of room), not the county's rows."""
    cause = exc.__cause__
    orig = getattr(cause, "orig", cause)
    if orig is None:
        return False
    lost = isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
    room = (getattr(orig, "sqlstate", None) or "").startswith("53")
    return lost or room or bool(getattr(cause, "connection_invalidated", False))


def _rejects_name(source: Source, group: CountyGroup) -> str:
    suffix = rejects_path(source).suffix  # .xls input: .xlsx rejects
    return f"{source.path.stem}.{group.code or 'unknown-county'}.rejects{suffix}"


def _clear_old_rejects(split: CountySplit) -> None:
    """An earlier run's rejects of this file: a county fixed since must not look broken."""
    if split.rejects_dir.is_dir():
        for old in split.rejects_dir.glob(f"{split.checked.source.path.stem}.*.rejects.*"):
            old.unlink()
