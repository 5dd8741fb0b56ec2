"""Labels that do not collide: a greedy placement on the paper, in millimetres.

Labels are placed in priority order (villages, then facilities and hamlets); each tries its
candidate positions in turn and takes the first whose box overlaps no box already taken
(earlier labels, or obstacles such as the north arrow). A label with no free candidate is
dropped if it is optional (hamlets), or placed at its first candidate if it is required
(village names must appear). Deterministic, and fast enough for hundreds of labels.

>>> boxes = LabelBoxes()
>>> boxes.take(Box(0, 0, 10, 5))
True
>>> boxes.take(Box(5, 2, 15, 7))
False
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from maps.wallmap.paper import MM_PER_PT

#: Advance width in em of a narrow (Latin, digit) character in Noto Sans CJK; CJK is 1 em.
NARROW_EM = 0.56


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle on the paper (mm)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return not (
            self.x1 <= other.x0 or other.x1 <= self.x0 or self.y1 <= other.y0 or other.y1 <= self.y0
        )

    def inside(self, outer: Box) -> bool:
        return (
            self.x0 >= outer.x0
            and self.y0 >= outer.y0
            and self.x1 <= outer.x1
            and self.y1 <= outer.y1
        )

    def padded(self, pad: float) -> Box:
        return Box(self.x0 - pad, self.y0 - pad, self.x1 + pad, self.y1 + pad)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


class LabelBoxes:
    """Boxes already taken on the sheet."""

    def __init__(self, obstacles: Iterable[Box] = ()) -> None:
        self.boxes: list[Box] = list(obstacles)
        self.placed: list[tuple[str, Box]] = []  # labels (not obstacles), for checking

    def free(self, box: Box) -> bool:
        return not any(box.overlaps(b) for b in self.boxes)

    def take(self, box: Box, force: bool = False) -> bool:
        if force or self.free(box):
            self.boxes.append(box)
            return True
        return False


def text_width_em(text: str) -> float:
    """Width of one line of text in em (CJK and full-width 1 em, others ~0.56 em)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else NARROW_EM for ch in text)


def text_size_mm(lines: Sequence[tuple[str, float]], spacing: float = 1.15) -> tuple[float, float]:
    """(width, height) in mm of stacked lines given as (text, size in points)."""
    width = max(text_width_em(t) * s * MM_PER_PT for t, s in lines)
    height = sum(s * MM_PER_PT * spacing for _, s in lines)
    return width, height


@dataclass(frozen=True)
class Candidate:
    """A label position: centre of the label box on the paper (mm)."""

    x: float
    y: float


def around(x: float, y: float, gap: float, width: float, height: float) -> list[Candidate]:
    """Eight positions around a point symbol, right first (the cartographic preference)."""
    dx, dy = gap + width / 2, gap + height / 2
    return [
        Candidate(x + dx, y),
        Candidate(x + dx, y + dy * 0.8),
        Candidate(x + dx, y - dy * 0.8),
        Candidate(x, y + dy),
        Candidate(x, y - dy),
        Candidate(x - dx, y),
        Candidate(x - dx, y + dy * 0.8),
        Candidate(x - dx, y - dy * 0.8),
    ]


def spiral(x: float, y: float, step: float, rings: int = 4) -> list[Candidate]:
    """The point itself, then rings of positions around it (area labels)."""
    out = [Candidate(x, y)]
    for ring in range(1, rings + 1):
        r = ring * step
        out += [
            Candidate(x, y + r),
            Candidate(x, y - r),
            Candidate(x + r * 1.5, y),
            Candidate(x - r * 1.5, y),
            Candidate(x + r, y + r),
            Candidate(x - r, y - r),
            Candidate(x + r, y - r),
            Candidate(x - r, y + r),
        ]
    return out


def place(
    boxes: LabelBoxes,
    candidates: Sequence[Candidate],
    width: float,
    height: float,
    *,
    within: Box | None = None,
    accept=None,
    cost=None,
    required: bool = False,
    name: str = "",
) -> Candidate | None:
    """The best free candidate: inside ``within``, ``accept``-ed, lowest ``cost`` (box → float).

    Without ``cost`` the first free candidate wins. Takes the chosen box. Required labels fall
    back to the cheapest candidate inside ``within`` even if it overlaps.
    """
    best = fallback = None
    for rank, cand in enumerate(candidates):
        box = Box(cand.x - width / 2, cand.y - height / 2, cand.x + width / 2, cand.y + height / 2)
        if within is not None and not box.inside(within):
            continue
        if accept is not None and not accept(cand):
            continue
        score = (cost(box) if cost else 0.0, rank)
        if fallback is None or score < fallback[0]:
            fallback = (score, cand, box)
        if boxes.free(box) and (best is None or score < best[0]):
            best = (score, cand, box)
            if cost is None:
                break
    chosen = best or (fallback if required else None)
    if chosen is None:
        return None
    boxes.take(chosen[2], force=True)
    if name:
        boxes.placed.append((name, chosen[2]))
    return chosen[1]
