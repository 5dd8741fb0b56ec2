"""The base layers of the map frame, each a small function that draws and returns legend entries.

A layer is ``MapLayer(name, draw, zorder)``; ``maps.wallmap.overlays.MAP_LAYERS`` is the
drawing list, and the thematic overlays (coverage rings, relocation candidates, sectors,
changes) live there. Adding a layer is one function plus one entry in the list, and, if it
comes from the database, one entry in ``layers.wallmap_data.CONTEXT_SQL``.
Every draw function returns the legend entries of what it actually drew, with live counts,
so the legend never lists something that is not on the map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import matplotlib.patheffects as pe
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.patches import PathPatch
from matplotlib.path import Path

from maps.wallmap import symbology as sym
from maps.wallmap.paper import Paper
from maps.wallmap.view import MapView

# --- legend entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkerGlyph:
    marker: object
    face: str
    edge: str
    size: float  # points (diameter)
    edge_width: float = 0.3
    background: str | None = None


@dataclass(frozen=True)
class LineGlyph:
    colour: str
    width: float  # points
    dashes: tuple[float, ...] | None = None  # on/off lengths in points
    casing: str | None = None
    casing_width: float = 0.0


@dataclass(frozen=True)
class PatchGlyph:
    face: str
    edge: str = "none"
    hatch: str | None = None
    alpha: float = 1.0
    linewidth: float = 0.4
    linestyle: object = "solid"


@dataclass(frozen=True)
class LegendEntry:
    section: str
    label: str
    glyph: object
    count: str = ""


SECTION_CHANGES = "变化（外圈，户数）"
SECTION_HOUSEHOLDS = "贫困户"
SECTION_CATEGORY = "户类别（符号形状）"
SECTION_CAUSE = "主要致贫原因（颜色）"
SECTION_ADMIN = "行政区划"
SECTION_ROADS = "道路"
SECTION_WATER = "水系"
SECTION_FACILITIES = "公共服务设施（镇内数量）"
SECTION_RELIEF = "地形"
SECTION_ORDER = (
    SECTION_CHANGES,
    SECTION_HOUSEHOLDS,
    SECTION_CATEGORY,
    SECTION_CAUSE,
    SECTION_ADMIN,
    SECTION_FACILITIES,
    SECTION_ROADS,
    SECTION_WATER,
    SECTION_RELIEF,
)


def households_text(n: int) -> str:
    return f"{n:,} 户"


# --- what the layers draw on ------------------------------------------------------------------


@dataclass
class ProjectedSheet:
    """The sheet's data in the map CRS, clipped to the map extent."""

    township: shapely.Geometry
    villages: gpd.GeoDataFrame
    hamlets: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    neighbours: gpd.GeoDataFrame
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    seat: tuple[float, float] | None = None
    #: where each household's symbol was drawn: id, x_mm, y_mm on the sheet, map x, y
    household_marks: pd.DataFrame | None = None
    cadre_names: dict = field(default_factory=dict)
    sector_labels: list = field(default_factory=list)  # (name, map point, colour) to label
    boundaries_derived: bool = False  # outlines derived from points: drawn as 示意界线
    changes: gpd.GeoDataFrame | None = None  # the change map's households (map CRS, unclipped)


