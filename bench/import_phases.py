"""Where the province household import spends its time: every SQL statement over a threshold.

Companion of ``bench/import_vs_ogr2ogr.py`` (same cached province GeoPackage, same places):
runs ``import_file(…, "households", …)`` in this process on a throw-away embedded cluster and
times each statement SQLAlchemy sends (COPY goes through psycopg directly and shows up only in
the stage times). Use it before and after changing the import to see which statement moved.

Measured on a 2-core machine (issue 18, 708,000 households, 2,832,000 incomes), quiet, the
two write paths alternated in one sitting (in-process totals, so without process start):

* before (archive versions by the statement triggers, income primary key kept): writing
  21.3-22.2 s, 38.5-39.8 s in all;
* now (first versions written set-based from each row, archive triggers off around the
  insert of new households, income primary key rebuilt after): writing 18.8-19.0 s — the
  incomes' INSERT ... SELECT 4.3 s (2 s of it producing 2.8 M rows from 708,000 staged ones),
  the households' INSERT ... SELECT 6.1 s (4.4 s inserting: 20 check constraints, two unique
  indexes), the first versions 6.7 s (2.6 s building the incomes jsonb, 1.7 s inserting) —
  and 35.9-37.1 s in all; the other stages: reading 2.4-3.7 s, checking 2.7-3.1 s, staging
  (COPY) 2.5-2.9 s, checking against the database 2.2-2.6 s, rebuilding indexes 5.8-6.1 s;
* ``bench/import_vs_ogr2ogr.py`` (the CLI end to end, best of 2): 39.7 s against ogr2ogr's
  6.1 s, ratio 0.154 (0.145 before).

    python bench/import_phases.py [--households 708000] [--threshold 0.3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from import_vs_ogr2ogr import prepare_places, province_file, reset  # noqa: E402

from geo.demo.province import PROVINCE_HOUSEHOLDS  # noqa: E402
from layers.imports import ImportOptions, import_file  # noqa: E402


def time_statements(engine: sa.Engine, threshold: float, slow: list[tuple[float, str]]) -> None:
    """Append (seconds, statement) to ``slow`` for each statement taking ``threshold`` s or more."""

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(conn, cursor, statement, parameters, context, executemany):
        seconds = time.perf_counter() - conn.info["started"]
        if seconds >= threshold:
            slow.append((seconds, " ".join(statement.split())))
            print(f"{seconds:7.2f} s  {slow[-1][1][:160]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=PROVINCE_HOUSEHOLDS)
    parser.add_argument("--threshold", type=float, default=0.3, help="seconds; shorter not shown")
    args = parser.parse_args()
    from layers.cluster import EmbeddedCluster
    from layers.migrate import upgrade

    gpkg = province_file(args.households)
    cluster = EmbeddedCluster(Path(tempfile.mkdtemp(prefix="gongjian-phases-")))
    try:
        url = cluster.up()
        upgrade(url)
        engine = sa.create_engine(url)
        prepare_places(engine, gpkg)
        reset(engine)
        slow: list[tuple[float, str]] = []
        time_statements(engine, args.threshold, slow)
        started = time.perf_counter()
        options = ImportOptions(actor="cli:phases", layer="households")
        summary = import_file(engine, "households", gpkg, options)
        total = time.perf_counter() - started
        engine.dispose()
    finally:
        cluster.destroy()
    print(
        json.dumps(
            {
                "bench": "import_phases",
                "rows": summary.read,
                "total_s": round(total, 2),
                "slow_statements_s": round(sum(s for s, _ in slow), 2),
                "slowest": [[round(s, 2), q[:80]] for s, q in sorted(slow, reverse=True)[:5]],
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
