"""The 规划图: a township's 攻坚图 with a what-if scenario drawn over it (``gongjian map
township CODE --scenario NAME``): proposed roads dashed purple, roads to harden thick orange,
new clinics, water points and schools as purple-ringed stars. The scenario's changes are the
``scenario`` context layer (``layers.scenarios.plan_layer``); without it nothing is drawn."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from maps.wallmap.drawing import (
    DrawContext,
    LegendEntry,
    LineGlyph,
    MapLayer,
    MarkerGlyph,
    ProjectedSheet,
    line_segments,
)

SECTION_PLAN = "规划（方案）"
PLAN_COLOUR = "#7b3294"
HARDEN_COLOUR = "#ff7f00"
FACILITY_LABELS = {"clinic": "规划卫生站", "water": "规划供水点", "school": "规划学校"}
FACILITY_FACE = {"clinic": "#e7298a", "water": "#1f78b4", "school": "#33a02c"}


def draw_scenario(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    plan = data.layers.get("scenario")
    if plan is None or plan.empty:
        return []
    entries: list[LegendEntry] = []
    for kind, label, colour, width, dashes in (
        ("harden", "规划硬化道路", HARDEN_COLOUR, 2.4, None),
        ("road", "规划新建道路", PLAN_COLOUR, 1.6, (4.0, 2.0)),
    ):
        segs = line_segments(plan[plan["kind"] == kind].geometry)
        if not segs:
            continue
        lines = LineCollection(segs, colors=colour, linewidths=ctx.lw(width), zorder=12.8,
                               capstyle="butt", joinstyle="round", alpha=0.85)  # fmt: skip
        if dashes:
            lines.set_linestyle((0, tuple(d * ctx.lw(width) for d in dashes)))
        ax.add_collection(lines)
        km = sum(g.length for g in plan[plan["kind"] == kind].geometry) / 1000.0
        glyph = LineGlyph(colour, ctx.lw(width), dashes)
        entries.append(LegendEntry(SECTION_PLAN, label, glyph, f"{km:.1f} 公里"))
    size = ctx.paper.symbol("household") * 2.2
    for kind, label in FACILITY_LABELS.items():
        points = plan[plan["kind"] == kind]
        if points.empty:
            continue
        ax.scatter(points.geometry.x, points.geometry.y, s=size**2, marker="*",
                   facecolors=FACILITY_FACE[kind], edgecolors=PLAN_COLOUR,
                   linewidths=size * 0.08, zorder=14)  # fmt: skip
        glyph = MarkerGlyph("*", FACILITY_FACE[kind], PLAN_COLOUR, size, size * 0.08)
        entries.append(LegendEntry(SECTION_PLAN, label, glyph, f"{len(points)} 处"))
    return entries


PLAN_LAYER = MapLayer("scenario", draw_scenario, 12.8)
