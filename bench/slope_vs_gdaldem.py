"""Benchmark: our Horn slope (geo.terrain, numpy, window by window) against ``gdaldem slope``
(Debian gdal-bin) on the demo DEM, side by side in one run; and the whole county's
relocation analysis.

How the two are compared. The demo DEM is geographic (EPSG:4326, 0.0003° cells). gdaldem
has one scale for both axes (``-s 111120`` takes a degree as 111.12 km east *and* north),
while ours measures cells on the ellipsoid at each row's latitude (a degree of longitude is
~101 km at 24.9°N), so on the geographic file the two differ by design. The comparison is
therefore made on a **projected copy**: ``gdalwarp -t_srs EPSG:32649 -tr 30 30 -r bilinear``
(UTM 49N, 30 m cells, nodata −9999); both tools read that same file and write an
uncompressed float32 GeoTIFF, both with edges computed (``gdaldem -compute_edges``; ours
always does: the ring beyond the raster's edge extrapolated linearly, nodata neighbours
replaced by the centre cell).

- ``max_abs_diff_deg``: interior cells — every cell whose 3×3 window lies inside the raster
  and holds no nodata (exactly the cells plain ``gdaldem slope`` without -compute_edges
  fills); must be ≤ 0.01°.
- ``edge_max_abs_diff_deg``: the remaining cells (raster edges, rims of nodata) against
  ``gdaldem -compute_edges``, corners excepted (gdaldem's corner extrapolation is not exact
  on a plane, ours is).
- ``geographic_vs_s111120_max_diff_deg``: for information, ours on the geographic original
  against ``gdaldem -s 111120`` on it — the error of a single scale at this latitude.

Times are the best of ``--repeat`` runs each, interleaved; ours runs on ``--threads``
threads (numpy releases the GIL; gdaldem computes on one). Ratio = gdaldem time / ours.
Then the whole county (441882) is refreshed once with ``layers.relocation.refresh``
(read from PostGIS, terrain, hazards, access, groups, sites, write back), timed with its
stages.

Usage: ``python bench/slope_vs_gdaldem.py [--repeat N] [--threads T]`` against DATABASE_URL
or the embedded cluster (the Lianzhou demo is loaded when missing). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import sqlalchemy as sa

from geo.paths import GUANGDONG_COUNTIES
from geo.terrain import slope_raster
from layers import relocation
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings

LIANZHOU = "441882"
PROJECTED = "EPSG:32649"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of N for both timings")
    parser.add_argument("--threads", type=int, default=2, help="threads for ours")
    args = parser.parse_args()

    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    _ensure_demo(engine, settings)
    with engine.connect() as conn:
        dem = conn.execute(
            sa.text("SELECT path FROM raster WHERE kind = 'dem' AND synthetic ORDER BY id LIMIT 1")
        ).scalar_one()

    with tempfile.TemporaryDirectory(prefix="gongjian-slope-") as tmp:
        work = Path(tmp)
        slope = bench_slope(Path(dem), work, args.repeat, args.threads)
    county = bench_county(engine)
    print(json.dumps({"bench": "slope_vs_gdaldem", **slope, **county}, ensure_ascii=False))


def bench_slope(dem: Path, work: Path, repeat: int, threads: int) -> dict:
    projected = work / "dem_utm49.tif"
    _run("gdalwarp", "-q", "-overwrite", "-t_srs", PROJECTED, "-tr", "30", "30", "-r",
         "bilinear", "-dstnodata", "-9999", str(dem), str(projected))  # fmt: skip
    ours_path, peer_path, plain_path = work / "ours.tif", work / "gdaldem.tif", work / "plain.tif"
    ours_s, peer_s = np.inf, np.inf
    for _ in range(max(repeat, 1)):  # interleaved, so both see the same machine
        started = time.perf_counter()
        slope_raster(projected, ours_path, threads=threads)
        ours_s = min(ours_s, time.perf_counter() - started)
        started = time.perf_counter()
        _run("gdaldem", "slope", "-q", "-compute_edges", str(projected), str(peer_path))
        peer_s = min(peer_s, time.perf_counter() - started)
    single_s = _best(lambda: slope_raster(projected, work / "one.tif", threads=1), repeat)
    _run("gdaldem", "slope", "-q", str(projected), str(plain_path))

    ours, peer, plain = _read(ours_path), _read(peer_path), _read(plain_path)
    interior = ~plain.mask  # gdaldem fills only cells with all nine values present
    edges = ~peer.mask & ~interior
    corners = np.zeros(ours.shape, dtype=bool)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    edges &= ~corners
    same_mask = bool((ours.mask == peer.mask).all())

    geo_ours, geo_peer = work / "geo_ours.tif", work / "geo_gdaldem.tif"
    slope_raster(dem, geo_ours, threads=threads)
    _run("gdaldem", "slope", "-q", "-compute_edges", "-s", "111120", str(dem), str(geo_peer))
    a, b = _read(geo_ours), _read(geo_peer)
    both = ~a.mask & ~b.mask
    with rasterio.open(projected) as src:
        shape = src.shape
    return {
        "dem": str(dem),
        "compared_on": f"{PROJECTED} copy, 30 m, bilinear ({shape[1]}x{shape[0]} cells)",
        "interior_cells": int(interior.sum()),
        "max_abs_diff_deg": _max_diff(ours, plain, interior),
        "edge_cells": int(edges.sum()),
        "edge_max_abs_diff_deg": _max_diff(ours, peer, edges),
        "same_nodata_cells": same_mask,
        "ours_s": round(ours_s, 4),
        "ours_threads": threads,
        "ours_single_thread_s": round(single_s, 4),
        "gdaldem_s": round(peer_s, 4),
        "ratio": round(peer_s / ours_s, 2),
        "geographic_vs_s111120_max_diff_deg": _max_diff(a, b, both),
    }


def bench_county(engine: sa.Engine) -> dict:
    started = time.perf_counter()
    summary = relocation.refresh(engine, county=LIANZHOU)
    seconds = time.perf_counter() - started
    return {
        "county": LIANZHOU,
        "county_relocation_s": round(seconds, 2),
        "county_households": summary.households,
        "county_candidates": summary.candidates,
        "county_stages_s": summary.timings,
    }


def _read(path: Path) -> np.ma.MaskedArray:
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


def _max_diff(a: np.ma.MaskedArray, b: np.ma.MaskedArray, where: np.ndarray) -> float:
    if not where.any():
        return 0.0
    return round(float(np.abs(a.data[where].astype(float) - b.data[where]).max()), 6)


def _run(*command: str) -> None:
    subprocess.run(command, check=True)


def _best(func, repeat: int) -> float:
    best = np.inf
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def _ensure_demo(engine: sa.Engine, settings: DatabaseSettings) -> None:
    with engine.connect() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM household WHERE synthetic")).scalar()
    if have:
        return
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries

    print("loading the Lianzhou demo…")
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    ensure_demo(engine, settings.home)


if __name__ == "__main__":
    main()
