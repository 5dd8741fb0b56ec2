"""Putting the sheet together and writing it: PDF (vector, CJK subset embedded), PNG, SVG.

:func:`render_township_map` is the one call the CLI, the HTTP route and the demo use.
Output is deterministic: the same data and options give byte-identical PDF and SVG (no
creation date, fixed SVG hash salt, sorted data), so a regenerated map only changes when
the data does.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field, replace

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sqlalchemy.engine import Engine

from geo.synthetic import SYNTHETIC_NOTE
from layers.wallmap_data import SheetData, fetch_township_sheet
from maps.fonts import use_cjk_fonts
from maps.wallmap import content, panels
from maps.wallmap import symbology as sym
from maps.wallmap.drawing import LegendEntry
from maps.wallmap.furniture import qr_spec, web_twin_url
from maps.wallmap.layout import SheetPlan, body_rect, choose_orientation, grid_band, page_frame
from maps.wallmap.mapframe import MapFrame, draw_map_frame
from maps.wallmap.paper import ISO_A, MM_PER_PT, Paper
from maps.wallmap.projection import LocalFrame
from maps.wallmap.tables import GUTTER, LINE, Table, draw_table, fit_size, row_lines

FORMATS = ("pdf", "png", "svg", "html")
COLOR_BY = ("status", "cause")
DEFAULT_DPI = {"png": 150}
MAX_PNG_PIXELS = 150e6  # A0 at 300 dpi; more would need gigabytes of memory
SVG_SALT = "gongjian-wallmap"
#: The server's address when nothing else is configured (GONGJIAN_PUBLIC_URL, api.settings).
DEFAULT_WEB_BASE_URL = "http://127.0.0.1:8000"


class WallmapError(ValueError):
    """Options that cannot make a map (unknown paper, format, …)."""


@dataclass(frozen=True)
class MapOptions:
    """How to draw a sheet. ``tiles`` (e.g. "A3") splits the sheet into pages to tape."""

    paper: str = "A1"
    orientation: str = "auto"
    fmt: str = "pdf"
    dpi: int | None = None
    public: bool = False
    color_by: str = "status"
    tiles: str | None = None
    scattered_only: bool = True
    sectors: bool = False  # outline each cadre's households (分组包片) with the cadre's name
    # where phones reach the web map: the QR code on the sheet links to its /townships/{code}
    web_base_url: str | None = DEFAULT_WEB_BASE_URL

    def check(self) -> MapOptions:
        if self.paper.upper() not in ("A0", "A1", "A2", "A3", "A4"):
            raise WallmapError(f"paper must be A0–A4, got {self.paper!r}")
        if self.orientation not in ("auto", "portrait", "landscape"):
            raise WallmapError(
                f"orientation must be auto, portrait or landscape, got {self.orientation!r}"
            )
        if self.fmt not in FORMATS:
            raise WallmapError(f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}")
        if self.color_by not in COLOR_BY:
            raise WallmapError(f"--color-by must be status or cause, got {self.color_by!r}")
        if self.tiles and self.fmt != "pdf":
            raise WallmapError("--tiles makes a PDF of pages to tape together: use --format pdf")
        if self.tiles and self.tiles.upper() not in ("A3", "A4"):
            raise WallmapError(f"--tiles must be A3 or A4, got {self.tiles!r}")
        if self.dpi is not None and not 30 <= self.dpi <= 600:
            raise WallmapError(f"--dpi must be between 30 and 600, got {self.dpi}")
        if self.fmt == "png" and self.dpi:
            short, long = ISO_A.get(self.paper.upper(), (0, 0))
            pixels = short * long / 25.4**2 * self.dpi**2
            if pixels > MAX_PNG_PIXELS:
                raise WallmapError(
                    f"{self.paper} at {self.dpi} dpi is {pixels / 1e6:.0f} megapixels; "
                    f"use --dpi {int(self.dpi * (MAX_PNG_PIXELS / pixels) ** 0.5)} or less, or PDF"
                )
        return replace(
            self, paper=self.paper.upper(), tiles=self.tiles.upper() if self.tiles else None
        )


@dataclass
class RenderedSheet:
    """The figures of a sheet (page 1 is the wall map, then 附表 pages) and what was drawn."""

    sheet: SheetData
    plan: SheetPlan
    pages: list[Figure]
    frame: MapFrame
    legend: list[LegendEntry]
    notes: dict = field(default_factory=dict)

    @property
    def household_marks(self) -> pd.DataFrame | None:
        """Where each household symbol is, in mm from the sheet's lower-left corner."""
        return self.frame.data.household_marks


