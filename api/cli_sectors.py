"""``gongjian sectors --township CODE``: a balanced 分组包片 division for the work group."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from api.cli_common import actor, fail, out, ready_engine, spinner


def register(app: typer.Typer) -> None:
    app.command("sectors")(sectors)


def sectors(
    township: str = typer.Option(..., "--township", help="9-digit township code."),
    accept: bool = typer.Option(
        False,
        "--accept",
        help="Pair every household with its proposed member (audited). Without it the "
        "current pairings stay and the proposal is only stored for the maps.",
    ),
    output: Path = typer.Option(
        None, "-o", "--output", help="Also write the proposal per member as FILE.csv."
    ),
) -> None:
    """Propose sectors: each member a contiguous run of hamlets, households balanced within
    ±10 %, compact by road travel from the seat; compared with the current pairings."""
    from geo.sectors import SectorError
    from layers import sectors as layer

    if output is not None and output.suffix.lower() != ".csv":
        fail(f"{output.name}: write the proposal as .csv", 2)
    engine = ready_engine()
    try:
        with spinner(f"dividing {township} among its work group…"):
            inputs = layer.load(engine, township)
            comparison = layer.propose_for(inputs)
            layer.store(engine, comparison)
    except SectorError as exc:
        fail(str(exc), 2)
    table = Table(title=f"{inputs.name}分组包片 ({len(inputs.problem.members)} members, "
                  f"{len(inputs.problem.households):,} households)")  # fmt: skip
    for column in ("division", "max imbalance %", "round trip min (mean)",
                   "arrival min (mean)", "contiguous", "non-contiguous members"):  # fmt: skip
        table.add_column(column, justify="right" if "min" in column or "%" in column else "left")
    for report in (comparison.ours, comparison.current):
        table.add_row(
            report.name,
            f"{report.max_imbalance_pct:.1f}",
            f"{report.mean_round_trip_min:.1f}",
            f"{report.mean_travel_min:.1f}",
            "yes" if report.all_contiguous else "no",
            str(int((~report.sectors["contiguous"]).sum())),
        )
    out.print(table)
    if output is not None:
        frame = comparison.ours.sectors.round({"travel_min": 1, "arrival_min": 1})
        frame = frame.assign(name=frame["member"].map(inputs.member_names))
        frame.to_csv(output, index=False)
        out.print(f"wrote {output}", highlight=False)
    if accept:
        changed = layer.accept(engine, township, actor())
        out.print(f"accepted: {changed:,} households paired with a new member", highlight=False)
    else:
        out.print("stored as a proposal (current pairings kept; --accept to apply)")
