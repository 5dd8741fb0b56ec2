"""What the analysis stores (coverage, relocation) share: which townships to assess, COPY of
result frames into their tables, scope conditions and the XLSX/CSV export of their tables.

>>> analysis_scope(None, "t.village_code", {})
'true'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.access import code_in_scope
from layers.bulk import copy_frame
from layers.models import Base


def township_groups(
    engine: Engine, township: str | None, county: str | None, error: type[Exception]
) -> dict[str, list[str]]:
    """county code → the township codes to assess (default: townships with households).

    Raises ``error`` naming what was not found.
    """
    if township is not None:
        sql, params = "code = :c", {"c": township}
        missing = f"no township with code {township!r}"
    elif county is not None:
        sql, params = "county_code = :c", {"c": county}
        missing = f"no townships in county {county!r}"
    else:
        sql, params = "code IN (SELECT DISTINCT left(village_code, 9) FROM household)", {}
        missing = "no households in the database (load some, or the demo)"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT county_code, code FROM township WHERE {sql} ORDER BY 1, 2"), params
        ).all()
    if not rows:
        raise error(missing)
    groups: dict[str, list[str]] = {}
    for county_code, code in rows:
        groups.setdefault(county_code, []).append(code)
    return groups


def copy_results(conn: sa.Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY a result frame into ``table`` (its model's columns; id and time are the table's)."""
    columns = [
        c.name
        for c in Base.metadata.tables[table].columns
        if c.name in frame.columns and c.name not in ("id", "computed_at")
    ]
    return copy_frame(conn, table, frame, columns)


def analysis_scope(scope: str | None, column: str, params: dict) -> str:
    """SQL condition: ``column`` inside ``scope`` (binds :scope into ``params``); None: all."""
    if scope is None:
        return "true"
    params["scope"] = scope
    return code_in_scope(column)


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    path: Path,
    *,
    csv_table: str,
    sheet_names: Mapping[str, str],
    notes: list[str],
    neutralise: Callable[[pd.DataFrame], pd.DataFrame],
) -> Path:
    """``.csv``: the ``csv_table``; ``.xlsx``: a 说明 sheet with ``notes``, then one sheet per
    table. Cells go through ``neutralise`` (rounding, no formula-like text) first."""
    path = Path(path)
    safe = {k: neutralise(v) for k, v in tables.items()}
    if path.suffix.lower() == ".csv":
        safe[csv_table].to_csv(path, index=False, encoding="utf-8-sig")
        return path
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"{path.name}: export as .csv or .xlsx")
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"说明": notes}).to_excel(writer, sheet_name="说明", index=False)
        for key, frame in safe.items():
            frame.to_excel(writer, sheet_name=sheet_names[key], index=False)
    return path
