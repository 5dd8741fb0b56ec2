"""``gongjian relocation``: households in places lacking living conditions, grouped, with sites."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from api import cli_batch
from api.cli_common import fail, out, ready_engine, spinner


def register(app: typer.Typer) -> None:
    app.command("relocation")(relocation)


def relocation(
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
        help="Policy profile (TOML) over the defaults, e.g. \\[relocation] slope_deg = 20.",
    ),
    output: Path = typer.Option(
        None,
        "-o",
        "--output",
        help="Also export: FILE.csv (candidates) or FILE.xlsx (with reasons in Chinese, groups, "
        "sites, policy values).",
    ),
    public: bool = typer.Option(False, "--public", help="Mask household heads' names."),
    dask: str = cli_batch.DASK_OPTION,
    workers: int = cli_batch.WORKERS_OPTION,
    local_fallback: bool = cli_batch.FALLBACK_OPTION,
) -> None:
    """Refresh the relocation tables: candidates with reasons, whole-hamlet and scattered
    relocations, ranked resettlement sites per township."""
    from geo.network import NetworkError
    from geo.policy import PolicyError, load_profile
    from geo.relocation import relocation_policy
    from geo.terrain import TerrainError
    from layers import relocation as layer
    from layers.batch import BatchOptions

    if township and county:
        fail("give --township or --county, not both", 2)
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        fail(f"{output.name}: export as .csv or .xlsx", 2)
    try:
        profile = load_profile(profile_path)
        relocation_policy(profile)  # a bad [relocation] section fails before any work
    except PolicyError as exc:
        fail(str(exc), 2)
    if cli_batch.is_batch(county, dask):
        if output is not None:
            fail("-o exports one scope: run the batch, then `relocation --county CODE -o FILE`", 2)
        options = BatchOptions(str(profile_path) if profile_path else None)
        cli_batch.run(
            "relocation",
            county,
            dask=dask,
            workers=workers,
            local_fallback=local_fallback,
            options=options,
            flagged_label="搬迁户",
        )
        return
    engine = ready_engine()
    started = time.perf_counter()
    status = spinner("assessing relocation…")
    with status:
        try:
            summary = layer.refresh(
                engine,
                township=township,
                county=county,
                profile=profile,
                on_county=lambda c, codes: status.update(
                    f"county {c}: assessing {len(codes)} township(s) — terrain, hazards, "
                    "access, groups, sites…"
                ),
            )
        except (layer.RelocationError, NetworkError, TerrainError) as exc:
            fail(str(exc))
    seconds = time.perf_counter() - started
    scope = township or county
    with engine.connect() as conn:
        towns = layer.township_summary(conn, scope)
    _print_summary(towns, summary, seconds)
    if output is not None:
        with engine.connect() as conn:
            tables = layer.export_tables(conn, profile, scope, public=public)
        synthetic = bool(tables["townships"].synthetic.any()) if len(tables["townships"]) else False
        layer.write_export(tables, output, synthetic=synthetic)
        out.print(f"exported to {output}", highlight=False)


def _print_summary(towns, summary, seconds: float) -> None:
    from geo.relocation import SYNTHETIC_NOTE

    table = Table(title=f"搬迁对象 Relocation (profile {summary.profile.fingerprint})", padding=0)
    headers = ("乡镇", "户", "搬迁户", "整体", "插花", "人口", "整体组", "插花组", "灾害",
               "陡坡", "远路", "就医远", "安置点", "容量")  # fmt: skip
    for column in headers:
        table.add_column(column, justify="left" if column == "乡镇" else "right")
    for row in towns.itertuples():
        table.add_row(
            row.name or row.township_code,
            f"{row.households:,}",
            f"{row.candidates:,}",
            f"{row.whole:,}",
            f"{row.scattered:,}",
            f"{row.people:,}",
            f"{row.whole_groups}",
            f"{row.scattered_groups}",
            f"{row.criterion_hazard:,}",
            f"{row.criterion_slope:,}",
            f"{row.criterion_road:,}",
            f"{row.criterion_clinic:,}",
            f"{row.sites}",
            f"{row.capacity:,}",
        )
    out.print(table)
    synthetic = bool(towns.synthetic.any()) if len(towns) else False
    note = f" — {SYNTHETIC_NOTE}" if synthetic else ""
    out.print(
        f"{summary.households:,} households assessed, {summary.candidates:,} candidates, "
        f"{len(summary.townships)} township(s) in {seconds:.1f} s{note}",
        highlight=False,
    )
