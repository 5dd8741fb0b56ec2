"""The sheet around the map: title block, synthetic-data stamp, legend, locator insets,
the work group's leaders, section headings and notes. All drawn on a page axes whose data
units are millimetres from the sheet's lower-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, PathPatch, Rectangle

from geo.synthetic import SYNTHETIC_NOTE
from layers.wallmap_data import SheetData
from maps.wallmap import symbology as sym
from maps.wallmap.content import Leader
from maps.wallmap.drawing import (
    SECTION_ORDER,
    LegendEntry,
    LineGlyph,
    MarkerGlyph,
    PatchGlyph,
    polygon_path,
)
from maps.wallmap.labels import text_width_em
from maps.wallmap.paper import MM_PER_PT, Paper
from maps.wallmap.projection import LocalFrame

SYNTHETIC_STAMP = SYNTHETIC_NOTE
DERIVED_NOTE = (
    "乡镇界、村界为示意界线：由贫困户和自然村的位置推算，仅示意各村范围，不作权属依据；"
    "户数统计按行政区划代码（统计用区划代码 2023），不依界线。"
)
PROVINCE_CRS = "+proj=aea +lat_0=0 +lon_0=113.5 +lat_1=21 +lat_2=25 +ellps=GRS80 +units=m"


def page_axes(fig: Figure, paper: Paper) -> Axes:
    """A full-page axes in millimetres (0..W, 0..H), under the map frame."""
    ax = fig.add_axes((0, 0, 1, 1), zorder=0)
    ax.set_xlim(0, paper.width_mm)
    ax.set_ylim(0, paper.height_mm)
    ax.set_axis_off()
    return ax


def date_text(sheet: SheetData) -> str:
    d = sheet.as_of
    return f"截至 {d.year}年{d.month:02d}月{d.day:02d}日"


def draw_title(ax: Axes, paper: Paper, sheet: SheetData, rect, *, suffix: str = "") -> None:
    """Title centred, then the county, date and work group; the stamp at the right."""
    x, y, w, h = rect
    title_pt, sub_pt = paper.pt("title"), paper.pt("subtitle")
    title_y = y + h - title_pt * MM_PER_PT * 0.62
    ax.text(
        x + w / 2,
        title_y,
        sheet.title + suffix,
        ha="center",
        va="center",
        fontsize=title_pt,
        fontweight="bold",
        color="#1a1a1a",
    )
    parts = [f"{sheet.city}{sheet.county_name}", date_text(sheet)]
    if sheet.changes_since:
        parts.append(f"变化自 {sheet.changes_since:%Y-%m-%d} 起")
    if sheet.work_group_name:
        parts.append(sheet.work_group_name)
    if sheet.public:
        parts.append("公开版（户主姓名已隐去）")
    sub_y = title_y - title_pt * MM_PER_PT * 0.62 - sub_pt * MM_PER_PT * 0.95
    ax.text(
        x + w / 2,
        sub_y,
        "　｜　".join(parts),
        ha="center",
        va="center",
        fontsize=sub_pt,
        color="#333333",
    )
    rule_y = y + 0.6
    ax.add_line(
        Line2D(
            [x, x + w], [rule_y, rule_y], color=sym.TOWNSHIP_LINE, linewidth=0.9 * paper.type_scale
        )
    )
    ax.add_line(
        Line2D(
            [x, x + w],
            [rule_y - 0.9 * paper.type_scale] * 2,
            color=sym.TOWNSHIP_LINE,
            linewidth=0.3 * paper.type_scale,
        )
    )
    if sheet.synthetic:
        draw_stamp(ax, paper, x + w, title_y)


def draw_stamp(ax: Axes, paper: Paper, right: float, centre_y: float) -> None:
    """A red boxed '示例数据（合成）' so nobody takes the demo for real households."""
    size = paper.pt("stamp")
    em = size * MM_PER_PT
    width = text_width_em(SYNTHETIC_STAMP) * em + 1.6 * em
    height = 2.0 * em
    ax.add_patch(
        FancyBboxPatch(
            (right - width, centre_y - height / 2),
            width,
            height,
            boxstyle=f"round,pad=0,rounding_size={0.3 * em}",
            facecolor="#ffffff",
            edgecolor=sym.STAMP_COLOUR,
            linewidth=1.0 * paper.type_scale,
            zorder=5,
        )
    )
    ax.text(
        right - width / 2,
        centre_y,
        SYNTHETIC_STAMP,
        ha="center",
        va="center",
        fontsize=size,
        fontweight="bold",
        color=sym.STAMP_COLOUR,
        zorder=6,
    )


def heading(ax: Axes, paper: Paper, x: float, top: float, width: float, text: str) -> float:
    """A panel heading with a rule under it; returns the y below it."""
    size = paper.pt("heading")
    em = size * MM_PER_PT
    ax.text(
        x,
        top - em * 0.6,
        text,
        ha="left",
        va="center",
        fontsize=size,
        fontweight="bold",
        color=sym.TOWNSHIP_LINE,
    )
    rule = top - em * 1.35
    ax.add_line(
        Line2D(
            [x, x + width], [rule, rule], color=sym.TOWNSHIP_LINE, linewidth=0.45 * paper.type_scale
        )
    )
    return rule - em * 0.45


def heading_height(paper: Paper) -> float:
    return paper.pt("heading") * MM_PER_PT * 1.8


# --- legend --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegendLayout:
    columns: int
    size: float  # points

    def entry_height(self) -> float:
        return self.size * MM_PER_PT * 1.75

    def section_height(self) -> float:
        return self.size * MM_PER_PT * 1.9


def legend_sections(entries: list[LegendEntry]) -> list[tuple[str, list[LegendEntry]]]:
    by_section: dict[str, list[LegendEntry]] = {}
    for entry in entries:
        by_section.setdefault(entry.section, []).append(entry)
    order = list(SECTION_ORDER) + [s for s in by_section if s not in SECTION_ORDER]
    return [(s, by_section[s]) for s in order if s in by_section]


def legend_height(entries: list[LegendEntry], layout: LegendLayout) -> float:
    total = 0.0
    for _, items in legend_sections(entries):
        rows = int(np.ceil(len(items) / layout.columns))
        total += layout.section_height() + rows * layout.entry_height()
    return total


def legend_columns(entries: list[LegendEntry], width: float, size: float) -> int:
    """As many columns as the longest entry allows (1–3)."""
    em = size * MM_PER_PT
    longest = max((text_width_em(e.label) + text_width_em(e.count) for e in entries), default=8)
    entry_w = (longest + 5.5) * em
    return int(np.clip(width // entry_w, 1, 3))


def draw_legend(
    ax: Axes, paper: Paper, entries: list[LegendEntry], rect, layout: LegendLayout
) -> None:
    """Sections with their entries: symbol, label, live count (right-aligned)."""
    x, y, w, h = rect
    em = layout.size * MM_PER_PT
    col_w = w / layout.columns
    cursor = y + h
    for section, items in legend_sections(entries):
        ax.text(
            x,
            cursor - layout.section_height() * 0.55,
            section,
            ha="left",
            va="center",
            fontsize=layout.size * 0.95,
            fontweight="bold",
            color="#444444",
        )
        cursor -= layout.section_height()
        for i, entry in enumerate(items):
            row, col = divmod(i, layout.columns)
            ex = x + col * col_w
            ey = cursor - (row + 0.5) * layout.entry_height()
            draw_glyph(ax, entry.glyph, ex + 1.6 * em, ey, 2.6 * em, em)
            ax.text(
                ex + 3.4 * em,
                ey,
                entry.label,
                ha="left",
                va="center",
                fontsize=layout.size,
                color="#1a1a1a",
            )
            if entry.count:
                ax.text(
                    ex + col_w - 1.2 * em,
                    ey,
                    entry.count,
                    ha="right",
                    va="center",
                    fontsize=layout.size * 0.92,
                    color="#555555",
                )
        cursor -= int(np.ceil(len(items) / layout.columns)) * layout.entry_height()


def draw_glyph(ax: Axes, glyph, cx: float, cy: float, width: float, em: float) -> None:
    """A legend sample, at the same size as on the map."""
    if isinstance(glyph, MarkerGlyph):
        # at least half the text height, so small map symbols stay recognisable here
        size = max(glyph.size, em / MM_PER_PT * 0.55)
        grow = size / glyph.size
        if glyph.background:
            ax.scatter(
                [cx],
                [cy],
                s=(size * 1.35) ** 2,
                marker="s",
                c=glyph.background,
                edgecolors=glyph.face,
                linewidths=glyph.edge_width * grow,
                zorder=3,
            )
        ax.scatter(
            [cx],
            [cy],
            s=size**2,
            marker=glyph.marker,
            c=glyph.face,
            edgecolors=glyph.edge,
            linewidths=glyph.edge_width * grow,
            zorder=4,
        )
    elif isinstance(glyph, LineGlyph):
        xs = [cx - width / 2, cx + width / 2]
        if glyph.casing:
            ax.add_line(
                Line2D(
                    xs,
                    [cy, cy],
                    color=glyph.casing,
                    linewidth=glyph.casing_width
                    + (glyph.width if glyph.casing_width < glyph.width * 2 else 0),
                    solid_capstyle="butt",
                    zorder=3,
                )
            )
        line = Line2D(
            xs, [cy, cy], color=glyph.colour, linewidth=glyph.width, solid_capstyle="butt", zorder=4
        )
        if glyph.dashes:
            line.set_linestyle((0, tuple(d / max(glyph.width, 1e-6) for d in glyph.dashes)))
        ax.add_line(line)
    elif isinstance(glyph, PatchGlyph):
        ax.add_patch(
            Rectangle(
                (cx - width / 2, cy - em * 0.45),
                width,
                em * 0.9,
                facecolor=glyph.face,
                edgecolor=glyph.edge,
                hatch=glyph.hatch,
                alpha=glyph.alpha,
                linewidth=glyph.linewidth or 0.3,
                linestyle=glyph.linestyle,
                zorder=3,
            )
        )


# --- locator insets ------------------------------------------------------------------------------


def draw_insets(fig: Figure, ax: Axes, paper: Paper, sheet: SheetData, rect) -> None:
    """Two insets side by side: the township in its county, the county in the province."""
    x, y, w, h = rect
    gap = 3.0 * paper.type_scale
    half = (w - gap) / 2
    caption = paper.pt("inset") * MM_PER_PT * 2.0
    county_geom = sheet.county.geometry.iloc[0]
    c = county_geom.centroid
    frame = LocalFrame.at(c.x, c.y)
    towns = sheet.county_townships.to_crs(frame.crs)
    county = sheet.county.to_crs(frame.crs)
    _inset_axes(
        fig,
        paper,
        (x, y + caption, half, h - caption),
        county.total_bounds,
        lambda a: _draw_county_inset(a, paper, towns, county, sheet.code),
    )
    ax.text(
        x + half / 2,
        y + caption * 0.45,
        f"{sheet.name}在{sheet.county_name}的位置",
        ha="center",
        va="center",
        fontsize=paper.pt("inset"),
        color="#333333",
    )
    province = sheet.province.to_crs(PROVINCE_CRS)
    _inset_axes(
        fig,
        paper,
        (x + half + gap, y + caption, half, h - caption),
        province.total_bounds,
        lambda a: _draw_province_inset(a, paper, province, sheet.county_code),
    )
    ax.text(
        x + half + gap + half / 2,
        y + caption * 0.45,
        f"{sheet.county_name}在{_province_name(sheet)}的位置",
        ha="center",
        va="center",
        fontsize=paper.pt("inset"),
        color="#333333",
    )


def _province_name(sheet: SheetData) -> str:
    return {"44": "广东省"}.get(sheet.county_code[:2], "本省")


def _inset_axes(fig: Figure, paper: Paper, rect, bounds, draw) -> Axes:
    """An axes with equal aspect around ``bounds`` inside ``rect`` (mm), framed."""
    W, H = paper.size_mm
    x, y, w, h = rect
    minx, miny, maxx, maxy = bounds
    pad = 0.06 * max(maxx - minx, maxy - miny)
    minx, maxx, miny, maxy = minx - pad, maxx + pad, miny - pad, maxy + pad
    scale = max((maxx - minx) / w, (maxy - miny) / h)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    a = fig.add_axes((x / W, y / H, w / W, h / H), zorder=3)
    a.set_xlim(cx - w * scale / 2, cx + w * scale / 2)
    a.set_ylim(cy - h * scale / 2, cy + h * scale / 2)
    a.set_xticks([])
    a.set_yticks([])
    for spine in a.spines.values():
        spine.set_linewidth(0.4 * paper.type_scale)
        spine.set_color("#777777")
    draw(a)
    return a


def _patches(a: Axes, frame: gpd.GeoDataFrame, **kw) -> None:
    """Polygons as one collection (much faster than a patch each)."""
    from matplotlib.collections import PatchCollection

    style = {
        {"facecolor": "facecolors", "edgecolor": "edgecolors", "linewidth": "linewidths"}.get(
            k, k
        ): v
        for k, v in kw.items()
    }
    a.add_collection(PatchCollection([PathPatch(polygon_path(g)) for g in frame.geometry], **style))


def _draw_county_inset(a, paper, towns, county, code) -> None:
    lw = 0.3 * paper.type_scale
    _patches(
        a, towns[towns["code"] != code], facecolor="#ece9e2", edgecolor="#ffffff", linewidth=lw
    )
    _patches(
        a,
        towns[towns["code"] == code],
        facecolor=sym.STATUS_COLOURS["poor"],
        edgecolor="#ffffff",
        linewidth=lw,
        alpha=0.85,
    )
    _patches(a, county, facecolor="none", edgecolor="#555555", linewidth=lw * 2)
    size = paper.pt("inset") * 0.8
    for _, t in towns.iterrows():
        p = t.geometry.representative_point()
        a.text(
            p.x,
            p.y,
            t["name"],
            ha="center",
            va="center",
            fontsize=size,
            color="#ffffff" if t["code"] == code else "#555555",
            fontweight="bold" if t["code"] == code else "normal",
        )


def _draw_province_inset(a, paper, province, county_code) -> None:
    lw = 0.2 * paper.type_scale
    _patches(
        a,
        province[province["code"] != county_code],
        facecolor="#ece9e2",
        edgecolor="#ffffff",
        linewidth=lw,
    )
    from matplotlib.collections import LineCollection

    outlines = []
    for _, group in province.groupby("city", sort=True):
        merged = shapely.union_all(group.geometry.values)
        outlines += [
            np.asarray(p.coords)
            for p in shapely.get_parts(shapely.boundary(merged))
            if p.geom_type == "LineString"
        ]
    a.add_collection(LineCollection(outlines, colors="#9a9a9a", linewidths=lw * 1.5))
    target = province[province["code"] == county_code]
    _patches(a, target, facecolor=sym.STATUS_COLOURS["poor"], edgecolor="#7f0000", linewidth=lw * 2)
    if not target.empty:
        p = target.geometry.iloc[0].representative_point()
        a.annotate(
            target["name"].iloc[0],
            (p.x, p.y),
            xytext=(6 * paper.type_scale, 4 * paper.type_scale),
            textcoords="offset points",
            fontsize=paper.pt("inset") * 0.85,
            color="#7f0000",
            fontweight="bold",
            arrowprops={"arrowstyle": "-", "color": "#7f0000", "linewidth": lw * 2},
        )


# --- leaders and notes ---------------------------------------------------------------------------


def _leader_lines(
    paper: Paper, leaders: list[Leader], width: float, members: int, where_members: str
) -> list[tuple[str, bool, float]]:
    """(text, bold, relative size) lines of the leaders' box, wrapped to ``width`` mm."""
    from maps.wallmap.tables import wrap

    size = paper.pt("legend")
    lines = []
    for leader in leaders:
        specs = [(f"{leader.role}：{leader.name}　{leader.unit}", True, 1.0)]
        second = "　".join(
            p
            for p in (
                f"电话 {leader.phone}" if leader.phone else "",
                f"分工：{leader.duty}" if leader.duty else "",
            )
            if p
        )
        if second:
            specs.append((second, False, 0.92))
        for text, bold, rel in specs:
            lines += [(part, bold, rel) for part in wrap(text, width / (size * rel * MM_PER_PT))]
    summary = f"成员 {members} 人，姓名、单位、分工、电话及结对帮扶户见{where_members}。"
    lines += [(part, False, 0.92) for part in wrap(summary, width / (size * 0.92 * MM_PER_PT))]
    return lines


