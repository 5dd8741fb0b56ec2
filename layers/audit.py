"""The audit log: who changed which row, when, and what it looked like before and after.

Writes of the API call :func:`record` in the same transaction as the change, so a change
without its audit row cannot be committed (and vice versa).

>>> strip_volatile({"id": 1, "geom": None, "updated_at": "x"})
{'id': 1, 'geom': None}
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

# Columns that are bookkeeping, not content: kept out of before/after comparisons.
VOLATILE = frozenset({"updated_at"})


def snapshot(
    conn: sa.Connection,
    table: str,
    row_id: object,
    *,
    lock: bool = False,
    geometry: str | None = "geom",
) -> dict | None:
    """A row as JSON (geometry as GeoJSON), or None. ``table`` comes from our code only."""
    row = "to_jsonb(t)"
    if geometry:
        as_geojson = f"ST_AsGeoJSON(t.{geometry})::jsonb"
        row = f"to_jsonb(t) - '{geometry}' || jsonb_build_object('{geometry}', {as_geojson})"
    sql = f"SELECT {row} FROM {table} t WHERE t.id = :id{' FOR UPDATE' if lock else ''}"
    return conn.execute(sa.text(sql), {"id": row_id}).scalar()


def record(
    conn: sa.Connection,
    table: str,
    row_id: object,
    action: str,
    actor: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> int:
    """Append one audit row; returns its id."""
    return conn.execute(
        sa.text(
            "INSERT INTO audit_log (table_name, row_id, action, actor, before, after) "
            "VALUES (:table, :row, :action, :actor, CAST(:before AS jsonb), CAST(:after AS jsonb)) "
            "RETURNING id"
        ),
        {
            "table": table,
            "row": str(row_id),
            "action": action,
            "actor": actor,
            "before": _dump(before),
            "after": _dump(after),
        },
    ).scalar_one()


def history(conn: sa.Connection, table: str, row_id: object) -> list[dict[str, Any]]:
    """The audit rows of one row, oldest first."""
    rows = conn.execute(
        sa.text(
            "SELECT id, action, actor, at, before, after FROM audit_log "
            "WHERE table_name = :table AND row_id = :row ORDER BY id"
        ),
        {"table": table, "row": str(row_id)},
    ).mappings()
    return [dict(r) for r in rows]


def strip_volatile(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in VOLATILE}


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
