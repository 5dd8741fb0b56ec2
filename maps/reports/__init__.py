"""Rendering of the monthly progress report (每月一报): XLSX (openpyxl) and PDF (matplotlib).

>>> from maps.reports import write_report                      # doctest: +SKIP
>>> write_report(report, Path("星子镇_2018年6月.xlsx"))          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from layers.reports import MonthlyReport

FORMATS = (".xlsx", ".pdf")


def write_report(report: MonthlyReport, path: Path, *, with_map: bool = True) -> Path:
    """Write ``report`` as XLSX or PDF, chosen by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from maps.reports.charts import map_png
        from maps.reports.xlsx import write_xlsx

        return write_xlsx(report, path, map_png(report) if with_map else None)
    if suffix == ".pdf":
        from maps.reports.pdf import write_pdf

        return write_pdf(report, path)
    raise ValueError(f"{path.name}: write the report as {' or '.join(FORMATS)}")
