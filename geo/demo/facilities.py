"""Clinics, schools and water supply of the demo county.

* clinics: the county hospital in 连州镇, a township health centre (卫生院) at every seat,
  a village clinic (卫生站) in most villages — not all standardised (标准化), some missing;
* schools: senior high schools in 连州镇, a junior middle school and a central primary at
  every seat, primaries in many villages and teaching points (教学点) in remote ones;
* water: reservoirs dammed in mountain valleys, a waterworks at every seat with its supply
  area (cells within reach along the valleys), village intakes on mountain streams; each
  hamlet's ``piped_water`` follows from these.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage

from geo.demo import names
from geo.demo.admin import CRS, as_multipolygon
from geo.demo.grid import mcp, polygonize, window_around
from geo.demo.terrain import Terrain

SUPPLY_REACH = 6000.0  # cost-metres of valley reach of a township waterworks


def _near(point, rng, metres: float) -> shapely.Point:
    """A point about ``metres`` from ``point`` in a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    return shapely.Point(
        point.x + np.cos(angle) * metres / 101_000, point.y + np.sin(angle) * metres / 110_600
    )


def _short(name: str) -> str:
    return name.removesuffix("瑶族乡").removesuffix("镇")


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(rows, geometry="geom", crs=CRS)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["synthetic"] = True
    return frame


