"""The coverage result tables refuse inconsistent rows by name (migration 0004)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests import builders as b
from tests.coverage_builders import coverage_rows

ORDER = ("coverage_run", "coverage_township", "coverage_village", "coverage_hamlet",
         "coverage_household", "isochrone")  # fmt: skip


@pytest.fixture
def rows(connection: sa.Connection):
    return coverage_rows(b.insert_place(connection))


def test_a_valid_row_goes_into_every_coverage_table(connection, rows) -> None:
    assert set(rows) == set(ORDER)
    for table in ORDER:
        b.insert(connection, table, rows[table]())


@pytest.mark.parametrize(
    ("table", "change", "rule"),
    [
        ("coverage_household", {"flags": []}, "ck_coverage_household_uncovered_matches_flags"),
        ("coverage_household", {"clinic_min": -1.0}, "ck_coverage_household_values_non_negative"),
        (
            "coverage_household",
            {"water_source": "well"},
            "ck_coverage_household_water_source_valid",
        ),
        ("coverage_hamlet", {"hardening_reason": None}, "ck_coverage_hamlet_reason_when_needed"),
        ("coverage_village", {"uncovered": 13}, "ck_coverage_village_uncovered_range"),
        ("isochrone", {"minutes": 0.0}, "ck_isochrone_minutes_positive"),
        ("isochrone", {"kind": "bus"}, "ck_isochrone_kind_valid"),
    ],
)
def test_inconsistent_rows_are_refused_by_name(connection, rows, table, change, rule) -> None:
    for parent in ORDER[: ORDER.index(table)]:
        b.insert(connection, parent, rows[parent]())
    with pytest.raises(DBAPIError) as excinfo, connection.begin_nested():
        b.insert(connection, table, rows[table]() | change)
    assert f'"{rule}"' in str(excinfo.value.orig)


def test_results_go_with_their_household(connection, rows) -> None:
    for table in ORDER:
        b.insert(connection, table, rows[table]())
    household = rows["coverage_household"]()["household_id"]
    connection.execute(sa.text("DELETE FROM household WHERE id = :i"), {"i": household})
    left = connection.execute(
        sa.text("SELECT count(*) FROM coverage_household WHERE household_id = :i"), {"i": household}
    ).scalar()
    assert left == 0
