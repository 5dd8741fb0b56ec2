"""Derived (示意) township and village boundaries of a county that has no real polygons.

A county set up with ``gongjian county init`` has codes, names and its real outline, but no
township or village polygons. After every household or hamlet import (and with
``gongjian county boundaries CODE``) this module derives them from the points
(:func:`geo.derived_boundaries.derive_boundaries`, over the DEM when one is loaded), clipped
to the county, and stores them with ``boundary_derived = true``. Membership and statistics
never come from these polygons: households carry their village code.

A county with any real (imported) township or village polygon is left alone: real polygons
win, and mixing the two would leave the derived ones overlapping the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
import sqlalchemy as sa

from geo.derived_boundaries import derive_boundaries, read_elevation


class DerivationError(ValueError):
    """Boundaries cannot be derived for this county (unknown, or no outline)."""


@dataclass
class DerivationReport:
    county_code: str
    points: int = 0
    villages: int = 0
    townships: int = 0
    villages_without_points: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # same place, different villages
    outside_county: list[str] = field(default_factory=list)  # household numbers
    over_terrain: bool = False
    skipped: str | None = None  # why nothing was derived

    def describe(self) -> str:
        if self.skipped:
            return f"{self.county_code}: no boundaries derived ({self.skipped})"
        text = (
            f"{self.county_code}: derived approximate boundaries (示意界线) of "
            f"{self.townships} townships and {self.villages} villages from {self.points} "
            f"points{' over the DEM' if self.over_terrain else ''}"
        )
        if self.villages_without_points:
            text += (
                f"; {len(self.villages_without_points)} villages have no household or hamlet "
                "point yet and no polygon"
            )
        if self.outside_county:
            text += (
                f"; {len(self.outside_county)} households lie outside the county outline "
                f"(e.g. {', '.join(self.outside_county[:5])}): check their coordinates"
            )
        if self.conflicts:
            text += f"; {len(self.conflicts)} places hold households of several villages: " + (
                "; ".join(self.conflicts[:5])
            )
        return text


POINTS_SQL = """
SELECT h.village_code, h.household_no AS label, h.geom FROM household h
WHERE left(h.village_code, 6) = :county
UNION ALL
SELECT m.village_code, '自然村 ' || m.name AS label, m.geom FROM hamlet m
WHERE left(m.village_code, 6) = :county
ORDER BY 1, 2
"""

DEM_SQL = """
SELECT r.path FROM raster r, county c
WHERE c.code = :county AND r.kind = 'dem' AND ST_Covers(r.bounds, c.geom)
ORDER BY r.resolution_m, r.id
"""


def has_real_polygons(conn: sa.Connection, county: str) -> bool:
    return bool(
        conn.execute(
            sa.text("""
            SELECT EXISTS (SELECT 1 FROM township WHERE county_code = :c AND geom IS NOT NULL
                             AND NOT boundary_derived)
                OR EXISTS (SELECT 1 FROM village WHERE left(code, 6) = :c AND geom IS NOT NULL
                             AND NOT boundary_derived)"""),
            {"c": county},
        ).scalar()
    )


def refresh_derived_boundaries(conn: sa.Connection, county: str) -> DerivationReport:
    """Derive and store the county's township and village boundaries (in ``conn``'s
    transaction). Unchanged polygons are not rewritten, so a re-run changes nothing."""
    report = DerivationReport(county)
    outline = conn.execute(
        sa.text("SELECT ST_AsBinary(geom) FROM county WHERE code = :c"), {"c": county}
    ).scalar()
    if outline is None:
        raise DerivationError(f"no county {county} in the database (run gongjian county init)")
    if has_real_polygons(conn, county):
        report.skipped = "it has imported township or village polygons"
        return report
    frame = shapely.from_wkb(bytes(outline))
    points = gpd.read_postgis(sa.text(POINTS_SQL), conn, geom_col="geom", params={"county": county})
    report.points = len(points)
    if points.empty:
        _store(conn, county, {}, {})
        report.skipped = "no household or hamlet points yet"
        return report
    elevation = _elevation(conn, county, frame)
    report.over_terrain = elevation is not None
    derived = derive_boundaries(points, frame, elevation)
    villages = dict(zip(derived.villages["code"], derived.villages.geometry, strict=True))
    townships = dict(zip(derived.townships["code"], derived.townships.geometry, strict=True))
    _store(conn, county, villages, townships)
    report.villages, report.townships = len(villages), len(townships)
    report.villages_without_points = _without_points(conn, county, set(villages))
    report.outside_county = [
        str(points["label"].iloc[i])
        for i in derived.outside_frame
        if not str(points["label"].iloc[i]).startswith("自然村")
    ]
    report.conflicts = [
        f"({x:.6f}, {y:.6f}): {'、'.join(codes)}" for x, y, codes in derived.conflicts
    ]
    return report


def refresh_after_import(conn: sa.Connection, village_codes: list[str]) -> list[str]:
    """Re-derive the boundaries of the counties of ``village_codes`` that have no real ones;
    returns notes for the import summary."""
    notes = []
    for county in sorted({c[:6] for c in village_codes if c}):
        if has_real_polygons(conn, county):
            continue
        notes.append(refresh_derived_boundaries(conn, county).describe())
    return notes


def _elevation(conn: sa.Connection, county: str, frame):
    for path in conn.execute(sa.text(DEM_SQL), {"county": county}).scalars():
        if Path(path).is_file():
            return read_elevation(path, frame)
    return None


def _store(conn: sa.Connection, county: str, villages: dict, townships: dict) -> None:
    for table, geoms, scope in (
        ("village", villages, "left(code, 6) = :county"),
        ("township", townships, "county_code = :county"),
    ):
        codes = list(geoms)
        wkb = [shapely.to_wkb(g) for g in geoms.values()]  # MultiPolygons (geo module)
        conn.execute(
            sa.text(f"""
            UPDATE {table} t SET geom = d.geom, boundary_derived = true
            FROM (SELECT code, ST_SetSRID(ST_GeomFromWKB(w), 4326) AS geom
                  FROM unnest(CAST(:codes AS text[]), CAST(:wkb AS bytea[])) AS u(code, w)) d
            WHERE t.code = d.code AND (NOT t.boundary_derived OR t.geom IS NULL
                                       OR NOT ST_OrderingEquals(t.geom, d.geom))"""),
            {"codes": codes, "wkb": wkb},
        )
        # units whose points are gone lose their derived polygon
        conn.execute(
            sa.text(f"""
            UPDATE {table} SET geom = NULL, boundary_derived = false
            WHERE {scope} AND boundary_derived AND NOT (code = ANY(:codes))"""),
            {"county": county, "codes": codes},
        )


def _without_points(conn: sa.Connection, county: str, derived: set[str]) -> list[str]:
    codes = conn.execute(
        sa.text("SELECT code FROM village WHERE left(code, 6) = :c ORDER BY code"), {"c": county}
    ).scalars()
    return [c for c in codes if c not in derived]
