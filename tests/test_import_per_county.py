"""``gongjian import households FILE --per-county``: a province list with one broken county
loads the sound counties and names the broken one, with its rows, fields and a rejects file."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from layers.imports import ImportError_, ImportOptions, import_file
from layers.imports.kinds import KINDS
from layers.imports.per_county import import_per_county
from tests.importing import (
    build_world,
    household_rows,
    remove_world,
    stored_households,
    write_rows,
)

COUNTIES = ("449831", "449832", "449833")


@pytest.fixture(scope="module")
def worlds(engine: sa.Engine):
    built = [build_world(engine, code) for code in COUNTIES]
    yield built
    for world in built:
        remove_world(engine, world)


@pytest.fixture
def clean(engine: sa.Engine, worlds):
    """Each test starts with no households in the three counties."""
    _delete_households(engine)
    return worlds


def _delete_households(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM household WHERE village_code LIKE '44983%'"))


@pytest.fixture
def cli(database_url: str, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells unwrapped
    return CliRunner()


def province_rows(worlds, n: int = 3) -> list[dict]:
    """``n`` valid households in each county, county after county."""
    return [row for world in worlds for row in household_rows(world, n)]


def counts(engine: sa.Engine) -> dict[str, int]:
    """Stored households per county (0 for a county without any)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT left(village_code, 6), count(*) FROM household "
                "WHERE village_code LIKE '44983%' GROUP BY 1"
            )
        ).all()
    return {code: 0 for code in COUNTIES} | dict(rows)


def per_county(engine, path, **options):
    options = ImportOptions(actor="test", **options)
    return {r.code: r for r in import_per_county(engine, KINDS["households"], path, options)}


