"""What sits in the map frame's corners: north arrow, scale bar and the QR code that links the
printed sheet to its web twin (``/townships/{code}``).

Each goes in the corner that hides least of the township. The QR code is drawn as vector
squares (segno builds the matrix locally, no service is asked), with its quiet zone, at a module
size that a phone reads at arm's length from an A3 and from a step back on an A0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.patches import Polygon as PolygonPatch
from matplotlib.path import Path

from maps.wallmap import symbology as sym
from maps.wallmap.drawing import ProjectedSheet, halo_text
from maps.wallmap.labels import Box, LabelBoxes
from maps.wallmap.paper import MM_PER_PT, Paper
from maps.wallmap.projection import nice_length
from maps.wallmap.view import MapView

#: Side of the QR code with its quiet zone on A4, in mm; grows with the paper like the type
#: (A3 about 27 mm, A0 about 65 mm: modules of 0.7 and 1.7 mm for a short web address).
QR_SIDE_A4 = 20.0
QR_QUIET_MODULES = 4  # the quiet zone ISO/IEC 18004 asks for
QR_CAPTION = "扫码看网页版"


# --- north arrow and scale bar ---------------------------------------------------------------


def _corner_boxes(view: MapView, width: float, height: float, inset: float) -> dict[str, Box]:
    x0, y0, x1, y1 = (view.paper_box.x0, view.paper_box.y0, view.paper_box.x1, view.paper_box.y1)
    return {
        "top_right": Box(x1 - inset - width, y1 - inset - height, x1 - inset, y1 - inset),
        "top_left": Box(x0 + inset, y1 - inset - height, x0 + inset + width, y1 - inset),
        "bottom_left": Box(x0 + inset, y0 + inset, x0 + inset + width, y0 + inset + height),
        "bottom_right": Box(x1 - inset - width, y0 + inset, x1 - inset, y0 + inset + height),
    }


def _overlap(view: MapView, box: Box, area: shapely.Geometry) -> float:
    (mx0, mx1), (my0, my1) = view.to_map(np.array([box.x0, box.x1]), np.array([box.y0, box.y1]))
    return area.intersection(shapely.box(mx0, my0, mx1, my1)).area


def _freest(
    view: MapView, boxes: dict[str, Box], area, prefer: tuple[str, ...], taken: LabelBoxes
) -> Box:
    scored = [
        (_overlap(view, boxes[name], area), i, boxes[name])
        for i, name in enumerate(prefer)
        if taken.free(boxes[name])
    ]
    return min(scored)[2] if scored else boxes[prefer[0]]


def draw_furniture(
    ax: Axes,
    view: MapView,
    paper: Paper,
    data: ProjectedSheet,
    boxes: LabelBoxes,
    qr: QrSpec | None = None,
) -> Box | None:
    """North arrow, scale bar and (given ``qr``) the QR code, each in the frame corner that
    hides least of the township. Returns the QR code's box (paper mm)."""
    s = paper.type_scale
    inset = 3.0 * s
    arrow_w, arrow_h = 9.0 * s, 15.0 * s
    corners = _corner_boxes(view, arrow_w, arrow_h, inset)
    box = _freest(
        view,
        corners,
        data.township,
        ("top_right", "top_left", "bottom_right", "bottom_left"),
        boxes,
    )
    boxes.take(box, force=True)
    draw_north_arrow(ax, view, paper, box)
    bar = scale_bar_spec(view, paper)
    corners = _corner_boxes(view, bar.box_width, bar.box_height, inset)
    box = _freest(
        view,
        corners,
        data.township,
        ("bottom_left", "bottom_right", "top_left", "top_right"),
        boxes,
    )
    boxes.take(box, force=True)
    draw_scale_bar(ax, view, paper, bar, box)
    if qr is None:
        return None
    corners = _corner_boxes(view, *qr_box_size(qr, paper), inset)
    box = _freest(
        view,
        corners,
        data.township,
        ("bottom_right", "top_left", "bottom_left", "top_right"),
        boxes,
    )
    boxes.take(box, force=True)
    draw_qr(ax, view, paper, qr, box)
    return box


def grid_north_angle(view: MapView) -> float:
    """Angle (degrees, counter-clockwise from the frame's up) of true north at the map centre."""
    to_lonlat, to_map = view.frame.to_lonlat(), view.frame.to_map()
    lon, lat = to_lonlat.transform(*view.centre)
    x0, y0 = to_map.transform(lon, lat)
    x1, y1 = to_map.transform(lon, lat + 0.01)
    return float(np.degrees(np.arctan2(-(x1 - x0), y1 - y0)))


