"""Loading the synthetic demo world into PostGIS in one transaction.

The world arrives as plain (Geo)DataFrames named by table (see :func:`world_tables`);
columns that the table does not have are left out, geometry goes in as EWKB via COPY.
Loading replaces every synthetic row, so the database holds exactly one demo world; the
``dataset`` table remembers which (its fingerprint), so an unchanged world is not reloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
import rasterio.warp
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.bulk import copy_frame, reset_sequence
from layers.history import backfill_demo_history
from layers.models import Base

DATASET = "lianzhou-demo"

# Insertion order: parents before children. Deleting goes the other way.
TABLE_ORDER = (
    "township",
    "village",
    "hamlet",
    "cadre",
    "work_group",
    "work_group_member",
    "household",
    "household_income",
    "household_member",
    "help_record",
    "visit",
    "river",
    "road",
    "clinic",
    "water",
    "school",
    "hazard_zone",
    "karst_zone",
    "raster",
)
SERIAL_TABLES = (
    "hamlet", "cadre", "work_group", "household", "household_member", "help_record", "visit",
    "river", "road", "clinic", "water", "school", "hazard_zone", "karst_zone", "raster",
)  # fmt: skip


@dataclass(frozen=True)
class DemInfo:
    """A DEM GeoTIFF described for the raster registry."""

    name: str
    path: Path

    def row(self) -> pd.DataFrame:
        with rasterio.open(self.path) as src:
            epsg = src.crs.to_epsg()
            bounds = shapely.box(*rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds))
            resolution = abs(src.res[0]) * (111_320 if src.crs.is_geographic else 1)
        return pd.DataFrame(
            {
                "name": [self.name],
                "kind": ["dem"],
                "path": [str(self.path.resolve())],
                "epsg": [epsg],
                "bounds": gpd.GeoSeries([bounds], crs=4326),
                "resolution_m": [resolution],
                "sha256": [hashlib.sha256(self.path.read_bytes()).hexdigest()],
                "synthetic": [True],
            }
        )


def loaded_fingerprint(engine: Engine, name: str = DATASET) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT fingerprint FROM dataset WHERE name = :name"), {"name": name}
        ).scalar()


def load_world(
    engine: Engine, tables: dict[str, pd.DataFrame], *, fingerprint: str, seed: int
) -> dict[str, int]:
    """Replace the synthetic world in the database with ``tables``; return rows per table."""
    unknown = set(tables) - set(TABLE_ORDER)
    if unknown:
        raise ValueError(f"not demo tables: {sorted(unknown)}")
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        clear_synthetic(conn)
        for table in TABLE_ORDER:
            if table in tables:
                counts[table] = _copy_table(conn, table, tables[table])
        for table in SERIAL_TABLES:
            reset_sequence(conn, table)
        backfill_demo_history(conn)  # the 动态档案: registrations, incomes, exits by date
        _register(conn, fingerprint, seed)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # fresh statistics for the planner after a bulk load
    return counts


def clear_synthetic(conn: sa.Connection) -> None:
    """Delete every synthetic row; children first (households take their records along)."""
    synthetic_townships = "SELECT code FROM township WHERE synthetic"
    statements = [
        "DELETE FROM household WHERE synthetic",
        f"DELETE FROM work_group WHERE township_code IN ({synthetic_townships})",
        "DELETE FROM clinic WHERE synthetic",
        "DELETE FROM cadre WHERE synthetic",
        "DELETE FROM hamlet WHERE synthetic",
        "DELETE FROM village_income WHERE village_code IN "
        "(SELECT code FROM village WHERE synthetic)",
        "DELETE FROM village WHERE synthetic",
        "DELETE FROM township WHERE synthetic",
        *(
            f"DELETE FROM {t} WHERE synthetic"
            for t in ("river", "road", "water", "school", "hazard_zone", "karst_zone", "raster")
        ),
        "DELETE FROM dataset WHERE synthetic",
    ]
    for statement in statements:
        conn.execute(sa.text(statement))


def _copy_table(conn: sa.Connection, table: str, frame: pd.DataFrame) -> int:
    frame = _as_table_columns(table, frame)
    columns = [c.name for c in Base.metadata.tables[table].columns if c.name in frame.columns]
    return copy_frame(conn, table, frame, columns)


def _as_table_columns(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The generator's ``geometry`` column is the table's ``geom``; mark rows synthetic."""
    frame = pd.DataFrame(frame).copy()
    if "geometry" in frame.columns and "geom" not in frame.columns:
        frame = frame.rename(columns={"geometry": "geom"})
    if "synthetic" in Base.metadata.tables[table].columns:
        frame["synthetic"] = True
    for column in Base.metadata.tables[table].columns:
        if column.name in frame.columns and _is_geometry_column(column):
            frame[column.name] = _promote(frame[column.name], column.type.geometry_type)
    return frame


