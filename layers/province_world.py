"""Building and loading the province world: every county's synthetic world, county by county.

Each county is generated in a worker process (``geo.demo.county_world``; deterministic per
seed and county code, so the worker count and order do not matter) and loaded in its own
transaction by COPY. A county that fails to build or load is reported (code, name,
reason) and the others are still loaded.

Ids: every generator numbers its rows from 1; in the database a county's serial ids are
shifted by ``ID_BLOCK`` × the county's rank among the shipped county codes, so ids never
collide across counties and reloading a county replaces exactly its own rows. Household
numbers are village code + sequence and so are unique already.

The database holds one synthetic world: loading the province replaces the Lianzhou demo
(whose townships share codes with the province's 连州市), and ``gongjian demo`` replaces
the province world again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.bulk import reset_sequence
from layers.demo import DATASET as LIANZHOU_DATASET
from layers.demo import SERIAL_TABLES, TABLE_ORDER, _copy_table, clear_synthetic
from layers.models import Base

DATASET = "guangdong-province-demo"
PROVINCE_SEED = 2  # seed 002: the province's numbers
ID_BLOCK = 10_000_000  # ids per county; the largest county has well under a million rows


@dataclass
class CountyResult:
    """What happened to one county: rows loaded per table, or why it failed."""

    code: str
    name: str
    build_seconds: float = 0.0
    load_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def county_codes() -> list[str]:
    """Every county-level unit in the shipped boundaries file, in code order."""
    import geopandas as gpd

    from geo.paths import GUANGDONG_COUNTIES

    codes = gpd.read_file(GUANGDONG_COUNTIES, columns=["code"], ignore_geometry=True)["code"]
    return sorted(str(c) for c in codes)


def county_name(code: str) -> str:
    from geo import divisions

    division = divisions.get(code)
    return division.name if division else "?"


def household_counts(seed: int) -> dict[str, int]:
    """Households per county as the province generator spreads seed 002's 708,000."""
    import geopandas as gpd

    from geo.demo.province import generate_province
    from geo.paths import GUANGDONG_COUNTIES

    _, households = generate_province(gpd.read_file(GUANGDONG_COUNTIES), seed)
    return {str(k): int(v) for k, v in households["county_code"].value_counts().items()}


def build_county(code: str, seed: int, work_dir: str, n_households: int | None):
    """Worker entry point: (the county's tables, seconds taken), or raises."""
    from geo.demo.county_world import build_county_tables

    started = time.monotonic()
    tables = build_county_tables(code, seed, Path(work_dir), n_households)
    return tables, time.monotonic() - started


