"""Tiled printing: an A0/A1 sheet as overlapping A3 (or A4) pages to tape together.

Township offices have A4/A3 printers, not plotters. The sheet is rendered once as a vector
PDF page and placed, as one shared Form XObject, on every tile page (each page shows its
window of it through a clip), so twelve A3 tiles cost little more than the sheet itself.
Each tile has a printable window with a white margin for the printer, a 10 mm overlap with
its neighbours, registration marks (⊕) in the overlaps that coincide when two tiles are laid
on each other, a dashed line where to cut, and its name (A1, A2, … rows top to bottom,
columns left to right). The first page is an index: the whole sheet in miniature with the
tile grid and instructions.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Rectangle

from geo.synthetic import SYNTHETIC_NOTE
from maps.wallmap.paper import Paper

PT_PER_MM = 72.0 / 25.4
PRINTER_MARGIN = 8.0  # mm every office printer can print within
OVERLAP = 10.0  # mm shared by neighbouring tiles
MARK_RADIUS = 2.2  # mm


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    x0: float  # window on the sheet, mm from the lower-left corner
    y0: float
    width: float
    height: float

    @property
    def name(self) -> str:
        return f"{chr(ord('A') + self.row)}{self.col + 1}"


@dataclass(frozen=True)
class TileGrid:
    sheet: Paper
    tile: Paper
    rows: int
    cols: int
    tiles: tuple[Tile, ...]

    @property
    def window(self) -> tuple[float, float]:
        return self.tile.width_mm - 2 * PRINTER_MARGIN, self.tile.height_mm - 2 * PRINTER_MARGIN


def tile_grid(sheet: Paper, tile_name: str) -> TileGrid:
    """The fewest tiles of ``tile_name`` paper (either orientation) that cover ``sheet``."""
    trim = max(0.0, sheet.margin_mm - 3.0)  # the sheet's blank margin need not be printed
    cover_w, cover_h = sheet.width_mm - 2 * trim, sheet.height_mm - 2 * trim
    options = []
    for orientation in ("landscape", "portrait"):
        tile = Paper.named(tile_name, orientation)
        w, h = tile.width_mm - 2 * PRINTER_MARGIN, tile.height_mm - 2 * PRINTER_MARGIN
        cols = max(1, math.ceil((cover_w - OVERLAP) / (w - OVERLAP)))
        rows = max(1, math.ceil((cover_h - OVERLAP) / (h - OVERLAP)))
        options.append((rows * cols, orientation != "landscape", tile, rows, cols, w, h))
    _, _, tile, rows, cols, w, h = min(options, key=lambda o: (o[0], o[1]))
    # centre the grid on the sheet so the spare paper is shared by the outer tiles
    spare_x = cols * (w - OVERLAP) + OVERLAP - sheet.width_mm
    spare_y = rows * (h - OVERLAP) + OVERLAP - sheet.height_mm
    tiles = []
    for r in range(rows):
        for c in range(cols):
            x0 = c * (w - OVERLAP) - spare_x / 2
            y0 = sheet.height_mm + spare_y / 2 - h - r * (h - OVERLAP)
            tiles.append(Tile(r, c, x0, y0, w, h))
    return TileGrid(sheet, tile, rows, cols, tuple(tiles))


def registration_marks(grid: TileGrid) -> list[tuple[float, float]]:
    """Mark centres (sheet mm) in the middle of every overlap strip, two per shared edge."""
    marks = []
    w, h = grid.window
    for tile in grid.tiles:
        if tile.col + 1 < grid.cols:  # vertical strip shared with the tile to the right
            x = tile.x0 + w - OVERLAP / 2
            marks += [(x, tile.y0 + h * f) for f in (0.25, 0.75)]
        if tile.row + 1 < grid.rows:  # horizontal strip shared with the tile below
            y = tile.y0 + OVERLAP / 2
            marks += [(tile.x0 + w * f, y) for f in (0.25, 0.75)]
    return marks


def save_tiled(rendered, tile_name: str, out: io.BufferedIOBase, metadata: dict) -> None:
    """Write the index page, the tiles of ``rendered``'s sheet and its 附表 pages (built on
    the tiles' paper by ``build_sheet``) as one PDF to ``out``."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    sheet_paper = rendered.plan.paper
    grid = tile_grid(sheet_paper, tile_name)
    sheet_pdf = io.BytesIO()
    with PdfPages(sheet_pdf, metadata=metadata) as pdf:
        pdf.savefig(rendered.pages[0])
    overlays = io.BytesIO()
    with PdfPages(overlays, metadata=metadata) as pdf:
        pdf.savefig(index_page(rendered, grid))
        for tile in grid.tiles:
            pdf.savefig(tile_overlay(rendered, grid, tile))
    sheet_page = PdfReader(sheet_pdf).pages[0]
    overlay_pages = PdfReader(overlays).pages
    writer = PdfWriter()
    form = _form_xobject(writer, sheet_page)
    index_scale, index_origin = _index_placement(grid)
    placements = [(index_scale, index_origin, None)]
    placements += [(1.0, (PRINTER_MARGIN - t.x0, PRINTER_MARGIN - t.y0), t) for t in grid.tiles]
    for (scale, origin, tile), overlay in zip(placements, overlay_pages, strict=True):
        page = writer.add_blank_page(float(overlay.mediabox.width), float(overlay.mediabox.height))
        page[NameObject("/Resources")] = _resources(writer, form)
        clip = ""
        if tile is not None:
            w, h = grid.window
            m = PRINTER_MARGIN * PT_PER_MM
            clip = f"{m:.3f} {m:.3f} {w * PT_PER_MM:.3f} {h * PT_PER_MM:.3f} re W n "
        ox, oy = (v * PT_PER_MM for v in origin)
        _set_content(
            writer, page, f"q {clip}{scale:.6f} 0 0 {scale:.6f} {ox:.3f} {oy:.3f} cm /Sheet Do Q"
        )
        page.merge_page(overlay)
    if len(rendered.pages) > 1:  # the 附表 pages, already on the tiles' paper
        appendix = io.BytesIO()
        with PdfPages(appendix, metadata=metadata) as pdf:
            for figure in rendered.pages[1:]:
                pdf.savefig(figure)
        for page in PdfReader(appendix).pages:
            writer.add_page(page)
    writer.add_metadata({f"/{k}": str(v) for k, v in metadata.items() if v is not None})
    writer.compress_identical_objects()
    writer.write(out)