@dataclass(frozen=True)
class DrawContext:
    paper: Paper
    view: MapView
    color_by: str = "status"  # or "cause"
    sectors: bool = False  # 分组包片: each cadre's households outlined and named

    def lw(self, a4_points: float) -> float:
        """A line width given for A4, for this paper."""
        return a4_points * self.paper.type_scale

    def inside(self, frame: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
        return frame[frame.intersects(area)] if not frame.empty else frame


@dataclass(frozen=True)
class MapLayer:
    name: str
    draw: Callable[[Axes, ProjectedSheet, DrawContext], list[LegendEntry]]
    zorder: float


# --- geometry → matplotlib -----------------------------------------------------------------------


def polygon_path(geom: shapely.Geometry) -> Path:
    """A compound path of a (multi)polygon with its holes."""
    vertices, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        for ring in [poly.exterior, *poly.interiors]:
            coords = np.asarray(ring.coords)[:, :2]
            vertices.append(coords)
            codes.append([Path.MOVETO] + [Path.LINETO] * (len(coords) - 2) + [Path.CLOSEPOLY])
    if not vertices:
        return Path(np.zeros((0, 2)))
    return Path(np.concatenate(vertices), np.concatenate(codes))


def line_segments(geoms) -> list[np.ndarray]:
    """Coordinate arrays of every line part of the geometries."""
    parts = shapely.get_parts(shapely.line_merge(np.asarray(geoms, dtype=object)))
    out = []
    for part in parts:
        if part is None or part.is_empty:
            continue
        if part.geom_type == "LineString":
            out.append(np.asarray(part.coords)[:, :2])
        else:
            out += [np.asarray(p.coords)[:, :2] for p in getattr(part, "geoms", [])]
    return out


def halo(width: float, colour: str = sym.HALO) -> list:
    return [pe.withStroke(linewidth=width, foreground=colour)]


def halo_text(ax: Axes, width: float, x: float, y: float, text: str, **kwargs):
    """Text with a white halo that stays real, selectable text in the PDF.

    Matplotlib draws text with path effects as outlines; so the halo is its own artist (a
    stroke only) and the text goes on top without effects.
    """
    halo_kwargs = {k: v for k, v in kwargs.items() if k != "color"}
    ax.text(
        x,
        y,
        text,
        color=sym.HALO,
        path_effects=[pe.Stroke(linewidth=width, foreground=sym.HALO)],
        **halo_kwargs,
    )
    return ax.text(x, y, text, **kwargs)


# --- the layers ---------------------------------------------------------------------------------


def draw_villages(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Village tints (touching villages differ), key villages hatched."""
    villages = data.villages
    if villages.empty:
        return []
    geoms = list(villages.geometry)
    touching = [
        {j for j in range(len(geoms)) if j != i and geoms[i].intersects(geoms[j])}
        for i in range(len(geoms))
    ]
    tints = sym.graph_colouring(touching)
    patches = [PathPatch(polygon_path(g)) for g in geoms]
    ax.add_collection(
        PatchCollection(
            patches,
            facecolors=[sym.VILLAGE_TINTS[t] for t in tints],
            edgecolors="none",
            alpha=sym.VILLAGE_TINT_ALPHA,
            zorder=2,
        )
    )
    entries = []
    key = villages[villages["key_level"].notna()]
    if not key.empty:
        hatch_width = ctx.lw(0.35)
        with _hatch_width(hatch_width):
            ax.add_collection(
                PatchCollection(
                    [PathPatch(polygon_path(g)) for g in key.geometry],
                    facecolors="none",
                    edgecolors=sym.KEY_VILLAGE_HATCH,
                    linewidths=0,
                    hatch="///",
                    alpha=0.45,
                    zorder=2.1,
                )
            )
        entries.append(
            LegendEntry(
                SECTION_ADMIN,
                "★ 省定贫困村（驻村工作队帮扶）",
                PatchGlyph("none", sym.KEY_VILLAGE_HATCH, "///", 0.8, 0.0),
                f"{len(key)} 个",
            )
        )
    return entries


class _hatch_width:
    """Temporarily set the hatch line width (matplotlib reads it from rcParams at draw)."""

    def __init__(self, width: float) -> None:
        self.width = width

    def __enter__(self):
        import matplotlib as mpl

        self.old = mpl.rcParams["hatch.linewidth"]
        mpl.rcParams["hatch.linewidth"] = self.width

    def __exit__(self, *exc):
        import matplotlib as mpl

        mpl.rcParams["hatch.linewidth"] = self.old


def draw_water_areas(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    water = data.layers.get("water")
    if water is None or water.empty:
        return []
    areas = water[
        water.geom_type.isin(["Polygon", "MultiPolygon"]) & (water["kind"] != "supply_area")
    ]
    if areas.empty:
        return []
    ax.add_collection(
        PatchCollection(
            [PathPatch(polygon_path(g)) for g in areas.geometry],
            facecolors=sym.LAKE_FILL,
            edgecolors=sym.RIVER_COLOUR,
            linewidths=ctx.lw(0.3),
            zorder=3,
        )
    )
    return [LegendEntry(SECTION_WATER, "水库", PatchGlyph(sym.LAKE_FILL, sym.RIVER_COLOUR))]


def draw_rivers(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    rivers = data.layers.get("rivers")
    if rivers is None or rivers.empty:
        return []
    order = rivers["order"].fillna(1).astype(int).clip(1, 6)
    for level in sorted(order.unique()):
        segs = line_segments(rivers[order == level].geometry)
        ax.add_collection(
            LineCollection(
                segs,
                colors=sym.RIVER_COLOUR,
                linewidths=ctx.lw(0.3 + 0.28 * (level - 1)),
                capstyle="round",
                joinstyle="round",
                zorder=3.2,
            )
        )
    return [LegendEntry(SECTION_WATER, "河流", LineGlyph(sym.RIVER_COLOUR, ctx.lw(0.7)))]


def draw_roads(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Roads by class (colour, width, casing) and surface (solid, dashed, dotted)."""
    roads = data.layers.get("roads")
    if roads is None or roads.empty:
        return []
    entries: list[LegendEntry] = []
    inside = ctx.inside(roads, data.township)
    ranks = list(sym.ROAD_STYLES)[::-1]  # village first, national last (on top)
    for rank, road_class in enumerate(ranks):
        style = sym.ROAD_STYLES[road_class]
        of_class = roads[roads["road_class"] == road_class]
        if of_class.empty:
            continue
        z = 5 + rank * 0.1
        for surface, dashes in sym.SURFACE_DASHES.items():
            segs = line_segments(of_class[of_class["surface"] == surface].geometry)
            if not segs:
                continue
            width = ctx.lw(style.width)
            if style.casing and dashes is None:
                ax.add_collection(
                    LineCollection(
                        segs,
                        colors=style.casing,
                        linewidths=width + ctx.lw(0.5),
                        capstyle="round",
                        joinstyle="round",
                        zorder=z,
                    )
                )
            colour = style.colour if style.colour != "#ffffff" or dashes is None else style.casing
            lines = LineCollection(
                segs,
                colors=colour,
                linewidths=width,
                zorder=z + 0.05,
                capstyle="butt" if dashes else "round",
                joinstyle="round",
            )
            if dashes:
                lines.set_linestyle((0, tuple(d * width for d in dashes)))
            ax.add_collection(lines)
        km = inside[inside["road_class"] == road_class].geometry.intersection(data.township).length
        entries.insert(
            0,
            LegendEntry(
                SECTION_ROADS,
                sym.vocab.ROAD_CLASS[road_class],
                LineGlyph(style.colour, ctx.lw(style.width), None, style.casing, ctx.lw(0.5)),
                f"{km.sum() / 1000:,.1f} km" if len(km) else "",
            ),
        )
    for surface in ("gravel", "earth"):
        if (roads["surface"] == surface).any():
            label = {"gravel": "砂石路面（虚线）", "earth": "土路（点线）"}[surface]
            dashes = tuple(d * ctx.lw(0.8) for d in sym.SURFACE_DASHES[surface])
            entries.append(
                LegendEntry(SECTION_ROADS, label, LineGlyph("#6e6e6e", ctx.lw(0.8), dashes))
            )
    return entries


#: dash patterns (multiples of the line width): surveyed boundaries dash-dot, derived ones
#: (示意界线, from household points) plain short dashes so they read as approximate
VILLAGE_DASHES = (6, 2, 1.2, 2)
TOWNSHIP_DASHES = (7, 1.5, 1.2, 1.5)
DERIVED_DASHES = (2.5, 2)
DERIVED_LABEL = "（示意界线）"


def draw_boundaries(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Village boundaries (each shared edge drawn once), township boundary with a halo."""
    entries = []
    township_line = data.township.boundary
    derived = data.boundaries_derived
    suffix = DERIVED_LABEL if derived else ""
    if not data.villages.empty:
        edges = shapely.union_all([g.boundary for g in data.villages.geometry])
        inner = edges.difference(township_line.buffer(ctx.view.metres_per_mm * 0.3))
        width = ctx.paper.symbol("village_line")
        dashes = tuple(d * width for d in (DERIVED_DASHES if derived else VILLAGE_DASHES))
        ax.add_collection(
            LineCollection(
                line_segments([inner]),
                colors=sym.VILLAGE_LINE,
                linewidths=width,
                linestyles=[(0, dashes)],
                zorder=6,
            )
        )
        entries.append(
            LegendEntry(
                SECTION_ADMIN,
                "村界" + suffix,
                LineGlyph(sym.VILLAGE_LINE, width, dashes),
                f"{len(data.villages)} 个行政村",
            )
        )
    if not data.neighbours.empty:
        others = shapely.union_all([g.boundary for g in data.neighbours.geometry])
        others = others.difference(township_line.buffer(ctx.view.metres_per_mm * 0.5))
        ax.add_collection(
            LineCollection(
                line_segments([others]),
                colors="#9a9a9a",
                linewidths=ctx.lw(0.6),
                linestyles=[(0, (4, 2))],
                zorder=6,
            )
        )
    width = ctx.paper.symbol("township_line")
    township_dashes = tuple(d * width for d in (DERIVED_DASHES if derived else TOWNSHIP_DASHES))
    segs = line_segments([township_line])
    ax.add_collection(
        LineCollection(
            segs,
            colors=sym.TOWNSHIP_HALO,
            linewidths=width * 3.2,
            alpha=0.85,
            capstyle="round",
            joinstyle="round",
            zorder=6.5,
        )
    )
    ax.add_collection(
        LineCollection(
            segs,
            colors=sym.TOWNSHIP_LINE,
            linewidths=width,
            linestyles=[(0, township_dashes)],
            zorder=6.6,
        )
    )
    entries.insert(
        0,
        LegendEntry(
            SECTION_ADMIN,
            "乡镇界" + suffix,
            LineGlyph(
                sym.TOWNSHIP_LINE,
                width,
                township_dashes,
                sym.TOWNSHIP_HALO,
                width * 3.2,
            ),
        ),
    )
    return entries


def draw_outside_mask(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Fade everything outside the township so the eye stays on it."""
    outside = ctx.view.box.buffer(ctx.view.metres_per_mm * 5).difference(data.township)
    ax.add_patch(
        PathPatch(
            polygon_path(outside),
            facecolor=sym.OUTSIDE_FILL,
            edgecolor="none",
            alpha=sym.OUTSIDE_ALPHA,
            zorder=5.9,
        )
    )
    return []


def _scatter(ax, xy, style: sym.PointStyle, size: float, ctx: DrawContext, z: float, **kw):
    if style.background:
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            s=(size * 1.35) ** 2,
            marker="s",
            c=style.background,
            edgecolors=style.face,
            linewidths=ctx.lw(0.3),
            zorder=z,
        )
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=size**2,
        marker=style.marker,
        c=kw.pop("face", style.face),
        edgecolors=kw.pop("edge", style.edge),
        linewidths=kw.pop("lw", ctx.lw(0.3)),
        zorder=z + 0.01,
        **kw,
    )


def _xy(frame: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([frame.geometry.x, frame.geometry.y])


def draw_hamlets(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    hamlets = data.hamlets
    if hamlets.empty:
        return []
    style = sym.FACILITY_STYLES["hamlet"]
    size = ctx.paper.symbol("hamlet")
    _scatter(ax, _xy(hamlets), style, size, ctx, 7, lw=ctx.lw(0.35))
    inside = len(ctx.inside(hamlets, data.township))
    glyph = MarkerGlyph(style.marker, style.face, style.edge, size, ctx.lw(0.35))
    return [LegendEntry(SECTION_ADMIN, "自然村", glyph, f"{inside} 个")]


def draw_facilities(ax: Axes, data: ProjectedSheet, ctx: DrawContext) -> list[LegendEntry]:
    """Clinics by level (village clinics below standard hollow), schools, water works, seat."""
    entries = []
    base = ctx.paper.symbol("facility")
    groups = []
    clinics = data.layers.get("clinics")
    if clinics is not None and not clinics.empty:
        for level in ("county_hospital", "township_health_centre", "village_clinic"):
            of_level = clinics[clinics["level"] == level]
            if level == "village_clinic":
                groups.append(
                    (
                        "village_clinic",
                        of_level[of_level["standard"].fillna(False)],
                        "村卫生站（标准化）",
                        {},
                    )
                )
                hollow = {"face": "#ffffff", "edge": "#d7191c", "lw": ctx.lw(0.45)}
                groups.append(
                    (
                        "village_clinic",
                        of_level[~of_level["standard"].fillna(False)],
                        "村卫生站（未达标）",
                        hollow,
                    )
                )
            else:
                groups.append((level, of_level, sym.FACILITY_STYLES[level].label, {}))
    schools = data.layers.get("schools")
    if schools is not None and not schools.empty:
        groups.append(("school", schools, "学校", {}))
    water = data.layers.get("water")
    if water is not None and not water.empty:
        points = water[water.geom_type == "Point"]
        groups.append(("waterworks", points[points["kind"] == "waterworks"], "水厂", {}))
        groups.append(("intake", points[points["kind"] == "intake"], "取水点", {}))
    for z, (key, frame, label, overrides) in enumerate(groups):
        if frame.empty:
            continue
        style = sym.FACILITY_STYLES[key]
        size = base * style.size
        _scatter(ax, _xy(frame), style, size, ctx, 8 + z * 0.02, **dict(overrides))
        count = len(ctx.inside(frame, data.township))
        glyph = MarkerGlyph(
            style.marker,
            overrides.get("face", style.face),
            overrides.get("edge", style.edge),
            size,
            overrides.get("lw", ctx.lw(0.3)),
            style.background,
        )
        entries.append(LegendEntry(SECTION_FACILITIES, label, glyph, f"{count}"))
    if data.seat is not None:
        style = sym.FACILITY_STYLES["seat"]
        size = ctx.paper.symbol("seat")
        _scatter(ax, np.array([data.seat]), style, size, ctx, 8.5, lw=ctx.lw(0.5))
        entries.insert(
            0,
            LegendEntry(
                SECTION_FACILITIES,
                "镇人民政府",
                MarkerGlyph("*", style.face, style.edge, size, ctx.lw(0.5)),
            ),
        )
    return entries
