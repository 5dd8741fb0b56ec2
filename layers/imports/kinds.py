"""The KINDs of ``gongjian import``: how each file's fields become rows of its table.

Each ``parse_*`` turns the mapped columns into the table's columns (plus ``*_ref`` helper
columns that the database resolves, like a village given by name), adding a problem for
every bad value. A column the file does not have is not written, so importing a partial
file (codes and populations only, say) leaves the other columns as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo import validate as v
from geo.validate import GUANGDONG_BOUNDS
from layers.imports import columns as c
from layers.imports import households as hh
from layers.imports import places
from layers.imports.base import ImportSummary
from layers.imports.core import STAGING, Context, Kind, sql_problems
from layers.imports.locate import as_multi

S = STAGING


# --- boundaries, townships, villages ----------------------------------------------------------


def parse_counties(ctx: Context) -> pd.DataFrame:
    ctx.require("code", "name", "city")
    code = c.code(ctx, "code", 6, required=True)
    c.unique(ctx, code, "code")
    city_code = c.code(ctx, "city_code", 4)
    if code is not None:
        derived = code.str[:4]  # a county code's first four digits are its city's (GB/T 2260)
        city_code = derived if city_code is None else city_code.fillna(derived)
    return c.frame(
        ctx,
        code=code,
        name=c.text(ctx, "name", True),
        city=c.text(ctx, "city", True),
        city_code=city_code,
        pairing_city=c.text(ctx, "pairing_city"),
        synthetic=ctx.parse("synthetic", v.parse_bool),
        geom=as_multi(ctx.geometry),
    )


def parse_townships(ctx: Context) -> pd.DataFrame:
    ctx.require("code", "name")
    code = c.code(ctx, "code", 9, required=True)
    if code is None:
        return c.frame(ctx)
    c.unique(ctx, code, "code")
    county = c.code(ctx, "county_code", 6)
    county = code.str[:6] if county is None else county.fillna(code.str[:6])
    seat = None
    if ctx.has("seat_longitude") and ctx.has("seat_latitude"):
        seat = _seat(ctx)
    return c.frame(
        ctx,
        code=code,
        county_code=county,
        name=c.text(ctx, "name", True),
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
    code = c.code(ctx, "code", 12, required=True)
    if code is None:
        return c.frame(ctx)
    c.unique(ctx, code, "code")
    township = c.code(ctx, "township_code", 9)
    township = code.str[:9] if township is None else township.fillna(code.str[:9])
    poor = ctx.parse("is_poor_village", v.parse_bool)
    key = c.vocab(ctx, "key_level", "key_level")
    if key is not None:
        poor = key.notna() if poor is None else poor.where(poor.notna(), key.notna())
        for i in np.flatnonzero((key.notna() & (poor == False)).to_numpy()):  # noqa: E712
            ctx.errors.add(int(i), ctx.label("key_level"), "a key (省定) village is a poor village")
    population = ctx.parse("population", v.parse_int, low=0)
    frame = c.frame(
        ctx,
        code=code,
        township_code=township,
        name=c.text(ctx, "name", True),
        is_poor_village=poor,
        key_level=key,
        helping_unit=c.text(ctx, "helping_unit"),
        first_secretary=c.text(ctx, "first_secretary"),
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
            int(column.rsplit("_", 1)[1])
            for column in ctx.fields.columns
            if column.startswith(("income_", "collective_income_"))
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


# --- people, records and infrastructure ---------------------------------------------------------


def parse_cadres(ctx: Context) -> pd.DataFrame:
    ctx.require("name", "unit", "unit_level", "township")
    names = c.text(ctx, "name", True)
    township = c.text(ctx, "township", True)
    ctx.kind.extra_staging["township_ref"] = "text"
    return c.frame(
        ctx,
        name=names,
        unit=c.text(ctx, "unit", True),
        unit_level=c.vocab(ctx, "unit_level", "unit_level", True),
        phone=ctx.parse("phone", v.parse_phones),
        township_code=c.ref_code(township, 9),
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
    household = c.text(ctx, "household_no", True)
    date = ctx.parse("date", v.parse_date)
    ctx.blank(c.only_blank(ctx, "date", date), "date")
    refs = {"cadre_id": c.empty(ctx), "cadre_ref": c.text(ctx, "cadre")} if ctx.has("cadre") else {}
    return c.frame(
        ctx,
        household_id=c.empty(ctx),
        household_ref=household,
        date=date,
        measure=c.vocab(ctx, "measure", "measure", True),
        note=c.text(ctx, "note"),
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
        hh.resolve_cadres(conn, ctx, township)
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
    return c.frame(
        ctx,
        name=c.text(ctx, "name"),
        road_class=c.vocab(ctx, "road_class", "road_class", True),
        surface=c.vocab(ctx, "surface", "surface", True),
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
            "name": c.text(ctx, "name", True),
            vocab_field: c.vocab(ctx, vocab_field, vocab_name, True),
            "synthetic": ctx.parse("synthetic", v.parse_bool),
            "geom": ctx.geometry,
        }
        if ctx.kind.table == "clinic":
            columns |= _clinic_places(ctx)
        return c.frame(ctx, **columns)

    return parse


def _clinic_places(ctx: Context) -> dict[str, pd.Series | None]:
    village = c.text(ctx, "village")
    township = c.text(ctx, "township")
    ctx.kind.extra_staging |= {"village_ref": "text", "township_ref": "text"}
    return {
        "standard": ctx.parse("standard", v.parse_bool),
        "village_code": c.ref_code(village, 12) if village is not None else c.empty(ctx),
        "township_code": c.ref_code(township, 9) if township is not None else c.empty(ctx),
        "village_ref": village if village is not None else c.empty(ctx),
        "township_ref": township if township is not None else c.empty(ctx),
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
    return c.frame(
        ctx,
        kind=c.vocab(ctx, "kind", "hazard_kind", True),
        level=c.vocab(ctx, "level", "hazard_level", True),
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
            hh.parse_hamlets,
            POINT,
            resolve=hh.resolve_hamlets,
            after=hh.derive_boundaries_after,
            layer_names=_names("hamlet", "hamlets", "自然村"),
            scope_code="s.village_code",
            extra_staging={"village_ref": "text", "township_ref": "text"},
            bounds=GUANGDONG_BOUNDS,
        ),
        Kind(
            "households",
            "household",
            ("household_no",),
            hh.parse_households,
            POINT,
            resolve=hh.resolve_households,
            after=hh.households_after,
            around_insert=hh.new_households,
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
