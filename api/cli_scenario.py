"""``gongjian scenario``: proposed roads, hardened segments, clinics, water points and schools
held apart from the real layers, and the households they would bring within reach."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from api.cli_common import actor, fail, out, ready_engine, spinner

scenario_app = typer.Typer(
    help="What-if scenarios: proposed roads and facilities, coverage under them.",
    no_args_is_help=True,
)

ROADS = typer.Option(None, "--roads", help="New roads: lines (GPKG/GeoJSON/Shapefile), columns "
                     "road_class and surface optional (default village, hardened).")  # fmt: skip
HARDEN = typer.Option(None, "--harden", help="Road ids to harden, comma-separated (12,15).")
ALONG = typer.Option(None, "--harden-along", help="Lines drawn along the roads to harden "
                     "(GPKG/GeoJSON/Shapefile): the unhardened roads they follow.")  # fmt: skip
CLINICS = typer.Option(None, "--clinics", help="New clinics: points, or CSV/XLSX with 经度/纬度.")
WATER = typer.Option(None, "--water", help="New water points (水厂): points or 经度/纬度.")
SCHOOLS = typer.Option(None, "--schools", help="New schools: points or 经度/纬度.")
CRS = typer.Option(None, "--crs", help="Coordinates of the files: wgs84, cgcs2000, gcj02, bd09.")
PROFILE = typer.Option(None, "--profile", exists=True, dir_okay=False, help="Policy profile.")


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")


@scenario_app.command("new")
def new(
    name: str = typer.Argument(..., help="Scenario name, e.g. 2019-星子镇-道路."),
    township: str = typer.Option(..., "--township", help="9-digit township code."),
    note: str = typer.Option(None, "--note", help="What the scenario proposes."),
    roads: Path = ROADS,
    harden: str = HARDEN,
    harden_along: Path = ALONG,
    clinics: Path = CLINICS,
    water: Path = WATER,
    schools: Path = SCHOOLS,
    crs: str = CRS,
    profile_path: Path = PROFILE,
) -> None:
    """Create a scenario for a township, with its first proposed changes (if any)."""
    from geo.scenario import ScenarioError
    from layers import scenarios

    engine = ready_engine()
    profile = _profile(profile_path)
    ids = _ids(harden)
    try:
        scenarios.create(engine, name, township, actor(), note)
        try:
            counts = _add(
                engine, name, profile, roads, ids, harden_along, clinics, water, schools, crs
            )
        except (ScenarioError, scenarios.ScenarioNotFound):
            scenarios.drop(engine, name)  # nothing half-made
            raise
    except (ScenarioError, scenarios.ScenarioNotFound) as exc:
        fail(str(exc))
    out.print(f"scenario {name} ({township}) created{_counted(counts)}", highlight=False)


@scenario_app.command("add")
def add(
    name: str = typer.Argument(..., help="Scenario name."),
    roads: Path = ROADS,
    harden: str = HARDEN,
    harden_along: Path = ALONG,
    clinics: Path = CLINICS,
    water: Path = WATER,
    schools: Path = SCHOOLS,
    crs: str = CRS,
    profile_path: Path = PROFILE,
) -> None:
    """Add proposed changes to a scenario (all checked first; nothing half-written)."""
    from geo.scenario import ScenarioError
    from layers import scenarios

    engine = ready_engine()
    profile = _profile(profile_path)
    try:
        counts = _add(
            engine, name, profile, roads, _ids(harden), harden_along, clinics, water, schools, crs
        )
    except (ScenarioError, scenarios.ScenarioNotFound) as exc:
        fail(str(exc))
    out.print(f"scenario {name}: added{_counted(counts) or ' nothing'}", highlight=False)


@scenario_app.command("list")
def list_() -> None:
    """Scenarios and how many changes each holds."""
    from layers import scenarios

    with ready_engine().connect() as conn:
        frame = scenarios.list_scenarios(conn)
    table = Table(title="方案 Scenarios", padding=(0, 1))
    for column in ("名称", "乡镇", "新路", "硬化", "设施", "说明"):
        table.add_column(column)
    for r in frame.itertuples():
        table.add_row(r.name, f"{r.township} {r.township_code}", str(r.roads), str(r.hardened),
                      str(r.facilities), r.note or "")  # fmt: skip
    out.print(table)


@scenario_app.command("drop")
def drop(name: str = typer.Argument(..., help="Scenario name.")) -> None:
    """Delete a scenario and its changes (the real layers were never touched)."""
    from layers import scenarios

    try:
        scenarios.drop(ready_engine(), name)
    except scenarios.ScenarioNotFound as exc:
        fail(str(exc))
    out.print(f"scenario {name} dropped", highlight=False)


@scenario_app.command("diff")
def diff(
    name: str = typer.Argument(..., help="Scenario name."),
    output: Path = typer.Option(None, "-o", "--output", help="Also write FILE.xlsx or .csv."),
    profile_path: Path = PROFILE,
) -> None:
    """Households the scenario newly brings within reach, per kind, village and township
    (poor households first)."""
    show_diff(name, output, _profile(profile_path))


def show_diff(name: str, output: Path | None, profile) -> None:
    """Assess coverage under the scenario and print (and write) what changes."""
    from geo.coverage import SYNTHETIC_NOTE
    from geo.network import NetworkError
    from geo.scenario import ScenarioError
    from layers import scenarios

    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        fail(f"{output.name}: write .xlsx or .csv", 2)
    engine = ready_engine()
    with spinner(f"assessing coverage under {name}…"):
        try:
            outcome = scenarios.assess_under(engine, name, profile)
        except (ScenarioError, scenarios.ScenarioNotFound, NetworkError) as exc:
            fail(str(exc))
        with engine.connect() as conn:
            tables = scenarios.diff_tables(conn, outcome)
    info = outcome.info
    kinds = tables["kinds"]
    table = Table(title=f"{info.township_name} 方案 {name}: 新达标农户", padding=(0, 1))
    for column in ("指标", "新达标户", "其中未脱贫"):
        table.add_column(column, justify="left" if column == "指标" else "right")
    for r in kinds.itertuples():
        table.add_row(r.criterion_label, str(r.households), str(r.poor_households))
    out.print(table)
    villages = tables["villages"]
    if len(villages):
        vt = Table(title="按行政村", padding=(0, 1))
        for column in ("行政村", "指标", "新达标户", "其中未脱贫"):
            vt.add_column(column, justify="right" if "户" in column or "贫" in column else "left")
        for r in villages.itertuples():
            vt.add_row(r.village, r.criterion_label, str(r.households), str(r.poor_households))
        out.print(vt)
    before = int(outcome.base.households.uncovered.sum())
    after = int(outcome.after.households.uncovered.sum())
    out.print(f"uncovered households in {info.township_name}: {before} → {after} "
              f"(the real layers and coverage tables are unchanged)", highlight=False)  # fmt: skip
    if info.synthetic:
        out.print(SYNTHETIC_NOTE)
    if output is not None:
        scenarios.write_diff(tables, output, synthetic=info.synthetic, name=name)
        out.print(f"written to {output}", highlight=False)


def _add(engine, name, profile, roads, ids, along, clinics, water, schools, crs) -> dict[str, int]:
    from layers import scenarios

    facilities = {k: p for k, p in (("clinic", clinics), ("water", water), ("school", schools))
                  if p is not None}  # fmt: skip
    for path in [roads, along, *facilities.values()]:
        if path is not None and not path.exists():
            fail(f"{path}: no such file", 2)
    return scenarios.add(engine, name, actor(), profile, roads=roads, harden=ids,
                         harden_along=along, facilities=facilities, crs=crs)  # fmt: skip


def _ids(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        fail(f"--harden: road ids are whole numbers separated by commas, got {text!r}", 2)


def _counted(counts: dict[str, int]) -> str:
    labels = {"road": "new road(s)", "harden": "road(s) to harden", "clinic": "clinic(s)",
              "water": "water point(s)", "school": "school(s)"}  # fmt: skip
    parts = [f"{n} {labels[k]}" for k, n in counts.items()]
    return (": " + ", ".join(parts)) if parts else ""


def _profile(path: Path | None):
    from geo.policy import PolicyError, load_profile

    try:
        return load_profile(path)
    except PolicyError as exc:
        fail(str(exc), 2)
