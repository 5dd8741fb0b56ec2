"""Colours, markers and line styles of the 攻坚图, in one place (the web twin can reuse them).

Households: status by colour (未脱贫 red on top, 返贫 purple, 已脱贫 a quieter teal drawn
first and slightly smaller, so the work still to do stands out among 3,000 points) and
category by shape (一般 circle, 低保 square, 特困 triangle), each with a thin white edge so
touching symbols stay separate. Colours were checked for red–green colour blindness
(the three status colours differ in lightness as well as hue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path

from geo import vocab
from maps.palette import STATUS_COLOURS

# --- households ---------------------------------------------------------------------------

#: Drawing order: first drawn is at the bottom.
STATUS_ORDER = ("exited", "returned", "poor")
#: Relative marker size per status (the work still to do is a little bigger).
STATUS_SIZE = {"poor": 1.0, "returned": 1.1, "exited": 0.82}
STATUS_LABELS = vocab.STATUS

#: A list that does not state the category: drawn as such (a diamond), never as a guess.
UNKNOWN_CATEGORY = "unknown"
CATEGORY_MARKERS = {"general": "o", "dibao": "s", "tekun": "^", UNKNOWN_CATEGORY: "D"}
#: Shapes of equal visual weight: a square of the same width looks bigger than a circle.
CATEGORY_SIZE = {"general": 1.0, "dibao": 0.86, "tekun": 1.12, UNKNOWN_CATEGORY: 0.8}
CATEGORY_LABELS = {
    "general": "一般贫困户",
    "dibao": "低保户",
    "tekun": "特困供养户",
    UNKNOWN_CATEGORY: "类别不详（名单未填）",
}
NEUTRAL_HOUSEHOLD = "#555555"  # category symbols in the legend when colour means cause
UNCOVERED_RING = "#1a1a1a"  # households the coverage analysis flags
RELOCATION_COLOUR = "#e66101"  # relocation candidates (搬迁对象) and whole-hamlet outlines
#: Cadre sectors (分组包片): dark, distinct outline colours.
SECTOR_COLOURS = ("#1b4f9c", "#8c2d04", "#006d2c", "#6a3d9a", "#b15928", "#01665e", "#7f3b08",
                  "#3f007d")  # fmt: skip

#: Twelve print-safe qualitative colours for the main cause of poverty (--color-by cause).
CAUSE_COLOURS = dict(
    zip(
        vocab.CAUSE,
        (
            "#e41a1c",
            "#377eb8",
            "#4daf4a",
            "#984ea3",
            "#ff7f00",
            "#a65628",
            "#f781bf",
            "#4d4d4d",
            "#e6ab02",
            "#1b9e9e",
            "#7570b3",
            "#9e9e9e",
        ),
        strict=True,
    )
)

# --- administrative areas -------------------------------------------------------------------

VILLAGE_TINTS = ("#f3e9cf", "#dcebd5", "#f1dcd3", "#d9e4ef", "#e8ddee", "#ece7d3")
VILLAGE_TINT_ALPHA = 0.6
VILLAGE_LINE = "#5b5b5b"
KEY_VILLAGE_HATCH = "#cf6f6a"
TOWNSHIP_LINE = "#4a2f6b"
TOWNSHIP_HALO = "#d9c8ea"
OUTSIDE_FILL = "#ffffff"
OUTSIDE_ALPHA = 0.62
NEIGHBOUR_TEXT = "#8a8a8a"
LABEL_TEXT = "#1f1f1f"
HALO = "#ffffff"

# --- roads, water, relief ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoadStyle:
    colour: str
    width: float  # points on A4
    casing: str | None = None


ROAD_STYLES = {
    "national": RoadStyle("#e34a33", 1.5, "#8c2d04"),
    "provincial": RoadStyle("#f58d3b", 1.25, "#8c4a0c"),
    "county": RoadStyle("#fdd35c", 1.05, "#8a6d1a"),
    "township": RoadStyle("#ffffff", 0.85, "#6e6e6e"),
    "village": RoadStyle("#7d7d7d", 0.45),
}
#: Surface as dash pattern (in multiples of the line width); hardened roads are solid.
SURFACE_DASHES = {"hardened": None, "gravel": (3.5, 1.8), "earth": (1.0, 1.6)}

RIVER_COLOUR = "#3f8fc7"
LAKE_FILL = "#b9d8ef"
HILLSHADE_LEVELS = 48  # grey levels: few enough that the PDF stores an 8-bit indexed image

# --- facilities --------------------------------------------------------------------------------


def _flag() -> Path:
    """A school flag: pole and pennant, centred on the marker position."""
    pole = [(-0.45, -1.0), (-0.3, -1.0), (-0.3, 1.0), (-0.45, 1.0), (-0.45, -1.0)]
    pennant = [(-0.3, 1.0), (0.9, 0.6), (-0.3, 0.2), (-0.3, 1.0)]
    vertices = np.array(pole + pennant)
    codes = [Path.MOVETO] + [Path.LINETO] * 3 + [Path.CLOSEPOLY]
    codes += [Path.MOVETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    return Path(vertices, codes)


def _drop() -> Path:
    """A water drop (waterworks)."""
    t = np.linspace(np.pi * 1.25, np.pi * -0.25, 24)
    arc = np.column_stack([0.62 * np.cos(t), -0.25 + 0.62 * np.sin(t)])
    vertices = np.vstack([[0.0, 1.0], arc, [0.0, 1.0]])
    codes = [Path.MOVETO] + [Path.LINETO] * (len(vertices) - 2) + [Path.CLOSEPOLY]
    return Path(vertices, codes)


def _cross() -> Path:
    """A Greek cross (health)."""
    a, b = 0.28, 0.9
    pts = [
        (-a, b),
        (a, b),
        (a, a),
        (b, a),
        (b, -a),
        (a, -a),
        (a, -b),
        (-a, -b),
        (-a, -a),
        (-b, -a),
        (-b, a),
        (-a, a),
        (-a, b),
    ]
    return Path(np.array(pts), [Path.MOVETO] + [Path.LINETO] * 11 + [Path.CLOSEPOLY])


FLAG, DROP, CROSS = _flag(), _drop(), _cross()


@dataclass(frozen=True)
class PointStyle:
    """A point symbol: marker, fill, edge, relative size (× the paper's facility size)."""

    label: str
    marker: object
    face: str
    edge: str = "#ffffff"
    size: float = 1.0
    background: str | None = None  # a plate under the marker (e.g. white square for clinics)


FACILITY_STYLES = {
    "seat": PointStyle("镇政府驻地", "*", "#b2182b", "#ffffff", 1.45),
    "township_health_centre": PointStyle(
        "乡镇卫生院", CROSS, "#d7191c", "#d7191c", 0.95, "#ffffff"
    ),
    "county_hospital": PointStyle("县医院", CROSS, "#d7191c", "#d7191c", 1.15, "#ffffff"),
    "village_clinic": PointStyle("村卫生站", CROSS, "#e8575a", "#ffffff", 0.72),
    "school": PointStyle("学校", FLAG, "#1f5fa8", "#ffffff", 0.9),
    "waterworks": PointStyle("水厂", DROP, "#1f78b4", "#ffffff", 0.95),
    "intake": PointStyle("取水点", "v", "#5fa8d8", "#ffffff", 0.55),
    "hamlet": PointStyle("自然村", "o", "#ffffff", "#6b6b6b", 1.0),
}

GRID_COLOUR = "#6f6f6f"
FRAME_COLOUR = "#222222"
STAMP_COLOUR = "#c0392b"
PANEL_RULE = "#9a9a9a"
TABLE_HEADER_FILL = "#ece6f3"
TABLE_STRIPE_FILL = "#f7f5fa"
TOTAL_ROW_FILL = "#e9e9e9"


def status_colour(status: str) -> str:
    return STATUS_COLOURS[status]


def graph_colouring(neighbours: list[set[int]], colours: int = len(VILLAGE_TINTS)) -> list[int]:
    """Greedy colouring so that touching villages get different tints (deterministic).

    >>> graph_colouring([{1}, {0, 2}, {1}])
    [0, 1, 0]
    """
    order = sorted(range(len(neighbours)), key=lambda i: (-len(neighbours[i]), i))
    result = [-1] * len(neighbours)
    for node in order:
        taken = {result[n] for n in neighbours[node] if result[n] >= 0}
        free = [c for c in range(colours) if c not in taken]
        result[node] = free[0] if free else node % colours
    return result