def draw_north_arrow(ax: Axes, view: MapView, paper: Paper, box: Box) -> None:
    """A two-tone arrow pointing to true north, with 北."""
    cx, cy = box.centre
    length = (box.y1 - box.y0) * 0.62
    half = (box.x1 - box.x0) * 0.32
    angle = np.radians(grid_north_angle(view))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    base_y = cy - length * 0.55
    tip = np.array([0.0, length])
    left, right, notch = (
        np.array([-half, 0.0]),
        np.array([half, 0.0]),
        np.array([0.0, length * 0.22]),
    )

    def to_map(points):
        pts = np.array(points) @ rot.T + np.array([cx, base_y])
        mx, my = view.to_map(pts[:, 0], pts[:, 1])
        return np.column_stack([mx, my])

    width = 0.5 * paper.type_scale
    ax.add_patch(
        PolygonPatch(
            to_map([tip, left, notch]),
            closed=True,
            facecolor="#ffffff",
            edgecolor=sym.FRAME_COLOUR,
            linewidth=width,
            zorder=40,
        )
    )
    ax.add_patch(
        PolygonPatch(
            to_map([tip, notch, right]),
            closed=True,
            facecolor=sym.FRAME_COLOUR,
            edgecolor=sym.FRAME_COLOUR,
            linewidth=width,
            zorder=40,
        )
    )
    label = to_map([tip + np.array([0.0, paper.pt("north") * MM_PER_PT * 0.75])])[0]
    halo_text(
        ax,
        paper.pt("north") * 0.25,
        label[0],
        label[1],
        "北",
        ha="center",
        va="center",
        fontsize=paper.pt("north"),
        fontweight="bold",
        color=sym.FRAME_COLOUR,
        zorder=40,
    )


@dataclass(frozen=True)
class ScaleBar:
    length_m: float
    segments: int
    bar_mm: float
    font: float
    box_width: float
    box_height: float


def scale_bar_spec(view: MapView, paper: Paper) -> ScaleBar:
    """A 1-2-5 ground length about a fifth of the frame wide, drawn exactly at 1:scale."""
    frame_w = view.rect_mm[2]
    length = nice_length(frame_w * 0.2 * view.scale / 1000.0)
    bar_mm = length * 1000.0 / view.scale
    mantissa = round(length / 10 ** np.floor(np.log10(length)))
    segments = {1: 4, 2: 4, 5: 5}.get(mantissa, 4)
    font = paper.pt("scalebar")
    pad = 2.5 * paper.type_scale
    text_w = 18 * font * MM_PER_PT * 0.56
    return ScaleBar(
        length,
        segments,
        bar_mm,
        font,
        max(bar_mm, text_w) + 2 * pad + font * MM_PER_PT * 2,
        font * MM_PER_PT * 4.6 + 2 * pad,
    )


