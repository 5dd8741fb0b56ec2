"""ISO 216 paper sizes, orientation, and type sizes that grow with the sheet.

Sizes are in millimetres and points. Type and symbols scale with the paper's long side to
the power 0.85 (A4 → A0: ×3.25): a village name that is 7.5 pt on A4 is 24 pt (8.6 mm) on
A0, readable from 2 m, while tables keep more of their density.

>>> Paper.named("A0", "landscape").size_mm
(1189.0, 841.0)
>>> round(Paper.named("A0").type_scale, 2)
3.25
"""

from __future__ import annotations

from dataclasses import dataclass

MM_PER_INCH = 25.4
MM_PER_PT = MM_PER_INCH / 72.0

#: ISO 216 A series, (short, long) in millimetres.
ISO_A: dict[str, tuple[float, float]] = {
    "A0": (841.0, 1189.0),
    "A1": (594.0, 841.0),
    "A2": (420.0, 594.0),
    "A3": (297.0, 420.0),
    "A4": (210.0, 297.0),
}
ORIENTATIONS = ("auto", "portrait", "landscape")

#: Base sizes in points on A4; multiplied by Paper.type_scale.
TYPE_A4 = {
    "title": 19.0,
    "subtitle": 8.5,
    "stamp": 8.5,
    "village": 7.0,
    "village_key": 7.0,
    "neighbour": 6.0,
    "hamlet": 3.6,
    "facility": 3.6,
    "grid": 5.0,
    "heading": 7.0,
    "legend": 5.6,
    "table": 5.0,
    "table_min": 3.6,
    "note": 4.4,
    "scalebar": 5.0,
    "north": 7.0,
    "inset": 4.2,
    "page_mark": 7.0,
}
#: Symbol sizes on A4 (points); household markers are diameters.
SYMBOL_A4 = {
    "household": 2.7,
    "household_edge": 0.2,
    "facility": 5.0,
    "seat": 7.0,
    "hamlet": 1.6,
    "township_line": 1.6,
    "village_line": 0.5,
    "frame_line": 0.8,
}


@dataclass(frozen=True)
class Paper:
    """A sheet of ISO paper in a given orientation."""

    name: str
    width_mm: float
    height_mm: float

    @classmethod
    def named(cls, name: str, orientation: str = "portrait") -> Paper:
        """Paper ``A0``…``A4`` in ``portrait`` or ``landscape`` orientation."""
        key = name.upper()
        if key not in ISO_A:
            raise ValueError(f"unknown paper {name!r}: expected one of {', '.join(ISO_A)}")
        if orientation not in ("portrait", "landscape"):
            raise ValueError(f"orientation must be portrait or landscape, got {orientation!r}")
        short, long = ISO_A[key]
        width, height = (long, short) if orientation == "landscape" else (short, long)
        return cls(key, width, height)

    @property
    def orientation(self) -> str:
        return "landscape" if self.width_mm > self.height_mm else "portrait"

    @property
    def size_mm(self) -> tuple[float, float]:
        return self.width_mm, self.height_mm

    @property
    def size_in(self) -> tuple[float, float]:
        return self.width_mm / MM_PER_INCH, self.height_mm / MM_PER_INCH

    @property
    def type_scale(self) -> float:
        return (max(self.size_mm) / ISO_A["A4"][1]) ** 0.85

    @property
    def margin_mm(self) -> float:
        """Outer margin: enough for office printers (≥ 7 mm), wider on big sheets."""
        return max(7.0, 0.013 * max(self.size_mm))

    def pt(self, role: str) -> float:
        """Font size in points for a text role (see :data:`TYPE_A4`)."""
        return TYPE_A4[role] * self.type_scale

    def symbol(self, role: str) -> float:
        """Symbol size or line width in points (see :data:`SYMBOL_A4`). Household symbols grow
        more slowly than type: on big sheets the map scale grows too and clusters must stay
        countable (A0: 2.2 mm, still clear from 2 m)."""
        if role.startswith("household"):
            return SYMBOL_A4[role] * self.type_scale**0.7
        return SYMBOL_A4[role] * self.type_scale

    def table_pt(self) -> tuple[float, float]:
        """(largest, smallest) font size for tables: dense tables are read up close, so they
        grow more slowly with the paper than the map's type."""
        return 5.2 * self.type_scale**0.55, 3.9 * self.type_scale**0.3

    def rotated(self) -> Paper:
        return Paper(self.name, self.height_mm, self.width_mm)


def pt_to_mm(points: float) -> float:
    return points * MM_PER_PT


def mm_to_pt(mm: float) -> float:
    return mm / MM_PER_PT
