"""The hamlets and households KINDs of ``gongjian import``: parsing, the database's checks,
and writing households with their incomes and first archive versions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo import validate as v
from layers import history
from layers.derived_boundaries import refresh_after_import
from layers.imports import columns as c
from layers.imports import dated, places
from layers.imports.base import ImportSummary
from layers.imports.core import STAGING, Context, sql_problems

S = STAGING


def _village_refs(ctx: Context) -> dict[str, pd.Series | None]:
    village = c.text(ctx, "village")
    township = c.text(ctx, "township")
    code = c.ref_code(village, 12)
    _refuse_mixed_codes_and_names(ctx, village, code)
    return {
        "village_code": code if code is not None else c.empty(ctx),
        "village_ref": None if village is None else village.where(code.isna(), None),
        "township_ref": township,
    }


def _refuse_mixed_codes_and_names(
    ctx: Context, village: pd.Series | None, code: pd.Series | None
) -> None:
    """A village column holds codes or names, not both: a mix usually means shifted columns
    or codes typed by hand, and a name silently matching the wrong village is worse."""
    if village is None or code is None:
        return
    given = village.notna().to_numpy()
    is_code = code.notna().to_numpy()
    codes, names = int((given & is_code).sum()), int((given & ~is_code).sum())
    if not codes or not names:
        return
    minority = is_code if codes < names else ~is_code
    what = "a 12-digit code" if codes < names else "a name"
    for i in np.flatnonzero(given & minority):
        ctx.errors.add(
            int(i),
            ctx.label("village"),
            f"{what} where the column mostly holds "
            f"{'names' if codes < names else '12-digit codes'} ({codes} codes, {names} names): "
            "use codes or names throughout",
        )


def parse_hamlets(ctx: Context) -> pd.DataFrame:
    ctx.require("name")
    return c.frame(
        ctx,
        **_village_refs(ctx),
        name=c.text(ctx, "name", True),
        population=ctx.parse("population", v.parse_int, low=0),
        road_hardened=ctx.parse("road_hardened", v.parse_bool),
        piped_water=ctx.parse("piped_water", v.parse_bool),
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=ctx.geometry,
    )


def resolve_hamlets(conn: sa.Connection, ctx: Context) -> None:
    places.analyse(conn)
    places.resolve_villages(conn, ctx)
    places.points_in_villages(conn, ctx)
    sql_problems(
        ctx,
        conn,
        f"""SELECT min(_row), village_code, name, count(*) FROM "{S}"
        GROUP BY village_code, name HAVING count(*) > 1""",
        "name",
        lambda r: f"{r[2]} appears {r[3]} times in village {r[1]}",
    )


# Only what identifies a household is required (its place comes from the village column or
# the point); every other fact may be missing from a list and is then unknown (NULL).
HOUSEHOLD_REQUIRED = ("household_no", "head_name")
# Facts the maps, flags and reports use: a list without the column is loaded, with a warning.
HOUSEHOLD_FACTS = ("members", "labour_members", "category", "main_cause", "housing_status")


def parse_households(ctx: Context) -> pd.DataFrame:
    ctx.require(*HOUSEHOLD_REQUIRED)
    number = c.text(ctx, "household_no", True)
    c.unique(ctx, number, "household_no")
    ids = ctx.parse("id_number", v.parse_id_numbers)
    c.unique(ctx, ids, "id_number")
    parsed = {
        "household_no": number,
        **_village_refs(ctx),
        "geom": ctx.geometry,
        "head_name": c.text(ctx, "head_name", True),
        "id_number": ids,
        "phone": ctx.parse("phone", v.parse_phones),
        "members": ctx.parse("members", v.parse_int, low=1, high=50),
        "labour_members": ctx.parse("labour_members", v.parse_int, low=0, high=50),
        "category": c.vocab(ctx, "category", "category"),
        "main_cause": c.vocab(ctx, "main_cause", "cause"),
        "secondary_cause": c.vocab(ctx, "secondary_cause", "cause"),
        "housing_status": c.vocab(ctx, "housing_status", "housing_status"),
        "status": _status(ctx),
        "exit_year": ctx.parse("exit_year", v.parse_year),
        "registered_year": ctx.parse("registered_year", v.parse_year),
        "scattered": ctx.parse("scattered", v.parse_bool) if ctx.has("scattered") else c.empty(ctx),
        "synthetic": ctx.parse("synthetic", v.parse_bool),
        **_people_refs(ctx),
        **_incomes(ctx),
        "effective_date": dated.effective_dates(ctx),
        **_listed_road_and_water(ctx),
    }
    frame = c.frame(ctx, **parsed)
    ctx.add(v.household_rules(frame))
    return frame


def _listed_road_and_water(ctx: Context) -> dict[str, pd.Series | None]:
    """What the list says of road and water (compared with the map: flag list_vs_map)."""
    km = ctx.parse("listed_road_km", _kilometres)
    return {
        "listed_road_km": km,
        "listed_road_surface": c.vocab(ctx, "listed_road_surface", "surface"),
        "listed_safe_water": ctx.parse("listed_safe_water", v.parse_bool),
    }


def _kilometres(series: pd.Series, field: str):
    """与村主干路距离 in km: 1.5, 1.5公里 or 1.5km."""
    text = series.map(
        lambda x: (
            x
            if not isinstance(x, str)
            else x.strip().removesuffix("公里").removesuffix("km").removesuffix("千米")
        )
    )
    values, problems = v.parse_number(text, field)
    return values, problems + [
        v.Problem(int(i), field, f"{values.iloc[i]} km is implausible (over 200)")
        for i in np.flatnonzero(pd.to_numeric(values, errors="coerce").to_numpy() > 200)
    ]


def unknown_facts(conn: sa.Connection, ctx: Context) -> None:
    """A warning per fact the list leaves unknown: which column, how many households.

    A column the file lacks is not written (stored households keep what they have), so the
    households it leaves unknown are the new ones; blank cells count too.
    """
    new = conn.execute(
        sa.text(
            f'SELECT count(*) FROM "{S}" s '
            "WHERE NOT EXISTS (SELECT 1 FROM household h WHERE h.household_no = s.household_no)"
        )
    ).scalar_one()
    for name in HOUSEHOLD_FACTS:
        if not ctx.has(name):
            if new:
                ctx.warn(f"no {_usual_header(name)} column: unknown for the {new} new households")
            continue
        blank = int(ctx.raw(name).isna().sum())
        if blank:
            ctx.warn(f"{ctx.label(name)}: blank in {blank} rows, loaded as unknown")


def _usual_header(name: str) -> str:
    from geo.columns import FIELD_ALIASES

    aliases = FIELD_ALIASES["households"][name]
    return next((a for a in aliases if not a.isascii()), name)


def _status(ctx: Context) -> pd.Series | None:
    status = c.vocab(ctx, "status", "status")
    return None if status is None else status.fillna("poor")


def _people_refs(ctx: Context) -> dict[str, pd.Series | None]:
    refs: dict[str, pd.Series | None] = {}
    if ctx.has("hamlet") or ctx.has("hamlet_id"):
        refs["hamlet_id"] = (
            ctx.parse("hamlet_id", v.parse_int, low=1) if ctx.has("hamlet_id") else c.empty(ctx)
        )
        refs["hamlet_ref"] = c.text(ctx, "hamlet")
    if ctx.has("cadre") or ctx.has("cadre_id"):
        refs["cadre_id"] = (
            ctx.parse("cadre_id", v.parse_int, low=1) if ctx.has("cadre_id") else c.empty(ctx)
        )
        refs["cadre_ref"] = c.text(ctx, "cadre")
    return refs


def _incomes(ctx: Context) -> dict[str, pd.Series | None]:
    incomes: dict[str, pd.Series | None] = {}
    for name in sorted(
        f for f in ctx.fields.columns if f.startswith("income_") and f[7:].isdigit()
    ):
        incomes[name] = ctx.parse(name, v.parse_number)
        ctx.kind.extra_staging[name] = "numeric"
    if ctx.has("income"):
        incomes["income"] = ctx.parse("income", v.parse_number)
        incomes["income_year"] = _income_year(ctx)
    return incomes


def _income_year(ctx: Context) -> pd.Series | None:
    """The year of an undated income column: the 收入年度 column, else ``--income-year``."""
    given = ctx.options.income_year
    if ctx.has("income_year"):
        years = ctx.parse("income_year", v.parse_year)
        return years if given is None else years.fillna(given)
    if given is None:
        ctx.errors.file_error(
            ctx.label("income"),
            "which year? name the column like 2016年人均纯收入, add a 收入年度 column "
            "or say --income-year YEAR",
        )
        return None
    return pd.Series([given] * len(ctx.fields), dtype=object)


def resolve_households(conn: sa.Connection, ctx: Context) -> None:
    places.analyse(conn)
    places.resolve_villages(conn, ctx)
    places.points_in_villages(conn, ctx)
    _hamlets_and_cadres(conn, ctx)
    _id_numbers_in_database(conn, ctx)
    dated.check_against_registration(conn, ctx)
    conn.execute(
        sa.text(f"""UPDATE "{S}" s SET scattered = (v.key_level IS NULL) FROM village v
                             WHERE v.code = s.village_code AND s.scattered IS NULL""")
    )
    unknown_facts(conn, ctx)


def _hamlets_and_cadres(conn: sa.Connection, ctx: Context) -> None:
    if ctx.has("hamlet"):
        conn.execute(
            sa.text(f"""UPDATE "{S}" s SET hamlet_id = h.id FROM hamlet h
            WHERE h.village_code = s.village_code AND h.name = s.hamlet_ref AND s.hamlet_id IS
                NULL""")
        )
        sql_problems(
            ctx,
            conn,
            f"""SELECT _row, hamlet_ref, village_code FROM "{S}"
            WHERE hamlet_ref IS NOT NULL AND hamlet_id IS NULL AND village_code IS NOT NULL""",
            "hamlet",
            lambda r: f"no hamlet {r[1]!r} in village {r[2]} (import hamlets first)",
        )
    if ctx.has("hamlet_id"):
        sql_problems(
            ctx,
            conn,
            f"""SELECT _row, hamlet_id, village_code FROM "{S}" s
            WHERE hamlet_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM hamlet h
                WHERE h.id = s.hamlet_id AND h.village_code = s.village_code)""",
            "hamlet_id",
            lambda r: f"no hamlet {r[1]} in village {r[2]}",
        )
    if ctx.has("cadre"):
        resolve_cadres(conn, ctx, "left(s.village_code, 9)")


def resolve_cadres(conn: sa.Connection, ctx: Context, township_sql: str) -> None:
    """``cadre_id`` from a cadre's name within the row's township."""
    conn.execute(
        sa.text(f"""
        UPDATE "{S}" s SET cadre_id = c.id
        FROM (SELECT township_code, name, min(id) AS id, count(*) AS n FROM cadre GROUP BY 1, 2) c
        WHERE c.township_code = {township_sql} AND c.name = s.cadre_ref AND c.n = 1
          AND s.cadre_id IS NULL""")
    )
    sql_problems(
        ctx,
        conn,
        f"""SELECT s._row, s.cadre_ref, {township_sql},
            (SELECT count(*) FROM cadre c WHERE c.township_code = {township_sql} AND c.name =
                s.cadre_ref)
        FROM "{S}" s WHERE s.cadre_ref IS NOT NULL AND s.cadre_id IS NULL AND {township_sql} IS
            NOT NULL""",
        "cadre",
        lambda r: (
            f"{r[1]!r} names {r[3]} cadres in township {r[2]}: use cadre_id"
            if r[3] > 1
            else f"no cadre {r[1]!r} in township {r[2]} (import cadres first)"
        ),
    )
    if ctx.has("cadre_id"):
        sql_problems(
            ctx,
            conn,
            f"""SELECT _row, cadre_id FROM "{S}" s WHERE cadre_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM cadre c WHERE c.id = s.cadre_id)""",
            "cadre_id",
            lambda r: f"no cadre with id {r[1]}",
        )


def _id_numbers_in_database(conn: sa.Connection, ctx: Context) -> None:
    """The same ID number on another household already stored (that this file leaves alone)."""
    if not ctx.has("id_number"):
        return
    sql_problems(
        ctx,
        conn,
        f"""
        SELECT s._row, s.id_number, h.household_no FROM "{S}" s
        JOIN household h ON h.id_number = s.id_number AND h.household_no <> s.household_no
        WHERE NOT EXISTS (SELECT 1 FROM "{S}" o WHERE o.household_no = h.household_no
                          AND o.id_number IS DISTINCT FROM h.id_number)""",
        "id_number",
        lambda r: f"{r[1]} already belongs to household {r[2]} in the database",
    )


def _income_pairs(ctx: Context) -> list[str]:
    """(year, amount) SQL pairs of a staged household row ``s``."""
    pairs = [
        f'({int(column[7:])}, s."{column}")'
        for column in ctx.fields.columns
        if column.startswith("income_") and column[7:].isdigit()
    ]
    if ctx.has("income"):  # its year: the 收入年度 column or --income-year (_income_year)
        pairs.append("(s.income_year, s.income)")
    return pairs


@contextlib.contextmanager
def new_households(conn: sa.Connection, ctx: Context) -> Iterator[None]:
    """Bulk loads, around the insert of the new households (their ids known in _import_new):
    their incomes go in first, and their first archive versions are written after, set-based.

    household_income's foreign key is dropped while loading in bulk (added back, so checked,
    at the end), so the incomes can precede their households. Each new household gets one
    first version holding its incomes, built from its own row of the file, instead of the
    archive triggers' versions (history.first_versions_written_by_caller).
    """
    pairs = _income_pairs(ctx)
    with history.first_versions_written_by_caller(conn):
        if pairs:
            ctx.written["new_incomes"] = conn.execute(
                sa.text(f"""
                INSERT INTO household_income (household_id, year, per_capita_income)
                SELECT n.id, y.year, y.amount FROM "{S}" s JOIN "_import_new" n ON n._row = s._row
                CROSS JOIN LATERAL (VALUES {", ".join(pairs)}) AS y(year, amount)
                WHERE y.amount IS NOT NULL AND y.year IS NOT NULL""")
            ).rowcount
        yield
        history.write_first_versions(conn, 'SELECT id FROM "_import_new"', _row_incomes(pairs))


def _row_incomes(pairs: list[str]) -> str:
    """Each new household's incomes from its staged row alone: jsonb {year: amount}, and the
    latest year's amount and year (history.write_first_versions).

    Plain expressions over the row's columns: a subquery per row (VALUES … aggregated)
    would cost more than the insert it feeds.
    """
    if not pairs:
        return (
            "SELECT NULL::bigint AS household_id, NULL::jsonb AS incomes, "
            "NULL::numeric AS income, NULL::integer AS income_year WHERE false"
        )
    split = [pair.strip("()").split(", ", 1) for pair in pairs]
    known = [(year, f"CASE WHEN {year} IS NOT NULL THEN {amount} END") for year, amount in split]
    entries = ", ".join(
        f"coalesce({year}, 0)::text, CAST({amount} AS numeric(14, 2))" for year, amount in known
    )
    latest = ", ".join(f"CASE WHEN {amount} IS NOT NULL THEN {year} END" for year, amount in known)
    return f"""
        SELECT household_id, incomes, (incomes ->> income_year::text)::numeric AS income,
               income_year
        FROM (SELECT n.id AS household_id,
                     jsonb_strip_nulls(jsonb_build_object({entries})) AS incomes,
                     greatest({latest}) AS income_year
              FROM "{S}" s JOIN "_import_new" n ON n._row = s._row) r"""


def derive_boundaries_after(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    """Counties without real polygons get derived (示意) ones from the new points."""
    codes = conn.execute(sa.text(f'SELECT DISTINCT village_code FROM "{S}"')).scalars().all()
    summary.notes.extend(refresh_after_import(conn, [code for code in codes if code]))


def households_after(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    household_incomes(conn, ctx, summary)
    derive_boundaries_after(conn, ctx, summary)


def household_incomes(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    """Year-stamped incomes into household_income (idempotent like the households)."""
    pairs = _income_pairs(ctx)
    if not pairs:
        return
    # new households' incomes are in already when new_households ran (bulk loads)
    new_done = "new_incomes" in ctx.written
    skip_new = (
        'WHERE NOT EXISTS (SELECT 1 FROM "_import_new" n WHERE n._row = s._row)' if new_done else ""
    )
    # Incomes are matched to stored ones first (a stable join), then updated or inserted:
    # no ON CONFLICT, whose speculative insertion is three times slower for millions of rows
    # (and in bulk mode the primary key is rebuilt after the load).
    conn.execute(sa.text('DROP TABLE IF EXISTS "_import_incomes"'))
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE "_import_incomes" ON COMMIT DROP AS
        SELECT h.id AS household_id, y.year, CAST(y.amount AS numeric(14, 2)) AS amount,
               i.household_id IS NOT NULL AS stored, i.per_capita_income AS stored_amount
        FROM (SELECT * FROM "{S}" s {skip_new}) s
        JOIN household h ON h.household_no = s.household_no
        CROSS JOIN LATERAL (VALUES {", ".join(pairs)}) AS y(year, amount)
        LEFT JOIN household_income i ON i.household_id = h.id AND i.year = y.year
        WHERE y.amount IS NOT NULL AND y.year IS NOT NULL""")
    )
    conn.execute(sa.text('ANALYZE "_import_incomes"'))
    updated = conn.execute(
        sa.text("""
        UPDATE household_income i SET per_capita_income = n.amount FROM "_import_incomes" n
        WHERE n.stored AND n.stored_amount IS DISTINCT FROM n.amount
          AND i.household_id = n.household_id AND i.year = n.year""")
    ).rowcount
    inserted = conn.execute(
        sa.text("""
        INSERT INTO household_income (household_id, year, per_capita_income)
        SELECT household_id, year, amount FROM "_import_incomes" WHERE NOT stored""")
    ).rowcount + ctx.written.get("new_incomes", 0)
    if inserted or updated:
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (table_name, row_id, action, actor, after) "
                "VALUES ('household_income', NULL, 'import', :actor, CAST(:after AS jsonb))"
            ),
            {
                "actor": ctx.options.actor,
                "after": json.dumps(
                    {"file": ctx.source.path.name, "inserted": inserted, "updated": updated},
                    ensure_ascii=False,
                ),
            },
        )
    earlier = summary.extra.get("household_income", (0, 0, None))  # files of several dates
    summary.extra["household_income"] = (earlier[0] + inserted, earlier[1] + updated, None)