def _is_geometry_column(column: sa.Column) -> bool:
    return getattr(column.type, "geometry_type", None) is not None


def _promote(values: pd.Series, geometry_type: str) -> pd.Series:
    """Polygons into MULTIPOLYGON columns (and lines likewise), as PostGIS will not cast."""
    if geometry_type == "MULTIPOLYGON":
        fixed = [shapely.multipolygons([g]) if g is not None and g.geom_type == "Polygon" else g
                 for g in values]  # fmt: skip
        return gpd.GeoSeries(fixed, index=values.index, crs=4326)
    return gpd.GeoSeries(values, index=values.index, crs=4326)


def _register(conn: sa.Connection, fingerprint: str, seed: int) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO dataset (name, fingerprint, seed, synthetic) "
            "VALUES (:name, :fingerprint, :seed, true)"
        ),
        {"name": DATASET, "fingerprint": fingerprint, "seed": seed},
    )


# --- building and loading the demo ------------------------------------------------------

DEMO_SEED = 2016
LIANZHOU = "441882"


def demo_fingerprint(seed: int) -> str:
    """Changes when the seed, the generator or the county boundary changes."""
    from geo.demo import GENERATOR_VERSION
    from geo.paths import GUANGDONG_COUNTIES

    digest = hashlib.sha256()
    digest.update(f"{GENERATOR_VERSION}:{seed}:".encode())
    digest.update(GUANGDONG_COUNTIES.read_bytes())
    return digest.hexdigest()[:16]


def build_world_tables(seed: int, work_dir: Path) -> dict[str, pd.DataFrame]:
    """Generate the demo world (pure geo code) and shape it as table → frame."""
    from geo.demo.people import generate_people
    from geo.demo.world import build_geography, load_county

    geography = build_geography(load_county(LIANZHOU), seed, work_dir)
    people = generate_people(geography.townships, geography.villages, geography.hamlets, seed)
    villages = _merge_village_updates(geography.villages, people.village_updates)
    return {
        "township": geography.townships,
        "village": villages,
        "hamlet": geography.hamlets,
        **people.tables(),
        "river": geography.rivers,
        "road": geography.roads,
        "clinic": geography.clinics,
        "water": geography.water,
        "school": geography.schools,
        "hazard_zone": geography.hazard_zones,
        "karst_zone": geography.karst_zones,
        "raster": DemInfo("lianzhou-dem", geography.dem_path).row(),
    }


def _merge_village_updates(villages: gpd.GeoDataFrame, updates: pd.DataFrame) -> gpd.GeoDataFrame:
    """Helping units and first secretaries come from the people generator."""
    if updates.empty:
        return villages
    merged = villages.drop(columns=[c for c in updates.columns if c != "code"], errors="ignore")
    return merged.merge(updates, on="code", how="left")


def ensure_demo(engine: Engine, home: Path, seed: int = DEMO_SEED, force: bool = False):
    """Load the demo unless the same one is already loaded; returns (loaded?, counts)."""
    fingerprint = demo_fingerprint(seed)
    if not force and loaded_fingerprint(engine) == fingerprint:
        return False, {}
    work_dir = home / "demo" / fingerprint
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir.chmod(0o755)
    tables = build_world_tables(seed, work_dir)
    return True, load_world(engine, tables, fingerprint=fingerprint, seed=seed)
