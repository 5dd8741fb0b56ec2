"""Benchmark: ``gongjian import households`` against ``ogr2ogr -f PostgreSQL`` (GDAL's loader).

The province-scale households GeoPackage (708,000 points, geo/demo/province.py, seed 1; made
once and cached) is loaded into the same PostGIS by both, side by side in one run:

* ours: the ``gongjian import households FILE`` command, end to end (process start,
  every validation: value sets, ID check digits, duplicates, points inside their villages,
  and the upsert into the constrained ``household`` table plus its incomes, audit log);
* peer: ``ogr2ogr -f PostgreSQL PG:… FILE households`` with ``PG_USE_COPY=YES`` into a new
  table, no validation (Debian's gdal-bin).

The database is a throw-away embedded cluster in a temporary folder (``--url`` uses another
server instead; it must be migrated and will get the province's townships and villages).
The last line printed is one JSON object; ratio = peer time / our time (> 1: we are faster).

    python bench/import_vs_ogr2ogr.py [--households 708000] [--repeat 1] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.demo.province import PROVINCE_HOUSEHOLDS, write_province_gpkg  # noqa: E402
from geo.paths import GUANGDONG_COUNTIES  # noqa: E402
from layers.bulk import copy_frame  # noqa: E402
from layers.imports import ImportOptions, import_file  # noqa: E402

SEED = 1
PEER_TABLE = "bench_ogr2ogr_households"
VILLAGE_MARGIN = 0.002  # degrees around a village's households (~200 m)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "gongjian" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def province_file(households: int) -> Path:
    """The cached province GeoPackage, generated when missing (about 20 s for 708,000)."""
    path = cache_dir() / f"province-seed{SEED}-{households}.gpkg"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        partial = path.with_suffix(".partial.gpkg")
        write_province_gpkg(partial, SEED, n_households=households)
        partial.rename(path)
    return path


def prepare_places(engine: sa.Engine, gpkg: Path) -> None:
    """Counties (real boundaries), then townships and villages around the file's households.

    The province file has village points only; each village becomes the hull of its
    households plus ~200 m, each township the hull of its villages: enough for every
    household to lie inside its declared village, as the import checks.
    """
    import_file(engine, "boundaries", GUANGDONG_COUNTIES, ImportOptions(actor="bench"))
    villages = pyogrio.read_dataframe(gpkg, layer="villages")
    points = pyogrio.read_dataframe(gpkg, layer="households", columns=["village_code"])
    codes, index = np.unique(points["village_code"].to_numpy().astype(str), return_inverse=True)
    hulls = shapely.buffer(
        shapely.convex_hull(shapely.multipoints(points.geometry.to_numpy(), indices=index)),
        VILLAGE_MARGIN,
    )
    villages = villages.set_index("code").loc[codes].reset_index()
    villages["geom"] = [shapely.multipolygons([h]) for h in hulls]
    villages["township_code"] = villages["code"].str[:9]
    township_of = pd.factorize(villages["township_code"])[0]
    towns = (
        villages.groupby("township_code").agg(county_code=("county_code", "first")).reset_index()
    )
    parts = shapely.multipoints(
        shapely.get_coordinates(shapely.boundary(hulls)),
        indices=np.repeat(township_of, shapely.get_num_coordinates(shapely.boundary(hulls))),
    )
    towns["geom"] = [
        shapely.multipolygons([shapely.buffer(g, 0.001)]) for g in shapely.convex_hull(parts)
    ]
    towns["name"] = towns["township_code"].str[-3:] + "镇"
    towns = gpd.GeoDataFrame(
        towns.rename(columns={"township_code": "code"}), geometry="geom", crs=4326
    )
    villages = gpd.GeoDataFrame(villages, geometry="geom", crs=4326)
    with engine.begin() as conn:
        conn.execute(
            sa.text("TRUNCATE household, village_income, hamlet, village, township CASCADE")
        )
        copy_frame(
            conn,
            "township",
            towns.assign(synthetic=True),
            ["code", "county_code", "name", "geom", "synthetic"],
        )
        copy_frame(
            conn,
            "village",
            villages.assign(synthetic=True),
            ["code", "township_code", "name", "geom", "is_poor_village", "key_level", "synthetic"],
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))


def run_ours(url: str, gpkg: Path) -> float:
    # this checkout's code, whatever ``gongjian`` on PATH would run
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "DATABASE_URL": url, "CI": "1", "PYTHONPATH": path}
    env["GONGJIAN_IMPORT_TIMES"] = "1"  # stage times on stderr
    started = time.perf_counter()
    command = [sys.executable, "-m", "api.cli", "import", "households", str(gpkg)]
    result = subprocess.run(
        [*command, "--layer", "households"],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"gongjian import failed:\n{result.stderr[-3000:]}")
    print(result.stdout.strip(), flush=True)
    for line in result.stderr.splitlines():
        if line.startswith("stage times:"):
            print(f"ours, {line}", flush=True)
    return elapsed


def run_peer(url: str, gpkg: Path) -> float:
    u = sa.engine.make_url(url)
    pg = (
        f"PG:host={u.host} port={u.port} user={u.username} password={u.password} "
        f"dbname={u.database}"
    )
    env = {**os.environ, "PG_USE_COPY": "YES"}
    command = [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        pg,
        str(gpkg),
        "households",
        "-nln",
        PEER_TABLE,
        "-overwrite",
        "-lco",
        "GEOMETRY_NAME=geom",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"ogr2ogr failed:\n{result.stderr[-3000:]}")
    return elapsed


def reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE household CASCADE"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE actor LIKE 'cli:%'"))
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {PEER_TABLE}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE household"))
        conn.execute(sa.text("CHECKPOINT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=PROVINCE_HOUSEHOLDS)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--url", help="an existing migrated database instead of a throw-away one")
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin")
    gpkg = province_file(args.households)
    home = None if args.url else Path(tempfile.mkdtemp(prefix="gongjian-bench-"))
    try:
        url = args.url or _throwaway(home)
        engine = sa.create_engine(url)
        prepare_places(engine, gpkg)
        ours, peer = [], []
        for _ in range(args.repeat):
            reset(engine)
            ours.append(run_ours(url, gpkg))
            reset(engine)
            peer.append(run_peer(url, gpkg))
            print(f"ours {ours[-1]:.1f} s, ogr2ogr {peer[-1]:.1f} s", flush=True)
        reset(engine)
        engine.dispose()
    finally:
        if home is not None:
            from layers.cluster import EmbeddedCluster

            EmbeddedCluster(home).destroy()
    ours_s, peer_s = min(ours), min(peer)
    print(
        json.dumps(
            {
                "bench": "import_vs_ogr2ogr",
                "rows": args.households,
                "ours_s": round(ours_s, 2),
                "peer": "ogr2ogr",
                "peer_s": round(peer_s, 2),
                "ratio": round(peer_s / ours_s, 3),
            }
        )
    )


def _throwaway(home: Path) -> str:
    from layers.cluster import EmbeddedCluster
    from layers.migrate import upgrade

    url = EmbeddedCluster(home).up()
    upgrade(url)
    return url


if __name__ == "__main__":
    main()
