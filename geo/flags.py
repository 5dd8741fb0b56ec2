"""Monitoring rules: the [monitoring] policy, the flag kinds, income lines and exit targets.

Pure Python (no database): the SQL of the flags lives in ``layers/flags.py`` and reads its
thresholds from :class:`MonitoringPolicy`, which is the ``[monitoring]`` section of the policy
profile (``geo/policy/default.toml``; every value cites its seed or says it is a default):

>>> from geo.policy import load_profile
>>> policy = monitoring_policy(load_profile())
>>> policy.exit_line_labour, policy.profile_line
(7365.0, 4000.0)
>>> exit_line(policy, 2018, labour=True), exit_line(policy, 2017, labour=True)
(7365.0, 6883.0)
>>> exit_line(policy, 2016, labour=False)   # 4,000 yuan (2014 prices) grown 7 %/yr
4580.0
>>> round(exit_target_share(policy, 2016), 3), round(cumulative_target_share(policy, 2018), 3)
(0.283, 1.0)
>>> FLAG_KINDS["exited_low_income"]
'脱贫但收入未达标'

Seeds are the policy texts in shared/seeds/ (see DOMAIN.md): 002 §2 (4,000 yuan, 708,000
households, 1.765 M people), 002 §3 (45 % = 7,365 yuan; 0.5 M / 0.6 M / 0.665 M people out by
end 2016/2017/2018; 7 % income growth), 003 ("数字脱贫", 三保障), 001 (每月一报、每季一督查).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from geo.policy import cite
from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported

if TYPE_CHECKING:
    from geo.policy import Profile


@dataclass(frozen=True)
class MonitoringPolicy:
    """Thresholds of the monthly report and of the flags (section ``[monitoring]``)."""

    exit_line_labour: float = field(
        metadata=cite("seed 002 §3 (有劳动能力…不低于全省农村居民人均可支配收入的45%(7365元))")
    )
    exit_line_year: int = field(metadata=cite("seed 002 §3 (到2018年 … 7365元)"))
    profile_line: float = field(metadata=cite("seed 002 §2 (年人均可支配收入低于4000元)"))
    profile_line_year: int = field(metadata=cite("seed 002 §2 (2014年不变价)"))
    line_growth: float = field(
        metadata=cite("seed 002 §3 (收入增长不低于…7%); applied to both lines: default")
    )
    exit_targets: Mapping[str, float] = field(
        metadata=cite("seed 002 §3 (到2016/2017/2018年年底 50万/60万/66.5万人脱贫)")
    )
    registered_people: float = field(metadata=cite("seed 002 §2 (70.8万户176.5万人)"))
    no_help_days: int = field(metadata=cite("default: a record each quarter (seed 001 每季一督查)"))
    help_statuses: tuple[str, ...] = field(metadata=cite("default: households still to help"))
    cadre_max_households: int = field(
        metadata=cite("default: seeds 003/004 say 若干; as [cadre] max_households")
    )
    cadre_idle_days: int = field(metadata=cite("default: a visit each quarter (seed 001)"))
    outside_village_m: float = field(metadata=cite("default: GPS error at village borders"))
    river_m: float = field(metadata=cite("default: a home this close to a river line is in it"))
    river_min_order: int = field(metadata=cite("default: streams of order 1–2 are narrow"))
    shared_point_m: float = field(metadata=cite("default: the same coordinates, to GPS digits"))
    moved_m: float = field(metadata=cite("default: farther than a GPS correction"))
    income_jump_factor: float = field(
        metadata=cite("seeds 002 §2 §3, 003 数字脱贫: beyond what an exit needs (see profile)")
    )
    flip_flop_days: int = field(metadata=cite("default: back to a status within a year"))
    school_age_min: int = field(
        metadata=cite("seeds 002/003 (义务教育有保障); age by birth year: default")
    )
    school_age_max: int = field(metadata=cite("seeds 002/003 (九年义务教育 to 15): default"))
    list_road_tolerance_m: float = field(
        metadata=cite("default: a 入户路 listed hardened reaches a hardened road this close")
    )
    list_distance_tolerance_m: float = field(
        metadata=cite("default: 与村主干路距离 as listed vs the map, GPS and rounding")
    )

    def rows(self) -> list[tuple[str, Any, str]]:
        """(key, value, source) of every threshold, for the report's 口径说明 sheet."""
        return [
            (f.name, _plain(getattr(self, f.name)), f.metadata.get("source", ""))
            for f in fields(self)
        ]