def render_township_map(
    engine: Engine,
    code: str,
    *,
    paper: str = "A1",
    fmt: str = "pdf",
    public: bool = False,
    as_of: dt.date | None = None,
    orientation: str = "auto",
    dpi: int | None = None,
    color_by: str = "status",
    tiles: str | None = None,
    scattered_only: bool = True,
    scope: str | None = None,
    sectors: bool = False,
    page: int = 1,
    web_base_url: str | None = DEFAULT_WEB_BASE_URL,
    changes_since: dt.date | None = None,
) -> bytes:
    """The 攻坚图 of township ``code`` as bytes of a PDF, PNG or SVG.

    PDF holds the sheet and, when the roster does not fit the sheet, its 附表 pages; PNG and
    SVG hold one page, ``page`` (1: the map, 2…: the 附表). ``tiles="A3"`` makes a PDF of
    overlapping A3 pages with registration marks, an index page and the 附表 on A3.
    ``fmt="html"`` returns the web twin (``maps.webmap``).
    Raises ``layers.wallmap_data.TownshipNotFound`` or :class:`WallmapError`.

    >>> pdf = render_township_map(engine, "441882101", paper="A3")  # doctest: +SKIP
    """
    options = MapOptions(
        paper, orientation, fmt, dpi, public, color_by, tiles, scattered_only, sectors, web_base_url
    ).check()
    if options.fmt == "html":
        return render_html(engine, code, public=public, as_of=as_of, scope=scope)
    sheet = fetch_township_sheet(
        engine,
        code,
        as_of=as_of,
        public=public,
        scattered_only=scattered_only,
        scope=scope,
        changes_since=changes_since,
    )
    rendered = build_sheet(sheet, options)
    try:
        return save(rendered, options, page)
    finally:
        close(rendered)


def render_html(
    engine: Engine,
    code: str,
    *,
    public: bool,
    as_of: dt.date | None = None,
    scope: str | None = None,
) -> bytes:
    """The web twin: the self-contained HTML page of ``maps.webmap``, status as of ``as_of``
    (default, as on the sheet, the latest effective date in the data)."""
    from maps.webmap import render_township_html

    return render_township_html(engine, code, public=public, scope=scope, as_of=as_of).encode(
        "utf-8"
    )


# --- building the pages --------------------------------------------------------------------------


