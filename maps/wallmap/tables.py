"""Tables drawn as text on the sheet: wrapped cells, flowed over columns and pages, fitted.

A :class:`Table` has columns measured in em (so it scales with its font size) and rows of
strings. :func:`fit_size` finds the largest font size at which the table fits a rectangle
(flowing into as many side-by-side columns as the width allows); :func:`draw_table` draws
the rows that fit and returns the index of the first row that did not (for the next page).
Widths are estimated from character classes (CJK = 1 em), which is exact for CJK text and
close for digits in Noto Sans CJK.

>>> t = Table([Column("村", 4), Column("户数", 3, "right")], [["西洞村", "85"], ["上楼村", "102"]])
>>> [len(r) for r in wrapped_rows(t)]
[1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from maps.wallmap import symbology as sym
from maps.wallmap.labels import NARROW_EM, text_width_em
from maps.wallmap.paper import MM_PER_PT

LINE = 1.32  # line height in em
CELL_PAD = 0.35  # horizontal padding in em on each side of a cell
GUTTER = 1.6  # em between flowed table columns
BREAK_AFTER = "、，；：）) "


@dataclass(frozen=True)
class Column:
    """``width_em`` is the column's width; with ``shrink`` it is a maximum and the column is
    as narrow as its widest cell (or title) allows."""

    title: str
    width_em: float
    align: str = "left"  # left | right | center
    shrink: bool = True


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[str]]
    #: per-row style: {"bold": True, "fill": "#..."}; missing rows are plain
    styles: dict[int, dict] = field(default_factory=dict)
    stripe: bool = True
    _wrapped: list | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.columns = [self._fitted(i, c) for i, c in enumerate(self.columns)]

    def _fitted(self, index: int, column: Column) -> Column:
        if not column.shrink:
            return column
        widest = max(
            [text_width_em(column.title)]
            + [max(text_width_em(line) for line in str(r[index]).split("\n")) for r in self.rows]
        )
        return replace(column, width_em=min(column.width_em, widest + 2 * CELL_PAD + 0.05))

    @property
    def width_em(self) -> float:
        return sum(c.width_em for c in self.columns)


def wrap(text: str, width_em: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width_em`` (CJK may break anywhere; prefers
    breaking after 、，；). Explicit newlines are kept."""
    out: list[str] = []
    for paragraph in str(text).split("\n"):
        line, width, last_break = "", 0.0, -1
        for ch in paragraph:
            w = text_width_em(ch)
            if width + w > width_em and line:
                if 0 <= last_break < len(line) - 1 and last_break > len(line) * 0.6:
                    out.append(line[: last_break + 1])
                    line = line[last_break + 1 :]
                else:
                    out.append(line)
                    line = ""
                width = text_width_em(line)
                last_break = -1
            line += ch
            width += w
            if ch in BREAK_AFTER:
                last_break = len(line) - 1
        out.append(line)
    return out


def wrapped_rows(table: Table) -> list[list[list[str]]]:
    """Each row as a list of cells, each cell as its wrapped lines (widths are in em, so this
    does not depend on the font size: computed once per table)."""
    if table._wrapped is None:
        inner = [max(c.width_em - 2 * CELL_PAD, NARROW_EM) for c in table.columns]
        table._wrapped = [
            [wrap(cell, w) for cell, w in zip(row, inner, strict=True)] for row in table.rows
        ]
    return table._wrapped


def row_lines(table: Table) -> list[int]:
    return [max(len(cell) for cell in row) for row in wrapped_rows(table)]


