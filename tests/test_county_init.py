"""``gongjian county init``: a real county from the official codes, its household list, and
the boundaries derived from the points (real PostGIS, a database of the module's own)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import sqlalchemy as sa

from geo import divisions
from geo.demo.world import load_county
from geo.derived_boundaries import tiling_defects
from layers.county_setup import CountyInitError, init_county
from layers.imports import ImportError_, ImportOptions, import_file
from maps.wallmap import symbology as sym
from maps.wallmap.render import render_township_map
from tests.county_lists import (
    COUNTY,
    chosen_villages,
    duplicate_village_name,
    household_rows,
    scratch_engine,
    write_list,
)
from tests.test_divisions import LIANZHOU_TOWNSHIPS

ACTOR = "test:county"
UNITS_SQL = """
SELECT 'township' AS t, code, name, NULL AS official, NULL AS committee, county_code AS parent
FROM township UNION ALL
SELECT 'village', code, name, official_name, committee, township_code FROM village ORDER BY 2
"""


@pytest.fixture(scope="module")
def db(database_url: str):
    with scratch_engine(database_url) as (engine, _):
        init_county(engine, COUNTY, actor=ACTOR)
        yield engine


@pytest.fixture(scope="module")
def imported(db, tmp_path_factory) -> dict:
    """The county's household list imported: by code for most, by name (with 乡镇) for one."""
    villages = chosen_villages()
    rows = household_rows(villages)
    path = write_list(rows, tmp_path_factory.mktemp("lists") / "建档立卡.csv")
    summary = import_file(db, "households", path, ImportOptions(actor=ACTOR))
    return {"rows": rows, "path": path, "summary": summary, "villages": villages}


def _units(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(UNITS_SQL))]


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar())


def test_county_init_creates_the_official_units_once(db):
    county = divisions.county_divisions(COUNTY)
    units = _units(db)
    townships = {(c, n) for t, c, n, *_ in units if t == "township"}
    assert townships == {(t.code, t.name) for t in county.townships}
    villages = {(c, official, committee, parent) for t, c, _, official, committee, parent in units
                if t == "village"}  # fmt: skip
    assert villages == {(v.code, v.name, v.committee, v.code[:9]) for v in county.villages}
    assert _count(db, "SELECT count(*) FROM village WHERE geom IS NOT NULL") == 0
    audit = _count(db, "SELECT count(*) FROM audit_log")

    again = init_county(db, COUNTY, actor=ACTOR)

    assert again.townships == (0, len(county.townships))
    assert again.villages == (0, len(county.villages))
    assert _units(db) == units
    assert _count(db, "SELECT count(*) FROM audit_log") == audit


def test_lianzhou_official_codes_come_out_exactly(database_url: str):
    with scratch_engine(database_url) as (engine, _):
        summary = init_county(engine, "441882", actor=ACTOR)
        with engine.connect() as conn:
            townships = dict(
                conn.execute(
                    sa.text("SELECT code, name FROM township WHERE county_code = '441882'")
                ).all()
            )
            committees = dict(
                conn.execute(
                    sa.text("SELECT committee, count(*) FROM village GROUP BY committee")
                ).all()
            )
            county = conn.execute(sa.text("SELECT name, city FROM county")).one()
    assert townships == LIANZHOU_TOWNSHIPS
    assert committees == {"村委会": 163, "居委会": 11}
    assert tuple(county) == ("连州市", "清远市")
    assert summary.county_created


@pytest.mark.parametrize(
    ("code", "townships", "expected"),
    [
        ("451882", None, "not in Guangdong"),
        ("441883", None, "nearest: 441882 连州市"),
        ("4418", None, "6 digits"),
        ("441882101", None, "give the county's 6-digit code"),
        ("连州", None, "441882 连州市"),
        ("441882", ["441881101"], "is in county 441881"),
        ("441882", ["441882199"], "no township 441882199 in 441882 连州市"),
    ],
)
def test_bad_codes_are_refused_with_suggestions(db, code, townships, expected):
    before = _units(db)
    with pytest.raises(CountyInitError, match=expected):
        init_county(db, code, actor=ACTOR, townships=townships)
    assert _units(db) == before


