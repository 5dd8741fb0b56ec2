"""The visit form for teams on ODK Collect / KoBoToolbox: an XLSForm out, ODK Central's CSV in.

* :func:`xlsform` — the form of one plan as an XLSForm workbook: the plan's households as a
  choice list (in route order, heads' names masked), the phone's position, the 两不愁三保障
  checklist, the result, notes and a photo; ``start``/``end`` give the time spent. Checked
  with pyxform (:func:`check_xlsform`), the reference converter of the XLSForm standard.
* :func:`read_submissions` — ODK Central's submissions CSV (``Download → CSV``; group paths
  joined by ``-``, a geopoint split into ``-Latitude``/``-Longitude``/``-Accuracy``) back as
  checked rows; every error names the row and the column.

>>> rows = [{"KEY": "uuid:5d0c0c3e-4c6b-4d36-9a3f-0d6a3c1c3b01", "household": "4418821010010001",
...          "start": "2026-12-01T09:00:00.000+08:00", "end": "2026-12-01T09:12:00.000+08:00",
...          "location-Latitude": "24.9", "location-Longitude": "112.4",
...          "location-Accuracy": "8", "check_food": "yes", "check_housing": "no",
...          "result": "issues", "notes": "漏雨", "photo": ""}]
>>> r = parse_rows(rows, "x.csv")[0]
>>> r.household_no, r.checks["housing"], r.lon, r.accuracy_m, str(r.instance_id)[:8]
('4418821010010001', False, 112.4, 8.0, '5d0c0c3e')
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass

import pandas as pd

from geo import vocab
from geo.masking import mask_name
from geo.routing.sheets import CHECKS, SheetError

CHINA = dt.timezone(dt.timedelta(hours=8))
MAX_BYTES = 20_000_000


def form_id(plan_id: int) -> str:
    return f"gongjian_plan_{plan_id}"


def xlsform(plan_id: int, title: str, stops: pd.DataFrame, version: str) -> bytes:
    """The XLSForm (XLSX bytes) of plan ``plan_id``; ``stops`` in route order with
    household_no, head_name, village_name, seq (NaN for households left out)."""
    import openpyxl

    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    for row in _survey():
        survey.append(row)
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label"])
    for s in stops.itertuples():
        seq = f"{int(s.seq)}. " if pd.notna(s.seq) else ""
        label = f"{seq}{mask_name(s.head_name)} · {s.village_name} · {s.household_no}"
        choices.append(["households", str(s.household_no), label])
    for code, text in (("yes", "是"), ("no", "否")):
        choices.append(["yes_no", code, text])
    for code, text in vocab.VISIT_RESULT.items():
        choices.append(["result", code, text])
    settings = book.create_sheet("settings")
    settings.append(["form_title", "form_id", "version", "instance_name", "default_language"])
    settings.append([f"{title} · 走访表", form_id(plan_id), version,
                     "concat(${household}, ' ', ${result})", "zh"])  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _survey() -> list[list[str]]:
    rows = [
        ["type", "name", "label", "required", "parameters", "hint"],
        ["start", "start", "", "", "", ""],
        ["end", "end", "", "", "", ""],
        ["select_one households", "household", "走访户", "yes", "", "按路线顺序"],
        ["geopoint", "location", "在户门口定位", "yes", "", "到户后再定位"],
    ]
    rows += [["select_one yes_no", f"check_{k}", v, "yes", "", ""] for k, v in CHECKS.items()]
    rows += [
        ["select_one result", "result", "结果", "yes", "", ""],
        ["text", "notes", "情况说明", "", "", "发现的问题、户主意见"],
        ["image", "photo", "照片", "", "max-pixels=1600", ""],
    ]
    return rows


def check_xlsform(data: bytes) -> str:
    """The XForm XML pyxform makes of the workbook; SheetError naming pyxform's complaint."""
    from pyxform.errors import PyXFormError
    from pyxform.xls2xform import convert

    try:
        return convert(xlsform=io.BytesIO(data), file_type=".xlsx").xform
    except PyXFormError as exc:
        raise SheetError(f"XLSForm refused by pyxform: {exc}") from exc


