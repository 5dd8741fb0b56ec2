"""The monthly report as an A4 PDF: key figures, charts, the small map, tables.

Page 1: title, key figures, the year's progress against the target, households by status per
unit. Page 2: income distribution against the lines, dangerous-house rebuilding, help records
per 九到户 measure. Page 3: the map and the flags. Then the per-unit tables. Text is real
text (Noto Sans CJK embedded as a TrueType subset by ``maps.fonts``), so ``pdftotext``
reads it; every page says 示例数据（合成） when the data is synthetic.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from geo.flags import SYNTHETIC_NOTE
from layers.reports import MonthlyReport
from maps.reports import charts
from maps.reports.tables import (
    DATE,
    INTEGER,
    MONEY,
    PERCENT,
    Table,
    cadres_table,
    exits_table,
    housing_table,
    status_table,
    summary_rows,
)

A4 = (8.27, 11.69)  # inches, portrait
TABLE_ROWS_PER_PAGE = 52


def write_pdf(report: MonthlyReport, path: Path) -> Path:
    """Write the report to ``path`` (several A4 pages)."""
    charts.use_fonts()
    path = Path(path)
    title = f"{report.area.title} {report.period.label} 扶贫工作月报"
    with PdfPages(
        path,
        metadata={
            "Title": title,
            "Creator": "gongjian",
            "Subject": SYNTHETIC_NOTE if report.synthetic else "",
        },
    ) as pdf:
        pages = [_overview_page, _detail_page, _map_page]
        number = 0
        for make in pages:
            number += 1
            _save(pdf, make(report), report, number)
        for table in (
            status_table(report),
            exits_table(report),
            housing_table(report),
            _cadres_needing_attention(report),
        ):
            for chunk in _chunks(table):
                number += 1
                _save(pdf, _table_page(report, chunk), report, number)
    return path


def _cadres_needing_attention(report: MonthlyReport, top: int = 36) -> Table:
    """The cadres with the most households not visited lately (all of them in the XLSX)."""
    table = cadres_table(report)
    column = next(c for c in table.data.columns if c.startswith("超过"))
    data = table.data.sort_values([column, "联系户数"], ascending=False).head(top)
    data = data.drop(columns=["干部ID", "层级"])
    title = f"走访不足的帮扶干部（前{min(top, len(table.data))}名，共{len(table.data)}名见XLSX）"
    return Table(table.sheet, title, data, table.formats)


def _save(pdf: PdfPages, figure: Figure, report: MonthlyReport, number: int) -> None:
    _footer(figure, report, number)
    pdf.savefig(figure)
    plt.close(figure)


def _header(figure: Figure, report: MonthlyReport, subtitle: str = "") -> None:
    figure.text(
        0.06,
        0.965,
        f"{report.area.title} 扶贫工作月报（每月一报）",
        fontsize=15,
        fontweight="bold",
        va="top",
    )
    line = f"{report.period.label} · 数据截至 {report.period.as_of} · {report.area.code}"
    if subtitle:
        line += f" · {subtitle}"
    figure.text(0.06, 0.935, line, fontsize=9, va="top", color="#444444")
    if report.synthetic:
        figure.text(
            0.94,
            0.965,
            SYNTHETIC_NOTE,
            fontsize=11,
            color="#c00000",
            ha="right",
            va="top",
            fontweight="bold",
        )


def _footer(figure: Figure, report: MonthlyReport, number: int) -> None:
    parts = [
        f"生成于 {report.generated_at:%Y-%m-%d %H:%M}",
        f"政策口径 {report.profile_name}（{report.profile_fingerprint}）",
        f"第 {number} 页",
    ]
    if report.synthetic:
        parts.insert(0, SYNTHETIC_NOTE)
    figure.text(0.5, 0.015, " · ".join(parts), fontsize=7, ha="center", color="#666666")


def _overview_page(report: MonthlyReport) -> Figure:
    figure = plt.figure(figsize=A4)
    _header(figure, report)
    _key_figures(figure, report)
    charts.draw_progress(figure.add_axes((0.09, 0.45, 0.84, 0.2)), report)
    charts.draw_status_bars(figure.add_axes((0.2, 0.05, 0.73, 0.34)), report)
    return figure


def _key_figures(figure: Figure, report: MonthlyReport) -> None:
    """The summary's figures as a two-column list under the title."""
    skip = ("地区", "报告月份", "政策口径", "生成时间", "数据说明")  # in the header and footer
    rows = [r for r in summary_rows(report) if r[0] not in skip]
    half = (len(rows) + 1) // 2
    for column, chunk in enumerate((rows[:half], rows[half:])):
        x = 0.06 + column * 0.46
        for i, (label, value, note) in enumerate(chunk):
            y = 0.90 - i * 0.024
            figure.text(x, y, label, fontsize=8.5, color="#333333")
            figure.text(x + 0.17, y, _format_value(label, value), fontsize=8.5, fontweight="bold")
            if note and len(note) <= 14:
                figure.text(x + 0.27, y, note, fontsize=6.5, color="#777777")