def _form_xobject(writer, page):
    """The sheet page as a Form XObject in ``writer`` (its resources cloned along)."""
    from pypdf.generic import ArrayObject, DecodedStreamObject, FloatObject, NameObject

    form = DecodedStreamObject()
    form.set_data(page.get_contents().get_data())
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    box = page.mediabox
    form[NameObject("/BBox")] = ArrayObject(
        [FloatObject(v) for v in (box.left, box.bottom, box.right, box.top)]
    )
    form[NameObject("/Resources")] = page["/Resources"].clone(writer)
    form = form.flate_encode()
    return writer._add_object(form)


def _resources(writer, form_ref):
    from pypdf.generic import DictionaryObject, NameObject

    return DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Sheet"): form_ref})}
    )


def _set_content(writer, page, text: str) -> None:
    from pypdf.generic import DecodedStreamObject, NameObject

    stream = DecodedStreamObject()
    stream.set_data(text.encode("ascii"))
    page[NameObject("/Contents")] = writer._add_object(stream)


# --- overlays drawn with matplotlib (marks, labels, the index) -----------------------------------


def _page(paper: Paper) -> tuple[Figure, object]:
    fig = Figure(figsize=paper.size_in)
    fig.patch.set_visible(False)  # transparent: the sheet shows through the overlay
    ax = fig.add_axes((0, 0, 1, 1))
    ax.patch.set_visible(False)
    ax.set_xlim(0, paper.width_mm)
    ax.set_ylim(0, paper.height_mm)
    ax.set_axis_off()
    return fig, ax


def tile_overlay(rendered, grid: TileGrid, tile: Tile) -> Figure:
    """Marks, cut lines and the tile's name, in tile-page millimetres."""
    fig, ax = _page(grid.tile)
    w, h = grid.window
    dx, dy = PRINTER_MARGIN - tile.x0, PRINTER_MARGIN - tile.y0
    for mx, my in registration_marks(grid):
        x, y = mx + dx, my + dy
        if PRINTER_MARGIN <= x <= PRINTER_MARGIN + w and PRINTER_MARGIN <= y <= PRINTER_MARGIN + h:
            _mark(ax, x, y)
    m = PRINTER_MARGIN
    dash = {"linestyle": (0, (3, 2)), "linewidth": 0.5, "color": "#555555"}
    if tile.col > 0:  # cut away the left overlap of this tile when taping onto its neighbour
        ax.add_line(Line2D([m + OVERLAP, m + OVERLAP], [m, m + h], **dash))
    if tile.row > 0:
        ax.add_line(Line2D([m, m + w], [m + h - OVERLAP, m + h - OVERLAP], **dash))
    ax.add_patch(Rectangle((m, m), w, h, fill=False, linewidth=0.3, edgecolor="#999999"))
    sheet = rendered.sheet
    label = (
        f"{tile.name}　第{tile.row + 1}行 第{tile.col + 1}列 / 共 {grid.rows}×{grid.cols} 张　"
        f"{sheet.name}攻坚图 {grid.sheet.name} 拼贴（{grid.tile.name} 实际大小打印，勿缩放）"
    )
    ax.text(m, m / 2, label, ha="left", va="center", fontsize=7, color="#333333")
    ax.text(
        grid.tile.width_mm - m,
        m / 2,
        _neighbours(grid, tile),
        ha="right",
        va="center",
        fontsize=7,
        color="#333333",
    )
    ax.text(
        grid.tile.width_mm - m,
        grid.tile.height_mm - m / 2,
        tile.name,
        ha="right",
        va="center",
        fontsize=12,
        fontweight="bold",
        color="#4a2f6b",
    )
    return fig


