"""The monthly report as an Excel workbook (openpyxl).

One sheet per table (Chinese names and headers), the header row frozen and filtered, column
widths fitted to the content (CJK characters count double), number formats people use
(thousands separators, percentages, dates), a totals row in bold, the synthetic-data note at
the foot of every sheet, and the small map as a picture on its own sheet.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from geo.flags import SYNTHETIC_NOTE
from layers.reports import MonthlyReport
from maps.reports.tables import (
    DATE,
    DECIMAL,
    INTEGER,
    MONEY,
    PERCENT,
    Table,
    report_tables,
    summary_rows,
)

NUMBER_FORMATS = {
    INTEGER: "#,##0",
    MONEY: "#,##0",
    PERCENT: "0.0%",
    DATE: "yyyy-mm-dd",
    DECIMAL: "#,##0.0",
}
HEADER_FILL = PatternFill("solid", fgColor="DDE5F0")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
THIN = Side(style="thin", color="A6A6A6")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
MAX_WIDTH = 60
NOTE_FONT = Font(color="C00000", italic=True)


def text_width(value: object) -> int:
    """Display width: East Asian wide and full-width characters count two."""
    if value is None:
        return 0
    if isinstance(value, float):
        value = f"{value:,.1f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def write_xlsx(report: MonthlyReport, path: Path, map_png: bytes | None = None) -> Path:
    """Write the workbook to ``path``; ``map_png`` adds the 地图 sheet."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = "概况"
    _write_summary(summary, report)
    for table in report_tables(report):
        _write_table(workbook.create_sheet(table.sheet), table, report.synthetic)
    if map_png is not None:
        _write_map(workbook.create_sheet("地图"), map_png, report)
    workbook.properties.title = f"{report.area.title} {report.period.label} 扶贫工作月报"
    workbook.properties.creator = "gongjian"
    if report.synthetic:
        workbook.properties.description = SYNTHETIC_NOTE
    path = Path(path)
    workbook.save(path)
    return path


def _write_summary(sheet, report: MonthlyReport) -> None:
    rows = [("项目", "数值", "说明"), *summary_rows(report)]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=_cell_value(value))
            cell.border = BORDER
            if r == 1:
                _header_style(cell)
            elif c == 2:
                cell.number_format = _summary_format(row[0], value)
                cell.alignment = Alignment(horizontal="right" if _numeric(value) else "left")
            if row[0] == "数据说明" and c == 2:
                cell.font = NOTE_FONT
    sheet.freeze_panes = "A2"
    _fit_widths(sheet, rows)


def _summary_format(label: str, value: object) -> str:
    if "完成率" in label:
        return NUMBER_FORMATS[PERCENT]
    if isinstance(value, dt.date):
        return NUMBER_FORMATS[DATE]
    if label == "收入年度":
        return "0"
    return NUMBER_FORMATS[INTEGER] if _numeric(value) else "General"


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _write_table(sheet, table: Table, synthetic: bool) -> None:
    columns = list(table.data.columns)
    for c, header in enumerate(columns, start=1):
        _header_style(sheet.cell(row=1, column=c, value=header))
    last = len(table.data) + 1
    for r, row in enumerate(table.data.itertuples(index=False), start=2):
        is_total = table.total_row and r == last
        for c, (header, value) in enumerate(zip(columns, row, strict=True), start=1):
            cell = sheet.cell(row=r, column=c, value=_cell_value(value))
            cell.border = BORDER
            kind = table.formats.get(header)
            if kind in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[kind]
            if is_total:
                cell.font = Font(bold=True)
                cell.fill = TOTAL_FILL
    sheet.freeze_panes = "A2"
    if len(table.data):
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last - table.total_row}"
    rows = [columns, *table.data.itertuples(index=False)]
    if synthetic:
        note = sheet.cell(row=last + 2, column=1, value=f"{table.title} · {SYNTHETIC_NOTE}")
        note.font = NOTE_FONT
    else:
        sheet.cell(row=last + 2, column=1, value=table.title).font = Font(italic=True)
    _fit_widths(sheet, rows)
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToHeight = 0


def _header_style(cell) -> None:
    cell.font = Font(bold=True)
    cell.fill = HEADER_FILL
    cell.border = BORDER
    cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _cell_value(value: object) -> object:
    """openpyxl wants plain Python values; NaN/NA become empty cells."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never a formula
    return value


def _fit_widths(sheet, rows) -> None:
    widths: dict[int, int] = {}
    for row in rows:
        for c, value in enumerate(row, start=1):
            widths[c] = max(widths.get(c, 0), text_width(_cell_value(value)))
    for c, width in widths.items():
        sheet.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), MAX_WIDTH)


def _write_map(sheet, png: bytes, report: MonthlyReport) -> None:
    title = f"{report.area.title} 贫困户分布（截至{report.period.as_of}）"
    if report.synthetic:
        title += f" · {SYNTHETIC_NOTE}"
    sheet.cell(row=1, column=1, value=title).font = Font(bold=True)
    image = Image(io.BytesIO(png))
    scale = 720 / image.width
    image.width, image.height = int(image.width * scale), int(image.height * scale)
    sheet.add_image(image, "A3")


def write_table_workbook(table: Table, path: Path, synthetic: bool) -> Path:
    """A workbook of one table (e.g. the flag list of ``gongjian flags -o FILE.xlsx``)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.sheet
    _write_table(sheet, table, synthetic)
    workbook.save(path)
    return Path(path)