def test_a_code_taken_under_another_name_is_refused_and_nothing_written(database_url: str):
    first, second = divisions.county_divisions("441882").townships[:2]
    with scratch_engine(database_url) as (engine, _):
        init_county(engine, "441882", actor=ACTOR, townships=[first.code])
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE township SET name = '示例镇' WHERE code = :c"), {"c": first.code}
            )
        with pytest.raises(CountyInitError, match=f"township {first.code}: 示例镇"):
            init_county(engine, "441882", actor=ACTOR)
        assert _count(engine, "SELECT count(*) FROM township WHERE code = :c", c=second.code) == 0


def test_household_list_gives_derived_boundaries_that_tile_and_contain(db, imported):
    assert imported["summary"].inserted == len(imported["rows"])
    assert any("示意界线" in note for note in imported["summary"].notes)
    with db.connect() as conn:
        villages = gpd.read_postgis(
            "SELECT code, boundary_derived, geom FROM village WHERE geom IS NOT NULL", conn
        )
        townships = gpd.read_postgis(
            "SELECT code, boundary_derived, geom FROM township WHERE geom IS NOT NULL", conn
        )
        outside = conn.execute(
            sa.text("""SELECT count(*) FROM household h JOIN village v ON v.code = h.village_code
                       WHERE NOT ST_Covers(v.geom, h.geom)""")
        ).scalar()
    with_points = {v.code for v in imported["villages"]}
    assert set(villages["code"]) == with_points
    assert villages["boundary_derived"].all() and townships["boundary_derived"].all()
    assert set(townships["code"]) == {c[:9] for c in with_points}
    assert outside == 0
    county = load_county(COUNTY)
    gap, overlap = tiling_defects(townships.geometry, county)
    assert gap < 1.0 and overlap < 1.0
    _, village_overlap = tiling_defects(villages.geometry, county)
    assert village_overlap < 1.0
    for code, group in villages.groupby(villages["code"].str[:9]):
        own = townships.loc[townships["code"] == code].geometry.iloc[0]
        gap, overlap = tiling_defects(group.geometry, own)
        assert gap < 1.0 and overlap < 1.0, code


def test_importing_the_list_again_changes_nothing(db, imported):
    with db.connect() as conn:
        before = conn.execute(sa.text("SELECT code, ST_AsBinary(geom) FROM village")).all()
    summary = import_file(db, "households", imported["path"], ImportOptions(actor=ACTOR))
    assert (summary.inserted, summary.updated) == (0, 0)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT code, ST_AsBinary(geom) FROM village")).all() == before


def test_wall_map_of_a_county_set_up_from_codes(db, imported, tmp_path: Path):
    township = imported["villages"][0].code[:9]
    listed = [r for r in imported["rows"] if r["户编号"].startswith(township)]
    pdf = tmp_path / "map.pdf"
    pdf.write_bytes(render_township_map(db, township, paper="A3", fmt="pdf"))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.replace(" ", "")
    assert f"{sym.STATUS_LABELS['poor']}" in text
    assert f"{len(listed)}户" in text
    assert "示意界线" in text
    assert "示例数据（合成）" not in text


def test_village_names_resolve_within_their_township(db, tmp_path: Path):
    one, other = duplicate_village_name()[1][:2]
    rows = household_rows([one], per_village=2, seed=3, by="name")
    for row in rows:
        row["户编号"] = row["户编号"][:-4] + f"9{row['户编号'][-3:]}"
    summary = import_file(
        db, "households", write_list(rows, tmp_path / "by-name.csv"), ImportOptions(actor=ACTOR)
    )
    assert summary.inserted == 2
    assert _count(
        db, "SELECT count(*) FROM household WHERE household_no = :n AND village_code = :v",
        n=rows[0]["户编号"], v=one.code,
    ) == 1  # fmt: skip
    assert other.code != one.code


