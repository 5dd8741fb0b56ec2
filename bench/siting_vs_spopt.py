"""Benchmark: our maximal covering location solver (``geo.siting``) against PySAL spopt's MCLP
(PuLP with its bundled CBC), on the same instances, side by side in one run.

Instances: each Lianzhou demo township, K = 1…5 clinics. Demand = every assessed household of
the township (weight by status, ``[siting] status_weights``: the poor first), candidates =
its natural villages (自然村), covered = within the policy's clinic minutes ([clinic]
max_minutes) over the coverage model's walk + roads + walk travel times — the "where would K
clinics go if there were none" question, harder than the few households today's clinics
leave out. Both sides get the same travel-time matrix (computed once, not timed) and the
same weights; each side is timed from the matrix to its answer (ours: reduction, greedy +
swap, the integer programme by HiGHS; spopt: building its PuLP model and solving with CBC).

Our covered weight must equal spopt's optimum on every instance. Also printed: the shortfall
of greedy + swap alone (our integer programme's start). Usage:
``pip install -e .[bench]; python bench/siting_vs_spopt.py [--townships N]`` against
DATABASE_URL or the embedded cluster (the demo is loaded when missing). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pulp
import shapely
import sqlalchemy as sa

from geo.access import Walker, snap_points, travel_matrix
from geo.coverage import assess
from geo.network import build_network
from geo.policy import load_profile
from geo.siting import CoverProblem, household_weights, siting_policy, solve
from geo.siting_problems import candidate_sites, network_crs
from layers.coverage import load_inputs
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings

COUNTY = "441882"
KS = (1, 2, 3, 4, 5)
TOLERANCE = 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--townships", type=int, default=None, help="only the first N")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # spopt's PuLP calls
    from spopt.locate import MCLP

    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    _ensure_demo(engine, settings)
    profile = load_profile()
    limit = profile.clinic.max_minutes
    codes = _townships(engine)[: args.townships]

    ours_s = peer_s = 0.0
    rows, all_optimal, shortfalls = [], True, []
    solve(CoverProblem.from_minutes(np.ones((1, 1)), 1, np.ones(1)), count=1)  # warm imports
    print(f"{'township':10} {'K':>2} {'homes':>6} {'sites':>5} {'ours':>10} {'spopt':>10} "
          f"{'ours s':>8} {'spopt s':>8} {'greedy':>10}")  # fmt: skip
    for code in codes:
        minutes, weights = _instance(engine, code, profile, limit)
        for k in KS:
            if k > minutes.shape[0]:
                continue
            t0 = time.perf_counter()
            ours = solve(CoverProblem.from_minutes(minutes, limit, weights), count=k)
            t1 = time.perf_counter()
            model = MCLP.from_cost_matrix(minutes.T, weights, service_radius=limit, p_facilities=k)
            model = model.solve(pulp.PULP_CBC_CMD(msg=False))
            t2 = time.perf_counter()
            theirs = float(pulp.value(model.problem.objective))
            ours_s += t1 - t0
            peer_s += t2 - t1
            same = abs(ours.best.covered_weight - theirs) <= TOLERANCE * max(1.0, theirs)
            all_optimal &= same and ours.optimal
            shortfall = (theirs - ours.greedy_weight) / theirs if theirs else 0.0
            shortfalls.append(shortfall)
            rows.append((code, k))
            print(f"{code:10} {k:>2} {minutes.shape[1]:>6} {minutes.shape[0]:>5} "
                  f"{ours.best.covered_weight:>10g} {theirs:>10g} {t1 - t0:>8.3f} "
                  f"{t2 - t1:>8.3f} {shortfall:>9.2%}{'' if same else '  MISMATCH'}")  # fmt: skip
    ratio = peer_s / ours_s if ours_s else float("inf")
    print(f"total: ours {ours_s:.2f} s, spopt {peer_s:.2f} s — {ratio:.1f}x; greedy+swap "
          f"shortfall max {max(shortfalls):.2%}, mean {np.mean(shortfalls):.3%}")  # fmt: skip
    print(json.dumps({
        "bench": "siting_vs_spopt", "instances": len(rows), "all_optimal": bool(all_optimal),
        "ratio": round(ratio, 2), "ours_s": round(ours_s, 3), "spopt_s": round(peer_s, 3),
        "greedy_shortfall_max": round(max(shortfalls), 5),
    }))  # fmt: skip


def _instance(engine: sa.Engine, code: str, profile, limit: float):
    """(minutes: hamlets × households, weights) of one township, as coverage times them."""
    with engine.connect() as conn:
        inputs = load_inputs(conn, [code], profile)
    homes = assess(inputs, profile, with_isochrones=False).households
    homes = homes[homes.township_code == code]
    status = inputs.households.set_index("id").status
    weights = household_weights(homes.household_id.map(status), siting_policy(profile))
    crs = network_crs(inputs)
    network = build_network(inputs.roads, profile.network, crs=crs)
    walker = Walker.from_policy(profile.walk, inputs.dem_path, crs)
    xy = shapely.get_coordinates(homes.geometry.to_crs(crs).to_numpy())
    sites = candidate_sites(inputs, code, "hamlets")
    site_xy = shapely.get_coordinates(sites.geometry.to_crs(crs).to_numpy())
    snap, walk = snap_points(network, xy, walker)
    minutes = travel_matrix(network, walker, xy, snap, walk, site_xy, limit)
    return np.where(np.isfinite(minutes), minutes, 1e6), weights


def _townships(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        sql = (
            "SELECT DISTINCT left(village_code, 9) FROM household "
            "WHERE starts_with(village_code, :c) ORDER BY 1"
        )
        return list(conn.execute(sa.text(sql), {"c": COUNTY}).scalars())


def _ensure_demo(engine: sa.Engine, settings: DatabaseSettings) -> None:
    with engine.connect() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM household WHERE synthetic")).scalar()
    if have:
        return
    from geo.paths import GUANGDONG_COUNTIES
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries

    print("loading the Lianzhou demo…")
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    ensure_demo(engine, settings.home)


if __name__ == "__main__":
    main()
