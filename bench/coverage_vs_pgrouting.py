"""Benchmark: our travel-time model (scipy.sparse.csgraph) against pgRouting, and our nearest
hardened road (shapely STRtree) against a PostGIS KNN query, side by side in one run.

Part 1 — minutes from every demo household to its nearest clinic. Both sides use the same
graph (our noded network, written to a table with cost = minutes), the same points (homes
and clinics where they join the roads, as fractions along the edges) and the same walking
minutes; pgRouting runs ``pgr_withPointsCost`` many-to-many from all clinic points to all
household points and SQL takes the minimum per household; ours runs one multi-source
Dijkstra. Ours is timed from the road and point layers in memory: noding + snapping +
routing; pgRouting for its query only (its tables are built before the clock starts). Both
are the best of ``--repeat`` runs (the first run of ours also pays imports and caches).
Results must agree within 0.1 min for every household.

Part 2 — straight-line distance to the nearest hardened road for 708,000 province-scale
households (``geo.demo.province``, cached in /tmp). Guangdong has no synthetic roads outside
the demo, so the demo's hardened roads are copied into every county (shifted to the county's
centroid and clipped to it). Both sides work in EPSG:4547 metres: ours builds an STRtree and
queries it; PostGIS runs ``<->`` in a LATERAL subquery on a GiST index.

Usage: ``python bench/coverage_vs_pgrouting.py [--households N] [--seed S]`` against
DATABASE_URL or the embedded cluster (the Lianzhou demo is loaded when missing). The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import sqlalchemy as sa

from geo.access import Walker, nearest_line, snap_points
from geo.demo.province import PROVINCE_HOUSEHOLDS, write_province_gpkg
from geo.network import build_network
from geo.paths import GUANGDONG_COUNTIES
from geo.policy import load_profile
from layers.bulk import copy_frame
from layers.coverage import load_inputs
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings

CACHE = Path("/tmp/gongjian-bench-cache")
METRIC = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E: all of Guangdong
LIANZHOU = "441882"
TOLERANCE_MIN = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=PROVINCE_HOUSEHOLDS)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for our timings")
    args = parser.parse_args()

    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    _ensure_demo(engine, settings)

    routing = bench_routing(engine, args.repeat)
    knn = bench_knn(engine, args.households, args.seed, args.repeat)
    result = {"bench": "coverage_vs_pgrouting", **routing, **knn}
    print(json.dumps(result, ensure_ascii=False))


# --- part 1: nearest clinic minutes ----------------------------------------------------


def bench_routing(engine: sa.Engine, repeat: int) -> dict:
    profile = load_profile()
    with engine.connect() as conn:
        codes = list(
            conn.execute(
                sa.text("SELECT code FROM township WHERE county_code = :c ORDER BY code"),
                {"c": LIANZHOU},
            ).scalars()
        )
        inputs = load_inputs(conn, codes, profile)
    homes, clinics, roads = inputs.households, inputs.clinics, inputs.roads
    print(f"demo: {len(homes):,} households, {len(clinics)} clinics, {len(roads):,} roads")

    def ours():
        net = build_network(roads, profile.network)
        walker = Walker.from_policy(profile.walk, None, net.crs)
        hxy = shapely.get_coordinates(net.to_metric(homes.geometry))
        fxy = shapely.get_coordinates(net.to_metric(clinics.geometry))
        hsnap, hwalk = snap_points(net, hxy, walker)
        fsnap, _ = snap_points(net, fxy, walker)
        fwalk = walker.minutes(fsnap.road_xy, fxy)
        road, _ = net.travel_minutes(fsnap, hsnap, fwalk)
        return net, hsnap, hwalk, fsnap, fwalk, hwalk + road

    ours_s, (net, hsnap, hwalk, fsnap, fwalk, our_min) = _best_of(ours, repeat)
    print(f"ours: {ours_s:.3f} s (network {len(net.edges):,} edges, one multi-source Dijkstra)")

    with engine.begin() as conn:
        _write_graph(conn, net, hsnap, hwalk, fsnap, fwalk)

    def pgrouting():
        with engine.begin() as conn:
            return _pgrouting_minutes(conn, len(homes), len(clinics))

    pgr_s, theirs = _best_of(pgrouting, repeat)
    print(f"pgRouting pgr_withPointsCost many-to-many: {pgr_s:.3f} s")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS " + ", ".join(BENCH_TABLES)))

    their_min = np.full(len(homes), np.inf)
    their_min[theirs.pid.to_numpy() - 1] = theirs.minutes.to_numpy()
    both = np.isfinite(our_min) & np.isfinite(their_min)
    same_unreachable = bool((np.isfinite(our_min) == np.isfinite(their_min)).all())
    diff = float(np.abs(our_min[both] - their_min[both]).max()) if both.any() else 0.0
    print(
        f"agreement: max |Δ| = {diff:.2e} min over {both.sum():,} households; "
        f"unreachable sets equal: {same_unreachable}; ratio pgRouting/ours = {pgr_s / ours_s:.1f}"
    )
    if diff > TOLERANCE_MIN or not same_unreachable:
        raise SystemExit(
            f"results disagree: max |Δ| {diff} min, same unreachable {same_unreachable}"
        )
    return {
        "households": len(homes),
        "clinics": len(clinics),
        "edges": len(net.edges),
        "max_abs_diff_min": diff,
        "ours_s": round(ours_s, 4),
        "pgrouting_s": round(pgr_s, 3),
        "ratio": round(pgr_s / ours_s, 1),
    }


def _write_graph(conn, net, hsnap, hwalk, fsnap, fwalk) -> None:
    """Our network and points as pgRouting tables.

    pgRouting merges points at one place into one, so every place gets one location: a
    vertex id (> 0) at an edge's end, else a point id (< 0 in the query arrays) for each
    distinct (edge, fraction). Homes and clinics map to their location with their walk.
    """
    conn.execute(sa.text("DROP TABLE IF EXISTS " + ", ".join(BENCH_TABLES)))
    conn.execute(sa.text(
        "CREATE TABLE bench_edges (id bigint PRIMARY KEY, source bigint, target bigint, "
        "cost float8, reverse_cost float8)"
    ))  # fmt: skip
    conn.execute(sa.text(
        "CREATE TABLE bench_points (pid bigint PRIMARY KEY, edge_id bigint, fraction float8, "
        "side char(1))"
    ))  # fmt: skip
    for table in ("bench_home_loc", "bench_clinic_loc"):
        conn.execute(sa.text(f"CREATE TABLE {table} (id bigint, loc bigint, walk float8)"))
    edges = net.edges
    copy_frame(conn, "bench_edges", pd.DataFrame({
        "id": np.arange(1, len(edges) + 1), "source": edges.u + 1, "target": edges.v + 1,
        "cost": edges.minutes, "reverse_cost": edges.minutes,
    }), ["id", "source", "target", "cost", "reverse_cost"])  # fmt: skip
    places = pd.concat([_places(net, hsnap, hwalk, "home"), _places(net, fsnap, fwalk, "clinic")])
    inner = places[places.loc_ == 0].drop_duplicates(["edge_id", "fraction"])[
        ["edge_id", "fraction"]
    ]
    inner = inner.assign(pid=np.arange(1, len(inner) + 1), side="b")
    places = places.merge(inner, on=["edge_id", "fraction"], how="left")
    places["loc"] = np.where(places.loc_ != 0, places.loc_, -places.pid.fillna(0)).astype(int)
    copy_frame(conn, "bench_points", inner, ["pid", "edge_id", "fraction", "side"])
    for kind in ("home", "clinic"):
        part = places[places.kind == kind]
        copy_frame(conn, f"bench_{kind}_loc", part, ["id", "loc", "walk"])
    conn.execute(sa.text("; ".join(f"ANALYZE {t}" for t in BENCH_TABLES)))


BENCH_TABLES = ("bench_edges", "bench_points", "bench_home_loc", "bench_clinic_loc")


def _places(net, snap, walk, kind: str) -> pd.DataFrame:
    """id (1-based), edge_id, fraction, vertex location (0 if inside the edge), walk."""
    ok = np.flatnonzero(snap.on_network & np.isfinite(walk))
    edge = snap.edge[ok]
    fraction = np.clip(snap.offset_m[ok] / net.edges.length_m.to_numpy()[edge], 0, 1)
    vertex = np.where(fraction <= 0, net.edges.u.to_numpy()[edge] + 1,
                      np.where(fraction >= 1, net.edges.v.to_numpy()[edge] + 1, 0))  # fmt: skip
    return pd.DataFrame({"kind": kind, "id": ok + 1, "edge_id": edge + 1, "fraction": fraction,
                         "loc_": vertex, "walk": walk[ok]})  # fmt: skip


def _pgrouting_minutes(conn, n_homes: int, n_clinics: int) -> pd.DataFrame:
    """Per household: min over clinics of walk + pgRouting cost + clinic walk."""
    sql = sa.text("""
        WITH starts AS (SELECT array_agg(DISTINCT loc) AS a FROM bench_clinic_loc),
             ends AS (SELECT array_agg(DISTINCT loc) AS a FROM bench_home_loc),
             walks AS (SELECT loc, min(walk) AS walk FROM bench_clinic_loc GROUP BY loc),
             costs AS (
                SELECT r.start_pid AS s, r.end_pid AS e, r.agg_cost
                FROM starts, ends, pgr_withPointsCost(
                    'SELECT id, source, target, cost, reverse_cost FROM bench_edges',
                    'SELECT pid, edge_id, fraction, side FROM bench_points',
                    starts.a, ends.a, directed => false) r
                UNION ALL  -- a home at a clinic's place: pgRouting omits start = end
                SELECT w.loc, w.loc, 0 FROM walks w
                WHERE w.loc IN (SELECT loc FROM bench_home_loc)),
             best AS (
                SELECT c.e AS loc, min(c.agg_cost + w.walk) AS minutes
                FROM costs c JOIN walks w ON w.loc = c.s GROUP BY c.e)
        SELECT h.id AS pid, b.minutes + h.walk AS minutes
        FROM bench_home_loc h JOIN best b ON b.loc = h.loc
    """)  # fmt: skip
    rows = conn.execute(sql).all()
    return pd.DataFrame(rows, columns=["pid", "minutes"])


# --- part 2: nearest hardened road, province scale -------------------------------------


def bench_knn(engine: sa.Engine, n_households: int, seed: int, repeat: int) -> dict:
    points = _province_points(n_households, seed)
    roads = _province_roads(engine)
    print(f"province: {len(points):,} households, {len(roads):,} hardened road lines")
    pxy = shapely.get_coordinates(points)
    point_geoms = shapely.points(pxy)

    ours_s, (our_d, _) = _best_of(lambda: nearest_line(point_geoms, roads), repeat)
    print(f"ours (STRtree nearest): {ours_s:.3f} s")

    with engine.begin() as conn:
        _write_knn_tables(conn, pxy, roads)

    def postgis():
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS bench_knn_out"))
            conn.execute(sa.text(
                "CREATE TABLE bench_knn_out AS SELECT h.id, n.d FROM bench_knn_household h "
                "CROSS JOIN LATERAL (SELECT ST_Distance(h.geom, r.geom) AS d "
                "FROM bench_knn_road r ORDER BY h.geom <-> r.geom LIMIT 1) n"
            ))  # fmt: skip

    knn_s, _ = _best_of(postgis, repeat)
    with engine.begin() as conn:
        theirs = conn.execute(sa.text("SELECT id, d FROM bench_knn_out ORDER BY id")).all()
        conn.execute(sa.text("DROP TABLE bench_knn_out, bench_knn_household, bench_knn_road"))
    their_d = np.array([d for _, d in theirs])
    diff = float(np.abs(their_d - our_d).max())
    print(f"PostGIS KNN (<-> LATERAL): {knn_s:.3f} s; max |Δ| = {diff:.2e} m; "
          f"ratio PostGIS/ours = {knn_s / ours_s:.1f}")  # fmt: skip
    return {
        "knn_households": len(points),
        "knn_roads": len(roads),
        "knn_max_abs_diff_m": diff,
        "ours_knn_s": round(ours_s, 3),
        "postgis_knn_s": round(knn_s, 3),
        "knn_ratio": round(knn_s / ours_s, 2),
    }


def _province_points(n: int, seed: int) -> np.ndarray:
    """Household points (EPSG:4547) of the cached province GeoPackage."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"province_{seed}_{n}.gpkg"
    if not path.exists():
        started = time.perf_counter()
        write_province_gpkg(path, seed, n_households=n)
        print(f"generated {path} in {time.perf_counter() - started:.0f} s")
    frame = pyogrio.read_dataframe(path, layer="households", columns=["id"])
    return frame.sort_values("id").geometry.to_crs(METRIC).to_numpy()


