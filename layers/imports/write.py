"""Writing an import: COPY into a staging table, then one upsert that touches changed rows only.

The staging table is a temporary table of the import's transaction (``ON COMMIT DROP``), so a
killed import leaves nothing behind. The upsert is ``INSERT … ON CONFLICT (key) DO UPDATE …
WHERE (old columns) IS DISTINCT FROM (new columns)`` where the key has a unique constraint,
else an UPDATE of matching rows plus an INSERT of the others; either way an identical row
is not touched, so re-importing a file changes nothing. The audit log gets one summary row
per import (file, checksum, counts, keys of inserted and updated rows) and one row per
updated row with its values before and after.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
import sqlalchemy as sa

from layers.imports.base import NoProgress, Progress

COPY_BATCH = 50_000  # rows per COPY chunk (and progress step)
BULK_THRESHOLD = 50_000  # from this many rows (and more than the table has) load in bulk
# bulk_mode's key for a table whose every index goes, the primary key too: nothing looks its
# rows up while it loads (household_income: 2.8 million rows for the province, whose primary
# key costs twice as much kept up row by row as built after)
NO_INDEX_KEPT = None
ROW_COLUMN = "_row"  # staging column: the row's position in the file

# Wraps a bulk insert of new rows whose ids are known (write.upsert): a context manager.
AroundInsert = Callable[[sa.Connection], contextlib.AbstractContextManager]


@dataclass
class Target:
    """Where staged rows go and how they are matched to existing rows."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # written columns, key included
    conflict: bool = True  # the key has a unique constraint (ON CONFLICT works)
    on_update: dict[str, str] = field(default_factory=dict)  # SET column = SQL ({t}: table)

    @property
    def primary_key(self) -> tuple[str, ...]:
        from layers.models import Base

        return tuple(c.name for c in Base.metadata.tables[self.table].primary_key.columns)

    def row_id(self, alias: str) -> str:
        """The primary key as text (composite keys joined with '/')."""
        parts = [f'{alias}."{c}"::text' for c in self.primary_key]
        return parts[0] if len(parts) == 1 else f"concat_ws('/', {', '.join(parts)})"

    @property
    def compared(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.key)


def create_staging(
    conn: sa.Connection, name: str, columns: dict[str, str], points: frozenset[str] = frozenset()
) -> None:
    """A temporary table dropped at commit or rollback; ``columns`` maps name → SQL type.

    A column in ``points`` is staged as two doubles (``col__x``, ``col__y``) from which the
    database makes the point: much faster than parsing EWKB for hundreds of thousands.
    """
    parts = []
    for column, sql_type in columns.items():
        if column in points:
            x, y = f"{column}__x", f"{column}__y"
            parts += [
                f'"{x}" float8',
                f'"{y}" float8',
                f'"{column}" geometry GENERATED ALWAYS AS '
                f'(ST_SetSRID(ST_MakePoint("{x}", "{y}"), 4326)) STORED',
            ]
        else:
            parts.append(f'"{column}" {sql_type}')
    body = ", ".join(parts)
    conn.execute(
        sa.text(f'CREATE TEMP TABLE "{name}" ({body}, "{ROW_COLUMN}" integer) ON COMMIT DROP')
    )


def copy_staging(
    conn: sa.Connection,
    name: str,
    frame: pd.DataFrame,
    progress: Progress | None = None,
    points: frozenset[str] = frozenset(),
) -> int:
    """COPY ``frame`` (its columns named as the staging table's) via CSV made by pyarrow.

    Geometry columns (shapely objects) go in as hex EWKB with SRID 4326, those in ``points``
    as x/y doubles (see create_staging).
    """
    progress = progress or NoProgress()
    table = _arrow_table(frame, points)
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    raw = conn.connection.dbapi_connection
    sql = f'COPY "{name}" ({columns}) FROM STDIN WITH (FORMAT csv)'
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for start in range(0, table.num_rows, COPY_BATCH):
            chunk = table.slice(start, COPY_BATCH)
            buffer = io.BytesIO()
            pacsv.write_csv(chunk, buffer, pacsv.WriteOptions(include_header=False))
            copy.write(buffer.getbuffer())
            progress.advance(chunk.num_rows)
    return table.num_rows


