"""Benchmark: our vector tiles and OGC items against tipg (developmentseed, PyPI), side by side.

Same PostGIS, same demo data (the Lianzhou world), the same fixed list of tiles (z10–z16
over Lianzhou, households and roads) and the same items queries (bbox + limit 1,000), both
served by uvicorn with the same settings (one worker, h11, asyncio, no access log), each in
its own process on a loopback port. Measured, in this order:

1. warm-up: every tile and query once against tipg (untimed), so PostgreSQL's buffers are
   warm for both;
2. cold tiles: every tile once — ours with an empty tile cache, tipg (no cache);
3. repeated tiles: every tile again — ours from the cache (an ETag check per request),
   tipg regenerating;
4. items: every bbox query, GeoJSON of up to 1,000 households;
5. load: 8 concurrent clients for ``--duration`` seconds (default 30) requesting tiles and,
   every tenth request, items; p99 latency and errors.

Ours runs as the API does in production: bearer token (an admin scoped to the county),
scope filter in every query, row-level security, the restricted database role. tipg has no
access control. Tile contents differ by design: below zoom 13 ours aggregates households per
grid cell (tipg sends every point) and ours selects fewer attributes per zoom; tipg is asked
for the same attribute list with ``properties=`` where it has them. The feature counts are
printed. Ratio = tipg time / our time (> 1: we are faster). Last line: one JSON object.

    python bench/tiles_vs_tipg.py [--duration 30] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layers.access import add_user  # noqa: E402
from layers.features import REGISTRY  # noqa: E402
from layers.tiles import tile_attributes  # noqa: E402

ZOOMS = range(10, 17)
TILES_PER_ZOOM = 8
ITEMS_QUERIES = 12
LAYERS = ("household", "road")
UVICORN = ["--workers", "1", "--http", "h11", "--loop", "asyncio", "--log-level", "warning",
           "--no-access-log"]  # fmt: skip


def our_app():
    """uvicorn factory for our API (reads BENCH_DATABASE_URL)."""
    from api.app import create_app

    return create_app(sa.create_engine(os.environ["BENCH_DATABASE_URL"]))


# --- setup ------------------------------------------------------------------------------


def database(url: str | None) -> tuple[str, object | None]:
    """The URL of a database with the demo world: ``url``, or a throw-away embedded cluster."""
    from geo.paths import GUANGDONG_COUNTIES
    from layers.cluster import EmbeddedCluster
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries
    from layers.migrate import upgrade

    cluster = None
    if url is None:
        home = Path(tempfile.mkdtemp(prefix="gongjian-bench-tiles-"))
        cluster = EmbeddedCluster(home)
        url = cluster.up()
    upgrade(url)
    engine = sa.create_engine(url)
    import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
    ensure_demo(engine, Path(cluster.home if cluster else tempfile.mkdtemp()))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return url, cluster


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    import math

    n = 2**z
    rad = math.radians(lat)
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)


def fixed_tiles(engine: sa.Engine) -> list[tuple[int, int, int]]:
    """Per zoom, the distinct tiles of evenly spaced households (deterministic)."""
    with engine.connect() as conn:
        points = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE synthetic ORDER BY id")
        ).all()
    tiles: list[tuple[int, int, int]] = []
    for z in ZOOMS:
        seen: list[tuple[int, int, int]] = []
        for lon, lat in points[:: max(1, len(points) // 400)]:
            tile = tile_of(lon, lat, z)
            if tile not in seen:
                seen.append(tile)
        tiles += seen[:: max(1, len(seen) // TILES_PER_ZOOM)][:TILES_PER_ZOOM]
    return tiles


def fixed_bboxes(engine: sa.Engine) -> list[str]:
    """Boxes of ~4 km around evenly spaced households."""
    with engine.connect() as conn:
        points = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE synthetic ORDER BY id")
        ).all()
    step = max(1, len(points) // ITEMS_QUERIES)
    return [f"{x - 0.02:.5f},{y - 0.02:.5f},{x + 0.02:.5f},{y + 0.02:.5f}"
            for x, y in points[::step][:ITEMS_QUERIES]]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, port: int, probe: str, headers: dict) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port),
         *UVICORN],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", headers=headers).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server on port {port} did not start")


# --- the two APIs -------------------------------------------------------------------------


class Ours:
    name = "gongjian"

    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"}

    def tile(self, layer: str, z: int, x: int, y: int) -> str:
        return f"{self.base}/tiles/{layer}/{z}/{x}/{y}.mvt"

    def items(self, bbox: str) -> str:
        return f"{self.base}/collections/household/items?bbox={bbox}&limit=1000"


class Tipg:
    name = "tipg"

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.headers: dict = {}

    def tile(self, layer: str, z: int, x: int, y: int) -> str:
        names = ",".join(tile_attributes(REGISTRY[layer], z))
        return (f"{self.base}/collections/public.{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}"
                f"?properties={names}")  # fmt: skip

    def items(self, bbox: str) -> str:
        return f"{self.base}/collections/public.household/items?bbox={bbox}&limit=1000"


def timed_pass(client: httpx.Client, api, urls: list[str]) -> tuple[float, list[bytes]]:
    bodies = []
    started = time.perf_counter()
    for url in urls:
        response = client.get(url, headers=api.headers)
        response.raise_for_status()
        bodies.append(response.content)
    return time.perf_counter() - started, bodies


def features_in(tiles: list[bytes]) -> int:
    total = 0
    for body in tiles:
        if body:
            for layer in mapbox_vector_tile.decode(body).values():
                total += len(layer["features"])
    return total


def load(api, tile_urls: list[str], item_urls: list[str], seconds: float, clients: int = 8):
    """``clients`` threads requesting for ``seconds``: latencies (s) and error count."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=60) as client:
            n = 0
            while time.monotonic() < stop:
                n += 1
                url = rng.choice(item_urls) if n % 10 == 0 else rng.choice(tile_urls)
                t0 = time.perf_counter()
                try:
                    ok = client.get(url, headers=api.headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    errors[0] += not ok

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values)


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the load test")
    parser.add_argument("--url", help="a migrated database to use (gets the demo world)")
    args = parser.parse_args()

    print("preparing the database and the demo world …", flush=True)
    url, cluster = database(args.url)
    engine = sa.create_engine(url)
    token = add_user(engine, f"bench-{os.getpid()}", "admin", "441882", actor="bench")
    tiles = fixed_tiles(engine)
    bboxes = fixed_bboxes(engine)
    plain = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ours_port, tipg_port = free_port(), free_port()
    ours = Ours(ours_port, token)
    tipg = Tipg(tipg_port)
    servers = []
    try:
        ours_env = {"BENCH_DATABASE_URL": url}
        ours_args = ["--factory", "bench.tiles_vs_tipg:our_app"]
        servers.append(start(ours_args, ours_env, ours_port, "/me", ours.headers))
        tipg_env = {
            "DATABASE_URL": plain,
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": json.dumps([f"public.{name}" for name in LAYERS]),
            "TIPG_DB_FUNCTIONS": "[]",
            "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        }
        servers.append(start(["tipg.main:app"], tipg_env, tipg_port, "/collections", {}))
        results = run(ours, tipg, tiles, bboxes, args.duration)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
        with engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM api_user WHERE name = :n"), {"n": f"bench-{os.getpid()}"}
            )
        engine.dispose()
        if cluster is not None:
            cluster.destroy()
            shutil.rmtree(cluster.home, ignore_errors=True)
    print(json.dumps(results))


