"""The households layer of the map frame: one symbol per household — colour by status (or
main cause), shape by category — displaced apart where they crowd so that each can be
counted (:mod:`maps.wallmap.dodge`), and where each symbol went (``household_marks``) for
the overlays drawn on top (``maps.wallmap.overlays``) and for the tests.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.axes import Axes

from maps.wallmap import symbology as sym
from maps.wallmap.dodge import dodge
from maps.wallmap.drawing import (
    SECTION_CATEGORY,
    SECTION_CAUSE,
    SECTION_HOUSEHOLDS,
    DrawContext,
    LegendEntry,
    MarkerGlyph,
    ProjectedSheet,
    households_text,
)
from maps.wallmap.paper import MM_PER_PT
from maps.wallmap.view import MapView


def draw_households(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Households: status by colour (or cause), category by shape, the work to do on top."""
    hh = data.households
    if hh.empty:
        return []
    hh = displaced_households(hh, data.township, ctx)
    hh = hh.assign(category=hh["category"].fillna(sym.UNKNOWN_CATEGORY))
    keep = ["id", "x_mm", "y_mm", "mx", "my", "status", "category", "cadre_id", "uncovered"]
    keep += ["relocation", "change", "hamlet_id"]
    data.household_marks = hh[[c for c in keep if c in hh]].assign(
        x=hh.geometry.x.to_numpy(),
        y=hh.geometry.y.to_numpy(),  # true position; mx, my dodged
    )
    if ctx.color_by == "cause":
        return _households_by_cause(ax, hh, ctx)
    base = ctx.paper.symbol("household")
    edge = ctx.paper.symbol("household_edge")
    entries = []
    for z, status in enumerate(sym.STATUS_ORDER):
        of_status = hh[hh["status"] == status]
        for category, marker in sym.CATEGORY_MARKERS.items():
            group = of_status[of_status["category"] == category]
            if group.empty:
                continue
            size = base * sym.STATUS_SIZE[status] * sym.CATEGORY_SIZE[category]
            ax.scatter(
                group["mx"],
                group["my"],
                s=size**2,
                marker=marker,
                c=sym.STATUS_COLOURS[status],
                edgecolors="#ffffff",
                linewidths=edge,
                zorder=10 + z,
            )
    for status in ("poor", "returned", "exited"):
        n = int((hh["status"] == status).sum())
        if n:
            glyph = MarkerGlyph(
                "o",
                sym.STATUS_COLOURS[status],
                "#ffffff",
                base * sym.STATUS_SIZE[status] * 1.15,
                edge,
            )
            entries.append(
                LegendEntry(
                    SECTION_HOUSEHOLDS, sym.STATUS_LABELS[status], glyph, households_text(n)
                )
            )
    entries += _category_entries(hh, base, edge, sym.NEUTRAL_HOUSEHOLD)
    return entries


STATUS_PRIORITY = {"poor": 0, "returned": 1, "exited": 2}


def displaced_households(hh: gpd.GeoDataFrame, township, ctx: DrawContext) -> gpd.GeoDataFrame:
    """Households with the sheet position (x_mm, y_mm) and map position (mx, my) of their
    symbol after displacement (see :mod:`maps.wallmap.dodge`)."""
    view = ctx.view
    x_mm, y_mm = view.to_paper(hh.geometry.x.to_numpy(), hh.geometry.y.to_numpy())
    order = np.lexsort((hh["id"].to_numpy(), hh["status"].map(STATUS_PRIORITY).to_numpy()))
    diameter = ctx.paper.symbol("household") * MM_PER_PT * 1.08
    inside = paper_mask(township, view, cell=diameter / 4)
    placed = dodge(np.column_stack([x_mm, y_mm]), diameter, order, inside)
    mx, my = view.to_map(placed[:, 0], placed[:, 1])
    return hh.assign(x_mm=placed[:, 0], y_mm=placed[:, 1], mx=mx, my=my)


