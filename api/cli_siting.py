"""``gongjian siting``: where the next clinics, water points and schools go, and which roads
to harden, to bring the most households (the poor first) within reach."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from api.cli_common import fail, out, ready_engine, spinner

siting_app = typer.Typer(
    help="Where to put the next clinics, water points, schools; which roads to harden.",
    no_args_is_help=True,
)

TOWNSHIP = typer.Option(..., "--township", help="9-digit township code.")
PROFILE = typer.Option(
    None, "--profile", exists=True, dir_okay=False, help="Policy profile (TOML) over the defaults."
)
OUTPUT = typer.Option(None, "-o", "--output", help="Also write FILE.xlsx (or FILE.csv: sites).")
SAVE = typer.Option(
    None, "--save-scenario", help="Also keep the answer as a new scenario NAME (gongjian scenario)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(siting_app, name="siting")


def _facility_command(kind: str, label: str):
    def command(
        township: str = TOWNSHIP,
        count: int = typer.Option(..., "--count", "-k", help="How many new sites (K)."),
        candidates: str = typer.Option(
            "hamlets",
            "--candidates",
            help="hamlets (every 自然村), villages (the largest 自然村 of each 行政村) or a "
            "file of points (GeoPackage, GeoJSON, Shapefile; CSV/XLSX with 经度/纬度).",
        ),
        crs: str = typer.Option(
            None, "--crs", help="Coordinates of the candidate file: wgs84, cgcs2000, gcj02, bd09."
        ),
        profile_path: Path = PROFILE,
        output: Path = OUTPUT,
        save: str = SAVE,
    ) -> None:
        from layers import siting

        profile = _profile(profile_path)
        _check_output(output)
        where = candidates if candidates in ("hamlets", "villages") else Path(candidates)
        if isinstance(where, Path) and not where.exists():
            fail(f"--candidates: {where}: no such file (or say hamlets or villages)", 2)
        engine = ready_engine()
        with spinner(f"siting {count} {label} in {township}…"):
            report = _run(
                lambda: siting.plan_facilities(
                    engine, kind, township, count, profile, candidates=where, crs=crs
                )
            )
        _show(report, output)
        _save(engine, save, report)

    command.__doc__ = f"Choose K sites for new {label} that bring the most households within reach."
    return command


siting_app.command("clinic")(_facility_command("clinic", "clinics (卫生站)"))
siting_app.command("water")(_facility_command("water", "water points (供水点)"))
siting_app.command("school")(_facility_command("school", "schools (学校)"))


@siting_app.command("roads")
def roads(
    township: str = TOWNSHIP,
    budget_km: float = typer.Option(..., "--budget-km", help="Kilometres of road to harden."),
    profile_path: Path = PROFILE,
    output: Path = OUTPUT,
    save: str = SAVE,
) -> None:
    """Which unhardened segments to harden within the budget to bring the most households
    (and hamlets of 200+ people, seed 002 §11) within reach of a hardened road."""
    from layers import siting

    profile = _profile(profile_path)
    _check_output(output)
    if not budget_km > 0:
        fail(f"--budget-km must be more than 0 km, got {budget_km:g}", 2)
    engine = ready_engine()
    with spinner(f"choosing roads to harden in {township}…"):
        report = _run(lambda: siting.plan_roads(engine, township, budget_km, profile))
    _show(report, output)
    _save(engine, save, report)


def _save(engine, name: str | None, report) -> None:
    from api.cli_common import actor
    from geo.scenario import ScenarioError
    from layers import scenarios

    if name is None:
        return
    if not len(report.sites):
        fail(f"nothing to keep as scenario {name}: no site brings anyone within reach")
    try:
        scenarios.save_siting(engine, name, report, actor())
    except ScenarioError as exc:
        fail(str(exc))
    out.print(f"kept as scenario {name} (gongjian scenario diff {name})", highlight=False)


def _profile(path: Path | None):
    from geo.policy import PolicyError, load_profile

    try:
        return load_profile(path)
    except PolicyError as exc:
        fail(str(exc), 2)


def _check_output(output: Path | None) -> None:
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        fail(f"{output.name}: write .xlsx or .csv", 2)


def _run(call):
    from geo.network import NetworkError
    from geo.siting import SitingError

    try:
        return call()
    except (SitingError, NetworkError) as exc:
        fail(str(exc))


def _show(report, output: Path | None) -> None:
    from geo.coverage import SYNTHETIC_NOTE
    from layers.siting import KIND_LABELS, write_report

    r = report.result
    town = report.township
    roads = report.kind == "roads"
    table = Table(
        title=f"{town.name} {KIND_LABELS[report.kind]}选址 — 新覆盖 {report.households_covered}"
        f"/{report.demand_households} 户",
        padding=(0, 1),
    )
    columns = ["序号", "选址", "新覆盖户", "未脱贫", "加权"]
    columns += ["公里", "200人村"] if roads else ["同等效果"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("选址", "同等效果") else "right")
    for row in report.sites.itertuples():
        extra = [f"{row.km:.2f}", str(row.hamlets_200)] if roads else [row.equivalent_sites or ""]
        table.add_row(
            str(row.order),
            row.site,
            str(row.households),
            str(row.poor_households),
            f"{row.weight:g}",
            *extra,
        )
    out.print(table)
    if report.demand_households == 0:
        what = "a hardened road" if roads else f"a {report.kind} (policy: {report.posed.limit:g})"
        out.print(f"no household of {town.name} lacks {what}: nothing to site", highlight=False)
    state = "optimal" if r.optimal else f"gap {r.gap:.2%} (bound {r.bound:g})"
    cost = f", {r.best.cost:.2f} km" if roads else ""
    out.print(
        f"covered weight {r.best.covered_weight:g}{cost} — {state}; greedy+swap "
        f"{r.greedy_weight:g}; {r.method} in {r.seconds:.2f} s",
        highlight=False,
    )
    verified = report.verified
    if len(verified):
        counts = verified.groupby("criterion").household_id.nunique()
        text = ", ".join(f"{k} {v}" for k, v in counts.items())
        out.print(f"coverage re-assessed with them built: newly covered {text}", highlight=False)
    for alt in report.alternatives.iloc[1:].itertuples():
        km = f", {alt.km:.2f} km" if roads else ""
        out.print(f"  alternative {alt.rank}: {alt.sites} — {alt.households} households, "
                  f"weight {alt.weight:g}{km}", highlight=False)  # fmt: skip
    for note in report.notes:
        out.print(f"note: {note}", highlight=False)
    if town.synthetic:
        out.print(SYNTHETIC_NOTE)
    if output is not None:
        write_report(report, output)
        out.print(f"written to {output}", highlight=False)