def run(ours: Ours, tipg: Tipg, tiles, bboxes, duration: float) -> dict:
    tile_urls = {api.name: [api.tile(layer, *t) for layer in LAYERS for t in tiles]
                 for api in (ours, tipg)}  # fmt: skip
    item_urls = {api.name: [api.items(b) for b in bboxes] for api in (ours, tipg)}
    print(f"{len(tile_urls['tipg'])} tiles (z10–z16, {', '.join(LAYERS)}), "
          f"{len(bboxes)} items queries", flush=True)  # fmt: skip
    with httpx.Client(timeout=120) as client:
        timed_pass(client, tipg, tile_urls["tipg"] + item_urls["tipg"])  # warm PostgreSQL
        cold = {api.name: timed_pass(client, api, tile_urls[api.name]) for api in (ours, tipg)}
        again = {api.name: timed_pass(client, api, tile_urls[api.name]) for api in (ours, tipg)}
        items = {api.name: timed_pass(client, api, item_urls[api.name]) for api in (ours, tipg)}
    for name in ("gongjian", "tipg"):
        bodies = cold[name][1]
        matched = [json.loads(b)["numberReturned"] for b in items[name][1]]
        print(f"{name:>9}: cold tiles {cold[name][0]:.2f} s, repeated {again[name][0]:.2f} s, "
              f"items {items[name][0]:.2f} s; tile bytes {sum(map(len, bodies)):,}, "
              f"tile features {features_in(bodies):,}, items features {sum(matched):,}",
              flush=True)  # fmt: skip
    latency = {}
    for api in (ours, tipg):
        values, errors = load(api, tile_urls[api.name], item_urls[api.name], duration)
        latency[api.name] = (p99(values), errors, len(values))
        print(f"{api.name:>9}: {len(values):,} requests in {duration:.0f} s with 8 clients, "
              f"p99 {p99(values) * 1000:.1f} ms, errors {errors}", flush=True)  # fmt: skip

    def ratio(pair: dict) -> float:
        return round(pair["tipg"][0] / pair["gongjian"][0], 2)

    return {
        "bench": "tiles_vs_tipg",
        "cold_tiles_ratio": ratio(cold),
        "repeated_tiles_ratio": ratio(again),
        "items_ratio": ratio(items),
        "p99_ms_ours": round(latency["gongjian"][0] * 1000, 1),
        "p99_ms_tipg": round(latency["tipg"][0] * 1000, 1),
        "errors_ours": latency["gongjian"][1],
        "errors_tipg": latency["tipg"][1],
        "tiles": len(tile_urls["tipg"]),
        "items_queries": len(bboxes),
        "load_seconds": duration,
    }


if __name__ == "__main__":
    main()
