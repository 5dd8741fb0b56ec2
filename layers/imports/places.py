"""Database checks shared by the KINDs: finding townships and villages by code or name, by
location, and points that fall outside the village they claim to be in.

Each function works on the staging table of the running import (rows keyed by ``_row``)
and adds problems to the import's context; nothing here writes to the layers.
"""

from __future__ import annotations

import numpy as np
import shapely
import sqlalchemy as sa

from geo.validate import guess_offset
from layers.imports.core import STAGING, Context, sql_problems

S = STAGING
TOLERANCE_M = 10.0  # GPS error: a point this close to its village's edge counts as inside
GUESS_SAMPLE = 5000  # rows compared as WGS84 / GCJ-02 / BD-09


def analyse(conn: sa.Connection) -> None:
    """Statistics for the planner: the staging table is new and may be big."""
    conn.execute(sa.text(f'ANALYZE "{S}"'))


def resolve_townships(conn: sa.Connection, ctx: Context, ref: str = "township") -> None:
    """``township_code`` from a 9-digit code or a unique township name in column ``ref``."""
    if not ctx.has(ref):
        return
    conn.execute(
        sa.text(f"""UPDATE "{S}" SET township_code = township_ref
                             WHERE township_code IS NULL AND township_ref ~ '^\\d{{9}}$'""")
    )
    conn.execute(
        sa.text(f"""
        UPDATE "{S}" s SET township_code = t.code
        FROM (SELECT name, min(code) AS code, count(*) AS n FROM township GROUP BY name) t
        WHERE s.township_code IS NULL AND t.name = s.township_ref AND t.n = 1""")
    )
    sql_problems(
        ctx,
        conn,
        f"""
        SELECT s._row, s.township_ref, (SELECT count(*) FROM township t WHERE t.name =
            s.township_ref)
        FROM "{S}" s WHERE s.township_code IS NULL AND s.township_ref IS NOT NULL""",
        ref,
        lambda r: (
            f"{r[1]!r} matches {r[2]} townships: use the 9-digit code"
            if r[2] > 1
            else f"no township {r[1]!r} in the database (import townships first)"
        ),
    )
    require_parent(conn, ctx, "township_code", "township", ref)


def require_parent(conn: sa.Connection, ctx: Context, column: str, table: str, label: str) -> None:
    """A problem for each staged row whose ``column`` names no row of ``table``."""
    sql_problems(
        ctx,
        conn,
        f"""
        SELECT s._row, s.{column} FROM "{S}" s
        WHERE s.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.code =
            s.{column})""",
        label,
        lambda r: f"no {table} with code {r[1]} in the database (import {table}s first)",
    )


def resolve_villages(conn: sa.Connection, ctx: Context) -> None:
    """``village_code`` from a 12-digit code, a village name (within the row's township when
    given), or, without a village column, from where the point is."""
    if ctx.has("village"):
        _villages_by_name(conn, ctx)
        require_parent(conn, ctx, "village_code", "village", ctx.label("village"))
    else:
        _villages_by_location(conn, ctx)


def _villages_by_name(conn: sa.Connection, ctx: Context) -> None:
    """A village name (as offices write it, 大塘村, or official, 大塘村委会) within the row's
    township when given; a name matching several villages is refused listing them."""
    matches = """
        FROM village v JOIN township t ON t.code = v.township_code
        WHERE s2.village_ref IN (v.name, v.official_name)
          AND (s2.township_ref IS NULL OR s2.township_ref IN (t.code, t.name))"""
    conn.execute(
        sa.text(f"""
        UPDATE "{S}" s SET village_code = m.code FROM (
            SELECT s2._row, min(v.code) AS code, count(*) AS n FROM "{S}" s2
            JOIN village v ON s2.village_ref IN (v.name, v.official_name)
            JOIN township t ON t.code = v.township_code
            WHERE s2.village_code IS NULL AND s2.village_ref IS NOT NULL
              AND (s2.township_ref IS NULL OR s2.township_ref IN (t.code, t.name))
            GROUP BY s2._row) m
        WHERE m._row = s._row AND m.n = 1""")
    )
    sql_problems(
        ctx,
        conn,
        f"""
        SELECT s._row, s.village_ref, s.township_ref,
            (SELECT string_agg(v.code || ' ' || v.name || '（' || t.name || '）', '、'
                               ORDER BY v.code) {matches.replace("s2.", "s.")}),
            (SELECT count(*) {matches.replace("s2.", "s.")})
        FROM "{S}" s WHERE s.village_code IS NULL AND s.village_ref IS NOT NULL""",
        "village",
        lambda r: (
            f"village {r[1]!r} matches {r[4]} villages ({r[3]}): "
            + ("use the 12-digit code" if r[2] else "add a 乡镇 column or use the 12-digit code")
            if r[4] > 1
            else f"no village {r[1]!r}"
            + (f" in township {r[2]!r}" if r[2] else "")
            + " in the database"
        ),
    )


