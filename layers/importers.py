"""Loading files into layers: validate everything first, then write in one transaction.

Each importer returns an :class:`ImportSummary`; any invalid row raises
:class:`ImportError_` naming the file, row and field, and nothing is written.
Re-importing the same file changes nothing (upserts keyed on codes that only touch rows
whose values differ).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.crs import parse_crs, to_wgs84

# A generous box around China: anything outside is a swapped axis or a wrong CRS.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


class ImportError_(ValueError):
    """A file that cannot be loaded; the message names file, row and field."""


@dataclass
class ImportSummary:
    layer: str
    path: Path
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False

    def describe(self) -> str:
        verb = "would load" if self.dry_run else "loaded"
        return (
            f"{verb} {self.path.name} into {self.layer}: read {self.read}, "
            f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}"
        )


@dataclass
class RowErrors:
    """Collects every problem of a file before refusing it, so a clerk fixes all at once."""

    path: Path
    messages: list[str] = field(default_factory=list)

    def add(self, row: int, column: str, problem: str) -> None:
        self.messages.append(f"{self.path.name}: row {row}, field '{column}': {problem}")

    def raise_if_any(self, limit: int = 50) -> None:
        if not self.messages:
            return
        shown = self.messages[:limit]
        more = len(self.messages) - len(shown)
        tail = f"\n... and {more} more" if more else ""
        raise ImportError_(
            f"{len(self.messages)} problem(s), nothing was loaded:\n" + "\n".join(shown) + tail
        )


def read_layer(path: Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read any GDAL vector file into WGS84; refuse files whose CRS is unknown."""
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # GDAL's errors come in many types; say which file
        raise ImportError_(f"{path.name}: cannot be read as a vector file: {exc}") from exc
    if crs is not None:
        frame = to_wgs84(frame.set_crs(None, allow_override=True), parse_crs(crs))
    elif frame.crs is None:
        raise ImportError_(
            f"{path.name}: the file declares no coordinate system; "
            "say which with --crs wgs84|cgcs2000|gcj02|bd09|EPSG:n"
        )
    elif frame.crs.to_epsg() not in (4326, 4490):
        frame = frame.to_crs(4326)
    return frame.set_crs(4326, allow_override=True)


def check_geometries(frame: gpd.GeoDataFrame, errors: RowErrors, kinds: set[str]) -> None:
    """Empty, invalid, wrongly typed or out-of-China geometries, each named by row."""
    minx, miny, maxx, maxy = CHINA_BOUNDS
    for row, geom in enumerate(frame.geometry, start=2):  # row 1 is the header
        if geom is None or geom.is_empty:
            errors.add(row, "geometry", "empty geometry")
        elif geom.geom_type not in kinds:
            errors.add(row, "geometry", f"{geom.geom_type}, expected {' or '.join(sorted(kinds))}")
        elif not geom.is_valid:
            errors.add(row, "geometry", f"invalid: {shapely.is_valid_reason(geom)}")
        else:
            x0, y0, x1, y1 = geom.bounds
            if x0 < minx or x1 > maxx or y0 < miny or y1 > maxy:
                errors.add(row, "geometry", f"outside China ({x0:.4f}, {y0:.4f}): wrong CRS?")


def check_codes(frame: gpd.GeoDataFrame, column: str, digits: int, errors: RowErrors) -> None:
    pattern = re.compile(rf"^\d{{{digits}}}$")
    if column not in frame.columns:
        errors.add(1, column, "column missing")
        return
    seen: dict[str, int] = {}
    for row, value in enumerate(frame[column].astype(str).str.strip(), start=2):
        if not pattern.match(value):
            errors.add(row, column, f"{value!r} is not a {digits}-digit code")
        elif value in seen:
            errors.add(row, column, f"{value} repeats row {seen[value]}")
        else:
            seen[value] = row


def import_boundaries(
    engine: Engine, path: Path, *, actor: str, dry_run: bool = False, crs: str | None = None
) -> ImportSummary:
    """County boundaries (code, name, city, city_code, pairing_city) into ``county``."""
    frame = read_layer(path, crs)
    errors = RowErrors(path)
    check_codes(frame, "code", 6, errors)
    for column in ("name", "city"):
        if column not in frame.columns:
            errors.add(1, column, "column missing")
    check_geometries(frame, errors, {"Polygon", "MultiPolygon"})
    errors.raise_if_any()

    rows = [
        {
            "code": str(rec.code).strip(),
            "name": str(rec.name).strip(),
            "city": str(rec.city).strip(),
            # A county code's first four digits are its city's (GB/T 2260).
            "city_code": _optional(getattr(rec, "city_code", None)) or str(rec.code).strip()[:4],
            "pairing_city": _optional(getattr(rec, "pairing_city", None)),
            "wkb": shapely.to_wkb(shapely.multipolygons([rec.geometry])
                                  if rec.geometry.geom_type == "Polygon" else rec.geometry),
        }
        for rec in frame.itertuples()
    ]  # fmt: skip
    summary = ImportSummary("county", path, read=len(rows), dry_run=dry_run)
    with engine.begin() as conn:
        for row in rows:
            outcome = conn.execute(UPSERT_COUNTY, row).scalar()
            _count(summary, outcome)
        _audit_import(conn, "county", path, actor, summary)
        if dry_run:
            conn.rollback()
    return summary


UPSERT_COUNTY = sa.text(
    """
    INSERT INTO county (code, name, city, city_code, pairing_city, geom, synthetic)
    VALUES (:code, :name, :city, :city_code, :pairing_city, ST_GeomFromWKB(:wkb, 4326), false)
    ON CONFLICT (code) DO UPDATE SET
        name = excluded.name, city = excluded.city, city_code = excluded.city_code,
        pairing_city = excluded.pairing_city, geom = excluded.geom
    WHERE (county.name, county.city, county.city_code, county.pairing_city)
              IS DISTINCT FROM (excluded.name, excluded.city, excluded.city_code,
                                excluded.pairing_city)
       OR NOT ST_Equals(county.geom, excluded.geom)
    RETURNING CASE WHEN xmax = 0 THEN 'inserted' ELSE 'updated' END
    """
)


def _count(summary: ImportSummary, outcome: str | None) -> None:
    if outcome == "inserted":
        summary.inserted += 1
    elif outcome == "updated":
        summary.updated += 1
    else:  # the WHERE clause skipped an identical row
        summary.unchanged += 1


def _audit_import(
    conn: sa.Connection, table: str, path: Path, actor: str, s: ImportSummary
) -> None:
    if s.inserted == 0 and s.updated == 0:
        return  # an idempotent re-run is not a change
    conn.execute(
        sa.text(
            "INSERT INTO audit_log (table_name, row_id, action, actor, after) "
            "VALUES (:table, NULL, 'import', :actor, CAST(:after AS jsonb))"
        ),
        {
            "table": table,
            "actor": actor,
            "after": json.dumps(
                {"file": path.name, "inserted": s.inserted, "updated": s.updated},
                ensure_ascii=False,
            ),
        },
    )


def _optional(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


Importer = Callable[..., ImportSummary]
IMPORTERS: dict[str, Importer] = {"boundaries": import_boundaries}
