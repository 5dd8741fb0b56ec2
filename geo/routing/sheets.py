"""Spreadsheets in and out of the field: household lists, the results sheet to fill in, and
reading it back.

* :func:`read_household_list` — ``--households FILE``: CSV, XLSX or plain text with one
  household number per line; optional columns must-visit (必访), time window (最早/最晚
  到访) and priority (优先级).
* :func:`results_template` — the plan's stops as an XLSX (or CSV) with empty columns for the
  visit date, the result (核实无误/发现问题/未遇), the 两不愁三保障 ticks and the findings.
* :func:`read_results` — the filled-in sheet back as a DataFrame of checked values; every
  error names the row and the column.

Headers may be Chinese or English; the header row is the first row that names the household
number (so a title row above it is fine). Household numbers are read as text (never floats).

>>> rows = [["走访结果"], ["户编号", "结果", "不愁吃"], ["4418820001", "核实无误", "√"]]
>>> read_results_rows(rows, "x.csv")[["household_no", "result", "check_food"]].values.tolist()
[['4418820001', 'confirmed', True]]
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from geo import vocab
from geo.masking import neutralise_formula
from geo.routing.policy import clock, parse_clock
from geo.sensitivity import shown

MAX_BYTES = 20_000_000  # a results sheet is a few hundred rows
CHECKS: dict[str, str] = {  # 两不愁三保障 (seeds 002/003)
    "food": "不愁吃",
    "clothing": "不愁穿",
    "education": "义务教育有保障",
    "medical": "基本医疗有保障",
    "housing": "住房安全有保障",
}
CHECK_SHORT = {"food": "不愁吃", "clothing": "不愁穿", "education": "义务教育",
               "medical": "基本医疗", "housing": "住房安全"}  # fmt: skip
HEADERS: dict[str, tuple[str, ...]] = {
    "household_no": ("户编号", "户号", "贫困户编号", "household_no", "household", "户编码"),
    "must_visit": ("必访", "必须走访", "must_visit", "must"),
    "window_start": ("最早到访", "最早", "开始时间", "window_start", "earliest"),
    "window_end": ("最晚到访", "最晚", "结束时间", "window_end", "latest"),
    "priority": ("优先级", "priority"),
    "plan_id": ("计划编号", "plan_id", "plan"),
    "seq": ("序号", "seq", "order"),
    "visit_date": ("走访日期", "日期", "visit_date", "date"),
    "result": ("结果", "走访结果", "result"),
    "findings": ("问题说明", "发现问题说明", "说明", "findings", "备注", "note"),
    **{f"check_{k}": (v, CHECK_SHORT[k], f"check_{k}", k) for k, v in CHECKS.items()},
}
TICK_TRUE = frozenset({"√", "✓", "✔", "v", "是", "有", "y", "yes", "true", "1", "达标", "有保障"})
TICK_FALSE = frozenset({"×", "✗", "✘", "x", "否", "无", "n", "no", "false", "0", "未达标",
                        "无保障", "不达标"})  # fmt: skip


class SheetError(ValueError):
    """A sheet that cannot be used; the message names the row and the column."""


# --- reading ------------------------------------------------------------------------------


def read_rows(data: bytes, name: str) -> list[list[object]]:
    """Cells of the first sheet of an XLSX, or of a CSV (UTF-8 or GBK) / text file."""
    if len(data) > MAX_BYTES:
        raise SheetError(f"{name}: {len(data) / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:.0f} MB")
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm") or data[:2] == b"PK":
        return _xlsx_rows(data, name)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise SheetError(f"{name}: not text (UTF-8 or GBK)")
    if suffix == ".txt":
        return [[line] for line in text.splitlines()]
    return [list(row) for row in csv.reader(io.StringIO(text))]


def _xlsx_rows(data: bytes, name: str) -> list[list[object]]:
    import openpyxl
    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:  # pragma: no cover - defusedxml is installed with the project
        raise SheetError(f"{name}: install defusedxml to read workbooks safely")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(m.file_size for m in archive.infolist()) > 10 * MAX_BYTES:
                raise SheetError(f"{name}: unpacks to more than {10 * MAX_BYTES / 1e6:.0f} MB")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise SheetError(f"{name}: not a readable Excel workbook ({exc})") from None
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _cell(value: object) -> str | None:
    """A cell as trimmed text (numbers as written: 3.0 → '3'; a leading ' quote dropped)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"^'(?=[=+\-@\t\r])", "", text)
    return text or None


def _key(text: object) -> str:
    return re.sub(r"[\s*:：（）()]", "", unicodedata.normalize("NFKC", str(text))).lower()


def _header_map(row: Sequence[object]) -> dict[str, int]:
    lookup = {_key(alias): field for field, aliases in HEADERS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(row):
        field = lookup.get(_key(cell)) if cell is not None else None
        if field and field not in found:
            found[field] = index
    return found


def _table(rows: list[list[object]], name: str) -> tuple[list[dict[str, str | None]], int]:
    """(records keyed by field, 1-based row number of the header) of a sheet."""
    for number, row in enumerate(rows, start=1):
        columns = _header_map(row)
        if "household_no" in columns:
            records = []
            for values in rows[number:]:
                record = {f: _cell(values[i]) if i < len(values) else None
                          for f, i in columns.items()}  # fmt: skip
                records.append(record)
            return records, number
    raise SheetError(f"{name}: no header row naming the household number (户编号)")


def _household_no(text: str | None, where: str) -> str:
    if text is None:
        raise SheetError(f"{where}: 户编号 (household number) is empty")
    if re.fullmatch(r"\d+(\.0+)?", text) is None and not re.fullmatch(r"[0-9A-Za-z-]+", text):
        raise SheetError(f"{where}: 户编号 {text!r} is not a household number")
    if "e+" in text.lower():  # pragma: no cover - caught by the pattern above
        raise SheetError(f"{where}: 户编号 {text!r} was turned into a number by a spreadsheet")
    return text.split(".")[0]


# --- household lists ----------------------------------------------------------------------


def read_household_list(data: bytes, name: str) -> pd.DataFrame:
    """Household numbers to visit, with optional must-visit, window and priority columns.

    A text file (or a CSV without a header) is one household number per line.
    """
    rows = [r for r in read_rows(data, name) if any(_cell(c) for c in r)]
    if (
        rows
        and "household_no" not in _header_map(rows[0])
        and not any("household_no" in _header_map(r) for r in rows[:10])
    ):
        rows = [["户编号"], *([r[0]] for r in rows)]
    records, header = _table(rows, name)
    out = []
    for offset, record in enumerate(records, start=1):
        where = f"{name} row {header + offset}"
        if not any(record.values()):
            continue
        item = {"household_no": _household_no(record.get("household_no"), where)}
        item["must_visit"] = _tick(record.get("must_visit"), f"{where} 必访") or False
        for field in ("window_start", "window_end"):
            value = record.get(field)
            if value is not None:
                try:
                    value = clock(parse_clock(value))
                except ValueError as exc:
                    raise SheetError(f"{where} {field}: {exc}") from None
            item[field] = value
        item["priority"] = _number(record.get("priority"), f"{where} 优先级", 0, 100)
        out.append(item)
    if not out:
        raise SheetError(f"{name}: no household numbers")
    frame = pd.DataFrame(out)
    twice = frame.household_no[frame.household_no.duplicated()]
    if len(twice):
        raise SheetError(f"{name}: household {twice.iloc[0]} is listed twice")
    return frame


def _tick(value: str | None, where: str) -> bool | None:
    if value is None:
        return None
    key = value.strip().lower()
    if key in TICK_TRUE:
        return True
    if key in TICK_FALSE:
        return False
    raise SheetError(f"{where}: {value!r} is neither ticked (√/是/1) nor crossed (×/否/0)")


def _number(value: str | None, where: str, low: float, high: float) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise SheetError(f"{where}: {value!r} is not a number") from None
    if not low <= number <= high:
        raise SheetError(f"{where}: {number:g} is not between {low:g} and {high:g}")
    return number


# --- results ------------------------------------------------------------------------------


def results_template(stops: pd.DataFrame, title: str, plan_id: int | None = None) -> bytes:
    """An XLSX results sheet: the plan's stops in order, with empty columns to fill in.

    ``stops``: planned stops with household_no, head_name, village_name, hamlet_name,
    inspector_name, day, seq, begin_min (names are masked here whatever comes in).
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "走访结果"
    headers = ["计划编号", "督查员", "天", "序号", "户编号", "户主", "行政村", "自然村", "预计走访",
               "走访日期", "结果", *CHECK_SHORT.values(), "问题说明"]  # fmt: skip
    sheet.append([title])
    sheet.append(
        ["填写说明：结果填 核实无误/发现问题/未遇；两不愁三保障各项填 √（有保障）或 ×（未保障）"]
    )
    sheet.append(headers)
    for row in stops.sort_values(["inspector", "day", "seq"]).itertuples():
        sheet.append([
            plan_id, row.inspector_name, int(row.day), int(row.seq), str(row.household_no),
            neutralise_formula(shown("route_stop", "head_name", getattr(row, "head_name", None))),
            neutralise_formula(getattr(row, "village_name", None)),
            neutralise_formula(getattr(row, "hamlet_name", None)),
            clock(row.begin_min), None, None, *([None] * len(CHECKS)), None,
        ])  # fmt: skip
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFE8E0D0")
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for column, width in zip("ABCDEFGHIJKLMNOPQ", (8, 10, 4, 5, 20, 8, 12, 12, 8, 12, 10,
                                                   7, 7, 8, 8, 8, 30), strict=True):  # fmt: skip
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=4, min_col=5, max_col=5):
        for cell in row:
            cell.number_format = "@"  # household numbers stay text
    last = sheet.max_row
    results = DataValidation(type="list", formula1='"核实无误,发现问题,未遇"', allow_blank=True)
    ticks = DataValidation(type="list", formula1='"√,×"', allow_blank=True)
    sheet.add_data_validation(results)
    sheet.add_data_validation(ticks)
    results.add(f"K4:K{last}")
    ticks.add(f"L4:P{last}")
    sheet.freeze_panes = "A4"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def read_results(data: bytes, name: str) -> pd.DataFrame:
    """A filled-in results sheet (XLSX or CSV) as checked values, one row per household."""
    return read_results_rows(read_rows(data, name), name)


def read_results_rows(rows: list[list[object]], name: str) -> pd.DataFrame:
    records, header = _table(rows, name)
    out = []
    for offset, record in enumerate(records, start=1):
        where = f"{name} row {header + offset}"
        if not any(v for k, v in record.items() if k not in ("seq", "plan_id")):
            continue
        number = _household_no(record.get("household_no"), where)
        where = f"{where} (户编号 {number})"
        filled = [record.get("result"), *(record.get(f"check_{c}") for c in CHECKS)]
        if not any(filled) and not record.get("findings"):
            continue  # a row nobody filled in: not visited yet
        item: dict[str, object] = {"household_no": number}
        item["plan_id"] = int(_number(record.get("plan_id"), f"{where} 计划编号", 0, 2**31))
        item["result"] = _result(record.get("result"), where)
        item["visit_date"] = _date(record.get("visit_date"), where)
        for check in CHECKS:
            item[f"check_{check}"] = _tick(record.get(f"check_{check}"), f"{where} {CHECKS[check]}")
        item["findings"] = record.get("findings")
        out.append(item)
    frame = pd.DataFrame(out, columns=["household_no", "plan_id", "result", "visit_date",
                                       *(f"check_{c}" for c in CHECKS), "findings"])  # fmt: skip
    twice = frame.household_no[frame.household_no.duplicated()]
    if len(twice):
        raise SheetError(f"{name}: household {twice.iloc[0]} appears twice")
    return frame


def _result(value: str | None, where: str) -> str:
    if value is None:
        raise SheetError(f"{where}: 结果 is empty (核实无误/发现问题/未遇)")
    key = _key(value)
    for code, label in vocab.VISIT_RESULT.items():
        if key in (code, _key(label)):
            return code
    choices = "/".join(vocab.VISIT_RESULT.values())
    raise SheetError(f"{where}: 结果 {value!r} is not one of {choices}")


def _date(value: str | None, where: str) -> dt.date | None:
    if value is None:
        return None
    text = value.replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-")
    text = text.replace(".", "-")
    try:
        return dt.date.fromisoformat("-".join(p.zfill(2) for p in text.split()[0].split("-")))
    except ValueError:
        raise SheetError(f"{where}: 走访日期 {value!r} is not a date (2018-12-20)") from None


def failing_checks(row: pd.Series) -> list[str]:
    """Labels of the 两不愁三保障 items crossed on a results row."""
    return [CHECKS[c] for c in CHECKS if row.get(f"check_{c}") is False]
