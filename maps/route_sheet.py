"""The printed route sheet an inspector carries: A4 landscape, one section per inspector-day.

Per inspector-day:

1. **The day on one page** — the map of the day's route (roads by class, rivers, village
   borders, the path along the roads, numbered stops, the start), a scale bar and a north
   arrow; beside it the day's times and totals and the stops in order.
2. **The checklist** — one row per stop in visiting order: order, expected arrival, household
   number, head of household (masked), village and hamlet, responsible cadre and phone, the
   两不愁三保障 items (seeds 002/003: 不愁吃、不愁穿、义务教育、基本医疗、住房安全) each with
   是/否 tick boxes, the result (核实无误/发现问题/未遇), room for findings and the household's
   signature; signature lines for the inspector, the village cadre and the date at the end.

A plan-wide PDF ends with the households that could not be fitted and why. Heads' names are
masked here whatever the caller passes (the sensitivity register); cadres are officials and
keep their names and work phones (seed 004 puts them on the office wall). Output is
deterministic (no creation date), and every page of synthetic data says 示例数据（合成）.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle

from geo.routing.export import day_title, select
from geo.routing.plan import SYNTHETIC_NOTE, RoutePlan
from geo.routing.policy import clock
from geo.routing.sheets import CHECK_SHORT
from geo.sensitivity import shown
from maps.fonts import bold, use_cjk_fonts
from maps.wallmap import symbology as sym
from maps.wallmap.projection import LocalFrame, nice_length

PAGE_W, PAGE_H = 297.0, 210.0  # A4 landscape, mm
MARGIN = 10.0
MM = 1 / 25.4
ROUTE_COLOUR = "#c8102e"
INK = "#1f1f1f"
MUTED = "#666666"
RULE = "#9a9a9a"
HEADER_FILL = "#efe9dc"
ROW_H, MIN_ROW_H, HEAD_H = 14.0, 12.0, 12.0
TABLE_TOP = 30.0
SIGNATURE_H = 20.0
STRATEGY_TEXT = {"random": "随机抽样", "stratified": "按村分层抽样", "risk": "风险导向抽样",
                 "list": "指定名单"}  # fmt: skip
# (title, width mm, kind)
COLUMNS = (
    ("序号", 8.0, "seq"),
    ("预计\n走访", 12.0, "arrival"),
    ("户编号", 33.0, "household_no"),
    ("户主", 14.0, "head_name"),
    ("行政村\n自然村", 28.0, "village"),
    ("帮扶责任人\n联系电话", 29.0, "cadre"),
    *((label, 13.0, f"check_{key}") for key, label in CHECK_SHORT.items()),
    ("走访结果", 27.0, "result"),
    ("问题说明", 42.0, "findings"),
    ("户主签字", 19.0, "signature"),
)
RESULTS = ("核实无误", "发现问题", "未遇")


def render_route_sheets(
    plan: RoutePlan,
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    inspector: int | None = None,
    day: int | None = None,
) -> bytes:
    """The route sheets of the plan (or of one inspector and/or day) as PDF bytes.

    ``layers``: roads (road_class, surface), rivers and villages (boundaries) in EPSG:4326
    around the plan, drawn under the route (``layers.routes.map_layers``).
    """
    sections = day_sections(plan, layers, inspector=inspector, day=day)
    whole = inspector is None and day is None
    pages = [fig for figures in sections.values() for fig in figures]
    if whole and len(plan.unassigned):
        pages += _unassigned_pages(plan)
    return save_pdf(plan, pages or [_empty_page(plan)])


def day_sections(
    plan: RoutePlan,
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    *,
    inspector: int | None = None,
    day: int | None = None,
) -> dict[tuple[int, int], list[Figure]]:
    """(inspector, day) → the pages of that inspector-day (map page, checklist pages)."""
    use_cjk_fonts()
    layers = layers or {}
    days, stops = select(plan, inspector, day)
    sections = {}
    for row in days.itertuples():
        day_stops = stops[(stops.inspector == row.inspector) & (stops.day == row.day)]
        day_stops = day_stops.sort_values("seq")
        pages = [_map_page(plan, row, day_stops, layers), *_table_pages(plan, row, day_stops)]
        sections[(int(row.inspector), int(row.day))] = pages
    return sections


def render_plan_sheets(
    plan: RoutePlan, layers: Mapping[str, gpd.GeoDataFrame] | None = None
) -> tuple[bytes, dict[tuple[int, int], bytes]]:
    """The whole plan's PDF and one PDF per inspector-day, each page drawn once."""
    sections = day_sections(plan, layers)
    per_day = {key: save_pdf(plan, pages) for key, pages in sections.items()}
    pages = [fig for figures in sections.values() for fig in figures]
    if len(plan.unassigned):
        pages += _unassigned_pages(plan)
    return save_pdf(plan, pages or [_empty_page(plan)]), per_day