def _arrow_table(frame: pd.DataFrame, points: frozenset[str]) -> pa.Table:
    arrays = {}
    for column in frame.columns:
        values = frame[column]
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if column in points:
            geoms = np.asarray(values, dtype=object)
            arrays[f"{column}__x"] = pa.array(shapely.get_x(geoms), from_pandas=True)
            arrays[f"{column}__y"] = pa.array(shapely.get_y(geoms), from_pandas=True)
        elif values.dtype.name == "geometry" or (kind == "mixed" and _holds_geometry(values)):
            geoms = np.asarray(values, dtype=object)
            hexes = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
            arrays[column] = pa.array(hexes, type=pa.string(), from_pandas=True)
        elif kind == "integer" and values.dtype == object:
            arrays[column] = pa.array(values.astype("Int64"), from_pandas=True)
        elif kind == "empty":
            arrays[column] = pa.nulls(len(values), pa.string())
        else:
            arrays[column] = pa.array(values, from_pandas=True)
    return pa.table(arrays)


def _holds_geometry(values: pd.Series) -> bool:
    first = values.dropna().head(1)
    return len(first) == 1 and isinstance(first.iloc[0], shapely.Geometry)


def upsert(
    conn: sa.Connection,
    target: Target,
    staging: str,
    *,
    actor: str,
    meta: dict,
    bulk: bool = False,
    around_insert: AroundInsert | None = None,
) -> tuple[int, int]:
    """Insert new and update changed rows from ``staging``; audit; return (inserted, updated).

    ``INSERT … ON CONFLICT`` is safe against concurrent writers but inserts speculatively,
    three times slower for hundreds of thousands of rows; under ``bulk`` the import holds an
    exclusive lock anyway, so it updates changed rows and plainly inserts the new ones.
    Then, for a table with a serial ``id``, the new rows get their ids before they are
    inserted (temporary table ``_import_new``: ``_row``, ``id``), and the insert runs inside
    ``around_insert``: child rows can go in first (their foreign keys are dropped in bulk
    mode) and work that needs the inserted rows can follow (households: their incomes go in
    before, their first archive versions are written set-based after).
    """
    _save_before_images(conn, target, staging)
    if target.conflict and not bulk:
        inserted, updated = _insert_on_conflict(conn, target, staging, actor, meta)
    else:
        inserted, updated = _update_then_insert(
            conn, target, staging, actor, meta, around_insert if bulk else None
        )
    _audit_updates(conn, target, actor)
    return inserted, updated


def _match(target: Target, left: str, right: str) -> str:
    """Key equality (every key column is NOT NULL in the schema, so ``=`` and indexes work)."""
    return " AND ".join(f'{left}."{k}" = {right}."{k}"' for k in target.key)


def _distinct(target: Target, left: str, right: str) -> str:
    if not target.compared:
        return "false"
    old = ", ".join(f'{left}."{c}"' for c in target.compared)
    new = ", ".join(f'{right}."{c}"' for c in target.compared)
    return f"ROW({old}) IS DISTINCT FROM ROW({new})"


def _save_before_images(conn: sa.Connection, target: Target, staging: str) -> None:
    """Rows about to change, as they are now (the audit log's ``before``)."""
    conn.execute(sa.text('DROP TABLE IF EXISTS "_import_before"'))
    conn.execute(
        sa.text(
            'CREATE TEMP TABLE "_import_before" ON COMMIT DROP AS '
            f'SELECT t.* FROM "{target.table}" t '
            f'JOIN "{staging}" s ON {_match(target, "t", "s")} WHERE {_distinct(target, "t", "s")}'
        )
    )


def _key_json(target: Target, alias: str) -> str:
    if len(target.key) == 1:
        return f'{alias}."{target.key[0]}"'
    return "jsonb_build_array(" + ", ".join(f'{alias}."{k}"' for k in target.key) + ")"


def _insert_on_conflict(
    conn, target: Target, staging: str, actor: str, meta: dict
) -> tuple[int, int]:
    columns = ", ".join(f'"{c}"' for c in target.columns)
    sets = [f'"{c}" = excluded."{c}"' for c in target.compared]
    sets += [f'"{c}" = {sql.format(t=target.table)}' for c, sql in target.on_update.items()]
    update = (
        f"DO UPDATE SET {', '.join(sets)} WHERE {_distinct(target, target.table, 'excluded')}"
        if target.compared
        else "DO NOTHING"
    )
    keys = ", ".join(f'"{k}"' for k in target.key)
    statement = f"""
        WITH changed AS (
            INSERT INTO "{target.table}" AS {target.table} ({columns})
            SELECT {columns} FROM "{staging}" ORDER BY {keys}
            ON CONFLICT ({keys}) {update}
            RETURNING {_key_json(target, target.table)} AS key, (xmax = 0) AS inserted
        ), audit AS ({_summary_sql()} FROM changed HAVING count(*) > 0 RETURNING 1)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM changed
    """
    row = conn.execute(sa.text(statement), _summary_params(target, actor, meta)).one()
    return int(row[0]), int(row[1])


