"""Every flag fires on a crafted history that breaks its rule, and not on a near miss.

Households, members, incomes, help records, cadres and a river are crafted in the test
township 449801100 inside the ``connection`` fixture's rolled-back transaction, each change
dated through ``gongjian.effective_date``; flags are computed as of a day with the default
policy profile (thresholds in geo/policy/default.toml [monitoring]).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from geo.flags import monitoring_policy
from geo.policy import load_profile
from layers.flags import FlagQuery, flag_rows, refresh_flags
from tests import builders as b
from tests import monitoring_support as m
from tests.monitoring_support import D

AS_OF = D(2018, 12, 31)
REGISTERED = D(2016, 1, 1)
POLICY = monitoring_policy(load_profile())


@pytest.fixture
def place(connection: sa.Connection) -> b.Place:
    return b.insert_place(connection)


def flags(conn: sa.Connection, as_of: dt.date = AS_OF, kinds=None) -> pd.DataFrame:
    query = FlagQuery(b.TOWNSHIP, as_of, tuple(kinds) if kinds else FlagQuery(None, as_of).kinds)
    return flag_rows(conn, query, POLICY)


def fired(frame: pd.DataFrame, kind: str, household: int | None = None, cadre=None) -> bool:
    rows = frame[frame["kind"] == kind]
    if household is not None:
        rows = rows[rows["household_id"] == household]
    if cadre is not None:
        rows = rows[(rows["cadre_id"] == cadre) & rows["household_id"].isna()]
    return len(rows) > 0


def exited_with_income(conn, place, amount: float, labour: int = 2, members: int = 4) -> int:
    hid = m.household(conn, place, REGISTERED, labour_members=labour, members=members)
    m.income(conn, hid, 2016, 3000, D(2016, 12, 31))
    m.income(conn, hid, 2017, amount, D(2017, 11, 20))  # measured at the exit assessment
    m.exit_on(conn, hid, D(2017, 11, 20))
    return hid


def test_exited_below_the_income_line(connection, place) -> None:
    low = exited_with_income(connection, place, 6800)  # labour line 2017: 6,883
    above = exited_with_income(connection, place, 6900)
    low_support = exited_with_income(connection, place, 4850, labour=0, members=1)  # 4,900
    above_support = exited_with_income(connection, place, 4950, labour=0, members=1)
    m.income(connection, low, 2018, 7400, D(2018, 12, 31))  # above 2018's 7,365 at year end
    mid_2018 = flags(connection, D(2018, 6, 30), ["exited_low_income"])
    assert fired(mid_2018, "exited_low_income", low)
    assert fired(mid_2018, "exited_low_income", low_support)
    assert not fired(mid_2018, "exited_low_income", above)
    assert not fired(mid_2018, "exited_low_income", above_support)
    year_end = flags(connection, AS_OF, ["exited_low_income"])
    assert not fired(year_end, "exited_low_income", low)  # its 2018 income reached the line
    evidence = mid_2018.set_index("household_id").loc[low, "evidence"]
    assert (evidence["income"], evidence["line"], evidence["year"]) == (6800, 6883, 2017)


def test_exited_with_san_bao_zhang_unmet(connection, place) -> None:
    def exited(**member) -> int:
        hid = m.household(connection, place, REGISTERED)
        b.insert(connection, "household_member", b.household_member(hid, **member))
        m.exit_on(connection, hid, D(2017, 11, 20))
        return hid

    dropout = exited(birth_year=2008, schooling="none")  # 10 years old, not in school
    small = exited(birth_year=2011, schooling="preschool")  # 7: may still be in preschool
    sick = exited(health="serious")
    treated = exited(health="serious")
    m.help_record(connection, treated, D(2017, 3, 1), place.cadre_id, "medical")
    treated_later = exited(health="serious")
    m.help_record(connection, treated_later, D(2019, 3, 1), place.cadre_id, "medical")
    found = flags(connection, kinds=["exited_sanbaozhang"])
    assert fired(found, "exited_sanbaozhang", dropout)
    assert fired(found, "exited_sanbaozhang", sick)
    assert fired(found, "exited_sanbaozhang", treated_later)  # not treated as of the day
    assert not fired(found, "exited_sanbaozhang", small)
    assert not fired(found, "exited_sanbaozhang", treated)


def test_exited_in_a_dangerous_house(connection, place) -> None:
    on_paper = m.household(connection, place, REGISTERED, housing_status="dangerous_d")
    m.exit_on(connection, on_paper, D(2017, 11, 20))
    rebuilt = m.household(connection, place, REGISTERED, housing_status="dangerous_c")
    m.update(connection, rebuilt, D(2017, 9, 1), housing_status="renovated")
    m.exit_on(connection, rebuilt, D(2017, 11, 20))
    waiting = m.household(connection, place, REGISTERED, housing_status="dangerous_d")
    found = flags(connection, kinds=["exited_dangerous_house"])
    assert fired(found, "exited_dangerous_house", on_paper)
    assert not fired(found, "exited_dangerous_house", rebuilt)
    assert not fired(found, "exited_dangerous_house", waiting)  # still poor: not an exit


def test_no_help_record_for_n_days(connection, place) -> None:
    days = POLICY.no_help_days
    late = m.household(connection, place, REGISTERED)
    m.help_record(connection, late, AS_OF - dt.timedelta(days=days + 1), place.cadre_id)
    just_in_time = m.household(connection, place, REGISTERED)
    m.help_record(connection, just_in_time, AS_OF - dt.timedelta(days=days), place.cadre_id)
    never = m.household(connection, place, REGISTERED)
    newcomer = m.household(connection, place, AS_OF - dt.timedelta(days=30))
    exited = m.household(connection, place, REGISTERED)
    m.exit_on(connection, exited, D(2017, 11, 20))
    found = flags(connection, kinds=["no_help_record"])
    assert fired(found, "no_help_record", late)
    assert fired(found, "no_help_record", never)
    assert not fired(found, "no_help_record", just_in_time)
    assert not fired(found, "no_help_record", newcomer)
    assert not fired(found, "no_help_record", exited)


def cadre(conn: sa.Connection, name: str) -> int:
    return b.insert(conn, "cadre", b.cadre(name=name))


def test_cadre_with_too_many_households(connection, place) -> None:
    limit = POLICY.cadre_max_households
    busy, full = cadre(connection, "甲干部"), cadre(connection, "乙干部")
    for _ in range(limit + 1):
        m.household(connection, place, REGISTERED, cadre_id=busy)
    for _ in range(limit):
        m.household(connection, place, REGISTERED, cadre_id=full)
    found = flags(connection, kinds=["cadre_overloaded"])
    assert fired(found, "cadre_overloaded", cadre=busy)
    assert not fired(found, "cadre_overloaded", cadre=full)


def test_cadre_who_visited_none_of_their_households(connection, place) -> None:
    idle, active = cadre(connection, "丙干部"), cadre(connection, "丁干部")
    mine = m.household(connection, place, REGISTERED, cadre_id=idle)
    theirs = m.household(connection, place, REGISTERED, cadre_id=active)
    m.help_record(connection, mine, AS_OF - dt.timedelta(days=POLICY.cadre_idle_days + 10), idle)
    m.help_record(connection, mine, AS_OF - dt.timedelta(days=5), active)  # someone else came
    m.help_record(connection, theirs, AS_OF - dt.timedelta(days=10), active)
    found = flags(connection, kinds=["cadre_idle"])
    assert fired(found, "cadre_idle", cadre=idle)
    assert not fired(found, "cadre_idle", cadre=active)


def test_household_outside_its_village(connection, place) -> None:
    edge = 0.025  # the builders' village is a 0.05° square around (X, Y)
    far = m.household(connection, place, REGISTERED, geom=b.point(edge + m.metres_east(100), 0))
    near = m.household(connection, place, REGISTERED, geom=b.point(edge + m.metres_east(10), 0))
    found = flags(connection, kinds=["outside_village"])
    assert fired(found, "outside_village", far)
    assert not fired(found, "outside_village", near)  # within GPS error of the border
    evidence = found.set_index("household_id").loc[far, "evidence"]
    assert 90 <= evidence["distance_m"] <= 110


def test_household_in_a_river(connection, place) -> None:
    box = f"ST_Expand(ST_SetSRID(ST_MakePoint({b.X}, {b.Y}), 4326), 0.05)"
    connection.execute(sa.text(f"DELETE FROM river WHERE geom && {box}"))  # no other river here
    x = b.X + 0.01
    line = b.ewkt(f"LINESTRING({x} {b.Y - 0.01},{x} {b.Y + 0.01})")
    river = b.insert(connection, "river", {"name": "测试江", "order": 3, "geom": line})
    stream_x = b.X - 0.01
    stream = b.ewkt(f"LINESTRING({stream_x} {b.Y - 0.01},{stream_x} {b.Y + 0.01})")
    b.insert(connection, "river", {"name": "小溪", "order": 1, "geom": stream})
    wet = m.household(connection, place, REGISTERED, geom=b.point(0.01 + m.metres_east(5), 0))
    bank = m.household(connection, place, REGISTERED, geom=b.point(0.01 + m.metres_east(15), 0))
    creek = m.household(connection, place, REGISTERED, geom=b.point(-0.01 + m.metres_east(2), 0))
    found = flags(connection, kinds=["in_river"])
    assert fired(found, "in_river", wet)
    assert found.set_index("household_id").loc[wet, "evidence"]["river_id"] == river
    assert not fired(found, "in_river", bank)
    assert not fired(found, "in_river", creek)  # a first-order stream is a few metres wide


def test_households_sharing_their_coordinates(connection, place) -> None:
    spot = b.point(-0.005, -0.005)
    first = m.household(connection, place, REGISTERED, geom=spot)
    second = m.household(connection, place, REGISTERED, geom=spot)
    neighbour = m.household(
        connection, place, REGISTERED, geom=b.point(-0.005 + m.metres_east(5), -0.005)
    )
    found = flags(connection, kinds=["shared_point"])
    assert fired(found, "shared_point", first) and fired(found, "shared_point", second)
    assert not fired(found, "shared_point", neighbour)


def test_household_moved_far(connection, place) -> None:
    jumped = m.household(connection, place, REGISTERED)
    m.update(connection, jumped, D(2017, 5, 1), geom=m.point_m(600))
    nudged = m.household(connection, place, REGISTERED)
    m.update(connection, nudged, D(2017, 5, 1), geom=m.point_m(100))
    relocated = m.household(connection, place, REGISTERED, housing_status="dangerous_d")
    m.update(
        connection, relocated, D(2017, 5, 1), geom=m.point_m(0, 5000), housing_status="relocated"
    )
    found = flags(connection, kinds=["moved"])
    assert fired(found, "moved", jumped)
    assert not fired(found, "moved", nudged)
    assert not fired(found, "moved", relocated)  # 搬迁安置 is a move by design
    assert not fired(flags(connection, D(2017, 4, 30), ["moved"]), "moved", jumped)


def test_the_same_id_number_in_two_households(connection, place) -> None:
    first = m.household(connection, place, REGISTERED)
    number = connection.execute(
        sa.text("SELECT id_number FROM household WHERE id = :h"), {"h": first}
    ).scalar()
    second = m.household(connection, place, REGISTERED)
    b.insert(
        connection,
        "household_member",
        b.household_member(second, id_number=number, relation="sibling"),
    )
    single = m.household(connection, place, REGISTERED)
    own = connection.execute(
        sa.text("SELECT id_number FROM household WHERE id = :h"), {"h": single}
    ).scalar()
    b.insert(
        connection, "household_member", b.household_member(single, id_number=own, relation="head")
    )
    found = flags(connection, kinds=["duplicate_id_number"])
    assert fired(found, "duplicate_id_number", first)
    assert fired(found, "duplicate_id_number", second)
    assert not fired(found, "duplicate_id_number", single)  # the head listed as a member
    assert number not in " ".join(found["description"])  # shown masked


def test_implausible_income_jump(connection, place) -> None:
    def incomes(*pairs) -> int:
        hid = m.household(connection, place, REGISTERED)
        for year, amount in pairs:
            m.income(connection, hid, year, amount, D(year, 12, 31))
        return hid

    # the policy's 5×: above what an exit needs (geo/policy/default.toml)
    jumped = incomes((2016, 2000), (2017, 10_100))  # 5.05×
    exit_like = incomes((2016, 1800), (2017, 7900))  # 4.4×: an ordinary exit from the bottom
    gap = incomes((2015, 1000), (2017, 6000))  # two years apart
    found = flags(connection, kinds=["income_jump"])
    assert fired(found, "income_jump", jumped)
    assert not fired(found, "income_jump", exit_like)
    assert not fired(found, "income_jump", gap)
    assert not fired(flags(connection, D(2017, 6, 30), ["income_jump"]), "income_jump", jumped)


def test_status_flip_flop(connection, place) -> None:
    flip = m.household(connection, place, REGISTERED)
    m.exit_on(connection, flip, D(2017, 3, 1))
    m.update(connection, flip, D(2017, 5, 1), status="poor", exit_year=None)
    m.exit_on(connection, flip, D(2017, 9, 1))
    slow = m.household(connection, place, REGISTERED)
    m.exit_on(connection, slow, D(2016, 6, 1))
    m.update(connection, slow, D(2017, 7, 1), status="poor", exit_year=None)  # 395 days on
    m.exit_on(connection, slow, D(2018, 9, 1))  # and again 427 days later
    returned = m.household(connection, place, REGISTERED)
    m.exit_on(connection, returned, D(2016, 11, 1))
    m.update(connection, returned, D(2017, 12, 31), status="returned")
    found = flags(connection, kinds=["status_flip_flop"])
    assert fired(found, "status_flip_flop", flip)
    assert not fired(found, "status_flip_flop", slow)
    assert not fired(found, "status_flip_flop", returned)  # 返贫 is a status of its own


def test_the_flag_layer_is_replaced_not_added_to(connection, place) -> None:
    hid = m.household(connection, place, REGISTERED, housing_status="dangerous_d")
    m.exit_on(connection, hid, D(2017, 11, 20))
    query = FlagQuery(b.TOWNSHIP, AS_OF)
    first = refresh_flags(connection, query, POLICY, "test")
    again = refresh_flags(connection, query, POLICY, "test")
    stored = connection.execute(
        sa.text("SELECT count(*) FROM flag WHERE township_code = :t"), {"t": b.TOWNSHIP}
    ).scalar()
    assert first == again == stored > 0
    kinds = connection.execute(
        sa.text("SELECT kind FROM flag WHERE household_id = :h"), {"h": hid}
    ).scalars()
    assert "exited_dangerous_house" in set(kinds)
