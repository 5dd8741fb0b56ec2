"""The ``[routes]`` section of the policy profile (``geo/policy/default.toml``).

>>> from geo.policy import load_profile
>>> policy = routes_policy(load_profile())
>>> policy.hours, policy.service_min, policy.day_start_min
(8.0, 30.0, 510.0)
>>> policy.risk_weights["exited_low_income"]
3.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from geo.policy import PolicyError, Profile, cite

RISK_CRITERIA: dict[str, str] = {
    "exited_low_income": "脱贫但收入低于脱贫线",
    "sanbaozhang_unmet": "“三保障”未落实",
    "dangerous_house": "危房未改造",
    "no_help_record": "长期无帮扶记录",
    "no_cadre": "无帮扶责任人",
    "outside_village": "户点位不在本村",
    "not_visited_quarter": "本季度未走访",
    "monitoring_flag": "监测预警（数据异常）",
}


@dataclass(frozen=True)
class RoutesPolicy:
    """Defaults of ``gongjian route plan`` and the weights of the risk criteria."""

    sample: int = field(metadata=cite("default"))
    inspectors: int = field(metadata=cite("default"))
    days: int = field(metadata=cite("default"))
    day_start: str = field(metadata=cite("default: 08:30"))
    hours: float = field(metadata=cite("default: an 8-hour field day"))
    service_min: float = field(metadata=cite("default: card, 两不愁三保障 checklist, signatures"))
    margin_m: float = field(metadata=cite("default: roads beyond the township"))
    skip_visited_this_quarter: bool = field(metadata=cite("seed 001 (每季一督查)"))
    risk_weights: Mapping[str, float] = field(metadata=cite("default; 数字脱贫 seed 003"))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.risk_weights) - set(RISK_CRITERIA))
        if unknown:
            raise PolicyError(
                f"[routes.risk_weights]: unknown criteria {unknown}; known: {list(RISK_CRITERIA)}"
            )
        parse_clock(self.day_start)

    @property
    def day_start_min(self) -> float:
        return parse_clock(self.day_start)


def routes_policy(profile: Profile) -> RoutesPolicy:
    """The ``[routes]`` section of a loaded policy profile."""
    return profile.section("routes", RoutesPolicy)


def parse_clock(text: object) -> float:
    """Minutes since midnight of a clock time ('08:30', '8:30', '830' or minutes as a number).

    >>> parse_clock("08:30"), parse_clock("17:05"), parse_clock(600)
    (510.0, 1025.0, 600.0)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().replace("：", ":")
        try:
            if ":" in raw:
                hours, minutes = raw.split(":")[:2]
                value = int(hours) * 60 + int(minutes)
            else:
                number = int(raw)
                value = (number // 100) * 60 + number % 100
        except ValueError:
            raise PolicyError(f"not a clock time (HH:MM): {text!r}") from None
    if not 0 <= value <= 24 * 60:
        raise PolicyError(f"clock time out of the day: {text!r}")
    return float(value)


def clock(minutes: float) -> str:
    """'HH:MM' of minutes since midnight (rounded to the minute).

    >>> clock(510), clock(1025.4)
    ('08:30', '17:05')
    """
    total = round(minutes)
    return f"{total // 60:02d}:{total % 60:02d}"