def build_sheet(sheet: SheetData, options: MapOptions) -> RenderedSheet:
    """All the figures of a township's sheet."""
    use_cjk_fonts()
    mpl.rcParams["svg.hashsalt"] = SVG_SALT
    centre = sheet.township.geometry.iloc[0].centroid
    frame = LocalFrame.at(centre.x, centre.y)
    area = sheet.township.to_crs(frame.crs).geometry.iloc[0]
    stats = content.statistics_table(sheet)
    tables = {
        "pairing": content.pairing_table(sheet),
        "roster": content.roster_table(sheet),
        "stats": stats,
    }
    plan = choose_orientation(options.paper, options.orientation, area, frame, tables)
    paper = plan.paper
    fig = Figure(figsize=paper.size_in)
    ax = panels.page_axes(fig, paper)
    panels.draw_title(ax, paper, sheet, plan.header)
    qr = None
    if options.web_base_url:
        qr = qr_spec(web_twin_url(options.web_base_url, sheet.code), paper)
    mapframe = draw_map_frame(
        fig, sheet, plan.view, paper, color_by=options.color_by, sectors=options.sectors, qr=qr
    )
    draw_neatline(ax, paper, plan)
    where = {"pairing": "下表", "roster": "下表（结对帮扶户见附表）"}.get(plan.band_table, "附表")
    continued = list(plan.continued)
    if "side" in plan.panels:
        side_stats = None if plan.band_stats_width else stats
        if not _side_panel(fig, ax, paper, sheet, plan, mapframe.legend, side_stats, where):
            continued.insert(0, "stats")
    elif not _panel_row(fig, ax, paper, sheet, plan, mapframe.legend, stats, where):
        continued.insert(0, "stats")
    if plan.band:
        _band(ax, paper, sheet, plan, tables[plan.band_table], stats)
    pairing = None
    if "pairing" in continued:
        pairing = content.pairing_table(sheet, with_roster=plan.band_table != "roster")
    # tiles: the 附表 come on the tiles' paper (a table needs no scale, and the office
    # printer that prints the tiles prints them too)
    appendix_paper = Paper.named(options.tiles, "portrait") if options.tiles else paper
    blocks = change_blocks(sheet)
    if "stats" in continued:
        blocks.append((STATS_TITLE, stats))
    if pairing is not None:
        group = sheet.work_group_name or "帮扶工作组"
        blocks.append((f"{group}成员及结对帮扶户（帮扶责任人—贫困户）", pairing))
    pages = [fig, *continuation_pages(sheet, appendix_paper, blocks)]
    for number, page in enumerate(pages, start=1):
        page_label = f"第 {number} 页 / 共 {len(pages)} 页" if len(pages) > 1 else ""
        notes = panels.sheet_notes(sheet, frame, plan.view.scale, page_label)
        page_paper = paper if number == 1 else appendix_paper
        footer = plan.footer if number == 1 else page_frame(page_paper)[1]
        panels.draw_notes(page.axes[0], page_paper, notes, footer)
    return RenderedSheet(sheet, plan, pages, mapframe, mapframe.legend, {"continued": continued})


def draw_neatline(ax, paper: Paper, plan: SheetPlan) -> None:
    """Thin line on the map frame, heavier one outside the degree labels."""
    x, y, w, h = plan.map_rect
    g = grid_band(paper)
    for pad, width in ((0.0, 0.45), (g, 1.2)):
        xs = [x - pad, x + w + pad, x + w + pad, x - pad, x - pad]
        ys = [y - pad, y - pad, y + h + pad, y + h + pad, y - pad]
        ax.add_line(
            Line2D(
                xs,
                ys,
                color=sym.FRAME_COLOUR,
                linewidth=width * paper.type_scale,
                solid_joinstyle="miter",
                zorder=5,
            )
        )


def _side_panel(fig, ax, paper, sheet, plan, legend, stats: Table | None, where: str) -> bool:
    """Landscape side panel, top to bottom: insets, legend, statistics (unless they are in the
    band), leaders. Returns False when the statistics did not fit (they then go to 附表)."""
    x, y, w, h = plan.panels["side"]
    top = y + h
    gap = 3.0 * paper.type_scale
    inset_h = min(w * 0.5, h * 0.24)
    panels.draw_insets(fig, ax, paper, sheet, (x, top - inset_h, w, inset_h))
    top -= inset_h + gap
    leaders = content.leaders(sheet)
    leaders_h = panels.leaders_height(paper, leaders, w, len(sheet.roster), where)
    room = top - y - leaders_h - gap
    top = _legend_block(
        ax, paper, legend, x, top, w, max_height=room if stats is None else room * 0.62
    )
    panels.draw_leaders(ax, paper, sheet, leaders, (x, y, w, leaders_h), len(sheet.roster), where)
    if stats is None:
        return True
    return _stats_block(
        ax, paper, stats, (x, y + leaders_h + gap, w, top - gap - (y + leaders_h + gap))
    )


def _panel_row(fig, ax, paper, sheet, plan, legend, stats: Table, where: str) -> bool:
    """Portrait row under the map: legend | statistics | insets and leaders."""
    lx, ly, lw, lh = plan.panels["legend"]
    _legend_block(ax, paper, legend, lx, ly + lh, lw, max_height=lh)
    ix, iy, iw, ih = plan.panels["insets"]
    leaders = content.leaders(sheet)
    leaders_h = panels.leaders_height(paper, leaders, iw, len(sheet.roster), where)
    inset_h = min(iw * 0.55, ih - leaders_h - 3 * paper.type_scale)
    panels.draw_insets(fig, ax, paper, sheet, (ix, iy + ih - inset_h, iw, inset_h))
    panels.draw_leaders(
        ax, paper, sheet, leaders, (ix, iy, iw, leaders_h), len(sheet.roster), where
    )
    return _stats_block(ax, paper, stats, plan.panels["stats"])


