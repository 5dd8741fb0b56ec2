"""Monitoring over HTTP: the monthly report, progress series, flags and the dashboard page.

* ``GET /reports/monthly/{code}.{json|xlsx|pdf}?month=YYYY-MM[&as_of=YYYY-MM-DD]`` — the
  monthly report (每月一报) of a township (9 digits) or county (6 digits);
* ``GET /reports/progress/{code}?start=YYYY-MM&end=YYYY-MM`` — households by status at each
  month's end and exits per month, against the year's target (dashboard charts);
* ``GET /flags`` — the flags as last refreshed by ``gongjian flags`` (a page, filtered);
* ``GET /flags/summary/{code}`` — flags per kind and township;
* ``GET /dashboard`` — the dashboard page (a shell: its data is fetched with the token).

Every data route needs a token; an area outside the caller's scope is 404 like an unknown
one, and every query runs in the caller's scoped connection (row-level security).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path as FilePath
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import current_caller
from api.deps import get_engine, synthetic_note
from geo.flags import FLAG_KINDS, SYNTHETIC_NOTE, Period
from geo.policy import load_profile
from layers import flags as flag_layer
from layers import reports
from layers.access import Caller, scoped_connection
from layers.features import MAX_OFFSET
from layers.history import data_date
from maps.reports import dashboard

router = APIRouter(tags=["monitoring"])

AREA = Path(..., pattern=r"^(\d{6}|\d{9})$", description="township (9) or county (6) code")
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _in_scope(caller: Caller, code: str) -> None:
    """An area the caller may not see answers like one that does not exist."""
    if not code.startswith(caller.scope.code):
        raise HTTPException(404, f"no township or county {code} in your scope")


def _period(month: str | None, as_of: dt.date | None, conn, code: str) -> Period:
    try:
        if month:
            return Period.of(month, as_of)
        return Period.containing(as_of or data_date(conn, code))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None:
        return []
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


@router.get(
    "/reports/monthly/{code}.{fmt}",
    summary="Monthly progress report (每月一报) of a township or county: JSON, XLSX or PDF",
    description=(
        "Households and people by status, exits this month and year against seed 002's "
        "targets, income against the 45 % line, dangerous-house rebuilding, help records per "
        "measure and cadre, coverage and flags, as recorded in the dynamic archive on the "
        "day (`as_of`, default the month's last day). Without `month`: the month of `as_of`, "
        "or of the data's last day. No household names or ID numbers."
    ),
    response_model=None,
    responses={200: {"content": {MEDIA["xlsx"]: {}, MEDIA["pdf"]: {}}}},
)
def monthly_report(
    code: str = AREA,
    fmt: str = Path(..., pattern="^(json|xlsx|pdf)$", description="json, xlsx or pdf"),
    month: str | None = Query(None, pattern=MONTH, description="reporting month, YYYY-MM"),
    as_of: dt.date | None = Query(None, description="state on this day (YYYY-MM-DD)"),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> Response | dict:
    _in_scope(caller, code)
    with scoped_connection(engine, caller.scope) as conn:
        period = _period(month, as_of, conn, code)
        try:
            report = reports.monthly_report(
                conn, code, period, load_profile(), public=not caller.sees_personal_data
            )
        except reports.ReportError as exc:
            raise HTTPException(404, str(exc)) from None
    if fmt == "json":
        return _report_json(report)
    from maps.reports import write_report
    from maps.reports.tables import file_stem

    with tempfile.TemporaryDirectory() as folder:
        path = write_report(report, FilePath(folder) / f"report.{fmt}")
        body = path.read_bytes()
    name = quote(f"{file_stem(report)}.{fmt}")
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


def _report_json(report: reports.MonthlyReport) -> dict:
    return {
        "note": SYNTHETIC_NOTE if report.synthetic else None,
        "area": {"code": report.area.code, "level": report.area.level, "name": report.area.title},
        "month": report.period.month,
        "as_of": report.period.as_of.isoformat(),
        "profile": report.profile_fingerprint,
        "summary": json.loads(json.dumps(report.summary, default=str)),
        "status": _records(report.status),
        "exits": _records(report.exits),
        "progress": _records(report.progress),
        "income": _records(report.income),
        "income_histogram": _records(report.income_histogram),
        "housing": _records(report.housing),
        "measures": _records(report.measures),
        "cadres": _records(report.cadres),
        "coverage": _records(report.coverage),
        "flags": _records(report.flags),
    }


@router.get(
    "/reports/progress/{code}",
    summary="Progress month by month: households by status, exits, the year's target",
)
def progress(
    code: str = AREA,
    start: str | None = Query(None, pattern=MONTH, description="first month (YYYY-MM)"),
    end: str | None = Query(None, pattern=MONTH, description="last month (default: data end)"),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    _in_scope(caller, code)
    with scoped_connection(engine, caller.scope) as conn:
        last = Period.of(end) if end else Period.containing(data_date(conn, code))
        first = Period.of(start) if start else Period.of(f"{last.start.year - 2}-01")
        if first.start > last.start:
            raise HTTPException(400, "start is after end")
        if (last.start.year - first.start.year) > 10:
            raise HTTPException(400, "at most ten years at a time")
        months = list(_months(first, last))
        try:
            series = reports.progress_series(conn, code, months, load_profile())
            area = reports.find_area(conn, code)
        except reports.ReportError as exc:
            raise HTTPException(404, str(exc)) from None
    if len(series):
        series["month_end"] = series["month_end"].astype(str)
    return {
        "note": SYNTHETIC_NOTE if area.synthetic else None,
        "area": {"code": area.code, "level": area.level, "name": area.title},
        "months": _records(series),
    }


def _months(first: Period, last: Period):
    day = first.start
    while day <= last.start:
        yield Period.of(f"{day.year}-{day.month:02d}")
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@router.get(
    "/flags",
    summary="Flags (数字脱贫, neglect, suspicious records) as refreshed by `gongjian flags`",
    description="Each flag with its rule and evidence; ID numbers masked, no household names.",
)
def flags(
    township: str | None = Query(None, pattern=r"^\d{9}$"),
    county: str | None = Query(None, pattern=r"^\d{6}$"),
    kind: str | None = Query(None, description="comma-separated: " + ", ".join(FLAG_KINDS)),
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    caller: Caller = Depends(current_caller),
    engine=Depends(get_engine),
) -> dict:
    area = township or county or caller.scope.code
    kinds = tuple(k.strip() for k in kind.split(",")) if kind else None
    unknown = sorted(set(kinds or ()) - set(FLAG_KINDS))
    if unknown:
        raise HTTPException(400, f"unknown flag kind(s) {unknown}; known: {', '.join(FLAG_KINDS)}")
    if not area.startswith(caller.scope.code):
        if not caller.scope.code.startswith(area):
            raise HTTPException(404, f"no area {area} in your scope")
        area = caller.scope.code  # a county asked by a township user: their township
    with scoped_connection(engine, caller.scope) as conn:
        page, total = flag_layer.stored_flags(
            conn,
            area,
            kinds=kinds,
            limit=limit,
            offset=offset,
            public=not caller.sees_personal_data,
        )
    synthetic = bool(page["synthetic"].any()) if len(page) else False
    return {
        "note": SYNTHETIC_NOTE if synthetic else None,
        "numberMatched": total,
        "numberReturned": len(page),
        "offset": offset,
        "flags": _records(page),
    }


@router.get("/flags/summary/{code}", summary="Flags per kind and township (stored flags)")
def flags_summary(
    code: str = AREA, caller: Caller = Depends(current_caller), engine=Depends(get_engine)
) -> dict:
    _in_scope(caller, code)
    with scoped_connection(engine, caller.scope) as conn:
        counts = flag_layer.stored_counts(conn, code)
    return {
        "kinds": FLAG_KINDS,
        "counts": _records(counts),
        "as_of": sorted({str(d) for d in counts["as_of"].dropna()}) if len(counts) else [],
    }


@router.get(
    "/dashboard",
    summary="The dashboard page (HTML): progress over time, flags by kind, links",
    response_class=HTMLResponse,
)
def dashboard_page(request: Request) -> HTMLResponse:
    title = request.app.state.settings.title
    return HTMLResponse(dashboard.dashboard_html(title=title, note=synthetic_note(request)))