def save_pdf(plan: RoutePlan, pages: list[Figure]) -> bytes:
    """The pages as one PDF, numbered "第 n / N 页" (no creation date: same plan, same bytes)."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Creator": "gongjian", "CreationDate": None}) as pdf:
        for number, fig in enumerate(pages, start=1):
            artists = _footer(fig.axes[0], plan, number, len(pages))
            pdf.savefig(fig)
            for artist in artists:
                artist.remove()
    return buffer.getvalue()


# --- page scaffolding ---------------------------------------------------------------------


def _page() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(PAGE_W * MM, PAGE_H * MM))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, PAGE_W)
    ax.set_ylim(PAGE_H, 0)  # millimetres from the top left
    ax.axis("off")
    return fig, ax


def _header(ax: Axes, plan: RoutePlan, title: str, subtitle: str) -> None:
    ax.text(MARGIN, 13, title, fontproperties=bold(16), color=INK, va="baseline")
    ax.text(MARGIN, 21, subtitle, fontsize=9, color=MUTED, va="baseline")
    if plan.meta.get("synthetic"):
        ax.text(PAGE_W - MARGIN, 13, SYNTHETIC_NOTE, fontproperties=bold(12),
                color="#b2182b", ha="right", va="baseline")  # fmt: skip
    plan_id = plan.meta.get("id")
    if plan_id is not None:
        ax.text(PAGE_W - MARGIN, 21, f"计划 #{plan_id}", fontsize=9, color=MUTED,
                ha="right", va="baseline")  # fmt: skip
    ax.plot([MARGIN, PAGE_W - MARGIN], [24, 24], color=INK, lw=0.8)


def _footer(ax: Axes, plan: RoutePlan, number: int, total: int) -> list:
    left = "户主姓名已脱敏 · 两不愁三保障：不愁吃、不愁穿，义务教育、基本医疗、住房安全有保障"
    if plan.meta.get("synthetic"):
        left = f"{SYNTHETIC_NOTE} · {left}"
    return [
        ax.text(MARGIN, PAGE_H - 5, left, fontsize=6.5, color=MUTED, va="baseline"),
        ax.text(PAGE_W - MARGIN, PAGE_H - 5, f"第 {number} / {total} 页", fontsize=7,
                color=MUTED, ha="right", va="baseline"),
    ]  # fmt: skip


def _subtitle(plan: RoutePlan, row) -> str:
    parts = [day_title(row)]
    strategy = STRATEGY_TEXT.get(plan.meta.get("strategy", ""), "")
    if strategy:
        sample = plan.meta.get("sample")
        parts.append(f"{strategy}{f' {sample}户' if sample else ''}")
    if plan.meta.get("seed") is not None:
        parts.append(f"随机种子 {plan.meta['seed']}")
    if plan.meta.get("as_of"):
        parts.append(f"数据截至 {plan.meta['as_of']}")
    return " · ".join(parts)


# --- the day's map page -------------------------------------------------------------------


def _map_page(plan: RoutePlan, row, stops: pd.DataFrame, layers) -> Figure:
    fig, ax = _page()
    title = plan.meta.get("title") or "督查走访路线"
    _header(ax, plan, f"{title} · 路线图", _subtitle(plan, row))
    box = (MARGIN, 28.0, 190.0, PAGE_H - 14.0)  # x0, y0, x1, y1 in mm
    ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                           fill=False, lw=0.6, ec=INK))  # fmt: skip
    frac = (box[0] / PAGE_W, 1 - box[3] / PAGE_H, (box[2] - box[0]) / PAGE_W,
            (box[3] - box[1]) / PAGE_H)  # fmt: skip
    map_ax = fig.add_axes(frac)
    _draw_map(map_ax, row, stops, layers, (box[2] - box[0], box[3] - box[1]))
    _summary_panel(ax, row, stops, x=box[2] + 6, y=box[1] + 2)
    return fig


def _draw_map(ax: Axes, row, stops: pd.DataFrame, layers, size_mm) -> None:
    ax.set_axis_off()
    points = [row.start_lon, row.end_lon], [row.start_lat, row.end_lat]
    lon = np.concatenate([points[0], stops.geometry.x.to_numpy()])
    lat = np.concatenate([points[1], stops.geometry.y.to_numpy()])
    frame = LocalFrame.at(float(np.mean(lon)), float(np.mean(lat)))
    to_map = frame.to_map()
    path = row.geometry
    shapes = [shapely.points(np.column_stack([lon, lat]))]
    if path is not None and not path.is_empty:
        shapes.append(path)
    x0, y0, x1, y1 = gpd.GeoSeries(np.concatenate([np.atleast_1d(s) for s in shapes]),
                                   crs=4326).to_crs(frame.crs).total_bounds  # fmt: skip
    extent = _fit_extent((x0, y0, x1, y1), size_mm)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    view = shapely.box(*extent)
    _draw_context(ax, layers, frame, view)
    if path is not None and not path.is_empty:
        line = gpd.GeoSeries([path], crs=4326).to_crs(frame.crs).iloc[0]
        for part in shapely.get_parts(line):
            xy = shapely.get_coordinates(part)
            ax.plot(xy[:, 0], xy[:, 1], color="white", lw=4.2, solid_capstyle="round", zorder=5)
            ax.plot(xy[:, 0], xy[:, 1], color=ROUTE_COLOUR, lw=2.2, alpha=0.9,
                    solid_capstyle="round", zorder=6)  # fmt: skip
            _direction_arrow(ax, xy)
    sx, sy = to_map.transform(row.start_lon, row.start_lat)
    ax.scatter([sx], [sy], marker="s", s=70, c=INK, edgecolors="white", linewidths=1.2,
               zorder=8)  # fmt: skip
    ax.annotate(
        row.start_name,
        (sx, sy),
        xytext=(6, -10),
        textcoords="offset points",
        fontsize=7.5,
        color=INK,
        zorder=9,
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
    )
    if (row.end_lon, row.end_lat) != (row.start_lon, row.start_lat):
        ex, ey = to_map.transform(row.end_lon, row.end_lat)
        ax.scatter([ex], [ey], marker="D", s=55, c=INK, edgecolors="white", zorder=8)
    xs, ys = to_map.transform(stops.geometry.x.to_numpy(), stops.geometry.y.to_numpy())
    metres_per_mm = (extent[2] - extent[0]) / size_mm[0]
    labels = _dodge(np.column_stack([xs, ys]), metres_per_mm)
    for (x, y), (lx, ly), seq in zip(zip(xs, ys, strict=True), labels, stops.seq, strict=True):
        if (lx, ly) != (x, y):
            ax.plot([x, lx], [y, ly], color=ROUTE_COLOUR, lw=0.7, zorder=9)
            ax.scatter([x], [y], s=10, c=ROUTE_COLOUR, zorder=9.5)
        ax.scatter([lx], [ly], s=150, c="white", edgecolors=ROUTE_COLOUR, linewidths=1.6,
                   zorder=10)  # fmt: skip
        ax.text(lx, ly, str(int(seq)), fontproperties=bold(7), color=INK, ha="center",
                va="center", zorder=11)  # fmt: skip
    _scale_bar(ax, extent, frame)
    _north_arrow(ax, extent)


def _dodge(xy: np.ndarray, metres_per_mm: float, clear_mm: float = 4.6) -> list:
    """Label places for numbered stops: on the stop when free, else the first free place
    on rings around it (a leader line then joins them)."""
    placed: list[tuple[float, float]] = []
    clear = clear_mm * metres_per_mm
    angles = np.radians([45, 135, 225, 315, 0, 90, 180, 270])
    for x, y in xy:
        candidates = [(x, y)] + [
            (x + r * clear * np.cos(a), y + r * clear * np.sin(a))
            for r in (1.3, 2.3, 3.3)
            for a in angles
        ]
        spot = next(
            (c for c in candidates
             if all(np.hypot(c[0] - p[0], c[1] - p[1]) >= clear for p in placed)),
            candidates[-1],
        )  # fmt: skip
        placed.append(spot)
    return placed


def _fit_extent(bounds, size_mm, pad: float = 0.08, minimum_m: float = 1500.0):
    """The bounds padded and widened to the map box's aspect ratio (at least ``minimum_m``)."""
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, minimum_m), max(y1 - y0, minimum_m)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    aspect = size_mm[0] / size_mm[1]
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _draw_context(ax: Axes, layers, frame: LocalFrame, view) -> None:
    villages = layers.get("villages")
    if villages is not None and len(villages):
        v = villages.to_crs(frame.crs).clip(view)
        for geom in v.geometry:
            for part in shapely.get_parts(geom):
                xy = shapely.get_coordinates(part)
                ax.plot(xy[:, 0], xy[:, 1], color="#8a7fa8", lw=0.6, ls=(0, (4, 2)), zorder=1)
        for name, point in zip(v.get("name", []), v.geometry.centroid, strict=False):
            if point is not None and not point.is_empty and view.contains(point):
                ax.text(point.x, point.y, name, fontsize=7, color="#6d6396", ha="center",
                        va="center", zorder=2, alpha=0.9)  # fmt: skip
    rivers = layers.get("rivers")
    if rivers is not None and len(rivers):
        for geom in rivers.to_crs(frame.crs).clip(view).geometry:
            for part in shapely.get_parts(geom):
                xy = shapely.get_coordinates(part)
                ax.plot(xy[:, 0], xy[:, 1], color=sym.RIVER_COLOUR, lw=0.8, alpha=0.7, zorder=2)
    roads = layers.get("roads")
    if roads is not None and len(roads):
        r = roads.to_crs(frame.crs).clip(view)
        for road_class in ("village", "township", "county", "provincial", "national"):
            style = sym.ROAD_STYLES[road_class]
            mine = r[r.road_class == road_class]
            for surface, geom in zip(mine.surface, mine.geometry, strict=True):
                dashes = sym.SURFACE_DASHES.get(surface)
                for part in shapely.get_parts(geom):
                    xy = shapely.get_coordinates(part)
                    if style.casing:
                        ax.plot(xy[:, 0], xy[:, 1], color=style.casing, lw=style.width + 0.9,
                                zorder=3)  # fmt: skip
                    line = ax.plot(xy[:, 0], xy[:, 1], color=style.colour, lw=style.width,
                                   zorder=3.5)[0]  # fmt: skip
                    if dashes:
                        line.set_dashes([d * style.width for d in dashes])


