"""The route tables (migration 0006) take a valid plan and refuse inconsistent rows by name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests import builders as b
from tests.routes_builders import route_rows

ORDER = ("route_plan", "route_day", "route_stop")


@pytest.fixture
def rows(connection: sa.Connection):
    return route_rows(b.insert_place(connection))


def test_a_valid_row_goes_into_every_route_table(connection, rows) -> None:
    assert set(rows) == set(ORDER)
    for table in ORDER:
        b.insert(connection, table, rows[table]())


@pytest.mark.parametrize(
    ("table", "change", "rule"),
    [
        ("route_plan", {"area_code": "449801200201"}, "ck_route_plan_area_in_township"),
        ("route_plan", {"planned": 2}, "ck_route_plan_counts_add_up"),
        ("route_plan", {"strategy": "nearest"}, "ck_route_plan_strategy_valid"),
        ("route_day", {"finish_min": 500.0}, "ck_route_day_finish_after_start"),
        ("route_stop", {"day_id": None}, "ck_route_stop_planned_has_day"),
        (
            "route_stop",
            {"status": "unassigned", "day_id": None, "seq": None},
            "ck_route_stop_reason_when_left",
        ),
        ("route_stop", {"result": "fine"}, "ck_route_stop_result_valid"),
        ("route_stop", {"reason": "lost"}, "ck_route_stop_reason_valid"),
    ],
)
def test_inconsistent_rows_are_refused_by_name(connection, rows, table, change, rule) -> None:
    for parent in ORDER[: ORDER.index(table)]:
        b.insert(connection, parent, rows[parent]())
    with pytest.raises(DBAPIError) as excinfo, connection.begin_nested():
        b.insert(connection, table, rows[table]() | change)
    assert f'"{rule}"' in str(excinfo.value.orig)


def test_deleting_a_plan_deletes_its_days_and_stops(connection, rows) -> None:
    ids = [b.insert(connection, t, rows[t]()) for t in ORDER]
    connection.execute(sa.text("DELETE FROM route_plan WHERE id = :id"), {"id": ids[0]})
    left = connection.execute(
        sa.text("SELECT (SELECT count(*) FROM route_day WHERE id = :d) + "
                "(SELECT count(*) FROM route_stop WHERE id = :s)"),
        {"d": ids[1], "s": ids[2]},
    ).scalar_one()  # fmt: skip
    assert left == 0
