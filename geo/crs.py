"""Coordinate systems used in China: WGS84, CGCS2000, GCJ-02 and BD-09.

Phone map SDKs and web maps in China do not give WGS84. AMap (高德) and Tencent give
**GCJ-02** ("Mars coordinates", 国测局坐标), an obfuscated datum whose offset from WGS84 is a
smooth non-linear function of position: in Guangdong it is about 100–700 m. Baidu gives
**BD-09**, a further offset on top of GCJ-02. The official datum **CGCS2000** (EPSG:4490) is
within centimetres of WGS84 (EPSG:4326) and is treated here as the same thing. Mixing these
silently puts a household in the wrong village, so every import names its coordinate system
and is converted to WGS84 with this module.

Accuracy
--------
* WGS84 → GCJ-02 is the widely published formula (Krasovsky ellipsoid constants
  ``a = 6378245``, ``ee = 0.00669342162296594323``), the same as the ``coordtransform`` and
  ``eviltransform`` libraries: it reproduces their published coordinate pairs to better than
  1e-9° (about 0.1 mm).
* GCJ-02 → WGS84 has no closed form. It is solved by fixed-point iteration on the forward
  formula until the forward transform of the result reproduces the input to 1e-10°, not by
  the common one-step approximation (which is off by 1–2 m). Round trips are exact to well
  under a millimetre; the documented guarantee is *under 1 m*.
* GCJ-02 ⇄ BD-09 uses Baidu's published forward formula; the inverse starts from the usual
  closed-form approximation and is refined by the same fixed-point iteration.
* The obfuscation itself is only as good as the published formula: positions converted from
  GCJ-02 are as accurate as the GCJ-02 source was, no better.

Outside China
-------------
Like the standard algorithm, the GCJ-02 step leaves points outside a rough bounding box of
China (lon 72.004–137.8347, lat 0.8293–55.8271) unchanged, in both directions. The BD-09
step is a pure formula applied everywhere (as in ``coordtransform``). All of Guangdong is far
inside the box.

Example
-------
>>> lon, lat = wgs84_to_gcj02(113.912316, 22.543847)   # Shenzhen
>>> round(lon, 6), round(lat, 6)
(113.917176, 22.540796)
>>> back = gcj02_to_wgs84(lon, lat)
>>> round(back[0], 7), round(back[1], 7)
(113.912316, 22.543847)
>>> parse_crs("GCJ-02")
CoordSystem(kind='gcj02', epsg=None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "VALID_NAMES",
    "CoordSystem",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_crs",
    "to_wgs84",
    "transform_coords",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as in the published GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# Bounding box of the standard ``outOfChina`` test.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

#: Convergence threshold of the iterative inverses, in degrees (~1e-5 m).
_INVERSE_TOL = 1e-10
_INVERSE_MAX_ITER = 30

ArrayLike = Any  # float, sequence of floats or numpy array
LonLat = tuple[Any, Any]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return x, y, scalar


def _ret(x: np.ndarray, y: np.ndarray, scalar: bool) -> LonLat:
    if scalar:
        return float(x), float(y)
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies outside the GCJ-02 bounding box (or is not finite).

    >>> bool(out_of_china(2.35, 48.85)), bool(out_of_china(113.26, 23.13))
    (True, False)
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    inside = (
        (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    )
    return ~inside


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 position (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))

    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0

    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0

    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(radlat) * pi)
    return dlon, dlat


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    tx: np.ndarray,
    ty: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    active: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from (x0, y0).

    Works because the offsets are smooth and tiny compared with their argument (the Jacobian
    of ``forward`` is the identity plus terms of order 1e-4), so each step shrinks the error
    by ~1e-4: 2–3 iterations reach the tolerance in practice.
    """
    x = x0.copy()
    y = y0.copy()
    idx = np.flatnonzero(active.ravel())
    xf, yf = x.reshape(-1), y.reshape(-1)
    txf, tyf = tx.reshape(-1), ty.reshape(-1)
    for _ in range(_INVERSE_MAX_ITER):
        if idx.size == 0:
            break
        fx, fy = forward(xf[idx], yf[idx])
        ex = fx - txf[idx]
        ey = fy - tyf[idx]
        xf[idx] -= ex
        yf[idx] -= ey
        err = np.maximum(np.abs(ex), np.abs(ey))
        idx = idx[~(err < _INVERSE_TOL)]
    return xf.reshape(x.shape), yf.reshape(y.shape)


