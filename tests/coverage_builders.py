"""Valid rows for the coverage result tables (migration 0004), for ``tests/builders.valid_row``.

``builders.valid_row`` needs one entry per table of the models; these are the coverage ones,
ready to splice into its ``rows`` mapping: ``**coverage_rows(place)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests import builders as b

CRITERIA = ("road", "hamlet_road", "clinic", "village_clinic", "health_centre", "school",
            "water", "cadre")  # fmt: skip


def _counts() -> dict[str, int]:
    return {"households": 12, "uncovered": 3} | {f"flag_{c}": 0 for c in CRITERIA}


def coverage_rows(place: b.Place) -> dict[str, Callable[[], dict[str, Any]]]:
    """table -> a function making a valid row (foreign keys from ``place``)."""
    return {
        "coverage_run": lambda: {
            "scope": b.TOWNSHIP, "profile_name": "default", "profile": "abc123",
            "profile_values": {"clinic": {"max_minutes": 30}}, "households": 12, "uncovered": 3,
            "network": {"edges": 10}, "timings": {"network": 0.1},
        },
        "coverage_household": lambda: {
            "household_id": place.household_id, "township_code": b.TOWNSHIP,
            "village_code": b.VILLAGE, "hamlet_id": place.hamlet_id, "cadre_id": None,
            "road_m": 12.5, "hardened_road_m": 640.0, "clinic_min": 12.0, "clinic_id": 1,
            "unreachable": {"school": "no_path"}, "piped_water": True, "water_source": "hamlet",
            **{f"flag_{c}": c in ("road", "school", "cadre") for c in CRITERIA},
            "flags": ["road", "school", "cadre"],
            "reasons": {"road": {"value": 640.0, "limit": 500, "unit": "m"}},
            "uncovered": True, "reason_text": "距硬化路640米(>500)", "profile": "abc123",
            "geom": b.point(0.002, 0.001), "synthetic": True,
        },
        "coverage_hamlet": lambda: {
            "hamlet_id": place.hamlet_id, "township_code": b.TOWNSHIP, "village_code": b.VILLAGE,
            "name": "测试自然村", "population": 230, "households": 4, "uncovered": 1,
            "road_hardened": False, "hardened_road_m": 800.0, "hardened_connected": False,
            "needs_hardening": True, "hardening_reason": "recorded+computed",
            "piped_water": False, "profile": "abc123", "geom": b.point(0.001, 0.001),
        },
        "coverage_village": lambda: {
            "village_code": b.VILLAGE, "township_code": b.TOWNSHIP, "name": "测试村",
            "is_poor_village": True, **_counts(), "hamlets": 2, "hamlets_needing_road": 1,
            "has_standard_clinic": False, "clinic_record_mismatch": False,
            "lacks_standard_clinic": True, "piped_share": 0.5, "piped_household_share": 0.4,
            "low_piped_share": False, "cadres": 2, "households_per_cadre": 6.0,
            "max_cadre_load": 8, "cadres_over_limit": 0, "profile": "abc123",
            "geom": b.square(0.05),
        },
        "coverage_township": lambda: {
            "township_code": b.TOWNSHIP, "name": "测试镇", **_counts(), "villages": 1,
            "poor_villages": 1, "poor_villages_without_standard_clinic": 1,
            "hamlets_needing_road": 1, "cadres": 2, "cadres_over_limit": 0,
            "piped_household_share": 0.4, "profile": "abc123", "geom": b.square(0.2),
        },
        "isochrone": lambda: {
            "township_code": b.TOWNSHIP, "kind": "clinic", "facility_id": 1, "minutes": 30.0,
            "profile": "abc123", "geom": b.square(0.01),
        },
    }  # fmt: skip
