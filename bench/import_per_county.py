"""Benchmark: ``gongjian import households FILE --per-county`` against the plain import.

The province-scale households GeoPackage (geo/demo/province.py, seed 1, cached; see
bench/import_vs_ogr2ogr.py, whose places this reuses) is loaded into an empty ``household``
table by both commands, side by side in one run:

* ours: ``gongjian import households FILE --per-county`` — read and checked once, then one
  transaction per county (every county's own database checks, upsert, audit and archive);
* peer: ``gongjian import households FILE`` — the same file in one transaction (bulk mode
  from 50,000 new rows).

What it measures is the price of loading county by county. The last line printed is one JSON
object; ratio = peer time / our time (< 1: per county is slower).

    python bench/import_per_county.py [--households 60000] [--repeat 1] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_vs_ogr2ogr import _throwaway, prepare_places, province_file  # noqa: E402


def run(url: str, gpkg: Path, *extra: str) -> float:
    """One ``gongjian import households`` of ``gpkg`` (this checkout's code), in seconds."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "DATABASE_URL": url, "CI": "1", "PYTHONPATH": path, "COLUMNS": "160"}
    command = [sys.executable, "-m", "api.cli", "import", "households", str(gpkg)]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--layer", "households", *extra], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"gongjian import {' '.join(extra)} failed:\n{result.stderr[-3000:]}")
    lines = result.stdout.strip().splitlines()
    print("\n".join([*lines[:2], "…", *lines[-3:]]), flush=True)
    return elapsed


def stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM household")).scalar_one()


def reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE household CASCADE"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE actor LIKE 'cli:%'"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE household"))
        conn.execute(sa.text("CHECKPOINT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--url", help="an existing migrated database instead of a throw-away one")
    args = parser.parse_args()
    gpkg = province_file(args.households)
    home = None if args.url else Path(tempfile.mkdtemp(prefix="gongjian-bench-"))
    try:
        url = args.url or _throwaway(home)
        engine = sa.create_engine(url)
        prepare_places(engine, gpkg)
        ours, peer = [], []
        for _ in range(args.repeat):
            reset(engine)
            ours.append(run(url, gpkg, "--per-county"))
            assert stored(engine) == args.households
            reset(engine)
            peer.append(run(url, gpkg))
            assert stored(engine) == args.households
            print(f"per county {ours[-1]:.1f} s, whole file {peer[-1]:.1f} s", flush=True)
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
                "bench": "import_per_county",
                "rows": args.households,
                "ours_s": round(ours_s, 2),
                "peer": "gongjian import (whole file)",
                "peer_s": round(peer_s, 2),
                "ratio": round(peer_s / ours_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