def _format_value(label: str, value: object) -> str:
    if value is None:
        return "—"
    if "完成率" in label and isinstance(value, float):
        return f"{value:.1%}"
    if label == "收入年度":
        return f"{value}年"
    if isinstance(value, float):
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _detail_page(report: MonthlyReport) -> Figure:
    figure = plt.figure(figsize=A4)
    _header(figure, report, "收入、住房与帮扶")
    charts.draw_income(figure.add_axes((0.09, 0.64, 0.84, 0.25)), report)
    charts.draw_housing(figure.add_axes((0.2, 0.33, 0.73, 0.25)), report)
    charts.draw_measures(figure.add_axes((0.09, 0.08, 0.84, 0.18)), report)
    return figure


def _map_page(report: MonthlyReport) -> Figure:
    figure = plt.figure(figsize=A4)
    _header(figure, report, "分布图与预警")
    charts.draw_map(figure.add_axes((0.06, 0.36, 0.88, 0.52)), report)
    charts.draw_flags(figure.add_axes((0.3, 0.05, 0.6, 0.26)), report)
    return figure


def _chunks(table: Table) -> list[Table]:
    data = table.data
    if len(data) <= TABLE_ROWS_PER_PAGE:
        return [table]
    return [
        Table(
            table.sheet,
            f"{table.title}（续）" if start else table.title,
            data.iloc[start : start + TABLE_ROWS_PER_PAGE],
            table.formats,
            table.total_row and start + TABLE_ROWS_PER_PAGE >= len(data),
        )
        for start in range(0, len(data), TABLE_ROWS_PER_PAGE)
    ]


def _cell(value: object, kind: str | None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if kind == PERCENT:
        return f"{value:.1%}"
    if kind in (INTEGER, MONEY):
        return f"{value:,.0f}"
    if kind == DATE and hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@cache
def _line_pt(size: float) -> float:
    """Height in points of one line of text at ``size`` with linespacing 1 (CJK fonts are
    taller than their size): what a column block must advance per row."""
    figure = plt.figure()
    try:
        renderer = figure.canvas.get_renderer()
        three = figure.text(0, 0, "国\n1\n国", fontsize=size, linespacing=1.0)
        two = figure.text(0, 0, "国\n1", fontsize=size, linespacing=1.0)
        pixels = three.get_window_extent(renderer).height - two.get_window_extent(renderer).height
        return pixels * 72 / figure.dpi
    finally:
        plt.close(figure)


def _table_page(report: MonthlyReport, table: Table) -> Figure:
    """A table drawn as one text block per column (hundreds of single-cell texts would
    take seconds per page in the PDF backend), rows banded, header and totals bold."""
    from maps.reports.xlsx import text_width

    figure = plt.figure(figsize=A4)
    _header(figure, report, table.title)
    columns = list(table.data.columns)
    cells = [
        [_cell(v, table.formats.get(c)) for c, v in zip(columns, row, strict=True)]
        for row in table.data.itertuples(index=False)
    ]
    size = 7.0 if len(columns) <= 9 else 6.0
    row_pt = size * 1.9
    spacing = row_pt / _line_pt(size)
    drop = size * 0.35  # baseline below the middle of a row
    page_w, page_h = A4[0] * 72, A4[1] * 72
    widths = [
        max(text_width(c), *(text_width(r[i]) for r in cells)) * size * 0.56 + 8
        for i, c in enumerate(columns)
    ]
    widths = [w * min(1.0, (page_w * 0.92) / sum(widths)) for w in widths]
    top, left = page_h * 0.90, page_w * 0.04
    right = left + sum(widths)
    rows = len(cells) + 1  # with the header
    for r in range(0, rows, 2):  # header, then every second row, on a light band
        y = top - row_pt * (r + 1)
        colour = "#dde5f0" if r == 0 else "#f3f3f3"
        figure.add_artist(
            plt.Rectangle(
                (left / page_w, y / page_h),
                (right - left) / page_w,
                row_pt / page_h,
                color=colour,
                linewidth=0,
            )
        )
    x = left
    for i, column in enumerate(columns):
        numeric = table.formats.get(column) not in (None, "text", "date")
        anchor = (x + widths[i] - 4 if numeric else x + 4) / page_w
        align = "right" if numeric else "left"
        figure.text(
            anchor,
            (top - row_pt / 2 - drop) / page_h,
            column,
            fontsize=size,
            fontweight="bold",
            ha=align,
            va="baseline",
        )
        body = [r[i] for r in cells[:-1]] if table.total_row else [r[i] for r in cells]
        # a multi-line text's "baseline" is that of its last line
        figure.text(
            anchor,
            (top - row_pt * (len(body) + 0.5) - drop) / page_h,
            "\n".join(body),
            fontsize=size,
            ha=align,
            va="baseline",
            linespacing=spacing,
            multialignment=align,
        )
        if table.total_row:
            figure.text(
                anchor,
                (top - row_pt * (rows - 0.5) - drop) / page_h,
                cells[-1][i],
                fontsize=size,
                fontweight="bold",
                ha=align,
                va="baseline",
            )
        x += widths[i]
    for y in (top, top - row_pt, top - row_pt * rows):
        figure.add_artist(
            plt.Line2D(
                [left / page_w, right / page_w], [y / page_h] * 2, linewidth=0.8, color="#555555"
            )
        )
    return figure