def _direction_arrow(ax: Axes, xy: np.ndarray) -> None:
    """A small arrowhead half-way along a leg, pointing the way to go."""
    if len(xy) < 2:
        return
    seg = np.hypot(*np.diff(xy, axis=0).T)
    total = seg.sum()
    if total < 300:
        return
    k = int(np.searchsorted(np.cumsum(seg), total / 2))
    k = min(k, len(seg) - 1)
    (x0, y0), (x1, y1) = xy[k], xy[k + 1]
    d = np.hypot(x1 - x0, y1 - y0) or 1.0
    ax.annotate("", xy=((x0 + x1) / 2 + (x1 - x0) / d, (y0 + y1) / 2 + (y1 - y0) / d),
                xytext=((x0 + x1) / 2, (y0 + y1) / 2),
                arrowprops={"arrowstyle": "-|>", "color": ROUTE_COLOUR, "lw": 0,
                            "mutation_scale": 11}, zorder=7)  # fmt: skip


def _scale_bar(ax: Axes, extent, frame: LocalFrame) -> None:
    width = extent[2] - extent[0]
    length = nice_length(width / 4 / frame.scale_factor)
    plane = frame.projected_metres(length)
    x0 = extent[0] + width * 0.04
    y0 = extent[1] + (extent[3] - extent[1]) * 0.04
    h = (extent[3] - extent[1]) * 0.008
    for i in range(2):
        ax.add_patch(Rectangle((x0 + i * plane / 2, y0), plane / 2, h, fc=INK if i == 0 else
                               "white", ec=INK, lw=0.6, zorder=12))  # fmt: skip
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    ax.text(x0 + plane / 2, y0 + 2.5 * h, label, fontsize=7, ha="center", color=INK, zorder=12,
            bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 0.5})  # fmt: skip


