"""Benchmark: our 分组包片 sectors against k-means and the demo's current pairings.

For every demo township, the households of the work group (scattered, 建档立卡) are divided
among its members three ways, each measured alike (``geo.sectors.evaluate``):

* **ours** — ``geo.sectors.propose``: the Euler tour of the shortest-path tree of the hamlet
  graph from the seat, cut into ⌊N/k⌋/⌈N/k⌉ runs;
* **k-means** — scipy's k-means (k = members, k-means++ seeded) on the households' metric
  x/y: the usual "cluster the points" answer;
* **current** — the pairings in the demo data (``household.cadre_id``).

Per division: max imbalance (% from the mean households per member), mean travel from the
seat (per household: minutes from the seat to reach it on its member's round through the
sector's hamlets, along the roads), and contiguity (every member's hamlets connected in the
hamlet graph). Targets: ours within ±10 % (or ⌊N/k⌋/⌈N/k⌉ where ±10 % has no whole number),
all contiguous, ours' travel / k-means' ≤ 1. The lower bound of travel is every household
reached straight from the seat; k-means, free to make a cluster of any size, keeps each
cluster inside one hamlet and meets it, at the price of its imbalance.

Usage: ``python bench/sectors.py`` against DATABASE_URL or the embedded cluster (the
Lianzhou demo is loaded when missing). The last line is one JSON object.
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from layers import sectors
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings


def demo_engine() -> sa.Engine:
    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM township WHERE synthetic")).scalar()
    if not loaded:
        from geo.paths import GUANGDONG_COUNTIES
        from layers.demo import ensure_demo
        from layers.importers import import_boundaries

        import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
        ensure_demo(engine, settings.home)
    return engine


def main() -> None:
    engine = demo_engine()
    with engine.connect() as conn:
        codes = list(
            conn.execute(
                sa.text("SELECT code FROM township WHERE synthetic ORDER BY code")
            ).scalars()
        )
    header = (f"{'township':<12}{'k':>5}{'N':>6}  {'imbalance % ours/kmeans/current':>32}  "
              f"{'round trip min o/k/c':>32}  {'arrival min o/k/c':>20}  "
              "contiguous o/k/c  secs")  # fmt: skip
    print(header)
    worst, contiguous, bound = 0.0, True, 0.0
    ours_travel = kmeans_travel = ours_arrival = kmeans_arrival = 0.0
    for code in codes:
        started = time.perf_counter()
        comparison = sectors.propose_for(sectors.load(engine, code), with_kmeans=True)
        seconds = time.perf_counter() - started
        reports = (comparison.ours, comparison.kmeans, comparison.current)
        problem = comparison.inputs.problem
        worst = max(worst, comparison.ours.max_imbalance_pct)
        contiguous &= comparison.ours.all_contiguous
        ours_travel += comparison.ours.total_travel_min
        kmeans_travel += comparison.kmeans.total_travel_min
        ours_arrival += comparison.ours.mean_travel_min * len(problem.households)
        kmeans_arrival += comparison.kmeans.mean_travel_min * len(problem.households)
        # no division does better than every household reached straight from the seat
        bound += problem.minutes[0, 1:][problem.households["hamlet"].to_numpy()].sum()
        print(
            f"{code:<12}{len(problem.members):>5}{len(problem.households):>6}  "
            + f"{'/'.join(f'{r.max_imbalance_pct:.1f}' for r in reports):>32}  "
            + f"{'/'.join(f'{r.mean_round_trip_min:.1f}' for r in reports):>32}  "
            + f"{'/'.join(f'{r.mean_travel_min:.1f}' for r in reports):>20}  "
            + f"{'/'.join('y' if r.all_contiguous else 'n' for r in reports):>16}  "
            + f"{seconds:4.1f}"
        )
    ratio = ours_travel / kmeans_travel
    arrival = ours_arrival / kmeans_arrival
    print(
        f"all townships: members' round trips from the seat ours / k-means = {ratio:.3f}; "
        f"households' arrival minutes ours / k-means = {arrival:.3f} (ours / lower bound "
        f"{ours_arrival / bound:.3f}, k-means / lower bound {kmeans_arrival / bound:.3f}); "
        f"worst imbalance ours {worst:.1f} %"
    )
    print(json.dumps({
        "bench": "sectors",
        "arrival_vs_kmeans": round(arrival, 4),
        "arrival_vs_bound": round(ours_arrival / bound, 4),
        "townships": len(codes),
        "max_imbalance_pct": round(worst, 2),
        "all_contiguous": bool(contiguous),
        "travel_vs_kmeans": round(ratio, 4),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
