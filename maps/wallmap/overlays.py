"""Thematic overlays drawn over the households — coverage rings, relocation candidates,
each cadre's sector (分组包片), what changed since the last print — and :data:`MAP_LAYERS`,
the drawing order of the map frame.

Each draws only when its data is on the sheet and returns its legend entries with live counts.
"""

from __future__ import annotations

import geopandas as gpd
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.patches import PathPatch

from maps.wallmap import symbology as sym
from maps.wallmap.drawing import (
    SECTION_ADMIN,
    SECTION_CHANGES,
    SECTION_HOUSEHOLDS,
    DrawContext,
    LegendEntry,
    MapLayer,
    MarkerGlyph,
    PatchGlyph,
    ProjectedSheet,
    draw_boundaries,
    draw_facilities,
    draw_hamlets,
    draw_outside_mask,
    draw_rivers,
    draw_roads,
    draw_villages,
    draw_water_areas,
    households_text,
    polygon_path,
)
from maps.wallmap.households import draw_households
from maps.wallmap.paper import MM_PER_PT


def draw_uncovered(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """A dark ring round each household the coverage analysis found uncovered (no hardened
    road, piped water, clinic or cadre within the policy's reach). Drawn only when coverage
    has been computed (``gongjian coverage``): the layer the coverage issue adds."""
    marks = data.household_marks
    if marks is None or "uncovered" not in marks or not marks["uncovered"].eq(True).any():
        return []
    uncovered = marks[marks["uncovered"].eq(True)]
    size = ctx.paper.symbol("household") * 1.2  # within the displacement spacing
    width = ctx.paper.symbol("household") * 0.14
    ax.scatter(uncovered["mx"], uncovered["my"], s=size**2, marker="o", facecolors="none",
               edgecolors=sym.UNCOVERED_RING, linewidths=width, zorder=13)  # fmt: skip
    glyph = MarkerGlyph("o", "none", sym.UNCOVERED_RING, size, width)
    label = "基础设施或帮扶未覆盖（外圈）"
    return [LegendEntry(SECTION_HOUSEHOLDS, label, glyph, households_text(len(uncovered)))]


#: relocation kind → (legend label, marker drawn round the household)
RELOCATION_MARKS = {
    "whole": ("搬迁对象：整体搬迁（六边形框）", "H"),  # not ▲: that is 特困供养户
    "scattered": ("搬迁对象：插花搬迁（菱形框）", "D"),
}


def draw_relocation(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Relocation candidates (不具备生产生活条件, seeds 001, 002 §12) as an orange frame round
    the household (hexagon: whole hamlet, diamond: scattered), and the whole-hamlet
    relocations (整体搬迁) as dashed outlines.
    Drawn only once ``gongjian relocation`` has assessed the township."""
    marks = data.household_marks
    entries: list[LegendEntry] = []
    if marks is not None and "relocation" in marks and marks["relocation"].notna().any():
        size = ctx.paper.symbol("household") * 1.5
        width = ctx.paper.symbol("household") * 0.12
        for kind, (label, marker) in RELOCATION_MARKS.items():
            chosen = marks[marks["relocation"] == kind]
            if chosen.empty:
                continue
            ax.scatter(chosen["mx"], chosen["my"], s=size**2, marker=marker, facecolors="none",
                       edgecolors=sym.RELOCATION_COLOUR, linewidths=width, zorder=13.5)  # fmt: skip
            glyph = MarkerGlyph(marker, "none", sym.RELOCATION_COLOUR, size, width)
            entries.append(
                LegendEntry(SECTION_HOUSEHOLDS, label, glyph, households_text(len(chosen)))
            )
    groups = _groups_of_drawn_homes(data.layers.get("relocation_groups"), marks)
    if not groups.empty:
        ax.add_collection(
            PatchCollection(
                [PathPatch(polygon_path(g)) for g in groups.geometry],
                facecolors="none",
                edgecolors=sym.RELOCATION_COLOUR,
                linewidths=ctx.lw(0.6),
                linestyles=[(0, (4, 2))],
                zorder=12.6,
            )
        )
        glyph = PatchGlyph("none", sym.RELOCATION_COLOUR, None, 1.0, ctx.lw(0.6), (0, (4, 2)))
        entries.append(
            LegendEntry(SECTION_HOUSEHOLDS, "整体搬迁自然村范围", glyph, f"{len(groups)} 处")
        )
    return entries


def _groups_of_drawn_homes(groups: gpd.GeoDataFrame | None, marks) -> gpd.GeoDataFrame:
    """The whole-hamlet outlines around households this sheet draws: not the neighbouring
    townships' groups inside the frame, nor those of households the sheet leaves out."""
    if groups is None or groups.empty or marks is None or "relocation" not in marks:
        return gpd.GeoDataFrame(geometry=[])
    whole = marks[marks["relocation"] == "whole"]
    if whole.empty:
        return gpd.GeoDataFrame(geometry=[])
    homes = shapely.points(whole["x"].to_numpy(), whole["y"].to_numpy())
    tree = shapely.STRtree(homes)
    hit = tree.query(groups.geometry.to_numpy(), predicate="intersects")[0]
    return groups.iloc[sorted(set(hit))]


def draw_sectors(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """分组包片: the area of each cadre's households (hull of their symbols) as a thin dashed
    outline in the cadre's colour, named by the label pass. Optional (--sectors): with a
    dozen cadres per village the outlines overlap, so the wall default leaves them off."""
    marks = data.household_marks
    if not ctx.sectors or marks is None or marks["cadre_id"].isna().all():
        return []
    pad = ctx.paper.symbol("household") * MM_PER_PT * ctx.view.metres_per_mm * 0.9
    patches, colours = [], []
    for i, (cadre, group) in enumerate(marks.dropna(subset=["cadre_id"]).groupby("cadre_id")):
        hull = shapely.MultiPoint(group[["mx", "my"]].to_numpy()).convex_hull.buffer(pad)
        colour = sym.SECTOR_COLOURS[i % len(sym.SECTOR_COLOURS)]
        patches.append(PathPatch(polygon_path(hull)))
        colours.append(colour)
        top = group.loc[group["my"].idxmax()]
        name = data.cadre_names.get(cadre, "")
        if name:
            data.sector_labels.append((name, (float(top["mx"]), float(top["my"]) + pad), colour))
    ax.add_collection(
        PatchCollection(
            patches,
            facecolors="none",
            edgecolors=colours,
            linewidths=ctx.lw(0.4),
            linestyles=[(0, (3, 1.5))],
            zorder=12.5,
        )
    )
    glyph = PatchGlyph("none", sym.SECTOR_COLOURS[0], None, 1.0, ctx.lw(0.4), (0, (3, 1.5)))
    return [
        LegendEntry(SECTION_ADMIN, "帮扶责任人包片范围（标注姓名）", glyph, f"{len(patches)} 人")
    ]


def draw_sector_plan(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """The stored 分组包片 proposal of ``gongjian sectors`` (or the accepted one): round each
    member's household symbols, per hamlet, an outline in the member's colour, named by the
    label pass (no hull across the hamlets between: they belong to other members)."""
    plan, marks = data.layers.get("sector_plan"), data.household_marks
    if plan is None or plan.empty or marks is None:
        return []
    pad = ctx.paper.symbol("household") * MM_PER_PT * ctx.view.metres_per_mm * 0.9
    patches, colours = [], []
    for i, row in enumerate(plan.itertuples(index=False)):
        mine = marks[marks["id"].isin(row.household_ids)]
        if mine.empty:
            continue
        colour = sym.SECTOR_COLOURS[i % len(sym.SECTOR_COLOURS)]
        parts = [
            shapely.MultiPoint(g[["mx", "my"]].to_numpy()).convex_hull.buffer(pad)
            for _, g in mine.groupby("hamlet_id")
        ]
        for part in parts:
            patches.append(PathPatch(polygon_path(part)))
            colours.append(colour)
        top = max(parts, key=lambda g: g.area).bounds
        data.sector_labels.append((row.name, ((top[0] + top[2]) / 2, top[3]), colour))
    if not patches:
        return []
    ax.add_collection(
        PatchCollection(patches, facecolors="none", edgecolors=colours, linewidths=ctx.lw(0.5),
                        zorder=12.6)
    )  # fmt: skip
    accepted = (plan["status"] == "accepted").all()
    label = "分组包片（已采纳，标注成员姓名）" if accepted else "分组包片方案（建议，标注成员姓名）"
    glyph = PatchGlyph("none", sym.SECTOR_COLOURS[0], None, 1.0, ctx.lw(0.5))
    return [LegendEntry(SECTION_ADMIN, label, glyph, f"{len(plan)} 人")]


#: change kind → (ring colour, marker); returned and new stand out most
CHANGE_MARKS = {
    "returned": ("#c51b7d", "s"),
    "new": ("#2166ac", "o"),
    "exited": ("#1a9850", "o"),
    "moved": ("#762a83", "o"),
    "moved_out": ("#762a83", "x"),
}


def draw_changes(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """The change map (--changes-since): a coloured outer ring round each household that
    changed (its first kind in ``geo.changes.KINDS`` order), a thin line from where a moved
    household was to where it is, a cross where a household that left the township was.
    Legend counts are households per kind, as in the change table."""
    from geo.changes import KINDS, count_changes

    changes, marks = data.changes, data.household_marks
    if changes is None:
        return []
    counts = count_changes(changes["kinds"])
    size = ctx.paper.symbol("household") * 1.75
    width = ctx.paper.symbol("household") * 0.2
    to_map = ctx.view.frame.to_map()
    before = changes[changes["lon_before"].notna()]
    bx, by = to_map.transform(before["lon_before"].to_numpy(), before["lat_before"].to_numpy())
    moved = before["kinds"].map(lambda k: "moved" in k).to_numpy()
    if moved.any():
        now = before.geometry[moved]
        segments = [
            [(x0, y0), (x1, y1)]
            for x0, y0, x1, y1 in zip(bx[moved], by[moved], now.x, now.y, strict=True)
        ]
        ax.add_collection(
            LineCollection(segments, colors=CHANGE_MARKS["moved"][0], linewidths=width,
                           linestyles=[(0, (2, 1))], zorder=13.8)
        )  # fmt: skip
    gone = before["kinds"].map(lambda k: "moved_out" in k).to_numpy()
    if gone.any():
        colour, marker = CHANGE_MARKS["moved_out"]
        ax.scatter(bx[gone], by[gone], s=size**2, marker=marker, c=colour,
                   linewidths=width * 1.5, zorder=13.9)  # fmt: skip
    if marks is not None and "change" in marks:
        for kind, (colour, marker) in CHANGE_MARKS.items():
            ringed = marks[marks["change"] == kind]
            if kind == "moved_out" or ringed.empty:
                continue
            ax.scatter(ringed["mx"], ringed["my"], s=size**2, marker=marker, facecolors="none",
                       edgecolors=colour, linewidths=width, zorder=13.9)  # fmt: skip
    entries = []
    for kind, label in KINDS.items():
        if counts[kind]:
            colour, marker = CHANGE_MARKS[kind]
            face = colour if marker == "x" else "none"
            glyph = MarkerGlyph(marker, face, colour, size, width)
            count = households_text(counts[kind])
            entries.append(LegendEntry(SECTION_CHANGES, label, glyph, count))
    if not entries:
        glyph = MarkerGlyph("o", "none", "#999999", size, width)
        entries.append(LegendEntry(SECTION_CHANGES, "无变化", glyph, households_text(0)))
    return entries


#: Drawing order of the map frame (relief and labels are drawn by the frame itself).
MAP_LAYERS: list[MapLayer] = [
    MapLayer("villages", draw_villages, 2),
    MapLayer("water", draw_water_areas, 3),
    MapLayer("rivers", draw_rivers, 3.2),
    MapLayer("roads", draw_roads, 5),
    MapLayer("outside", draw_outside_mask, 5.9),
    MapLayer("boundaries", draw_boundaries, 6),
    MapLayer("hamlets", draw_hamlets, 7),
    MapLayer("facilities", draw_facilities, 8),
    MapLayer("households", draw_households, 10),
    MapLayer("coverage", draw_uncovered, 13),
    MapLayer("relocation", draw_relocation, 13.5),
    MapLayer("sectors", draw_sectors, 12.5),
    MapLayer("sector_plan", draw_sector_plan, 12.6),
    MapLayer("changes", draw_changes, 13.9),
]
