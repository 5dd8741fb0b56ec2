"""``gongjian coverage``: who is left without a hardened road, piped water, a clinic or a cadre."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from api import cli_batch
from api.cli_common import fail, out, ready_engine, spinner

# column headers of the summary table (criteria of geo.coverage.CRITERIA, in order)
SHORT_LABELS = {
    "road": "远硬化路",
    "hamlet_road": "村路未硬",
    "clinic": "就医远",
    "village_clinic": "村站远",
    "health_centre": "院远",
    "school": "学校远",
    "water": "无自来水",
    "cadre": "无干部",
}


def register(app: typer.Typer) -> None:
    app.command("coverage")(coverage)


def coverage(
    township: str = typer.Option(None, "--township", help="9-digit township code (default: all)."),
    county: str = typer.Option(
        None,
        "--county",
        help="6-digit county code: all its townships; `all` or A,B: one Dask task per county.",
    ),
    profile_path: Path = typer.Option(
        None,
        "--profile",
        exists=True,
        dir_okay=False,
        help="Policy profile (TOML) over the defaults, e.g. \\[clinic] max_minutes = 45.",
    ),
    output: Path = typer.Option(
        None, "-o", "--output", help="Also export: FILE.csv (uncovered households) or FILE.xlsx."
    ),
    public: bool = typer.Option(False, "--public", help="Mask household heads' names."),
    isochrones: bool = typer.Option(
        True, "--isochrones/--no-isochrones", help="Trace 15/30/60-minute clinic catchments."
    ),
    scenario: str = typer.Option(
        None,
        "--scenario",
        help="Assess the scenario's township under its proposed changes instead (nothing "
        "stored; -o writes what changes).",
    ),
    dask: str = cli_batch.DASK_OPTION,
    workers: int = cli_batch.WORKERS_OPTION,
    local_fallback: bool = cli_batch.FALLBACK_OPTION,
) -> None:
    """Refresh the coverage tables (per household, hamlet, village, township; isochrones)."""
    from geo.network import NetworkError
    from geo.policy import PolicyError, load_profile
    from layers import coverage as layer

    if township and county:
        fail("give --township or --county, not both", 2)
    if scenario is not None:
        if township or county:
            fail(
                "--scenario assesses the scenario's own township: leave out --township/--county", 2
            )
        _scenario_coverage(scenario, profile_path, output)
        return
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        fail(f"{output.name}: export as .csv or .xlsx", 2)
    try:
        profile = load_profile(profile_path)
    except PolicyError as exc:
        fail(str(exc), 2)
    if cli_batch.is_batch(county, dask):
        _batch(county, dask, workers, local_fallback, profile_path, isochrones, output)
        return
    engine = ready_engine()
    started = time.perf_counter()
    status = spinner("assessing coverage…")
    with status:
        try:
            summary = layer.refresh(
                engine,
                township=township,
                county=county,
                profile=profile,
                with_isochrones=isochrones,
                on_county=lambda c, codes: status.update(
                    f"county {c}: assessing {len(codes)} township(s)…"
                ),
            )
        except (layer.CoverageError, NetworkError) as exc:
            fail(str(exc))
    seconds = time.perf_counter() - started
    _print_summary(summary, seconds)
    if output is not None:
        scope = township or county
        with engine.connect() as conn:
            tables = layer.export_tables(conn, profile, scope, public=public)
        synthetic = bool(tables["townships"].synthetic.any())
        layer.write_export(tables, output, synthetic=synthetic)
        out.print(f"exported to {output}", highlight=False)


def _batch(county, dask, workers, local_fallback, profile_path, isochrones, output) -> None:
    """``--county all`` / ``A,B`` / ``--dask``: one Dask task per county."""
    from layers.batch import BatchOptions

    if output is not None:
        fail("-o exports one scope: run the batch, then `coverage --county CODE -o FILE`", 2)
    options = BatchOptions(str(profile_path) if profile_path else None, isochrones)
    cli_batch.run(
        "coverage",
        county,
        dask=dask,
        workers=workers,
        local_fallback=local_fallback,
        options=options,
        flagged_label="未覆盖",
    )


def _scenario_coverage(name: str, profile_path: Path | None, output: Path | None) -> None:
    """Coverage of a scenario's township under its changes: the usual table, then the diff."""
    from api.cli_scenario import _profile, show_diff
    from geo.scenario import ScenarioError
    from layers import coverage as layer
    from layers import scenarios

    profile = _profile(profile_path)
    started = time.perf_counter()
    with spinner(f"assessing coverage under scenario {name}…"):
        try:
            outcome = scenarios.assess_under(ready_engine(), name, profile)
        except (ScenarioError, scenarios.ScenarioNotFound) as exc:
            fail(str(exc))
    summary = layer.RefreshSummary([outcome.after], [], [outcome.info.township_code], profile)
    _print_summary(summary, time.perf_counter() - started)
    show_diff(name, output, profile)


def _print_summary(summary, seconds: float) -> None:
    from geo.coverage import CRITERIA, SYNTHETIC_NOTE

    assert tuple(SHORT_LABELS) == tuple(CRITERIA)

    frame = summary.township_table
    table = Table(title=f"覆盖分析 Coverage (profile {summary.profile.fingerprint})", padding=0)
    for column in ("乡镇", "户", "未覆盖", *SHORT_LABELS.values(), "缺站村"):
        table.add_column(column, justify="left" if column == "乡镇" else "right")
    for row in frame.itertuples():
        table.add_row(
            row.name or row.township_code,
            f"{row.households:,}",
            f"{row.uncovered:,}",
            *(f"{getattr(row, f'flag_{c}'):,}" for c in CRITERIA),
            f"{row.poor_villages_without_standard_clinic}",
        )
    out.print(table)
    synthetic = any(
        "synthetic" in r.households and r.households.synthetic.any() for r in summary.results
    )
    note = f" — {SYNTHETIC_NOTE}" if synthetic else ""
    out.print(
        f"{summary.households:,} households assessed, {summary.uncovered:,} uncovered, "
        f"{len(summary.townships)} township(s) in {seconds:.1f} s{note}",
        highlight=False,
    )
