"""``gongjian county``: set up a real county from the official codes, derive its boundaries."""

from __future__ import annotations

import typer

from api.cli_common import actor, fail, out, ready_engine, spinner

county_app = typer.Typer(
    help="A real county: official townships and villages, derived boundaries.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(county_app, name="county")


@county_app.command("init")
def init(
    code: str = typer.Argument(..., help="The county's 6-digit code (e.g. 441882) or name."),
    township: list[str] = typer.Option(
        None, "--township", help="Only this township (9-digit code); repeat for several."
    ),
) -> None:
    """Create the county's townships and villages from 统计用区划代码 2023 (idempotent)."""
    from layers.county_setup import CountyInitError, init_county

    engine = ready_engine()
    try:
        summary = init_county(engine, code, actor=actor(), townships=township or None)
    except CountyInitError as exc:
        fail(str(exc))
    out.print(summary.describe(), highlight=False)
    if summary.committees:
        kinds = "、".join(f"{k} {n}" for k, n in summary.committees.items())
        out.print(f"villages by committee: {kinds}", highlight=False)


@county_app.command("boundaries")
def boundaries(
    code: str = typer.Argument(..., help="The county's 6-digit code."),
) -> None:
    """Derive approximate (示意) township and village boundaries from the points again."""
    from layers.derived_boundaries import DerivationError, refresh_derived_boundaries

    engine = ready_engine()
    with spinner("deriving boundaries"):
        try:
            with engine.begin() as conn:
                report = refresh_derived_boundaries(conn, code)
        except DerivationError as exc:
            fail(str(exc))
    out.print(report.describe(), highlight=False)
