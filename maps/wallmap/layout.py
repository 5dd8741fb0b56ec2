"""Where things go on the sheet, for landscape and portrait, and which orientation is better.

Landscape: title on top; the map frame on the left with the side panel (insets, legend,
village statistics, the work group's leaders) on the right; the roster/pairing table as a
band across the bottom; notes at the foot. Portrait: the map on top, a row of three panels
under it, then the band. The band goes on the sheet when the table fits it at a legible size
(A0/A1); otherwise it continues on extra pages of the same paper ("附表"), so nothing is cut.

A tall township on portrait paper may also get the side arrangement (map left, panels
right). ``auto`` takes whichever orientation and arrangement give the map the larger round
scale (on a tie, the one the township fills better).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maps.wallmap.paper import MM_PER_PT, Paper
from maps.wallmap.projection import LocalFrame
from maps.wallmap.tables import GUTTER, LINE, Table, fit_size, height_needed
from maps.wallmap.view import MapView

Rect = tuple[float, float, float, float]
BAND_SHARE = {"landscape": 0.36, "portrait": 0.30}  # at most this much of the body height
SIDE_SHARE = 0.31


@dataclass
class SheetPlan:
    paper: Paper
    header: Rect
    footer: Rect
    map_rect: Rect
    view: MapView
    panels: dict[str, Rect] = field(default_factory=dict)  # side | legend | stats | insets
    band: Rect | None = None  # roster or pairing table on the sheet
    band_size: float | None = None
    band_table: str | None = None  # "pairing" (all of it) or "roster" (pairing goes to 附表)
    band_stats_width: float = 0.0  # landscape: the village statistics open the band, this wide
    continued: list[str] = field(default_factory=list)  # tables that go on extra pages


def header_height(paper: Paper) -> float:
    return (
        paper.pt("title") * 1.3 + paper.pt("subtitle") * 2.1
    ) * MM_PER_PT + 1.5 * paper.type_scale


#: notes at the foot: scope, dates and projection, (示意界线 when derived), credits
FOOTER_LINES = 4


def footer_height(paper: Paper, lines: int = FOOTER_LINES) -> float:
    return lines * paper.pt("note") * MM_PER_PT * 1.45 + 1.0 * paper.type_scale


def grid_band(paper: Paper) -> float:
    """Space outside the map frame for the degree labels."""
    return paper.pt("grid") * MM_PER_PT * 2.1


def body_rect(paper: Paper) -> Rect:
    m = paper.margin_mm
    W, H = paper.size_mm
    head, foot = header_height(paper), footer_height(paper)
    gap = 2.0 * paper.type_scale
    return (m, m + foot + gap, W - 2 * m, H - 2 * m - head - foot - 2 * gap)


def page_frame(paper: Paper) -> tuple[Rect, Rect]:
    """Header (title block) and footer (notes) of any page of ``paper``."""
    m = paper.margin_mm
    W, H = paper.size_mm
    head = header_height(paper)
    return (m, H - m - head, W - 2 * m, head), (m, m, W - 2 * m, footer_height(paper))


def plan_sheet(
    paper: Paper,
    area,
    frame: LocalFrame,
    tables: dict[str, Table],
    arrangement: str | None = None,
) -> SheetPlan:
    """The layout of page 1 for ``paper`` (already oriented).

    ``arrangement`` "side" puts the panels in a column right of the map (the default on
    landscape sheets), "below" in a row under it (the default on portrait sheets).

    ``tables`` holds "pairing" (roster with households), "roster" (names, duties, phones) and
    "stats" (per village): the band takes the first of pairing/roster that fits at a legible
    size (on landscape sheets after the statistics); what does not fit goes to 附表.
    """
    m = paper.margin_mm
    bx, by, bw, bh = body_rect(paper)
    gap = 4.0 * paper.type_scale
    arrangement = arrangement or ("side" if paper.orientation == "landscape" else "below")
    band_table, plan_band, band_size, stats_w = None, 0.0, None, 0.0
    left = tables.get("stats") if arrangement == "side" else None
    for name in ("pairing", "roster"):
        plan_band, band_size, stats_w = _band(paper, tables[name], bw, bh, left)
        if plan_band:
            band_table = name
            break
    continued = [] if band_table == "pairing" else ["pairing"]
    if plan_band:
        by, bh = by + plan_band + gap, bh - plan_band - gap
    g = grid_band(paper)
    if arrangement == "side":
        side_w = bw * SIDE_SHARE
        map_rect = (bx + g, by + g, bw - side_w - gap - 2 * g, bh - 2 * g)
        panels = {"side": (bx + bw - side_w, by, side_w, bh)}
    else:
        map_h = bh * 0.64
        map_rect = (bx + g, by + bh - map_h + g, bw - 2 * g, map_h - 2 * g)
        row_h = bh - map_h - gap
        widths = (0.37, 0.35, 0.28)
        x = bx
        panels = {}
        for name, share in zip(("legend", "stats", "insets"), widths, strict=True):
            w = bw * share - gap * 2 / 3
            panels[name] = (x, by, w, row_h)
            x += w + gap
    view = MapView.fit(area, map_rect, frame)
    band_rect = (
        (bx, m + footer_height(paper) + 2.0 * paper.type_scale, bw, plan_band)
        if plan_band
        else None
    )
    header, footer = page_frame(paper)
    return SheetPlan(
        paper=paper,
        header=header,
        footer=footer,
        map_rect=map_rect,
        view=view,
        panels=panels,
        band=band_rect,
        band_size=band_size,
        band_table=band_table,
        band_stats_width=stats_w,
        continued=continued,
    )


def _band(
    paper: Paper, table: Table, width: float, body_h: float, left: Table | None = None
) -> tuple[float, float | None, float]:
    """(height, font size, width of ``left``) of the bottom band: ``left`` (one column) then
    ``table`` flowed over the rest. Height 0 when it would not fit at a legible size."""
    if not table.rows:
        return 0.0, None, 0.0
    max_pt = paper.table_pt()[0]
    min_pt = max_pt * 0.7  # a wall table must stay legible: otherwise it goes to 附表
    limit = body_h * BAND_SHARE[paper.orientation]
    heading = paper.pt("heading") * MM_PER_PT * 1.9
    size = max_pt
    while size >= min_pt - 1e-9:
        em = size * MM_PER_PT
        left_w = (left.width_em + GUTTER * 1.5) * em if left is not None else 0.0
        left_h = (len(left.rows) + 1) * LINE * em if left is not None else 0.0
        right_h = height_needed(table, width - left_w, size)
        if max(left_h, right_h) <= limit - heading and fit_size(
            table, width - left_w, limit - heading, size, size
        ):
            return heading + max(left_h, right_h), size, left_w
        size -= 0.25
    return 0.0, None, 0.0


def choose_orientation(
    paper_name: str, orientation: str, area, frame: LocalFrame, tables: dict[str, Table]
) -> SheetPlan:
    """The plan for the asked orientation, or for ``auto`` the one with the larger map scale."""
    options = {
        "landscape": [("landscape", "side")],
        "portrait": [("portrait", "below"), ("portrait", "side")],
    }
    candidates = options.get(orientation, options["landscape"] + options["portrait"])
    plans = [plan_sheet(Paper.named(paper_name, o), area, frame, tables, a) for o, a in candidates]
    return min(plans, key=lambda p: (p.view.scale, -fill(p, area), p.paper.orientation))


def fill(plan: SheetPlan, area) -> float:
    """Share of the map frame the township's bounding box covers (ties: less empty frame)."""
    minx, miny, maxx, maxy = area.bounds
    xmin, xmax, ymin, ymax = plan.view.extent
    return (maxx - minx) * (maxy - miny) / ((xmax - xmin) * (ymax - ymin))