def flow_columns(table: Table, width_mm: float, size: float, most: int = 99) -> int:
    """How many copies of the table fit side by side in ``width_mm`` at ``size`` points."""
    em = size * MM_PER_PT
    n = int((width_mm / em + GUTTER) // (table.width_em + GUTTER))
    return min(max(n, 0), most)


def rows_that_fit(lines: list[int], start: int, height_mm: float, size: float, columns: int) -> int:
    """Index after the last row that fits ``columns`` flowed columns of ``height_mm``."""
    em = size * MM_PER_PT
    capacity = int(height_mm // (LINE * em)) - 1  # one line for the header
    i = start
    for _ in range(columns):
        used = 0
        while i < len(lines) and used + lines[i] <= capacity:
            used += lines[i]
            i += 1
    return i


def fit_size(
    table: Table,
    width_mm: float,
    height_mm: float,
    max_pt: float,
    min_pt: float,
    most_columns: int = 99,
) -> float | None:
    """Largest font size (0.25 pt steps) at which the whole table fits, or None."""
    lines = row_lines(table)
    size = max_pt
    while size >= min_pt - 1e-9:
        columns = flow_columns(table, width_mm, size, most_columns)
        if columns and rows_that_fit(lines, 0, height_mm, size, columns) >= len(lines):
            return size
        size -= 0.25
    return None


def height_needed(table: Table, width_mm: float, size: float) -> float:
    """Height (mm) the table needs in ``width_mm`` at ``size`` (flowed, balanced columns)."""
    lines = row_lines(table)
    columns = max(1, flow_columns(table, width_mm, size))
    em = size * MM_PER_PT
    low, high = 1, sum(lines) + 1
    while low < high:  # smallest number of lines per column that holds every row
        mid = (low + high) // 2
        if rows_that_fit(lines, 0, (mid + 1) * LINE * em + 1e-6, size, columns) >= len(lines):
            high = mid
        else:
            low = mid + 1
    return (low + 1) * LINE * em + 1e-3


def draw_table(
    ax: Axes,
    table: Table,
    rect: tuple[float, float, float, float],
    size: float,
    start: int = 0,
    *,
    header_fill: str = sym.TABLE_HEADER_FILL,
) -> int:
    """Draw rows from ``start`` into ``rect`` (mm, on a sheet axes in mm); returns next row."""
    x, y, width, height = rect
    em = size * MM_PER_PT
    line = LINE * em
    wrapped = wrapped_rows(table)
    lines = [max(len(c) for c in row) for row in wrapped]
    columns = max(1, flow_columns(table, width, size))
    col_w = table.width_em * em
    gutter = GUTTER * em if columns > 1 else 0.0
    i = start
    for k in range(columns):
        if i >= len(wrapped):
            break
        left = x + k * (col_w + gutter)
        top = y + height
        _draw_header(ax, table, left, top, em, line, header_fill, size)
        cursor = top - line
        bottom = y
        first = i
        while i < len(wrapped) and cursor - lines[i] * line >= bottom - 1e-6:
            style = table.styles.get(i, {})
            fill = style.get("fill") or (
                sym.TABLE_STRIPE_FILL if table.stripe and (i - first) % 2 else None
            )
            if fill:
                ax.add_patch(
                    Rectangle(
                        (left, cursor - lines[i] * line),
                        col_w,
                        lines[i] * line,
                        facecolor=fill,
                        edgecolor="none",
                        zorder=1,
                    )
                )
            cursor -= lines[i] * line
            i += 1
        _draw_rows(ax, table, wrapped, lines, first, i, left, top - line, em, size)
        ax.plot(
            [left, left + col_w],
            [cursor, cursor],
            color=sym.PANEL_RULE,
            linewidth=size * 0.06,
            zorder=2,
        )
    return i


def _draw_header(ax, table, left, top, em, line, fill, size) -> None:
    ax.add_patch(
        Rectangle(
            (left, top - line),
            table.width_em * em,
            line,
            facecolor=fill,
            edgecolor="none",
            zorder=1,
        )
    )
    cx = left
    for col in table.columns:
        ax.text(
            _cell_x(col, cx, em),
            top,
            col.title,
            ha=_ha(col),
            va="top",
            linespacing=LINE,
            fontsize=size,
            fontweight="bold",
            color="#222222",
            zorder=3,
        )
        cx += col.width_em * em


def _draw_rows(ax, table, wrapped, lines, first, end, left, top, em, size) -> None:
    """Rows ``first``..``end`` as one multi-line text per table column and style run.

    With a numeric line spacing, matplotlib gives every line a box of exactly
    ``linespacing`` × the font's ascent + descent (1 em for Noto Sans CJK), so stacked lines
    land on the row grid; a few hundred texts instead of thousands keep the PDF fast.
    """
    run_start = first
    cursor = top
    for i in range(first, end + 1):
        if i < end and _style_key(table, i) == _style_key(table, run_start):
            continue
        style = table.styles.get(run_start, {})
        cx = left
        for c, col in enumerate(table.columns):
            text_lines = []
            for r in range(run_start, i):
                cell = wrapped[r][c]
                text_lines += cell + [""] * (lines[r] - len(cell))
            if any(text_lines):
                ax.text(
                    _cell_x(col, cx, em),
                    cursor,
                    "\n".join(text_lines),
                    ha=_ha(col),
                    va="top",
                    multialignment=_ha(col),
                    fontsize=size,
                    linespacing=LINE,
                    fontweight="bold" if style.get("bold") else "normal",
                    color=style.get("colour", "#1a1a1a"),
                    zorder=3,
                )
            cx += col.width_em * em
        cursor -= sum(lines[run_start:i]) * LINE * em
        run_start = i


def _style_key(table: Table, row: int) -> tuple:
    style = table.styles.get(row, {})
    return (bool(style.get("bold")), style.get("colour"))


def _cell_x(col: Column, left: float, em: float) -> float:
    if col.align == "right":
        return left + (col.width_em - CELL_PAD) * em
    if col.align == "center":
        return left + col.width_em * em / 2
    return left + CELL_PAD * em


def _ha(col: Column) -> str:
    return {"right": "right", "center": "center"}.get(col.align, "left")
