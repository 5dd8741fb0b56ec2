"""The map view: where the map frame sits on the sheet, its CRS, round scale and extent.

A view maps projected metres to millimetres on the paper. The scale is round (1:25 000,
1:50 000, …) and exact on the ground at the map centre: one paper millimetre is
``scale × k / 1000`` projected metres, k being the projection's scale factor there.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from maps.wallmap.labels import Box
from maps.wallmap.projection import LocalFrame, nice_scale


@dataclass(frozen=True)
class MapView:
    rect_mm: tuple[float, float, float, float]  # x, y, width, height on the sheet
    frame: LocalFrame
    scale: int  # denominator of the round scale, true at the map centre
    centre: tuple[float, float]  # projected metres

    @classmethod
    def fit(
        cls, area, rect_mm: tuple[float, float, float, float], frame: LocalFrame, pad: float = 0.03
    ) -> MapView:
        """The largest round scale at which ``area`` (projected geometry) fits the rectangle."""
        minx, miny, maxx, maxy = area.bounds
        _, _, width, height = rect_mm
        needed = required_scale((maxx - minx, maxy - miny), (width, height), frame, pad)
        centre = ((minx + maxx) / 2, (miny + maxy) / 2)
        return cls(rect_mm, frame, nice_scale(needed), centre)

    @property
    def metres_per_mm(self) -> float:
        """Projected metres per paper millimetre."""
        return self.scale * self.frame.scale_factor / 1000.0

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) in projected metres."""
        _, _, width, height = self.rect_mm
        half_w = width * self.metres_per_mm / 2
        half_h = height * self.metres_per_mm / 2
        cx, cy = self.centre
        return cx - half_w, cx + half_w, cy - half_h, cy + half_h

    @property
    def box(self) -> shapely.Polygon:
        xmin, xmax, ymin, ymax = self.extent
        return shapely.box(xmin, ymin, xmax, ymax)

    @property
    def paper_box(self) -> Box:
        x, y, w, h = self.rect_mm
        return Box(x, y, x + w, y + h)

    def to_paper(self, x, y):
        """Projected metres → sheet millimetres (arrays welcome)."""
        xmin, _, ymin, _ = self.extent
        px, py, _, _ = self.rect_mm
        return (
            px + (np.asarray(x) - xmin) / self.metres_per_mm,
            py + (np.asarray(y) - ymin) / self.metres_per_mm,
        )

    def to_map(self, x_mm, y_mm):
        """Sheet millimetres → projected metres."""
        xmin, _, ymin, _ = self.extent
        px, py, _, _ = self.rect_mm
        return (
            xmin + (np.asarray(x_mm) - px) * self.metres_per_mm,
            ymin + (np.asarray(y_mm) - py) * self.metres_per_mm,
        )


def required_scale(
    size_m: tuple[float, float], size_mm: tuple[float, float], frame: LocalFrame, pad: float
) -> float:
    """Scale denominator at which a projected extent fills a paper rectangle (with padding)."""
    width_m, height_m = (s * (1 + 2 * pad) for s in size_m)
    per_mm = max(width_m / size_mm[0], height_m / size_mm[1])
    return per_mm * 1000.0 / frame.scale_factor


def project(frame: gpd.GeoDataFrame, view: MapView, clip: bool = True) -> gpd.GeoDataFrame:
    """A layer in the view's CRS, cut to the map extent (keeps the PDF small)."""
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    out = frame.to_crs(view.frame.crs)
    if out.empty:
        return out
    if clip:
        xmin, xmax, ymin, ymax = view.extent
        pad = 0.02 * (xmax - xmin)
        out = out[out.intersects(shapely.box(xmin - pad, ymin - pad, xmax + pad, ymax + pad))]
        if not out.empty and not (out.geom_type == "Point").all():
            clipped = shapely.clip_by_rect(
                out.geometry.values, xmin - pad, ymin - pad, xmax + pad, ymax + pad
            )
            out = out.copy()
            out[out.geometry.name] = gpd.GeoSeries(clipped, index=out.index, crs=out.crs)
            out = out[~out.geometry.is_empty]
    return out