def monitoring_policy(profile: Profile) -> MonitoringPolicy:
    """The ``[monitoring]`` section of a loaded policy profile."""
    return profile.section("monitoring", MonitoringPolicy)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v:,.0f}" for k, v in value.items())
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return value


# --- income lines and exit targets -------------------------------------------------------


def exit_line(policy: MonitoringPolicy, year: int, *, labour: bool) -> float:
    """The per-capita income a household must reach to exit in ``year`` (yuan, rounded).

    Labour households: 45 % of the provincial rural income, 7,365 yuan in 2018 (seed 002 §3),
    deflated/grown by ``line_growth`` for other years. Households without labour exit through
    低保兜底: the 4,000-yuan line (2014 prices, seed 002 §2) grown the same way.
    """
    if labour:
        base, base_year = policy.exit_line_labour, policy.exit_line_year
    else:
        base, base_year = policy.profile_line, policy.profile_line_year
    return float(round(base * (1 + policy.line_growth) ** (year - base_year)))


def profile_line(policy: MonitoringPolicy, year: int) -> float:
    """The 4,000-yuan registration line (2014 prices) in ``year``'s money."""
    return exit_line(policy, year, labour=False)


def exit_target_share(policy: MonitoringPolicy, year: int) -> float:
    """Share of the registered people to exit during ``year`` (seed 002 §3); 0 outside.

    The seed's 0.5 M, 0.6 M and 0.665 M add up to the 1.765 M registered people: they are
    yearly increments, so the area's target is its registered people times this share.
    """
    return policy.exit_targets.get(str(year), 0.0) / policy.registered_people


def cumulative_target_share(policy: MonitoringPolicy, year: int) -> float:
    """Share of the registered people out by the end of ``year``."""
    return (
        sum(people for y, people in policy.exit_targets.items() if int(y) <= year)
        / policy.registered_people
    )


# --- the flags ---------------------------------------------------------------------------

# kind -> Chinese label. Order = display order. The migration copies the codes literally.
FLAG_KINDS: dict[str, str] = {
    "exited_low_income": "脱贫但收入未达标",
    "exited_sanbaozhang": "脱贫但“三保障”未落实",
    "exited_dangerous_house": "脱贫但仍住危房",
    "no_help_record": "长期无帮扶记录",
    "cadre_overloaded": "干部帮扶户数过多",
    "cadre_idle": "干部长期未走访",
    "outside_village": "户点位不在本村",
    "in_river": "户点位在河道内",
    "shared_point": "多户坐标重合",
    "moved": "户点位大幅移动",
    "duplicate_id_number": "身份证号重复",
    "income_jump": "收入异常跳变",
    "status_flip_flop": "脱贫状态反复",
    "list_vs_map": "名单与地图不符",
}
CADRE_KINDS = frozenset({"cadre_overloaded", "cadre_idle"})

