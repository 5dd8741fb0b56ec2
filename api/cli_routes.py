"""``gongjian route``: plan inspectors' field days, write their files, read the results back.

    gongjian route plan --township 441882105 --sample 40 --strategy risk \\
        --inspectors 3 --days 2 -o out/routes
    gongjian route results out/routes/results.xlsx        # the filled-in sheet
    gongjian route list --township 441882105
    gongjian route files 12 -o out/routes-12              # the files of a stored plan
    gongjian route xlsform 12 -o out/form-12.xlsx         # the visit form for ODK/KoBo
    gongjian route odk 12 submissions.csv                 # ODK Central's export back
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import typer
from rich.table import Table

from api.cli_common import actor, fail, out, parse_date, ready_engine, spinner
from geo.synthetic import SYNTHETIC_NOTE

route_app = typer.Typer(
    help="Inspectors' field routes: sample households, plan K inspectors × D days along the "
    "roads, GPX/KML/GeoJSON/PDF/HTML, and the visit results back.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(route_app, name="route")


def _inspectors(names: list[str] | None, count: int | None):
    """``--inspector 张三`` or ``--inspector 张三@112.41,24.92`` (own start), else a count."""
    from geo.routing.plan import Inspector

    if not names:
        return count
    if count is not None and count != len(names):
        fail(f"--inspectors {count} but {len(names)} --inspector names given", 2)
    people = []
    for text in names:
        name, _, where = text.partition("@")
        start = None
        if where:
            try:
                lon, lat = (float(v) for v in where.split(","))
            except ValueError:
                fail(f"--inspector {text!r}: the start must be lon,lat (e.g. 112.41,24.92)", 2)
            if not (73 <= lon <= 136 and 3 <= lat <= 54):
                fail(f"--inspector {text!r}: {lon},{lat} is not a WGS84 lon,lat in China", 2)
            start = (lon, lat)
        if not name.strip():
            fail(f"--inspector {text!r}: the name is empty", 2)
        people.append(Inspector(name.strip(), start))
    return people


@route_app.command("plan")
def plan(
    township: str = typer.Option(..., "--township", help="9-digit township code."),
    village: str = typer.Option(None, "--village", help="Only this village (12 digits)."),
    sample: int = typer.Option(None, "--sample", help="Households to sample (default: profile)."),
    strategy: str = typer.Option("random", "--strategy", help="random | stratified | risk."),
    households: Path = typer.Option(
        None,
        "--households",
        exists=True,
        dir_okay=False,
        help="Visit these households instead: CSV/XLSX/TXT with 户编号 (optional 必访, "
        "最早到访/最晚到访 HH:MM, 优先级).",
    ),
    inspectors: int = typer.Option(None, "--inspectors", help="Number of inspectors K."),
    inspector: list[str] = typer.Option(
        None,
        "--inspector",
        help="An inspector's name, optionally @lon,lat of their own start "
        "(repeat for each; default: 督查员1…, from the township office).",
    ),
    days: int = typer.Option(None, "--days", help="Days per inspector D."),
    hours: float = typer.Option(None, "--hours", help="Working hours per day."),
    service_min: float = typer.Option(None, "--service-min", help="Minutes at each household."),
    day_start: str = typer.Option(None, "--day-start", help="Leave at HH:MM (default 08:30)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**31 - 1, help="Same seed, same plan."),
    as_of: str = typer.Option(
        None, "--as-of", help="Risk facts and 'visited this quarter' as of (default today)."
    ),
    start_date: str = typer.Option(None, "--start-date", help="Date of day 1 (YYYY-MM-DD)."),
    include_visited: bool = typer.Option(
        False, "--include-visited", help="Also sample households visited this quarter."
    ),
    profile_path: Path = typer.Option(
        None, "--profile", exists=True, dir_okay=False, help="Policy profile over the defaults."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the plan's files."),
) -> None:
    """Sample households (or take a list), plan the days along the roads, store the plan and
    write route sheets (PDF), GPX/KML for phones, GeoJSON, an HTML map and a results sheet."""
    from geo.network import NetworkError
    from geo.policy import PolicyError, load_profile
    from geo.routing.plan import PlanError
    from geo.routing.sampling import STRATEGIES, SamplingError
    from geo.routing.sheets import SheetError, read_household_list
    from layers import routes
    from maps.route_files import write_plan_files

    if village and not village.startswith(township):
        fail(f"--village {village} is not in township {township}", 2)
    if households is not None and sample is not None:
        fail("give --sample or --households, not both", 2)
    if households is None and strategy not in STRATEGIES:
        fail(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", 2)
    try:
        profile = load_profile(profile_path)
        listed = (
            read_household_list(households.read_bytes(), households.name) if households else None
        )
    except (PolicyError, SheetError) as exc:
        fail(str(exc), 2)
    request = routes.PlanRequest(
        area_code=village or township,
        strategy="list" if households else strategy,
        sample=sample,
        households=listed,
        inspectors=_inspectors(inspector, inspectors),
        days=days,
        hours=hours,
        service_min=service_min,
        day_start=day_start,
        seed=seed,
        as_of=parse_date(as_of, "--as-of") or dt.date.today(),
        start_date=parse_date(start_date, "--start-date"),
        skip_visited=False if include_visited else None,
    )
    engine = ready_engine()
    started = time.perf_counter()
    status = spinner("planning routes…")
    try:
        with status, engine.begin() as conn:
            made = routes.make_plan(conn, request, actor=actor(), profile=profile)
            status.update("drawing route sheets and maps…")
            layers = routes.layers_for(conn, made.plan)
    except (
        routes.RouteError,
        routes.PlanRejected,
        SamplingError,
        PlanError,
        NetworkError,
        PolicyError,
    ) as exc:
        fail(str(exc))
    files = write_plan_files(made.plan, layers, output)
    _print_plan(made, time.perf_counter() - started)
    out.print(f"{len(files)} files in {output}/ (route_sheets.pdf, plan.html, results.xlsx, …)")


def _print_plan(made, seconds: float) -> None:
    from geo.routing.policy import clock

    p = made.plan
    table = Table(title=f"{p.meta['title']} · 计划 #{made.plan_id}", padding=(0, 1))
    for column in ("督查员", "天", "日期", "户", "出发", "返回", "行车分钟", "公里"):
        table.add_column(column, justify="left" if column in ("督查员", "日期") else "right")
    for d in p.days.itertuples():
        table.add_row(d.inspector_name, str(d.day), str(d.date or ""), str(d.stops),
                      clock(d.start_min), clock(d.finish_min), f"{d.travel_min:.0f}",
                      f"{d.distance_m / 1000:.1f}")  # fmt: skip
    out.print(table)
    s = p.summary()
    note = f" — {SYNTHETIC_NOTE}" if p.meta.get("synthetic") else ""
    out.print(
        f"{s['planned']} of {s['households']} households planned "
        f"(from {made.candidates} candidates), {s['unassigned']} left out; travel "
        f"{s['travel_min']:.0f} min, {s['distance_km']:.1f} km; {seconds:.1f} s{note}",
        highlight=False,
    )
    for m in made.missing:
        out.print(f"  not in the area: {m}", highlight=False)
    for u in p.unassigned.itertuples():
        out.print(f"  left out {u.household_no}: {u.reason_text}", highlight=False)


@route_app.command("results")
def results(
    sheet: Path = typer.Argument(..., exists=True, dir_okay=False, help="Filled-in XLSX/CSV."),
    plan_id: int = typer.Option(None, "--plan", help="Plan id (default: the sheet's 计划编号)."),
) -> None:
    """Record the visit results of a filled-in results sheet (idempotent: importing the same
    sheet again changes nothing; a corrected sheet corrects the visits)."""
    from geo.routing.sheets import SheetError, read_results
    from layers import routes

    try:
        frame = read_results(sheet.read_bytes(), sheet.name)
    except SheetError as exc:
        fail(str(exc), 2)
    if plan_id is None:
        ids = sorted({int(v) for v in frame.plan_id.dropna() if int(v) > 0})
        if len(ids) != 1:
            fail("the sheet names no single plan (计划编号): give --plan ID", 2)
        plan_id = ids[0]
    if frame.empty:
        out.print("nothing filled in yet: no results recorded")
        return
    engine = ready_engine()
    try:
        with engine.begin() as conn:
            summary = routes.record_results(conn, plan_id, frame, actor=actor(), scope=None)
    except (routes.RouteError, routes.ResultError) as exc:
        fail(str(exc))
    out.print(f"plan #{plan_id}: {summary.describe()}", highlight=False)


@route_app.command("list")
def list_plans(
    township: str = typer.Option(None, "--township", help="Only plans in this area."),
) -> None:
    """The latest plans with their households, how many were visited, who made them."""
    from layers import routes

    engine = ready_engine()
    with engine.connect() as conn:
        frame = routes.list_plans(conn, township)
    table = Table(padding=(0, 1))
    for column in ("#", "计划", "抽样", "户", "已安排", "已走访", "行车分钟", "制定人", "时间"):
        table.add_column(column)
    for r in frame.itertuples():
        table.add_row(str(r.id), r.title, r.strategy, str(r.households), str(r.planned),
                      str(r.visited), str(r.travel_min), r.created_by,
                      r.created_at.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    out.print(table)


@route_app.command("files")
def files(
    plan_id: int = typer.Argument(..., help="Plan id (gongjian route list)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the files."),
) -> None:
    """Write the files of a stored plan again (with the results recorded so far)."""
    from layers import routes
    from maps.route_files import write_plan_files

    engine = ready_engine()
    try:
        with engine.connect() as conn:
            stored = routes.load_plan(conn, plan_id, None)
            layers = routes.layers_for(conn, stored)
    except routes.RouteError as exc:
        fail(str(exc))
    written = write_plan_files(stored, layers, output)
    out.print(f"{len(written)} files in {output}/", highlight=False)


def _plan_caller(conn, plan_id: int):
    """The command line acts as an admin of the plan's own area."""
    import sqlalchemy as sa

    from layers.access import Caller, Scope

    area = conn.execute(
        sa.text("SELECT area_code FROM route_plan WHERE id = :id"), {"id": plan_id}
    ).scalar()
    if area is None:
        fail(f"no route plan {plan_id}")
    return Caller(name=actor(), role="admin", scope=Scope(area))