def leaders_height(
    paper: Paper, leaders: list[Leader], width: float, members: int = 0, where_members: str = "附表"
) -> float:
    lines = _leader_lines(paper, leaders, width, members, where_members)
    return heading_height(paper) + (len(lines) + 0.6) * paper.pt("legend") * MM_PER_PT * 1.45


def draw_leaders(
    ax: Axes,
    paper: Paper,
    sheet: SheetData,
    leaders: list[Leader],
    rect,
    members: int,
    where_members: str,
) -> None:
    """组长 and 副组长 with unit, phone and duty; how many members, and where they are listed."""
    x, y, w, h = rect
    top = heading(
        ax, paper, x, y + h, w, f"{sheet.work_group_name or '帮扶工作组'}（六有·人员分工）"
    )
    size = paper.pt("legend")
    line = size * MM_PER_PT * 1.45
    for i, (text, bold, rel) in enumerate(_leader_lines(paper, leaders, w, members, where_members)):
        ax.text(
            x,
            top - line * (i + 0.5),
            text,
            ha="left",
            va="center",
            fontsize=size * rel,
            fontweight="bold" if bold else "normal",
            color="#1a1a1a" if bold else "#444444",
        )


def draw_notes(ax: Axes, paper: Paper, lines: list[str], rect) -> None:
    x, y, _, h = rect
    size = paper.pt("note")
    step = size * MM_PER_PT * 1.45
    for i, text in enumerate(lines):
        ax.text(
            x,
            y + h - (i + 0.6) * step,
            text,
            ha="left",
            va="center",
            fontsize=size,
            color="#555555",
        )