def _update_then_insert(
    conn,
    target: Target,
    staging: str,
    actor: str,
    meta: dict,
    around_insert: AroundInsert | None = None,
) -> tuple[int, int]:
    """Update changed rows, then insert new ones (keys without a unique constraint, bulk loads).

    Two statements, so neither scans a table the other is filling; the keys of both go to a
    temporary table from which the audit summary is written.
    """
    columns = ", ".join(f'"{c}"' for c in target.columns)
    sets = ", ".join(
        [f'"{c}" = s."{c}"' for c in target.compared]
        + [f'"{c}" = {sql.format(t="t")}' for c, sql in target.on_update.items()]
    )
    t = target.table
    serial = _serial_id(conn, target) if around_insert is not None else None
    _mark_new_rows(conn, target, staging, serial)
    conn.execute(sa.text('DROP TABLE IF EXISTS "_import_changed"'))
    conn.execute(
        sa.text('CREATE TEMP TABLE "_import_changed" (key jsonb, inserted boolean) ON COMMIT DROP')
    )
    if target.compared:
        conn.execute(
            sa.text(f"""
            WITH updated AS (
                UPDATE "{t}" t SET {sets} FROM "{staging}" s
                WHERE {_match(target, "t", "s")} AND {_distinct(target, "t", "s")}
                RETURNING {_key_json(target, "t")} AS key)
            INSERT INTO "_import_changed" SELECT to_jsonb(key), false FROM updated""")
        )
    inserting = contextlib.nullcontext()
    if serial is not None:
        inserting = around_insert(conn)
        source = (
            f"SELECT n.id, {', '.join(f's.{c}' for c in columns.split(', '))} "
            f'FROM "{staging}" s JOIN "_import_new" n ON n."{ROW_COLUMN}" = s."{ROW_COLUMN}"'
        )
        columns = f'"id", {columns}'
    else:
        source = (
            f'SELECT {columns} FROM "{staging}" s '
            f'WHERE s."{ROW_COLUMN}" IN (SELECT "{ROW_COLUMN}" FROM "_import_new")'
        )
    with inserting:
        conn.execute(
            sa.text(f"""
            WITH inserted AS (
                INSERT INTO "{t}" AS t ({columns}) {source}
                RETURNING {_key_json(target, "t")} AS key)
            INSERT INTO "_import_changed" SELECT to_jsonb(key), true FROM inserted""")
        )
    row = conn.execute(
        sa.text(f"""
            WITH audit AS ({_summary_sql()} FROM "_import_changed" HAVING count(*) > 0 RETURNING 1)
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM "_import_changed" """),
        _summary_params(target, actor, meta),
    ).one()
    return int(row[0]), int(row[1])


def _serial_id(conn: sa.Connection, target: Target) -> str | None:
    """The sequence of the table's serial ``id`` column, None without one."""
    if target.primary_key != ("id",):
        return None
    return conn.execute(
        sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": target.table}
    ).scalar()


def _mark_new_rows(
    conn: sa.Connection, target: Target, staging: str, serial: str | None = None
) -> None:
    """The staged rows whose key is not stored yet, found before anything is inserted;
    with ``serial``, each with the id it will have.

    Testing "not stored yet" inside the inserting statement would let the planner probe a
    table that grows as it inserts (quadratic when its statistics say it is empty).
    """
    conn.execute(sa.text('DROP TABLE IF EXISTS "_import_new"'))
    new = (
        f'SELECT s."{ROW_COLUMN}" FROM "{staging}" s WHERE NOT EXISTS '
        f'(SELECT 1 FROM "{target.table}" t WHERE {_match(target, "t", "s")})'
    )
    if serial:  # ids in file order
        new = f"SELECT \"{ROW_COLUMN}\", nextval('{serial}') AS id FROM ({new} ORDER BY 1) n"
    conn.execute(sa.text(f'CREATE TEMP TABLE "_import_new" ON COMMIT DROP AS {new}'))
    conn.execute(sa.text('ANALYZE "_import_new"'))


