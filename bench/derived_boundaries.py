"""Benchmark: village boundaries derived from points alone against the demo's true polygons.

On the Lianzhou demo, forget the township and village polygons and derive them from the
households' and hamlets' points as a county set up with ``gongjian county init`` would
(``geo.derived_boundaries``: least-cost allocation over the DEM, each point's own zone kept,
clipped to the real county outline), then compare with the demo's true polygons:

* ``median_iou``: median over the true villages of area(derived ∩ true) / area(derived ∪ true)
  (a village with no points, hence no derived polygon, counts 0); target ≥ 0.75;
* ``households_inside_own_village_pct``: share of households whose point lies in the derived
  polygon of their own village (the codes decide membership); must be 100 %;
* ``max_gap_m2``, ``max_overlap_m2``: the largest gap or overlap among villages within their
  derived township and townships within the county; target < 1 m².

The same run derives plain straight-line Voronoi polygons (no DEM) as the reference and prints
the IoU ratio of ours to it.

Usage: ``python bench/derived_boundaries.py`` against DATABASE_URL or the embedded cluster
(the Lianzhou demo is loaded when missing). The last line is one JSON object.
"""

from __future__ import annotations

import json
import time

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

from geo.derived_boundaries import (
    derive_boundaries,
    local_equal_area,
    points_outside_own_polygon,
    read_elevation,
    tiling_defects,
)
from layers.db import database_url, engine_for
from layers.migrate import upgrade
from layers.settings import DatabaseSettings

COUNTY = "441882"
POINTS_SQL = """
SELECT village_code, 'household' AS kind, geom FROM household WHERE left(village_code, 6) = :c
UNION ALL
SELECT village_code, 'hamlet', geom FROM hamlet WHERE left(village_code, 6) = :c
"""


def main() -> None:
    settings = DatabaseSettings()
    url = database_url(settings)
    upgrade(url)
    engine = engine_for(url)
    _ensure_demo(engine, settings)
    with engine.connect() as conn:
        points = gpd.read_postgis(sa.text(POINTS_SQL), conn, geom_col="geom", params={"c": COUNTY})
        truth = gpd.read_postgis(
            sa.text("SELECT code, geom FROM village WHERE left(code, 6) = :c ORDER BY code"),
            conn,
            params={"c": COUNTY},
        )
        outline = shapely.from_wkb(
            bytes(
                conn.execute(
                    sa.text("SELECT ST_AsBinary(geom) FROM county WHERE code = :c"), {"c": COUNTY}
                ).scalar()
            )
        )
        dem = conn.execute(sa.text("SELECT path FROM raster WHERE kind = 'dem' LIMIT 1")).scalar()
    households = points[points["kind"] == "household"].reset_index(drop=True)
    print(f"{len(households):,} households and {len(points) - len(households):,} hamlets, "
          f"{len(truth)} true villages")  # fmt: skip

    start = time.perf_counter()
    ours = derive_boundaries(points, outline, read_elevation(dem, outline))
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    voronoi = derive_boundaries(points, outline)
    voronoi_s = time.perf_counter() - start

    result = {"bench": "derived_boundaries", **measure(ours, truth, households, outline)}
    reference = measure(voronoi, truth, households, outline)
    for name, value in (("ours (DEM)", result), ("straight-line Voronoi", reference)):
        print(
            f"{name:>22}: median IoU {value['median_iou']:.3f}, households inside "
            f"{value['households_inside_own_village_pct']:.2f} %, largest gap "
            f"{value['max_gap_m2']:.3f} m², overlap {value['max_overlap_m2']:.3f} m²"
        )
    result |= {
        "voronoi_median_iou": reference["median_iou"],
        "iou_ratio_vs_voronoi": round(result["median_iou"] / reference["median_iou"], 3),
        "seconds": round(ours_s, 2),
        "voronoi_seconds": round(voronoi_s, 2),
        "targets_met": result["median_iou"] >= 0.75
        and result["households_inside_own_village_pct"] == 100.0
        and max(result["max_gap_m2"], result["max_overlap_m2"]) < 1.0,
    }
    print(json.dumps(result, ensure_ascii=False))


def measure(derived, truth: gpd.GeoDataFrame, households, outline) -> dict:
    crs = local_equal_area(outline)
    true = truth.set_index("code").geometry.to_crs(crs)
    mine = derived.villages.set_index("code").geometry.to_crs(crs).make_valid().reindex(true.index)
    ious = [
        0.0 if d is None or d.is_empty else t.intersection(d).area / t.union(d).area
        for t, d in zip(true, mine, strict=True)
    ]
    outside = points_outside_own_polygon(households, derived.villages)
    gaps, overlaps = zip(
        tiling_defects(derived.townships.geometry, outline),
        *(
            tiling_defects(group.geometry, derived.townships.set_index("code").geometry[code])
            for code, group in derived.villages.groupby("township_code")
        ),
        strict=True,
    )
    return {
        "median_iou": round(float(np.median(ious)), 4),
        "households_inside_own_village_pct": round(100 * (1 - len(outside) / len(households)), 3),
        "max_gap_m2": round(max(gaps), 4),
        "max_overlap_m2": round(max(overlaps), 4),
        "villages_true": len(true),
        "villages_derived": len(derived.villages),
    }


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