def _legend_block(
    ax, paper: Paper, legend, x: float, top: float, w: float, max_height: float
) -> float:
    """Heading and legend, shrunk (to 70 %) if needed to fit ``max_height``; returns y below."""
    body_top = panels.heading(ax, paper, x, top, w, "图　例")
    available = max_height - (top - body_top)
    layout = legend_fit(paper, legend, w, available)
    height = panels.legend_height(legend, layout)
    panels.draw_legend(ax, paper, legend, (x, body_top - height, w, height), layout)
    return body_top - height - 2.0 * paper.type_scale


def legend_fit(paper: Paper, legend, width: float, available: float) -> panels.LegendLayout:
    """The largest legend (70–130 % of the nominal type size) that fits ``available``."""
    nominal = paper.pt("legend")
    for factor in np.arange(1.3, 0.69, -0.05):
        size = nominal * factor
        layout = panels.LegendLayout(panels.legend_columns(legend, width, size), size)
        if panels.legend_height(legend, layout) <= available:
            return layout
    return layout


def _stats_block(ax, paper: Paper, stats: Table, rect) -> bool:
    x, y, w, h = rect
    heading_h = panels.heading_height(paper)
    if h <= heading_h:
        return False
    max_pt, min_pt = paper.pt("table") * 1.15, paper.table_pt()[1]
    # one column reads best; flow into two only if one would need small type
    size = fit_size(stats, w, h - heading_h, max_pt, max(min_pt, max_pt * 0.75), most_columns=1)
    size = size or fit_size(stats, w, h - heading_h, max_pt, min_pt)
    if size is None:
        return False
    body = panels.heading(ax, paper, x, y + h, w, STATS_TITLE)
    draw_table(ax, stats, (x, y, w, body - y), size)
    return True


STATS_TITLE = "各村分散贫困户统计"
BAND_TITLES = {
    "pairing": "{group}成员及结对帮扶户（帮扶责任人—贫困户）",
    "roster": "{group}人员及分工（姓名、职务、单位、联系电话）",
}


def _band(ax, paper: Paper, sheet: SheetData, plan: SheetPlan, table: Table, stats: Table) -> None:
    """The bottom band: village statistics (landscape), then the roster or pairing table."""
    x, y, w, h = plan.band
    left = plan.band_stats_width
    if left:
        body = panels.heading(
            ax, paper, x, y + h, left - GUTTER * plan.band_size * MM_PER_PT, STATS_TITLE
        )
        draw_table(ax, stats, (x, y, left, body - y), plan.band_size)
    title = BAND_TITLES[plan.band_table].format(group=sheet.work_group_name or "帮扶工作组")
    body = panels.heading(ax, paper, x + left, y + h, w - left, title)
    draw_table(ax, table, (x + left, y, w - left, body - y), plan.band_size)


def change_blocks(sheet: SheetData) -> list[tuple[str, Table]]:
    """The change map's tables (per village, then per household), when it is one."""
    if sheet.changes is None:
        return []
    since = f"{sheet.changes_since:%Y-%m-%d}"
    return [
        (f"自 {since} 以来的变化（各村户数）", content.change_summary_table(sheet)),
        (f"自 {since} 以来有变化的户", content.change_list_table(sheet)),
    ]


def continuation_pages(
    sheet: SheetData, paper: Paper, blocks: list[tuple[str, Table]]
) -> list[Figure]:
    """附表 pages of ``paper``: each (title, table) block in turn, flowing over pages."""
    if not blocks:
        return []
    pages: list[Figure] = []
    max_pt = paper.table_pt()[0]  # 附表 pages have room: the largest table type
    fig = ax = None
    top = bottom = 0.0
    bx, by, bw, bh = body_rect(paper)
    for title, table in blocks:
        start = 0
        while start < len(table.rows):
            if fig is None or top - bottom < bh * 0.2:
                fig, ax = _new_page(sheet, paper)
                pages.append(fig)
                top, bottom = by + bh, by
            body = panels.heading(ax, paper, bx, top, bw, title + ("（续）" if start else ""))
            nxt = draw_table(ax, table, (bx, bottom, bw, body - bottom), max_pt, start)
            if nxt == start:  # not even one row fits what is left of this page
                fig = None
                continue
            used = _table_height_used(table, start, nxt, max_pt, body - bottom)
            start = nxt
            top = body - used - 4.0 * paper.type_scale
            if start < len(table.rows):
                fig = None
    return pages