def paper_mask(area: shapely.Geometry, view: MapView, cell: float):
    """``inside(x_mm, y_mm)`` for an area, from a raster of it on the paper (fast lookups)."""
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    x0, y0, w, h = view.rect_mm
    on_paper = shapely.transform(area, lambda c: np.column_stack(view.to_paper(c[:, 0], c[:, 1])))
    on_paper = on_paper.buffer(-cell)
    cols, rows = int(np.ceil(w / cell)), int(np.ceil(h / cell))
    transform = from_origin(x0, y0 + rows * cell, cell, cell)
    mask = rasterize(
        [(on_paper, 1)], out_shape=(rows, cols), transform=transform, fill=0, dtype="uint8"
    ).astype(bool)
    top = y0 + rows * cell

    def inside(x: float, y: float) -> bool:
        c, r = int((x - x0) / cell), int((top - y) / cell)
        return 0 <= r < rows and 0 <= c < cols and bool(mask[r, c])

    return inside


def _category_entries(hh, base, edge, colour, face=None) -> list[LegendEntry]:
    entries = []
    for category, marker in sym.CATEGORY_MARKERS.items():
        n = int((hh["category"] == category).sum())
        if n:
            glyph = MarkerGlyph(
                marker,
                face or colour,
                colour if face else "#ffffff",
                base * sym.CATEGORY_SIZE[category] * 1.15,
                edge,
            )
            entries.append(
                LegendEntry(
                    SECTION_CATEGORY, sym.CATEGORY_LABELS[category], glyph, households_text(n)
                )
            )
    return entries


def _households_by_cause(ax: Axes, hh: gpd.GeoDataFrame, ctx: DrawContext) -> list[LegendEntry]:
    """Colour = main cause; exited households hollow, still-poor and returned filled."""
    base = ctx.paper.symbol("household")
    edge = ctx.paper.symbol("household_edge")
    exited = hh["status"] == "exited"
    for z, (mask, hollow) in enumerate(((exited, True), (~exited, False))):
        part = hh[mask]
        for category, marker in sym.CATEGORY_MARKERS.items():
            group = part[part["category"] == category]
            if group.empty:
                continue
            colours = group["main_cause"].map(sym.CAUSE_COLOURS).fillna("#999999")
            size = base * sym.CATEGORY_SIZE[category] * (0.9 if hollow else 1.0)
            ax.scatter(
                group["mx"],
                group["my"],
                s=size**2,
                marker=marker,
                c="#ffffff" if hollow else colours.to_numpy(),
                edgecolors=colours.to_numpy() if hollow else "#ffffff",
                linewidths=edge * (3 if hollow else 1),
                zorder=10 + z,
            )
    entries = []
    counts = hh["main_cause"].value_counts()
    for cause, colour in sym.CAUSE_COLOURS.items():
        if counts.get(cause, 0):
            glyph = MarkerGlyph("o", colour, "#ffffff", base * 1.15, edge)
            entries.append(
                LegendEntry(
                    SECTION_CAUSE,
                    sym.vocab.CAUSE[cause],
                    glyph,
                    households_text(int(counts[cause])),
                )
            )
    n_exited, n_open = int(exited.sum()), int((~exited).sum())
    if n_open:
        entries.append(
            LegendEntry(
                SECTION_HOUSEHOLDS,
                "实心：未脱贫（含返贫）",
                MarkerGlyph("o", "#555555", "#ffffff", base * 1.15, edge),
                households_text(n_open),
            )
        )
    if n_exited:
        entries.append(
            LegendEntry(
                SECTION_HOUSEHOLDS,
                "空心：已脱贫",
                MarkerGlyph("o", "#ffffff", "#555555", base * 1.05, edge * 3),
                households_text(n_exited),
            )
        )
    entries += _category_entries(hh, base, edge, sym.NEUTRAL_HOUSEHOLD)
    return entries
