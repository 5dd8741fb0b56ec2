"""Person-level lists into households and their members (``gongjian import households``).

A list with a 与户主关系 column is one row per person (the national system's export, a
township's 花名册). Workbooks are read with their layout: merged cells are filled (a
household fact merged down its rows belongs to each of them), hidden columns are left out
(and said so), the header is the best row of the first twenty (a two-row header's lower row,
the merged group titles above it ignored), and the data stop at the 合计 row, whose counts
are checked. :func:`geo.persons.group_persons` makes households of the rows; they continue
through the household importer as a household list would (the rows named are the heads'),
and :func:`write_members` replaces the members of the households whose members changed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo import persons
from geo.columns import clean_text
from layers.imports.base import ImportError_, ImportSummary, RowErrors
from layers.imports.files import HEADER_SEARCH_ROWS, Source, check_zip
from layers.imports.write import copy_staging, create_staging

MEMBER_COLUMNS = ("name", "id_number", "relation", "sex", "birth_year", "health",
                  "labour_capacity", "schooling")  # fmt: skip
MEMBERS = "_import_members"


def looks_like_person_list(path: Path) -> bool:
    """A workbook or CSV whose first rows name a 与户主关系 column."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                return any(
                    persons.is_person_list([c for c in row if c is not None])
                    for ws in book.worksheets
                    for row in ws.iter_rows(values_only=True, max_row=HEADER_SEARCH_ROWS)
                )
            finally:
                book.close()
        if suffix == ".csv":
            head = path.read_bytes()[:20_000].decode("utf-8-sig", errors="ignore")
            return "与户主关系" in head or "与户主的关系" in head
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return False  # the ordinary reader says what is wrong with the file
    return False


def read_person_list(path: Path, max_bytes: int, sheet: str | None = None) -> Source:
    """The person rows of a list, as the file numbers them (see the module doc)."""
    if path.suffix.lower() == ".csv":
        return _csv_rows(path)
    import openpyxl

    with zipfile.ZipFile(path) as archive:
        check_zip(archive, path.name, max_bytes)
    book = openpyxl.load_workbook(path, data_only=True)  # merged cells need the full model
    names = [sheet] if sheet else book.sheetnames
    if sheet is not None and sheet not in book.sheetnames:
        raise ImportError_(f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(book.sheetnames)}")
    ws = max((book[n] for n in names), key=_person_score)
    _fill_merged(ws)
    hidden = _hidden_columns(ws)
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    source = _table(path, rows, hidden, ws.title)
    return source


def _person_score(ws) -> int:
    rows = ws.iter_rows(values_only=True, max_row=HEADER_SEARCH_ROWS)
    return max((_score(r) for r in rows), default=0)


def _score(row) -> int:
    fields, _ = persons.map_person_headers([str(c) for c in row if c is not None])
    return len(fields)


def _fill_merged(ws) -> None:
    """Every cell of a merged range takes the range's value (a merged household fact)."""
    for merged in list(ws.merged_cells.ranges):
        value = ws.cell(merged.min_row, merged.min_col).value
        ws.unmerge_cells(str(merged))
        for row in range(merged.min_row, merged.max_row + 1):
            for col in range(merged.min_col, merged.max_col + 1):
                ws.cell(row, col).value = value


def _hidden_columns(ws) -> set[int]:
    """0-based indexes of hidden columns."""
    hidden = set()
    for dim in ws.column_dimensions.values():
        if dim.hidden and dim.min is not None:
            hidden.update(range(dim.min - 1, (dim.max or dim.min)))
    return hidden


def _table(path: Path, rows: list[list], hidden: set[int], layer: str) -> Source:
    if not rows:
        raise ImportError_(f"{path.name}: the file is empty")
    candidates = rows[:HEADER_SEARCH_ROWS]
    header_at = max(range(len(candidates)), key=lambda i: (_score(candidates[i]), i))
    width = len(rows[header_at])
    above = rows[header_at - 1] if header_at > 0 else [None] * width
    # a two-row header: where the lower row is blank, the upper row names the column
    names = [
        rows[header_at][i] if rows[header_at][i] is not None else (above + [None] * width)[i]
        for i in range(width)
    ]
    keep = [i for i in range(width) if i not in hidden]
    header = [_text(names[i], i) for i in keep]
    notes = []
    hidden_named = [_text(names[i], i) for i in sorted(hidden) if i < width]
    if hidden_named:
        notes.append("hidden columns left out: " + ", ".join(hidden_named))
    kept, numbers, total = [], [], None
    for offset, row in enumerate(rows[header_at + 1 :]):
        cells = (list(row) + [None] * width)[:width]
        if not any(c is not None and str(c).strip() != "" for c in cells):
            continue
        number = header_at + offset + 2
        if any(clean_text(c) in persons.TOTAL_WORDS for c in cells[:4]):
            total = ([cells[i] for i in keep], number)
            break  # below the 合计 row: signatures and notes, not people
        if _repeats_header(cells, rows[header_at]):
            continue  # a merged two-row header fills its lower row with the upper's text
        kept.append([None if isinstance(c, str) and c.strip() == "" else c for c in cells])
        numbers.append(number)
    frame = pd.DataFrame([[r[i] for i in keep] for r in kept], columns=header, dtype=object)
    source = Source(path, "xlsx", frame, None, None, layer, np.array(numbers, dtype=np.int64))
    source.notes = notes
    source.total = total  # type: ignore[attr-defined]
    return source