# --- ODK Central submissions back ----------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    row: int
    instance_id: uuid.UUID
    household_no: str
    started_at: dt.datetime
    recorded_at: dt.datetime
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    checks: dict[str, bool | None]
    result: str
    notes: str | None
    photo: str | None  # the attachment's file name


def read_export(data: bytes, name: str) -> tuple[list[Submission], dict[str, bytes]]:
    """ODK Central's export: the CSV alone, or its ZIP with the photos in ``media/``.

    Returns the submissions and the attachments by file name."""
    if not data.startswith(b"PK"):
        return read_submissions(data, name), {}
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SheetError(f"{name}: not a readable ZIP ({exc})") from exc
    csvs = [n for n in archive.namelist() if n.endswith(".csv") and "/" not in n]
    if len(csvs) != 1:
        raise SheetError(f"{name}: expected one submissions CSV at the top, found {csvs}")
    photos = {}
    for info in archive.infolist():
        if info.filename.startswith("media/") and not info.is_dir():
            if info.file_size > MAX_BYTES:
                raise SheetError(f"{name}: {info.filename} is over {MAX_BYTES / 1e6:.0f} MB")
            photos[info.filename.removeprefix("media/")] = archive.read(info)
    return read_submissions(archive.read(csvs[0]), f"{name}/{csvs[0]}"), photos


def read_submissions(data: bytes, name: str) -> list[Submission]:
    """ODK Central's submissions CSV as checked rows (SheetError names row and column)."""
    if len(data) > MAX_BYTES:
        raise SheetError(f"{name}: {len(data) / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:.0f} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(f"{name}: not UTF-8 text (ODK Central writes UTF-8 CSV)") from exc
    rows = list(csv.DictReader(io.StringIO(text)))
    return parse_rows(rows, name)


REQUIRED = ("household", "result")


def parse_rows(rows: list[dict[str, str]], name: str) -> list[Submission]:
    if rows:
        missing = [c for c in REQUIRED if c not in rows[0]]
        if missing:
            raise SheetError(f"{name}: no column {', '.join(missing)} (is this the plan's form?)")
    return [_submission(r, i + 2, name) for i, r in enumerate(rows)]  # row 1 is the header


def _submission(r: dict[str, str], row: int, name: str) -> Submission:
    def fail(column: str, message: str) -> SheetError:
        return SheetError(f"{name} row {row}, column {column}: {message}")

    key = (r.get("meta-instanceID") or r.get("KEY") or r.get("instanceID") or "").strip()
    try:
        instance = uuid.UUID(key.removeprefix("uuid:"))
    except ValueError:
        raise fail("meta-instanceID", f"not an ODK instance id: {key!r}") from None
    result = (r.get("result") or "").strip()
    if result not in vocab.VISIT_RESULT:
        raise fail("result", f"{result!r} is not one of {', '.join(vocab.VISIT_RESULT)}")
    household = (r.get("household") or "").strip()
    if not household:
        raise fail("household", "empty")
    started, ended = _time(r, "start", fail), _time(r, "end", fail)
    if started is None and ended is None:
        raise fail("end", "no time: the form's start and end are both empty")
    lon, lat, accuracy = (_number(r, f"location-{p}", fail)
                          for p in ("Longitude", "Latitude", "Accuracy"))  # fmt: skip
    checks = {k: _yes_no(r, f"check_{k}", fail) for k in CHECKS}
    notes = (r.get("notes") or "").strip() or None
    photo = (r.get("photo") or "").strip() or None
    return Submission(row, instance, household, started or ended, ended or started, lon, lat,
                      accuracy, checks, result, notes, photo)  # fmt: skip


def _time(r: dict, column: str, fail) -> dt.datetime | None:
    text = (r.get(column) or "").strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(column, f"not an ISO time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def _number(r: dict, column: str, fail) -> float | None:
    text = (r.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise fail(column, f"not a number: {text!r}") from None


def _yes_no(r: dict, column: str, fail) -> bool | None:
    text = (r.get(column) or "").strip().lower()
    if text in ("", "n/a"):
        return None
    if text not in ("yes", "no"):
        raise fail(column, f"{text!r} is neither yes nor no")
    return text == "yes"
