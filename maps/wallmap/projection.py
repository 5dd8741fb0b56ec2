"""The map's local metric projection, its true scale, grid north and round scales.

The sheet is drawn in the CGCS2000 3-degree Gauss-Krüger zone whose central meridian is
nearest the township (EPSG:4534–4554, the zoning of Chinese topographic maps). Distances on
the projected plane differ from ground distances by the point scale factor k (≤ 1.0004 within
a zone); the map scale and the scale bar are corrected by k at the map centre, so a scale-bar
kilometre is a ground kilometre (checked against ``pyproj.Geod`` in the tests).

>>> crs = local_crs(112.6, 25.0)
>>> crs.to_epsg()
4546
>>> nice_scale(41_000)
50000
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from pyproj import CRS, Proj, Transformer

FIRST_GK_EPSG, FIRST_GK_MERIDIAN = 4534, 75  # CGCS2000 / 3-degree Gauss-Kruger CM 75E
LAST_GK_MERIDIAN = 135
#: Round scale denominators, as on topographic and planning maps.
NICE_SCALES = tuple(
    int(m * 10**e) for e in range(3, 7) for m in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8)
)


def central_meridian(lon: float) -> int:
    """The 3-degree zone's central meridian nearest ``lon`` (clamped to China's zones)."""
    return int(np.clip(3 * round(lon / 3), FIRST_GK_MERIDIAN, LAST_GK_MERIDIAN))


@cache
def local_crs(lon: float, lat: float) -> CRS:
    """CGCS2000 3-degree Gauss-Krüger CRS for a place (``lat`` kept for the signature)."""
    meridian = central_meridian(lon)
    return CRS.from_epsg(FIRST_GK_EPSG + (meridian - FIRST_GK_MERIDIAN) // 3)


@dataclass(frozen=True)
class LocalFrame:
    """The projection at the map centre: scale factor k and grid convergence (degrees)."""

    crs: CRS
    lon: float
    lat: float
    scale_factor: float
    convergence_deg: float

    @classmethod
    def at(cls, lon: float, lat: float) -> LocalFrame:
        crs = local_crs(round(lon, 6), round(lat, 6))
        factors = Proj(crs).get_factors(lon, lat)
        return cls(crs, lon, lat, factors.meridional_scale, factors.meridian_convergence)

    def to_map(self) -> Transformer:
        return Transformer.from_crs(4326, self.crs, always_xy=True)

    def to_lonlat(self) -> Transformer:
        return Transformer.from_crs(self.crs, 4326, always_xy=True)

    def projected_metres(self, ground_metres: float) -> float:
        """Length on the projected plane of a ground length at the map centre."""
        return ground_metres * self.scale_factor


def nice_scale(denominator: float) -> int:
    """The smallest round scale denominator ≥ ``denominator`` (a map that still fits)."""
    for candidate in NICE_SCALES:
        if candidate >= denominator:
            return candidate
    return int(np.ceil(denominator / 1e6) * 1e6)


def nice_length(max_metres: float) -> float:
    """Largest 1-2-5 length (metres) ≤ ``max_metres``: 500 m, 1 km, 2 km, 5 km, …"""
    exponent = np.floor(np.log10(max_metres))
    for mantissa in (5, 2, 1):
        length = mantissa * 10**exponent
        if length <= max_metres:
            return float(length)
    return float(10**exponent)