def notes_height(paper: Paper, count: int) -> float:
    return count * paper.pt("note") * MM_PER_PT * 1.45


def sheet_notes(sheet: SheetData, frame: LocalFrame, scale: int, page: str = "") -> list[str]:
    """The fine print: what 分散贫困户 means, status rule, projection, source, masking, page."""
    meridian = frame.crs.name.split("CM ")[-1].replace("E", "°E")
    scope = (
        "省定贫困村以外的建档立卡贫困户（分散贫困户，由乡镇帮扶工作组负责，"
        "粤扶办〔2016〕98号“六有”要求）"
    )
    if not sheet.scattered_only:
        scope = "全部建档立卡贫困户（含省定贫困村，★标注）"
    first = f"说明：图中户点为{scope}；每个符号一户，密集处按户错位排列，以便逐户辨认。"
    second = (
        f"户状态截至 {sheet.as_of:%Y-%m-%d}（脱贫以年度验收为准）；"
        "坐标系 CGCS2000，3度带高斯-克吕格投影"
        f"（中央经线 {meridian}），比例尺 1:{scale:,}，经纬网为度分。".replace(",", " ")
    )
    lines = [first, second]
    if sheet.boundaries_derived:
        lines.append(DERIVED_NOTE)
    third = "制图：gongjian 攻坚图平台"
    if sheet.public:
        third += "；公开版：户主姓名已隐去，不含身份证号"
    if sheet.synthetic:
        third += "；示例数据（合成），不代表任何真实的人或户"
    if page:
        third += f"；{page}"
    return [*lines, third + "。"]
