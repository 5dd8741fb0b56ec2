"""``--as-of`` on the wall map and the exports: both show the archive's state on that day.

The expected figures are counted straight from household_history (the version in force on
the day, by DISTINCT ON), independently of ``layers.history.as_of_sql``.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from layers.exports import ExportError, export
from layers.wallmap_data import fetch_township_sheet

TOWNSHIP = "441882102"

STATUS_ON_DAY = """
SELECT DISTINCT ON (v.household_id) v.household_id, v.status
FROM household_history v JOIN household h ON h.id = v.household_id
WHERE left(v.village_code, 9) = :township AND v.valid_from <= :day AND h.scattered
ORDER BY v.household_id, v.valid_from DESC, v.id DESC
"""


def statuses_on(engine: sa.Engine, day: dt.date, township: str = TOWNSHIP) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(STATUS_ON_DAY), {"township": township, "day": day}).all()
    return {r.household_id: r.status for r in rows}


@pytest.mark.parametrize("day", [dt.date(2016, 6, 30), dt.date(2017, 9, 30), dt.date(2019, 1, 1)])
def test_the_wall_map_shows_each_household_as_the_archive_had_it(demo_world, engine, day) -> None:
    expected = statuses_on(engine, day)
    sheet = fetch_township_sheet(engine, TOWNSHIP, as_of=day)
    shown = dict(zip(sheet.households["id"], sheet.households["status"], strict=True))
    assert shown == expected


def test_mid_year_exits_show_before_the_year_ends(demo_world, engine) -> None:
    """Exits are dated within their year: by 30 Sep 2017 some 2017 exits have happened."""
    with engine.connect() as conn:
        exit_2017 = set(
            conn.execute(
                sa.text("SELECT id FROM household WHERE exit_year = 2017 AND village_code LIKE :t"),
                {"t": TOWNSHIP + "%"},
            ).scalars()
        )
    sheet = fetch_township_sheet(engine, TOWNSHIP, as_of=dt.date(2017, 9, 30))
    shown = sheet.households[sheet.households["id"].isin(exit_2017)]
    assert len(shown) > 10
    assert 0 < (shown["status"] == "exited").sum() < len(shown)


def test_export_as_of_gives_the_status_and_incomes_known_that_day(demo_world, engine, tmp_path):
    day = dt.date(2017, 9, 30)
    path = tmp_path / "as_of.gpkg"
    count = export(engine, "households", path, "gpkg", township=TOWNSHIP, as_of=day)
    frame = gpd.read_file(path)
    assert count == len(frame)
    with engine.connect() as conn:
        expected = dict(
            conn.execute(
                sa.text(STATUS_ON_DAY.replace(" AND h.scattered", "")),
                {"township": TOWNSHIP, "day": day},
            ).all()
        )
        numbers = dict(conn.execute(sa.text("SELECT household_no, id FROM household")).all())
    exported = {
        numbers[no]: status
        for no, status in zip(frame["household_no"], frame["status"], strict=True)
    }
    assert exported == expected
    # the 2017 income is recorded on 31 December (or at the exit): unknown on 30 September
    # for those still poor
    assert "income_2016" in frame.columns
    still_poor = frame[frame["status"] == "poor"]
    assert "income_2017" not in frame.columns or still_poor["income_2017"].isna().all()


def test_as_of_is_refused_for_layers_without_history(demo_world, engine, tmp_path) -> None:
    with pytest.raises(ExportError, match="households only"):
        export(engine, "villages", tmp_path / "v.csv", "csv", as_of=dt.date(2017, 1, 1))


def test_cli_export_as_of(demo_world, database_url, tmp_path, monkeypatch) -> None:
    from api.cli import app
    from layers.db import engine_for as engine_of

    monkeypatch.setenv("DATABASE_URL", database_url)
    target = tmp_path / "hh.csv"
    args = ["export", "households", "-f", "csv", "--township", TOWNSHIP, "-o", str(target)]
    result = CliRunner().invoke(app, [*args, "--as-of", "2016-06-30"])
    assert result.exit_code == 0, result.output
    with engine_of(database_url).connect() as conn:
        expected = conn.execute(
            sa.text(f"SELECT count(*) FROM ({STATUS_ON_DAY.replace(' AND h.scattered', '')}) s"),
            {"township": TOWNSHIP, "day": dt.date(2016, 6, 30)},
        ).scalar()
    assert len(pd.read_csv(target, dtype=str)) == expected
    bad = CliRunner().invoke(app, [*args, "--as-of", "30/06/2016"])
    assert bad.exit_code == 2 and "--as-of must be a date" in bad.output
