"""Valid rows for the route tables (migration 0006), for ``tests/builders.valid_row``.

Ready to splice into its ``rows`` mapping: ``**route_rows(place)``. A day and a stop need a
plan (and a stop its day): their foreign keys are the latest plan/day inserted, as
``test_a_valid_row_goes_into_every_table`` inserts parents first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from layers.models import Base
from tests import builders as b


def _latest(table: str) -> Any:
    t = Base.metadata.tables[table]
    return sa.select(sa.func.max(t.c.id)).scalar_subquery()


def route_rows(place: b.Place) -> dict[str, Callable[[], dict[str, Any]]]:
    """table -> a function making a valid row (foreign keys from ``place``)."""
    return {
        "route_plan": lambda: {
            "township_code": b.TOWNSHIP, "area_code": b.TOWNSHIP, "title": "测试镇督查走访路线",
            "strategy": "random", "sample_size": 1, "seed": 0, "as_of": "2018-12-20",
            "start_date": "2018-12-21", "inspectors": 1, "days": 1, "hours": 8.0,
            "day_start_min": 510.0, "service_min": 30.0, "households": 1, "planned": 1,
            "unassigned": 0, "travel_min": 12.5, "distance_m": 4200.0,
            "params": {"strategy": "random"}, "solver": {"iterations": 200},
            "profile": "abc123", "created_by": "test", "synthetic": True,
        },
        "route_day": lambda: {
            "plan_id": _latest("route_plan"), "township_code": b.TOWNSHIP, "inspector": 1,
            "inspector_name": "督查员1", "day": 1, "date": "2018-12-21", "start_min": 510.0,
            "finish_min": 562.5, "stops": 1, "travel_min": 12.5, "service_min": 30.0,
            "wait_min": 0.0, "distance_m": 4200.0, "start_name": "乡镇办公地",
            "end_name": "乡镇办公地",
            "geom": b.ewkt(f"MULTILINESTRING(({b.X} {b.Y},{b.X + 0.01} {b.Y + 0.005}))"),
            "start_geom": b.point(), "end_geom": b.point(), "synthetic": True,
        },
        "route_stop": lambda: {
            "plan_id": _latest("route_plan"), "day_id": _latest("route_day"),
            "household_id": place.household_id, "village_code": b.VILLAGE, "status": "planned",
            "seq": 1, "arrival_min": 518.0, "begin_min": 518.0, "departure_min": 548.0,
            "wait_min": 0.0, "leg_min": 8.0, "leg_m": 2100.0, "service_min": 30.0,
            "must_visit": False, "priority": 0.0, "risk_score": 3.0,
            "risk_reasons": ["no_help_record", "dangerous_house"], "result": "issues",
            "visit_date": "2018-12-21", "check_housing": False, "geom": b.point(0.002, 0.001),
            "synthetic": True,
        },
    }  # fmt: skip