def _north_arrow(ax: Axes, extent) -> None:
    w, h = extent[2] - extent[0], extent[3] - extent[1]
    x, y = extent[2] - w * 0.05, extent[3] - h * 0.13
    ax.add_patch(FancyArrow(x, y, 0, h * 0.07, width=w * 0.006, head_width=w * 0.022,
                            head_length=h * 0.03, length_includes_head=True, color=INK,
                            zorder=12))  # fmt: skip
    ax.text(x, y + h * 0.085, "北", fontproperties=bold(8), ha="center", va="bottom", zorder=12)


def _summary_panel(ax: Axes, row, stops: pd.DataFrame, x: float, y: float) -> None:
    right = PAGE_W - MARGIN
    ax.text(x, y + 3, day_title(row), fontproperties=bold(11), color=INK, va="top")
    facts = [
        ("出发", f"{clock(row.start_min)}  {row.start_name}"),
        ("返回", f"{clock(row.finish_min)}  {row.end_name}"),
        ("走访", f"{int(row.stops)} 户，每户约 {_service(stops)} 分钟"),
        ("行车", f"{row.travel_min:.0f} 分钟，{row.distance_m / 1000:.1f} 公里"),
    ]
    if row.wait_min and row.wait_min > 0.5:
        facts.append(("等候", f"{row.wait_min:.0f} 分钟（按约定时间）"))
    top = y + 10
    for i, (key, value) in enumerate(facts):
        ax.text(x, top + i * 5, key, fontproperties=bold(8.5), color=MUTED, va="top")
        ax.text(x + 10, top + i * 5, value, fontsize=8.5, color=INK, va="top")
    top += len(facts) * 5 + 3
    ax.plot([x, right], [top, top], color=RULE, lw=0.5)
    ax.text(x, top + 2, "走访顺序", fontproperties=bold(9), color=INK, va="top")
    top += 8
    line_h = 4.6
    room = int((PAGE_H - 30 - top) // line_h)
    shown = stops.head(room if len(stops) > room else len(stops))
    for i, s in enumerate(shown.itertuples()):
        yy = top + i * line_h
        ax.text(x, yy, f"{int(s.seq):>2}", fontproperties=bold(7.5), color=ROUTE_COLOUR,
                va="top")  # fmt: skip
        ax.text(x + 5, yy, clock(s.begin_min), fontsize=7.5, color=INK, va="top")
        ax.text(x + 14, yy, str(s.household_no), fontsize=7.5, color=INK, va="top")
        ax.text(x + 43, yy, f"{_head(s) or ''}"
                f" {getattr(s, 'village_name', None) or ''}", fontsize=7.5, color=INK,
                va="top")  # fmt: skip
    if len(shown) < len(stops):
        ax.text(x, top + len(shown) * line_h, f"… 另有 {len(stops) - len(shown)} 户，见清单",
                fontsize=7.5, color=MUTED, va="top")  # fmt: skip
    legend_y = PAGE_H - 24
    ax.plot([x, x + 8], [legend_y, legend_y], color=ROUTE_COLOUR, lw=2.2)
    ax.text(x + 10, legend_y, "行车路线（沿道路）", fontsize=7, va="center", color=INK)
    ax.add_patch(Rectangle((x + 1.5, legend_y + 3), 3, 3, fc=INK, ec="white"))
    ax.text(x + 10, legend_y + 4.5, "出发/返回地", fontsize=7, va="center", color=INK)
    ax.plot([x + 45, x + 53], [legend_y, legend_y], color="#8a7fa8", lw=0.6, ls=(0, (4, 2)))
    ax.text(x + 55, legend_y, "行政村界", fontsize=7, va="center", color=INK)
    ax.add_patch(plt_circle(x + 49, legend_y + 4.5))
    ax.text(x + 55, legend_y + 4.5, "走访户（序号）", fontsize=7, va="center", color=INK)


def plt_circle(x: float, y: float):
    from matplotlib.patches import Circle

    return Circle((x, y), 1.6, fc="white", ec=ROUTE_COLOUR, lw=1.2)


def _service(stops: pd.DataFrame) -> str:
    if stops.empty:
        return "—"
    return f"{float(stops.service_min.median()):g}"


# --- the checklist pages --------------------------------------------------------------------


def _table_pages(plan: RoutePlan, row, stops: pd.DataFrame) -> list[Figure]:
    """Rows spread evenly over as few pages as hold them with the signature lines."""
    rows = list(stops.itertuples())
    room = PAGE_H - TABLE_TOP - 16 - HEAD_H
    pages = 1
    while True:
        per_page = int(np.ceil(len(rows) / pages)) if rows else 0
        height = min(ROW_H, (room - SIGNATURE_H) / max(per_page, 1))
        if height >= MIN_ROW_H:
            break
        pages += 1
    chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)] or [[]]
    figures = []
    title = plan.meta.get("title") or "督查走访路线"
    for index, chunk in enumerate(chunks):
        fig, ax = _page()
        part = f"（{index + 1}/{len(chunks)}）" if len(chunks) > 1 else ""
        _header(ax, plan, f"{title} · 入户核查清单{part}", _subtitle(plan, row))
        bottom = _table(ax, chunk, height)
        if index == len(chunks) - 1:
            _signatures(ax, bottom + 6)
        figures.append(fig)
    return figures