@route_app.command("xlsform")
def xlsform(
    plan_id: int = typer.Argument(..., help="Plan id (gongjian route list)."),
    output: Path = typer.Option(..., "-o", "--output", help="The XLSForm (.xlsx) to write."),
) -> None:
    """The plan's visit form as an XLSForm for ODK Collect / KoBoToolbox (checked by pyxform),
    with the plan's households as the choice list."""
    from geo.routing.sheets import SheetError
    from layers import routes

    engine = ready_engine()
    try:
        with engine.connect() as conn:
            data = routes.visit_xlsform(conn, plan_id, None)
    except (routes.RouteError, SheetError) as exc:
        fail(str(exc))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    out.print(f"{output}: XLSForm of plan #{plan_id} (checked with pyxform)", highlight=False)


@route_app.command("odk")
def odk(
    plan_id: int = typer.Argument(..., help="Plan id of the form the submissions are for."),
    export: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="ODK Central's submissions CSV, or its ZIP."
    ),
) -> None:
    """Store ODK Central submissions of the plan's form as visits (importing the same export
    again stores nothing twice; a bad row stops the import and names row and column)."""
    from geo.field import field_policy
    from geo.policy import load_profile
    from geo.routing.odk import read_export
    from geo.routing.sheets import SheetError
    from layers import field, odk

    try:
        submissions, photos = read_export(export.read_bytes(), export.name)
    except SheetError as exc:
        fail(str(exc), 2)
    engine = ready_engine()
    try:
        with engine.begin() as conn:
            caller = _plan_caller(conn, plan_id)
            summary = odk.import_odk(
                conn, plan_id, submissions, photos, caller, field_policy(load_profile()),
                max_photo_bytes=20_000_000, source=export.name,
            )  # fmt: skip
    except field.FieldError as exc:
        fail(str(exc))
    out.print(f"plan #{plan_id}: {summary.describe()}", highlight=False)