def test_an_unknown_village_name_is_refused(db, tmp_path: Path):
    rows = household_rows(chosen_villages()[:1], per_village=2, seed=6, by="name")
    rows[1]["所在村"] = "无名村"
    expected = r"row 3, field '所在村': no village '无名村' in township"
    with pytest.raises(ImportError_, match=expected):
        import_file(db, "households", write_list(rows, tmp_path / "unknown.csv"),
                    ImportOptions(actor=ACTOR))  # fmt: skip


def test_an_ambiguous_village_name_is_refused_listing_the_candidates(db, tmp_path: Path):
    _, candidates = duplicate_village_name()
    rows = household_rows(candidates[:1], per_village=1, seed=4, by="name")
    for row in rows:
        del row["乡镇"]
        row["户编号"] = "4418269999990001"
    before = _count(db, "SELECT count(*) FROM household")
    with pytest.raises(ImportError_) as caught:
        import_file(db, "households", write_list(rows, tmp_path / "ambiguous.csv"),
                    ImportOptions(actor=ACTOR))  # fmt: skip
    message = str(caught.value)
    assert "ambiguous.csv" in message and "row 2" in message and "所在村" in message
    assert all(c.code in message for c in candidates)
    assert _count(db, "SELECT count(*) FROM household") == before


def test_a_village_column_mixing_codes_and_names_is_refused(db, tmp_path: Path):
    villages = chosen_villages()[:2]
    rows = household_rows(villages, per_village=3, seed=5)
    for row in rows:
        row["户编号"] = "8" + row["户编号"][1:]
    rows[4]["所在村"] = villages[1].short_name  # one name among codes, on file row 6
    before = _count(db, "SELECT count(*) FROM household")
    with pytest.raises(ImportError_) as caught:
        import_file(db, "households", write_list(rows, tmp_path / "mixed.csv"),
                    ImportOptions(actor=ACTOR))  # fmt: skip
    message = str(caught.value)
    assert "mixed.csv" in message and "row 6" in message and "所在村" in message
    assert "codes or names throughout" in message
    assert _count(db, "SELECT count(*) FROM household") == before


def test_real_polygons_replace_derived_ones_and_misplaced_households_are_reported(
    database_url: str, tmp_path: Path
):
    with scratch_engine(database_url) as (engine, _):
        init_county(engine, COUNTY, actor=ACTOR)
        villages = chosen_villages()
        rows = household_rows(villages)
        import_file(engine, "households", write_list(rows, tmp_path / "list.csv"),
                    ImportOptions(actor=ACTOR))  # fmt: skip
        with engine.connect() as conn:
            derived = gpd.read_postgis(
                "SELECT code, name, geom FROM village WHERE geom IS NOT NULL ORDER BY code", conn
            )
        # the surveyed polygons: the derived ones, except that one household's spot (a 100 m
        # disc) belongs to the neighbouring village
        moved = rows[0]
        spot = shapely.Point(moved["经度"], moved["纬度"]).buffer(0.001)
        first, second = derived.index[:2]
        derived.loc[first, "geom"] = derived.loc[first, "geom"].difference(spot)
        derived.loc[second, "geom"] = derived.loc[second, "geom"].union(spot)
        derived = derived.set_geometry(derived.geometry.apply(shapely.make_valid))
        path = tmp_path / "村界.geojson"
        derived.rename(columns={"code": "村代码", "name": "村名"}).to_file(path)

        summary = import_file(engine, "villages", path, ImportOptions(actor=ACTOR))

        assert summary.updated == len(derived)
        assert _count(engine, "SELECT count(*) FROM village WHERE boundary_derived") == 0
        assert [m["household_no"] for m in summary.misplaced] == [moved["户编号"]]
        report = summary.misplaced[0]
        assert report["file"] == "村界.geojson" and report["row"] == 2
        assert report["falls_in"].startswith(derived.loc[second, "code"])
        assert report["distance_m"] > 10
        assert any(moved["户编号"] in note for note in summary.notes)


