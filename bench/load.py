"""Load: 100 simulated office users for 60 s against ``gongjian serve --workers N`` (locust).

A morning at the county: township offices and planners on the web map — vector tiles
(most requests), household item pages, flag lists, now and then a township's wall-map PNG,
and edits of household cards (each a real change with a new version and an audit row).
The users are ``bench/load_locustfile.py``; locust runs headless on loopback only, for a
bounded time.

The database is the one of ``GONGJIAN_HOME`` (or ``DATABASE_URL``), with the Lianzhou demo
(loaded if missing; run ``gongjian flags --county 441882`` first for a flag list with
rows). The bench starts its own server on a free loopback port, makes a viewer and an
editor of the county (removed afterwards), renders each township's wall map once before the
clock starts (they are cached until their data changes), then measures. The phones the edits
changed are put back through the API afterwards (audited too).

Printed: requests/s, p50/p99 per kind, failures and 5xx. Targets: 0 errors, 0 5xx, p99 of
tiles ≤ 200 ms. Last line: one JSON object.

    pip install -e .[bench]
    GONGJIAN_HOME=/path/to/bench-home python bench/load.py [--users 100] [--seconds 60] \
        [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layers.access import add_user  # noqa: E402

COUNTY = "441882"  # the Lianzhou demo
TILE_ZOOMS = range(11, 17)
TILE_LAYERS = ("household", "road", "village")
KINDS = ("tile", "items", "flags", "wallmap_png", "edit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    url = ready_database()
    engine = sa.create_engine(url)
    prefix = f"bench-load-{uuid.uuid4().hex[:6]}"
    viewer = add_user(engine, f"{prefix}-viewer", "viewer", COUNTY, actor="bench")
    editor = add_user(engine, f"{prefix}-editor", "editor", COUNTY, actor="bench")
    work = Path(tempfile.mkdtemp(prefix="gongjian-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, args.workers, work / "server.log")
    try:
        wait_for(base, server)
        targets = pick_targets(engine, args.users)
        originals = phones(engine, targets["edit_households"])
        targets |= {"viewer_token": viewer, "editor_token": editor, "county": COUNTY,
                    "results_file": str(work / "results.json")}  # fmt: skip
        (work / "targets.json").write_text(json.dumps(targets))
        warm_wall_maps(base, viewer, targets["townships"])
        run_locust(base, work, args)
        restore_phones(base, editor, originals)
    finally:
        stop(server)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM api_user WHERE name LIKE :p"), {"p": f"{prefix}-%"})
    report(work, args)


# --- setup ---------------------------------------------------------------------------------


def ready_database() -> str:
    from geo.paths import GUANGDONG_COUNTIES
    from layers.db import database_url
    from layers.demo import ensure_demo
    from layers.importers import import_boundaries
    from layers.migrate import upgrade
    from layers.settings import DatabaseSettings

    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM household WHERE synthetic")).scalar()
    if not loaded:
        print("loading the demo world first …", file=sys.stderr)
        import_boundaries(engine, GUANGDONG_COUNTIES, actor="bench")
        ensure_demo(engine, settings.home)
    return url


def pick_targets(engine: sa.Engine, users: int) -> dict:
    """Tiles around households at z11–16, townships, one household per user to edit."""
    rng = random.Random(17)
    with engine.connect() as conn:
        homes = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM household WHERE synthetic ORDER BY id")
        ).all()
        townships = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT left(village_code, 9) FROM household "
                    "WHERE synthetic ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        edit = (
            conn.execute(
                sa.text("SELECT id FROM household WHERE synthetic ORDER BY id DESC LIMIT :n"),
                {"n": users},
            )
            .scalars()
            .all()
        )
    tiles = set()
    for lon, lat in rng.sample(homes, min(150, len(homes))):
        for z in TILE_ZOOMS:
            tiles.add((rng.choice(TILE_LAYERS), z, *tile_of(lon, lat, z)))
    return {"tiles": sorted(tiles), "townships": list(townships), "edit_households": list(edit)}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    rad = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)


def phones(engine: sa.Engine, ids: list[int]) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, phone FROM household WHERE id = ANY(:ids)"), {"ids": ids}
        ).all()
    return dict(rows)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(base: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode})")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not come up")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def warm_wall_maps(base: str, token: str, townships: list[str]) -> None:
    """Each township's wall map once (they are cached until their data changes)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
        for code in townships:
            client.get(f"/maps/townships/{code}/gongjian.png")


def restore_phones(base: str, token: str, originals: dict[int, str | None]) -> None:
    headers = {"Authorization": f"Bearer {token}", "If-Match": "*"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for household, phone in originals.items():
            client.patch(f"/collections/household/items/{household}", json={"phone": phone})


# --- the run -------------------------------------------------------------------------------


def run_locust(base: str, work: Path, args) -> None:
    assert base.startswith("http://127.0.0.1:"), "loopback only"
    command = [
        sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "load_locustfile.py"),
        "--headless", "--host", base, "--users", str(args.users),
        "--spawn-rate", str(max(1, args.users // 5)), "--run-time", f"{args.seconds}s",
        "--stop-timeout", "10", "--csv", str(work / "load"), "--only-summary",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_LOAD_TARGETS": str(work / "targets.json")}
    subprocess.run(command, env=env, cwd=REPO, check=False, timeout=args.seconds + 120,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def report(work: Path, args) -> None:
    with (work / "load_stats.csv").open(encoding="utf-8") as f:
        stats = {row["Name"]: row for row in csv.DictReader(f)}
    results = json.loads((work / "results.json").read_text())
    server_errors = results["server_errors"]
    print(f"{args.users} users, {args.seconds} s, {args.workers} workers")
    print(f"{'kind':<12} {'requests':>9} {'rps':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'failures':>9} {'5xx':>5}")  # fmt: skip
    for kind in KINDS:
        row = stats.get(kind)
        if row is None:
            continue
        print(f"{kind:<12} {int(row['Request Count']):>9} {float(row['Requests/s']):>7.1f} "
              f"{row['50%']:>8} {row['99%']:>8} {int(row['Failure Count']):>9} "
              f"{server_errors.get(kind, 0):>5}")  # fmt: skip
    total = stats["Aggregated"]
    errors = int(total["Failure Count"])
    print(f"{'all':<12} {int(total['Request Count']):>9} {float(total['Requests/s']):>7.1f} "
          f"{total['50%']:>8} {total['99%']:>8} {errors:>9} "
          f"{sum(server_errors.values()):>5}")  # fmt: skip
    print(f"edits saved: {results['edits']}; details in {work}")
    tile = stats.get("tile", {})
    print(json.dumps({
        "bench": "load", "rps": round(float(total["Requests/s"]), 1),
        "p99_tile_ms": float(tile.get("99%", "nan")), "p50_tile_ms": float(tile.get("50%", "nan")),
        "errors": errors, "server_errors": sum(server_errors.values()),
        "users": args.users, "seconds": args.seconds, "workers": args.workers,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