# ---------------------------------------------------------------------------
# point conversions (vectorised)
# ---------------------------------------------------------------------------


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 → GCJ-02 (AMap/Tencent), by the published formula.

    Accepts scalars or arrays (broadcast together); returns floats for scalar input, numpy
    arrays otherwise. Points outside China are returned unchanged.

    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(lon, 9), round(lat, 9)
    (116.410244499, 39.916404282)
    >>> wgs84_to_gcj02([2.35], [48.85])          # Paris: unchanged
    (array([2.35]), array([48.85]))
    """
    x, y, scalar = _as_arrays(lon, lat)
    dlon, dlat = _gcj_delta(x, y)
    outside = out_of_china(x, y)
    gx = np.where(outside, x, x + dlon)
    gy = np.where(outside, y, y + dlat)
    return _ret(gx, gy, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 → WGS84, by fixed-point iteration on the forward formula (error < 1e-10°).

    Points outside China are returned unchanged.

    >>> lon, lat = gcj02_to_wgs84(113.9171764808363, 22.540796131694766)
    >>> round(lon, 7), round(lat, 7)
    (113.912316, 22.543847)
    """
    x, y, scalar = _as_arrays(lon, lat)
    active = ~out_of_china(x, y)
    dlon, dlat = _gcj_delta(x, y)
    x0 = np.where(active, x - dlon, x)  # the usual one-step approximation as a start
    y0 = np.where(active, y - dlat, y)

    def forward(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        da, db = _gcj_delta(a, b)
        return a + da, b + db

    wx, wy = _invert(forward, x, y, x0, y0, active)
    return _ret(wx, wy, scalar)


def _gcj_to_bd(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """GCJ-02 → BD-09 (Baidu), by Baidu's published formula.

    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(lon, 9), round(lat, 9)
    (116.410369494, 39.921336994)
    """
    x, y, scalar = _as_arrays(lon, lat)
    bx, by = _gcj_to_bd(x, y)
    return _ret(bx, by, scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 → GCJ-02: closed-form approximation refined by fixed-point iteration.

    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    x, y, scalar = _as_arrays(lon, lat)
    xs = x - 0.0065
    ys = y - 0.006
    z = np.hypot(xs, ys) - 0.00002 * np.sin(ys * _X_PI)
    theta = np.arctan2(ys, xs) - 0.000003 * np.cos(xs * _X_PI)
    x0 = z * np.cos(theta)
    y0 = z * np.sin(theta)
    active = np.isfinite(x) & np.isfinite(y)
    gx, gy = _invert(_gcj_to_bd, x, y, x0, y0, active)
    return _ret(gx, gy, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """WGS84 → BD-09 (via GCJ-02)."""
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = wgs84_to_gcj02(x, y)
    bx, by = _gcj_to_bd(gx, gy)
    return _ret(bx, by, scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """BD-09 → WGS84 (via GCJ-02), both inverses iterated."""
    x, y, scalar = _as_arrays(lon, lat)
    gx, gy = bd09_to_gcj02(x, y)
    wx, wy = gcj02_to_wgs84(gx, gy)
    return _ret(wx, wy, scalar)


# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CoordSystem:
    """A coordinate system the platform accepts.

    ``kind`` is one of ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` or ``"epsg"``;
    ``epsg`` is the EPSG code where one exists (None for GCJ-02 and BD-09, which are not
    datums but obfuscated WGS84 longitude/latitude).
    """

    kind: str
    epsg: int | None = None

    @property
    def is_wgs84_equivalent(self) -> bool:
        """True for WGS84 and CGCS2000 (equal within centimetres; no conversion is done)."""
        return self.kind in ("wgs84", "cgcs2000")

    def __str__(self) -> str:
        return f"EPSG:{self.epsg}" if self.kind == "epsg" else self.kind


WGS84 = CoordSystem("wgs84", 4326)
CGCS2000 = CoordSystem("cgcs2000", 4490)
GCJ02 = CoordSystem("gcj02", None)
BD09 = CoordSystem("bd09", None)

#: Names accepted by :func:`parse_crs` (case, "-", "_" and spaces are ignored).
VALID_NAMES = ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:<code>")

_ALIASES = {
    "wgs84": WGS84,
    "cgcs2000": CGCS2000,
    "gcj02": GCJ02,
    "bd09": BD09,
}


def parse_crs(name: str | CoordSystem) -> CoordSystem:
    """Parse a coordinate-system name.

    Accepts ``wgs84``, ``cgcs2000`` (EPSG:4490; treated as equal to WGS84, the two differ by
    centimetres), ``gcj02`` (AMap, Tencent), ``bd09`` (Baidu) and ``EPSG:<code>`` (any code
    pyproj knows). Case, ``-``, ``_`` and spaces are ignored, so ``"WGS-84"`` and ``"GCJ_02"``
    work. ``EPSG:4326`` and ``EPSG:4490`` give the same objects as ``wgs84`` and ``cgcs2000``.

    >>> parse_crs("WGS84")
    CoordSystem(kind='wgs84', epsg=4326)
    >>> parse_crs("epsg:4490")
    CoordSystem(kind='cgcs2000', epsg=4490)
    >>> parse_crs("EPSG:32649")
    CoordSystem(kind='epsg', epsg=32649)
    >>> parse_crs("mars")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown coordinate system 'mars': expected one of wgs84, cgcs2000, gcj02, ...
    """
    if isinstance(name, CoordSystem):
        return name
    if not isinstance(name, str):
        raise ValueError(
            f"coordinate system must be a string, got {type(name).__name__}: expected one of "
            + ", ".join(VALID_NAMES)
        )
    key = name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("epsg:"):
        code_text = key[5:]
        if not code_text.isdigit():
            raise ValueError(
                f"invalid EPSG code in {name!r}: expected EPSG:<integer>, e.g. EPSG:4326"
            )
        code = int(code_text)
        if code == 4326:
            return WGS84
        if code == 4490:
            return CGCS2000
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_epsg(code)
        except CRSError as exc:
            raise ValueError(f"unknown EPSG code {code} in {name!r}: {exc}") from None
        return CoordSystem("epsg", code)
    raise ValueError(
        f"unknown coordinate system {name!r}: expected one of " + ", ".join(VALID_NAMES)
    )


# ---------------------------------------------------------------------------
# coordinates arrays and geometries
# ---------------------------------------------------------------------------


def _to_wgs84_func(cs: CoordSystem) -> Callable[[np.ndarray, np.ndarray], LonLat] | None:
    if cs.is_wgs84_equivalent:
        return None
    if cs.kind == "gcj02":
        return gcj02_to_wgs84
    if cs.kind == "bd09":
        return bd09_to_wgs84
    from pyproj import Transformer

    t = Transformer.from_crs(f"EPSG:{cs.epsg}", "EPSG:4326", always_xy=True)
    return lambda x, y: t.transform(x, y)


def _from_wgs84_func(cs: CoordSystem) -> Callable[[np.ndarray, np.ndarray], LonLat] | None:
    if cs.is_wgs84_equivalent:
        return None
    if cs.kind == "gcj02":
        return wgs84_to_gcj02
    if cs.kind == "bd09":
        return wgs84_to_bd09
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", f"EPSG:{cs.epsg}", always_xy=True)
    return lambda x, y: t.transform(x, y)


def transform_coords(
    coords: np.ndarray, src: str | CoordSystem, dst: str | CoordSystem = "wgs84"
) -> np.ndarray:
    """Convert an (N, 2) or (N, 3) array of x/lon, y/lat[, z] from ``src`` to ``dst``.

    Goes through WGS84. Z values are passed through unchanged. Returns a new array.

    >>> transform_coords(np.array([[116.404, 39.915]]), "wgs84", "gcj02").round(6)
    array([[116.410244,  39.916404]])
    """
    s, d = parse_crs(src), parse_crs(dst)
    out = np.array(coords, dtype=float, copy=True)
    if s == d or (s.is_wgs84_equivalent and d.is_wgs84_equivalent) or out.size == 0:
        return out
    x, y = out[:, 0], out[:, 1]
    f = _to_wgs84_func(s)
    if f is not None:
        x, y = f(x, y)
    g = _from_wgs84_func(d)
    if g is not None:
        x, y = g(x, y)
    out[:, 0] = x
    out[:, 1] = y
    return out


def transform_geometry(geom: Any, src: str | CoordSystem, dst: str | CoordSystem = "wgs84") -> Any:
    """Convert a shapely geometry (or array of geometries) from ``src`` to ``dst``.

    Vectorised over all coordinates with :func:`shapely.transform`; the geometry type and
    structure are kept (the offsets vary smoothly over hundreds of kilometres, so a valid
    polygon stays valid), Z values are kept unchanged and None/empty geometries pass through.

    >>> from shapely import Point
    >>> p = transform_geometry(Point(113.9171764808363, 22.540796131694766), "gcj02")
    >>> shapely.to_wkt(p, rounding_precision=7)
    'POINT (113.912316 22.543847)'
    """
    s, d = parse_crs(src), parse_crs(dst)

    def func(coords: np.ndarray) -> np.ndarray:
        return transform_coords(coords, s, d)

    arr = np.asarray(geom, dtype=object)
    if arr.ndim == 0:
        g = arr.item()
        if g is None:
            return None
        return shapely.transform(g, func, include_z=bool(shapely.has_z(g)))
    out = np.empty(arr.shape, dtype=object)
    has_z = shapely.has_z(arr)
    for z in (False, True):
        mask = has_z == z
        if mask.any():
            out[mask] = shapely.transform(arr[mask], func, include_z=z)
    return out


def to_wgs84(obj: gpd.GeoDataFrame | gpd.GeoSeries, src: str | CoordSystem) -> Any:
    """Return a copy of a GeoDataFrame/GeoSeries converted from ``src`` to WGS84 (EPSG:4326).

    ``src`` is required because GCJ-02 and BD-09 data usually arrives labelled EPSG:4326 or
    without a CRS at all. If ``src`` is an EPSG code and the object carries a different CRS,
    that is an error.

    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> gs = gpd.GeoSeries([Point(113.9171764808363, 22.540796131694766)])
    >>> out = to_wgs84(gs, "gcj02")
    >>> out.crs.to_epsg(), round(out.iloc[0].x, 6), round(out.iloc[0].y, 6)
    (4326, 113.912316, 22.543847)
    """
    import geopandas as gpd

    s = parse_crs(src)
    if s.kind == "epsg" and obj.crs is not None and obj.crs.to_epsg() != s.epsg:
        raise ValueError(f"src is {s} but the data is labelled {obj.crs.to_string()}")
    if isinstance(obj, gpd.GeoDataFrame):
        col = obj.geometry.name
        new = transform_geometry(obj.geometry.values.to_numpy(), s, WGS84)
        out = obj.copy()
        out[col] = gpd.GeoSeries(new, index=obj.index, crs="EPSG:4326")
        return out.set_crs("EPSG:4326", allow_override=True)
    if isinstance(obj, gpd.GeoSeries):
        new = transform_geometry(obj.values.to_numpy(), s, WGS84)
        return gpd.GeoSeries(new, index=obj.index, crs="EPSG:4326", name=obj.name)
    raise TypeError(f"expected a GeoDataFrame or GeoSeries, got {type(obj).__name__}")
