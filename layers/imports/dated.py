"""Dated changes in imports: ``--effective-date`` and a 生效日期 / 变更日期 column.

A list is often entered weeks after the changes it records (an exit assessed in March, typed
in December). The archive (migration 0005) dates a transaction's changes by the setting
``gongjian.effective_date``; a file whose rows carry different dates is written one date at a
time, oldest first, inside the import's one transaction (all or nothing as always).

Rules: no date in the future; none before the household's registration (its first archived
version, or 1 January of the list's 识别年度 for a new household).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa

from geo import validate as v
from layers.history import set_effective_date

COLUMN = "effective_date"


def effective_dates(ctx) -> pd.Series | None:
    """The rows' effective dates: the column's, else ``--effective-date`` (None: today)."""
    given = ctx.options.effective_date
    today = dt.date.today()
    if given is not None and given > today:
        ctx.errors.file_error("--effective-date", f"{given} is in the future")
    if not ctx.has(COLUMN):
        return None if given is None else pd.Series([given] * len(ctx.fields), dtype=object)
    days = ctx.parse(COLUMN, v.parse_date)
    for i, day in days.items():
        if day is not None and day > today:
            ctx.errors.add(int(i), ctx.label(COLUMN), f"{day} is in the future")
    return days if given is None else days.where(days.notna(), given)


def check_against_registration(conn: sa.Connection, ctx) -> None:
    """No change dated before its household was registered (file, row and field named)."""
    if not _dated(ctx):
        return
    from layers.imports.core import STAGING, sql_problems

    label = COLUMN if ctx.has(COLUMN) else "--effective-date"
    registered = (
        "make_date(s.registered_year, 1, 1)" if ctx.has("registered_year") else "NULL::date"
    )
    sql_problems(
        ctx,
        conn,
        f"""SELECT s._row, s.effective_date, r.since FROM "{STAGING}" s
        CROSS JOIN LATERAL (SELECT coalesce(
            (SELECT min(x.valid_from) FROM household h JOIN household_history x
             ON x.household_id = h.id WHERE h.household_no = s.household_no),
            {registered}) AS since) r
        WHERE s.effective_date < r.since""",
        label,
        lambda r: f"{r[1]} is before the household was registered ({r[2]})",
    )


def _dated(ctx) -> bool:
    return ctx.has(COLUMN) or ctx.options.effective_date is not None


def days_to_write(conn: sa.Connection, ctx, staging: str) -> list[dt.date | None]:
    """The distinct effective dates of the staged rows, oldest first ([None]: undated)."""
    if not _dated(ctx):
        return [None]
    if COLUMN not in ctx.kind.extra_staging:  # a layer without an archive: one date for all
        return [ctx.options.effective_date]
    days = conn.execute(
        sa.text(f'SELECT DISTINCT effective_date FROM "{staging}" ORDER BY 1 NULLS LAST')
    ).scalars()
    return list(days) or [None]


def by_day(
    conn: sa.Connection, ctx, staging: str, days: list[dt.date | None]
) -> Iterator[dt.date | None]:
    """Date the transaction's changes day by day; with several days, ``staging`` holds only
    the rows of the day at hand (the file's rows wait in ``{staging}_all``)."""
    if len(days) == 1:
        set_effective_date(conn, days[0])
        yield days[0]
        return
    every = f"{staging}_all"
    conn.execute(sa.text(f'ALTER TABLE "{staging}" RENAME TO "{every}"'))
    for day in days:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{staging}"'))
        conn.execute(
            sa.text(
                f'CREATE TEMP TABLE "{staging}" ON COMMIT DROP AS SELECT * FROM "{every}" '
                "WHERE effective_date IS NOT DISTINCT FROM :day"
            ),
            {"day": day},
        )
        set_effective_date(conn, day)
        yield day
    set_effective_date(conn, None)