def _neighbours(grid: TileGrid, tile: Tile) -> str:
    names = {(t.row, t.col): t.name for t in grid.tiles}
    parts = []
    for (dr, dc), word in (((-1, 0), "上"), ((1, 0), "下"), ((0, -1), "左"), ((0, 1), "右")):
        other = names.get((tile.row + dr, tile.col + dc))
        if other:
            parts.append(f"{word}接 {other}")
    return "　".join(parts)


def _mark(ax, x: float, y: float) -> None:
    ax.add_patch(Circle((x, y), MARK_RADIUS, fill=False, linewidth=0.4, edgecolor="#000000"))
    r = MARK_RADIUS * 1.6
    ax.add_line(Line2D([x - r, x + r], [y, y], linewidth=0.4, color="#000000"))
    ax.add_line(Line2D([x, x], [y - r, y + r], linewidth=0.4, color="#000000"))


def _index_placement(grid: TileGrid) -> tuple[float, tuple[float, float]]:
    """Scale and lower-left position (mm) of the miniature sheet on the index page."""
    page = grid.tile
    top_space, bottom_space = 30.0, 34.0
    avail_w = page.width_mm - 2 * PRINTER_MARGIN
    avail_h = page.height_mm - top_space - bottom_space
    scale = min(avail_w / grid.sheet.width_mm, avail_h / grid.sheet.height_mm)
    x = (page.width_mm - grid.sheet.width_mm * scale) / 2
    return scale, (x, bottom_space)


def index_page(rendered, grid: TileGrid) -> Figure:
    """Tile grid over the miniature sheet, names, and how to assemble."""
    fig, ax = _page(grid.tile)
    scale, (ox, oy) = _index_placement(grid)
    sheet = rendered.sheet
    ax.text(
        grid.tile.width_mm / 2,
        grid.tile.height_mm - 14,
        f"{sheet.title} — 拼贴索引",
        ha="center",
        va="center",
        fontsize=14,
        fontweight="bold",
    )
    ax.text(
        grid.tile.width_mm / 2,
        grid.tile.height_mm - 22,
        f"原图 {grid.sheet.name}（{grid.sheet.width_mm:g}×{grid.sheet.height_mm:g} mm），"
        f"分 {grid.rows} 行 × {grid.cols} 列共 {len(grid.tiles)} 张 {grid.tile.name} 纸",
        ha="center",
        va="center",
        fontsize=9,
        color="#333333",
    )
    ax.add_patch(
        Rectangle(
            (ox, oy),
            grid.sheet.width_mm * scale,
            grid.sheet.height_mm * scale,
            fill=False,
            linewidth=0.6,
            edgecolor="#000000",
        )
    )
    for tile in grid.tiles:
        x, y = ox + tile.x0 * scale, oy + tile.y0 * scale
        ax.add_patch(
            Rectangle(
                (x, y),
                tile.width * scale,
                tile.height * scale,
                fill=False,
                linewidth=0.8,
                edgecolor="#4a2f6b",
                linestyle=(0, (4, 2)),
            )
        )
        ax.text(
            x + tile.width * scale / 2,
            y + tile.height * scale / 2,
            tile.name,
            ha="center",
            va="center",
            fontsize=16,
            fontweight="bold",
            color="#4a2f6b",
            alpha=0.85,
        )
    steps = [
        f"1. 用 {grid.tile.name} 纸按“实际大小/100%”打印第 2–{len(grid.tiles) + 1} 页"
        "（不要“适合页面”缩放）。",
        f"2. 相邻两张重叠 {OVERLAP:g} mm：沿虚线裁去右侧/下方一张的左边或上边页边。",
        "3. 把⊕套准标记一一对齐后，从背面用胶带粘贴；先拼好每一行，再把各行上下拼接。",
        "4. 拼好后整张尺寸与原图相同，比例尺仍然准确。",
    ]
    appendix = len(rendered.pages) - 1
    if appendix:
        first = len(grid.tiles) + 2
        pages = f"第 {first} 页" if appendix == 1 else f"第 {first}–{first + appendix - 1} 页"
        steps.append(f"5. {pages}为附表（{grid.tile.name} 纸直接打印，贴在图旁）。")
    for i, text in enumerate(steps):
        ax.text(PRINTER_MARGIN + 4, oy - 8 - i * 6, text, ha="left", va="center", fontsize=8.5)
    if sheet.synthetic:
        ax.text(
            grid.tile.width_mm - PRINTER_MARGIN,
            grid.tile.height_mm - 14,
            SYNTHETIC_NOTE,
            ha="right",
            va="center",
            fontsize=9,
            color="#c0392b",
            fontweight="bold",
        )
    return fig
