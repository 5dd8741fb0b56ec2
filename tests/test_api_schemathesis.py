"""Property-based requests generated from /openapi.json (Schemathesis): never a 5xx.

Reads use a viewer token of a demo township; writes an editor token whose scope is a sandbox
village this module creates (county 449803, not a real code), so generated writes can only
touch the sandbox, which is removed afterwards. Bounded: a few examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from tests.api_support import Users, demo_townships, new_users

SANDBOX = {"county": "449803", "township": "449803100", "village": "449803100201"}
EXAMPLES = 10  # per operation: keeps the run to seconds
SQUARE = "MULTIPOLYGON(((112.90 24.90,112.96 24.90,112.96 24.96,112.90 24.96,112.90 24.90)))"


@pytest.fixture(scope="module")
def sandbox(engine: sa.Engine, demo_world: dict) -> Iterator[None]:
    rows = [
        "INSERT INTO county (code, name, city, city_code, geom, synthetic) VALUES "
        f"('{SANDBOX['county']}', '沙盒县', '沙盒市', '4498', "
        f"ST_GeomFromText('{SQUARE}', 4326), true)",
        "INSERT INTO township (code, county_code, name, geom, synthetic) VALUES "
        f"('{SANDBOX['township']}', '{SANDBOX['county']}', '沙盒镇', "
        f"ST_GeomFromText('{SQUARE}', 4326), true)",
        "INSERT INTO village (code, township_code, name, geom, synthetic) VALUES "
        f"('{SANDBOX['village']}', '{SANDBOX['township']}', '沙盒村', "
        f"ST_GeomFromText('{SQUARE}', 4326), true)",
        "INSERT INTO household (household_no, village_code, geom, head_name, members, "
        "labour_members, category, main_cause, housing_status, scattered, synthetic) VALUES "
        f"('TSANDBOX1', '{SANDBOX['village']}', ST_SetSRID(ST_MakePoint(112.93, 24.93), 4326), "
        "'沙盒户', 3, 1, 'general', 'illness', 'safe', true, true)",
    ]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(sa.text(row))
    yield
    with engine.begin() as conn:
        ids = "SELECT id FROM household WHERE village_code = :v"
        conn.execute(
            sa.text(
                f"DELETE FROM audit_log WHERE row_id IN (SELECT id::text FROM ({ids}) h) "
                "OR actor LIKE 'api:%-sandbox'"
            ),
            {"v": SANDBOX["village"]},
        )
        conn.execute(
            sa.text("DELETE FROM household WHERE village_code = :v"), {"v": SANDBOX["village"]}
        )
        for table, code in (("village", "village"), ("township", "township"), ("county", "county")):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE code = :c"), {"c": SANDBOX[code]})


@pytest.fixture(scope="module")
def users(engine: sa.Engine, sandbox: None) -> Iterator[Users]:
    users = new_users(engine)
    users.add("viewer", "viewer", demo_townships(engine)[0])
    users.add("sandbox", "editor", SANDBOX["village"])
    yield users
    users.drop()


@pytest.fixture(scope="module")
def api_schema(engine: sa.Engine, users: Users):
    app = create_app(engine)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def fuzz(operation, headers: dict[str, str]) -> None:
    """A few generated requests for one operation; raises on the first 5xx."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()


def test_no_request_gets_a_server_error(api_schema, users: Users) -> None:
    """Every operation, a few generated requests each (derandomised: the same every run)."""
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        who = "viewer" if operation.method.upper() == "GET" else "sandbox"
        try:
            fuzz(operation, users.headers(who))
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert operations >= 10
    assert not failures, "\n\n".join(f"{op}:\n{why}" for op, why in failures.items())
