"""Visits recorded on phones: the ``[field]`` policy, the not-on-site flags, the phone's clock.

Pure computation (no database, no web): :mod:`layers.field` stores what these decide.

>>> from geo.policy import load_profile
>>> policy = field_policy(load_profile())
>>> visit_flags(distance_m=420.0, accuracy_m=15.0, duration_s=600.0, policy=policy)
['far']
>>> visit_flags(distance_m=320.0, accuracy_m=40.0, duration_s=8.0, policy=policy)
['quick']
>>> visit_flags(distance_m=None, accuracy_m=None, duration_s=None, policy=policy)
['no_position']
>>> import datetime as dt
>>> t = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
>>> skew = clock_skew(sent_at=t, received_at=t + dt.timedelta(hours=1))
>>> skew, corrected(t - dt.timedelta(minutes=5), skew).isoformat()
(3600.0, '2026-12-04T10:55:00+00:00')
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from geo.policy import Profile, cite
from geo.routing.sheets import CHECKS

CHINA = dt.timezone(dt.timedelta(hours=8))  # the visit's date is the day in China


@dataclass(frozen=True)
class FieldPolicy:
    max_distance_m: float = field(metadata=cite("default; 数字脱贫 seed 003"))
    accuracy_allowance_m: float = field(metadata=cite("default"))
    min_visit_s: float = field(metadata=cite("default; 数字脱贫 seed 003"))
    clock_skew_note_s: float = field(metadata=cite("default"))


def field_policy(profile: Profile) -> FieldPolicy:
    """The ``[field]`` section of a loaded policy profile."""
    return profile.section("field", FieldPolicy)


def visit_flags(
    *,
    distance_m: float | None,
    accuracy_m: float | None,
    duration_s: float | None,
    policy: FieldPolicy,
) -> list[str]:
    """Why a visit may not have been made at the door: far, quick, no_position.

    The GPS accuracy (up to ``accuracy_allowance_m``) is given the benefit of the doubt: a
    fix 320 m away with ±40 m may have been taken at 280 m.
    """
    flags = []
    if distance_m is None:
        flags.append("no_position")
    else:
        allowance = min(accuracy_m or 0.0, policy.accuracy_allowance_m)
        if distance_m - allowance > policy.max_distance_m:
            flags.append("far")
    if duration_s is not None and duration_s < policy.min_visit_s:
        flags.append("quick")
    return flags


def clock_skew(*, sent_at: dt.datetime, received_at: dt.datetime) -> float:
    """Seconds the phone's clock is behind the server's (negative: ahead), as seen at sync.

    The request's travel time is counted as skew; at a few seconds that is harmless."""
    return (received_at - sent_at).total_seconds()


def corrected(phone_time: dt.datetime, skew_s: float) -> dt.datetime:
    """A time of the phone's clock on the server's clock."""
    return phone_time + dt.timedelta(seconds=skew_s)


def visit_findings(checks: dict[str, bool | None], notes: str | None) -> str | None:
    """The visit's findings as the results sheet writes them: crossed items, then notes.

    >>> visit_findings({"food": True, "housing": False}, " 屋顶漏雨 ")
    '未保障：住房安全有保障；屋顶漏雨'
    """
    parts = []
    crossed = [CHECKS[k] for k in CHECKS if checks.get(k) is False]
    if crossed:
        parts.append("未保障：" + "、".join(crossed))
    if notes and notes.strip():
        parts.append(notes.strip())
    return "；".join(parts) or None