# kind -> (rule with {placeholders} from the policy, source). "数字脱贫" is seed 003.
FLAG_RULES: dict[str, tuple[str, str]] = {
    "exited_low_income": (
        "已脱贫，最近一年人均可支配收入低于当年脱贫线（有劳动力户：{exit_line_year}年"
        "{exit_line_labour:,.0f}元，按{growth}折算；无劳动力户：{profile_line:,.0f}元"
        "（{profile_line_year}年不变价）按{growth}折算）",
        "seed 002 §2 §3; seed 003 数字脱贫",
    ),
    "exited_sanbaozhang": (
        "已脱贫，但有{school_age_min}–{school_age_max}岁成员失学（义务教育），"
        "或有大病成员而无医保救助记录（基本医疗）",
        "seeds 002 §3, 003 (两不愁、三保障)",
    ),
    "exited_dangerous_house": (
        "已脱贫，住房仍为C/D级危房（住房安全未保障）",
        "seeds 002 §10, 003 (住房安全有保障)",
    ),
    "no_help_record": (
        "{statuses}户超过{no_help_days}天无帮扶记录",
        "seed 004 (帮扶记录簿); seed 001 (每季一督查)",
    ),
    "cadre_overloaded": (
        "一名干部联系帮扶超过{cadre_max_households}户",
        "seeds 003/004 (每户有干部联系帮扶)",
    ),
    "cadre_idle": (
        "干部所联系的{statuses}户超过{cadre_idle_days}天无其帮扶记录",
        "seed 004 (对不作为的干部追责)",
    ),
    "outside_village": ("户点位在所属行政村界外{outside_village_m:,.0f}米以上", "datamodel"),
    "in_river": ("户点位距{river_min_order}级以上河流中心线不足{river_m:,.0f}米", "default"),
    "shared_point": ("与另一户坐标相距不足{shared_point_m:,.1f}米", "default"),
    "moved": (
        "户点位一次移动超过{moved_m:,.0f}米（搬迁安置除外）",
        "seed 000 (动态档案)",
    ),
    "duplicate_id_number": ("同一身份证号出现在两户以上", "seed 002 §24 (精准识别)"),
    "income_jump": ("人均收入一年内增长超过{income_jump_factor:g}倍", "seed 003 数字脱贫"),
    "status_flip_flop": (
        "脱贫状态在{flip_flop_days}天内变回原状态",
        "seed 003 数字脱贫; seed 002 §24 (动态调整)",
    ),
    "list_vs_map": (
        "名单所填与覆盖分析不符：入户路为硬化路而最近硬化路在{list_road_tolerance_m:,.0f}米外，"
        "或与村主干路距离相差{list_distance_tolerance_m:,.0f}米以上，或称无安全饮水而在供水范围内",
        "seed 002 §9 §11 (道路硬化、饮水安全); seed 003 数字脱贫",
    ),
}


def rule_text(policy: MonitoringPolicy, kind: str) -> str:
    """The rule of ``kind`` with this policy's thresholds filled in (Chinese)."""
    template, _ = FLAG_RULES[kind]
    from geo import vocab

    values = {f.name: getattr(policy, f.name) for f in fields(policy)}
    values["growth"] = f"年增{policy.line_growth:.0%}"
    values["statuses"] = "、".join(vocab.STATUS.get(s, s) for s in policy.help_statuses)
    return template.format(**values)


def rule_source(kind: str) -> str:
    return FLAG_RULES[kind][1]


# --- reporting periods ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A reporting month and the date whose state it shows (default: the month's last day).

    >>> p = Period.of("2018-06")
    >>> p.start, p.as_of, p.year_start
    (datetime.date(2018, 6, 1), datetime.date(2018, 6, 30), datetime.date(2018, 1, 1))
    >>> Period.of("2018-06", dt.date(2018, 6, 15)).label
    '2018年6月'
    """

    start: dt.date
    as_of: dt.date

    @classmethod
    def of(cls, month: str, as_of: dt.date | None = None) -> Period:
        try:
            year, number = (int(part) for part in month.split("-"))
            start = dt.date(year, number, 1)
        except ValueError:
            raise ValueError(f"month must look like 2018-06, got {month!r}") from None
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        if as_of is None:
            as_of = end
        if not start <= as_of <= end:
            raise ValueError(f"--as-of {as_of} is not in the month {month}")
        return cls(start, as_of)

    @classmethod
    def containing(cls, day: dt.date) -> Period:
        return cls.of(f"{day.year}-{day.month:02d}", day)

    @property
    def year_start(self) -> dt.date:
        return self.start.replace(month=1)

    @property
    def month(self) -> str:
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.start.year}年{self.start.month}月"

    @property
    def month_end(self) -> dt.date:
        return self.start.replace(day=calendar.monthrange(self.start.year, self.start.month)[1])
