"""Valid rows for the relocation result tables (migration 0007), for ``tests/builders.valid_row``.

``builders.valid_row`` needs one entry per table of the models; these are the relocation
ones, ready to splice into its ``rows`` mapping: ``**relocation_rows(place)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests import builders as b


def _terrain() -> dict[str, Any]:
    return {
        "elevation_m": 850.0, "slope_deg": 31.5, "slope_mean_deg": 27.0, "relief_m": 320.0,
        "terrain_note": None, "hazard_kind": "landslide", "hazard_level": "high",
        "flood_level": None, "karst": False, "piped_water": False, "hardened_road_m": 1450.0,
        "clinic_min": 42.0,
    }  # fmt: skip


def _verdict() -> dict[str, Any]:
    return {
        "criteria": ["hazard", "slope", "road", "clinic", "water"],
        "reasons": {"slope": {"value": 31.5, "limit": 25.0, "unit": "deg", "weight": 2.0}},
        "hard": True, "score": 7.0, "profile": "abc123",
    }  # fmt: skip


def relocation_rows(place: b.Place) -> dict[str, Callable[[], dict[str, Any]]]:
    """table -> a function making a valid row (foreign keys from ``place``)."""
    return {
        "relocation_run": lambda: {
            "scope": b.TOWNSHIP, "profile_name": "default", "profile": "abc123",
            "profile_values": {"relocation": {"min_score": 5}}, "households": 12,
            "candidates": 4, "groups": 1, "sites": 1, "timings": {"sites": 1.2},
        },
        "relocation_household": lambda: {
            "household_id": place.household_id, "township_code": b.TOWNSHIP,
            "village_code": b.VILLAGE, "hamlet_id": place.hamlet_id, "members": 4,
            **_terrain(), "health_centre_min": 55.0, "school_min": 40.0, **_verdict(),
            "eligible": True, "relocated": False, "candidate": True, "relocation": "whole",
            "basis": "criteria", "group_key": f"hamlet-{place.hamlet_id}",
            "site_key": f"site-{b.TOWNSHIP}-1", "site_minutes": 25.0,
            "reason_text": "位于滑坡崩塌区(高风险)；坡度32°(≥25°)", "geom": b.point(0.002, 0.001),
            "synthetic": True,
        },
        "relocation_hamlet": lambda: {
            "hamlet_id": place.hamlet_id, "township_code": b.TOWNSHIP, "village_code": b.VILLAGE,
            "name": "测试自然村", "population": 80, "households": 4, **_terrain(),
            "hazard_share": 0.75, "road_hardened": False, **_verdict(), "candidate": True,
            "eligible_households": 3, "share": 0.75, "relocation": "whole",
            "reason_text": "位于滑坡崩塌区(高风险)", "geom": b.point(0.001, 0.001),
        },
        "relocation_group": lambda: {
            "group_key": f"hamlet-{place.hamlet_id}", "township_code": b.TOWNSHIP,
            "village_code": b.VILLAGE, "hamlet_id": place.hamlet_id, "name": "自然村测试",
            "basis": "hamlet", "relocation": "whole", "whole_by": "place", "households": 4,
            "eligible": 3, "candidates": 4, "people": 13, "share": 0.75,
            "criteria_counts": {"hazard": 3}, "reason_text": "整体搬迁：自然村测试不具备条件",
            "site_key": f"site-{b.TOWNSHIP}-1", "site_minutes": 25.0, "profile": "abc123",
            "geom": b.square(0.002, b.X + 0.001, b.Y + 0.001),
        },
        "relocation_site": lambda: {
            "site_key": f"site-{b.TOWNSHIP}-1", "township_code": b.TOWNSHIP, "rank": 1,
            "cells": 12, "area_ha": 12.0, "capacity_households": 240, "slope_mean_deg": 4.5,
            "elevation_m": 210.0, "hardened_road_m": 80.0, "health_centre_min": 6.0,
            "health_centre_id": None, "school_min": 4.0, "school_id": None,
            "water_nearby": True, "from_candidates_mean_min": 25.0,
            "from_candidates_max_min": 31.0, "reachable_candidates": 4, "score_min": 35.0,
            "assigned_households": 4, "assigned_people": 13, "within_capacity": True,
            "reason_text": "平均坡度4.5°", "profile": "abc123", "point": b.point(-0.01, -0.01),
            "geom": b.square(0.003, b.X - 0.01, b.Y - 0.01),
        },
    }  # fmt: skip