def build_clinics(townships, villages, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """County hospital, township health centres and village clinics (some substandard)."""
    rows = []
    city = townships.iloc[0]
    rows.append(
        {
            "name": "连州市人民医院",
            "level": "county_hospital",
            "standard": True,
            "township_code": city.code,
            "village_code": None,
            "geom": _near(city.seat, rng, 700),
        }
    )
    for t in townships.itertuples():
        rows.append(
            {
                "name": f"{t.name}卫生院",
                "level": "township_health_centre",
                "standard": True,
                "township_code": t.code,
                "village_code": None,
                "geom": _near(t.seat, rng, 200),
            }
        )
    for v in villages.itertuples():
        if rng.random() > (0.8 if v.is_poor_village else 0.9):
            continue  # no clinic in this village
        standard = rng.random() < (0.45 if v.is_poor_village else 0.75)
        rows.append(
            {
                "name": f"{v.name.removesuffix('村')}卫生站",
                "level": "village_clinic",
                "standard": standard,
                "township_code": v.township_code,
                "village_code": v.code,
                "geom": _near(v.centre, rng, 60),
            }
        )
    return _frame(rows)


def build_schools(townships, villages, terrain: Terrain, rng) -> gpd.GeoDataFrame:
    """Senior, junior, primary schools and teaching points."""
    city = townships.iloc[0]
    rows = [
        {"name": "连州中学", "level": "senior", "geom": _near(city.seat, rng, 900)},
        {"name": "连州市北山中学", "level": "senior", "geom": _near(city.seat, rng, 1500)},
    ]
    for t in townships.itertuples():
        rows.append(
            {"name": f"{_short(t.name)}中学", "level": "junior", "geom": _near(t.seat, rng, 400)}
        )
        rows.append(
            {
                "name": f"{_short(t.name)}中心小学",
                "level": "primary",
                "geom": _near(t.seat, rng, 250),
            }
        )
    seat_villages = set(villages.groupby("township_code").code.first())
    for v in villages.itertuples():
        if v.code in seat_villages:
            continue
        r, c = terrain.coarse.rowcol(v.centre.x, v.centre.y)
        stem = v.name.removesuffix("村")
        if rng.random() < 0.55:
            rows.append(
                {"name": f"{stem}小学", "level": "primary", "geom": _near(v.centre, rng, 80)}
            )
        elif terrain.elev[r, c] > 350 and rng.random() < 0.6:
            rows.append(
                {
                    "name": f"{stem}教学点",
                    "level": "teaching_point",
                    "geom": _near(v.centre, rng, 80),
                }
            )
    return _frame(rows)


def build_reservoirs(terrain: Terrain, rng) -> list[tuple[str, shapely.Geometry, float]]:
    """Two reservoirs dammed ~30 m high in mountain valleys: (name, polygon, water level)."""
    acc, grid = terrain.acc_km2, terrain.coarse
    inner = ndimage.binary_erosion(terrain.county_mask, iterations=15)
    ok = inner & (acc >= 40) & (acc <= 250) & (terrain.uplift > 0.35)
    rows, cols = np.nonzero(ok)
    if rows.size == 0:
        return []
    lon, lat = grid.centres(rows, cols)
    # 潭岭水库, the big reservoir up the 星子河 east of 星子 (approximate), then one at random.
    first = int(np.argmin((lon - 112.68) ** 2 + (lat - 25.03) ** 2))
    second = int(rng.integers(rows.size))
    result = []
    for name, k in (("潭岭水库", first), (f"{names.place_stem(rng)}水库", second)):
        lake = _reservoir(terrain, int(rows[k]), int(cols[k]))
        if lake is not None and all(not lake[0].intersects(other) for _, other, _ in result):
            result.append((name, lake[0], lake[1]))
    return result


def _reservoir(terrain: Terrain, r: int, c: int):
    """Flood the dam's catchment below dam level (the valley behind the dam)."""
    grid = terrain.coarse
    level = float(terrain.elev[r, c]) + 30.0
    r0, r1 = max(r - 60, 0), min(r + 61, grid.height)
    c0, c1 = max(c - 60, 0), min(c + 61, grid.width)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    cells = (rr * grid.width + cc).ravel()
    dam = r * grid.width + c
    reaches = np.zeros(cells.size, dtype=bool)
    current = cells.copy()
    for _ in range(200):  # follow each cell downstream: does it pass the dam?
        reaches |= current == dam
        current = np.where(current >= 0, terrain.parent[np.maximum(current, 0)], -1)
    flooded = (reaches & (terrain.elev.ravel()[cells] < level)).reshape(rr.shape)
    flooded[r - r0, c - c0] = False
    labels, _ = ndimage.label(flooded)
    if flooded.sum() < 20:
        return None
    biggest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    lake = polygonize(np.where(labels == biggest, 0, -1), grid.sub(r0, r1, c0, c1))[0]
    lake = lake.simplify(grid.res).buffer(grid.res * 0.6).buffer(-grid.res * 0.6)
    return as_multipolygon(shapely.make_valid(lake.simplify(grid.res * 0.2))), level


def build_water(
    terrain: Terrain, townships, villages, hamlets, reservoirs, rng
) -> tuple[gpd.GeoDataFrame, dict[int, bool]]:
    """Waterworks, supply areas, intakes and reservoirs; and piped water per hamlet id."""
    rows = [{"name": name, "kind": "reservoir", "geom": lake} for name, lake, _ in reservoirs]
    supply = []
    for t in townships.itertuples():
        rows.append(
            {"name": f"{_short(t.name)}水厂", "kind": "waterworks", "geom": _near(t.seat, rng, 600)}
        )
        area = _supply_area(terrain, t)
        supply.append(area)
        rows.append({"name": f"{_short(t.name)}水厂供水范围", "kind": "supply_area", "geom": area})
    served = shapely.union_all(supply)
    intakes = _intakes(terrain, villages, served, rng)
    for code, point in sorted(intakes.items()):
        name = villages.loc[villages.code == code, "name"].iloc[0]
        rows.append({"name": f"{name}取水点", "kind": "intake", "geom": point})
    return _frame(rows), _piped(hamlets, served, intakes, rng)


def _supply_area(terrain: Terrain, township) -> shapely.Geometry:
    """Cells of the township within SUPPLY_REACH cost-metres of the seat along valleys."""
    grid = terrain.coarse
    r0, r1, c0, c1 = window_around(grid, township.geom.bounds, 2)
    sub = grid.sub(r0, r1, c0, c1)
    slope = np.tan(np.radians(terrain.slope[r0:r1, c0:c1]))
    cost = 1 + 40 * slope**2 + terrain.hand[r0:r1, c0:c1] / 10
    seat = tuple(int(v) for v in sub.rowcol(township.seat.x, township.seat.y))
    reach, _ = mcp(cost, sub).find_costs([seat])
    labels = np.where(reach <= SUPPLY_REACH, 0, -1)
    area = polygonize(labels, sub)[0].simplify(grid.res * 0.5)
    return as_multipolygon(shapely.make_valid(area.intersection(township.geom)))


def _intakes(terrain: Terrain, villages, served, rng) -> dict[str, shapely.Point]:
    """A stream intake above the centre of about half of the villages not served."""
    grid = terrain.coarse
    result = {}
    for v in villages.itertuples():
        if served.contains(v.centre) or rng.random() < 0.45:
            continue
        r, c = grid.rowcol(v.centre.x, v.centre.y)
        r0, r1, c0, c1 = max(r - 25, 0), r + 26, max(c - 25, 0), c + 26
        acc = terrain.acc_km2[r0:r1, c0:c1]
        above = terrain.elev[r0:r1, c0:c1] > terrain.elev[r, c] + 20
        rows, cols = np.nonzero((acc >= 0.3) & (acc <= 10) & above)
        if rows.size == 0:
            continue
        k = int(np.argmin(np.hypot(rows + r0 - r, cols + c0 - c)))
        lon, lat = grid.centres(rows[k] + r0, cols[k] + c0)
        point = shapely.Point(float(lon), float(lat))
        if v.geom.contains(point):
            result[v.code] = point
    return result


def _piped(hamlets, served, intakes, rng) -> dict[int, bool]:
    """Piped water: inside a supply area, or gravity-fed from the village intake."""
    piped = {}
    for h in hamlets.itertuples():
        if served.contains(h.geom):
            piped[h.id] = not h.lacking_conditions or rng.random() < 0.3
        elif h.village_code in intakes and not h.lacking_conditions:
            piped[h.id] = rng.random() < 0.8
        else:
            piped[h.id] = False
    return piped