def draw_scale_bar(ax: Axes, view: MapView, paper: Paper, bar: ScaleBar, box: Box) -> None:
    """Numeric scale, alternating bar with kilometre labels, on a white plate."""
    fig_mm = lambda x, y: tuple(float(v) for v in view.to_map(x, y))  # noqa: E731
    ax.add_patch(
        Rectangle(
            fig_mm(box.x0, box.y0),
            (box.x1 - box.x0) * view.metres_per_mm,
            (box.y1 - box.y0) * view.metres_per_mm,
            facecolor="#ffffff",
            edgecolor="#bdbdbd",
            linewidth=0.3 * paper.type_scale,
            alpha=0.9,
            zorder=39,
        )
    )
    line_mm = bar.font * MM_PER_PT
    x0 = box.x0 + (box.x1 - box.x0 - bar.bar_mm) / 2
    y_bar = box.y0 + (box.y1 - box.y0) * 0.36
    bar_h = line_mm * 0.45
    seg = bar.bar_mm / bar.segments
    for i in range(bar.segments):
        ax.add_patch(
            Rectangle(
                fig_mm(x0 + i * seg, y_bar),
                seg * view.metres_per_mm,
                bar_h * view.metres_per_mm,
                facecolor=sym.FRAME_COLOUR if i % 2 == 0 else "#ffffff",
                edgecolor=sym.FRAME_COLOUR,
                linewidth=0.3 * paper.type_scale,
                zorder=40,
            )
        )
    unit_km = bar.length_m >= 1000
    for i in (0, bar.segments // 2, bar.segments):
        value = bar.length_m * i / bar.segments
        text = _distance(value, unit_km) + (" 千米" if unit_km and i == bar.segments else "")
        text = text + (" 米" if not unit_km and i == bar.segments else "")
        ax.text(
            *fig_mm(x0 + i * seg, y_bar - line_mm * 0.3),
            text,
            ha="center",
            va="top",
            fontsize=bar.font * 0.85,
            color=sym.FRAME_COLOUR,
            zorder=40,
        )
    centre = (box.x0 + box.x1) / 2
    per_cm = view.scale / 100.0
    per_cm_text = f"{per_cm / 1000:g} 千米" if per_cm >= 1000 else f"{per_cm:g} 米"
    ax.text(
        *fig_mm(centre, y_bar + bar_h + line_mm * 0.55),
        f"比例尺 1:{view.scale:,}".replace(",", " "),
        ha="center",
        va="bottom",
        fontsize=bar.font,
        fontweight="bold",
        color=sym.FRAME_COLOUR,
        zorder=40,
    )
    ax.text(
        *fig_mm(centre, box.y0 + line_mm * 0.25),
        f"图上 1 厘米代表实地 {per_cm_text}",
        ha="center",
        va="bottom",
        fontsize=bar.font * 0.75,
        color="#444444",
        zorder=40,
    )


def _distance(value: float, km: bool) -> str:
    return f"{value / 1000:g}" if km else f"{value:g}"


# --- QR code to the web twin ---------------------------------------------------------------------


def web_twin_url(base_url: str, code: str) -> str:
    """Address of a township's web map.

    >>> web_twin_url("http://192.168.1.10:8000/", "441882101")
    'http://192.168.1.10:8000/townships/441882101'
    """
    return f"{base_url.rstrip('/')}/townships/{code}"


def qr_matrix(text: str) -> np.ndarray:
    """The QR code of ``text`` as a boolean matrix (True: dark), without quiet zone.

    Error correction M at least (segno raises it when the symbol has room): a smudge or a
    pin hole on the wall still reads.
    """
    import segno

    code = segno.make_qr(text, error="m", boost_error=True)
    return np.array([[bool(v) for v in row] for row in code.matrix], dtype=bool)


@dataclass(frozen=True)
class QrSpec:
    url: str
    matrix: np.ndarray
    side_mm: float  # with the quiet zone

    @property
    def module_mm(self) -> float:
        return self.side_mm / (len(self.matrix) + 2 * QR_QUIET_MODULES)


def qr_spec(url: str, paper: Paper) -> QrSpec:
    return QrSpec(url, qr_matrix(url), QR_SIDE_A4 * paper.type_scale)


def qr_path(matrix: np.ndarray, x0: float, y0: float, module: float) -> Path:
    """The dark modules as one path of rectangles (runs of a row merged), lower-left at x0, y0."""
    vertices, codes = [], []
    n = len(matrix)
    for r, row in enumerate(matrix):
        y = y0 + (n - 1 - r) * module
        c = 0
        while c < n:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < n and row[c]:
                c += 1
            xa, xb = x0 + start * module, x0 + c * module
            vertices += [(xa, y), (xb, y), (xb, y + module), (xa, y + module), (xa, y)]
            codes += [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    return Path(np.array(vertices), codes)


def draw_qr(ax: Axes, view: MapView, paper: Paper, spec: QrSpec, box: Box) -> None:
    """White plate with the code and its caption in ``box`` (paper mm) on the map axes."""
    side, module = spec.side_mm, spec.module_mm
    quiet = QR_QUIET_MODULES * module
    # the map axes are in ground metres: scale paper mm about the box's corner
    (mx0,), (my0,) = view.to_map(np.array([box.x0]), np.array([box.y0]))
    k = view.metres_per_mm
    ax.add_patch(
        Rectangle(
            (mx0, my0),
            (box.x1 - box.x0) * k,
            (box.y1 - box.y0) * k,
            facecolor="#ffffff",
            edgecolor="#999999",
            linewidth=0.3 * paper.type_scale,
            zorder=30,
        )
    )
    caption_h = box.y1 - box.y0 - side
    path = qr_path(spec.matrix, (quiet) * k, (caption_h + quiet) * k, module * k)
    path = Path(path.vertices + np.array([mx0, my0]), path.codes)
    ax.add_patch(PathPatch(path, facecolor="#000000", edgecolor="none", zorder=31))
    ax.text(
        mx0 + (box.x1 - box.x0) * k / 2,
        my0 + caption_h * 0.55 * k,
        QR_CAPTION,
        ha="center",
        va="center",
        fontsize=paper.pt("note"),
        color="#333333",
        zorder=31,
    )


def qr_box_size(spec: QrSpec, paper: Paper) -> tuple[float, float]:
    caption = paper.pt("note") * MM_PER_PT * 1.8
    return spec.side_mm, spec.side_mm + caption