def _table(ax: Axes, rows: list, row_h: float = 14.0) -> float:
    x = MARGIN
    top = TABLE_TOP
    total_w = sum(w for _, w, _ in COLUMNS)
    ax.add_patch(Rectangle((x, top), total_w, HEAD_H, fc=HEADER_FILL, ec="none"))
    cx = x
    for title, width, _ in COLUMNS:
        ax.text(cx + width / 2, top + HEAD_H / 2, title, fontproperties=bold(7.5),
                ha="center", va="center", color=INK, linespacing=1.15)  # fmt: skip
        cx += width
    y = top + HEAD_H
    for i, s in enumerate(rows):
        if i % 2 == 1:
            ax.add_patch(Rectangle((x, y), total_w, row_h, fc="#f7f5f0", ec="none", zorder=0))
        cx = x
        for _, width, kind in COLUMNS:
            _cell(ax, kind, s, cx, y + row_h / 2, width)
            cx += width
        y += row_h
    # grid: horizontal then vertical rules
    for yy in [top, top + HEAD_H, *(top + HEAD_H + row_h * k for k in range(1, len(rows) + 1))]:
        ax.plot([x, x + total_w], [yy, yy], color=RULE if yy != top else INK, lw=0.5)
    cx = x
    for _, width, _ in (*COLUMNS, ("", 0.0, "")):
        ax.plot([cx, cx], [top, y], color=RULE, lw=0.5)
        cx += width
    ax.plot([x, x + total_w], [y, y], color=INK, lw=0.8)
    return y


