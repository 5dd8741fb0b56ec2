"""The import pipeline every KIND shares: read → map headers → locate → check → stage → write.

Python checks what a row says on its own (formats, value sets, ranges, ID check digits);
the database checks what needs the database (codes that exist, points inside their village,
duplicates against stored rows), on the staged rows, inside the import's one transaction.
With ``skip_invalid`` the bad rows go to a rejects file and the rest loads; without it any
problem refuses the whole file and nothing is written. :func:`check_file` (read, Python checks)
and :func:`write_checked` (database checks, write) are the two halves; ``--per-county``
(per_county.py) checks once and writes each county's rows with the second.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from geo.columns import HeaderMap, map_headers
from geo.validate import (
    CHINA_BOUNDS,
    Problem,
)
from layers.history import set_actor
from layers.imports import dated
from layers.imports import persons as person_lists
from layers.imports.base import (
    ImportError_,
    ImportOptions,
    ImportSummary,
    OutOfScope,
    RowErrors,
)
from layers.imports.files import Source, read_source, write_rejects
from layers.imports.locate import locate
from layers.imports.write import (
    NO_INDEX_KEPT,
    ROW_COLUMN,
    Target,
    bulk_mode,
    copy_staging,
    create_staging,
    upsert,
)
from layers.models import Base

STAGING = "_import_rows"
GEOMETRY_FIELDS = ("longitude", "latitude", "wkt")


@dataclass
class Kind:
    """One KIND of ``gongjian import``: how its files become rows of its table."""

    name: str
    table: str
    key: tuple[str, ...]
    parse: Callable[[Context], pd.DataFrame]
    geometry: frozenset[str] = frozenset()  # allowed geometry types; empty: no geometry
    conflict: bool = True  # the key has a unique constraint
    resolve: Callable[[sa.Connection, Context], None] | None = None
    after: Callable[[sa.Connection, Context, ImportSummary], None] | None = None
    # bulk loads of tables with a serial id: a context manager around the insert of the new
    # rows, which have their ids already (temporary table _import_new: _row, id; write.upsert)
    around_insert: Callable[[sa.Connection, Context], AbstractContextManager] | None = None
    # SQL on the staged row ``s`` giving the administrative code a scope must cover
    # (ImportOptions.scope); None: rows without one, which a scoped import refuses
    scope_code: str | None = None
    scope_field: str = "village"  # the field errors about the scope name
    layer_names: tuple[str, ...] = ()
    extra_staging: dict[str, str] = field(default_factory=dict)  # helper columns → SQL type
    on_update: dict[str, str] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] = CHINA_BOUNDS


@dataclass
class Context:
    """Everything an import knows about its file while checking it."""

    kind: Kind
    source: Source
    options: ImportOptions
    headers: HeaderMap
    errors: RowErrors
    fields: pd.DataFrame  # the file's mapped columns, renamed to field names
    geometry: np.ndarray | None = None  # WGS84
    crs_declared: bool = False
    crs_used: str = "wgs84"
    notes: list[str] = field(default_factory=list)
    bulk: bool = False  # loading in bulk (indexes rebuilt after, exclusive lock held)
    written: dict[str, int] = field(default_factory=dict)  # rows the hooks wrote, by what
    members: pd.DataFrame | None = None  # a person list's members (layers/imports/persons.py)

    def has(self, name: str) -> bool:
        return name in self.fields.columns

    def raw(self, name: str) -> pd.Series:
        return self.fields[name]

    def label(self, name: str) -> str:
        """The header the file uses for field ``name`` (errors speak the file's language)."""
        return self.headers.column_of(name) or name

    def add(self, problems: list[Problem]) -> None:
        for p in problems:
            self.errors.add(p.index, self.label(p.field), p.message)

    def parse(self, name: str, parser: Callable, *args, **kwargs) -> pd.Series | None:
        """Parse field ``name`` with a geo.validate parser; None when the file lacks it."""
        if not self.has(name):
            return None
        values, problems = parser(self.raw(name), name, *args, **kwargs)
        self.add(problems)
        return values

    def warn(self, message: str) -> None:
        """A warning for the summary: the file loads, but the user should know."""
        self.notes.append(f"warning: {message}")

    def require(self, *names: str) -> None:
        """File-level problems for missing required columns, naming the usual headers."""
        from geo.columns import FIELD_ALIASES

        for name in names:
            if not self.has(name):
                aliases = FIELD_ALIASES[self.kind.name].get(name, ())[:3]
                hint = f" (e.g. {' / '.join(aliases)})" if aliases else ""
                self.errors.file_error(name, f"column missing{hint}")

    def blank(self, values: pd.Series | None, name: str) -> None:
        if values is not None:
            for i in np.flatnonzero(values.isna().to_numpy()):
                self.errors.add(int(i), self.label(name), "missing")


@dataclass
class CheckedFile:
    """A file read and checked in Python (row problems collected, nothing written yet)."""

    ctx: Context
    frame: pd.DataFrame  # the parsed rows, by position in the file

    @property
    def source(self) -> Source:
        return self.ctx.source


def run_import(engine: Engine, kind: Kind, path: Path, options: ImportOptions) -> ImportSummary:
    """Import ``path`` as ``kind``: all or nothing unless ``options.skip_invalid``."""
    return write_checked(engine, check_file(kind, Path(path), options))


def check_file(kind: Kind, path: Path, options: ImportOptions) -> CheckedFile:
    """Read ``path`` and run the Python checks; a file-level problem refuses it here."""
    if options.scope is not None and kind.scope_code is None:
        raise OutOfScope(
            f"{path.name}: {kind.name} rows carry no administrative code to check against "
            f"your scope {options.scope}: an administrator imports them with the CLI"
        )
    kind = replace(kind, extra_staging=dict(kind.extra_staging))  # parsers add income columns
    progress = options.progress
    progress.stage(f"reading {path.name}")
    members = None
    if kind.table == "household" and person_lists.looks_like_person_list(path):
        people = person_lists.read_person_list(path, options.max_bytes, options.layer)
        source, members = person_lists.as_household_source(people)
    else:
        source = read_source(
            path,
            max_bytes=options.max_bytes,
            score=lambda h: len(map_headers(h, kind.name).fields),
            layer=options.layer,
            layer_names=kind.layer_names,
        )
    ctx = _context(kind, source, options)
    ctx.members = members
    progress.stage("checking", len(source))
    frame = kind.parse(ctx)
    if ctx.errors.has_file_errors():
        ctx.errors.raise_if_any()
    return CheckedFile(ctx, frame)


def write_checked(
    engine: Engine, checked: CheckedFile, rejects: Path | None = None
) -> ImportSummary:
    """Check ``checked`` against the database and write it in one transaction.

    ``rejects``: where rejected rows go (``--skip-invalid``), else next to the file.
    """
    ctx, source = checked.ctx, checked.source
    summary = ImportSummary(
        ctx.kind.table, source.path, read=len(source), dry_run=ctx.options.dry_run
    )
    summary.notes = source.notes + ctx.notes
    checked_notes = len(ctx.notes)
    try:
        rejected = _write(engine, ctx, checked.frame, summary)
    except (sa.exc.DBAPIError, psycopg.Error) as exc:  # COPY talks to psycopg directly
        raise database_error(exc, source.path) from exc
    # the warnings of the database checks; notes of the writing (derived boundaries) stay
    summary.notes += ctx.notes[checked_notes:]
    if rejected:
        summary.errors = ctx.errors.as_dicts()
        summary.rejected = len(rejected)
        summary.rejects_path = write_rejects(source, rejected, rejects)
    return summary


def _context(kind: Kind, source: Source, options: ImportOptions) -> Context:
    headers = map_headers(source.frame.columns, kind.name, options.mapping)
    errors = RowErrors(source.path, rows=source.row)
    for name, columns in headers.duplicates.items():
        errors.file_error(columns[1], f"a second column for {name} (first: {columns[0]})")
    fields = source.frame[list(headers.fields)].rename(columns=headers.fields)
    fields = fields.reset_index(drop=True)
    ctx = Context(kind, source, options, headers, errors, fields)
    if headers.unknown:
        ctx.notes.append("ignored columns: " + ", ".join(headers.unknown))
    if kind.geometry:
        locate(ctx)
    return ctx


# --- writing -------------------------------------------------------------------------------


def staging_types(table: str, columns: list[str], extra: dict[str, str]) -> dict[str, str]:
    """SQL types of the staging table: the target's, but plain text and plain geometry."""
    types = {}
    target = Base.metadata.tables[table]
    for column in columns:
        if column in extra:
            types[column] = extra[column]
            continue
        kind = target.c[column].type
        if getattr(kind, "geometry_type", None) is not None:
            types[column] = "geometry"
        elif isinstance(kind, sa.CHAR | sa.Text | sa.String):
            types[column] = "text"
        else:
            types[column] = kind.compile(dialect=postgresql.dialect())
    return types


def _write(
    engine: Engine, ctx: Context, frame: pd.DataFrame, summary: ImportSummary
) -> dict[int, str]:
    """Stage, check in the database, then upsert. Returns the rejected rows (position → why)."""
    kind, options = ctx.kind, ctx.options
    python_bad = ctx.errors.bad_positions
    if python_bad and not options.skip_invalid:
        ctx.errors.raise_if_any()
    good = frame.drop(index=list(python_bad), errors="ignore")
    good = good.assign(**{ROW_COLUMN: good.index.to_numpy()})
    with engine.begin() as conn:
        set_actor(conn, options.actor)  # the archive (household_history.source) names the importer
        columns = [*frame.columns, *(c for c in kind.extra_staging if c not in frame.columns)]
        points = (
            frozenset({"geom"}) if kind.geometry == {"Point"} and "geom" in frame else frozenset()
        )
        create_staging(
            conn, STAGING, staging_types(kind.table, columns, kind.extra_staging), points
        )
        options.progress.stage("staging", len(good))
        copy_staging(conn, STAGING, good, options.progress, points)
        options.progress.stage("checking against the database")
        if kind.resolve is not None:
            kind.resolve(conn, ctx)
        if options.existing == "error":
            _refuse_existing(conn, ctx)
        if options.scope is not None:
            _refuse_out_of_scope(conn, ctx, options.scope)
        rejected = _reject_or_raise(conn, ctx)
        options.progress.stage("writing")
        target = _target(kind, frame)
        staged = len(good) - len(rejected.keys() - python_bad)
        days = dated.days_to_write(conn, ctx, STAGING)
        # a file of several effective dates is written date by date: no bulk load then
        with bulk_mode(conn, bulk_tables(kind), staged if len(days) == 1 else 0) as bulk:
            ctx.bulk = bulk
            meta = _meta(ctx, summary)
            around = kind.around_insert
            inserted = updated = 0
            for day in dated.by_day(conn, ctx, STAGING, days):
                counts = upsert(
                    conn,
                    target,
                    STAGING,
                    actor=options.actor,
                    meta=meta if day is None else {**meta, "effective_date": day.isoformat()},
                    bulk=bulk,
                    around_insert=None if around is None else lambda c: around(c, ctx),
                )
                inserted, updated = inserted + counts[0], updated + counts[1]
                if bulk:
                    analyse_grown_tables(conn)
                if kind.after is not None:
                    options.progress.stage("writing related rows")
                    kind.after(conn, ctx, summary)
                if ctx.members is not None:
                    person_lists.write_members(conn, ctx, summary)
            summary.count(inserted, updated, staged)
            if bulk:
                options.progress.stage("rebuilding indexes")
        if options.dry_run:
            conn.rollback()
        options.progress.stage("committing")
    return rejected


def analyse_grown_tables(conn: sa.Connection, rows: int = 10_000) -> None:
    """ANALYZE the tables this transaction has written many rows to (ours and any trigger's).

    Their statistics still describe them as they were, possibly empty; the next statements —
    and the triggers they fire — would be planned for empty tables and crawl.
    """
    grown = conn.execute(
        sa.text(
            "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_xact_user_tables "
            "WHERE n_tup_ins + n_tup_upd > :rows AND schemaname NOT LIKE 'pg_temp%'"
        ),
        {"rows": rows},
    ).scalars()
    for table in list(grown):
        conn.execute(sa.text(f"ANALYZE {table}"))


def bulk_tables(kind: Kind) -> dict[str, tuple[str, ...] | None]:
    """Tables a big import of ``kind`` loads in bulk, with the key each must keep indexed."""
    tables: dict[str, tuple[str, ...] | None] = {kind.table: kind.key if kind.conflict else ()}
    if kind.table == "household":
        # incomes are inserted, not upserted (kinds.py); the archive triggers that would look
        # them up are off while new households load (history.first_versions_written_by_caller)
        tables["household_income"] = NO_INDEX_KEPT
        tables["household_history"] = ()  # the archive triggers add a version per household
    return tables


def _target(kind: Kind, frame: pd.DataFrame) -> Target:
    table_columns = set(Base.metadata.tables[kind.table].c.keys())
    columns = tuple(c for c in frame.columns if c in table_columns)
    return Target(kind.table, kind.key, columns, kind.conflict, kind.on_update)


def _reject_or_raise(conn: sa.Connection, ctx: Context) -> dict[int, str]:
    if not ctx.errors.problems:
        return {}
    if not ctx.options.skip_invalid or ctx.errors.has_file_errors():
        ctx.errors.raise_if_any()
    rejected = {p: m for p, m in ctx.errors.by_position().items() if p >= 0}
    conn.execute(
        sa.text(f'DELETE FROM "{STAGING}" WHERE "{ROW_COLUMN}" = ANY(:rows)'),
        {"rows": [int(p) for p in rejected]},
    )
    return rejected


def _refuse_out_of_scope(conn: sa.Connection, ctx: Context, scope: str) -> None:
    """Every row's administrative code within ``scope``, else the whole import is refused
    (OutOfScope naming the rows, whatever ``skip_invalid`` says)."""
    code = ctx.kind.scope_code
    outside = "(code IS NULL OR left(code, length(:scope)) <> :scope)"
    params = {"scope": scope, "bad": sorted(ctx.errors.bad_positions)}
    rows = conn.execute(
        sa.text(
            f'SELECT s."{ROW_COLUMN}", code FROM "{STAGING}" s, LATERAL (SELECT {code} AS code) c '
            f'WHERE {outside} AND NOT s."{ROW_COLUMN}" = ANY(:bad)'
        ),
        params,
    ).all()
    # the stored rows a file would update must be the caller's too (no moving rows in)
    match = " AND ".join(f't."{k}" = s."{k}"' for k in ctx.kind.key)
    stored = conn.execute(
        sa.text(
            f'SELECT s."{ROW_COLUMN}", code FROM "{STAGING}" s JOIN "{ctx.kind.table}" t '
            f"ON {match}, LATERAL (SELECT {code.replace('s.', 't.')} AS code) c "
            f'WHERE {outside} AND NOT s."{ROW_COLUMN}" = ANY(:bad)'
        ),
        params,
    ).all()
    if not rows and not stored:
        return
    errors = RowErrors(ctx.source.path, rows=ctx.source.row)
    label = ctx.label(ctx.kind.scope_field)
    for position, found in rows:
        where = f"{found} is" if found else "it is in no known place,"
        errors.add(int(position), label, f"{where} outside your scope {scope}")
    for position, found in stored:
        errors.add(
            int(position), label, f"updates a stored row of {found}, outside your scope {scope}"
        )
    errors.raise_if_any(error=OutOfScope)


def _refuse_existing(conn: sa.Connection, ctx: Context) -> None:
    keys = ctx.kind.key
    match = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
    rows = conn.execute(
        sa.text(
            f'SELECT s."{ROW_COLUMN}", {", ".join(f"s.{k}" for k in keys)} FROM "{STAGING}" s '
            f'WHERE EXISTS (SELECT 1 FROM "{ctx.kind.table}" t WHERE {match})'
        )
    ).all()
    for row in rows:
        key = ", ".join(str(v) for v in row[1:])
        ctx.errors.add(
            row[0],
            ctx.label(keys[-1]),
            f"{key} is already in the database (--existing update updates it)",
        )


def _meta(ctx: Context, summary: ImportSummary) -> dict:
    return {
        "file": ctx.source.path.name,
        "sha256": sha256(ctx.source.path),
        "format": ctx.source.format,
        "kind": ctx.kind.name,
        "crs": ctx.crs_used,
        "read": summary.read,
        "rejected": len(ctx.errors.bad_positions),
    }


def sha256(path: Path) -> str:
    """The file's digest for the audit; remembered while the file is unchanged (an import
    per county names the same big file in every county's transaction)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sql_problems(
    ctx: Context, conn: sa.Connection, sql: str, field: str, message: Callable, **params
) -> None:
    """Run ``sql`` (rows of _row, …) and add a problem per row with ``message(row)``."""
    for row in conn.execute(sa.text(sql), params).all():
        ctx.errors.add(int(row[0]), ctx.label(field), message(row))


def database_error(exc: sa.exc.DBAPIError | psycopg.Error, path: Path) -> ImportError_:
    """A database failure in words: lost connection, or the constraint that refused a row."""
    orig = getattr(exc, "orig", exc)
    if (getattr(orig, "sqlstate", None) or "").startswith("53"):  # disk full, out of memory
        first_line = (str(orig).strip().splitlines() or ["insufficient resources"])[0]
        return ImportError_(
            f"{path.name}: the database server ran out of room ({first_line}); nothing was "
            "written (the transaction was rolled back): free space on the disk that holds "
            "the database (GONGJIAN_HOME), then run the import again"
        )
    lost = isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError) or getattr(
        exc, "connection_invalidated", False
    )
    if lost:
        first_line = (str(orig).strip().splitlines() or ["connection closed"])[0]
        return ImportError_(
            f"{path.name}: lost the connection to the database during the import "
            f"({first_line}); nothing was written (the transaction was rolled back): "
            "run the import again"
        )
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    detail = getattr(diag, "message_detail", None) or ""
    what = f"constraint {constraint}" if constraint else str(orig).splitlines()[0]
    return ImportError_(
        f"{path.name}: the database refused the data ({what}{': ' + detail if detail else ''}); "
        "nothing was written"
    )
