"""Monitoring commands: ``gongjian report monthly``, ``gongjian flags``, ``gongjian history``.

gongjian report monthly --township 441882101 --month 2018-06 -o 星子镇_2018-06.pdf
gongjian report monthly --county 441882 --month 2018-12 -o 连州市_2018-12.xlsx
gongjian report monthly --county all --month 2018-12 -o reports/2018-12 --dask tcp://HOST:8786
gongjian flags --township 441882101 -o flags.xlsx
gongjian history show 4418821012010001
gongjian history backfill-demo
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from api import cli_batch
from api.cli_common import fail, out, parse_date, ready_engine, spinner

report_app = typer.Typer(help="Progress reports (每月一报): XLSX and PDF.", no_args_is_help=True)
history_app = typer.Typer(
    help="The dynamic archive (动态档案) of households.", no_args_is_help=True
)

PROFILE_OPTION = typer.Option(
    None, "--profile", exists=True, dir_okay=False, help="Policy profile (TOML) over the defaults."
)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.command("flags")(flags)
    app.add_typer(history_app, name="history")


def _area(township: str | None, county: str | None, required: bool = True) -> str | None:
    if township and county:
        fail("give --township or --county, not both", 2)
    if required and not (township or county):
        fail("give --township CODE (9 digits) or --county CODE (6 digits)", 2)
    return township or county


def _profile(path: Path | None):
    from geo.policy import PolicyError, load_profile

    try:
        return load_profile(path)
    except PolicyError as exc:
        fail(str(exc), 2)


@report_app.command("monthly")
def monthly(
    township: str = typer.Option(None, "--township", help="Township code (9 digits)."),
    county: str = typer.Option(None, "--county", help="County code (6 digits): by township."),
    month: str = typer.Option(None, "--month", help="Reporting month, YYYY-MM."),
    as_of: str = typer.Option(
        None, "--as-of", help="State on this day (default: the month's last day)."
    ),
    output: Path = typer.Option(
        None, "-o", "--output", help="FILE.xlsx or FILE.pdf; with --county all or A,B: a DIR."
    ),
    profile_path: Path = PROFILE_OPTION,
    with_flags: bool = typer.Option(True, "--flags/--no-flags", help="Include the flags."),
    fmt: str = typer.Option(
        None, "--format", help="xlsx or pdf (default xlsx) when -o is a directory or left out."
    ),
    dask: str = cli_batch.DASK_OPTION,
    workers: int = cli_batch.WORKERS_OPTION,
    local_fallback: bool = cli_batch.FALLBACK_OPTION,
) -> None:
    """The monthly progress report (每月一报, seed 001) of a township or county.

    Households and people by status, exits this month and year against seed 002's targets,
    income against the 45 % line, dangerous-house rebuilding, help records per measure and
    cadre, coverage, flags and a small map — as recorded in the dynamic archive on the day.
    With --county all (or A,B): one Dask task per county, one file per county in -o DIR
    (default reports/YYYY-MM/) and an index.csv; exit 1 if a county failed.
    """
    from layers.reports import ReportError, monthly_report
    from maps.reports import FORMATS, write_report
    from maps.reports.tables import file_stem

    fmt = _format(fmt)
    # --county all or A,B; one county with --dask (or GONGJIAN_DASK) too, unless -o names a file
    one_file = output is not None and output.suffix.lower() in FORMATS
    many = cli_batch.is_batch(county, None)
    if not township and (many or (cli_batch.is_batch(county, dask) and not one_file)):
        _batch_monthly(county, month, as_of, output, fmt, profile_path, with_flags,
                       dask, workers, local_fallback)  # fmt: skip
        return
    code = _area(township, county)
    period = _period(month, as_of)
    if output is not None and output.suffix.lower() not in FORMATS:
        fail(f"{output.name}: write the report as .xlsx or .pdf", 2)
    if output is not None and fmt and output.suffix.lower() != f".{fmt}":
        fail(f"{output.name} is not a .{fmt} file: leave out --format, or change -o", 2)
    profile = _profile(profile_path)
    engine = ready_engine()
    with spinner(f"computing the report of {code} for {period.month}…"), engine.begin() as conn:
        try:
            report = monthly_report(conn, code, period, profile, with_flags=with_flags)
        except ReportError as exc:
            fail(str(exc))
    target = output or Path(f"{file_stem(report)}.{fmt or 'xlsx'}")
    with spinner(f"writing {target}…"):
        write_report(report, target)
    _print_summary(report)
    out.print(f"wrote {target}", highlight=False)


def _format(fmt: str | None) -> str | None:
    from maps.reports.batch import FORMATS

    if fmt is not None and fmt.lower().lstrip(".") not in FORMATS:
        fail(f"--format must be {' or '.join(FORMATS)}, got {fmt!r}", 2)
    return fmt.lower().lstrip(".") if fmt else None


def _period(month: str | None, as_of: str | None):
    """The reporting period of --month and --as-of; exit 2 with the reason if they are bad."""
    from maps.reports.batch import report_period

    parse_date(as_of)  # a malformed date is named as --as-of
    try:
        return report_period(month, as_of)
    except ValueError as exc:
        fail(str(exc), 2)


def _batch_monthly(county, month, as_of, output, fmt, profile_path, with_flags, dask, workers,
                   fallback) -> None:  # fmt: skip
    """``report monthly --county all`` / ``A,B`` / ``--dask``: one file per county in a DIR."""
    from layers.batch import county_titles
    from maps.reports import FORMATS
    from maps.reports.batch import ReportFolder, report_county, report_options

    period = _period(month, as_of)  # bad input fails here, before any task
    directory = output or Path("reports") / period.month
    if directory.suffix.lower() in FORMATS or (directory.exists() and not directory.is_dir()):
        fail(f"-o {directory}: a batch writes one file per county into a directory; give "
             "-o DIR (and --format xlsx|pdf)", 2)  # fmt: skip
    _profile(profile_path)
    folder = ReportFolder(directory, county_titles(ready_engine()))
    profile = str(profile_path.resolve()) if profile_path else None  # workers have other cwds
    options = report_options(month, as_of, fmt or "xlsx", with_flags=with_flags,
                             profile_path=profile)  # fmt: skip
    cli_batch.run("report", county, dask=dask, workers=workers, local_fallback=fallback,
                  options=options, flagged_label="预警", work=report_county,
                  record=folder.record, note=folder.note)  # fmt: skip


def _print_summary(report) -> None:
    from geo.flags import SYNTHETIC_NOTE
    from maps.reports.pdf import _format_value
    from maps.reports.tables import summary_rows

    table = Table(title=f"{report.area.title} {report.period.label} 扶贫工作月报", padding=(0, 1))
    for column in ("项目", "数值", "说明"):
        table.add_column(column)
    for label, value, note in summary_rows(report):
        table.add_row(label, _format_value(label, value), note)
    out.print(table)
    if report.synthetic:
        out.print(SYNTHETIC_NOTE, style="red")


def flags(
    township: str = typer.Option(None, "--township", help="Township code (9 digits)."),
    county: str = typer.Option(None, "--county", help="County code (6 digits)."),
    as_of: str = typer.Option(
        None, "--as-of", help="Flags as of this day (default: today; synthetic data: its end)."
    ),
    kind: str = typer.Option(None, "--kind", help="Only these kinds, comma-separated."),
    output: Path = typer.Option(
        None, "-o", "--output", help="Also write the list: FILE.xlsx, FILE.csv or FILE.geojson."
    ),
    profile_path: Path = PROFILE_OPTION,
    store: bool = typer.Option(
        True, "--store/--no-store", help="Refresh the flag table (the map layer) for the area."
    ),
    dask: str = cli_batch.DASK_OPTION,
    workers: int = cli_batch.WORKERS_OPTION,
    local_fallback: bool = cli_batch.FALLBACK_OPTION,
) -> None:
    """Flag exits on paper (数字脱贫), neglect and suspicious records, with the evidence.

    Rules and thresholds: the [monitoring] section of the policy profile (geo/flags.py).
    """
    from geo.flags import FLAG_KINDS, SYNTHETIC_NOTE, monitoring_policy
    from layers.flags import (
        FlagError,
        FlagQuery,
        compute_flags,
        count_flags,
        list_flags,
        store_flags,
    )
    from layers.history import data_date

    if cli_batch.is_batch(county, dask):
        _batch_flags(
            county, as_of, kind, profile_path, output, store, dask, workers, local_fallback
        )
        return
    code = _area(township, county, required=False)
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv", ".geojson"):
        fail(f"{output.name}: write the flags as .xlsx, .csv or .geojson", 2)
    kinds = tuple(k.strip() for k in kind.split(",")) if kind else tuple(FLAG_KINDS)
    profile = _profile(profile_path)
    policy = monitoring_policy(profile)
    engine = ready_engine()
    with spinner("computing the flags…"), engine.begin() as conn:
        day = parse_date(as_of) or data_date(conn, code)
        try:
            query = FlagQuery(code, day, kinds)
        except FlagError as exc:
            fail(str(exc), 2)
        table = compute_flags(conn, query, policy)
        counts = count_flags(conn, table, unit_digits=9)
        rows = list_flags(conn, table, policy)
        if store:
            store_flags(conn, table, query, policy, profile.fingerprint)
    _print_counts(counts, day, FLAG_KINDS)
    if output is not None:
        _write_flags(rows, output)
        out.print(f"wrote {len(rows):,} flags to {output}", highlight=False)
    if store:
        out.print(f"flag layer refreshed for {code or 'every area'} as of {day}", highlight=False)
    if len(rows) and bool(rows["synthetic"].any()):
        out.print(SYNTHETIC_NOTE, style="red")


def _batch_flags(county, as_of, kind, profile_path, output, store, dask, workers, fallback):
    """``flags --county all`` / ``A,B`` / ``--dask``: the flag layer refreshed per county."""
    from layers.batch import BatchOptions

    if output is not None or not store:
        fail("a batch refreshes the flag layer: leave out -o and --no-store", 2)
    parse_date(as_of)  # a bad date fails here, before any task
    kinds = [k.strip() for k in kind.split(",")] if kind else None
    options = BatchOptions(
        str(profile_path) if profile_path else None, extra={"as_of": as_of, "kinds": kinds}
    )
    cli_batch.run(
        "flags",
        county,
        dask=dask,
        workers=workers,
        local_fallback=fallback,
        options=options,
        flagged_label="预警",
    )


def _print_counts(counts, day: dt.date, labels: dict) -> None:
    """Flags by kind, then by township (a county has too many townships for columns)."""
    by_kind = counts.groupby("kind")["flags"].sum()
    table = Table(title=f"预警 Flags as of {day}", padding=(0, 1))
    table.add_column("预警类型")
    table.add_column("kind")
    table.add_column("条数", justify="right")
    for kind, label in labels.items():
        table.add_row(label, kind, f"{int(by_kind.get(kind, 0)):,}")
    out.print(table)
    by_unit = counts.groupby("unit")["flags"].sum()
    if len(by_unit) > 1:
        units = Table(title="按乡镇 by township", padding=(0, 1))
        units.add_column("乡镇代码")
        units.add_column("条数", justify="right")
        for unit, n in by_unit.items():
            units.add_row(unit, f"{int(n):,}")
        out.print(units)
    out.print(f"{int(counts['flags'].sum()):,} flags", highlight=False)


def _write_flags(rows, output: Path) -> None:
    import json

    import pandas as pd

    suffix = output.suffix.lower()
    if suffix == ".geojson":
        frame = rows.drop(columns=["evidence"]).assign(
            evidence=rows["evidence"].map(lambda e: json.dumps(e, ensure_ascii=False))
        )
        frame.to_file(output, driver="GeoJSON")
        return
    frame = pd.DataFrame(rows.drop(columns="geom")).assign(
        lon=rows.geometry.x.round(7), lat=rows.geometry.y.round(7)
    )
    frame["evidence"] = frame["evidence"].map(lambda e: json.dumps(e, ensure_ascii=False))
    columns = {
        "township_code": "乡镇代码",
        "village_code": "村代码",
        "household_no": "户编号",
        "cadre_name": "帮扶干部",
        "label": "预警类型",
        "description": "情况",
        "rule": "规则",
        "evidence": "证据",
        "kind": "kind",
        "household_id": "household_id",
        "cadre_id": "cadre_id",
        "lon": "经度",
        "lat": "纬度",
    }
    frame = frame[list(columns)].rename(columns=columns)
    if suffix == ".csv":
        frame.to_csv(output, index=False, encoding="utf-8-sig")
        return
    from maps.reports.tables import TEXT
    from maps.reports.tables import Table as Sheet
    from maps.reports.xlsx import write_table_workbook

    synthetic = bool(rows["synthetic"].any()) if len(rows) else False
    write_table_workbook(
        Sheet("预警", "预警明细", frame, dict.fromkeys(frame.columns, TEXT)), output, synthetic
    )


@history_app.command("show")
def history_show(
    household: str = typer.Argument(..., help="Household number (建档立卡户编号) or id."),
) -> None:
    """Every version of one household: when it took effect, when and by whom it was recorded,
    what changed (incomes by year only, never amounts)."""
    import sqlalchemy as sa
    from rich import box

    from layers.history import timeline

    engine = ready_engine()
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT id, household_no FROM household WHERE household_no = :n OR "
                "(:n ~ '^[0-9]{1,12}$' AND id = CAST(:n AS bigint)) LIMIT 1"
            ),
            {"n": household},
        ).first()
        if row is None:
            fail(f"no household {household!r}")
        versions = timeline(conn, row.id)
    table = Table(
        title=f"户 {row.household_no} 动态档案", box=box.SIMPLE_HEAD, padding=(0, 1), expand=False
    )
    table.add_column("版本", justify="right", no_wrap=True)
    table.add_column("生效日期", no_wrap=True)
    table.add_column("录入时间", no_wrap=True)
    table.add_column("来源", overflow="fold", max_width=16)
    table.add_column("变更", overflow="fold", ratio=1)
    for number, v in enumerate(versions.itertuples(), start=1):
        table.add_row(
            str(number),
            str(v.valid_from),
            v.recorded_at.strftime("%Y-%m-%d %H:%M"),
            v.source or "",
            describe_version(v),
        )
    out.print(table)


# Labels of the archived fields, and how a new value reads
_FIELD_LABELS = {
    "status": "状态", "exit_year": "脱贫年度", "housing_status": "住房", "category": "类别",
    "members": "人口", "labour_members": "劳动力", "cadre_id": "干部", "village_code": "村",
    "hamlet_id": "自然村", "geom": "位置",
}  # fmt: skip
_FIELD_VOCABS = {"status": "status", "housing_status": "housing_status", "category": "category"}
_FACTS = {"members", "labour_members", "category", "housing_status"}


def describe_version(version) -> str:
    """What a version changed, e.g. ``状态→已脱贫 脱贫年度→2019``; a first version says 建档."""
    from geo import vocab

    changed = list(version.changed)
    if version.action in ("insert", "baseline") or (
        version.action == "backfill" and len(changed) > 5
    ):
        status = vocab.STATUS.get(version.status, version.status)
        return f"建档（{status}）"
    parts = []
    for name in changed:
        if name == "incomes":
            year = version.income_year
            parts.append("收入" + ("" if year != year or year is None else f"({int(year)})"))
            continue
        value = getattr(version, name, None)
        if name == "geom":
            parts.append("位置")
            continue
        if value is None or value != value:  # a fact left out is unknown; a year, cleared
            shown = "不详" if name in _FACTS else "（无）"
        elif name in _FIELD_VOCABS:
            shown = vocab.VOCABS[_FIELD_VOCABS[name]].get(value, value)
        else:
            shown = str(int(value)) if isinstance(value, float) else str(value)
        parts.append(f"{_FIELD_LABELS.get(name, name)}→{shown}")
    return " ".join(parts)


@history_app.command("backfill-demo")
def history_backfill_demo() -> None:
    """Rebuild the demo households' history (registration, incomes, exits, 返贫, rebuilt
    houses) from the synthetic data; real households are not touched."""
    from layers.history import backfill_demo_history

    engine = ready_engine()
    with engine.begin() as conn:
        rows = backfill_demo_history(conn)
    out.print(f"{rows:,} history versions written for the synthetic households", highlight=False)
