"""The dynamic archive: every writer leaves a dated version; "as of" any date is exact.

Households are crafted in the ``connection`` fixture's transaction (rolled back), changed
through the ordinary tables with ``gongjian.effective_date`` set, and read back as of dates
on either side of each change.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from layers.history import backfill_demo_history, households_as_of, set_effective_date, timeline
from tests import builders as b
from tests import monitoring_support as m
from tests.monitoring_support import D


@pytest.fixture
def place(connection: sa.Connection) -> b.Place:
    return b.insert_place(connection)


def test_inserting_a_household_opens_its_archive(connection, place) -> None:
    hid = m.household(connection, place, D(2016, 3, 1))
    versions = timeline(connection, hid)
    assert list(versions["action"]) == ["insert"]
    assert versions["valid_from"].iloc[0] == D(2016, 3, 1)
    assert m.state(connection, hid, D(2016, 2, 29)) is None  # not yet registered
    assert m.state(connection, hid, D(2016, 3, 1))["status"] == "poor"


def test_without_an_effective_date_a_change_counts_from_today(connection, place) -> None:
    set_effective_date(connection, None)
    hid = b.insert(connection, "household", b.household(hamlet_id=place.hamlet_id))
    assert timeline(connection, hid)["valid_from"].tolist() == [dt.date.today()]


def test_as_of_on_either_side_of_each_change(connection, place) -> None:
    hid = m.household(connection, place, D(2016, 1, 1), housing_status="dangerous_d")
    m.update(connection, hid, D(2017, 5, 10), housing_status="renovated")
    m.exit_on(connection, hid, D(2017, 11, 20))
    m.update(connection, hid, D(2018, 6, 1), status="returned")
    expected = {
        D(2017, 5, 9): ("poor", "dangerous_d", None),
        D(2017, 5, 10): ("poor", "renovated", None),
        D(2017, 11, 19): ("poor", "renovated", None),
        D(2017, 11, 20): ("exited", "renovated", 2017),
        D(2018, 5, 31): ("exited", "renovated", 2017),
        D(2018, 6, 1): ("returned", "renovated", 2017),
    }
    for day, (status, housing, exit_year) in expected.items():
        row = m.state(connection, hid, day)
        got = (row["status"], row["housing_status"], row["exit_year"])
        assert got[:2] == (status, housing) and (got[2] == exit_year or got[2] != got[2]), day
    versions = timeline(connection, hid)
    assert versions["changed"].iloc[2] == ["status", "exit_year"]  # only what changed


def test_a_back_dated_change_holds_from_its_date_on(connection, place) -> None:
    """Entered last, effective earlier: later versions carry it, earlier ones do not."""
    hid = m.household(connection, place, D(2016, 1, 1), housing_status="dangerous_c")
    m.exit_on(connection, hid, D(2017, 11, 20))
    m.update(connection, hid, D(2017, 6, 1), housing_status="renovated")  # entered afterwards
    assert m.state(connection, hid, D(2017, 5, 31))["housing_status"] == "dangerous_c"
    june = m.state(connection, hid, D(2017, 6, 1))
    assert (june["housing_status"], june["status"]) == ("renovated", "poor")
    december = m.state(connection, hid, D(2017, 12, 1))
    assert (december["housing_status"], december["status"]) == ("renovated", "exited")


def test_incomes_become_known_on_their_dates_and_corrections_merge(connection, place) -> None:
    hid = m.household(connection, place, D(2016, 1, 1))
    m.income(connection, hid, 2016, 3100, D(2016, 12, 31))
    m.income(connection, hid, 2017, 7000, D(2017, 12, 31))
    m.income(connection, hid, 2016, 3300, D(2017, 3, 1))  # a correction of 2016, dated
    assert m.state(connection, hid, D(2016, 12, 30))["incomes"] == {}
    assert m.state(connection, hid, D(2016, 12, 31))["incomes"] == {"2016": 3100}
    assert m.state(connection, hid, D(2017, 3, 1))["incomes"] == {"2016": 3300}
    later = m.state(connection, hid, D(2018, 1, 1))
    assert later["incomes"] == {"2016": 3300, "2017": 7000}  # 2017 kept, 2016 corrected
    assert (later["income"], later["income_year"]) == (7000, 2017)
    connection.execute(
        sa.text("DELETE FROM household_income WHERE household_id = :h AND year = 2017"),
        {"h": hid},
    )
    assert m.state(connection, hid, D(2030, 1, 1))["incomes"] == {"2016": 3300}


def test_changes_to_untracked_fields_leave_no_version(connection, place) -> None:
    hid = m.household(connection, place, D(2016, 1, 1))
    m.update(connection, hid, D(2017, 1, 1), phone="13900000000", head_name="王户主")
    assert len(timeline(connection, hid)) == 1


def test_moves_are_kept_and_the_area_follows_the_household(connection, place) -> None:
    other = b.insert(connection, "village", b.valid_row("village", place))  # OTHER_VILLAGE
    hid = m.household(connection, place, D(2016, 1, 1))
    m.update(
        connection, hid, D(2017, 7, 1), village_code=other, hamlet_id=None, geom=m.point_m(800)
    )
    before = households_as_of(connection, D(2017, 6, 30), b.VILLAGE)
    after = households_as_of(connection, D(2017, 7, 1), b.VILLAGE)
    assert hid in set(before["id"]) and hid not in set(after["id"])
    assert hid in set(households_as_of(connection, D(2017, 7, 1), other)["id"])


def test_the_api_role_writes_households_and_the_archive_follows(connection, place) -> None:
    """The API runs as a restricted role without rights on household_history: the triggers
    write it for any writer (SECURITY DEFINER), row-level security still applies."""
    hid = m.household(connection, place, D(2016, 1, 1))
    connection.execute(sa.text("SET LOCAL ROLE gongjian_api"))
    connection.execute(sa.text("SELECT set_config('gongjian.scope', :s, true)"), {"s": b.VILLAGE})
    connection.execute(sa.text("SELECT set_config('gongjian.actor', 'api:tester', true)"))
    m.exit_on(connection, hid, D(2017, 10, 1))
    with pytest.raises(DBAPIError), connection.begin_nested():
        connection.execute(sa.text("DELETE FROM household_history"))  # not the API's to touch
    connection.execute(sa.text("RESET ROLE"))
    versions = timeline(connection, hid)
    assert versions["source"].iloc[-1] == "api:tester"
    assert versions["valid_from"].iloc[-1] == D(2017, 10, 1)


def test_deleting_a_household_deletes_its_archive(connection, place) -> None:
    hid = m.household(connection, place, D(2016, 1, 1))
    connection.execute(sa.text("DELETE FROM household WHERE id = :h"), {"h": hid})
    count = "SELECT count(*) FROM household_history WHERE household_id = :h"
    assert connection.execute(sa.text(count), {"h": hid}).scalar() == 0


def test_named_constraints_refuse_bad_rows(connection, place) -> None:
    cases = [
        ("household_history", {"changed": []}, "ck_household_history_changed_not_empty"),
        ("household_history", {"action": "guess"}, "ck_household_history_action_valid"),
        ("flag", {"household_id": None, "cadre_id": None}, "ck_flag_has_subject"),
        ("flag", {"kind": "rumour"}, "ck_flag_kind_valid"),
    ]
    from tests.monitoring_builders import monitoring_rows

    rows = monitoring_rows(place)
    for table, override, name in cases:
        with pytest.raises(DBAPIError, match=name), connection.begin_nested():
            b.insert(connection, table, rows[table]() | override)
    for table in rows:  # and the valid rows go in
        b.insert(connection, table, rows[table]())


# --- the demo's history ---------------------------------------------------------------


@pytest.fixture
def demo_history(connection: sa.Connection, demo_world: dict) -> sa.Connection:
    """The demo with its backfilled history, inside the rolled-back transaction."""
    backfill_demo_history(connection)
    return connection


def test_demo_history_ends_in_the_household_rows(demo_history) -> None:
    mismatched = demo_history.execute(
        sa.text("""
        SELECT count(*) FROM household h
        JOIN LATERAL (SELECT * FROM household_history v WHERE v.household_id = h.id
                      ORDER BY v.valid_from DESC, v.id DESC LIMIT 1) v ON true
        WHERE h.synthetic AND (v.status IS DISTINCT FROM h.status
           OR v.exit_year IS DISTINCT FROM h.exit_year
           OR v.housing_status IS DISTINCT FROM h.housing_status
           OR NOT ST_Equals(v.geom, h.geom) OR v.cadre_id IS DISTINCT FROM h.cadre_id
           OR v.incomes <> (SELECT jsonb_object_agg(year::text, per_capita_income)
                            FROM household_income WHERE household_id = h.id))
    """)
    ).scalar()
    assert mismatched == 0


def test_demo_exits_fall_in_their_exit_year_and_follow_registration(demo_history) -> None:
    rows = demo_history.execute(
        sa.text("""
        SELECT h.registered_year, v.valid_from, v.exit_year FROM household_history v
        JOIN household h ON h.id = v.household_id
        WHERE h.synthetic AND 'status' = ANY(v.changed) AND v.status = 'exited'
          AND v.action = 'backfill' AND NOT ('village_code' = ANY(v.changed))
    """)
    ).all()
    assert len(rows) > 10_000
    assert all(r.valid_from.year == r.exit_year for r in rows)
    assert all(r.valid_from >= D(r.registered_year, 1, 1) for r in rows)


def test_demo_exits_by_year_follow_the_seed_002_schedule(demo_history) -> None:
    """Exited people as of each year's end, as shares of all registered people."""
    total = demo_history.execute(
        sa.text("SELECT sum(members) FROM household WHERE synthetic")
    ).scalar()
    shares = {}
    for year in (2016, 2017, 2018):
        frame = households_as_of(demo_history, D(year, 12, 31), "441882")
        out = frame[frame["status"].isin(["exited", "returned"])]["members"].sum()
        shares[year] = out / total
    assert shares[2016] == pytest.approx(0.5 / 1.765, abs=0.02)
    assert shares[2017] == pytest.approx(1.1 / 1.765, abs=0.02)
    assert shares[2018] == pytest.approx(0.94, abs=0.02)


def test_as_of_a_demo_exit_day_and_the_day_before(demo_history) -> None:
    row = demo_history.execute(
        sa.text("""
        SELECT v.household_id, v.valid_from, h.village_code FROM household_history v
        JOIN household h ON h.id = v.household_id
        WHERE h.synthetic AND v.status = 'exited' AND 'status' = ANY(v.changed)
        ORDER BY v.household_id LIMIT 1
    """)
    ).one()
    before = households_as_of(demo_history, row.valid_from - dt.timedelta(days=1), row.village_code)
    on = households_as_of(demo_history, row.valid_from, row.village_code)
    assert before.set_index("id").loc[row.household_id, "status"] == "poor"
    assert on.set_index("id").loc[row.household_id, "status"] == "exited"
