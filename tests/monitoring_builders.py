"""Valid rows for the monitoring tables (migration 0005), for ``tests/builders.valid_row``.

Ready to splice into its ``rows`` mapping: ``**monitoring_rows(place)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from tests import builders as b


def monitoring_rows(place: b.Place) -> dict[str, Callable[[], dict[str, Any]]]:
    """table -> a function making a valid row (foreign keys from ``place``)."""
    return {
        "household_history": lambda: {
            "household_id": place.household_id, "valid_from": date(2017, 11, 20),
            "action": "update", "changed": ["status", "exit_year"], "source": "test",
            "village_code": b.VILLAGE, "hamlet_id": place.hamlet_id, "geom": b.point(0.002, 0.001),
            "members": 4, "labour_members": 2, "category": "general", "housing_status": "safe",
            "status": "exited", "exit_year": 2017, "cadre_id": place.cadre_id,
            "incomes": {"2016": 3500, "2017": 7100}, "income": 7100, "income_year": 2017,
        },
        "flag": lambda: {
            "kind": "moved", "household_id": place.household_id, "cadre_id": place.cadre_id,
            "village_code": b.VILLAGE, "township_code": b.TOWNSHIP, "as_of": date(2018, 12, 31),
            "description": "户点位于2017-05-01移动600米", "evidence": {"distance_m": 600},
            "rule": "户点位一次移动超过200米（搬迁安置除外）", "profile": "abc123",
            "geom": b.point(0.002, 0.001), "synthetic": True,
        },
    }  # fmt: skip
