"""A real county set up from the official codes, and household lists for it (test helpers).

The county is 连南瑶族自治县 441826 (small, and two of its villages share a name, which the
name-resolution tests need); codes and names come from the bundled divisions, never typed
here. Household points are made up: a cluster per village inside the county's real outline.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import shapely
import sqlalchemy as sa

from geo import divisions
from geo.demo.world import load_county
from layers.migrate import upgrade
from tests.importing import write_rows
from tests.test_schema import scratch_database

COUNTY = "441826"


@contextmanager
def scratch_engine(database_url: str):
    """A freshly migrated empty database of its own (the demo may sit in the session one)."""
    with scratch_database(database_url) as url:
        upgrade(url)
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            yield engine, url
        finally:
            engine.dispose()


def duplicate_village_name(county: str = COUNTY) -> tuple[str, list[divisions.Division]]:
    """A short village name two villages of the county share, with those villages."""
    villages = divisions.county_divisions(county).villages
    name, _ = next((n, c) for n, c in Counter(v.short_name for v in villages).items() if c > 1)
    return name, [v for v in villages if v.short_name == name]


def chosen_villages(county: str = COUNTY, per_township: int = 3) -> list[divisions.Division]:
    """The first villages of the county's first two townships, plus the duplicate-named ones."""
    c = divisions.county_divisions(county)
    picked = []
    for township in c.townships[:2]:
        picked += [v for v in c.villages if v.code.startswith(township.code)][:per_township]
    picked += [v for v in duplicate_village_name(county)[1] if v not in picked]
    return picked


def household_rows(
    villages: list[divisions.Division], per_village: int = 5, seed: int = 14, by: str = "code"
) -> list[dict]:
    """Rows of an office household list: a cluster of households per village, inside the
    county. ``by`` = "code" gives the village's code, "name" its name and township."""
    outline = load_county(COUNTY)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = outline.bounds
    centres = []
    while len(centres) < len(villages):
        p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if outline.buffer(-0.01).contains(p) and all(p.distance(q) > 0.02 for q in centres):
            centres.append(p)
    rows = []
    for v, centre in zip(villages, centres, strict=True):
        township = divisions.get(v.code[:9])
        for i in range(per_village):
            row = {
                "户编号": f"{v.code}{i + 1:04d}",
                "户主姓名": f"黄{'一二三四五六七八九'[i % 9]}",
                "家庭人口数": 3 + i % 3,
                "劳动力人数": 1 + i % 2,
                "贫困户属性": "一般贫困户",
                "主要致贫原因": "因病致贫",
                "住房状况": "安全住房",
                "所在村": v.code if by == "code" else v.short_name,
                "经度": round(centre.x + rng.normal(0, 0.003), 6),
                "纬度": round(centre.y + rng.normal(0, 0.003), 6),
            }
            if by == "name":
                row["乡镇"] = township.name
            rows.append(row)
    return rows


def write_list(rows: list[dict], path: Path) -> Path:
    return write_rows(rows, path)
