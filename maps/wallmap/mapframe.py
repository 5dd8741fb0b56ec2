"""The map frame: relief, layers, labels, graticule with degree labels; the corners' north
arrow, scale bar and QR code come from :mod:`maps.wallmap.furniture`.

Everything is drawn in the local projected CRS (see :mod:`maps.wallmap.projection`); the
frame's axes span exactly the view's extent, so one paper millimetre is a known number of
ground metres and household positions map to known pixels (the tests check them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from shapely.ops import polylabel

from layers.wallmap_data import SheetData
from maps.wallmap import symbology as sym
from maps.wallmap.drawing import DrawContext, LegendEntry, ProjectedSheet, halo_text
from maps.wallmap.furniture import QrSpec, draw_furniture
from maps.wallmap.hillshade import shaded_relief
from maps.wallmap.labels import Box, Candidate, LabelBoxes, around, place, spiral, text_size_mm
from maps.wallmap.overlays import MAP_LAYERS
from maps.wallmap.paper import MM_PER_PT, Paper
from maps.wallmap.planning import PLAN_LAYER
from maps.wallmap.view import MapView, project

#: Graticule intervals to choose from, in arc minutes.
GRID_MINUTES = (0.5, 1, 2, 2.5, 5, 10, 15, 20, 30, 60, 120)


@dataclass
class MapFrame:
    """What the frame drew: its axes, legend entries and the projected data."""

    ax: Axes
    view: MapView
    legend: list[LegendEntry]
    data: ProjectedSheet
    labels: list[tuple[str, Box]]  # every placed label and its box on the sheet (mm)
    qr_box: Box | None = None  # where the QR code to the web twin is (mm), if drawn


def projected_sheet(sheet: SheetData, view: MapView) -> ProjectedSheet:
    """The sheet's layers in the view's CRS, clipped to the frame."""
    township = sheet.township.to_crs(view.frame.crs).geometry.iloc[0]
    seat = None
    row = sheet.township.iloc[0]
    if row.get("seat_lon") is not None and not np.isnan(row["seat_lon"]):
        seat = tuple(view.frame.to_map().transform(row["seat_lon"], row["seat_lat"]))
    return ProjectedSheet(
        township=township,
        villages=project(sheet.villages, view, clip=False),
        hamlets=project(sheet.hamlets, view),
        households=project(sheet.households, view),
        neighbours=project(sheet.neighbours, view),
        layers={name: project(frame, view) for name, frame in sheet.layers.items()},
        seat=seat,
        cadre_names=dict(zip(sheet.cadres["cadre_id"], sheet.cadres["name"], strict=True)),
        boundaries_derived=sheet.boundaries_derived,
        changes=None if sheet.changes is None else project(sheet.changes, view, clip=False),
    )


def draw_map_frame(
    fig: Figure,
    sheet: SheetData,
    view: MapView,
    paper: Paper,
    *,
    color_by: str = "status",
    sectors: bool = False,
    qr: QrSpec | None = None,
) -> MapFrame:
    """Draw the whole map frame of ``sheet`` at ``view`` onto ``fig`` (with ``qr``, the QR
    code to the sheet's web twin in a corner)."""
    W, H = paper.size_mm
    x, y, w, h = view.rect_mm
    ax = fig.add_axes((x / W, y / H, w / W, h / H), zorder=2)
    xmin, xmax, ymin, ymax = view.extent
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_axis_off()
    data = projected_sheet(sheet, view)
    ctx = DrawContext(paper, view, color_by, sectors)
    legend: list[LegendEntry] = []
    relief = (
        shaded_relief(sheet.dem_path, view.frame.crs, view.extent, (w, h))
        if sheet.dem_path
        else None
    )
    if relief is not None:
        ax.imshow(relief.rgb, extent=relief.extent, origin="upper", interpolation="none", zorder=1)
        legend.append(LegendEntry("地形", "山体阴影（数字高程模型）", _relief_glyph()))
    for layer in (*MAP_LAYERS, PLAN_LAYER):
        legend += layer.draw(ax, data, ctx)
    boxes = LabelBoxes()
    qr_box = draw_furniture(ax, view, paper, data, boxes, qr)
    draw_labels(ax, view, paper, data, boxes)
    draw_graticule(fig, ax, view, paper)
    return MapFrame(ax, view, legend, data, boxes.placed, qr_box)


def _relief_glyph():
    from maps.wallmap.drawing import PatchGlyph

    return PatchGlyph("#c9c9c9", "#9a9a9a")


# --- labels -----------------------------------------------------------------------------------


class Density:
    """Household count per paper millimetre cell, to keep labels off the symbols."""

    def __init__(self, view: MapView, marks: pd.DataFrame) -> None:
        self.x0, self.y0, w, h = view.rect_mm
        self.shape = (int(np.ceil(h)) + 1, int(np.ceil(w)) + 1)
        grid = np.zeros(self.shape)
        if not marks.empty:
            px, py = marks["x_mm"].to_numpy(), marks["y_mm"].to_numpy()
            cols = np.clip((px - self.x0).astype(int), 0, self.shape[1] - 1)
            rows = np.clip((py - self.y0).astype(int), 0, self.shape[0] - 1)
            np.add.at(grid, (rows, cols), 1.0)
        self.table = np.pad(grid.cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def count(self, box: Box) -> float:
        c0 = int(np.clip(box.x0 - self.x0, 0, self.shape[1]))
        c1 = int(np.clip(box.x1 - self.x0, 0, self.shape[1]))
        r0 = int(np.clip(box.y0 - self.y0, 0, self.shape[0]))
        r1 = int(np.clip(box.y1 - self.y0, 0, self.shape[0]))
        t = self.table
        return float(t[r1, c1] - t[r0, c1] - t[r1, c0] + t[r0, c0])


def draw_labels(
    ax: Axes, view: MapView, paper: Paper, data: ProjectedSheet, boxes: LabelBoxes
) -> None:
    """Village names (required), the seat, neighbour townships, then hamlets where room is left."""
    marks = data.household_marks
    density = Density(view, marks if marks is not None else pd.DataFrame({"x_mm": [], "y_mm": []}))
    frame = view.paper_box.padded(-1.0)
    counts = data.households.groupby("village_code").size() if not data.households.empty else {}
    villages = data.villages.assign(area=data.villages.geometry.area).sort_values(
        "area", ascending=False
    )
    for _, village in villages.iterrows():
        _label_village(ax, view, paper, village, counts, boxes, density, frame)
    if data.seat is not None:
        _label_point(
            ax,
            view,
            paper,
            data.seat,
            "镇政府",
            paper.pt("facility") * 1.35,
            boxes,
            density,
            frame,
            colour="#7f0000",
            required=True,
            weight="bold",
            gap=paper.symbol("seat") * MM_PER_PT * 0.6,
        )
    _label_neighbours(ax, view, paper, data, boxes, frame)
    for name, (x, y), colour in data.sector_labels:
        _label_point(ax, view, paper, (x, y), name, paper.pt("hamlet") * 1.15, boxes, density,
                     frame, colour=colour, weight="bold", gap=0.5)  # fmt: skip
    if not data.hamlets.empty:
        order = data.hamlets.sort_values(["population", "id"], ascending=[False, True])
        for _, hamlet in order.iterrows():
            point = (hamlet.geometry.x, hamlet.geometry.y)
            _label_point(
                ax,
                view,
                paper,
                point,
                hamlet["name"],
                paper.pt("hamlet"),
                boxes,
                density,
                frame,
                colour="#3d3d3d",
                gap=paper.symbol("hamlet") * MM_PER_PT,
            )


def _label_village(ax, view, paper, village, counts, boxes, density, frame) -> None:
    geom = village.geometry
    part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    anchor = polylabel(part, tolerance=view.metres_per_mm)
    key = village["key_level"] is not None and village["key_level"] == village["key_level"]
    name = ("★" if key else "") + village["name"]
    n = int(counts.get(village["code"], 0)) if len(counts) else 0
    size = paper.pt("village")
    lines = [(name, size)] + ([(f"{n}户", size * 0.7)] if n else [])
    width, height = text_size_mm(lines, spacing=1.2)
    ax_mm = view.to_paper(anchor.x, anchor.y)
    step = max(height * 0.8, 2.0)
    inside = part.buffer(-view.metres_per_mm * 1.0)

    def accept(c: Candidate) -> bool:
        mx, my = view.to_map(c.x, c.y)
        return inside.contains(shapely.Point(float(mx), float(my)))

    def cost(box: Box) -> float:
        d = np.hypot(box.centre[0] - ax_mm[0], box.centre[1] - ax_mm[1])
        return density.count(box) + 0.15 * d

    cand = place(
        boxes,
        spiral(float(ax_mm[0]), float(ax_mm[1]), step, rings=5),
        width,
        height,
        within=frame,
        accept=accept,
        cost=cost,
        required=True,
        name=f"village:{name}",
    )
    if cand is None:
        cand = Candidate(float(ax_mm[0]), float(ax_mm[1]))
    mx, my = view.to_map(cand.x, cand.y)
    colour = "#8b1a1a" if key else sym.LABEL_TEXT
    line = size * MM_PER_PT * 1.2 * view.metres_per_mm
    name_y = float(my) + (line * 0.35 if n else 0.0)
    halo_text(
        ax,
        size * 0.28,
        float(mx),
        name_y,
        name,
        ha="center",
        va="center",
        fontsize=size,
        fontweight="bold",
        color=colour,
        zorder=30,
    )
    if n:
        halo_text(
            ax,
            size * 0.2,
            float(mx),
            float(my) - line * 0.5,
            f"{n}户",
            ha="center",
            va="center",
            fontsize=size * 0.7,
            color=colour,
            zorder=30,
        )


def _label_point(
    ax,
    view,
    paper,
    point,
    text,
    size,
    boxes,
    density,
    frame,
    *,
    colour,
    required=False,
    weight="normal",
    gap=1.0,
) -> bool:
    width, height = text_size_mm([(text, size)], spacing=1.05)
    px, py = (float(v) for v in view.to_paper(*point))

    def clear(c: Candidate) -> bool:  # optional labels never hide a household symbol
        box = Box(c.x - width / 2, c.y - height / 2, c.x + width / 2, c.y + height / 2)
        return density.count(box.padded(0.3)) == 0

    cand = place(
        boxes,
        around(px, py, gap, width, height),
        width,
        height,
        within=frame,
        accept=None if required else clear,
        cost=density.count,
        required=required,
        name=f"point:{text}",
    )
    if cand is None:
        return False
    mx, my = view.to_map(cand.x, cand.y)
    halo_text(
        ax,
        size * 0.25,
        float(mx),
        float(my),
        text,
        ha="center",
        va="center",
        fontsize=size,
        color=colour,
        fontweight=weight,
        zorder=29,
    )
    return True


def _label_neighbours(ax, view, paper, data, boxes, frame) -> None:
    if data.neighbours.empty:
        return
    size = paper.pt("neighbour")
    for _, row in data.neighbours.iterrows():
        visible = row.geometry.intersection(view.box).difference(data.township)
        if visible.is_empty or visible.area < (30 * view.metres_per_mm) ** 2:
            continue
        part = max(getattr(visible, "geoms", [visible]), key=lambda g: g.area)
        if part.geom_type != "Polygon":
            continue
        anchor = polylabel(part, tolerance=view.metres_per_mm)
        width, height = text_size_mm([(row["name"], size)])
        px, py = (float(v) for v in view.to_paper(anchor.x, anchor.y))
        inside = part.buffer(-view.metres_per_mm * 1.0)

        def accept(c: Candidate, inside=inside) -> bool:
            mx, my = view.to_map(c.x, c.y)
            return inside.contains(shapely.Point(float(mx), float(my)))

        cand = place(
            boxes,
            spiral(px, py, height, rings=4),
            width,
            height,
            within=frame,
            accept=accept,
            name=f"neighbour:{row['name']}",
        )
        if cand is not None:
            mx, my = view.to_map(cand.x, cand.y)
            halo_text(
                ax,
                size * 0.2,
                float(mx),
                float(my),
                row["name"],
                ha="center",
                va="center",
                fontsize=size,
                color=sym.NEIGHBOUR_TEXT,
                zorder=28,
            )


# --- graticule ---------------------------------------------------------------------------------


def grid_interval(span_deg: float, lines: int = 5) -> float:
    """Graticule interval (degrees) giving at most ``lines`` lines across ``span_deg``."""
    for minutes in GRID_MINUTES:
        if span_deg * 60 / minutes <= lines:
            return minutes / 60
    return GRID_MINUTES[-1] / 60


def format_dms(value: float, axis: str) -> str:
    """112.5 → 112°30′E; seconds only when the interval needs them."""
    hemi = ("E" if value >= 0 else "W") if axis == "lon" else ("N" if value >= 0 else "S")
    total = round(abs(value) * 3600)
    deg, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{deg}°{minutes:02d}′" + (f"{seconds:02d}″" if seconds else "")
    return text + hemi


def draw_graticule(fig: Figure, ax: Axes, view: MapView, paper: Paper) -> None:
    """Meridians and parallels as thin lines, labelled in degrees outside the frame."""
    xmin, xmax, ymin, ymax = view.extent
    to_lonlat, to_map = view.frame.to_lonlat(), view.frame.to_map()
    xs = np.array([xmin, xmax, xmax, xmin])
    ys = np.array([ymin, ymin, ymax, ymax])
    lons, lats = to_lonlat.transform(xs, ys)
    lon0, lon1, lat0, lat1 = lons.min(), lons.max(), lats.min(), lats.max()
    width_lines = max(3, min(6, int(view.rect_mm[2] / (45 * paper.type_scale)) + 2))
    height_lines = max(3, min(6, int(view.rect_mm[3] / (45 * paper.type_scale)) + 2))
    dlon, dlat = grid_interval(lon1 - lon0, width_lines), grid_interval(lat1 - lat0, height_lines)
    lw = 0.35 * paper.type_scale
    size = paper.pt("grid")
    W, H = paper.size_mm
    px, py, pw, ph = view.rect_mm
    gap = size * MM_PER_PT * 0.45
    samples = np.linspace(0, 1, 60)
    for lon in np.arange(np.ceil(lon0 / dlon) * dlon, lon1, dlon):
        x, y = to_map.transform(np.full(60, lon), lat0 - 0.05 + samples * (lat1 - lat0 + 0.1))
        ax.plot(x, y, color=sym.GRID_COLOUR, linewidth=lw, alpha=0.7, zorder=5.95)
        for edge_y, va, off in ((ymin, "top", -gap), (ymax, "bottom", gap)):
            cross = np.interp(edge_y, y, x)
            if xmin < cross < xmax:
                mx = px + (cross - xmin) / view.metres_per_mm
                my = (py if edge_y == ymin else py + ph) + off
                fig.text(
                    mx / W,
                    my / H,
                    format_dms(lon, "lon"),
                    ha="center",
                    va=va,
                    fontsize=size,
                    color="#333333",
                )
                _tick(fig, paper, mx, py if edge_y == ymin else py + ph, vertical=True, outward=off)
    for lat in np.arange(np.ceil(lat0 / dlat) * dlat, lat1, dlat):
        x, y = to_map.transform(lon0 - 0.05 + samples * (lon1 - lon0 + 0.1), np.full(60, lat))
        ax.plot(x, y, color=sym.GRID_COLOUR, linewidth=lw, alpha=0.7, zorder=5.95)
        for edge_x, off in ((xmin, -gap), (xmax, gap)):
            cross = np.interp(edge_x, x, y)
            if ymin < cross < ymax:
                my = py + (cross - ymin) / view.metres_per_mm
                mx = (
                    (px if edge_x == xmin else px + pw)
                    + off
                    + np.sign(off) * size * MM_PER_PT * 0.5
                )
                fig.text(
                    mx / W,
                    my / H,
                    format_dms(lat, "lat"),
                    ha="center",
                    va="center",
                    rotation=90,
                    fontsize=size,
                    color="#333333",
                    rotation_mode="anchor",
                )
                _tick(
                    fig, paper, px if edge_x == xmin else px + pw, my, vertical=False, outward=off
                )


def _tick(fig: Figure, paper: Paper, x: float, y: float, *, vertical: bool, outward: float) -> None:
    W, H = paper.size_mm
    length = 1.2 * paper.type_scale * np.sign(outward)
    xs, ys = ([x, x], [y, y + length]) if vertical else ([x, x + length], [y, y])
    fig.add_artist(
        _line([v / W for v in xs], [v / H for v in ys], 0.5 * paper.type_scale, sym.FRAME_COLOUR)
    )


def _line(xs, ys, width, colour):
    from matplotlib.lines import Line2D

    return Line2D(xs, ys, linewidth=width, color=colour, solid_capstyle="butt")
