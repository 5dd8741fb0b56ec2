"""``gongjian map township CODE`` (the 攻坚图 wall map) and ``gongjian map county CODE`` (atlas)."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli_common import fail, out, parse_date, ready_engine, show_progress, spinner
from geo.synthetic import SYNTHETIC_NOTE

map_app = typer.Typer(
    help="Print-ready 攻坚图 wall maps (PDF/PNG/SVG, A4–A0).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(map_app, name="map")


@map_app.command("township")
def township(
    code: str = typer.Argument(..., help="Township code (9 digits), e.g. 441882101."),
    paper: str = typer.Option("A1", "--paper", help="A0, A1, A2, A3 or A4."),
    orientation: str = typer.Option("auto", help="auto (larger map scale), portrait or landscape."),
    fmt: str = typer.Option("pdf", "--format", help="pdf, png, svg or html."),
    dpi: int = typer.Option(None, "--dpi", help="PNG resolution (default 150)."),
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="Status as of this date (YYYY-MM-DD; default the latest effective date in the data).",
    ),
    public: bool = typer.Option(False, "--public", help="Mask household names (officials' stay)."),
    tiles: str = typer.Option(
        None, "--tiles", help="Split into overlapping A3 (or A4) pages to tape."
    ),
    color_by: str = typer.Option(
        "status", "--color-by", help="status or cause (main cause of poverty)."
    ),
    sectors: bool = typer.Option(
        False, "--sectors", help="Outline each cadre's households (分组包片) with the name."
    ),
    sector_plan: bool = typer.Option(
        False,
        "--sector-plan",
        help="Overlay the sectors proposed (or accepted) by `gongjian sectors`, named.",
    ),
    changes_since: str = typer.Option(
        None,
        "--changes-since",
        help="Change map: ring the households that exited, returned to poverty (返贫), were "
        "newly registered or moved since this date (YYYY-MM-DD), with a change table.",
    ),
    all_households: bool = typer.Option(
        False, "--all-households", help="Also the households of the provincial key villages."
    ),
    output: Path = typer.Option(
        None, "-o", "--output", help="File to write (default in the current folder)."
    ),
    scenario: str = typer.Option(
        None, "--scenario", help="Draw a scenario's proposed changes over it: a 规划图."
    ),
) -> None:
    """Draw the 攻坚图 of a township: map, legend, statistics, roster and pairing table.

    PDF holds every page; PNG and SVG write one file per page: FILE for the map, FILE-2,
    FILE-3, … for the 附表. With --tiles the PDF holds the index, the tiles and the 附表.
    """
    from api.settings import ApiSettings
    from layers.wallmap_data import ChangesSinceError, TownshipNotFound
    from maps.wallmap.render import (
        MapOptions,
        WallmapError,
        build_sheet,
        close,
        render_html,
        save,
        save_page,
    )

    options = _options(
        MapOptions(
            paper,
            orientation,
            fmt,
            dpi,
            public,
            color_by,
            tiles,
            not all_households,
            sectors,
            ApiSettings().web_base_url(),
        )
    )
    engine = ready_engine()
    target = output or Path(
        f"{code}_攻坚图_{options.paper}{'_tiles' if tiles else ''}.{options.fmt}"
    )
    if options.fmt == "html" and scenario is not None:
        fail("--scenario: print the 规划图 as pdf, png or svg (the web map shows scenarios)", 2)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if options.fmt == "html":
            target.write_bytes(render_html(engine, code, public=public, as_of=parse_date(as_of)))
            out.print(f"wrote {target}")
            return
        from layers.wallmap_data import fetch_township_sheet

        with spinner(f"drawing the 攻坚图 of {code}…"):
            sheet = fetch_township_sheet(
                engine,
                code,
                as_of=parse_date(as_of),
                public=public,
                scattered_only=options.scattered_only,
                changes_since=parse_date(changes_since, "--changes-since"),
                sector_plan=sector_plan,
            )
            if scenario is not None:
                _lay_plan(engine, sheet, scenario)
            rendered = build_sheet(sheet, options)
            try:
                target.write_bytes(save(rendered, options))
                extra = _extra_pages(rendered, options, target, save_page)
            finally:
                close(rendered)
    except (TownshipNotFound, WallmapError, ChangesSinceError) as exc:
        fail(str(exc), 2)
    plan = rendered.plan
    out.print(
        f"wrote {target}: {sheet.title}, {plan.paper.name} {plan.paper.orientation}, "
        f"1:{plan.view.scale:,}, {len(sheet.households):,} households"
        + (f", {SYNTHETIC_NOTE}" if sheet.synthetic else ""),
        highlight=False,
    )
    if sheet.changes is not None:
        from geo.changes import KINDS, count_changes

        counts = count_changes(sheet.changes["kinds"])
        out.print(
            f"changes since {sheet.changes_since}: "
            + ", ".join(f"{label} {counts[k]:,}" for k, label in KINDS.items()),
            highlight=False,
        )
    for path in extra:
        out.print(f"wrote {path}", highlight=False)


def _extra_pages(rendered, options, target: Path, save_page) -> list[Path]:
    """PNG/SVG hold one page: the 附表 pages go next to it as FILE-2.png, FILE-3.png, …"""
    if options.fmt not in ("png", "svg") or options.tiles or len(rendered.pages) == 1:
        return []
    paths = []
    for number, figure in enumerate(rendered.pages[1:], start=2):
        path = target.with_name(f"{target.stem}-{number}{target.suffix}")
        path.write_bytes(save_page(figure, options.fmt, options.dpi))
        paths.append(path)
    return paths


@map_app.command("county")
def county(
    code: str = typer.Argument(..., help="County code (6 digits), e.g. 441882."),
    paper: str = typer.Option("A3", "--paper", help="A0, A1, A2, A3 or A4."),
    as_of: str = typer.Option(None, "--as-of", help="Status as of this date (YYYY-MM-DD)."),
    public: bool = typer.Option(False, "--public", help="Mask household names."),
    color_by: str = typer.Option("status", "--color-by", help="status or cause."),
    output: Path = typer.Option(None, "-o", "--output", help="PDF to write."),
) -> None:
    """One multi-page PDF with the 攻坚图 of every township of a county (an atlas)."""
    from api.settings import ApiSettings
    from layers.wallmap_data import county_township_codes
    from maps.wallmap.atlas import render_county_atlas
    from maps.wallmap.render import WallmapError

    engine = ready_engine()
    web_base_url = ApiSettings().web_base_url()
    target = output or Path(f"{code}_攻坚图集_{paper.upper()}.pdf")
    total = len(county_township_codes(engine, code))
    try:
        if show_progress():
            from rich.progress import Progress

            with Progress(console=out) as progress:
                task = progress.add_task("townships", total=total)
                pdf = render_county_atlas(
                    engine,
                    code,
                    paper=paper,
                    public=public,
                    as_of=parse_date(as_of),
                    color_by=color_by,
                    progress=lambda _: progress.advance(task),
                    web_base_url=web_base_url,
                )
        else:
            pdf = render_county_atlas(
                engine,
                code,
                paper=paper,
                public=public,
                as_of=parse_date(as_of),
                color_by=color_by,
                web_base_url=web_base_url,
            )
    except WallmapError as exc:
        fail(str(exc), 2)
    target.write_bytes(pdf)
    out.print(f"wrote {target}: {total} townships", highlight=False)


def _options(options):
    from maps.wallmap.render import WallmapError

    try:
        return options.check()
    except WallmapError as exc:
        fail(str(exc), 2)


def _lay_plan(engine, sheet, name: str) -> None:
    """The scenario's changes as the sheet's ``scenario`` layer; its title says 规划图."""
    from geo.scenario import ScenarioError
    from layers import scenarios

    try:
        with engine.connect() as conn:
            sheet.layers["scenario"] = scenarios.plan_layer(conn, name, sheet.code)
    except (ScenarioError, scenarios.ScenarioNotFound) as exc:
        fail(str(exc), 2)
    sheet.plan = name