def _villages_by_location(conn: sa.Connection, ctx: Context) -> None:
    conn.execute(
        sa.text(f"""
        UPDATE "{S}" s SET village_code = (SELECT v.code FROM village v
            WHERE ST_Covers(v.geom, s.geom) AND NOT v.boundary_derived ORDER BY v.code LIMIT 1)
        WHERE s.village_code IS NULL""")
    )
    sql_problems(
        ctx,
        conn,
        f"""
        SELECT s._row, n.code, n.name, round(ST_Distance(n.geom::geography, s.geom::geography))
        FROM "{S}" s LEFT JOIN LATERAL (SELECT code, name, geom FROM village
            WHERE geom IS NOT NULL AND NOT boundary_derived ORDER BY geom <-> s.geom LIMIT 1) n
            ON true
        WHERE s.village_code IS NULL""",
        "geometry",
        lambda r: (
            "inside no village (with an imported polygon) and no village column to say which"
            + (f" (nearest: {r[1]} {r[2]}, {r[3]:.0f} m away)" if r[1] else "")
        ),
    )


def points_in_villages(conn: sa.Connection, ctx: Context) -> None:
    """Each point inside (or within 10 m of) its declared village, else distance and where it is.

    When the coordinate system was not declared and the points fit their villages clearly
    better as GCJ-02 or BD-09, the whole file is refused saying so.
    """
    if not ctx.has("village"):
        return
    rows = conn.execute(
        sa.text(f"""
        SELECT s._row, s.village_code, v.name, round(ST_Distance(v.geom::geography,
            s.geom::geography)),
            (SELECT o.code || ' ' || o.name FROM village o WHERE ST_Covers(o.geom, s.geom)
             AND NOT o.boundary_derived ORDER BY o.code LIMIT 1), ST_X(s.geom), ST_Y(s.geom)
        FROM "{S}" s JOIN village v ON v.code = s.village_code
        WHERE NOT v.boundary_derived AND NOT ST_Covers(v.geom, s.geom)
          AND NOT ST_DWithin(v.geom::geography, s.geom::geography, :tolerance)"""),
        {"tolerance": TOLERANCE_M},
    ).all()
    for row in rows:
        where = f"it lies in {row[4]}" if row[4] else "it lies in no village in the database"
        ctx.errors.add(
            row[0],
            _point_label(ctx),
            f"({row[5]:.6f}, {row[6]:.6f}) is {row[3]:.0f} m "
            f"outside its village {row[1]} {row[2]}; {where}",
        )
    if rows:
        _offset_check(conn, ctx, len(rows))


def _point_label(ctx: Context) -> str:
    return ctx.label("longitude") if ctx.has("longitude") else "geometry"


def _offset_check(conn: sa.Connection, ctx: Context, misfits: int) -> None:
    sample = conn.execute(
        sa.text(f"""
        SELECT ST_X(s.geom), ST_Y(s.geom), ST_AsBinary(v.geom) FROM "{S}" s
        JOIN village v ON v.code = s.village_code
        WHERE v.geom IS NOT NULL AND NOT v.boundary_derived ORDER BY s._row LIMIT :n"""),
        {"n": GUESS_SAMPLE},
    ).all()
    x = np.array([r[0] for r in sample])
    y = np.array([r[1] for r in sample])
    polygons = shapely.from_wkb(np.array([bytes(r[2]) for r in sample], dtype=object))
    guess = guess_offset(x, y, polygons)
    better = guess.better
    if better is None:
        return
    app = "AMap/Tencent" if better == "gcj02" else "Baidu"
    fit = getattr(guess, better)
    finding = (
        f"{guess.as_given} of {guess.total} points lie in their village as WGS84, "
        f"{fit} of {guess.total} after converting from {better.upper()} ({app})"
    )
    if ctx.crs_declared:
        ctx.errors.hints.append(f"{finding}: if they come from {app}, re-run with --crs {better}")
    else:
        ctx.errors.file_error(
            _point_label(ctx),
            f"the coordinates declare no system and fit their "
            f"villages far better as {better.upper()}: {finding}. Re-run with "
            f"--crs {better} (or --crs wgs84 if they really are GPS coordinates)",
        )