def _summary_sql() -> str:
    return """INSERT INTO audit_log (table_name, row_id, action, actor, after)
        SELECT :table, NULL, 'import', :actor, CAST(:meta AS jsonb) || jsonb_build_object(
            'inserted', count(*) FILTER (WHERE inserted),
            'updated', count(*) FILTER (WHERE NOT inserted),
            'inserted_keys', COALESCE(jsonb_agg(key) FILTER (WHERE inserted), '[]'::jsonb),
            'updated_keys', COALESCE(jsonb_agg(key) FILTER (WHERE NOT inserted), '[]'::jsonb))"""


def _summary_params(target: Target, actor: str, meta: dict) -> dict:
    return {
        "table": target.table,
        "actor": actor,
        "meta": json.dumps(meta, ensure_ascii=False, default=str),
    }


def _audit_updates(conn: sa.Connection, target: Target, actor: str) -> None:
    """One audit row per updated row: its values before and after (geometry as GeoJSON)."""
    same = " AND ".join(f't."{c}" = b."{c}"' for c in target.primary_key)
    conn.execute(
        sa.text(
            f"""INSERT INTO audit_log (table_name, row_id, action, actor, before, after)
            SELECT :table, {target.row_id("t")}, 'import', :actor, to_jsonb(b), to_jsonb(t)
            FROM "_import_before" b JOIN "{target.table}" t ON {same}
            """
        ),
        {"table": target.table, "actor": actor},
    )


# --- bulk loads -------------------------------------------------------------------------------


def wants_bulk(rows: int, existing: float) -> bool:
    """Load in bulk: at least BULK_THRESHOLD rows, and more than the table already holds
    (rebuilding the indexes of a big table for a small addition costs more than it saves)."""
    return rows >= BULK_THRESHOLD and rows >= existing


@contextlib.contextmanager
def bulk_mode(
    conn: sa.Connection, tables: dict[str, tuple[str, ...] | None], rows: int
) -> Iterator[bool]:
    """For big loads, drop the tables' indexes and foreign keys and rebuild them after.

    Building an index once is several times faster than updating it row by row, and adding a
    foreign key checks all rows in one join. Kept: the unique index on each table's key
    (``tables`` maps table → key columns; ON CONFLICT needs it), primary keys (unless the
    key is NO_INDEX_KEPT) and unique indexes that other tables' foreign keys point at.
    Everything happens inside the import's transaction (PostgreSQL DDL is transactional), so
    a failure or a kill restores the indexes with the data; the price is an exclusive lock
    on the tables while loading. Only when ``rows`` ≥ BULK_THRESHOLD and more than the first
    table already holds.
    """
    first = next(iter(tables))
    existing = conn.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": first}
    ).scalar()
    if not wants_bulk(rows, existing or 0):
        yield False
        return
    foreign_keys = [statement for table in tables for statement in _drop_foreign_keys(conn, table)]
    indexes = [
        statement for table, key in tables.items() for statement in _drop_indexes(conn, table, key)
    ]
    yield True
    for statement in indexes + foreign_keys:
        conn.execute(sa.text(statement))


def _drop_foreign_keys(conn: sa.Connection, table: str) -> list[str]:
    """Drop the table's foreign keys; return the statements that add them back."""
    rows = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
        ),
        {"t": table},
    ).all()
    for name, _ in rows:
        conn.execute(sa.text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    return [f'ALTER TABLE "{table}" ADD CONSTRAINT "{n}" {d}' for n, d in rows]


def _drop_indexes(conn: sa.Connection, table: str, key: tuple[str, ...] | None) -> list[str]:
    """Drop indexes (and constraints they back) but primary keys, the key's and referenced ones.

    ``key`` NO_INDEX_KEPT: the primary key goes too."""
    rows = conn.execute(
        sa.text(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname,
                   pg_get_constraintdef(c.oid),
                   ARRAY(SELECT a.attname::text FROM pg_attribute a
                         WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)),
                   EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid =
                       i.indexrelid),
                   i.indisprimary
            FROM pg_index i LEFT JOIN pg_constraint c
                ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u') AND c.conrelid = i.indrelid
            WHERE i.indrelid = CAST(:t AS regclass)"""
        ),
        {"t": table},
    ).all()
    statements = []
    for index, definition, constraint, constraint_def, columns, referenced, primary in rows:
        if (
            referenced
            or (primary and key is not NO_INDEX_KEPT)
            or (key and set(columns) == set(key))
        ):
            continue  # primary keys stay: other code (history triggers) looks rows up by them
        if constraint:
            conn.execute(sa.text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'))
            statements.append(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {constraint_def}'
            )
        else:
            conn.execute(sa.text(f"DROP INDEX {index}"))
            statements.append(definition)
    return statements