def _cell(ax: Axes, kind: str, s, x: float, mid: float, width: float) -> None:
    text = {"fontsize": 7.5, "color": INK, "va": "center"}
    if kind == "seq":
        ax.text(x + width / 2, mid, str(int(s.seq)), ha="center", fontproperties=bold(9),
                color=ROUTE_COLOUR, va="center")  # fmt: skip
    elif kind == "arrival":
        ax.text(x + width / 2, mid, clock(s.begin_min), ha="center", **text)
    elif kind == "household_no":
        ax.text(x + 1.5, mid, str(s.household_no), fontsize=8, family="DejaVu Sans Mono",
                color=INK, va="center")  # fmt: skip
    elif kind == "head_name":
        ax.text(x + width / 2, mid, _head(s) or "", ha="center",
                **text)  # fmt: skip
    elif kind == "village":
        _two_lines(ax, x + 1.5, mid, getattr(s, "village_name", None),
                   getattr(s, "hamlet_name", None))  # fmt: skip
    elif kind == "cadre":
        _two_lines(ax, x + 1.5, mid, getattr(s, "cadre_name", None) or "（无）",
                   getattr(s, "cadre_phone", None))  # fmt: skip
    elif kind.startswith("check_"):
        for k, label in enumerate(("是", "否")):
            by = mid - 4.0 + k * 4.6
            bx = x + width / 2 - 3.2
            ax.add_patch(Rectangle((bx, by), 3.0, 3.0, fill=False, ec=INK, lw=0.6))
            ax.text(bx + 4.0, by + 1.5, label, fontsize=6.5, color=INK, va="center")
    elif kind == "result":
        for k, label in enumerate(RESULTS):
            by = mid - 5.1 + k * 3.6
            ax.add_patch(Rectangle((x + 1.6, by), 2.6, 2.6, fill=False, ec=INK, lw=0.6))
            ax.text(x + 5.3, by + 1.3, label, fontsize=6.3, color=INK, va="center")
    elif kind == "findings":
        must = "必访 " if bool(getattr(s, "must_visit", False)) else ""
        window = _window_text(s)
        hint = " ".join(p for p in (must.strip(), window) if p)
        if hint:
            ax.text(x + 1.5, mid - 4.8, hint, fontsize=6, color=MUTED, va="top")