def bad_check_digit(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


def test_broken_county_named_the_others_loaded(cli, engine, clean, tmp_path) -> None:
    rows = province_rows(clean)
    rows[4]["身份证号"] = bad_check_digit(rows[4]["身份证号"])  # county 449832, file row 6
    path = write_rows(rows, tmp_path / "全省.csv")
    result = cli.invoke(app, ["import", "households", str(path), "--per-county"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert counts(engine) == {"449831": 3, "449832": 0, "449833": 3}
    assert "row 6, field '身份证号'" in output and "1 of 3 counties not loaded (449832)" in output
    assert "试验县32" in output  # the county's name from the database
    rejects = pd.read_csv(tmp_path / "全省.rejects" / "全省.449832.rejects.csv", dtype=str)
    assert list(rejects["户编号"]) == [rows[4]["户编号"]]
    assert "身份证号" in rejects["error"].iloc[0]
    assert not (tmp_path / "全省.rejects" / "全省.449831.rejects.csv").exists()


def test_database_check_fails_only_its_county(engine, clean, tmp_path) -> None:
    rows = province_rows(clean)
    rows[7]["经度"] = 113.43  # county 449833, file row 9: in village B, not its village A
    results = per_county(engine, write_rows(rows, tmp_path / "hh.csv"))
    assert [r.status for r in results.values()] == ["loaded", "loaded", "failed"]
    broken = results["449833"]
    assert [(e["row"], e["field"]) for e in broken.errors] == [(9, "经度")]
    assert "outside its village" in broken.errors[0]["message"]
    assert broken.rejects_path.name == "hh.449833.rejects.csv"
    assert counts(engine) == {"449831": 3, "449832": 3, "449833": 0}
    assert (results["449831"].inserted, results["449832"].inserted) == (3, 3)


def test_good_file_same_as_a_plain_import(engine, clean, tmp_path) -> None:
    path = write_rows(province_rows(clean), tmp_path / "hh.gpkg")
    results = per_county(engine, path)
    assert all(r.status == "loaded" and r.inserted == 3 for r in results.values())
    by_county = pd.concat([stored_households(engine, w) for w in clean], ignore_index=True)
    incomes_by_county = _incomes(engine)
    _delete_households(engine)
    summary = import_file(engine, "households", path, ImportOptions(actor="test"))
    assert summary.inserted == 9
    whole = pd.concat([stored_households(engine, w) for w in clean], ignore_index=True)
    ids = ["hamlet_id", "cadre_id"]  # the same hamlet and cadre, whatever their ids
    pd.testing.assert_frame_equal(by_county.drop(columns=ids), whole.drop(columns=ids))
    assert incomes_by_county == _incomes(engine) and len(incomes_by_county) == 9
    with engine.connect() as conn:
        audits = conn.execute(
            sa.text(
                "SELECT after->>'read' FROM audit_log WHERE table_name = 'household' "
                "AND row_id IS NULL AND after->>'file' = 'hh.gpkg' ORDER BY id"
            )
        ).scalars()
        assert list(audits)[-4:] == ["3", "3", "3", "9"]  # one summary a county, then whole


def _incomes(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT h.household_no, i.year, i.per_capita_income FROM household_income i "
                "JOIN household h ON h.id = i.household_id "
                "WHERE h.village_code LIKE '44983%' ORDER BY 1, 2"
            )
        ).all()


def test_dry_run_writes_nothing(cli, engine, clean, tmp_path) -> None:
    path = write_rows(province_rows(clean), tmp_path / "hh.csv")
    result = cli.invoke(app, ["import", "households", str(path), "--per-county", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would load 3 of 3 counties" in " ".join(result.output.split())
    assert counts(engine) == dict.fromkeys(COUNTIES, 0)
    results = per_county(engine, path, dry_run=True)
    assert [(r.status, r.inserted) for r in results.values()] == [("would load", 3)] * 3
    assert counts(engine) == dict.fromkeys(COUNTIES, 0)


def test_villages_by_name_and_an_unknown_county(engine, clean, tmp_path) -> None:
    rows = [
        row | {"所在村": "上坪村", "乡镇": f"试验镇{world.county[-2:]}"}
        for world in clean
        for row in household_rows(world, 2)
    ]
    rows[3]["所在村"] = "无此村"  # file row 5: no such village anywhere
    results = per_county(engine, write_rows(rows, tmp_path / "names.csv"))
    assert list(results) == [*COUNTIES, None]
    assert [results[c].status for c in COUNTIES] == ["loaded", "loaded", "loaded"]
    unknown = results[None]
    assert unknown.status == "failed" and unknown.rows == 1
    assert (unknown.errors[0]["row"], unknown.errors[0]["field"]) == (5, "所在村")
    assert "无此村" in unknown.errors[0]["message"]
    assert unknown.rejects_path.name == "names.unknown-county.rejects.csv"
    assert counts(engine) == {"449831": 2, "449832": 1, "449833": 2}


def test_scope_refuses_the_counties_outside_it(engine, clean, tmp_path) -> None:
    path = write_rows(province_rows(clean), tmp_path / "hh.csv")
    results = per_county(engine, path, scope="449831")
    assert [r.status for r in results.values()] == ["loaded", "refused", "refused"]
    assert "outside your scope 449831" in results["449832"].errors[0]["message"]
    assert counts(engine) == {"449831": 3, "449832": 0, "449833": 0}


def test_rejects_directory_and_kinds_not_split(cli, engine, clean, tmp_path) -> None:
    rows = province_rows(clean, 1)
    rows[0]["劳动力人数"] = 9  # more workers than members
    path = write_rows(rows, tmp_path / "hh.csv")
    target = tmp_path / "退回"
    result = cli.invoke(
        app, ["import", "households", str(path), "--per-county", "--rejects", str(target)]
    )
    assert result.exit_code == 1, result.output
    assert [p.name for p in target.iterdir()] == ["hh.449831.rejects.csv"]
    assert counts(engine) == {"449831": 0, "449832": 1, "449833": 1}
    result = cli.invoke(app, ["import", "villages", str(path), "--per-county"])
    assert result.exit_code == 1 and "households, hamlets only" in " ".join(result.output.split())
    result = cli.invoke(app, ["import", "households", str(path), "--rejects", str(target)])
    assert result.exit_code == 2
    assert "--rejects goes with --per-county" in " ".join(result.output.split())
    with pytest.raises(ImportError_, match="households, hamlets only"):
        import_per_county(engine, KINDS["roads"], path, ImportOptions())


def test_person_list_by_county_with_members(engine, clean, tmp_path) -> None:
    """One row a person: each county's households and members load with their county."""
    rows = []
    for world in clean:
        for n in (1, 2):
            head, spouse = world.id_number(10 * n), world.id_number(10 * n + 1)
            village = world.village_a if world.county != "449832" or n == 1 else "449832100299"
            place = {"行政村": village, "经度": 113.405 + 0.002 * n, "纬度": 23.806}
            rows.append({"户编号": world.household_no(n), "姓名": f"户主{n}",
                         "证件号码": head, "与户主关系": "户主", **place})  # fmt: skip
            rows.append({"户编号": world.household_no(n), "姓名": f"配偶{n}",
                         "证件号码": spouse, "与户主关系": "配偶", **place})  # fmt: skip
    results = per_county(engine, write_rows(rows, tmp_path / "花名册.csv"))
    assert [r.status for r in results.values()] == ["loaded", "failed", "loaded"]
    broken = results["449832"]
    assert (broken.errors[0]["row"], broken.errors[0]["field"]) == (8, "所在村")  # 2nd head
    assert "449832100299" in broken.errors[0]["message"]
    assert counts(engine) == {"449831": 2, "449832": 0, "449833": 2}
    with engine.connect() as conn:
        members = conn.execute(
            sa.text(
                "SELECT left(h.village_code, 6), count(*) FROM household_member m "
                "JOIN household h ON h.id = m.household_id "
                "WHERE h.village_code LIKE '44983%' GROUP BY 1 ORDER BY 1"
            )
        ).all()
    assert members == [("449831", 4), ("449833", 4)]


def test_hamlets_by_county(engine, clean, tmp_path) -> None:
    rows = [
        {"自然村名称": f"新坑{world.county[-1]}", "所在村": world.village_a, "人口": 120,
         "经度": 113.41, "纬度": 23.81}
        for world in clean
    ]  # fmt: skip
    rows[2]["经度"] = 113.43  # 449833's hamlet lies in village B
    path = write_rows(rows, tmp_path / "hamlets.csv")
    results = import_per_county(engine, KINDS["hamlets"], path, ImportOptions(actor="test"))
    assert [(r.code, r.status) for r in results] == [
        ("449831", "loaded"),
        ("449832", "loaded"),
        ("449833", "failed"),
    ]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT village_code FROM hamlet WHERE name LIKE '新坑%' "
                "AND village_code LIKE '4498%' ORDER BY 1"  # the test counties, not the demo's
            )
        ).scalars()
        assert [code[:6] for code in stored] == ["449831", "449832"]


@pytest.fixture
def apart(engine: sa.Engine, clean):
    """Counties 449832 and 449833 moved 1° and 2° east, so a point tells its county."""

    def shift(sign: int) -> None:
        with engine.begin() as conn:
            for code, degrees in (("449832", 1), ("449833", 2)):
                conn.execute(
                    sa.text(
                        "UPDATE village SET geom = ST_Translate(geom, :dx, 0) WHERE code LIKE :c"
                    ),
                    {"dx": sign * degrees, "c": code + "%"},
                )

    shift(1)
    yield clean
    shift(-1)


def test_villages_by_location(engine, apart, tmp_path) -> None:
    rows = []
    for world, dx in ((apart[1], 1), (apart[2], 2)):
        for row in household_rows(world, 2):
            row.pop("所在村")
            rows.append(row | {"经度": row["经度"] + dx})
    rows[3]["经度"] = 116.2  # file row 5: in no village at all
    results = per_county(engine, write_rows(rows, tmp_path / "points.csv"))
    assert [(code, r.status, r.rows) for code, r in results.items()] == [
        ("449832", "loaded", 2),
        ("449833", "loaded", 1),
        (None, "failed", 1),
    ]
    assert results[None].errors[0]["row"] == 5
    assert "inside no village" in results[None].errors[0]["message"]
    assert counts(engine) == {"449831": 0, "449832": 2, "449833": 1}


def test_skip_invalid_loads_a_county_without_its_bad_rows(cli, engine, clean, tmp_path) -> None:
    rows = province_rows(clean, 2)
    rows[2]["劳动力人数"] = 9  # county 449832, file row 4
    path = write_rows(rows, tmp_path / "hh.csv")
    args = ["import", "households", str(path), "--per-county", "--skip-invalid"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "loaded, 1 rejected" in result.output
    assert counts(engine) == {"449831": 2, "449832": 1, "449833": 2}
    rejects = pd.read_csv(tmp_path / "hh.rejects" / "hh.449832.rejects.csv", dtype=str)
    assert list(rejects["户编号"]) == [rows[2]["户编号"]]


def test_a_database_fault_stops_the_counties_after_it(engine, clean, tmp_path, monkeypatch):
    """Lost connection or a full disk is no county's fault: the rest are not tried then."""
    from layers.imports import per_county as module

    path = write_rows(province_rows(clean), tmp_path / "hh.csv")
    split = module.split_by_county(
        engine, KINDS["households"], path, ImportOptions(actor="test"), None
    )
    real = module.load_county

    def lose_the_connection(writer, split, group):
        if group.code != "449832":
            return real(writer, split, group)
        try:
            with sa.create_engine(writer.url.set(port=1)).connect():
                pass
        except sa.exc.OperationalError as exc:
            error = ImportError_("lost the connection to the database")
            error.__cause__ = exc
        result = module._failed(
            module.CountyResult(group.code, group.name, len(group.positions)),
            module._subset(split.checked, group.positions),
            error,
            tmp_path / "x.csv",
        )
        result.fault = module._is_fault(error)
        return result

    monkeypatch.setattr(module, "load_county", lose_the_connection)
    results = list(module.load_counties(engine, split))
    assert [(r.code, r.status) for r in results] == [
        ("449831", "loaded"),
        ("449832", "failed"),
        ("449833", "not tried"),
    ]
    assert "lost the connection" in results[2].message
    assert counts(engine) == {"449831": 3, "449832": 0, "449833": 0}
