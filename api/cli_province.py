"""``gongjian demo --scale province --load``: every county's synthetic world, in parallel."""

from __future__ import annotations

import time

from api.cli_common import actor, counting_progress, fail, out, ready_engine
from layers.settings import DatabaseSettings


def load_province(seed: int, counties: str | None, jobs: int | None) -> None:
    """Build and load the counties (all by default); report each failed county."""
    from geo.paths import GUANGDONG_COUNTIES
    from layers.importers import import_boundaries
    from layers.province_world import build_and_load, county_codes, default_jobs

    codes = [c.strip() for c in counties.split(",") if c.strip()] if counties else county_codes()
    if not codes:
        fail("--counties lists no county code", 2)
    settings = DatabaseSettings()
    engine = ready_engine(settings)
    out.print(import_boundaries(engine, GUANGDONG_COUNTIES, actor=actor()).describe())
    started = time.monotonic()
    with counting_progress() as progress:
        task = progress.add_task("province world (示例数据（合成）)", total=len(codes))

        def advance(result) -> None:
            progress.advance(task)
            if result.error:
                out.print(f"[red]failed[/] {result.name} ({result.code}): {result.error}")

        results = build_and_load(
            engine,
            codes,
            seed=seed,
            work_dir=settings.home / "province" / f"seed{seed}",
            jobs=jobs or default_jobs(),
            progress=advance,
        )
    loaded = [r for r in results if not r.error]
    households = sum(r.counts.get("household", 0) for r in loaded)
    out.print(
        f"province world (seed {seed}): {len(loaded)} of {len(results)} counties loaded, "
        f"{households:,} households, in {time.monotonic() - started:.0f} s (示例数据（合成）)"
    )
    if loaded:
        build = sorted(r.build_seconds for r in loaded)
        load = sum(r.load_seconds for r in loaded) / len(loaded)
        out.print(
            f"per county: build {sum(build) / len(build):.1f} s mean, "
            f"{build[len(build) // 2]:.1f} s median, {build[-1]:.1f} s max; load {load:.1f} s mean",
            highlight=False,
        )
    failed = [r for r in results if r.error]
    for result in failed:
        out.print(f"not loaded: {result.name} ({result.code}): {result.error}", highlight=False)
    if failed:
        fail(f"{len(failed)} count{'y' if len(failed) == 1 else 'ies'} not loaded")
