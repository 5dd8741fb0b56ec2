"""The KINDs of ``gongjian import``: how each file's fields become rows of its table.

Each ``parse_*`` turns the mapped columns into the table's columns (plus ``*_ref`` helper
columns that the database resolves, like a village given by name), adding a problem for
every bad value. A column the file does not have is not written, so importing a partial
file (codes and populations only, say) leaves the other columns as they are.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo import validate as v
from geo.validate import GUANGDONG_BOUNDS
from layers import history
from layers.derived_boundaries import refresh_after_import
from layers.imports import dated, places
from layers.imports.base import ImportSummary
from layers.imports.core import STAGING, Context, Kind, sql_problems
from layers.imports.locate import as_multi

S = STAGING


def _rows(ctx: Context) -> np.ndarray:
    n = len(ctx.fields)
    if ctx.source.row_numbers is None:
        return np.arange(n) + 2
    return ctx.source.row_numbers


def _frame(ctx: Context, **columns: pd.Series | np.ndarray | None) -> pd.DataFrame:
    """The staged columns, leaving out fields the file does not have (None)."""
    present = {
        k: (c.to_numpy(dtype=object) if isinstance(c, pd.Series) else c)
        for k, c in columns.items()
        if c is not None
    }
    return pd.DataFrame(present, index=pd.RangeIndex(len(ctx.fields)))


def _text(ctx: Context, name: str, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_text)
    if required:
        ctx.blank(values, name)
    return values


def _vocab(ctx: Context, name: str, vocab_name: str, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_vocab, vocab_name)
    if required:
        ctx.blank(_only_blank(ctx, name, values), name)
    return values


def _only_blank(ctx: Context, name: str, values: pd.Series | None) -> pd.Series | None:
    """Values that are missing because the cell was blank (not because they were invalid)."""
    if values is None:
        return None
    bad = {p for p, f, _ in ctx.errors.problems if f == ctx.label(name)}
    keep = values.copy()
    keep.iloc[sorted(bad)] = "invalid"
    return keep


def _unique(ctx: Context, values: pd.Series | None, name: str) -> None:
    if values is not None:
        ctx.add(v.duplicates(values, name, _rows(ctx)))


def _code(ctx: Context, name: str, digits: int, required: bool = False) -> pd.Series | None:
    values = ctx.parse(name, v.parse_code, digits)
    if required:
        ctx.blank(_only_blank(ctx, name, values), name)
    return values


def _ref_code(values: pd.Series | None, digits: int) -> pd.Series | None:
    """The values that already are codes (the rest are names the database resolves)."""
    if values is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    is_code = pc.fill_null(pc.match_substring_regex(texts, rf"^\d{{{digits}}}$"), False)
    return values.where(np.asarray(is_code.to_numpy(zero_copy_only=False), dtype=bool), None)


def _empty(ctx: Context) -> pd.Series:
    return pd.Series([None] * len(ctx.fields), dtype=object)


# --- boundaries, townships, villages ----------------------------------------------------------


def parse_counties(ctx: Context) -> pd.DataFrame:
    ctx.require("code", "name", "city")
    code = _code(ctx, "code", 6, required=True)
    _unique(ctx, code, "code")
    city_code = _code(ctx, "city_code", 4)
    if code is not None:
        derived = code.str[:4]  # a county code's first four digits are its city's (GB/T 2260)
        city_code = derived if city_code is None else city_code.fillna(derived)
    return _frame(
        ctx,
        code=code,
        name=_text(ctx, "name", True),
        city=_text(ctx, "city", True),
        city_code=city_code,
        pairing_city=_text(ctx, "pairing_city"),
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=as_multi(ctx.geometry),
    )


def parse_townships(ctx: Context) -> pd.DataFrame:
    ctx.require("code", "name")
    code = _code(ctx, "code", 9, required=True)
    if code is None:
        return _frame(ctx)
    _unique(ctx, code, "code")
    county = _code(ctx, "county_code", 6)
    county = code.str[:6] if county is None else county.fillna(code.str[:6])
    seat = None
    if ctx.has("seat_longitude") and ctx.has("seat_latitude"):
        seat = _seat(ctx)
    return _frame(
        ctx,
        code=code,
        county_code=county,
        name=_text(ctx, "name", True),
        seat=seat,
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=as_multi(ctx.geometry),
        boundary_derived=_imported_polygon(ctx),
    )


def _imported_polygon(ctx: Context) -> np.ndarray | None:
    """boundary_derived = false: an imported polygon replaces a derived (示意) one."""
    return None if ctx.geometry is None else np.zeros(len(ctx.fields), dtype=bool)


def _seat(ctx: Context) -> np.ndarray:
    import shapely

    lon = pd.to_numeric(ctx.parse("seat_longitude", v.parse_number, low=None), errors="coerce")
    lat = pd.to_numeric(ctx.parse("seat_latitude", v.parse_number, low=None), errors="coerce")
    points = shapely.points(lon.fillna(0).to_numpy(float), lat.fillna(0).to_numpy(float))
    points[(lon.isna() | lat.isna()).to_numpy()] = None
    return points


def resolve_townships_parent(conn: sa.Connection, ctx: Context) -> None:
    places.require_parent(conn, ctx, "county_code", "county", ctx.label("county_code"))
    _prefix(conn, ctx, "county_code", 6)


def _prefix(conn: sa.Connection, ctx: Context, parent: str, digits: int) -> None:
    sql_problems(
        ctx,
        conn,
        f"""SELECT _row, code, {parent} FROM "{S}"
        WHERE left(code, {digits}) IS DISTINCT FROM {parent}""",
        "code",
        lambda r: f"{r[1]} does not start with its parent's code {r[2]}",
    )


def parse_villages(ctx: Context) -> pd.DataFrame:
    ctx.require("code", "name")
    code = _code(ctx, "code", 12, required=True)
    if code is None:
        return _frame(ctx)
    _unique(ctx, code, "code")
    township = _code(ctx, "township_code", 9)
    township = code.str[:9] if township is None else township.fillna(code.str[:9])
    poor = ctx.parse("is_poor_village", v.parse_bool)
    key = _vocab(ctx, "key_level", "key_level")
    if key is not None:
        poor = key.notna() if poor is None else poor.where(poor.notna(), key.notna())
        for i in np.flatnonzero((key.notna() & (poor == False)).to_numpy()):  # noqa: E712
            ctx.errors.add(int(i), ctx.label("key_level"), "a key (省定) village is a poor village")
    population = ctx.parse("population", v.parse_int, low=0)
    frame = _frame(
        ctx,
        code=code,
        township_code=township,
        name=_text(ctx, "name", True),
        is_poor_village=poor,
        key_level=key,
        helping_unit=_text(ctx, "helping_unit"),
        first_secretary=_text(ctx, "first_secretary"),
        has_standard_clinic=ctx.parse("has_standard_clinic", v.parse_bool),
        piped_water=ctx.parse("piped_water", v.parse_bool),
        population=population,
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=as_multi(ctx.geometry),
        boundary_derived=_imported_polygon(ctx),
    )
    for name in [f for f in ctx.fields.columns if f.startswith(("income_", "collective_income_"))]:
        frame[name] = ctx.parse(name, v.parse_number).to_numpy(dtype=object)
        ctx.kind.extra_staging[name] = "numeric"
    return frame


def resolve_village_parent(conn: sa.Connection, ctx: Context) -> None:
    places.require_parent(conn, ctx, "township_code", "township", ctx.label("township_code"))
    _prefix(conn, ctx, "township_code", 9)


def villages_after(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    village_incomes(conn, ctx, summary)
    if ctx.geometry is not None:
        report_misplaced_households(conn, ctx, summary)


MISPLACED_SQL = f"""
SELECT s._row, v.code, v.name, h.household_no,
       round(ST_Distance(v.geom::geography, h.geom::geography)) AS metres,
       (SELECT o.code || ' ' || o.name FROM village o
        WHERE o.geom IS NOT NULL AND NOT o.boundary_derived AND ST_Covers(o.geom, h.geom)
        ORDER BY o.code LIMIT 1) AS falls_in