def test_synthetic_label_only_when_the_registry_holds_synthetic_data(db, imported):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_support import new_users

    users = new_users(db)
    users.add("admin", "admin", COUNTY)
    township = imported["villages"][0].code[:9]

    def outputs() -> list[str]:
        with TestClient(create_app(db)) as client:
            headers = users.headers("admin")
            return [
                client.get("/openapi.json").json()["info"]["description"],
                client.get("/?f=json").json()["description"],
                client.get("/?f=html").text,
                client.get("/tiles/village.json", headers=headers).json()["attribution"],
                client.get("/dashboard").text,
                client.get(f"/townships/{township}").text,
                client.get(f"/collections/village/items?township={township}", headers=headers).text,
            ]

    real = outputs()
    assert not [text for text in real if "示例数据" in text]
    items = json.loads(real[-1])
    drawn = [f for f in items["features"] if f["geometry"] is not None]
    assert drawn and all(f["properties"]["boundary_derived"] for f in drawn)
    assert not any(f["properties"]["boundary_derived"] for f in items["features"] if f not in drawn)
    with db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO dataset (name, fingerprint, synthetic) VALUES ('t', 'x', true)")
        )
    try:
        assert all("示例数据（合成）" in text for text in outputs())
    finally:
        with db.begin() as conn:
            conn.execute(sa.text("DELETE FROM dataset WHERE name = 't'"))
        users.drop()


def test_moving_a_household_re_derives_its_village_polygon(db, imported):
    """A derived polygon only approximates the points: a household moved (through the API)
    beyond it is accepted when it stays in the county, and the polygons follow the point."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_support import new_users

    users = new_users(db)
    users.add("mover", "admin", COUNTY)
    with db.connect() as conn:
        household, village, target = conn.execute(
            sa.text("""
            SELECT h.id, h.village_code, ST_AsText(ST_PointOnSurface(o.geom))
            FROM household h JOIN village v ON v.code = h.village_code
            JOIN village o ON left(o.code, 9) = left(v.code, 9) AND o.code <> v.code
            WHERE left(h.village_code, 6) = :c AND v.boundary_derived AND o.geom IS NOT NULL
            ORDER BY h.id LIMIT 1"""),
            {"c": COUNTY},
        ).one()
    point = shapely.from_wkt(target)
    url = f"/collections/household/items/{household}"
    try:
        with TestClient(create_app(db)) as client:
            headers = users.headers("mover")
            etag = client.get(url, headers=headers).headers["etag"]
            abroad = {"location": {"lon": 113.9, "lat": 22.5}}  # Shenzhen
            refused = client.patch(url, json=abroad, headers=headers | {"If-Match": etag})
            assert refused.status_code == 400 and "county" in refused.text
            moved = {"location": {"lon": round(point.x, 6), "lat": round(point.y, 6)}}
            saved = client.patch(url, json=moved, headers=headers | {"If-Match": etag})
            assert saved.status_code == 200, saved.text
        with db.connect() as conn:
            contains = conn.execute(
                sa.text("""SELECT ST_Covers(v.geom, h.geom) AND v.boundary_derived
                FROM household h JOIN village v ON v.code = h.village_code WHERE h.id = :h"""),
                {"h": household},
            ).scalar()
            outside = conn.execute(
                sa.text("""SELECT count(*) FROM household h JOIN village v
                ON v.code = h.village_code WHERE NOT ST_Covers(v.geom, h.geom)""")
            ).scalar()
            villages = gpd.read_postgis(
                "SELECT code, geom FROM village WHERE geom IS NOT NULL", conn
            )
        assert contains, f"village {village} does not contain its moved household"
        assert outside == 0
        _, overlap = tiling_defects(villages.geometry, load_county(COUNTY))
        assert overlap < 1.0
    finally:
        users.drop()