def _window_text(s) -> str:
    lo, hi = getattr(s, "window_start_min", None), getattr(s, "window_end_min", None)
    if not _present(lo) and not _present(hi):
        return ""
    return f"约定 {clock(lo) if _present(lo) else ''}–{clock(hi) if _present(hi) else ''}"


def _two_lines(ax: Axes, x: float, mid: float, first, second) -> None:
    ax.text(x, mid - 2.3, str(first) if _present(first) else "", fontsize=7.5, color=INK,
            va="center")  # fmt: skip
    ax.text(x, mid + 2.5, str(second) if _present(second) else "", fontsize=7, color=MUTED,
            va="center")  # fmt: skip


def _present(value) -> bool:
    if value is None:
        return False
    try:
        return not pd.isna(value)
    except (TypeError, ValueError):
        return True


def _signatures(ax: Axes, y: float) -> None:
    items = (("督查人员（签名）", 70), ("陪同村干部（签名）", 70), ("日期", 45))
    x = MARGIN
    for label, width in items:
        ax.text(x, y + 6, f"{label}：", fontsize=9, color=INK, va="baseline")
        start = x + 6 + len(label) * 3.2
        ax.plot([start, start + width - 12], [y + 7, y + 7], color=INK, lw=0.6)
        x = start + width
    ax.text(MARGIN, y + 13, "请逐户核实“两不愁三保障”并勾选“是/否”，发现问题请写明情况；"
            "未遇到户主的勾选“未遇”。", fontsize=7, color=MUTED, va="baseline")  # fmt: skip


# --- households left out --------------------------------------------------------------------


def _unassigned_pages(plan: RoutePlan) -> list[Figure]:
    rows = list(plan.unassigned.sort_values("household_no").itertuples())
    per_page = 26
    pages = []
    title = plan.meta.get("title") or "督查走访路线"
    for start in range(0, len(rows), per_page):
        fig, ax = _page()
        note = "以下各户未排入本次路线，原因如下（可调整人数、天数或每日时长后重新规划）"
        _header(ax, plan, f"{title} · 未能安排的户（{len(rows)}户）", note)
        y = TABLE_TOP
        columns = ((MARGIN, "户编号"), (MARGIN + 40, "户主"), (MARGIN + 58, "行政村"),
                   (MARGIN + 88, "原因"))  # fmt: skip
        for cx, label in columns:
            ax.text(cx, y, label, fontproperties=bold(8.5), color=INK, va="top")
        y += 6
        ax.plot([MARGIN, PAGE_W - MARGIN], [y - 1, y - 1], color=INK, lw=0.6)
        for s in rows[start : start + per_page]:
            values = (str(s.household_no), _head(s) or "",
                      getattr(s, "village_name", None) or "", s.reason_text or "")  # fmt: skip
            for (cx, _), value in zip(columns, values, strict=True):
                ax.text(cx, y, value, fontsize=8, color=INK, va="top")
            y += 5.6
        pages.append(fig)
    return pages


def _empty_page(plan: RoutePlan) -> Figure:
    fig, ax = _page()
    _header(ax, plan, plan.meta.get("title") or "督查走访路线", "本计划没有安排任何走访")
    return fig


def _head(stop) -> object:
    """The stop's household head as the sheet prints it (masked: geo/sensitivity.py)."""
    return shown("route_stop", "head_name", getattr(stop, "head_name", None))
