"""Loading the real Guangdong county boundaries, as `gongjian import boundaries` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo.paths import GUANGDONG_COUNTIES
from layers.importers import ImportError_, import_boundaries

SQUARE = [[113, 23], [113.1, 23], [113.1, 23.1], [113, 23]]
BOW_TIE = [[113, 23], [113.1, 23.1], [113.1, 23], [113, 23.1], [113, 23]]  # self-intersecting
EXPECTED = len(json.loads(GUANGDONG_COUNTIES.read_text(encoding="utf-8"))["features"])


@pytest.fixture(scope="module")
def loaded(engine: sa.Engine):
    first = import_boundaries(engine, GUANGDONG_COUNTIES, actor="test")
    second = import_boundaries(engine, GUANGDONG_COUNTIES, actor="test")
    return first, second


def test_every_county_loads_valid_and_inside_guangdong(engine: sa.Engine, loaded) -> None:
    first, _ = loaded
    assert first.read == EXPECTED and first.inserted + first.unchanged == EXPECTED
    with engine.connect() as conn:
        count, valid, xmin, ymin, xmax, ymax = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE ST_IsValid(geom)), "
                "ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), "
                "ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) FROM county"
            )
        ).one()
    assert count == valid == EXPECTED
    assert xmin > 109.5 and xmax < 117.5 and ymin > 20.0 and ymax < 25.6


def test_lianzhou_has_its_city_and_pairing_city(engine: sa.Engine, loaded) -> None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT name, city, pairing_city, ST_Area(geom::geography) / 1e6 "
                "FROM county WHERE code = '441882'"
            )
        ).one()
    name, city, pairing, km2 = row
    assert (name, city, pairing) == ("连州市", "清远市", "广州市")
    assert 2400 < km2 < 2900  # Lianzhou is about 2,660 km²


def test_reimport_changes_nothing(engine: sa.Engine, loaded) -> None:
    _, second = loaded
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, EXPECTED)


def test_bad_rows_are_named_and_nothing_is_written(engine: sa.Engine, tmp_path: Path) -> None:
    bad = {
        "type": "FeatureCollection",
        "features": [
            _feature("449901", "好县", SQUARE),
            _feature("44990X", "坏码县", SQUARE),
            _feature("449903", "蝴蝶县", BOW_TIE),
        ],
    }
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ImportError_) as excinfo:
        import_boundaries(engine, path, actor="test")
    message = str(excinfo.value)
    assert "bad.geojson: row 3, field 'code'" in message
    assert "bad.geojson: row 4, field 'geometry': invalid" in message
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM county WHERE code = '449901'")).scalar() == 0
        )


def test_dry_run_writes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    good = {"type": "FeatureCollection", "features": [_feature("449904", "试县", SQUARE)]}
    path = tmp_path / "good.geojson"
    path.write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    summary = import_boundaries(engine, path, actor="test", dry_run=True)
    assert summary.inserted == 1 and "would load" in summary.describe()
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM county WHERE code = '449904'")).scalar() == 0
        )


def _feature(code: str, name: str, ring: list[list[float]]) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "city": "测试市"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