def _repeats_header(cells: list, header: list) -> bool:
    same = sum(1 for c, h in zip(cells, header, strict=False) if c is not None and c == h)
    return same >= 3


def _text(value: object, index: int) -> str:
    text = "" if value is None else str(value).strip()
    return text or f"column {index + 1}"


def _csv_rows(path: Path) -> Source:
    frame = pd.read_csv(path, dtype=object, encoding="utf-8-sig", keep_default_na=False)
    frame = frame.replace({"": None})
    source = Source(path, "csv", frame, None, None, None, np.arange(len(frame)) + 2)
    source.total = None  # type: ignore[attr-defined]
    return source


def as_household_source(source: Source) -> tuple[Source, pd.DataFrame]:
    """Group a person list's rows: a household Source (rows = the heads') and the members.

    Raises ImportError_ naming file, row and field for every problem (nothing is loaded).
    """
    fields, unknown = persons.map_person_headers(list(source.frame.columns))
    frame = source.frame[list(fields)].rename(columns=fields)
    labels = {f: h for h, f in fields.items()}
    rows = source.row_numbers if source.row_numbers is not None else np.arange(len(frame)) + 2
    grouped = persons.group_persons(frame, rows, labels)
    total = getattr(source, "total", None)
    if total is not None and not grouped.problems:
        grouped.problems += persons.total_row_problems(
            total[0], list(source.frame.columns), grouped, total[1]
        )
    errors = RowErrors(source.path, rows=lambda row: row)
    for p in grouped.problems:
        if p.index < 0:
            errors.file_error(p.field, p.message)
        else:
            errors.add(p.index, p.field, p.message)
    errors.raise_if_any()
    notes = list(source.notes)
    notes.append(
        f"person list: {len(grouped.members)} people in {len(grouped.households)} households"
    )
    stored_not = [labels[f] for f in persons.NOT_STORED if f in labels]
    if stored_not or unknown:
        notes.append("ignored columns: " + ", ".join([*stored_not, *unknown]))
    households = persons.household_frame(grouped)
    out = Source(
        source.path,
        source.format,
        households,
        None,
        None,
        source.layer,
        np.array(grouped.household_rows, dtype=np.int64),
        notes=notes,
    )
    return out, grouped.members.drop(columns=["file_row"])


def write_members(conn: sa.Connection, ctx, summary: ImportSummary) -> None:
    """Replace the members of the staged households whose members changed (idempotent)."""
    from layers.imports.core import STAGING

    members = ctx.members
    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{MEMBERS}"'))
    create_staging(
        conn,
        MEMBERS,
        {"household_no": "text", **dict.fromkeys(MEMBER_COLUMNS, "text"), "birth_year": "integer"},
    )
    copy_staging(conn, MEMBERS, members.assign(_row=np.arange(len(members))))
    columns = ", ".join(MEMBER_COLUMNS)
    stored = "name, id_number::text, relation, sex::text, birth_year, health, labour_capacity, " \
        "schooling"  # fmt: skip
    conn.execute(sa.text('DROP TABLE IF EXISTS "_import_member_sets"'))
    conn.execute(
        sa.text(f"""
        CREATE TEMP TABLE "_import_member_sets" ON COMMIT DROP AS
        WITH h AS (SELECT h.id, h.household_no FROM household h
                   JOIN "{STAGING}" s ON s.household_no = h.household_no),
        new AS (SELECT h.id AS household_id, {", ".join(f"m.{c}" for c in MEMBER_COLUMNS)}
                FROM "{MEMBERS}" m JOIN h ON h.household_no = m.household_no),
        old AS (SELECT household_id, {stored} FROM household_member
                WHERE household_id IN (SELECT id FROM h))
        SELECT household_id FROM (SELECT * FROM new EXCEPT ALL SELECT * FROM old) a
        UNION SELECT household_id FROM (SELECT * FROM old EXCEPT ALL SELECT * FROM new) b""")
    )
    conn.execute(
        sa.text(
            "DELETE FROM household_member WHERE household_id IN "
            '(SELECT household_id FROM "_import_member_sets")'
        )
    )
    inserted = conn.execute(
        sa.text(f"""
        INSERT INTO household_member (household_id, {columns})
        SELECT h.id, {", ".join(f"m.{c}" for c in MEMBER_COLUMNS)}
        FROM "{MEMBERS}" m JOIN household h ON h.household_no = m.household_no
        WHERE h.id IN (SELECT household_id FROM "_import_member_sets")""")
    ).rowcount
    changed = conn.execute(sa.text('SELECT count(*) FROM "_import_member_sets"')).scalar()
    earlier = summary.extra.get("household_member", (0, 0, None))
    summary.extra["household_member"] = (earlier[0] + inserted, earlier[1] + changed, None)