FROM "{S}" s JOIN village v ON v.code = s.code JOIN household h ON h.village_code = v.code
WHERE s.geom IS NOT NULL AND NOT ST_Covers(v.geom, h.geom)
  AND NOT ST_DWithin(v.geom::geography, h.geom::geography, :tolerance)
ORDER BY s._row, h.household_no
"""


def report_misplaced_households(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    """Real village polygons replace derived ones; every household whose point they leave
    outside its own village is reported (the codes still decide where it belongs)."""
    rows = conn.execute(sa.text(MISPLACED_SQL), {"tolerance": places.TOLERANCE_M}).all()
    for row, code, name, household, metres, falls_in in rows:
        summary.misplaced.append(
            {
                "file": ctx.source.path.name,
                "row": ctx.source.row(row),
                "field": "geometry",
                "village": f"{code} {name}",
                "household_no": household,
                "distance_m": float(metres),
                "falls_in": falls_in,
            }
        )
    if rows:
        summary.notes.append(
            f"{len(rows)} households lie outside their village's new polygon "
            f"(more than {places.TOLERANCE_M:.0f} m; their village code still decides "
            "where they belong): "
            + "; ".join(
                f"row {m['row']} {m['village']}: household {m['household_no']} "
                f"{m['distance_m']:.0f} m outside, in {m['falls_in'] or 'no village'}"
                for m in summary.misplaced[:20]
            )
            + ("; …" if len(rows) > 20 else "")
        )


def village_incomes(conn: sa.Connection, ctx: Context, summary: ImportSummary) -> None:
    """income_YYYY and collective_income_YYYY columns into village_income."""
    years = sorted(
        {
            int(c.rsplit("_", 1)[1])
            for c in ctx.fields.columns
            if c.startswith(("income_", "collective_income_"))
        }
    )
    if not years:
        return
    cols = set(ctx.fields.columns)

    def col(prefix: str, year: int) -> str:
        return f's."{prefix}_{year}"' if f"{prefix}_{year}" in cols else "NULL::numeric"

    values = ", ".join(f"({y}, {col('income', y)}, {col('collective_income', y)})" for y in years)
    row = conn.execute(
        sa.text(f"""
        WITH changed AS (
            INSERT INTO village_income (village_code, year, per_capita_income, collective_income)
            SELECT s.code, y.year, y.income, y.collective FROM "{S}" s
            CROSS JOIN LATERAL (VALUES {values}) AS y(year, income, collective)
            WHERE y.income IS NOT NULL OR y.collective IS NOT NULL
            ON CONFLICT (village_code, year) DO UPDATE SET
                per_capita_income = COALESCE(excluded.per_capita_income,
                    village_income.per_capita_income),
                collective_income = COALESCE(excluded.collective_income,
                    village_income.collective_income)
            WHERE (village_income.per_capita_income, village_income.collective_income) IS
                DISTINCT FROM
                  (COALESCE(excluded.per_capita_income, village_income.per_capita_income),
                   COALESCE(excluded.collective_income, village_income.collective_income))
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM
            changed""")
    ).one()
    summary.extra["village_income"] = (row[0], row[1], None)


# --- hamlets and households ---------------------------------------------------------------------


def _village_refs(ctx: Context) -> dict[str, pd.Series | None]:
    village = _text(ctx, "village")
    township = _text(ctx, "township")
    code = _ref_code(village, 12)
    _refuse_mixed_codes_and_names(ctx, village, code)
    return {
        "village_code": code if code is not None else _empty(ctx),
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
    return _frame(
        ctx,
        **_village_refs(ctx),
        name=_text(ctx, "name", True),
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
    number = _text(ctx, "household_no", True)
    _unique(ctx, number, "household_no")
    ids = ctx.parse("id_number", v.parse_id_numbers)
    _unique(ctx, ids, "id_number")
    parsed = {
        "household_no": number,
        **_village_refs(ctx),
        "geom": ctx.geometry,
        "head_name": _text(ctx, "head_name", True),
        "id_number": ids,
        "phone": ctx.parse("phone", v.parse_phones),
        "members": ctx.parse("members", v.parse_int, low=1, high=50),
        "labour_members": ctx.parse("labour_members", v.parse_int, low=0, high=50),
        "category": _vocab(ctx, "category", "category"),
        "main_cause": _vocab(ctx, "main_cause", "cause"),
        "secondary_cause": _vocab(ctx, "secondary_cause", "cause"),
        "housing_status": _vocab(ctx, "housing_status", "housing_status"),
        "status": _status(ctx),
        "exit_year": ctx.parse("exit_year", v.parse_year),
        "registered_year": ctx.parse("registered_year", v.parse_year),
        "scattered": ctx.parse("scattered", v.parse_bool) if ctx.has("scattered") else _empty(ctx),
        "synthetic": ctx.parse("synthetic", v.parse_bool),
        **_people_refs(ctx),
        **_incomes(ctx),
        "effective_date": dated.effective_dates(ctx),
        **_listed_road_and_water(ctx),
    }
    frame = _frame(ctx, **parsed)
    ctx.add(v.household_rules(frame))
    return frame


def _listed_road_and_water(ctx: Context) -> dict[str, pd.Series | None]:
    """What the list says of road and water (compared with the map: flag list_vs_map)."""
    km = ctx.parse("listed_road_km", _kilometres)
    return {
        "listed_road_km": km,
        "listed_road_surface": _vocab(ctx, "listed_road_surface", "surface"),
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
    status = _vocab(ctx, "status", "status")
    return None if status is None else status.fillna("poor")


def _people_refs(ctx: Context) -> dict[str, pd.Series | None]:
    refs: dict[str, pd.Series | None] = {}
    if ctx.has("hamlet") or ctx.has("hamlet_id"):
        refs["hamlet_id"] = (
            ctx.parse("hamlet_id", v.parse_int, low=1) if ctx.has("hamlet_id") else _empty(ctx)
        )
        refs["hamlet_ref"] = _text(ctx, "hamlet")
    if ctx.has("cadre") or ctx.has("cadre_id"):
        refs["cadre_id"] = (
            ctx.parse("cadre_id", v.parse_int, low=1) if ctx.has("cadre_id") else _empty(ctx)
        )
        refs["cadre_ref"] = _text(ctx, "cadre")
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
        f'({int(c[7:])}, s."{c}")'
        for c in ctx.fields.columns
        if c.startswith("income_") and c[7:].isdigit()
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
    summary.notes.extend(refresh_after_import(conn, [c for c in codes if c]))


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


# --- people, records and infrastructure ---------------------------------------------------------


def parse_cadres(ctx: Context) -> pd.DataFrame:
    ctx.require("name", "unit", "unit_level", "township")
    names = _text(ctx, "name", True)
    township = _text(ctx, "township", True)
    ctx.kind.extra_staging["township_ref"] = "text"
    return _frame(
        ctx,
        name=names,
        unit=_text(ctx, "unit", True),
        unit_level=_vocab(ctx, "unit_level", "unit_level", True),
        phone=ctx.parse("phone", v.parse_phones),
        township_code=_ref_code(township, 9),
        township_ref=township,
        synthetic=ctx.parse("synthetic", v.parse_bool),
    )


def resolve_cadre_rows(conn: sa.Connection, ctx: Context) -> None:
    places.resolve_townships(conn, ctx)
    sql_problems(
        ctx,
        conn,
        f"""SELECT min(_row), name, township_code, count(*) FROM "{S}"
        GROUP BY name, township_code HAVING count(*) > 1""",
        "name",
        lambda r: f"{r[1]} appears {r[3]} times in township {r[2]}",
    )


def parse_help_records(ctx: Context) -> pd.DataFrame:
    ctx.require("household_no", "date", "measure")
    household = _text(ctx, "household_no", True)
    date = ctx.parse("date", v.parse_date)
    ctx.blank(_only_blank(ctx, "date", date), "date")
    refs = {"cadre_id": _empty(ctx), "cadre_ref": _text(ctx, "cadre")} if ctx.has("cadre") else {}
    return _frame(
        ctx,
        household_id=_empty(ctx),
        household_ref=household,
        date=date,
        measure=_vocab(ctx, "measure", "measure", True),
        note=_text(ctx, "note"),
        amount=ctx.parse("amount", v.parse_number),
        signed_household=ctx.parse("signed_household", v.parse_bool),
        signed_village=ctx.parse("signed_village", v.parse_bool),
        signed_cadre=ctx.parse("signed_cadre", v.parse_bool),
        **refs,
    )


def resolve_help_records(conn: sa.Connection, ctx: Context) -> None:
    conn.execute(
        sa.text(f"""UPDATE "{S}" s SET household_id = h.id FROM household h
                             WHERE h.household_no = s.household_ref""")
    )
    sql_problems(
        ctx,
        conn,
        f"""SELECT _row, household_ref FROM "{S}" WHERE household_id IS NULL""",
        "household_no",
        lambda r: f"no household {r[1]} in the database",
    )
    if ctx.has("cadre"):
        township = "(SELECT left(h.village_code, 9) FROM household h WHERE h.id = s.household_id)"
        resolve_cadres(conn, ctx, township)
    sql_problems(
        ctx,
        conn,
        f"""SELECT min(_row), household_ref, date, measure FROM "{S}"
        GROUP BY household_ref, date, measure HAVING count(*) > 1""",
        "date",
        lambda r: f"household {r[1]} has {r[3]} on {r[2]} more than once",
    )


def parse_roads(ctx: Context) -> pd.DataFrame:
    ctx.require("road_class", "surface")
    return _frame(
        ctx,
        name=_text(ctx, "name"),
        road_class=_vocab(ctx, "road_class", "road_class", True),
        surface=_vocab(ctx, "surface", "surface", True),
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=_single_lines(ctx),
    )


def _single_lines(ctx: Context) -> np.ndarray:
    """Road table rows are LineStrings: a MultiLineString is merged, else refused."""
    import shapely

    geoms = np.asarray(ctx.geometry, dtype=object).copy()
    multi = shapely.get_type_id(geoms) == 5
    for i in np.flatnonzero(multi):
        merged = shapely.line_merge(geoms[i])
        if merged.geom_type == "LineString":
            geoms[i] = merged
        else:
            ctx.errors.add(
                int(i),
                "geometry",
                f"{len(merged.geoms)} separate lines: split them into one road per row",
            )
    return geoms


def parse_named_points(vocab_field: str, vocab_name: str):
    """Clinics, schools, water: a name, a value-set field and a location."""

    def parse(ctx: Context) -> pd.DataFrame:
        ctx.require("name", vocab_field)
        columns = {
            "name": _text(ctx, "name", True),
            vocab_field: _vocab(ctx, vocab_field, vocab_name, True),
            "synthetic": ctx.parse("synthetic", v.parse_bool),
            "geom": ctx.geometry,
        }
        if ctx.kind.table == "clinic":
            columns |= _clinic_places(ctx)
        return _frame(ctx, **columns)

    return parse


def _clinic_places(ctx: Context) -> dict[str, pd.Series | None]:
    village = _text(ctx, "village")
    township = _text(ctx, "township")
    ctx.kind.extra_staging |= {"village_ref": "text", "township_ref": "text"}
    return {
        "standard": ctx.parse("standard", v.parse_bool),
        "village_code": _ref_code(village, 12) if village is not None else _empty(ctx),
        "township_code": _ref_code(township, 9) if township is not None else _empty(ctx),
        "village_ref": village if village is not None else _empty(ctx),
        "township_ref": township if township is not None else _empty(ctx),
    }


def resolve_clinics(conn: sa.Connection, ctx: Context) -> None:
    """Township and village by code or name, else where the clinic is."""
    places.resolve_townships(conn, ctx)
    if ctx.has("village"):
        conn.execute(
            sa.text(f"""UPDATE "{S}" s SET village_code = v.code FROM village v
            WHERE s.village_code IS NULL AND v.name = s.village_ref
              AND (s.township_code IS NULL OR v.township_code = s.township_code)""")
        )
        places.require_parent(conn, ctx, "village_code", "village", ctx.label("village"))
    conn.execute(
        sa.text(f"""UPDATE "{S}" s SET
        township_code = COALESCE(s.township_code, left(s.village_code, 9),
            (SELECT t.code FROM township t WHERE ST_Covers(t.geom, s.geom) ORDER BY t.code
                LIMIT 1))""")
    )
    conn.execute(
        sa.text(f"""UPDATE "{S}" s SET village_code = (SELECT v.code FROM village v
        WHERE ST_Covers(v.geom, s.geom) AND v.township_code = s.township_code ORDER BY v.code
            LIMIT 1)
        WHERE s.village_code IS NULL AND s.level = 'village_clinic'""")
    )
    sql_problems(
        ctx,
        conn,
        f"""SELECT _row, village_code, township_code FROM "{S}"
        WHERE left(village_code, 9) <> township_code""",
        "village",
        lambda r: f"village {r[1]} is not in township {r[2]}",
    )


def parse_water(ctx: Context) -> pd.DataFrame:
    return parse_named_points("kind", "water_kind")(ctx)


def parse_hazards(ctx: Context) -> pd.DataFrame:
    ctx.require("kind", "level")
    return _frame(
        ctx,
        kind=_vocab(ctx, "kind", "hazard_kind", True),
        level=_vocab(ctx, "level", "hazard_level", True),
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=as_multi(ctx.geometry),
    )


def _names(*names: str) -> tuple[str, ...]:
    return names


HOUSEHOLD_UPDATE = {"updated_at": "now()", "version": "{t}.version + 1"}
POLYGON, POINT, LINE = frozenset({"Polygon"}), frozenset({"Point"}), frozenset({"LineString"})

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "boundaries",
            "county",
            ("code",),
            parse_counties,
            POLYGON,
            layer_names=_names("county", "counties", "boundaries", "县"),
            scope_code="s.code",
            scope_field="code",
        ),
        Kind(
            "townships",
            "township",
            ("code",),
            parse_townships,
            POLYGON,
            resolve=resolve_townships_parent,
            layer_names=_names("township", "townships", "乡镇"),
            scope_code="s.code",
            scope_field="code",
        ),
        Kind(
            "villages",
            "village",
            ("code",),
            parse_villages,
            POLYGON,
            resolve=resolve_village_parent,
            after=villages_after,
            layer_names=_names("village", "villages", "行政村"),
            scope_code="s.code",
            scope_field="code",
        ),
        Kind(
            "hamlets",
            "hamlet",
            ("village_code", "name"),
            parse_hamlets,
            POINT,
            resolve=resolve_hamlets,
            after=derive_boundaries_after,
            layer_names=_names("hamlet", "hamlets", "自然村"),
            scope_code="s.village_code",
            extra_staging={"village_ref": "text", "township_ref": "text"},
            bounds=GUANGDONG_BOUNDS,
        ),
        Kind(
            "households",
            "household",
            ("household_no",),
            parse_households,
            POINT,
            resolve=resolve_households,
            after=households_after,
            around_insert=new_households,
            on_update=HOUSEHOLD_UPDATE,
            layer_names=_names("household", "households", "贫困户"),
            scope_code="s.village_code",
            bounds=GUANGDONG_BOUNDS,
            extra_staging={
                "village_ref": "text",
                "township_ref": "text",
                "hamlet_ref": "text",
                "cadre_ref": "text",
                "income": "numeric",
                "income_year": "integer",
                "effective_date": "date",
            },
        ),
        Kind(
            "cadres",
            "cadre",
            ("township_code", "name"),
            parse_cadres,
            conflict=False,
            resolve=resolve_cadre_rows,
            layer_names=_names("cadre", "cadres"),
            scope_code="s.township_code",
            scope_field="township",
        ),
        Kind(
            "help-records",
            "help_record",
            ("household_id", "date", "measure"),
            parse_help_records,
            conflict=False,
            resolve=resolve_help_records,
            extra_staging={"household_ref": "text", "cadre_ref": "text"},
            layer_names=_names("help_record", "help_records", "help-records"),
            scope_code="(SELECT h.village_code FROM household h WHERE h.id = s.household_id)",
            scope_field="household_no",
        ),
        Kind(
            "roads",
            "road",
            ("geom",),
            parse_roads,
            LINE,
            conflict=False,
            layer_names=_names("road", "roads", "道路"),
        ),
        Kind(
            "clinics",
            "clinic",
            ("name", "level"),
            parse_named_points("level", "clinic_level"),
            POINT,
            conflict=False,
            resolve=resolve_clinics,
            layer_names=_names("clinic", "clinics"),
            scope_code="coalesce(s.village_code, s.township_code)",
            bounds=GUANGDONG_BOUNDS,
        ),
        Kind(
            "water",
            "water",
            ("name", "kind"),
            parse_water,
            frozenset({"Point", "Polygon"}),
            conflict=False,
            layer_names=_names("water"),
        ),
        Kind(
            "schools",
            "school",
            ("name", "level"),
            parse_named_points("level", "school_level"),
            POINT,
            conflict=False,
            layer_names=_names("school", "schools"),
            bounds=GUANGDONG_BOUNDS,
        ),
        Kind(
            "hazards",
            "hazard_zone",
            ("kind", "geom"),
            parse_hazards,
            POLYGON,
            conflict=False,
            layer_names=_names("hazard", "hazards", "hazard_zone"),
        ),
    )
}