def _province_roads(engine: sa.Engine) -> np.ndarray:
    """The demo's hardened roads copied to every Guangdong county (EPSG:4547 lines)."""
    with engine.connect() as conn:
        demo = gpd.read_postgis(
            sa.text("SELECT geom FROM road WHERE synthetic AND surface = 'hardened'"),
            conn, geom_col="geom",
        ).to_crs(METRIC)  # fmt: skip
    counties = gpd.read_file(GUANGDONG_COUNTIES).to_crs(METRIC)
    lianzhou = counties[counties.code.astype(str) == LIANZHOU].geometry.iloc[0].centroid
    lines = demo.geometry.to_numpy()
    copies = []
    for county in counties.geometry:
        dx, dy = county.centroid.x - lianzhou.x, county.centroid.y - lianzhou.y
        moved = shapely.transform(lines, lambda xy, dx=dx, dy=dy: xy + np.array([dx, dy]))
        clipped = shapely.intersection(moved, county)
        parts = shapely.get_parts(clipped[~shapely.is_empty(clipped)])
        copies.append(parts[shapely.get_type_id(parts) == 1])
    return np.concatenate(copies)


def _write_knn_tables(conn, pxy: np.ndarray, roads: np.ndarray) -> None:
    conn.execute(sa.text("DROP TABLE IF EXISTS bench_knn_out, bench_knn_household, bench_knn_road"))
    conn.execute(sa.text("CREATE TABLE bench_knn_household (id bigint PRIMARY KEY, "
                         "geom geometry(Point, 4547))"))  # fmt: skip
    conn.execute(sa.text("CREATE TABLE bench_knn_road (id bigint PRIMARY KEY, "
                         "geom geometry(LineString, 4547))"))  # fmt: skip
    homes = gpd.GeoDataFrame({"id": np.arange(1, len(pxy) + 1)},
                             geometry=shapely.points(pxy), crs=METRIC)  # fmt: skip
    lines = gpd.GeoDataFrame({"id": np.arange(1, len(roads) + 1)}, geometry=roads, crs=METRIC)
    _copy_metric(conn, "bench_knn_household", homes)
    _copy_metric(conn, "bench_knn_road", lines)
    conn.execute(sa.text("CREATE INDEX ON bench_knn_road USING gist (geom)"))
    conn.execute(sa.text("ANALYZE bench_knn_household; ANALYZE bench_knn_road"))


def _copy_metric(conn, table: str, frame: gpd.GeoDataFrame) -> None:
    """COPY with EWKB in EPSG:4547 (layers.bulk writes 4326 EWKB by default)."""
    raw = conn.connection.dbapi_connection
    ewkb = shapely.to_wkb(shapely.set_srid(frame.geometry.to_numpy(), 4547), hex=True,
                          include_srid=True)  # fmt: skip
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} (id, geom) FROM STDIN") as copy:
        for row in zip(frame["id"].tolist(), ewkb, strict=True):
            copy.write_row(row)


# --- helpers -----------------------------------------------------------------------------


def _best_of(func, repeat: int):
    best, value = np.inf, None
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - started)
    return best, value


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
