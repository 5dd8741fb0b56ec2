"""Benchmark: the province's coverage and relocation as Dask tasks, 1 worker then 2.

Every county with households in the database is one task (``layers.batch.run_county``: read
the county from PostGIS, assess, replace its rows by COPY in one transaction). The tasks run on
a ``distributed.LocalCluster`` of 1 and then 2 single-threaded worker processes; printed per
command and in total: wall time, scaling efficiency s_1 / (2 * s_2), seconds per 10,000
households, and peak memory (resident set) per worker and per 10,000 households — the per-county
costs behind the README's sizing table.

Without ``--database-url`` the database is a throw-away embedded cluster holding the Lianzhou
demo (one county: two workers cannot split one task, so expect an efficiency near 0.5 there);
point ``--database-url`` at a database with the province loaded
(``gongjian demo --scale province --load``) for the province figures.

    python bench/province_batch.py [--database-url URL] [--counties all|CODE,CODE] [--no-isochrones]

Measured on a quiet 2-core machine (issue 18), 20 province counties loaded with
``gongjian demo --scale province --load --counties …`` (137,079 households): 1 worker 106.1 s
(7.74 s per 10,000 households), 2 workers 58.7 s, efficiency 0.90; peak memory per worker
about 75 MB + 120 MB per 10,000 households of its largest county. The whole province
(124 counties, 705,140 households), same quiet machine: 1 worker 914.9 s (12.98 s per
10,000 households), 2 workers 513.1 s, efficiency 0.89; peak memory per worker 500 MB.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layers import batch  # noqa: E402

COMMANDS = ("coverage", "relocation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a migrated database with counties loaded")
    parser.add_argument("--no-isochrones", action="store_true", help="coverage without isochrones")
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    parser.add_argument(
        "--counties", default="all", help="all (default) or CODE,CODE: a sample of the province"
    )
    args = parser.parse_args()
    home = None if args.database_url else Path(tempfile.mkdtemp(prefix="gongjian-bench-"))
    try:
        url = args.database_url or _throwaway(home)
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        counties = batch.counties_asked(engine, args.counties)
        households = _households(engine, counties)
        engine.dispose()
        print(f"{len(counties)} counties, {households:,} households: {', '.join(counties)}")
        options = batch.BatchOptions(isochrones=not args.no_isochrones)
        runs = {int(n): _run(url, counties, options, int(n)) for n in args.workers.split(",")}
    finally:
        if home is not None:
            from layers.cluster import EmbeddedCluster

            EmbeddedCluster(home).destroy()
            shutil.rmtree(home, ignore_errors=True)
    _report(runs, households, len(counties))


def _run(url: str, counties, options, workers: int) -> dict:
    """Each command over all counties on a fresh LocalCluster of ``workers`` processes (fresh,
    so each command's peak memory is its own)."""
    result = {}
    for command in COMMANDS:
        client = batch.connect(None, workers)
        try:
            client.wait_for_workers(workers)
            baseline = max(client.run(_peak_mb).values())  # the worker before any task
            started = time.perf_counter()
            outcomes = list(batch.run_batch(client, url, command, counties, options))
            wall = time.perf_counter() - started
        finally:
            batch.close(client)
        for o in outcomes:
            if not o.done:
                print(f"  {command} {o.county}: not done: {o.reason}")
        result[command] = {"wall": wall, "outcomes": outcomes, "baseline": baseline}
        print(f"{workers} worker(s) {command}: {wall:.1f} s wall", flush=True)
    return result


def _peak_mb() -> float:
    """An idle worker's resident memory (its modules loaded), MB."""
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:"))


def _report(runs: dict, households: int, counties: int) -> None:
    per_10k = 10_000 / max(households, 1)
    summary: dict = {"bench": "province_batch", "households": households, "counties": counties}
    totals = {n: sum(r[c]["wall"] for c in COMMANDS) for n, r in runs.items()}
    for command in COMMANDS:
        for n, run in runs.items():
            outcomes = [o for o in run[command]["outcomes"] if o.done]
            task_s = sum(o.seconds for o in outcomes)
            done_households = sum(o.households for o in outcomes) or 1
            peaks: dict[str, float] = {}
            for o in outcomes:
                peaks[o.worker] = max(peaks.get(o.worker, 0.0), o.peak_mb)
            largest = max(outcomes, key=lambda o: o.households, default=None)
            growth = largest.peak_mb - run[command]["baseline"] if largest else 0.0
            mb_per_10k = growth * 10_000 / largest.households if largest else 0.0
            print(
                f"{command}, {n} worker(s): {run[command]['wall']:.1f} s wall, "
                f"{run[command]['wall'] * per_10k:.2f} s per 10,000 households (wall), "
                f"{task_s * 10_000 / done_households:.2f} s per 10,000 in tasks, peak MB per "
                f"worker {', '.join(f'{p:.0f}' for p in peaks.values())}, "
                f"{mb_per_10k:.0f} MB per 10,000 households over the idle worker's "
                f"{run[command]['baseline']:.0f} MB (largest county)"
            )
            summary[f"{command}_s_{n}"] = round(run[command]["wall"], 2)
            summary[f"{command}_s_per_10k_task_{n}"] = round(task_s * 10_000 / done_households, 3)
            summary[f"{command}_peak_mb_{n}"] = round(max(peaks.values(), default=0.0), 1)
            summary[f"{command}_peak_mb_per_10k_{n}"] = round(mb_per_10k, 1)
            summary[f"{command}_idle_worker_mb_{n}"] = round(run[command]["baseline"], 1)
    s_1, s_2 = totals.get(1), totals.get(2)
    efficiency = s_1 / (2 * s_2) if s_1 and s_2 else None
    for n, total in totals.items():
        print(f"total, {n} worker(s): {total:.1f} s, {total * per_10k:.2f} s per 10,000 households")
    if efficiency is not None:
        print(f"scaling efficiency s_1 / (2 s_2) = {efficiency:.2f}")
    summary.update(
        s_1_worker=round(s_1, 2) if s_1 else None,
        s_2_workers=round(s_2, 2) if s_2 else None,
        efficiency=round(efficiency, 3) if efficiency is not None else None,
    )
    print(json.dumps(summary))


def _households(engine: sa.Engine, counties: list[str]) -> int:
    sql = "SELECT count(*) FROM household WHERE left(village_code, 6) = ANY(:c)"
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), {"c": list(counties)}).scalar())


def _throwaway(home: Path) -> str:
    """An embedded cluster in ``home`` with the Lianzhou demo loaded."""
    from geo.paths import GUANGDONG_COUNTIES
    from layers.cluster import EmbeddedCluster
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries
    from layers.migrate import upgrade

    url = EmbeddedCluster(home).up()
    upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    ensure_demo(engine, home, force=True)
    engine.dispose()
    return url


if __name__ == "__main__":
    main()