def build_and_load(
    engine: Engine,
    codes: Iterable[str],
    *,
    seed: int = PROVINCE_SEED,
    work_dir: Path,
    jobs: int = 1,
    progress: Callable[[CountyResult], None] | None = None,
    households: dict[str, int] | None = None,
) -> list[CountyResult]:
    """Build the counties in ``jobs`` processes and load each as it arrives."""
    codes = list(dict.fromkeys(codes))
    ranks = {c: i for i, c in enumerate(county_codes())}
    households = households if households is not None else household_counts(seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir.chmod(0o755)
    prepare_database(engine, seed)
    results: list[CountyResult] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {}
        for code in codes:
            if code not in ranks:
                results.append(_failed(code, "not a county in the boundaries file", progress))
                continue
            future = pool.submit(build_county, code, seed, str(work_dir), households.get(code))
            futures[future] = code
        for future in as_completed(futures):
            code = futures[future]
            result = CountyResult(code, county_name(code))
            try:
                tables, result.build_seconds = future.result()
                started = time.monotonic()
                result.counts = load_county(engine, code, ranks[code], tables)
                result.load_seconds = time.monotonic() - started
            except Exception as exc:  # one broken county must not stop the others
                result.error = f"{type(exc).__name__}: {exc}"
            results.append(result)
            if progress:
                progress(result)
    finish_database(engine)
    return sorted(results, key=lambda r: r.code)


def _failed(code: str, reason: str, progress) -> CountyResult:
    result = CountyResult(code, county_name(code), error=reason)
    if progress:
        progress(result)
    return result


def prepare_database(engine: Engine, seed: int) -> None:
    """Replace the Lianzhou demo if it is loaded; register the province dataset."""
    with engine.begin() as conn:
        names = set(conn.execute(sa.text("SELECT name FROM dataset WHERE synthetic")).scalars())
        if LIANZHOU_DATASET in names or any(n != DATASET for n in names):
            clear_synthetic(conn)
        conn.execute(sa.text("DELETE FROM dataset WHERE name = :name"), {"name": DATASET})
        conn.execute(
            sa.text(
                "INSERT INTO dataset (name, fingerprint, seed, synthetic) "
                "VALUES (:name, :fingerprint, :seed, true)"
            ),
            {"name": DATASET, "fingerprint": province_fingerprint(seed), "seed": seed},
        )


def province_fingerprint(seed: int) -> str:
    from geo.demo import GENERATOR_VERSION

    return hashlib.sha256(f"province:{GENERATOR_VERSION}:{seed}".encode()).hexdigest()[:16]


def finish_database(engine: Engine) -> None:
    """Sequences past the loaded ids; fresh planner statistics."""
    with engine.begin() as conn:
        for table in SERIAL_TABLES:
            reset_sequence(conn, table)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))


def load_county(engine: Engine, code: str, rank: int, tables: dict) -> dict[str, int]:
    """Replace county ``code``'s synthetic rows with ``tables`` in one transaction."""
    offset = rank * ID_BLOCK
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        clear_county(conn, code, offset)
        for table in TABLE_ORDER:
            if table in tables:
                frame = shift_ids(table, tables[table], offset)
                counts[table] = _copy_table(conn, table, frame)
    return counts


def clear_county(conn: sa.Connection, code: str, offset: int) -> None:
    """Delete one county's synthetic rows (children first)."""
    like = {"like": f"{code}%", "lo": offset, "hi": offset + ID_BLOCK}
    townships = "SELECT code FROM township WHERE synthetic AND code LIKE :like"
    for statement in (
        "DELETE FROM household WHERE synthetic AND village_code LIKE :like",
        f"DELETE FROM work_group WHERE township_code IN ({townships})",
        "DELETE FROM clinic WHERE synthetic AND id >= :lo AND id < :hi",
        "DELETE FROM cadre WHERE synthetic AND township_code LIKE :like",
        "DELETE FROM hamlet WHERE synthetic AND village_code LIKE :like",
        "DELETE FROM village_income WHERE village_code IN "
        "(SELECT code FROM village WHERE synthetic AND code LIKE :like)",
        "DELETE FROM village WHERE synthetic AND code LIKE :like",
        "DELETE FROM township WHERE synthetic AND code LIKE :like",
        *(
            f"DELETE FROM {t} WHERE synthetic AND id >= :lo AND id < :hi"
            for t in ("river", "road", "water", "school", "hazard_zone", "karst_zone")
        ),
        "DELETE FROM raster WHERE synthetic AND name = 'province-dem-' || :code",
    ):
        conn.execute(sa.text(statement), {**like, "code": code})


def shift_ids(table: str, frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    """Add ``offset`` to the table's serial id and to every column pointing at one."""
    serial = set(SERIAL_TABLES) - {"raster"}
    columns = Base.metadata.tables[table].columns
    shifted = {c.name for c in columns if c.name == "id" and table in serial}
    for column in columns:
        for fk in column.foreign_keys:
            if fk.column.table.name in serial and fk.column.name == "id":
                shifted.add(column.name)
    frame = frame.copy()
    for name in shifted & set(frame.columns):
        values = pd.to_numeric(frame[name])
        frame[name] = (values + offset).astype("Int64")
    return frame


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))