def _table_height_used(table: Table, start: int, end: int, size: float, height: float) -> float:
    """Height a drawn slice occupies: its lines if one column held it, else all of ``height``."""
    lines = sum(row_lines(table)[start:end])
    return min(height, (lines + 1) * LINE * size * MM_PER_PT)


def _new_page(sheet: SheetData, paper: Paper):
    fig = Figure(figsize=paper.size_in)
    ax = panels.page_axes(fig, paper)
    panels.draw_title(ax, paper, sheet, page_frame(paper)[0], suffix=" 附表")
    return fig, ax


# --- writing -------------------------------------------------------------------------------------


def pdf_metadata(sheet: SheetData) -> dict:
    """Fixed metadata: no dates, so the same data gives the same bytes."""
    return {
        "Title": sheet.title,
        "Subject": f"{sheet.city}{sheet.county_name}{sheet.name} {panels.date_text(sheet)}"
        + (f"（{SYNTHETIC_NOTE}）" if sheet.synthetic else ""),
        "Creator": "gongjian 攻坚图",
        "Producer": f"gongjian / matplotlib {mpl.__version__}",
        "CreationDate": None,
        "ModDate": None,
    }


def save(rendered: RenderedSheet, options: MapOptions, page: int = 1) -> bytes:
    """Bytes of the sheet in ``options.fmt``: a PDF holds every page (tiles: the pages to
    tape together, then the 附表); PNG and SVG hold one page, ``page`` (1 is the map)."""
    buffer = io.BytesIO()
    if options.tiles:
        from maps.wallmap.tiles import save_tiled

        save_tiled(rendered, options.tiles, buffer, pdf_metadata(rendered.sheet))
        return buffer.getvalue()
    if options.fmt == "pdf":
        with PdfPages(buffer, metadata=pdf_metadata(rendered.sheet)) as pdf:
            for figure in rendered.pages:
                pdf.savefig(figure)
        return buffer.getvalue()
    if not 1 <= page <= len(rendered.pages):
        raise WallmapError(f"page {page} does not exist: the sheet has {len(rendered.pages)}")
    return save_page(rendered.pages[page - 1], options.fmt, options.dpi)


def save_page(figure: Figure, fmt: str, dpi: int | None = None) -> bytes:
    """One page as PNG (at ``dpi``) or SVG (text as text, a CJK font stack)."""
    buffer = io.BytesIO()
    if fmt == "png":
        figure.savefig(
            buffer, format="png", dpi=dpi or DEFAULT_DPI["png"], metadata={"Software": None}
        )
        return buffer.getvalue()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return svg_fonts(buffer.getvalue())


def save_pages(rendered: RenderedSheet, options: MapOptions) -> list[bytes]:
    """Every page of the sheet in ``options.fmt`` (PNG or SVG: one file per page)."""
    return [save_page(figure, options.fmt, options.dpi) for figure in rendered.pages]


#: SVG keeps text as text: name the fonts a viewer is likely to have, ours first.
SVG_FONT_STACK = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
    "'WenQuanYi Micro Hei', sans-serif"
)


def svg_fonts(svg: bytes) -> bytes:
    """Replace our private family name (the TrueType copy) by a CJK font stack."""
    from maps.fonts import FAMILY

    return svg.replace(f"'{FAMILY}'".encode(), SVG_FONT_STACK.encode())


def close(rendered: RenderedSheet) -> None:
    for page in rendered.pages:
        page.clear()


__all__ = [
    "MapOptions",
    "RenderedSheet",
    "WallmapError",
    "build_sheet",
    "render_township_map",
    "save",
    "save_page",
    "save_pages",
]
