"""Crafted households with a dated history, for the history, flag and report tests.

Every change goes through the ordinary tables (INSERT/UPDATE household and household_income)
with ``gongjian.effective_date`` set, exactly as an import or an API edit would: the
triggers of migration 0005 write the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from layers.history import households_as_of, set_effective_date
from tests import builders as b

D = dt.date


def household(conn: sa.Connection, place: b.Place, day: dt.date, **fields: Any) -> int:
    """A household registered (inserted) on ``day``; returns its id."""
    set_effective_date(conn, day)
    row = b.household(hamlet_id=place.hamlet_id, cadre_id=place.cadre_id) | fields
    return b.insert(conn, "household", row)


def update(conn: sa.Connection, household_id: int, day: dt.date, **fields: Any) -> None:
    """Change household fields with effect from ``day``; ``geom`` as EWKT."""
    set_effective_date(conn, day)
    assignments = ", ".join(
        f"{k} = ST_GeomFromEWKT(:{k})" if k == "geom" else f"{k} = :{k}" for k in fields
    )
    conn.execute(
        sa.text(f"UPDATE household SET {assignments} WHERE id = :id"),
        {**fields, "id": household_id},
    )


def exit_on(conn: sa.Connection, household_id: int, day: dt.date) -> None:
    update(conn, household_id, day, status="exited", exit_year=day.year)


def income(conn: sa.Connection, household_id: int, year: int, amount: float, day: dt.date) -> None:
    """Record (or correct) the per-capita income of ``year`` with effect from ``day``."""
    set_effective_date(conn, day)
    conn.execute(
        sa.text(
            "INSERT INTO household_income (household_id, year, per_capita_income) "
            "VALUES (:h, :y, :a) ON CONFLICT (household_id, year) "
            "DO UPDATE SET per_capita_income = excluded.per_capita_income"
        ),
        {"h": household_id, "y": year, "a": amount},
    )


def help_record(
    conn: sa.Connection, household_id: int, day: dt.date, cadre_id: int | None, measure="policy"
) -> None:
    b.insert(
        conn,
        "help_record",
        {
            "household_id": household_id,
            "date": day,
            "cadre_id": cadre_id,
            "measure": measure,
            "note": "走访",
            "signed_household": True,
            "signed_village": True,
            "signed_cadre": True,
        },
    )


def state(conn: sa.Connection, household_id: int, day: dt.date) -> dict | None:
    """The household as of ``day`` (None before it was registered)."""
    frame = households_as_of(conn, day, b.TOWNSHIP)
    rows = frame[frame["id"] == household_id]
    return None if rows.empty else rows.iloc[0].to_dict()


def metres_east(metres: float) -> float:
    """Degrees of longitude for ``metres`` at the builders' latitude."""
    import math

    return metres / (111_320 * math.cos(math.radians(b.Y)))


def point_m(east_m: float = 0.0, north_m: float = 0.0, dx: float = 0.002, dy: float = 0.001):
    """EWKT of a point ``east_m``/``north_m`` metres from the builders' household point."""
    return b.point(dx + metres_east(east_m), dy + north_m / 110_540)
